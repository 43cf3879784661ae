/** Dataset-JSON 1.1 data types. */
export type DataType = 'string' | 'integer' | 'decimal' | 'float' | 'double' | 'boolean' | 'date' | 'datetime' | 'time' | 'URI';
export interface Column {
  itemOID: string;          // e.g. 'IT.ADTTE.AVAL'
  name: string;             // SAS name, <= 8 chars, upper case
  label: string;            // <= 40 chars
  dataType: DataType;
  targetDataType?: 'integer' | 'decimal'; // Dataset-JSON: e.g. a 'date' stored as integer (SAS date) in XPT
  length?: number;          // for strings: max byte length (XPT width)
  displayFormat?: string;   // e.g. 'DATE9.'
  keySequence?: number;
}
/** null = missing. Dates are ISO 8601 strings ('2024-01-31'); decimals may be strings to keep exact digits. */
export type Value = string | number | boolean | null;
export interface Dataset {
  name: string;             // 'ADTTE'
  label: string;            // 'Time to Event Analysis Dataset'
  itemGroupOID: string;     // 'IG.ADTTE'
  standard: 'SDTM' | 'ADaM' | 'other';
  columns: Column[];
  rows: Value[][];          // row-major, same order as columns
}
/** Metadata written into file headers. Every field is explicit input so a re-run is byte-identical. */
export interface DatasetFileMeta {
  studyOID: string;
  metaDataVersionOID: string;
  creationDateTime: string;      // ISO 8601, taken from the data cut, never `new Date()` inside writers
  originator: string;
  sourceSystem: { name: string; version: string };
}
