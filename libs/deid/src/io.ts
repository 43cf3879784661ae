/**
 * A minimal, lossless DICOM Part-10 element reader/writer for de-identification.
 *
 * Why not dcmjs/dicom-parser for this: de-identification must (1) keep pixel data byte-identical,
 * including the fragmentation and Basic Offset Table of encapsulated pixel data (dcmjs re-fragments
 * on write), and (2) keep every element it does not change bit-exact in the original byte order. So
 * elements are kept as raw byte slices of the input; only the values we replace are re-encoded.
 * Sequences are parsed recursively (defined and undefined lengths, UN with undefined length as
 * implicit VR little endian per PS3.5 6.2.2).
 */
import { inflateRawSync } from 'node:zlib';
import { InputError } from '@app/core';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dictionary = (require('dcmjs') as { data: { DicomMetaDictionary: { dictionary: Record<string, { vr: string; name: string } | undefined> } } }).data
  .DicomMetaDictionary.dictionary;

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  deflatedLE: '1.2.840.10008.1.2.1.99',
  explicitBE: '1.2.840.10008.1.2.2',
} as const;

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const VALID_VRS = new Set([
  'AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'PN', 'SH', 'SL',
  'SQ', 'SS', 'ST', 'SV', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV',
]);
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQ_END = 0xfffee0dd;
const UNDEFINED = 0xffffffff;

export interface Element {
  tag: number;
  vr: string;
  /** Raw value bytes in the source byte order (absent for SQ and encapsulated pixel data). */
  value?: Buffer;
  /** Sequence items (each a list of elements). */
  items?: Element[][];
  /** Encapsulated pixel data: the raw bytes after the header up to and including the sequence delimiter. */
  encapsulated?: Buffer;
}

export interface ParsedFile {
  meta: Element[];
  dataset: Element[];
  transferSyntaxUid: string;
  /** The syntax the dataset bytes are in after reading (deflate is inflated to explicit LE). */
  datasetSyntax: { explicit: boolean; littleEndian: boolean };
  hadPreamble: boolean;
}

export const tagStr = (tag: number): string =>
  `(${(tag >>> 16).toString(16).padStart(4, '0').toUpperCase()},${(tag & 0xffff).toString(16).padStart(4, '0').toUpperCase()})`;

/** VR of a public tag from the dcmjs data dictionary ('UN' when unknown or private). */
export function dictionaryVr(tag: number): string {
  const group = tag >>> 16;
  if (group & 1) return (tag & 0xffff) < 0x0100 && (tag & 0xffff) >= 0x0010 ? 'LO' : 'UN';
  if ((tag & 0xffff) === 0) return 'UL';
  let g = group;
  if ((group & 0xff00) === 0x5000 || (group & 0xff00) === 0x6000) g = group & 0xff00;
  const key = `(${g.toString(16).padStart(4, '0').toUpperCase()},${(tag & 0xffff).toString(16).padStart(4, '0').toUpperCase()})`;
  const vr = dictionary[key]?.vr;
  if (!vr) return 'UN';
  if (vr === 'ox' || vr.startsWith('OB or')) return 'OW';
  if (vr === 'xs' || vr.startsWith('US or')) return 'US';
  return vr.slice(0, 2).toUpperCase();
}

