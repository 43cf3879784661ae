/**
 * Tables: datasets held column by column, each column dictionary-encoded (one Uint32Array of value ids
 * per column, id 0 = missing, plus the column's distinct values). This is how the endpoint engine builds
 * millions of rows without keeping millions of row arrays alive: a row is checked and encoded when it is
 * added, then dropped. Writers encode each distinct value once per format and then only copy bytes, and
 * they stream the output in chunks (a file never has to exist in memory as a whole).
 *
 * Output is byte-identical to the row writers (writeCsv, writeDatasetJson, writeDatasetNdjson,
 * writeDatasetDsjc, writeXpt) for the same data: tests/datasets/table.test.ts checks every format on the
 * golden cut and on random datasets, and error codes / messages are the reference ones.
 */
import { deflateSync } from 'node:zlib';
import { InputError } from '@app/core';
import type { Column, Dataset, DatasetFileMeta, Value } from './types';
import { checkValue, formatNumber, isNumericColumn, validateDataset, validateMeta } from './values';
import { datasetJsonMetadata, validateDatasetJsonSchema, validateNdjsonMetaSchema } from './dataset-json';
import { checkXptDatasetName, ieeeToIbm, toSasNumber, xptHeader, type XptWriteOptions } from './xpt';

/** One dictionary-encoded column. */
export interface TableColumn {
  /** Distinct canonical values: id k (k >= 1) is values[k - 1]; id 0 is missing (null). */
  values: Value[];
  /** 0-based row of each value's first occurrence (for error messages). */
  firstRow: number[];
  /**
   * One id per row (exactly rowCount of them in a finished table). The narrowest array that holds the
   * column's ids: most columns have under 256 distinct values, so a row costs a byte per column.
   */
  ids: Ids;
}

export type Ids = Uint8Array | Uint16Array | Uint32Array;

/** A dataset in columnar form (see the module comment). Build one with TableBuilder. */
export interface Table {
  name: string;
  label: string;
  itemGroupOID: string;
  standard: Dataset['standard'];
  columns: Column[];
  rowCount: number;
  data: TableColumn[];
}

export type TableHead = Pick<Dataset, 'name' | 'label' | 'itemGroupOID' | 'standard'>;

/** Is x a Table (rather than a row-major Dataset)? */
export const isTable = (x: Dataset | Table): x is Table => Array.isArray((x as Table).data) && typeof (x as Table).rowCount === 'number';

/** Rows a TableBuilder stages before moving them into its columns. */
const BLOCK_ROWS = 1024;
/** log2 of the number-cache slots per column (TableBuilder.lookup). */
const NUM_BITS = 8;

/**
 * Builds a Table row by row. Every value is checked (and made canonical) with the same rules and the
 * same InputError as validateDataset, once per distinct value of a column.
 */
export class TableBuilder {
  rowCount = 0;
  private readonly n: number;
  private readonly maps: Map<Value, number>[];
  private readonly data: TableColumn[];
  private readonly last: Value[];
  private readonly lastId: Int32Array;
  /** Ids of the row being built by set / setId / commit. */
  private readonly cur: Int32Array;
  /** Rows not yet in the column arrays, row by row (BLOCK_ROWS x n ids); rows before `flushed` are in them. */
  private readonly block: Uint32Array;
  private flushed = 0;
  /** Number cache (see lookup): 2^NUM_BITS slots per column, value (NaN: empty) and id. */
  private readonly numV: Float64Array;
  private readonly numI: Int32Array;
  /** data[ci].ids, kept beside for the hot loop. */
  private readonly ids: Ids[];
  private cap: number;

  /** Columns whose dictionary lookups only look within the current scope (see newScope). */
  private readonly scoped: number[];
  /** Id arrays over SharedArrayBuffers (see the constructor). */
  private readonly shared: boolean;

