/**
 * A small TIFF / BigTIFF IFD reader with range reads (never loads the whole file).
 * geotiff 3 does not walk SubIFDs (tag 330) and hides the on-disk layout that blinding needs,
 * so directory parsing lives here; pixel decompression uses geotiff's decoders (see decode.ts).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { InputError } from '@app/core';

export const TAG = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  DocumentName: 269,
  ImageDescription: 270,
  Make: 271,
  Model: 272,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  XResolution: 282,
  YResolution: 283,
  PlanarConfiguration: 284,
  ResolutionUnit: 296,
  Software: 305,
  DateTime: 306,
  Artist: 315,
  HostComputer: 316,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SubIFDs: 330,
  ExtraSamples: 338,
  SampleFormat: 339,
  JPEGTables: 347,
  YCbCrCoefficients: 529,
  YCbCrSubSampling: 530,
  ReferenceBlackWhite: 532,
  ImageDepth: 32997,
  Copyright: 33432,
  ImageUniqueID: 42016,
  CameraOwnerName: 42032,
  BodySerialNumber: 42033,
  LensSerialNumber: 42037,
} as const;

/** Byte size of each TIFF field type. */
export const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

export interface IfdEntry {
  tag: number;
  type: number;
  count: number;
  /** File offset of the value bytes (inline values: inside the entry itself). */
  valueOffset: number;
  /** Byte length of the value. */
  byteLength: number;
  /** File offset of the 12-byte (20-byte BigTIFF) directory entry itself. */
  entryOffset: number;
  /** Numeric values (for numeric types; rationals as floats). */
  values: number[];
  /** Raw bytes (for ASCII / UNDEFINED / BYTE). */
  bytes?: Uint8Array;
}

export interface Ifd {
  /** File offset of the directory. */
  offset: number;
  /** File offset of the "next IFD" pointer field. */
  nextPointerOffset: number;
  next: number;
  entries: Map<number, IfdEntry>;
  /** SubIFDs parsed from tag 330 (OME-TIFF pyramids). */
  subIfds: Ifd[];
}

/** Upper bound for the number of values one entry may carry before we refuse the file. */
const MAX_ENTRY_VALUES = 50_000_000;
const MAX_IFDS = 10_000;
/** SubIFDs followed per IFD (OME pyramids have a handful of levels). */
const MAX_SUB_IFDS = 64;