export const keywordOf = (tag: number): string => {
  const key = tagStr(tag);
  return dictionary[key]?.name ?? (((tag >>> 16) & 1) ? 'Private' : 'Unknown');
};

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly explicit: boolean,
    readonly le: boolean,
  ) {}
  u16(o: number): number {
    return this.le ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  need(o: number, n: number, what: string): void {
    if (o + n > this.buf.length) {
      throw new InputError('deid.truncated', `DICOM data ends inside ${what} at byte ${o} (needs ${n} bytes, ${this.buf.length - o} left): the file is truncated or not DICOM`, { offset: o });
    }
  }
  tag(o: number): number {
    this.need(o, 4, 'an element tag');
    return ((this.u16(o) << 16) | this.u16(o + 2)) >>> 0;
  }

  /** Parses elements from `o` until `end`, or until an item delimiter when `end` is undefined. Returns the end offset. */
  dataset(o: number, end: number | undefined, out: Element[], depth: number): number {
    if (depth > 32) throw new InputError('deid.too-deep', `sequences nested deeper than 32 levels at byte ${o}`);
    const limit = end ?? this.buf.length;
    while (o < limit) {
      const tag = this.tag(o);
      if (tag === ITEM_END) {
        if (end !== undefined) throw new InputError('deid.bad-structure', `unexpected item delimiter at byte ${o} inside a defined-length item`);
        return o + 8;
      }
      if (tag === ITEM || tag === SEQ_END) throw new InputError('deid.bad-structure', `unexpected ${tagStr(tag)} at byte ${o} outside a sequence`);
      let vr: string;
      let len: number;
      let p: number;
      if (this.explicit) {
        this.need(o, 8, `the header of ${tagStr(tag)}`);
        vr = this.buf.toString('latin1', o + 4, o + 6);
        if (!VALID_VRS.has(vr)) {
          throw new InputError('deid.bad-vr', `element ${tagStr(tag)} at byte ${o} has VR '${vr.replace(/[^\x20-\x7e]/g, '?')}', not a DICOM VR: the file is corrupt or its transfer syntax is wrong`, { tag: tagStr(tag) });
        }
        if (LONG_VRS.has(vr)) {
          this.need(o, 12, `the header of ${tagStr(tag)}`);
          len = this.u32(o + 8);
          p = o + 12;
        } else {
          len = this.u16(o + 6);
          p = o + 8;
        }
      } else {
        this.need(o, 8, `the header of ${tagStr(tag)}`);
        vr = dictionaryVr(tag);
        len = this.u32(o + 4);
        p = o + 8;
      }
      if (tag === 0x7fe00010 && len === UNDEFINED) {
        // Encapsulated pixel data: walk the fragments only to find the end; keep the bytes raw.
        let q = p;
        for (;;) {
          const t = this.tag(q);
          this.need(q, 8, 'a pixel data fragment header');
          const fl = this.u32(q + 4);
          if (t === SEQ_END) {
            q += 8;
            break;
          }
          if (t !== ITEM) throw new InputError('deid.bad-encapsulation', `encapsulated pixel data: expected an item tag at byte ${q}, found ${tagStr(t)}`);
          this.need(q + 8, fl, 'a pixel data fragment');
          q += 8 + fl;
        }
        out.push({ tag, vr: vr === 'UN' ? 'OB' : vr, encapsulated: this.buf.subarray(p, q) });
        o = q;
        continue;
      }
      const isSeq = vr === 'SQ' || (len === UNDEFINED && (vr === 'UN' || !this.explicit));
      if (isSeq) {
        const items: Element[][] = [];
        // UN with undefined length: contents are implicit VR little endian (PS3.5 6.2.2)
        const inner = vr === 'UN' && this.explicit ? new Reader(this.buf, false, true) : this;
        o = inner.sequence(p, len === UNDEFINED ? undefined : p + len, items, depth);
        out.push({ tag, vr: 'SQ', items });
        continue;
      }
      if (len === UNDEFINED) throw new InputError('deid.bad-structure', `element ${tagStr(tag)} (${vr}) at byte ${o} has undefined length`);
      this.need(p, len, `the value of ${tagStr(tag)} (${len} bytes)`);
      out.push({ tag, vr, value: this.buf.subarray(p, p + len) });
      o = p + len;
    }
    if (end !== undefined && o > end) throw new InputError('deid.bad-structure', `an element overruns its enclosing item (ends at ${o}, item ends at ${end})`);
    return o;
  }

  sequence(o: number, end: number | undefined, items: Element[][], depth: number): number {
    for (;;) {
      if (end !== undefined && o >= end) return o;
      const t = this.tag(o);
      this.need(o, 8, 'a sequence item header');
      const len = this.u32(o + 4);
      if (t === SEQ_END) {
        if (end !== undefined) throw new InputError('deid.bad-structure', `sequence delimiter at byte ${o} inside a defined-length sequence`);
        return o + 8;
      }
      if (t !== ITEM) throw new InputError('deid.bad-structure', `expected a sequence item at byte ${o}, found ${tagStr(t)}`);
      const item: Element[] = [];
      if (len === UNDEFINED) o = this.dataset(o + 8, undefined, item, depth + 1);
      else {
        this.need(o + 8, len, 'a sequence item');
        o = this.dataset(o + 8, o + 8 + len, item, depth + 1);
      }
      items.push(item);
    }
  }
}