  /**
   * `opts.scoped`: names of columns whose values belong to one scope (e.g. a subject's read ids): their
   * lookups only search the values met since the last newScope(), a small Map instead of the whole
   * column's. A value met again in a later scope gets a second id with the same value, which changes
   * nothing in the table's content or in any file written from it.
   * `opts.shared`: the id arrays live in SharedArrayBuffers, so the finished table goes to other threads
   * (writers, or back from a derivation worker) without a copy of its ids: only its dictionaries are
   * copied. Nothing else changes; nobody writes to a finished table.
   */
  constructor(readonly head: TableHead, readonly columns: Column[], capacity = 1024, opts: { scoped?: string[]; shared?: boolean } = {}) {
    validateDataset({ ...head, columns, rows: [] }); // names, data types, duplicates
    this.n = columns.length;
    this.cap = Math.max(16, capacity);
    this.maps = columns.map(() => new Map<Value, number>());
    this.scoped = (opts.scoped ?? []).map((name) => columns.findIndex((c) => c.name === name)).filter((ci) => ci >= 0);
    this.shared = opts.shared === true;
    this.data = columns.map(() => ({ values: [], firstRow: [], ids: this.newIds(1, this.cap) }));
    this.last = columns.map(() => null);
    this.lastId = new Int32Array(this.n);
    this.cur = new Int32Array(this.n);
    this.block = new Uint32Array(BLOCK_ROWS * this.n);
    this.numV = new Float64Array(this.n << NUM_BITS).fill(NaN);
    this.numI = new Int32Array(this.n << NUM_BITS);
    this.ids = this.data.map((d) => d.ids);
  }

  /** Adds one row (one value per column, in column order). The array is not kept. */
  add(r: Value[]): void {
    const n = this.n;
    const ri = this.rowCount;
    if (!Array.isArray(r) || r.length !== n) {
      throw new InputError('dataset.row-length', `dataset ${this.head.name}: row ${ri + 1} has ${Array.isArray(r) ? r.length : 'no'} values; expected ${n} (one per column)`);
    }
    const block = this.block;
    const o = (ri - this.flushed) * n;
    const maps = this.maps;
    const last = this.last;
    const lastId = this.lastId;
    for (let ci = 0; ci < n; ci++) {
      const v = r[ci];
      let id: number;
      if (v === null || v === undefined) id = 0;
      else if (v === last[ci]) id = lastId[ci];
      else {
        id = this.lookup(ci, v);
        last[ci] = v;
        lastId[ci] = id;
      }
      block[o + ci] = id;
    }
    this.rowCount = ri + 1;
    if (ri + 1 - this.flushed === BLOCK_ROWS) this.flush();
  }

  /**
   * Row-at-a-time building without row arrays, for hot loops: `set` / `setId` the columns of the row
   * being built, then `commit()` it. A column not set keeps the id it had in the previous committed row
   * (set a subject's constant columns once, then only what changes). Values are checked and interned as
   * add() does them.
   */
  set(ci: number, v: Value): void {
    this.cur[ci] = this.idOf(ci, v);
  }

  /** Sets column ci of the row being built to an id from idOf (no lookup). */
  setId(ci: number, id: number): void {
    this.cur[ci] = id;
  }

  /** The id of v in column ci (0 for null / undefined), interning it when new. */
  idOf(ci: number, v: Value): number {
    if (v === null || v === undefined) return 0;
    if (v === this.last[ci]) return this.lastId[ci];
    const id = this.lookup(ci, v);
    this.last[ci] = v;
    this.lastId[ci] = id;
    return id;
  }

  /** Starts a new scope for the scoped columns (their lookups forget the values met so far). */
  newScope(): void {
    for (const ci of this.scoped) if (this.maps[ci].size) this.maps[ci] = new Map<Value, number>();
  }

  /** Appends the row built with set / setId. */
  commit(): void {
    const ri = this.rowCount;
    const n = this.n;
    const cur = this.cur;
    const block = this.block;
    const o = (ri - this.flushed) * n;
    for (let ci = 0; ci < n; ci++) block[o + ci] = cur[ci];
    this.rowCount = ri + 1;
    if (ri + 1 - this.flushed === BLOCK_ROWS) this.flush();
  }

  /**
   * Moves the rows staged in the block into the column id arrays (growing them when needed). Rows are
   * staged row by row in one small array first: writing a row's ids straight into n column arrays
   * touches n places in memory per row, the block one.
   */
  private flush(): void {
    const rows = this.rowCount - this.flushed;
    if (rows === 0) return;
    while (this.rowCount > this.cap) this.grow();
    const n = this.n;
    const block = this.block;
    const at = this.flushed;
    for (let ci = 0; ci < n; ci++) {
      const col = this.ids[ci];
      for (let r = 0, q = ci; r < rows; r++, q += n) col[at + r] = block[q];
    }
    this.flushed = this.rowCount;
  }

