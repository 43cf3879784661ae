import { isInputError } from '@app/core';
import { alignRigid, invertRigid, multiply4, rigidFromEuler, rotationAngleDeg, transformPoint, type RigidAlignment } from '@app/tracking';
import type { Volume } from '@app/dicom';
import { centred, renderVolume, type TestVolume } from './phantom';

const I = rigidFromEuler([0, 0, 0], [0, 0, 0]);
const FD: [number, number, number] = [128, 128, 60];
const FS: [number, number, number] = [2.5, 2.5, 3];
let fixed: TestVolume;
beforeAll(() => {
  fixed = renderVolume(FD, FS, centred(FD, FS), I);
});

/** Largest displacement error (mm) over the corners of a 200 x 160 x 120 mm box, and the rotation error (deg). */
function errors(r: RigidAlignment, truth: number[]): { mm: number; deg: number } {
  let mm = 0;
  for (const x of [-100, 100]) for (const y of [-80, 80]) for (const z of [-60, 60]) {
    const a = transformPoint(r.matrix, [x, y, z]), b = transformPoint(truth, [x, y, z]);
    mm = Math.max(mm, Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]));
  }
  return { mm, deg: rotationAngleDeg(multiply4(r.matrix, invertRigid(truth))) };
}

describe('alignRigid', () => {
  test('recovers a known table shift (17, -11, 8 mm) + rotation (3 deg z, 1 deg x), same grid', () => {
    const truth = rigidFromEuler([1, 0, 3], [17, -11, 8]); // moving -> fixed
    const moving = renderVolume(FD, FS, centred(FD, FS), truth);
    const t0 = Date.now();
    const r = alignRigid(fixed, moving);
    const ms = Date.now() - t0;
    const e = errors(r, truth);
    console.log(`same grid: max error ${e.mm.toFixed(2)} mm, ${e.deg.toFixed(3)} deg, ${ms} ms, ${r.iterations} ICP iterations`);
    expect(e.mm).toBeLessThan(1);
    expect(e.deg).toBeLessThan(0.5);
    expect(Math.abs(r.rotationDeg[2] - 3)).toBeLessThan(0.5);
    expect(Math.abs(r.rotationDeg[0] - 1)).toBeLessThan(0.5);
    r.translationMm.forEach((t, i) => expect(Math.abs(t - [17, -11, 8][i])).toBeLessThan(1.5));
    expect(r.inlierFraction).toBeGreaterThan(0.8);
    expect(r.rmsMm).toBeLessThan(1.5);
    expect(r.matrix).toHaveLength(16);
    expect(r.warnings).toEqual([]);
    expect(ms).toBeLessThan(8000);
    // deterministic: bit-identical on a second run
    expect(alignRigid(fixed, moving).matrix).toEqual(r.matrix);
  });

  test('volumes read slice by slice (volume files) align identically, reading only the working grid slices, once each', () => {
    const truth = rigidFromEuler([0.5, 0, -2], [9, 6, -4]);
    const moving = renderVolume(FD, FS, centred(FD, FS), truth);
    const plane = FD[0] * FD[1];
    const reads: number[] = [];
    const sliced = (v: TestVolume) => ({ dims: v.dims, spacing: v.spacing, affine: v.affine, slice: (k: number) => (reads.push(k), v.data.slice(k * plane, (k + 1) * plane)) });
    const want = alignRigid(fixed, moving);
    expect(alignRigid(sliced(fixed), sliced(moving))).toEqual(want);
    // default working grid: 3 mm slices on 3 mm spacing = every slice, once per volume
    expect(reads.length).toBe(2 * FD[2]);
    expect(new Set(reads).size).toBe(FD[2]);
    const bad = { dims: fixed.dims, spacing: fixed.spacing, affine: fixed.affine, slice: () => new Int16Array(7) };
    expect(() => alignRigid(bad, moving)).toThrow(expect.objectContaining({ code: 'tracking.bad-volume', message: expect.stringMatching(/slice 0 has 7 values/) }));
  });

  test('different voxel spacing and dims between the scans', () => {
    const truth = rigidFromEuler([-1, 0.5, -3], [-14, 9, -6]);
    const d: [number, number, number] = [150, 150, 72], s: [number, number, number] = [2.1, 2.1, 2.5];
    const r = alignRigid(fixed, renderVolume(d, s, centred(d, s), truth));
    const e = errors(r, truth);
    console.log(`different spacing: max error ${e.mm.toFixed(2)} mm, ${e.deg.toFixed(3)} deg`);
    expect(e.mm).toBeLessThan(1);
    expect(e.deg).toBeLessThan(0.5);
  });

  test('partial z overlap (scan ranges offset by 60 mm) with a 25 mm table shift', () => {
    const truth = rigidFromEuler([0.5, -1, 2], [10, 25, 15]);
    const d: [number, number, number] = [140, 140, 80], s: [number, number, number] = [2.3, 2.3, 2];
    const moving = renderVolume(d, s, centred(d, s, 60), truth);
    const r = alignRigid(fixed, moving);
    const e = errors(r, truth);
    console.log(`partial overlap (${r.zOverlapMm.toFixed(0)} mm): max error ${e.mm.toFixed(2)} mm, ${e.deg.toFixed(3)} deg`);
    expect(r.zOverlapMm).toBeLessThan(150);
    expect(e.mm).toBeLessThan(1);
    expect(e.deg).toBeLessThan(0.5);
    // the inverse direction gives the inverse transform
    const back = alignRigid(moving, fixed);
    const eb = errors(back, invertRigid(truth));
    expect(eb.mm).toBeLessThan(1);
  });

  test('capture range: 30 mm table shift on every axis and 5 deg about z (+2 deg x/y); accepts an @app/dicom Volume', () => {
    const truth = rigidFromEuler([2, -2, 5], [30, -30, 30]);
    const d: [number, number, number] = [140, 140, 64], s: [number, number, number] = [2.4, 2.4, 2.8];
    const m = renderVolume(d, s, centred(d, s), truth);
    const asVolume = (v: TestVolume): Volume => ({ ...v, flags: [], sliceSopInstanceUids: [], sliceFrameIndices: [], slicePositions: [] });
    const r = alignRigid(asVolume(fixed), asVolume(m));
    const e = errors(r, truth);
    expect(e.mm).toBeLessThan(1);
    expect(e.deg).toBeLessThan(0.5);
  });

  test('malformed volumes raise InputError', () => {
    const bad: Array<[unknown, string]> = [
      [{ ...fixed, dims: [0, 128, 60] }, 'tracking.bad-volume'],
      [{ ...fixed, data: new Int16Array(10) }, 'tracking.bad-volume'],
      [{ ...fixed, dims: [2, 2, 1], data: new Int16Array(4) }, 'tracking.empty-volume'],
      [{ ...fixed, affine: [1, 2, 3] }, 'tracking.bad-volume'],
      [{ ...fixed, spacing: [NaN, 1, 1] }, 'tracking.bad-volume'],
      [{ ...fixed, data: new Int16Array(fixed.data.length).fill(-1000) }, 'tracking.no-body'],
    ];
    for (const [v, code] of bad) {
      let err: unknown;
      try {
        alignRigid(fixed, v as TestVolume);
      } catch (e) {
        err = e;
      }
      expect(isInputError(err)).toBe(true);
      expect((err as { code: string }).code).toBe(code);
    }
  });
});