export class TiffFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly size: number,
    readonly littleEndian: boolean,
    readonly bigTiff: boolean,
    readonly firstIfdOffset: number,
    readonly firstPointerOffset: number,
  ) {}

  ifds: Ifd[] = [];
  /** Out-of-line tag value bytes read so far (bounded, see parseIfd). */
  private valueBytes = 0;

  /** Opens and parses the main IFD chain (and SubIFDs). Throws InputError for non-TIFF / broken directories. */
  static async open(path: string): Promise<TiffFile> {
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      if (size < 8) throw new InputError('wsi.not-tiff', `not a TIFF file: ${size} bytes is shorter than a TIFF header (8 bytes)`, { size });
      const head = Buffer.alloc(16);
      await fh.read(head, 0, Math.min(16, size), 0);
      const bo = head.toString('latin1', 0, 2);
      if (bo !== 'II' && bo !== 'MM')
        throw new InputError('wsi.not-tiff', `not a TIFF file: byte-order mark is ${JSON.stringify(bo)}, expected "II" or "MM"`);
      const le = bo === 'II';
      const magic = le ? head.readUInt16LE(2) : head.readUInt16BE(2);
      let big = false;
      let first: number;
      let firstPtr: number;
      if (magic === 42) {
        first = le ? head.readUInt32LE(4) : head.readUInt32BE(4);
        firstPtr = 4;
      } else if (magic === 43) {
        if (size < 16) throw new InputError('wsi.truncated', `BigTIFF header truncated: file has ${size} bytes, header needs 16`);
        big = true;
        first = Number(le ? head.readBigUInt64LE(8) : head.readBigUInt64BE(8));
        firstPtr = 8;
      } else {
        throw new InputError('wsi.not-tiff', `not a TIFF file: magic number ${magic}, expected 42 (TIFF) or 43 (BigTIFF)`);
      }
      const t = new TiffFile(path, fh, size, le, big, first, firstPtr);
      await t.parseChain();
      return t;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** Reads `length` bytes at `offset`; refuses ranges beyond the end of the file. */
  async readBytes(offset: number, length: number, what = 'data'): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size)
      throw new InputError(
        'wsi.offset-out-of-range',
        `${what} at offset ${offset} with ${length} bytes lies beyond the end of the file (${this.size} bytes): the file is truncated or corrupt`,
        { offset, length, fileSize: this.size },
      );
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new InputError('wsi.truncated', `unexpected end of file reading ${what} at ${offset + done}`);
      done += bytesRead;
    }
    return buf;
  }

  private async parseChain(): Promise<void> {
    const seen = new Set<number>();
    let off = this.firstIfdOffset;
    let ptr = this.firstPointerOffset;
    if (off === 0) throw new InputError('wsi.no-images', 'TIFF file has no image directory (first IFD offset is 0)');
    while (off !== 0) {
      if (seen.has(off)) throw new InputError('wsi.ifd-loop', `TIFF IFD chain loops back to offset ${off}`);
      if (seen.size >= MAX_IFDS) throw new InputError('wsi.too-many-ifds', `TIFF file has more than ${MAX_IFDS} IFDs`);
      seen.add(off);
      const ifd = await this.parseIfd(off, ptr, 0);
      this.ifds.push(ifd);
      ptr = ifd.nextPointerOffset;
      off = ifd.next;
    }
  }

  async parseIfd(offset: number, pointerFrom: number, depth: number): Promise<Ifd> {
    const le = this.littleEndian;
    const cntSize = this.bigTiff ? 8 : 2;
    const entSize = this.bigTiff ? 20 : 12;
    const ptrSize = this.bigTiff ? 8 : 4;
    if (offset + cntSize > this.size)
      throw new InputError('wsi.truncated', `TIFF IFD at offset ${offset} (pointed to from byte ${pointerFrom}) lies beyond the end of the file (${this.size} bytes): the file is truncated`, { offset, fileSize: this.size });
    const cb = await this.readBytes(offset, cntSize, 'IFD entry count');
    const n = this.bigTiff ? Number(le ? cb.readBigUInt64LE(0) : cb.readBigUInt64BE(0)) : le ? cb.readUInt16LE(0) : cb.readUInt16BE(0);
    if (n === 0 || n > 4096) throw new InputError('wsi.bad-ifd', `TIFF IFD at offset ${offset} has ${n} entries (expected 1..4096): corrupt directory`);
    const body = await this.readBytes(offset + cntSize, n * entSize + ptrSize, `IFD at ${offset}`);
    const entries = new Map<number, IfdEntry>();
    for (let i = 0; i < n; i++) {
      const p = i * entSize;
      const tag = le ? body.readUInt16LE(p) : body.readUInt16BE(p);
      const type = le ? body.readUInt16LE(p + 2) : body.readUInt16BE(p + 2);
      const count = this.bigTiff ? Number(le ? body.readBigUInt64LE(p + 4) : body.readBigUInt64BE(p + 4)) : le ? body.readUInt32LE(p + 4) : body.readUInt32BE(p + 4);
      const ts = TYPE_SIZE[type];
      if (!ts) continue; // unknown field type: ignore as libtiff does
      if (count > MAX_ENTRY_VALUES)
        throw new InputError('wsi.bad-ifd', `TIFF tag ${tag} in IFD at ${offset} claims ${count} values: absurd, file is corrupt`);
      const byteLength = ts * count;
      const inlineMax = this.bigTiff ? 8 : 4;
      const valueFieldPos = offset + cntSize + p + (this.bigTiff ? 12 : 8);
      let valueOffset: number;
      let raw: Buffer;
      if (byteLength <= inlineMax) {
        valueOffset = valueFieldPos;
        raw = body.subarray(p + (this.bigTiff ? 12 : 8), p + (this.bigTiff ? 12 : 8) + byteLength);
      } else {
        valueOffset = this.bigTiff ? Number(le ? body.readBigUInt64LE(p + 12) : body.readBigUInt64BE(p + 12)) : le ? body.readUInt32LE(p + 8) : body.readUInt32BE(p + 8);
        // out-of-line values: the directories of a file cannot reference many times its own size
        this.valueBytes += byteLength;
        if (this.valueBytes > Math.max(4 * this.size, 64 * 1024 * 1024))
          throw new InputError('wsi.bad-ifd', `TIFF directories reference ${this.valueBytes} bytes of tag values in a file of ${this.size} bytes: corrupt or hostile directories`, { fileSize: this.size });
        raw = await this.readBytes(valueOffset, byteLength, `value of TIFF tag ${tag}`);
      }
      const entry: IfdEntry = { tag, type, count, valueOffset, byteLength, entryOffset: offset + cntSize + p, values: [] };
      if (type === 1 || type === 2 || type === 6 || type === 7) entry.bytes = new Uint8Array(raw);
      if (type !== 2 && type !== 7) entry.values = decodeValues(raw, type, count, le);
      entries.set(tag, entry);
    }
    const nextPointerOffset = offset + cntSize + n * entSize;
    const np = n * entSize;
    const next = this.bigTiff ? Number(le ? body.readBigUInt64LE(np) : body.readBigUInt64BE(np)) : le ? body.readUInt32LE(np) : body.readUInt32BE(np);
    const ifd: Ifd = { offset, nextPointerOffset, next, entries, subIfds: [] };
    const sub = entries.get(TAG.SubIFDs);
    if (sub && depth < 2) {
      if (sub.values.length > MAX_SUB_IFDS)
        throw new InputError('wsi.bad-ifd', `TIFF IFD at ${offset} lists ${sub.values.length} SubIFDs (at most ${MAX_SUB_IFDS} supported): corrupt directory`);
      for (const so of new Set(sub.values)) {
        if (so === offset) throw new InputError('wsi.ifd-loop', `TIFF SubIFD of the IFD at ${offset} points back to it`);
        // SubIFDs of OME-TIFF pyramids are single IFDs (their own next pointers are ignored, as in libtiff's use by OME readers)
        ifd.subIfds.push(await this.parseIfd(so, sub.valueOffset, depth + 1));
      }
    }
    return ifd;
  }
}

