/**
 * Test helpers: a minimal Explicit VR Little Endian DICOM writer (PS3.5 7.1.2 / PS3.10 7.1) for
 * synthetic CT series, plus access to the fixtures and the pydicom reference reader.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { repoRoot } from '@app/core';

export const FIX = join(repoRoot(), 'tests', 'fixtures', 'dicom');
export const fixture = (rel: string): Buffer => readFileSync(join(FIX, rel));

const LONG_VR = new Set(['OB', 'OW', 'OF', 'OD', 'OL', 'SQ', 'UN', 'UT', 'UC', 'UR']);

type Value = string | string[] | number | number[] | Buffer;

/** One explicit-VR little-endian element. Strings are padded to even length (UI with NUL, others space). */
export function element(tag: number, vr: string, value: Value): Buffer {
  let data: Buffer;
  if (Buffer.isBuffer(value)) data = value;
  else if (vr === 'US') {
    const xs = (Array.isArray(value) ? value : [value]) as number[];
    data = Buffer.alloc(2 * xs.length);
    xs.forEach((x, k) => data.writeUInt16LE(x, 2 * k));
  } else if (vr === 'UL') {
    data = Buffer.alloc(4);
    data.writeUInt32LE(value as number, 0);
  } else {
    const s = Array.isArray(value) ? value.join('\\') : String(value);
    data = Buffer.from(s, 'latin1');
  }
  if (data.length % 2) data = Buffer.concat([data, Buffer.from([vr === 'UI' || vr === 'OB' ? 0 : 0x20])]);
  const group = tag >>> 16;
  const elem = tag & 0xffff;
  let head: Buffer;
  if (LONG_VR.has(vr)) {
    head = Buffer.alloc(12);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(elem, 2);
    head.write(vr, 4, 'latin1');
    head.writeUInt32LE(data.length, 8);
  } else {
    head = Buffer.alloc(8);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(elem, 2);
    head.write(vr, 4, 'latin1');
    head.writeUInt16LE(data.length, 6);
  }
  return Buffer.concat([head, data]);
}

/** A P10 file: preamble, DICM, meta group (with group length), then the given data-set elements. */
export function p10(sopClassUid: string, sopInstanceUid: string, dataset: Buffer[], transferSyntax = '1.2.840.10008.1.2.1'): Buffer {
  const metaBody = Buffer.concat([
    element(0x00020001, 'OB', Buffer.from([0, 1])),
    element(0x00020002, 'UI', sopClassUid),
    element(0x00020003, 'UI', sopInstanceUid),
    element(0x00020010, 'UI', transferSyntax),
    element(0x00020012, 'UI', '1.2.826.0.1.3680043.10.1'),
  ]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), element(0x00020000, 'UL', metaBody.length), metaBody, ...dataset]);
}

export interface SliceSpec {
  sopInstanceUid: string;
  seriesInstanceUid?: string;
  studyInstanceUid?: string;
  patientId?: string;
  instanceNumber: number;
  rows: number;
  columns: number;
  ipp: [number, number, number];
  iop?: [number, number, number, number, number, number];
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  /** Stored values (signed 16-bit). */
  pixels: Int16Array;
  imageType?: string[];
  extra?: Buffer[];
}

const num = (x: number): string => String(Math.round(x * 1e6) / 1e6);

/** A CT Image Storage slice, 16-bit signed, explicit VR little endian. Elements in ascending tag order. */
export function ctSlice(s: SliceSpec): Buffer {
  const iop = s.iop ?? [1, 0, 0, 0, 1, 0];
  const ps = s.pixelSpacing ?? [0.5, 0.5];
  const px = Buffer.from(s.pixels.buffer, s.pixels.byteOffset, s.pixels.byteLength);
  const ds = [
    element(0x00080008, 'CS', s.imageType ?? ['ORIGINAL', 'PRIMARY', 'AXIAL']),
    element(0x00080016, 'UI', '1.2.840.10008.5.1.4.1.1.2'),
    element(0x00080018, 'UI', s.sopInstanceUid),
    element(0x00080020, 'DA', '20240101'),
    element(0x00080060, 'CS', 'CT'),
    element(0x00100010, 'PN', 'Test^Synthetic'),
    element(0x00100020, 'LO', s.patientId ?? 'SYN-001'),
    ...(s.extra ?? []),
    element(0x00180050, 'DS', num(s.sliceThickness ?? 2.5)),
    element(0x0020000d, 'UI', s.studyInstanceUid ?? '1.2.826.0.1.3680043.10.1.1'),
    element(0x0020000e, 'UI', s.seriesInstanceUid ?? '1.2.826.0.1.3680043.10.1.1.1'),
    element(0x00200011, 'IS', '1'),
    element(0x00200013, 'IS', String(s.instanceNumber)),
    element(0x00200032, 'DS', s.ipp.map(num)),
    element(0x00200037, 'DS', iop.map(num)),
    element(0x00280002, 'US', 1),
    element(0x00280004, 'CS', 'MONOCHROME2'),
    element(0x00280010, 'US', s.rows),
    element(0x00280011, 'US', s.columns),
    element(0x00280030, 'DS', ps.map(num)),
    element(0x00280100, 'US', 16),
    element(0x00280101, 'US', 16),
    element(0x00280102, 'US', 15),
    element(0x00280103, 'US', 1),
    element(0x00281052, 'DS', num(s.rescaleIntercept ?? -1024)),
    element(0x00281053, 'DS', num(s.rescaleSlope ?? 1)),
    element(0x7fe00010, 'OW', px),
  ];
  return p10('1.2.840.10008.5.1.4.1.1.2', s.sopInstanceUid, ds);
}

