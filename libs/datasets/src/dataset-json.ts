/**
 * CDISC Dataset-JSON 1.1 in its three encodings: JSON (one object with rows), NDJSON (metadata line,
 * then one JSON array per row) and DSJC (the NDJSON bytes zlib-compressed).
 *
 * Written by our own code rather than js-stream-dataset-json: that library reads and writes files by
 * path through streams, while we work on in-memory Buffers (object store), must produce byte-identical
 * output for identical input, must validate against the official schema and must keep decimal digits
 * exact. The format itself is plain JSON, so the code is small.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, gunzipSync, inflateSync } from 'node:zlib';
import Ajv2019 from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { InputError, repoRoot } from '@app/core';
import type { Column, Dataset, DatasetFileMeta, Value } from './types';
import { checkValue, formatNumber, guessStandard, maxByteLength, validateDataset, validateMeta } from './values';
import { fastOrReference } from './fast';

export const DATASET_JSON_VERSION = '1.1.0';

// ---------------------------------------------------------------- schema validation

let validators: { json: ValidateFunction; ndjson: ValidateFunction } | undefined;

/** Directory holding the official schemas shipped with this library (works from sources and dist/). */
export function schemaDir(): string {
  return join(repoRoot(), 'libs', 'datasets', 'schema');
}

function getValidators() {
  if (validators) return validators;
  const load = (f: string) => JSON.parse(readFileSync(join(schemaDir(), f), 'utf8')) as Record<string, unknown>;
  // the official schemas carry LinkML keywords (metamodel_version, version) that strict mode rejects
  const mk = () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    addFormats(ajv);
    return ajv;
  };
  const json = load('dataset.schema.json');
  validators = { json: mk().compile(json), ndjson: mk().compile(repairNdjsonSchema(load('dataset-ndjson-schema.json'), json)) };
  return validators;
}

/**
 * The published dataset-ndjson-schema.json (v1.1) is not self-consistent: it refers to #/$defs/Column,
 * #/$defs/DataTypesEnum and #/$defs/SourceSystem, but those definitions sit nested inside
 * DatasetMetadata instead of under $defs, so no validator can resolve them. The definitions are the same
 * as in dataset.schema.json; this copies the missing ones from there (in memory, the file stays as published).
 */
export function repairNdjsonSchema(ndjson: Record<string, unknown>, json: Record<string, unknown>): Record<string, unknown> {
  const defs = { ...(ndjson.$defs as Record<string, unknown>) };
  const from = json.$defs as Record<string, unknown>;
  for (const k of ['Column', 'DataTypesEnum', 'SourceSystem', 'TargetDataTypesEnum']) if (!(k in defs) && k in from) defs[k] = from[k];
  return { ...ndjson, $defs: defs };
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((e) => {
      const at = e.instancePath || '/';
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
      const extra = (e.params as { additionalProperty?: string }).additionalProperty;
      return `${at}: ${e.message}${allowed ? ` ${allowed.join(', ')}` : ''}${extra ? ` (${extra})` : ''}`;
    })
    .join('; ');
}

/** Validates a parsed Dataset-JSON object against the official dataset.schema.json. Throws InputError. */
export function validateDatasetJsonSchema(obj: unknown): void {
  const v = getValidators().json;
  if (!v(obj)) throw new InputError('dataset-json.schema', `dataset-json: schema violation at ${describe(v.errors)}`, { errors: v.errors?.slice(0, 20) });
}

/** Validates the metadata line of a Dataset-NDJSON file against the official dataset-ndjson-schema.json. */
export function validateNdjsonMetaSchema(obj: unknown): void {
  const v = getValidators().ndjson;
  if (!v(obj)) throw new InputError('dataset-json.schema', `dataset-ndjson: schema violation in the metadata line at ${describe(v.errors)}`, { errors: v.errors?.slice(0, 20) });
}

// ---------------------------------------------------------------- writers

function columnOut(c: Column, ds: Dataset, i: number): Record<string, unknown> {
  const o: Record<string, unknown> = { itemOID: c.itemOID, name: c.name, label: c.label, dataType: c.dataType };
  if (c.targetDataType !== undefined) o.targetDataType = c.targetDataType;
  const length = c.length ?? (c.dataType === 'string' ? maxByteLength(ds.rows, i) : undefined);
  if (length !== undefined) o.length = length;
  if (c.displayFormat !== undefined) o.displayFormat = c.displayFormat;
  if (c.keySequence !== undefined) o.keySequence = c.keySequence;
  return o;
}

/**
 * The metadata object in fixed key order (every field from explicit input: no clock reads). `records`
 * defaults to the row count; column lengths are measured from the rows when not declared.
 */
