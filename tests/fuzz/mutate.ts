/**
 * A small deterministic mutation fuzzer for slide (TIFF family, DICOM WSI) and DICOM inputs.
 * Input i of a run with base seed S is mutation(i) of seed file (i mod #seeds) with PRNG mulberry32(S, i):
 * the same (S, i) always gives the same bytes, so any failure is reproducible from its index.
 *
 * Mutators: bit flips, byte replacements by "interesting" values, truncation, garbling a run of bytes,
 * and structure-aware overwrites: TIFF IFD entries (count and value/offset fields, elements of
 * out-of-line arrays such as StripOffsets/StripByteCounts/TileByteCounts, dimensions, compression...)
 * and DICOM element headers (length fields, Rows/Columns/Bits/Frames values, item lengths).
 */
import { mulberry32 } from '../../libs/core/src/random';

export type Rng = () => number;
export const rngFor = (seed: number, i: number): Rng => mulberry32((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
const int = (r: Rng, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];

export interface Seed {
  name: string;
  kind: 'slide' | 'dicom';
  /** File extension used when the input is written to disk. */
  ext: string;
  bytes: Buffer;
  /** Byte positions of structural fields worth overwriting (computed once per seed). */
  fields: Field[];
  littleEndian: boolean;
}

/** A field in the seed: `at` its position, `size` 2/4/8 bytes. */
export interface Field {
  at: number;
  size: 2 | 4 | 8;
  what: string;
}

const INTERESTING_32 = [0, 1, 2, 3, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** TIFF / BigTIFF: every IFD entry's count and value field, plus the elements of out-of-line offset/count arrays. */
export function tiffFields(b: Buffer): { fields: Field[]; le: boolean } {
  const fields: Field[] = [];
  if (b.length < 8) return { fields, le: true };
  const le = b.toString('latin1', 0, 2) === 'II';
  const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  const big = u16(2) === 43;
  const sizes: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };
  const seen = new Set<number>();
  const queue: number[] = [big ? u64(8) : u32(4)];
  fields.push({ at: big ? 8 : 4, size: big ? 8 : 4, what: 'first IFD offset' });
  while (queue.length && seen.size < 64) {
    const off = queue.shift()!;
    if (!off || seen.has(off) || off + (big ? 8 : 2) > b.length) continue;
    seen.add(off);
    const n = big ? u64(off) : u16(off);
    const es = big ? 20 : 12;
    const start = off + (big ? 8 : 2);
    if (n > 4096 || start + n * es + (big ? 8 : 4) > b.length) continue;
    for (let i = 0; i < n; i++) {
      const p = start + i * es;
      const tag = u16(p);
      const type = u16(p + 2);
      const count = big ? u64(p + 4) : u32(p + 4);
      fields.push({ at: p + 2, size: 2, what: `tag ${tag} type` });
      fields.push({ at: p + 4, size: big ? 8 : 4, what: `tag ${tag} count` });
      fields.push({ at: p + (big ? 12 : 8), size: big ? 8 : 4, what: `tag ${tag} value` });
      if (type === 3) fields.push({ at: p + (big ? 12 : 8), size: 2, what: `tag ${tag} short value` });
      const ts = sizes[type] ?? 0;
      const inline = ts * count <= (big ? 8 : 4);
      if (!inline && (type === 3 || type === 4 || type === 16) && count < 100_000) {
        const vo = big ? u64(p + 12) : u32(p + 8);
        // elements of out-of-line arrays (strip/tile offsets and byte counts, bits per sample, SubIFDs)
        for (let k = 0; k < Math.min(count, 64); k++)
          if (vo + (k + 1) * ts <= b.length) fields.push({ at: vo + k * ts, size: ts as 2 | 4 | 8, what: `tag ${tag}[${k}]` });
        if (tag === 330) for (let k = 0; k < Math.min(count, 16); k++) if (vo + (k + 1) * ts <= b.length) queue.push(ts === 8 ? u64(vo + k * 8) : u32(vo + k * 4));
      }
      if (tag === 330 && inline) queue.push(big ? u64(p + 12) : u32(p + 8));
    }
    const np = start + n * es;
    fields.push({ at: np, size: big ? 8 : 4, what: 'next IFD offset' });
    queue.push(big ? u64(np) : u32(np));
  }
  return { fields, le };
}

/** DICOM (little endian): value-length fields of every element header found, and the values of pixel module attributes. */
export function dicomFields(b: Buffer): { fields: Field[]; le: boolean } {
  const fields: Field[] = [];
  const pixelTags: Record<string, string> = {
    '0028,0010': 'Rows', '0028,0011': 'Columns', '0028,0100': 'BitsAllocated', '0028,0101': 'BitsStored', '0028,0102': 'HighBit',
    '0028,0002': 'SamplesPerPixel', '0028,0006': 'PlanarConfiguration', '0028,0103': 'PixelRepresentation',
  };
  const longVr = new Set(['OB', 'OW', 'OF', 'SQ', 'UT', 'UN', 'OD', 'OL', 'OV', 'UC', 'UR']);
  for (let p = 132; p + 8 <= b.length; p += 2) {
    const g = b.readUInt16LE(p);
    const e = b.readUInt16LE(p + 2);
    const key = `${g.toString(16).padStart(4, '0')},${e.toString(16).padStart(4, '0')}`;
    if (g === 0xfffe && (e === 0xe000 || e === 0xe0dd || e === 0xe00d)) {
      fields.push({ at: p + 4, size: 4, what: `item ${key} length` });
      continue;
    }
    if (g !== 0x0028 && g !== 0x7fe0 && g !== 0x0002 && g !== 0x0008 && g !== 0x0020) continue;
    const vr = b.toString('latin1', p + 4, p + 6);
    if (/^[A-Z]{2}$/.test(vr)) {
      if (longVr.has(vr)) fields.push({ at: p + 8, size: 4, what: `${key} length` });
      else {
        fields.push({ at: p + 6, size: 2, what: `${key} length` });
        if (pixelTags[key] && vr === 'US') fields.push({ at: p + 8, size: 2, what: pixelTags[key] });
        if (key === '0028,0008') fields.push({ at: p + 8, size: 4, what: 'NumberOfFrames text' });
      }
    } else if (pixelTags[key] || key === '7fe0,0010') {
      fields.push({ at: p + 4, size: 4, what: `${key} length (implicit)` });
      if (pixelTags[key]) fields.push({ at: p + 8, size: 2, what: pixelTags[key] });
    }
  }
  return { fields, le: true };
}

export function makeSeed(name: string, kind: 'slide' | 'dicom', bytes: Buffer, ext: string): Seed {
  const isDicom = bytes.length >= 132 && bytes.toString('latin1', 128, 132) === 'DICM';
  const { fields, le } = isDicom ? dicomFields(bytes) : tiffFields(bytes);
  return { name, kind, ext, bytes, fields, littleEndian: le };
}

function writeField(b: Buffer, f: Field, v: number, le: boolean): void {
  if (f.at + f.size > b.length) return;
  if (f.size === 2) le ? b.writeUInt16LE(v & 0xffff, f.at) : b.writeUInt16BE(v & 0xffff, f.at);
  else if (f.size === 4) le ? b.writeUInt32LE(v >>> 0, f.at) : b.writeUInt32BE(v >>> 0, f.at);
  else le ? b.writeBigUInt64LE(BigInt(Math.max(0, Math.floor(v))), f.at) : b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(v))), f.at);
}