/** A small deterministic pattern identifying slice k: value = 1000 + 100*k + (i + j) % 7. */
export function slicePixels(k: number, rows: number, columns: number): Int16Array {
  const a = new Int16Array(rows * columns);
  for (let j = 0; j < rows; j++) for (let i = 0; i < columns; i++) a[j * columns + i] = 1000 + 100 * k + ((i + 2 * j) % 7);
  return a;
}

/** An axial series of n slices at z = z0 + k*dz (k = 0..n-1). */
export function axialSeries(n: number, opts: { rows?: number; columns?: number; z0?: number; dz?: number; iop?: SliceSpec['iop'] } = {}): SliceSpec[] {
  const rows = opts.rows ?? 8;
  const columns = opts.columns ?? 6;
  return Array.from({ length: n }, (_, k) => ({
    sopInstanceUid: `1.2.826.0.1.3680043.10.1.2.${k + 1}`,
    instanceNumber: k + 1,
    rows,
    columns,
    ipp: [-10, -20, (opts.z0 ?? -50) + k * (opts.dz ?? 2.5)] as [number, number, number],
    iop: opts.iop,
    pixels: slicePixels(k, rows, columns),
  }));
}

/** Deterministic shuffle (mulberry32). */
export function shuffled<T>(xs: T[], seed: number): T[] {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export interface PyRef {
  file: string;
  header?: Record<string, unknown>;
  pixels?: { file: string; shape: number[] };
  /** With `hu`: pydicom's apply_modality_lut per frame (frames x rows x columns). */
  hu?: { file: string; shape: number[] };
  pixelError?: string;
  error?: string;
  /** With `gdcm`: what GDCM/libjpeg printed on stderr while decoding (captured, not printed). */
  stderr?: string;
}

/**
 * Runs pydicom (Debian python3-pydicom, /usr/bin/python3) on files (relative to the fixtures, or absolute);
 * fails loudly if absent. `gdcm`: decode with pydicom's GDCM handler (python3-gdcm) instead of
 * numpy/Pillow/RLE; `hu`: also return pydicom's modality LUT output.
 */
export function pydicomReference(
  relFiles: string[],
  opts: { gdcm?: boolean; hu?: boolean } = {},
): { refs: PyRef[]; read: (r: PyRef) => Float64Array; readHu: (r: PyRef) => Float64Array } {
  const out = mkdtempSync(join(tmpdir(), 'dicom-pyref-'));
  const flags = [...(opts.gdcm ? ['--gdcm'] : []), ...(opts.hu ? ['--hu'] : [])];
  execFileSync('/usr/bin/python3', [join(__dirname, 'pydicom_reference.py'), ...flags, out, ...relFiles.map((f) => (isAbsolute(f) ? f : join(FIX, f)))], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const refs = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as PyRef[];
  const arrays = new Map<string, Float64Array>();
  for (const r of refs) {
    for (const a of [r.pixels, r.hu]) {
      if (!a) continue;
      const b = readFileSync(a.file);
      arrays.set(a.file, new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
    }
  }
  rmSync(out, { recursive: true, force: true });
  const read = (r: PyRef): Float64Array => arrays.get(r.pixels!.file)!;
  const readHu = (r: PyRef): Float64Array => arrays.get(r.hu!.file)!;
  return { refs, read, readHu };
}
