/**
 * Fast paths shared by the writers (performance only; the output is byte-identical to the reference
 * writers, which tests/datasets/golden.test.ts and fast.test.ts check):
 * - `fastRows`: validates every value without copying the rows when they are already canonical (what
 *   the endpoint derivations produce); returns null when anything is unusual, and the caller then runs
 *   the reference path (`validateDataset`), which throws the exact same InputError as before.
 * - `ByteSink`: one growing Buffer written byte by byte, instead of millions of small strings.
 * - Cached conversions: ISO date -> SAS days, non-integer number -> text.
 * Any error inside a fast writer makes the public writer re-run the reference writer, so error codes,
 * messages and their precedence never change.
 */
import type { Column, Dataset, Value } from './types';
import { DECIMAL_RE, checkValue, formatNumber, isoDateToSas } from './values';

/**
 * How many writer calls took the fast path and how many fell back to the reference writer (bad or
 * non-canonical input). Tests use it to make sure the fast path is really taken.
 */
export const writerStats = { fast: 0, reference: 0 };

// ------------------------------------------------------------------ value checks

const K_STRING = 0, K_INTEGER = 1, K_DECIMAL = 2, K_FLOAT = 3, K_BOOLEAN = 4, K_DATE_NUM = 5, K_OTHER = 6;

function kindOf(c: Column): number {
  switch (c.dataType) {
    case 'string':
    case 'URI':
      return K_STRING;
    case 'integer':
      return K_INTEGER;
    case 'decimal':
      return K_DECIMAL;
    case 'float':
    case 'double':
      return K_FLOAT;
    case 'boolean':
      return K_BOOLEAN;
    case 'date':
      return c.targetDataType ? K_DATE_NUM : K_OTHER;
    default:
      return K_OTHER;
  }
}

const ISO_DATE_FULL_RE = /^\d{4}-\d{2}-\d{2}$/;
const sasDays = new Map<string, number>();
/** SAS day number of a complete, real ISO date (cached); throws InputError like isoDateToSas. */
export function sasDateCached(s: string, what: string): number {
  let d = sasDays.get(s);
  if (d === undefined) {
    d = isoDateToSas(s, what);
    if (sasDays.size > 100_000) sasDays.clear();
    sasDays.set(s, d);
  }
  return d;
}

/** Per-column value kinds for `isCanonical`. */
export const columnKinds = (cols: Column[]): number[] => cols.map(kindOf);

/**
 * True when v (not null) is valid for its column and already canonical (checkValue would return it
 * unchanged). The fast writers check every value with this while they encode it, and give up (the public
 * writer then runs the reference path: validateDataset, which copies, canonicalises or throws) on false.
 */
export function isCanonical(kind: number, v: Value, ds: Dataset, ci: number, ri: number): boolean {
  switch (kind) {
    case K_STRING:
      return typeof v === 'string';
    case K_INTEGER:
      return typeof v === 'number' && Number.isSafeInteger(v);
    case K_DECIMAL:
      return typeof v === 'number' ? Number.isFinite(v) : typeof v === 'string' && DECIMAL_RE.test(v);
    case K_FLOAT:
      return typeof v === 'number' && Number.isFinite(v);
    case K_BOOLEAN:
      return typeof v === 'boolean';
    case K_DATE_NUM:
      if (typeof v !== 'string') return false;
      if (sasDays.has(v)) return true;
      if (!ISO_DATE_FULL_RE.test(v)) return false;
      try {
        sasDateCached(v, 'date');
        return true;
      } catch {
        return false;
      }
    default:
      try {
        return checkValue(ds.name, ds.columns[ci], v, ri) === v;
      } catch {
        return false;
      }
  }
}

/** Every row is an array with one value per column (the values are checked while encoding). */
export function rowsHaveShape(ds: Dataset): boolean {
  const n = ds.columns.length;
  const rows = ds.rows;
  for (let ri = 0; ri < rows.length; ri++) {
    const r = rows[ri];
    if (!Array.isArray(r) || r.length !== n) return false;
  }
  return true;
}

/**
 * The dataset's rows when every row has one value per column and every value is valid and already in
 * canonical form; otherwise null. (Used where the values must be known good before encoding starts.)
 */