/** Reads a Part-10 file (or a bare implicit/explicit VR little endian dataset without preamble). */
export function readPart10(buf: Buffer): ParsedFile {
  if (!Buffer.isBuffer(buf)) throw new InputError('deid.not-dicom', 'expected a Buffer of DICOM bytes');
  if (buf.length < 12) throw new InputError('deid.not-dicom', `only ${buf.length} bytes: too short to be DICOM`);
  let hadPreamble = false;
  let o = 0;
  if (buf.length >= 132 && buf.toString('latin1', 128, 132) === 'DICM') {
    hadPreamble = true;
    o = 132;
  }
  const meta: Element[] = [];
  const le = new Reader(buf, true, true);
  if (o + 8 > buf.length) throw new InputError('deid.truncated', `the file ends right after the DICM preamble (${buf.length} bytes): no data set`);
  if (buf.readUInt16LE(o) === 0x0002) {
    // Meta information: always explicit VR little endian; read group 0002 elements only.
    while (o + 8 <= buf.length && buf.readUInt16LE(o) === 0x0002) {
      const one: Element[] = [];
      const next = oneElement(le, o, one);
      meta.push(...one);
      o = next;
    }
  } else if (!hadPreamble) {
    const g = buf.readUInt16LE(0);
    if (g !== 0x0008 && g !== 0x0010) {
      throw new InputError('deid.not-dicom', 'no DICM preamble and the data does not start with a group 0002, 0008 or 0010 element: not a DICOM file');
    }
  }
  let tsUid: string;
  const tsEl = meta.find((e) => e.tag === 0x00020010);
  if (tsEl?.value) tsUid = tsEl.value.toString('latin1').replace(/[\0 ]+$/, '');
  else if (meta.length > 0 || hadPreamble) {
    throw new InputError('deid.no-transfer-syntax', 'the File Meta Information has no TransferSyntaxUID (0002,0010): cannot know how the dataset is encoded');
  } else {
    // Bare dataset (no meta): sniff explicit vs implicit VR little endian.
    const vr = buf.toString('latin1', 4, 6);
    tsUid = VALID_VRS.has(vr) ? TS.explicitLE : TS.implicitLE;
  }
  let body = buf.subarray(o);
  let explicit = true;
  let littleEndian = true;
  if (tsUid === TS.implicitLE) explicit = false;
  else if (tsUid === TS.explicitBE) littleEndian = false;
  else if (tsUid === TS.deflatedLE || tsUid === '1.2.840.10008.1.2.8.1') {
    try {
      body = inflateRawSync(body);
    } catch (e) {
      throw new InputError('deid.bad-deflate', `the dataset is declared deflated (${tsUid}) but does not inflate: ${(e as Error).message}`);
    }
  }
  const dataset: Element[] = [];
  new Reader(body, explicit, littleEndian).dataset(0, body.length, dataset, 0);
  return { meta, dataset, transferSyntaxUid: tsUid, datasetSyntax: { explicit, littleEndian }, hadPreamble };
}

function oneElement(r: Reader, o: number, out: Element[]): number {
  const tag = r.tag(o);
  r.need(o, 8, `meta element ${tagStr(tag)}`);
  const vr = r.buf.toString('latin1', o + 4, o + 6);
  if (!VALID_VRS.has(vr)) throw new InputError('deid.bad-meta', `File Meta element ${tagStr(tag)} at byte ${o} has an invalid VR: the meta header is corrupt`);
  let len: number;
  let p: number;
  if (LONG_VRS.has(vr)) {
    r.need(o, 12, `meta element ${tagStr(tag)}`);
    len = r.u32(o + 8);
    p = o + 12;
  } else {
    len = r.u16(o + 6);
    p = o + 8;
  }
  if (len === UNDEFINED) throw new InputError('deid.bad-meta', `File Meta element ${tagStr(tag)} has undefined length`);
  r.need(p, len, `the value of meta element ${tagStr(tag)}`);
  out.push({ tag, vr, value: r.buf.subarray(p, p + len) });
  return p + len;
}