export function datasetJsonMetadata(ds: Dataset, meta: DatasetFileMeta, records = ds.rows.length): Record<string, unknown> {
  return {
    datasetJSONCreationDateTime: meta.creationDateTime,
    datasetJSONVersion: DATASET_JSON_VERSION,
    originator: meta.originator,
    sourceSystem: { name: meta.sourceSystem.name, version: meta.sourceSystem.version },
    studyOID: meta.studyOID,
    metaDataVersionOID: meta.metaDataVersionOID,
    itemGroupOID: ds.itemGroupOID,
    records,
    name: ds.name,
    label: ds.label,
    columns: ds.columns.map((c, i) => columnOut(c, ds, i)),
  };
}

/** JSON text of one value: decimals as exact digit strings (Dataset-JSON 1.1), numbers shortest round-trip. */
function valueOut(c: Column, v: Value): Value {
  if (v === null) return null;
  if (c.dataType === 'decimal') return typeof v === 'number' ? formatNumber(v) : v;
  return v;
}

function rowJson(ds: Dataset, r: Value[]): string {
  return JSON.stringify(r.map((v, i) => valueOut(ds.columns[i], v)));
}

function checkedMetaLine(ds: Dataset, meta: DatasetFileMeta): Record<string, unknown> {
  validateMeta(meta);
  const md = datasetJsonMetadata(ds, meta);
  return md;
}

/** Dataset-JSON 1.1, JSON encoding: one object, compact, UTF-8, newline at the end. */
export function writeDatasetJson(input: Dataset, meta: DatasetFileMeta): Buffer {
  return fastOrReference(input, meta, 'json', () => writeDatasetJsonReference(input, meta));
}

/** Dataset-NDJSON 1.1: line 1 = metadata object, then one JSON array per row; every line ends with \n. */
export function writeDatasetNdjson(input: Dataset, meta: DatasetFileMeta): Buffer {
  return fastOrReference(input, meta, 'ndjson', () => writeDatasetNdjsonReference(input, meta));
}

/** The original JSON writer: the reference the fast path must match byte for byte. */
export function writeDatasetJsonReference(input: Dataset, meta: DatasetFileMeta): Buffer {
  const ds = validateDataset(input);
  const md = checkedMetaLine(ds, meta);
  const head = JSON.stringify(md);
  // rows are appended one per line: readable diffs, same bytes every time
  const rows = ds.rows.map((r) => rowJson(ds, r));
  const text = `${head.slice(0, -1)},"rows":[${rows.length ? '\n' + rows.join(',\n') + '\n' : ''}]}\n`;
  validateDatasetJsonSchema({ ...md, rows: [] });
  return Buffer.from(text, 'utf8');
}

/** The original NDJSON writer: the reference the fast path must match byte for byte. */
export function writeDatasetNdjsonReference(input: Dataset, meta: DatasetFileMeta): Buffer {
  const ds = validateDataset(input);
  const md = checkedMetaLine(ds, meta);
  validateNdjsonMetaSchema(md);
  const lines = [JSON.stringify(md), ...ds.rows.map((r) => rowJson(ds, r))];
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}

/** DSJC: the Dataset-NDJSON bytes as a zlib (RFC 1950) stream, level 9, as the DSJC 1.1 specification says. */
export function writeDatasetDsjc(input: Dataset, meta: DatasetFileMeta): Buffer {
  return deflateSync(writeDatasetNdjson(input, meta), { level: 9 });
}

// ---------------------------------------------------------------- readers

export interface DatasetJsonReadOptions {
  standard?: Dataset['standard'];
}

/** File metadata found in a Dataset-JSON header, returned beside the Dataset. */
export interface DatasetJsonHeader {
  datasetJSONCreationDateTime: string;
  datasetJSONVersion: string;
  records: number;
  studyOID?: string;
  metaDataVersionOID?: string;
  originator?: string;
  sourceSystem?: { name: string; version: string };
  fileOID?: string;
  dbLastModifiedDateTime?: string;
  metaDataRef?: string;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError('dataset-json.invalid-json', `${what}: not valid JSON (${(e as Error).message})`);
  }
}