  /**
   * The id of a non-null value (interned, i.e. checked and added, when new). Numbers go through a small
   * direct-mapped cache per column first: a column's few frequent numbers (questionnaire scores, visit
   * days) are then found without a Map lookup, which costs a cache miss once the Map is big.
   */
  private lookup(ci: number, v: Value): number {
    if (typeof v !== 'number') {
      const x = this.maps[ci].get(v);
      return x === undefined ? this.intern(ci, v, this.rowCount) : x;
    }
    const slot = (ci << NUM_BITS) | (Math.imul((v * 4096) | 0, 0x9e3779b1) >>> (32 - NUM_BITS));
    if (this.numV[slot] === v) return this.numI[slot];
    const x = this.maps[ci].get(v);
    const id = x === undefined ? this.intern(ci, v, this.rowCount) : x;
    this.numV[slot] = v;
    this.numI[slot] = id;
    return id;
  }

  private intern(ci: number, v: Value, ri: number): number {
    const c = checkValue(this.head.name, this.columns[ci], v, ri);
    const d = this.data[ci];
    d.values.push(c);
    d.firstRow.push(ri);
    const id = d.values.length;
    if (id === 0x100 || id === 0x10000) {
      // widen the column's id array (Uint8 -> Uint16 -> Uint32); rows still in the block are not in it yet
      const wider = this.newIds(id === 0x100 ? 2 : 4, this.cap);
      wider.set(d.ids.subarray(0, this.flushed));
      d.ids = wider;
      this.ids[ci] = wider;
    }
    this.maps[ci].set(v, id);
    return id;
  }

  /** A zeroed id array of `n` ids of `bytes` bytes each (in a SharedArrayBuffer for a shared builder). */
  private newIds(bytes: number, n: number): Ids {
    const buf = this.shared ? new SharedArrayBuffer(n * bytes) : new ArrayBuffer(n * bytes);
    return bytes === 1 ? new Uint8Array(buf) : bytes === 2 ? new Uint16Array(buf) : new Uint32Array(buf);
  }

  private grow(): void {
    this.reserve(this.cap * 2);
  }

  /**
   * Makes room for `rows` rows in every column now: a caller that can estimate the table's size saves
   * the repeated doubling (each a fresh allocation and a copy). More rows than reserved still fit.
   */
  reserve(rows: number): void {
    if (!(rows > this.cap)) return;
    this.cap = Math.ceil(rows);
    this.data.forEach((d, ci) => {
      const next = this.newIds(d.ids.BYTES_PER_ELEMENT, this.cap);
      next.set(d.ids.subarray(0, this.flushed));
      d.ids = next;
      this.ids[ci] = next;
    });
  }

  /**
   * The finished table. `lengthsFromData`: every 'string' column without a declared length gets the
   * longest UTF-8 byte length of its values (at least 1), as the endpoint datasets declare them.
   */
  finish(opts: { lengthsFromData?: boolean } = {}): Table {
    this.flush();
    const columns = this.columns.map((c, ci) => (opts.lengthsFromData && c.dataType === 'string' && c.length === undefined ? { ...c, length: measuredLength(this.data[ci]) } : { ...c }));
    // spare capacity over 1/8 is released by an exact-length copy (a copy is one more large allocation)
    const n = this.rowCount;
    const exact = (ids: Ids): Ids => {
      if (this.cap - n <= n >> 3) return ids.subarray(0, n);
      const copy = this.newIds(ids.BYTES_PER_ELEMENT, n);
      copy.set(ids.subarray(0, n));
      return copy;
    };
    return { ...this.head, columns, rowCount: n, data: this.data.map((d) => ({ ...d, ids: exact(d.ids) })) };
  }
}

/** Longest UTF-8 byte length of a column's string values (at least 1), like maxByteLength. */
export function measuredLength(d: TableColumn): number {
  let max = 1;
  for (const v of d.values) if (typeof v === 'string') max = Math.max(max, Buffer.byteLength(v, 'utf8'));
  return max;
}

/** A Table from a row-major Dataset (declared lengths kept as they are). */
export function datasetToTable(ds: Dataset): Table {
  const b = new TableBuilder({ name: ds.name, label: ds.label, itemGroupOID: ds.itemGroupOID, standard: ds.standard }, ds.columns, ds.rows.length);
  for (const r of ds.rows) b.add(r);
  return b.finish();
}

