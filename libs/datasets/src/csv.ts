/**
 * CSV (RFC 4180) through csv-stringify / csv-parse: UTF-8 without BOM, CRLF line ends, header row =
 * variable names. Missing (null) is an empty unquoted field; an empty string is written as "" so the two
 * stay distinct. Numbers are plain decimals (formatNumber): no exponent, no floating noise added.
 */
import { stringify } from 'csv-stringify/sync';
import { parse } from 'csv-parse/sync';
import { InputError } from '@app/core';
import type { Column, Dataset, DatasetFileMeta, Value } from './types';
import { checkValue, formatNumber, guessStandard, validateDataset } from './values';
import { fastOrReference } from './fast';

function cell(v: Value): string | null {
  if (v === null) return null;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return v;
}

/** CSV files carry no header metadata; the columnar writer still wants a (valid) one. */
const NO_META: DatasetFileMeta = { studyOID: '', metaDataVersionOID: '', creationDateTime: '1970-01-01T00:00:00', originator: '', sourceSystem: { name: '', version: '' } };

/**
 * Writes the dataset as CSV through the fast path (`fast.ts`), with the quoting rule of the
 * csv-stringify options of `writeCsvReference` (quote a field holding , " CR or LF, double the quotes,
 * empty string as ""); any problem re-runs `writeCsvReference`, so errors are exactly the reference ones.
 */
export function writeCsv(input: Dataset): Buffer {
  return fastOrReference(input, NO_META, 'csv', () => writeCsvReference(input));
}

/** The original writer (csv-stringify): the reference the fast path must match byte for byte. */
export function writeCsvReference(input: Dataset): Buffer {
  const ds = validateDataset(input);
  const records = [ds.columns.map((c) => c.name), ...ds.rows.map((r) => r.map(cell))];
  // quoted_match: empty strings as "" (null stays an empty unquoted field); any CR or LF quoted, which
  // csv-stringify 6.9 does not do by itself for a bare \n when the record delimiter is CRLF
  const text = stringify(records, { record_delimiter: '\r\n', quoted_match: [/^$/, /[\r\n]/], eof: true });
  return Buffer.from(text, 'utf8');
}

export interface CsvReadOptions {
  /** Column metadata matched by name; without it every column is a string. */
  columns?: Column[];
  /** Dataset name (default: from the file name). */
  name?: string;
  label?: string;
  standard?: Dataset['standard'];
}

function fromText(col: Column, s: string): Value {
  switch (col.dataType) {
    case 'integer':
    case 'float':
    case 'double': {
      if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s.trim())) return s; // left for checkValue to reject with context
      return Number(s.trim());
    }
    case 'decimal':
      return s.trim();
    case 'boolean': {
      const t = s.trim().toLowerCase();
      if (t === 'true' || t === '1' || t === 'y') return true;
      if (t === 'false' || t === '0' || t === 'n') return false;
      return s;
    }
    default:
      return s;
  }
}

/** One CSV record: its field values, and for a record that holds "" which of its fields were quoted. */
interface CsvRecord {
  values: string[];
  /** Absent: no field of the record was an empty quoted one (no "" in its text). */
  quoted?: boolean[];
}

/**
 * The records of one CSV text with each field's quoting: csv-parse's `cast` context says whether a field was quoted,
 * but it builds an object per field (20 times slower than a plain parse: 20 s for the 10 MB pharmaverse TR), so
 * `parseRecords` asks it only for the few records that need it.
 */
function parseQuoted(text: Buffer | string, bom: boolean): CsvRecord[] {
  const fields = parse(text, {
    bom,
    relax_column_count: false,
    skip_empty_lines: true,
    cast: (value: string, ctx: { quoting: boolean }) => ({ value, quoted: ctx.quoting }),
  }) as unknown as { value: string; quoted: boolean }[][];
  return fields.map((rec) => ({ values: rec.map((f) => f.value), quoted: rec.map((f) => f.quoted) }));
}

/**
 * The records of a CSV file (quoting decides null vs empty string). A plain parse gives every value and each record's
 * raw text; only an empty value can depend on quoting, and a quoted empty field is the two characters "" in its
 * record's text, so only records holding both an empty value and "" are parsed again with the quoting flags. Same
 * result as parseQuoted on the whole file.
 */
function parseRecords(bytes: Buffer): CsvRecord[] {
  const plain = parse(bytes, { bom: true, relax_column_count: false, skip_empty_lines: true, raw: true }) as unknown as { record: string[]; raw: string }[];
  const out: CsvRecord[] = [];
  for (const { record, raw } of plain) {
    if (record.includes('') && raw.includes('""')) {
      const again = parseQuoted(raw, false);
      if (again.length !== 1 || again[0].values.length !== record.length) return parseQuoted(bytes, true); // not seen; the slow, sure way
      out.push(again[0]);
    } else out.push({ values: record }); // no "" in the record: no empty value was quoted
  }
  return out;
}

/** Reads RFC 4180 CSV with a header row. Unquoted empty fields are missing (null); "" is an empty string. */
export function readCsv(bytes: Buffer, opts: CsvReadOptions = {}): Dataset {
  let records: CsvRecord[];
  try {
    records = parseRecords(bytes);
  } catch (e) {
    throw new InputError('csv.invalid', `csv: cannot parse (${(e as Error).message})`);
  }
  if (records.length === 0) throw new InputError('csv.empty', 'csv: the file is empty; expected a header row of variable names');
  const header = records[0].values.map((v) => v.trim());
  const name = (opts.name ?? 'DATA').toUpperCase();
  const known = new Map((opts.columns ?? []).map((c) => [c.name.toUpperCase(), c]));
  const columns: Column[] = header.map((h) => {
    if (h === '') throw new InputError('csv.invalid-header', 'csv: the header row has an empty column name');
    const k = known.get(h.toUpperCase());
    return k ? { ...k } : { itemOID: `IT.${name}.${h}`, name: h, label: h, dataType: 'string' };
  });
  const rows = records.slice(1).map(({ values, quoted }, ri) =>
    values.map((v, ci) => {
      if (v === '' && !quoted?.[ci]) return null;
      return checkValue(name, columns[ci], fromText(columns[ci], v), ri);
    }),
  );
  return validateDataset({ name, label: opts.label ?? '', itemGroupOID: `IG.${name}`, standard: opts.standard ?? guessStandard(name), columns, rows });
}
