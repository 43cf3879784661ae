/**
 * Value rules shared by every writer and reader: type checks per column, exact number formatting,
 * ISO 8601 <-> SAS date/datetime/time numbers, dataset shape validation.
 */
import { InputError } from '@app/core';
import type { Column, Dataset, DatasetFileMeta, Value } from './types';

const DATA_TYPES = new Set(['string', 'integer', 'decimal', 'float', 'double', 'boolean', 'date', 'datetime', 'time', 'URI']);

/** A decimal literal as text: optional sign, digits, optional fraction. No exponent, no spaces. */
export const DECIMAL_RE = /^-?\d+(\.\d+)?$/;
/** ISO 8601 date, possibly partial (SDTM --DTC style): YYYY, YYYY-MM, YYYY-MM-DD. */
const ISO_DATE_RE = /^\d{4}(-\d{2}(-\d{2})?)?$/;
/** ISO 8601 datetime, possibly partial, optional fraction and offset. */
const ISO_DATETIME_RE = /^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?(Z|[+-]\d{2}:\d{2})?$/;
const ISO_TIME_RE = /^\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?$/;

/** Is the column stored as a SAS numeric (XPT) / plain number? Dates only with a numeric targetDataType. */
export function isNumericColumn(col: Column): boolean {
  switch (col.dataType) {
    case 'integer':
    case 'decimal':
    case 'float':
    case 'double':
    case 'boolean':
      return true;
    case 'date':
    case 'datetime':
    case 'time':
      return col.targetDataType !== undefined;
    default:
      return false;
  }
}

/**
 * Formats a finite number as plain decimal text (never an exponent), using the shortest digits that
 * round-trip to the same double. So 0.1 -> "0.1", 1e21 -> "1000000000000000000000", -0 -> "0".
 * A writer never adds digits that were not in the value (no toFixed noise).
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) throw new InputError('dataset.non-finite', `number ${n} is not finite; expected a finite number or null for missing`);
  if (Object.is(n, -0) || n === 0) return '0';
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, lead, frac = '', expS] = m;
  const exp = Number(expS);
  const digits = lead + frac;
  if (exp >= 0) {
    const intLen = 1 + exp;
    if (digits.length <= intLen) return sign + digits + '0'.repeat(intLen - digits.length);
    return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

const where = (ds: string, col: Column, row: number) => `${ds}.${col.name} row ${row + 1}`;

/**
 * Checks one value against its column type and returns it in canonical form:
 * integer -> number (integral, safe), decimal -> string of exact digits or number, float/double -> finite number,
 * boolean -> boolean, string/URI/date/datetime/time -> string. null stays null. Throws InputError otherwise.
 */