function toDataset(md: Record<string, unknown>, rows: unknown[], what: string, opts: DatasetJsonReadOptions): { dataset: Dataset; header: DatasetJsonHeader } {
  const columns = (md.columns as Record<string, unknown>[]).map((c) => {
    const col: Column = { itemOID: c.itemOID as string, name: c.name as string, label: c.label as string, dataType: c.dataType as Column['dataType'] };
    if (c.targetDataType !== undefined) col.targetDataType = c.targetDataType as Column['targetDataType'];
    if (c.length !== undefined) col.length = c.length as number;
    if (c.displayFormat !== undefined) col.displayFormat = c.displayFormat as string;
    if (c.keySequence !== undefined) col.keySequence = c.keySequence as number;
    return col;
  });
  if (rows.length !== md.records) {
    throw new InputError('dataset-json.record-count', `${what}: header says records = ${md.records} but the file holds ${rows.length} rows (truncated or altered file)`);
  }
  const name = md.name as string;
  const checked = rows.map((r, ri) => {
    if (!Array.isArray(r)) throw new InputError('dataset-json.row', `${what}: row ${ri + 1} is not a JSON array (object rows are not supported)`);
    if (r.length !== columns.length) throw new InputError('dataset.row-length', `${what}: row ${ri + 1} has ${r.length} values; expected ${columns.length} (one per column)`);
    return r.map((v, ci) => checkValue(name, columns[ci], v as Value, ri));
  });
  const dataset: Dataset = {
    name,
    label: md.label as string,
    itemGroupOID: md.itemGroupOID as string,
    standard: opts.standard ?? guessStandard(name),
    columns,
    rows: checked,
  };
  const header: DatasetJsonHeader = {
    datasetJSONCreationDateTime: md.datasetJSONCreationDateTime as string,
    datasetJSONVersion: md.datasetJSONVersion as string,
    records: md.records as number,
  };
  for (const k of ['studyOID', 'metaDataVersionOID', 'originator', 'sourceSystem', 'fileOID', 'dbLastModifiedDateTime', 'metaDataRef'] as const) {
    if (md[k] !== undefined) (header as unknown as Record<string, unknown>)[k] = md[k];
  }
  validateDataset(dataset);
  return { dataset, header };
}

/** Reads Dataset-JSON (JSON encoding); validates against the official schema first. */
export function readDatasetJsonWithHeader(bytes: Buffer, opts: DatasetJsonReadOptions = {}): { dataset: Dataset; header: DatasetJsonHeader } {
  const obj = parseJson(stripBom(bytes.toString('utf8')), 'dataset-json');
  validateDatasetJsonSchema(obj);
  const md = obj as Record<string, unknown>;
  return toDataset(md, (md.rows as unknown[]) ?? [], 'dataset-json', opts);
}

/** Reads Dataset-NDJSON: first line metadata (validated against the NDJSON schema), then one array per row. */
export function readDatasetNdjsonWithHeader(bytes: Buffer, opts: DatasetJsonReadOptions = {}): { dataset: Dataset; header: DatasetJsonHeader } {
  const text = stripBom(bytes.toString('utf8'));
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new InputError('dataset-json.empty', 'dataset-ndjson: the file is empty; expected a metadata line');
  const md = parseJson(lines[0], 'dataset-ndjson line 1');
  if (!md || typeof md !== 'object' || Array.isArray(md)) throw new InputError('dataset-json.schema', 'dataset-ndjson: line 1 must be the metadata object');
  if ('rows' in md) throw new InputError('dataset-json.schema', 'dataset-ndjson: the metadata line must not contain rows');
  validateNdjsonMetaSchema(md);
  const rows = lines.slice(1).map((l, i) => parseJson(l, `dataset-ndjson line ${i + 2}`));
  return toDataset(md as Record<string, unknown>, rows, 'dataset-ndjson', opts);
}

/**
 * Decompresses DSJC. The DSJC 1.1 specification says a zlib (RFC 1950) stream; the official example
 * adtte.dsjc is in fact gzip (RFC 1952, magic 1f 8b). Both framings are accepted; raw deflate is not.
 */
export function decompressDsjc(bytes: Buffer): Buffer {
  try {
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return gunzipSync(bytes);
    if (bytes.length >= 2 && (bytes[0] & 0x0f) === 8 && ((bytes[0] << 8) | bytes[1]) % 31 === 0) return inflateSync(bytes);
  } catch (e) {
    throw new InputError('dsjc.corrupt', `dsjc: compressed stream is corrupt or truncated (${(e as Error).message})`);
  }
  throw new InputError('dsjc.not-compressed', 'dsjc: file does not start with a zlib (78 xx) or gzip (1f 8b) header; expected zlib-compressed Dataset-NDJSON');
}

export function readDatasetDsjcWithHeader(bytes: Buffer, opts: DatasetJsonReadOptions = {}) {
  return readDatasetNdjsonWithHeader(decompressDsjc(bytes), opts);
}

export const readDatasetJson = (bytes: Buffer, opts?: DatasetJsonReadOptions): Dataset => readDatasetJsonWithHeader(bytes, opts).dataset;
export const readDatasetNdjson = (bytes: Buffer, opts?: DatasetJsonReadOptions): Dataset => readDatasetNdjsonWithHeader(bytes, opts).dataset;
export const readDatasetDsjc = (bytes: Buffer, opts?: DatasetJsonReadOptions): Dataset => readDatasetDsjcWithHeader(bytes, opts).dataset;

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}
