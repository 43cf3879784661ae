import { InputError } from '@app/core';

/** A point or vector in patient LPS millimetres. */
export type Vec3 = [number, number, number];

/** Row-major 4x4 matrix as 16 numbers. */
export type Mat4 = number[];

export const IDENTITY4: Mat4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

/** Apply a row-major 4x4 (affine) matrix to a point. */
export function transformPoint(m: readonly number[], p: readonly number[]): Vec3 {
  return [
    m[0] * p[0] + m[1] * p[1] + m[2] * p[2] + m[3],
    m[4] * p[0] + m[5] * p[1] + m[6] * p[2] + m[7],
    m[8] * p[0] + m[9] * p[1] + m[10] * p[2] + m[11],
  ];
}

/** Apply only the 3x3 linear part (for directions). */
export function transformVector(m: readonly number[], v: readonly number[]): Vec3 {
  return [
    m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
    m[4] * v[0] + m[5] * v[1] + m[6] * v[2],
    m[8] * v[0] + m[9] * v[1] + m[10] * v[2],
  ];
}

/** Plain 4x4 product a*b (apply b first, then a). */
export function multiply4(a: readonly number[], b: readonly number[]): Mat4 {
  const out = new Array<number>(16).fill(0);
  for (let r = 0; r < 4; r++) {
    for (let c = 0; c < 4; c++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[r * 4 + k] * b[k * 4 + c];
      out[r * 4 + c] = s;
    }
  }
  return out;
}

/**
 * Throws InputError `tracking.non-rigid-matrix` unless `m` is 16 finite numbers whose 3x3 part is a proper
 * rotation (R^T R = I within `tol`, det = +1) and whose last row is [0, 0, 0, 1].
 */
export function assertRigid(m: unknown, what = 'matrix', tol = 1e-4): asserts m is Mat4 {
  if (!Array.isArray(m) || m.length !== 16 || !m.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new InputError('tracking.non-rigid-matrix', `${what} must be 16 finite numbers (row-major 4x4)`);
  }
  if (Math.abs(m[12]) > tol || Math.abs(m[13]) > tol || Math.abs(m[14]) > tol || Math.abs(m[15] - 1) > tol) {
    throw new InputError('tracking.non-rigid-matrix', `${what}: last row must be [0, 0, 0, 1]`);
  }
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      const d = m[a] * m[b] + m[4 + a] * m[4 + b] + m[8 + a] * m[8 + b];
      if (Math.abs(d - (a === b ? 1 : 0)) > tol) {
        throw new InputError('tracking.non-rigid-matrix', `${what}: 3x3 part is not orthonormal (scaling or shear)`, {
          column: a,
          otherColumn: b,
          dot: d,
        });
      }
    }
  }
  const det =
    m[0] * (m[5] * m[10] - m[6] * m[9]) - m[1] * (m[4] * m[10] - m[6] * m[8]) + m[2] * (m[4] * m[9] - m[5] * m[8]);
  if (Math.abs(det - 1) > tol * 10) {
    throw new InputError('tracking.non-rigid-matrix', `${what}: determinant must be +1 (no reflection)`, { det });
  }
}

/** Compose two rigid transforms: the result applies `first`, then `second` (= second * first). */
export function composeRigid(second: readonly number[], first: readonly number[]): Mat4 {
  assertRigid(second as number[], 'second');
  assertRigid(first as number[], 'first');
  return multiply4(second, first);
}

/** Exact inverse of a rigid transform: [R^T, -R^T t]. */
export function invertRigid(m: readonly number[]): Mat4 {
  assertRigid(m as number[]);
  return invertRigidUnchecked(m);
}

export function invertRigidUnchecked(m: readonly number[]): Mat4 {
  const r = [m[0], m[4], m[8], m[1], m[5], m[9], m[2], m[6], m[10]];
  const t = [m[3], m[7], m[11]];
  return [
    r[0], r[1], r[2], -(r[0] * t[0] + r[1] * t[1] + r[2] * t[2]),
    r[3], r[4], r[5], -(r[3] * t[0] + r[4] * t[1] + r[5] * t[2]),
    r[6], r[7], r[8], -(r[6] * t[0] + r[7] * t[1] + r[8] * t[2]),
    0, 0, 0, 1,
  ];
}

const DEG = Math.PI / 180;

/**
 * Rigid matrix from Euler angles in degrees and a translation: R = Rz(rz) * Ry(ry) * Rx(rx)
 * (x rotation applied first), p' = R p + t. Rotation about `center` (default origin) when given.
 */
export function rigidFromEuler(rotationDeg: readonly number[], translationMm: readonly number[], center?: readonly number[]): Mat4 {
  const [ax, ay, az] = [rotationDeg[0] * DEG, rotationDeg[1] * DEG, rotationDeg[2] * DEG];
  const cx = Math.cos(ax), sx = Math.sin(ax), cy = Math.cos(ay), sy = Math.sin(ay), cz = Math.cos(az), sz = Math.sin(az);
  const R = [
    cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx,
    sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx,
    -sy, cy * sx, cy * cx,
  ];
  let t = [translationMm[0], translationMm[1], translationMm[2]];
  if (center) {
    const rc = [
      R[0] * center[0] + R[1] * center[1] + R[2] * center[2],
      R[3] * center[0] + R[4] * center[1] + R[5] * center[2],
      R[6] * center[0] + R[7] * center[1] + R[8] * center[2],
    ];
    t = [t[0] + center[0] - rc[0], t[1] + center[1] - rc[1], t[2] + center[2] - rc[2]];
  }
  return [R[0], R[1], R[2], t[0], R[3], R[4], R[5], t[1], R[6], R[7], R[8], t[2], 0, 0, 0, 1];
}

/** Euler angles (degrees, same convention as rigidFromEuler: R = Rz*Ry*Rx) of a rigid matrix. */
export function eulerFromRigid(m: readonly number[]): Vec3 {
  const sy = Math.max(-1, Math.min(1, -m[8]));
  const ry = Math.asin(sy);
  let rx: number, rz: number;
  if (Math.abs(sy) < 0.999999) {
    rx = Math.atan2(m[9], m[10]);
    rz = Math.atan2(m[4], m[0]);
  } else {
    rx = Math.atan2(-m[6], m[5]);
    rz = 0;
  }
  return [rx / DEG, ry / DEG, rz / DEG];
}

/** Total rotation angle (degrees) of the 3x3 part. */
export function rotationAngleDeg(m: readonly number[]): number {
  const c = Math.max(-1, Math.min(1, (m[0] + m[5] + m[10] - 1) / 2));
  return Math.acos(c) / DEG;
}

/** Rodrigues: rotation matrix (row-major 3x3) for the rotation vector w (radians). */
export function rotationFromVector(w: readonly number[]): number[] {
  const th = Math.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
  if (th < 1e-15) return [1, 0, 0, 0, 1, 0, 0, 0, 1];
  const k = [w[0] / th, w[1] / th, w[2] / th];
  const c = Math.cos(th), s = Math.sin(th), v = 1 - c;
  return [
    c + k[0] * k[0] * v, k[0] * k[1] * v - k[2] * s, k[0] * k[2] * v + k[1] * s,
    k[1] * k[0] * v + k[2] * s, c + k[1] * k[1] * v, k[1] * k[2] * v - k[0] * s,
    k[2] * k[0] * v - k[1] * s, k[2] * k[1] * v + k[0] * s, c + k[2] * k[2] * v,
  ];
}