/** The row-major Dataset of a Table or of its parts, in order (canonical values). */
export function tableToDataset(input: Table | Table[]): Dataset {
  const parts = Array.isArray(input) ? input : [input];
  const t = parts[0];
  const n = t.columns.length;
  const rows: Value[][] = [];
  for (const p of parts) {
    for (let ri = 0; ri < p.rowCount; ri++) {
      const r: Value[] = new Array(n);
      for (let ci = 0; ci < n; ci++) {
        const id = p.data[ci].ids[ri];
        r[ci] = id === 0 ? null : p.data[ci].values[id - 1];
      }
      rows.push(r);
    }
  }
  const columns = Array.isArray(input) ? columnsOf(input) : t.columns.map((c) => ({ ...c }));
  return { name: t.name, label: t.label, itemGroupOID: t.itemGroupOID, standard: t.standard, columns, rows };
}

// ------------------------------------------------------------------ writers

export type TableFormat = 'csv' | 'json' | 'ndjson' | 'dsjc' | 'xpt';
/** Receives the next bytes of a file. The chunk is only valid during the call (its buffer is reused). */
export type TableSink = (format: TableFormat, chunk: Buffer) => void;

/**
 * Pre-encoded bytes of each value id of a column: id k is bytes[off[k]..off[k + 1]) (XPT: fixed width
 * `max`, no offsets). `bytes` has SLACK readable bytes after the data and `view` is a DataView over it:
 * the row writers copy values 8 bytes at a time and may read (and write) up to 7 bytes past a value's
 * end; the bytes written past are overwritten by what follows or left beyond the chunk's end.
 */
interface Enc {
  bytes: Buffer;
  view: DataView;
  off: Int32Array;
  max: number;
}

const SLACK = 8;

const withView = (bytes: Buffer, off: Int32Array, max: number): Enc => ({ bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.length), off, max });

/**
 * The bytes of every text, one after the other, with their offsets. One UTF-8 encoding of all texts
 * joined; when that is pure ASCII (byte length = string length, the usual case) a text's length is its
 * byte count. Plain loops: map / forEach callbacks here met arrays of changing element kinds and were
 * deoptimised again and again.
 */
function encodeAll(texts: string[]): Enc {
  const n = texts.length;
  const joined = texts.join('');
  const all = Buffer.from(joined, 'utf8');
  const ascii = all.length === joined.length;
  const off = new Int32Array(n + 1);
  let total = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    off[i] = total;
    const len = ascii ? texts[i].length : Buffer.byteLength(texts[i], 'utf8');
    total += len;
    if (len > max) max = len;
  }
  off[n] = total;
  const bytes = Buffer.alloc(total + SLACK);
  all.copy(bytes, 0);
  return withView(bytes, off, max);
}

/** [text(null), text(v) for each value]: the texts of value ids 0 (missing), 1, 2... */
function idTexts(values: Value[], text: (v: Value) => string): string[] {
  const out = new Array<string>(values.length + 1);
  out[0] = text(null);
  for (let i = 0; i < values.length; i++) out[i + 1] = text(values[i]);
  return out;
}

const isSafeInt = Number.isSafeInteger;

/** RFC 4180 field text (the rule of writeCsv): quote a field holding , " CR or LF, double quotes; '' -> "". */
function csvText(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'number') return isSafeInt(v) ? String(v) : formatNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === '') return '""';
  if (v.includes('"')) return `"${v.replaceAll('"', '""')}"`;
  if (v.includes(',') || v.includes('\r') || v.includes('\n')) return `"${v}"`;
  return v;
}

/** Dataset-JSON value text (the rule of writeDatasetJson): decimals as quoted digit strings. */
function jsonText(v: Value, decimal: boolean): string {
  if (v === null) return 'null';
  if (typeof v === 'number') {
    const s = isSafeInt(v) ? String(v) : decimal ? formatNumber(v) : JSON.stringify(v);
    return decimal ? `"${s}"` : s;
  }
  return JSON.stringify(v);
}

const jsonDecimalText = (v: Value): string => jsonText(v, true);
const jsonPlainText = (v: Value): string => jsonText(v, false);

