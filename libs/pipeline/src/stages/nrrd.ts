import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputError } from '@app/core';
import type { Volume } from '@app/dicom';

/**
 * CT volumes are stored as NRRD (raw little-endian, LPS space), a format 3D Slicer, ITK, SimpleITK
 * and pynrrd read directly: the header carries sizes, `space directions` (the affine's columns) and
 * `space origin`, so the patient-space geometry survives the round trip exactly.
 */
export function encodeNrrd(v: Pick<Volume, 'dims' | 'affine' | 'data'>, comments: Record<string, string> = {}): Buffer {
  return Buffer.concat(nrrdParts(v, comments));
}

/** The NRRD as [header, body]; the body is a view on the volume's memory (no copy): stream both for large volumes. */
export function nrrdParts(v: Pick<Volume, 'dims' | 'affine' | 'data'>, comments: Record<string, string> = {}): [Buffer, Buffer] {
  const a = v.affine;
  const col = (c: number) => `(${a[c]},${a[4 + c]},${a[8 + c]})`;
  const type = v.data instanceof Int16Array ? 'int16' : 'float';
  const head = [
    'NRRD0004',
    ...Object.entries(comments).map(([k, val]) => `# ${k}: ${val.replace(/\n/g, ' ')}`),
    `type: ${type}`,
    'dimension: 3',
    'space: left-posterior-superior',
    `sizes: ${v.dims.join(' ')}`,
    `space directions: ${col(0)} ${col(1)} ${col(2)}`,
    'kinds: domain domain domain',
    'endian: little',
    'encoding: raw',
    `space origin: (${a[3]},${a[7]},${a[11]})`,
    '',
    '',
  ].join('\n');
  const body = Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength);
  return [Buffer.from(head, 'latin1'), body];
}

interface NrrdHeader {
  dims: [number, number, number];
  affine: number[];
  spacing: [number, number, number];
  type: 'int16' | 'float';
  /** Bytes before the voxels. */
  headerBytes: number;
}

/** The header of an NRRD this module wrote (raw little-endian int16 / float, 3 dims), or InputError volume.bad-nrrd. */
function parseNrrdHeader(head: Buffer): NrrdHeader {
  const end = head.indexOf('\n\n');
  if (!head.subarray(0, 4).equals(Buffer.from('NRRD')) || end < 0) throw new InputError('volume.bad-nrrd', 'not an NRRD volume');
  const fields = new Map<string, string>();
  for (const line of head.toString('latin1', 0, end).split('\n').slice(1)) {
    if (line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const type = fields.get('type');
  if (type !== 'int16' && type !== 'float') throw new InputError('volume.bad-nrrd', `NRRD type ${type ?? 'missing'}: int16 or float expected`);
  if ((fields.get('encoding') ?? 'raw') !== 'raw' || (fields.get('endian') ?? 'little') !== 'little') throw new InputError('volume.bad-nrrd', 'NRRD must be raw little-endian');
  const dims = (fields.get('sizes') ?? '').split(/\s+/).map(Number) as [number, number, number];
  const dirs = [...(fields.get('space directions') ?? '').matchAll(/\(([^)]+)\)/g)].map((m) => m[1]!.split(',').map(Number));
  const origin = (fields.get('space origin') ?? '').replace(/[()]/g, '').split(',').map(Number);
  if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0) || dirs.length !== 3 || origin.length !== 3) throw new InputError('volume.bad-nrrd', 'NRRD without 3 sizes, space directions and origin');
  const affine = [dirs[0]![0]!, dirs[1]![0]!, dirs[2]![0]!, origin[0]!, dirs[0]![1]!, dirs[1]![1]!, dirs[2]![1]!, origin[1]!, dirs[0]![2]!, dirs[1]![2]!, dirs[2]![2]!, origin[2]!, 0, 0, 0, 1];
  const spacing = dirs.map((d) => Math.hypot(d[0]!, d[1]!, d[2]!)) as [number, number, number];
  return { dims, affine, spacing, type, headerBytes: end + 2 };
}

export function decodeNrrd(buf: Buffer): Pick<Volume, 'dims' | 'affine' | 'data' | 'spacing'> {
  const { dims, affine, spacing, type, headerBytes } = parseNrrdHeader(buf);
  const raw = buf.subarray(headerBytes);
  const n = dims[0] * dims[1] * dims[2];
  if (raw.length < n * (type === 'int16' ? 2 : 4)) throw new InputError('volume.bad-nrrd', `NRRD body has ${raw.length} bytes, ${n} ${type} voxels need more`);
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  const data = type === 'int16' ? new Int16Array(copy.buffer, 0, n) : new Float32Array(copy.buffer, 0, n);
  return { dims, affine, data, spacing };
}

/** A stored volume file read slice by slice (positional reads): geometry now, HU slice k when asked. Close it. */
export interface NrrdSlices extends Pick<Volume, 'dims' | 'affine' | 'spacing'> {
  /** HU of slice k (a fresh array, X * Y values). */
  slice(k: number): Int16Array | Float32Array;
  close(): void;
}

/**
 * Opens an NRRD file this module wrote for reading one slice at a time (synchronous positional reads of one slice,
 * about 0.5 MB for 512²: the caller's loop stays simple and the volume is never in memory whole).
 */
export function openNrrdSlices(path: string): NrrdSlices {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(65536, size));
    readSync(fd, head, 0, head.length, 0);
    const h = parseNrrdHeader(head);
    const [X, Y, Z] = h.dims;
    const bytes = h.type === 'int16' ? 2 : 4;
    const sliceBytes = X * Y * bytes;
    if (size < h.headerBytes + sliceBytes * Z) throw new InputError('volume.bad-nrrd', `NRRD file has ${size} bytes; ${Z} slices of ${sliceBytes} after a ${h.headerBytes}-byte header need ${h.headerBytes + sliceBytes * Z}`);
    let open = true;
    return {
      dims: h.dims,
      affine: h.affine,
      spacing: h.spacing,
      slice(k: number) {
        if (!open) throw new Error('NRRD slices: the file is closed');
        if (!Number.isInteger(k) || k < 0 || k >= Z) throw new RangeError(`slice ${k} outside 0..${Z - 1}`);
        const buf = new ArrayBuffer(sliceBytes);
        const got = readSync(fd, new Uint8Array(buf), 0, sliceBytes, h.headerBytes + k * sliceBytes);
        if (got !== sliceBytes) throw new InputError('volume.bad-nrrd', `NRRD slice ${k}: read ${got} of ${sliceBytes} bytes`);
        return h.type === 'int16' ? new Int16Array(buf) : new Float32Array(buf);
      },
      close() {
        if (open) closeSync(fd);
        open = false;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