/** Encodes a string value with the DICOM padding rule for its VR (UI: NUL, others: space). */
export function encodeString(vr: string, s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length % 2 === 0) return b;
  return Buffer.concat([b, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
}

export const decodeAscii = (b: Buffer | undefined): string => (b ? b.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '') : '');

class Writer {
  chunks: Buffer[] = [];
  size = 0;
  constructor(
    readonly explicit: boolean,
    readonly le: boolean,
  ) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
  }
  header(tag: number, vr: string, len: number): void {
    const h = Buffer.alloc(this.explicit ? (LONG_VRS.has(vr) ? 12 : 8) : 8);
    const w16 = (v: number, o: number): number => (this.le ? h.writeUInt16LE(v, o) : h.writeUInt16BE(v, o));
    const w32 = (v: number, o: number): number => (this.le ? h.writeUInt32LE(v >>> 0, o) : h.writeUInt32BE(v >>> 0, o));
    w16(tag >>> 16, 0);
    w16(tag & 0xffff, 2);
    if (!this.explicit) w32(len, 4);
    else {
      h.write(vr, 4, 'latin1');
      if (LONG_VRS.has(vr)) w32(len, 8);
      else {
        if (len > 0xffff) throw new Error(`deid: value of ${tagStr(tag)} (${vr}) is ${len} bytes, too long for a 16-bit length`);
        w16(len, 6);
      }
    }
    this.push(h);
  }
  itemTag(tag: number, len: number): void {
    const h = Buffer.alloc(8);
    if (this.le) {
      h.writeUInt16LE(tag >>> 16, 0);
      h.writeUInt16LE(tag & 0xffff, 2);
      h.writeUInt32LE(len >>> 0, 4);
    } else {
      h.writeUInt16BE(tag >>> 16, 0);
      h.writeUInt16BE(tag & 0xffff, 2);
      h.writeUInt32BE(len >>> 0, 4);
    }
    this.push(h);
  }
  elements(els: Element[]): void {
    for (const e of els) {
      if (e.items) {
        this.header(e.tag, 'SQ', UNDEFINED);
        for (const item of e.items) {
          this.itemTag(ITEM, UNDEFINED);
          this.elements(item);
          this.itemTag(ITEM_END, 0);
        }
        this.itemTag(SEQ_END, 0);
      } else if (e.encapsulated) {
        this.header(e.tag, e.vr, UNDEFINED);
        this.push(e.encapsulated);
      } else {
        let v = e.value ?? Buffer.alloc(0);
        if (v.length % 2 === 1) v = Buffer.concat([v, Buffer.from([e.vr === 'UI' || e.vr === 'OB' || e.vr === 'UN' ? 0 : 0x20])]);
        this.header(e.tag, e.vr, v.length);
        this.push(v);
      }
    }
  }
}

/** Writes a Part-10 file: preamble, meta (explicit LE, group length recomputed), dataset in the given syntax. */
export function writePart10(meta: Element[], dataset: Element[], syntax: { explicit: boolean; littleEndian: boolean }): Buffer {
  const mw = new Writer(true, true);
  mw.elements(meta.filter((e) => e.tag !== 0x00020000).sort((a, b) => a.tag - b.tag));
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(mw.size, 0);
  const head = new Writer(true, true);
  head.push(Buffer.alloc(128));
  head.push(Buffer.from('DICM', 'latin1'));
  head.header(0x00020000, 'UL', 4);
  head.push(gl);
  const dw = new Writer(syntax.explicit, syntax.littleEndian);
  dw.elements(dataset);
  return Buffer.concat([...head.chunks, ...mw.chunks, ...dw.chunks]);
}
