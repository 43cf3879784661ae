import { isInputError } from '@app/core';
import {
  assertRigid,
  composeRigid,
  eulerFromRigid,
  invertRigid,
  multiply4,
  rigidFromEuler,
  rotationAngleDeg,
  transformPoint,
} from '@app/tracking';

const close = (a: number[], b: number[], tol = 1e-9): void => a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(tol));

describe('rigid transform helpers', () => {
  test('rigidFromEuler: 90 deg about z maps x to y, translation added after rotation', () => {
    const m = rigidFromEuler([0, 0, 90], [1, 2, 3]);
    close(transformPoint(m, [10, 0, 0]), [1, 12, 3]);
    close(transformPoint(m, [0, 10, 0]), [-9, 2, 3]);
  });

  test('rotation about a centre keeps the centre fixed (before translation)', () => {
    const c = [30, -20, 5];
    const m = rigidFromEuler([2, -1, 4], [0, 0, 0], c);
    close(transformPoint(m, c), c);
  });

  test('euler round trip, inverse and composition', () => {
    const a = rigidFromEuler([1.5, -0.7, 3.2], [17, -11, 8]);
    close(eulerFromRigid(a), [1.5, -0.7, 3.2], 1e-9);
    const inv = invertRigid(a);
    const p = [12.5, -40, 77];
    close(transformPoint(inv, transformPoint(a, p)), p);
    const b = rigidFromEuler([0, 0, -5], [1, 1, 1]);
    const ab = composeRigid(b, a); // a first, then b
    close(transformPoint(ab, p), transformPoint(b, transformPoint(a, p)));
    expect(rotationAngleDeg(multiply4(a, inv))).toBeLessThan(1e-6);
    expect(Math.abs(rotationAngleDeg(rigidFromEuler([0, 0, 7], [0, 0, 0])) - 7)).toBeLessThan(1e-9);
  });

  test('non-rigid matrices are rejected with InputError', () => {
    const scaled = rigidFromEuler([0, 0, 0], [0, 0, 0]);
    scaled[0] = 1.1;
    const reflect = [-1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    const persp = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0.1, 0, 0, 1];
    const nan = [NaN, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    for (const m of [scaled, reflect, persp, nan, [1, 0, 0], 'x' as unknown as number[]]) {
      let err: unknown;
      try {
        assertRigid(m);
      } catch (e) {
        err = e;
      }
      expect(isInputError(err)).toBe(true);
      expect((err as { code: string }).code).toBe('tracking.non-rigid-matrix');
    }
    expect(() => invertRigid(scaled)).toThrow(/orthonormal/);
  });
});
