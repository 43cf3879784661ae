/**
 * The stored volume format (NRRD, raw little-endian) read whole (decodeNrrd) and slice by slice from a file
 * (openNrrdSlices, what the CT AI read uses): the same geometry and voxels; damaged files are clear errors.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '@app/core';
import { decodeNrrd, encodeNrrd, openNrrdSlices } from '@app/pipeline';
import { tempDir } from '../support/services';

let dir: { path: string; remove: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.remove();
});

const affine = [0.7, 0, 0, -120.5, 0, 0.7, 0, -88.25, 0, 0, 2.5, 40, 0, 0, 0, 1];

test.each([
  ['int16', (n: number, r: () => number) => Int16Array.from({ length: n }, () => Math.round(-1000 + 2000 * r()))],
  ['float', (n: number, r: () => number) => Float32Array.from({ length: n }, () => -1000 + 2000 * r())],
])('%s: every slice read from the file equals the whole decode; geometry identical', (_t, make) => {
  const dims: [number, number, number] = [13, 11, 7];
  const data = make(13 * 11 * 7, mulberry32(5));
  const buf = encodeNrrd({ dims, affine, data }, { series: '1.2.3' });
  const path = join(dir.path, `v-${_t}.nrrd`);
  writeFileSync(path, buf);
  const whole = decodeNrrd(buf);
  const f = openNrrdSlices(path);
  try {
    expect({ dims: f.dims, affine: f.affine, spacing: f.spacing }).toEqual({ dims: whole.dims, affine: whole.affine, spacing: whole.spacing });
    expect(f.spacing).toEqual([0.7, 0.7, 2.5]);
    for (let k = 0; k < 7; k++) {
      const s = f.slice(k);
      expect(s.constructor).toBe(data.constructor);
      expect(Buffer.from(s.buffer, s.byteOffset, s.byteLength).equals(Buffer.from(data.buffer, k * 143 * data.BYTES_PER_ELEMENT, 143 * data.BYTES_PER_ELEMENT))).toBe(true);
    }
    expect(() => f.slice(7)).toThrow(RangeError);
  } finally {
    f.close();
  }
  expect(() => f.slice(0)).toThrow(/closed/);
});

test('a truncated or foreign file is a clear volume.bad-nrrd error', () => {
  const dims: [number, number, number] = [4, 4, 3];
  const path = join(dir.path, 'short.nrrd');
  const buf = encodeNrrd({ dims, affine, data: new Int16Array(48) });
  writeFileSync(path, buf);
  truncateSync(path, buf.length - 96 + 40); // the header and 40 of the 96 voxel bytes
  expect(() => openNrrdSlices(path)).toThrow(expect.objectContaining({ code: 'volume.bad-nrrd', message: expect.stringMatching(/3 slices of 32/) }));
  writeFileSync(join(dir.path, 'not.nrrd'), 'P5\n4 4\n255\n');
  expect(() => openNrrdSlices(join(dir.path, 'not.nrrd'))).toThrow(expect.objectContaining({ code: 'volume.bad-nrrd' }));
  expect(() => decodeNrrd(Buffer.from('NRRD0004\ntype: uchar\n\n'))).toThrow(expect.objectContaining({ code: 'volume.bad-nrrd', message: expect.stringMatching(/uchar/) }));
});