export function fastRows(ds: Dataset): Value[][] | null {
  if (!rowsHaveShape(ds)) return null;
  const kinds = columnKinds(ds.columns);
  const n = kinds.length;
  const rows = ds.rows;
  for (let ri = 0; ri < rows.length; ri++) {
    const r = rows[ri];
    for (let ci = 0; ci < n; ci++) {
      const v = r[ci];
      if (v !== null && !isCanonical(kinds[ci], v, ds, ci, ri)) return null;
    }
  }
  return rows;
}

// ------------------------------------------------------------------ number text

const numText = new Map<number, string>();
/** formatNumber(x) for a non-integer x (cached: analysis values repeat a lot). */
export function formatNumberCached(x: number): string {
  let s = numText.get(x);
  if (s === undefined) {
    s = formatNumber(x);
    if (numText.size > 200_000) numText.clear();
    numText.set(x, s);
  }
  return s;
}
const jsonNumText = new Map<number, string>();
/** JSON.stringify(x) for a finite non-integer x (cached). */
export function jsonNumberCached(x: number): string {
  let s = jsonNumText.get(x);
  if (s === undefined) {
    s = JSON.stringify(x);
    if (jsonNumText.size > 200_000) jsonNumText.clear();
    jsonNumText.set(x, s);
  }
  return s;
}

// ------------------------------------------------------------------ byte sink

/** A growing output buffer. `finish()` returns exactly the bytes written. */
export class ByteSink {
  buf: Buffer;
  pos = 0;
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, capacity));
  }
  /** Makes room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n + 1024));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  /** Writes a string as UTF-8. */
  utf8(s: string): void {
    if (this.ascii(s)) return;
    const n = Buffer.byteLength(s, 'utf8');
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }
  /** Writes s when it is plain printable ASCII (0x20..0x7e); returns false (nothing written) otherwise. */
  ascii(s: string): boolean {
    const len = s.length;
    this.ensure(len);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e) return false;
      buf[p++] = c;
    }
    this.pos = p;
    return true;
  }
  /** Writes a safe integer in decimal (-0 as 0). */
  int(x: number): void {
    this.ensure(24);
    const buf = this.buf;
    if (x < 0) {
      buf[this.pos++] = 0x2d;
      x = -x;
    }
    if (x < 10) {
      buf[this.pos++] = 0x30 + x;
      return;
    }
    let digits = 0;
    for (let t = x; t >= 1; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    while (x >= 1) {
      const q = Math.floor(x / 10);
      buf[--p] = 0x30 + (x - q * 10);
      x = q;
    }
  }
  finish(): Buffer {
    const { buf, pos } = this;
    // a copy would be one more large allocation (external memory pressure = a full GC): keep the
    // buffer when at most 1/8 of it is unused
    if (buf.length - pos <= pos >> 3) return buf.subarray(0, pos);
    const out = Buffer.allocUnsafe(pos);
    buf.copy(out, 0, 0, pos);
    return out;
  }
}

/** maxByteLength(rows, ci) (same result): values that cannot beat the running maximum are not measured. */
export function maxUtf8Length(rows: Value[][], ci: number): number {
  let max = 1;
  let last: string | null = null;
  for (let i = 0; i < rows.length; i++) {
    const v = rows[i][ci];
    if (typeof v !== 'string' || v === last) continue;
    const l = v.length;
    if (l * 3 <= max) continue;
    last = v;
    let b = l;
    for (let k = 0; k < l; k++) {
      if (v.charCodeAt(k) > 0x7f) {
        b = Buffer.byteLength(v, 'utf8');
        break;
      }
    }
    if (b > max) max = b;
  }
  return max;
}

/** Bytes of one value's text (close to exact for ASCII; used on a sample of rows to pre-size the sink). */
export function textSize(v: Value): number {
  if (v === null) return 4;
  if (typeof v === 'string') return v.length;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? (v < 0 ? 2 : 1) + Math.floor(Math.log10(Math.abs(v) || 1)) : formatNumberCached(v).length;
  return 5;
}

/**
 * Output size from a sample of rows (to pre-size the sink once: every regrowth or final copy is one more
 * large allocation, and each large allocation can cost a full GC of a big heap).
 */
export function estimateSize(rows: Value[][], perRow: (r: Value[]) => number): number {
  const n = rows.length;
  if (n === 0) return 4096;
  const step = Math.max(1, Math.floor(n / 1000));
  let bytes = 0;
  let k = 0;
  for (let i = 0; i < n; i += step) {
    bytes += perRow(rows[i]);
    k++;
  }
  return Math.ceil((bytes / k) * n * 1.06) + 65536;
}
