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

export function decodeNrrd(buf: Buffer): Pick<Volume, 'dims' | 'affine' | 'data' | 'spacing'> {
  const end = buf.indexOf('\n\n');
  if (!buf.subarray(0, 4).equals(Buffer.from('NRRD')) || end < 0) throw new InputError('volume.bad-nrrd', 'not an NRRD volume');
  const fields = new Map<string, string>();
  for (const line of buf.toString('latin1', 0, end).split('\n').slice(1)) {
    if (line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const dims = fields.get('sizes')!.split(/\s+/).map(Number) as [number, number, number];
  const dirs = [...fields.get('space directions')!.matchAll(/\(([^)]+)\)/g)].map((m) => m[1]!.split(',').map(Number));
  const origin = fields.get('space origin')!.replace(/[()]/g, '').split(',').map(Number);
  const affine = [dirs[0]![0]!, dirs[1]![0]!, dirs[2]![0]!, origin[0]!, dirs[0]![1]!, dirs[1]![1]!, dirs[2]![1]!, origin[1]!, dirs[0]![2]!, dirs[1]![2]!, dirs[2]![2]!, origin[2]!, 0, 0, 0, 1];
  const raw = buf.subarray(end + 2);
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  const n = dims[0] * dims[1] * dims[2];
  const data = fields.get('type') === 'int16' ? new Int16Array(copy.buffer, 0, n) : new Float32Array(copy.buffer, 0, n);
  const spacing = dirs.map((d) => Math.hypot(d[0]!, d[1]!, d[2]!)) as [number, number, number];
  return { dims, affine, data, spacing };
}