function decodeValues(raw: Buffer, type: number, count: number, le: boolean): number[] {
  const out: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    switch (type) {
      case 1: case 7: out[i] = raw[i]; break;
      case 6: out[i] = raw.readInt8(i); break;
      case 3: out[i] = le ? raw.readUInt16LE(i * 2) : raw.readUInt16BE(i * 2); break;
      case 8: out[i] = le ? raw.readInt16LE(i * 2) : raw.readInt16BE(i * 2); break;
      case 4: case 13: out[i] = le ? raw.readUInt32LE(i * 4) : raw.readUInt32BE(i * 4); break;
      case 9: out[i] = le ? raw.readInt32LE(i * 4) : raw.readInt32BE(i * 4); break;
      case 5: { const a = le ? raw.readUInt32LE(i * 8) : raw.readUInt32BE(i * 8); const b = le ? raw.readUInt32LE(i * 8 + 4) : raw.readUInt32BE(i * 8 + 4); out[i] = b === 0 ? 0 : a / b; break; }
      case 10: { const a = le ? raw.readInt32LE(i * 8) : raw.readInt32BE(i * 8); const b = le ? raw.readInt32LE(i * 8 + 4) : raw.readInt32BE(i * 8 + 4); out[i] = b === 0 ? 0 : a / b; break; }
      case 11: out[i] = le ? raw.readFloatLE(i * 4) : raw.readFloatBE(i * 4); break;
      case 12: out[i] = le ? raw.readDoubleLE(i * 8) : raw.readDoubleBE(i * 8); break;
      case 16: case 18: out[i] = Number(le ? raw.readBigUInt64LE(i * 8) : raw.readBigUInt64BE(i * 8)); break;
      case 17: out[i] = Number(le ? raw.readBigInt64LE(i * 8) : raw.readBigInt64BE(i * 8)); break;
    }
  }
  return out;
}

/** Helpers to read tag values from an IFD. */
export const tagNum = (ifd: Ifd, tag: number, dflt?: number): number | undefined => {
  const e = ifd.entries.get(tag);
  return e && e.values.length ? e.values[0] : dflt;
};
export const tagNums = (ifd: Ifd, tag: number): number[] | undefined => ifd.entries.get(tag)?.values;
export const tagStr = (ifd: Ifd, tag: number): string | undefined => {
  const e = ifd.entries.get(tag);
  if (!e?.bytes) return undefined;
  let end = e.bytes.length;
  while (end > 0 && e.bytes[end - 1] === 0) end--;
  return Buffer.from(e.bytes.subarray(0, end)).toString('latin1');
};