/** A reusable output chunk handed to the sink whenever it fills up. */
class Chunk {
  buf: Buffer;
  pos = 0;
  constructor(private readonly f: TableFormat, private readonly sink: TableSink, size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  flush(): void {
    if (this.pos) this.sink(this.f, this.buf.subarray(0, this.pos));
    this.pos = 0;
  }
  /** Makes sure a record of n bytes fits an empty chunk (a bigger buffer, after flushing, when not). */
  ensureRoom(n: number): void {
    if (n <= this.buf.length) return;
    this.flush();
    this.buf = Buffer.allocUnsafe(n * 2);
  }
  put(b: Buffer): void {
    if (this.pos + b.length > this.buf.length) this.flush();
    if (b.length > this.buf.length) {
      this.sink(this.f, b);
      return;
    }
    this.pos += b.copy(this.buf, this.pos);
  }
}

const CHUNK = 1 << 20;

/**
 * Columns 0..k-1 whose value ids in row ri equal those of row ri - 1 (the leading key columns STUDYID,
 * USUBJID, PARAMCD... repeat row after row): their bytes can be copied from the previous row at once.
 */
function samePrefix(ids: Ids[], ri: number, n: number): number {
  let k = 0;
  while (k < n && ids[k][ri] === ids[k][ri - 1]) k++;
  return k;
}

/**
 * Copies a value's len bytes from src (at s) to dst (at p), 8 bytes at a time: up to 7 bytes past the
 * value's end are read and written too (see Enc and SLACK).
 */
function copyValue(dst: DataView, p: number, src: DataView, s: number, len: number): void {
  for (let k = 0; k < len; k += 8) {
    dst.setUint32(p + k, src.getUint32(s + k, true), true);
    dst.setUint32(p + k + 4, src.getUint32(s + k + 4, true), true);
  }
}

/** Copies len bytes within buf from `from` to `to` (a loop for short runs, memmove for long ones). */
function copyInside(buf: Buffer, to: number, from: number, len: number): void {
  if (len > 32) buf.copyWithin(to, from, from + len);
  else for (let i = 0; i < len; i++) buf[to + i] = buf[from + i];
}

/**
 * How the rows of a delimited text format are framed: `lead` opens a row, values are separated by ",",
 * `trail` closes it; `sep` goes before every row but the table's first (JSON's ",\n"). `copy`, when set,
 * receives the same row bytes plus "\n" (the NDJSON file written in the JSON file's pass).
 */
interface RowFrame {
  lead: number[];
  trail: number[];
  sep: number[];
  copy: Chunk | null;
}
const CSV_FRAME: RowFrame = { lead: [], trail: [0x0d, 0x0a], sep: [], copy: null };
const jsonFrame = (ndjson: Chunk | null): RowFrame => ({ lead: [0x5b], trail: [0x5d], sep: [0x2c, 0x0a], copy: ndjson });
const NDJSON_FRAME: RowFrame = { lead: [0x5b], trail: [0x5d, 0x0a], sep: [], copy: null };

/**
 * Row encoders over [from, to) (`offset`: the part's first row in the table): they append one row after
 * the other to a chunk. A row repeating the previous row's leading values copies that prefix from the
 * previous row (when it is still in the chunk).
 */
function writeDelimitedRows(t: Table, encs: Enc[], out: Chunk, from: number, to: number, offset: number, f: RowFrame): void {
  const n = encs.length;
  const ids = t.data.map((d) => d.ids);
  const views = encs.map((e) => e.view);
  const offs = encs.map((e) => e.off);
  const { lead, trail, sep, copy } = f;
  let maxRow = n + lead.length + trail.length + sep.length;
  for (const e of encs) maxRow += e.max;
  out.ensureRoom(maxRow + SLACK);
  copy?.ensureRoom(maxRow + 1);
  const buf = out.buf;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const lim = buf.length - maxRow - SLACK;
  let p = out.pos;
  const rel = new Int32Array(n); // end of each column in the previous row, from the row start
  let prev = -1; // the previous row's start in buf (-1: not there)
  for (let ri = from; ri < to; ri++) {
    if (p > lim) {
      out.pos = p;
      out.flush();
      p = 0;
      prev = -1;
    }
    if (ri + offset) for (let k = 0; k < sep.length; k++) buf[p++] = sep[k];
    const start = p;
    let ci = 0;
    if (prev >= 0) {
      ci = samePrefix(ids, ri, n);
      if (ci > 0) {
        copyInside(buf, p, prev, rel[ci - 1]);
        p += rel[ci - 1];
      }
    }
    if (ci === 0) for (let k = 0; k < lead.length; k++) buf[p++] = lead[k];
    for (; ci < n; ci++) {
      if (ci) buf[p++] = 0x2c;
      const o = offs[ci];
      const id = ids[ci][ri];
      const s = o[id];
      const len = o[id + 1] - s;
      copyValue(dv, p, views[ci], s, len);
      p += len;
      rel[ci] = p - start;
    }
    for (let k = 0; k < trail.length; k++) buf[p++] = trail[k];
    prev = start;
    if (copy) {
      if (copy.pos + p - start + 1 > copy.buf.length) copy.flush();
      copy.pos += buf.copy(copy.buf, copy.pos, start, p);
      copy.buf[copy.pos++] = 0x0a;
    }
  }
  out.pos = p;
}

/** XPT observations: fixed-width records, each variable its pre-encoded bytes. */
function writeXptRows(t: Table, encs: Enc[], out: Chunk, from: number, to: number): void {
  const n = encs.length;
  const ids = t.data.map((d) => d.ids);
  const views = encs.map((e) => e.view);
  const widths = encs.map((e) => e.max);
  let obsLen = 0;
  for (const w of widths) obsLen += w;
  out.ensureRoom(obsLen + SLACK);
  const buf = out.buf;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const lim = buf.length - obsLen - SLACK;
  const pos = new Int32Array(n + 1); // start of each variable in an observation
  for (let ci = 0; ci < n; ci++) pos[ci + 1] = pos[ci] + widths[ci];
  let p = out.pos;
  let prev = -1; // the previous observation's start in buf (-1: not there)
  for (let ri = from; ri < to; ri++) {
    if (p > lim) {
      out.pos = p;
      out.flush();
      p = 0;
      prev = -1;
    }
    const start = p;
    let ci = 0;
    if (prev >= 0) {
      ci = samePrefix(ids, ri, n);
      if (ci > 0) {
        copyInside(buf, p, prev, pos[ci]);
        p += pos[ci];
      }
    }
    prev = start;
    for (; ci < n; ci++) {
      const w = widths[ci];
      copyValue(dv, p, views[ci], ids[ci][ri] * w, w);
      p += w;
    }
  }
  out.pos = p;
}

/** A table, or consecutive parts of one (same columns; e.g. subject shards derived on several threads). */
export type TableInput = Table | Table[];

const partsOf = (t: TableInput): Table[] => (Array.isArray(t) ? t : [t]);

/** Checks that parts share their columns; returns the first part (for names and metadata). */
function firstPart(parts: Table[]): Table {
  if (parts.length === 0) throw new InputError('datacut.invalid', 'a table needs at least one part');
  const t = parts[0];
  for (const p of parts) {
    if (p.name !== t.name || p.columns.length !== t.columns.length || p.columns.some((c, i) => c.name !== t.columns[i].name || c.dataType !== t.columns[i].dataType)) {
      throw new InputError('datacut.invalid', `table ${t.name}: part ${p.name} does not have the same columns`);
    }
  }
  return t;
}

/** The table's name (its first part's). */
export const tableName = (t: TableInput): string => partsOf(t)[0]?.name ?? '';

/** Rows of all parts. */
export const rowCountOf = (t: TableInput): number => partsOf(t).reduce((a, p) => a + p.rowCount, 0);

/**
 * Column metadata of the parts taken together: a declared length is the longest of the parts' (parts
 * built with lengthsFromData each measured their own values).
 */
export function columnsOf(t: TableInput): Column[] {
  const parts = partsOf(t);
  const first = firstPart(parts);
  return first.columns.map((c, ci) => {
    const lens = parts.map((p) => p.columns[ci].length);
    return lens.every((l) => l !== undefined) ? { ...c, length: Math.max(...(lens as number[])) } : { ...c };
  });
}

/** measuredLength over every part. */
const measuredAll = (parts: Table[], ci: number): number => Math.max(...parts.map((p) => measuredLength(p.data[ci])));

interface Header {
  columns: Column[];
  rowCount: number;
  jsonHead?: string;
  ndHead?: string;
  xpt?: { head: Buffer; obsLen: number; lengths: number[]; numeric: boolean[] };
}

/** Checks and file headers for the requested formats; throws the reference InputErrors. */
function header(parts: Table[], meta: DatasetFileMeta, formats: Set<TableFormat>, opts: XptWriteOptions): Header {
  const t = firstPart(parts);
  const columns = columnsOf(parts);
  const rowCount = rowCountOf(parts);
  validateMeta(meta);
  validateDataset({ name: t.name, label: t.label, itemGroupOID: t.itemGroupOID, standard: t.standard, columns, rows: [] });
  const h: Header = { columns, rowCount };
  if (formats.has('json') || formats.has('ndjson') || formats.has('dsjc')) {
    // column lengths: declared, else measured for 'string' columns (as datasetJsonMetadata does on rows)
    const cols = columns.map((c, ci) => (c.length === undefined && c.dataType === 'string' ? { ...c, length: measuredAll(parts, ci) } : c));
    const md = datasetJsonMetadata({ name: t.name, label: t.label, itemGroupOID: t.itemGroupOID, standard: t.standard, columns: cols, rows: [] }, meta, rowCount);
    const head = JSON.stringify(md);
    if (formats.has('ndjson') || formats.has('dsjc')) {
      validateNdjsonMetaSchema(md);
      h.ndHead = head;
    }
    if (formats.has('json')) {
      validateDatasetJsonSchema({ ...md, rows: [] });
      h.jsonHead = head;
    }
  }
  if (formats.has('xpt')) {
    const dsName = checkXptDatasetName(t.name);
    const numeric = columns.map(isNumericColumn);
    const lengths = columns.map((c, i) => {
      if (numeric[i]) return 8;
      const need = measuredAll(parts, i);
      const len = c.length ?? need;
      if (!Number.isInteger(len) || len < 1 || len > 200) {
        throw new InputError('xpt.invalid-length', `xpt: ${dsName}.${c.name}: character length ${len} is outside 1..200 bytes allowed by XPORT v5`);
      }
      if (need > len) {
        let ri = rowCount;
        let base = 0;
        for (const p of parts) {
          const d = p.data[i];
          d.values.forEach((v, k) => {
            if (typeof v === 'string' && Buffer.byteLength(v, 'utf8') > len) ri = Math.min(ri, base + d.firstRow[k]);
          });
          base += p.rowCount;
        }
        throw new InputError('xpt.value-too-long', `xpt: ${dsName}.${c.name} row ${ri + 1}: value is ${need} bytes but the column length is ${len}; refusing to truncate`);
      }
      return len;
    });
    const { parts: head, obsLen } = xptHeader({ name: t.name, label: t.label, columns }, meta, opts, numeric, lengths);
    h.xpt = { head: Buffer.concat(head), obsLen, lengths, numeric };
  }
  return h;
}

const csvEncs = (t: Table): Enc[] => t.data.map((d) => encodeAll(idTexts(d.values, csvText)));

const jsonEncs = (t: Table): Enc[] =>
  t.data.map((d, ci) => {
    const dec = t.columns[ci].dataType === 'decimal';
    return encodeAll(idTexts(d.values, dec ? jsonDecimalText : jsonPlainText));
  });

/** XPT bytes of every value id of one part: fixed width per column; `base` = the part's first row. */
function xptEncs(t: Table, h: NonNullable<Header['xpt']>, base: number): Enc[] {
  const dsName = t.name.toUpperCase();
  return t.data.map((d, ci) => {
    const w = h.lengths[ci];
    const col = t.columns[ci];
    const bytes = Buffer.alloc((d.values.length + 1) * w + SLACK, 0x20);
    if (h.numeric[ci]) {
      bytes.fill(0, 0, 8);
      bytes[0] = 0x2e; // missing
      d.values.forEach((v, k) => {
        const what = `${dsName}.${col.name} row ${base + d.firstRow[k] + 1}`;
        const x = toSasNumber(col, v, what);
        if (x === null) {
          bytes.fill(0, (k + 1) * 8, (k + 2) * 8);
          bytes[(k + 1) * 8] = 0x2e;
        } else ieeeToIbm(x, bytes, (k + 1) * 8, what);
      });
    } else {
      d.values.forEach((v, k) => {
        if (typeof v === 'string') bytes.write(v, (k + 1) * w, w, 'utf8');
      });
    }
    return withView(bytes, new Int32Array(0), w);
  });
}

/**
 * Writes the table (or its consecutive parts) in every requested format in one call, streaming each
 * file's bytes to `sink` (chunks of each format arrive in file order; formats may interleave). `rows`
 * limits the work to a row range, for splitting one table across workers: the part with `head`
 * (default: from = 0) gets the file header and the part with `tail` (default: to = rowCount) the
 * trailer, so the concatenation of consecutive ranges is the whole file. DSJC (deflated NDJSON) is only
 * written for the whole table.
 */
export function writeTable(input: TableInput, meta: DatasetFileMeta, formats: TableFormat[], sink: TableSink, opts: XptWriteOptions & { rows?: [number, number]; head?: boolean; tail?: boolean } = {}): void {
  const parts = partsOf(input);
  const fs = new Set(formats);
  for (const f of fs) if (!['csv', 'json', 'ndjson', 'dsjc', 'xpt'].includes(f)) throw new InputError('datacut.invalid', `unknown format ${JSON.stringify(f)}; expected one of csv, json, ndjson, dsjc, xpt`);
  const total = rowCountOf(parts);
  const [from, to] = opts.rows ?? [0, total];
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= total)) throw new InputError('datacut.invalid', `row range [${from}, ${to}) is not inside [0, ${total}]`);
  if (fs.has('dsjc') && (from !== 0 || to !== total)) throw new InputError('datacut.invalid', 'dsjc is only written for a whole table');
  const first = opts.head ?? from === 0;
  const lastPart = opts.tail ?? to === total;
  const h = header(parts, meta, fs, opts);
  const ascii = (s: string) => Buffer.from(s, 'utf8');
  /** Calls write(part, part's first row, local from, local to) for every part overlapping [from, to). */
  const eachPart = (write: (p: Table, base: number, a: number, b: number) => void): void => {
    let base = 0;
    for (const p of parts) {
      const a = Math.max(from, base) - base;
      const b = Math.min(to, base + p.rowCount) - base;
      if (a < b) write(p, base, a, b);
      base += p.rowCount;
    }
  };

  if (fs.has('csv')) {
    const out = new Chunk('csv', sink, CHUNK);
    if (first) out.put(ascii(h.columns.map((c) => csvText(c.name)).join(',') + '\r\n'));
    eachPart((p, base, a, b) => writeDelimitedRows(p, csvEncs(p), out, a, b, base, CSV_FRAME));
    out.flush();
  }
  if (h.jsonHead !== undefined || h.ndHead !== undefined) {
    const json = fs.has('json') ? new Chunk('json', sink, CHUNK) : null;
    // DSJC compresses the NDJSON bytes: collected here when NDJSON itself is not asked for
    const dsjcParts: Buffer[] = [];
    const ndSink: TableSink = fs.has('dsjc')
      ? (f, c) => {
          dsjcParts.push(Buffer.from(c));
          if (fs.has('ndjson')) sink(f, c);
        }
      : sink;
    const nd = fs.has('ndjson') || fs.has('dsjc') ? new Chunk('ndjson', ndSink, CHUNK) : null;
    if (first) {
      if (json) json.put(ascii(`${h.jsonHead!.slice(0, -1)},"rows":[${total ? '\n' : ''}`));
      if (nd) nd.put(ascii(`${h.ndHead!}\n`));
    }
    // every row but the table's first is preceded by ",\n" in the JSON file, so ranges simply concatenate
    // JSON and NDJSON rows are the same bytes: one pass writes the JSON file and copies each row to NDJSON
    const frame = json ? jsonFrame(nd) : NDJSON_FRAME;
    eachPart((p, base, a, b) => writeDelimitedRows(p, jsonEncs(p), (json ?? nd)!, a, b, base, frame));
    if (json && lastPart) json.put(ascii(`${total ? '\n' : ''}]}\n`));
    json?.flush();
    nd?.flush();
    if (fs.has('dsjc')) sink('dsjc', deflateSync(Buffer.concat(dsjcParts), { level: 9 }));
  }
  if (h.xpt) {
    const x = h.xpt;
    const out = new Chunk('xpt', sink, CHUNK);
    if (first) out.put(x.head);
    eachPart((p, base, a, b) => writeXptRows(p, xptEncs(p, x, base), out, a, b));
    if (lastPart) {
      const pad = (80 - ((total * x.obsLen) % 80)) % 80;
      if (pad) out.put(Buffer.alloc(pad, 0x20));
    }
    out.flush();
  }
}

/** One file's bytes of a table in one format (collected from writeTable). */
export function writeTableFile(t: TableInput, meta: DatasetFileMeta, format: TableFormat, opts: XptWriteOptions = {}): Buffer {
  const parts: Buffer[] = [];
  writeTable(t, meta, [format], (_f, c) => parts.push(Buffer.from(c)), opts);
  return Buffer.concat(parts);
}