export function checkValue(ds: string, col: Column, v: Value, row: number): Value {
  if (v === null || v === undefined) return null;
  const bad = (expected: string): never => {
    throw new InputError(
      'dataset.type-mismatch',
      `${where(ds, col, row)}: value ${JSON.stringify(v)} does not fit dataType '${col.dataType}'; expected ${expected}`,
      { dataset: ds, column: col.name, row: row + 1, dataType: col.dataType },
    );
  };
  switch (col.dataType) {
    case 'string':
    case 'URI':
      return typeof v === 'string' ? v : bad('a string');
    case 'integer':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? v : bad('a safe integer');
      if (typeof v === 'string' && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
      return bad('an integer');
    case 'decimal':
      if (typeof v === 'number') return Number.isFinite(v) ? v : bad('a finite number');
      if (typeof v === 'string' && DECIMAL_RE.test(v)) return v;
      return bad('a decimal number or a string of decimal digits like "12.50"');
    case 'float':
    case 'double':
      if (typeof v === 'number') return Number.isFinite(v) ? v : bad('a finite number');
      if (typeof v === 'string' && DECIMAL_RE.test(v)) return Number(v);
      return bad('a number');
    case 'boolean':
      return typeof v === 'boolean' ? v : bad('true or false');
    case 'date':
      if (v === '' && !col.targetDataType) return v; // blank character date (SDTM --DTC not collected)
      if (typeof v !== 'string' || !ISO_DATE_RE.test(v)) return bad('an ISO 8601 date string YYYY-MM-DD');
      if (col.targetDataType) isoDateToSas(v, where(ds, col, row));
      return v;
    case 'datetime':
      if (v === '' && !col.targetDataType) return v;
      if (typeof v !== 'string' || !ISO_DATETIME_RE.test(v)) return bad('an ISO 8601 datetime string YYYY-MM-DDThh:mm:ss');
      if (col.targetDataType) isoDatetimeToSas(v, where(ds, col, row));
      return v;
    case 'time':
      if (v === '' && !col.targetDataType) return v;
      if (typeof v !== 'string' || !ISO_TIME_RE.test(v)) return bad('an ISO 8601 time string hh:mm:ss');
      if (col.targetDataType) isoTimeToSas(v, where(ds, col, row));
      return v;
    default:
      return bad('a known dataType');
  }
}

/** Validates the dataset's shape and every value; returns a copy with canonical values. */
export function validateDataset(ds: Dataset): Dataset {
  if (!ds || typeof ds !== 'object') throw new InputError('dataset.invalid', 'dataset: expected an object with name, label, columns and rows');
  if (typeof ds.name !== 'string' || ds.name.length === 0) throw new InputError('dataset.invalid', 'dataset: name must be a non-empty string');
  if (!Array.isArray(ds.columns) || !Array.isArray(ds.rows)) throw new InputError('dataset.invalid', `dataset ${ds.name}: columns and rows must be arrays`);
  const seen = new Set<string>();
  ds.columns.forEach((c, i) => {
    if (!c || typeof c.name !== 'string' || c.name.length === 0) throw new InputError('dataset.invalid-column', `dataset ${ds.name}: column ${i + 1} has no name`);
    if (!DATA_TYPES.has(c.dataType)) {
      throw new InputError('dataset.invalid-column', `dataset ${ds.name}: column ${c.name} has dataType ${JSON.stringify(c.dataType)}; expected one of ${[...DATA_TYPES].join(', ')}`);
    }
    if (c.targetDataType !== undefined && c.targetDataType !== 'integer' && c.targetDataType !== 'decimal') {
      throw new InputError('dataset.invalid-column', `dataset ${ds.name}: column ${c.name} has targetDataType ${JSON.stringify(c.targetDataType)}; expected 'integer' or 'decimal'`);
    }
    const key = c.name.toUpperCase();
    if (seen.has(key)) throw new InputError('dataset.duplicate-column', `dataset ${ds.name}: column name ${c.name} appears twice`);
    seen.add(key);
  });
  const rows = ds.rows.map((r, ri) => {
    if (!Array.isArray(r) || r.length !== ds.columns.length) {
      throw new InputError('dataset.row-length', `dataset ${ds.name}: row ${ri + 1} has ${Array.isArray(r) ? r.length : 'no'} values; expected ${ds.columns.length} (one per column)`);
    }
    return r.map((v, ci) => checkValue(ds.name, ds.columns[ci], v, ri));
  });
  return { ...ds, rows };
}

export const ISO_DATETIME_META_RE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(([+-]([01]\d|2[0-3]):[0-5]\d)|Z)?$/;

export function validateMeta(meta: DatasetFileMeta): void {
  if (!meta || typeof meta !== 'object') throw new InputError('dataset.meta', 'dataset file meta: expected an object');
  if (typeof meta.creationDateTime !== 'string' || !ISO_DATETIME_META_RE.test(meta.creationDateTime)) {
    throw new InputError('dataset.meta', `dataset file meta: creationDateTime ${JSON.stringify(meta.creationDateTime)} must be an ISO 8601 datetime like 2024-01-31T12:00:00 (taken from the data cut)`);
  }
  for (const k of ['studyOID', 'metaDataVersionOID', 'originator'] as const) {
    if (typeof meta[k] !== 'string') throw new InputError('dataset.meta', `dataset file meta: ${k} must be a string`);
  }
  if (!meta.sourceSystem || typeof meta.sourceSystem.name !== 'string' || typeof meta.sourceSystem.version !== 'string') {
    throw new InputError('dataset.meta', 'dataset file meta: sourceSystem must be { name: string; version: string }');
  }
}

// ---- SAS dates: days since 1960-01-01; datetimes: seconds since 1960-01-01T00:00:00; times: seconds since midnight.
const MS_DAY = 86_400_000;
const SAS_EPOCH_MS = Date.UTC(1960, 0, 1);

function ymd(s: string, what: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new InputError('dataset.partial-date', `${what}: date ${JSON.stringify(s)} must be a complete YYYY-MM-DD date to be stored as a SAS date number`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) {
    throw new InputError('dataset.invalid-date', `${what}: ${JSON.stringify(s)} is not a real calendar date`);
  }
  return t;
}

export function isoDateToSas(s: string, what = 'date'): number {
  return Math.round((ymd(s, what) - SAS_EPOCH_MS) / MS_DAY);
}

function hmsSeconds(s: string, what: string): number {
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/.exec(s);
  if (!m) throw new InputError('dataset.partial-time', `${what}: time ${JSON.stringify(s)} must be hh:mm[:ss[.fff]] to be stored as a SAS number`);
  const [h, mi, se] = [Number(m[1]), Number(m[2]), Number(m[3] ?? '0')];
  if (h > 23 || mi > 59 || se > 59) throw new InputError('dataset.invalid-time', `${what}: ${JSON.stringify(s)} is not a valid time of day`);
  const base = h * 3600 + mi * 60 + se;
  return m[4] ? Number(`${base}${m[4]}`) : base;
}

export function isoTimeToSas(s: string, what = 'time'): number {
  return hmsSeconds(s, what);
}

export function isoDatetimeToSas(s: string, what = 'datetime'): number {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/.exec(s);
  if (!m) {
    throw new InputError('dataset.partial-datetime', `${what}: datetime ${JSON.stringify(s)} must be a complete local YYYY-MM-DDThh:mm[:ss] (no offset) to be stored as a SAS datetime number`);
  }
  const days = (ymd(m[1], what) - SAS_EPOCH_MS) / MS_DAY;
  const secs = hmsSeconds(m[2], what);
  const dayPart = Math.round(days) * 86400;
  // keep fractional digits exact: integer part + fraction text
  if (Number.isInteger(secs) || dayPart < 0) return dayPart + secs;
  return Number(`${dayPart + Math.trunc(secs)}${formatNumber(secs).replace(/^\d+/, '')}`);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

export function sasToIsoDate(days: number): string {
  if (!Number.isInteger(days)) throw new InputError('dataset.invalid-date', `SAS date ${days} is not a whole number of days`);
  const d = new Date(SAS_EPOCH_MS + days * MS_DAY);
  if (Number.isNaN(d.getTime())) throw new InputError('dataset.invalid-date', `SAS date ${days} is out of range`);
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) throw new InputError('dataset.invalid-date', `SAS date ${days} is outside years 0000-9999`);
  return `${pad(y, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function secondsToHms(secs: number): string {
  const whole = Math.floor(secs);
  const frac = secs - whole;
  const h = Math.floor(whole / 3600);
  const mi = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  let out = `${pad(h)}:${pad(mi)}:${pad(s)}`;
  if (frac > 0) out += formatNumber(frac).replace(/^0/, '');
  return out;
}

export function sasToIsoTime(secs: number): string {
  if (secs < 0 || secs >= 86400) throw new InputError('dataset.invalid-time', `SAS time ${secs} is outside 0..86399 seconds`);
  return secondsToHms(secs);
}

export function sasToIsoDatetime(secs: number): string {
  const days = Math.floor(secs / 86400);
  return `${sasToIsoDate(days)}T${secondsToHms(secs - days * 86400)}`;
}

/** Indices of the named columns of ds (-1: absent), for loops over many rows: `cellAt(row, i)` reads one. */
export function columnIndices(ds: Pick<Dataset, 'columns'>, ...names: string[]): number[] {
  const idx = new Map(ds.columns.map((c, i) => [c.name, i]));
  return names.map((n) => idx.get(n) ?? -1);
}

/** The value of column i of a row (null when the column is absent, i < 0, or the value is missing). */
export const cellAt = (row: readonly Value[], i: number): Value => (i < 0 ? null : (row[i] ?? null));

/**
 * `get` remembered for its last key, for loops over rows that come in runs (a subject's rows together): `of(k)` runs
 * get(k) once per run of equal keys (===), not once per row. Only for a `get` that gives the same result for a key
 * throughout the loop (a map lookup, a get-or-create).
 *
 * An object with a method, not a closure: the row loops that call it run once per report, long enough for V8 to
 * optimise them mid-loop, and optimised code that calls a closure is tied to that closure object. The next report
 * makes a new one, and the loop's code was thrown away and compiled again ("wrong call target"): on the 10,000-subject
 * cut, 58 more deoptimisations over a process's reports 2-7 and about 0.15 s more background compilation a report
 * (libs/report/README.md). A call to `of` is the same method whatever the object.
 */
export class RunLookup<K, V> {
  private started = false;
  private last: K | undefined = undefined;
  private lastV: V | undefined = undefined;
  constructor(private readonly get: (k: K) => V) {}
  of(k: K): V {
    if (this.started && k === this.last) return this.lastV as V;
    this.started = true;
    this.last = k;
    return (this.lastV = this.get(k));
  }
}

/** A RunLookup over `get`. */
export function byRun<K, V>(get: (k: K) => V): RunLookup<K, V> {
  return new RunLookup(get);
}

/** Max UTF-8 byte length of the column's string values (at least 1). */
export function maxByteLength(rows: Value[][], ci: number): number {
  let max = 1;
  for (const r of rows) {
    const v = r[ci];
    if (typeof v === 'string') max = Math.max(max, Buffer.byteLength(v, 'utf8'));
  }
  return max;
}

/** Guess the CDISC standard from a dataset name: AD* = ADaM, 2-letter domains and SUPP-- = SDTM. */
export function guessStandard(name: string): Dataset['standard'] {
  const n = name.toUpperCase();
  if (/^AD[A-Z0-9]*$/.test(n)) return 'ADaM';
  if (/^[A-Z]{2}$/.test(n) || /^SUPP[A-Z]{2}$/.test(n) || /^RELREC$/.test(n)) return 'SDTM';
  return 'other';
}