function readField(b: Buffer, f: Field, le: boolean): number {
  if (f.size === 2) return le ? b.readUInt16LE(f.at) : b.readUInt16BE(f.at);
  if (f.size === 4) return le ? b.readUInt32LE(f.at) : b.readUInt32BE(f.at);
  return Number(le ? b.readBigUInt64LE(f.at) : b.readBigUInt64BE(f.at));
}

/** One mutated input and a short description of what was done (for reports). */
export function mutate(seed: Seed, r: Rng): { bytes: Buffer; ops: string[] } {
  let b = Buffer.from(seed.bytes);
  const ops: string[] = [];
  const n = 1 + int(r, 3);
  for (let k = 0; k < n; k++) {
    const choice = r();
    if (choice < 0.45 && seed.fields.length) {
      // structural overwrite: the most productive mutation for parsers
      const f = pick(r, seed.fields);
      if (f.at + f.size > b.length) continue;
      const old = readField(b, f, seed.littleEndian);
      const vals = [...INTERESTING_32, b.length, b.length - 1, b.length + 1, old + 1, old - 1, old * 2, old * 256, Math.floor(old / 2), int(r, 2 ** 32), int(r, b.length)];
      const v = pick(r, vals);
      writeField(b, f, v, seed.littleEndian);
      ops.push(`${f.what}@${f.at}=${v}`);
    } else if (choice < 0.6) {
      const bits = 1 + int(r, 8);
      for (let j = 0; j < bits; j++) {
        const p = int(r, b.length);
        b[p] ^= 1 << int(r, 8);
      }
      ops.push(`flip ${bits} bits`);
    } else if (choice < 0.75) {
      const m = 1 + int(r, 16);
      for (let j = 0; j < m; j++) b[int(r, b.length)] = pick(r, [0, 0xff, 0x7f, 0x80, 0x01, int(r, 256)]);
      ops.push(`replace ${m} bytes`);
    } else if (choice < 0.9) {
      // garble a run (hits compressed tile/strip data: LZW codes, JPEG entropy data, J2K packets)
      const len = 1 + int(r, 256);
      const p = int(r, Math.max(1, b.length - len));
      for (let j = 0; j < len && p + j < b.length; j++) b[p + j] = int(r, 256);
      ops.push(`garble ${len}@${p}`);
    } else {
      const at = int(r, b.length);
      b = b.subarray(0, at);
      ops.push(`truncate ${at}`);
      break;
    }
  }
  return { bytes: b, ops };
}
