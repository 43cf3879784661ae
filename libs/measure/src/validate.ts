import { InputError } from '@app/core';

/** Lengths (mm) closer than this are treated as equal; ties are then broken by raster order (see README). */
export const LENGTH_EPS_MM = 1e-9;

/** Checks dims (three positive integers) and returns them with the voxel count. */
export function checkDims(dims: ArrayLike<number>, what = 'dims'): { nx: number; ny: number; nz: number; n: number } {
  if (!dims || dims.length !== 3) {
    throw new InputError('measure.bad-shape', `${what} must be [x, y, z], got ${dims ? `${dims.length} values` : String(dims)}`);
  }
  const [nx, ny, nz] = [dims[0], dims[1], dims[2]];
  for (const d of [nx, ny, nz]) {
    if (!Number.isSafeInteger(d) || d < 1) {
      throw new InputError('measure.bad-shape', `${what} must be positive integers, got [${nx}, ${ny}, ${nz}]`, { dims: [nx, ny, nz] });
    }
  }
  const n = nx * ny * nz;
  if (n > 2 ** 31 - 1) {
    throw new InputError('measure.bad-shape', `${what} [${nx}, ${ny}, ${nz}] has ${n} voxels, above the 2^31-1 supported`, { dims: [nx, ny, nz] });
  }
  return { nx, ny, nz, n };
}

export function checkLength(actual: number, expected: number, what: string, dims: number[]): void {
  if (actual !== expected) {
    throw new InputError(
      'measure.bad-shape',
      `${what} has ${actual} values but dims [${dims.join(', ')}] need ${expected}`,
      { dims, length: actual, expected },
    );
  }
}

/** In-plane/through-plane geometry derived from the affine: columns (mm per index step) and their Gram matrix. */
export interface Geometry {
  /** Affine columns: patient mm per unit step of i, j, k. */
  ci: [number, number, number];
  cj: [number, number, number];
  ck: [number, number, number];
  t: [number, number, number];
  /** Gram matrix entries g[ab] = c_a . c_b. */
  gii: number; gjj: number; gkk: number; gij: number; gik: number; gjk: number;
  voxelVolume: number;
}

/** Validates spacing and affine (finite, non-degenerate, column norms = spacing within 0.1 %). */
export function checkGeometry(spacing: ArrayLike<number>, affine: ArrayLike<number>): Geometry {
  if (!spacing || spacing.length !== 3 || ![0, 1, 2].every((m) => Number.isFinite(spacing[m]) && spacing[m] > 0)) {
    const s = spacing ? Array.from(spacing as ArrayLike<number>).join(', ') : String(spacing);
    throw new InputError('measure.bad-spacing', `spacing must be three finite positive numbers (mm), got [${s}]`);
  }
  if (!affine || (affine.length !== 16 && affine.length !== 12)) {
    throw new InputError('measure.bad-affine', `affine must be a row-major 4x4 matrix (16 values), got ${affine ? affine.length : String(affine)} values`);
  }
  for (let m = 0; m < 12; m++) {
    if (!Number.isFinite(affine[m])) throw new InputError('measure.bad-affine', `affine value ${m} is not finite (${affine[m]})`);
  }
  const a = affine;
  const ci: [number, number, number] = [a[0], a[4], a[8]];
  const cj: [number, number, number] = [a[1], a[5], a[9]];
  const ck: [number, number, number] = [a[2], a[6], a[10]];
  const t: [number, number, number] = [a[3], a[7], a[11]];
  const dot = (u: number[], v: number[]): number => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  const cols = [ci, cj, ck];
  for (let m = 0; m < 3; m++) {
    const len = Math.sqrt(dot(cols[m], cols[m]));
    if (Math.abs(len - spacing[m]) > 1e-3 * spacing[m] + 1e-6) {
      throw new InputError(
        'measure.bad-affine',
        `affine column ${'ijk'[m]} has length ${len} mm but spacing[${m}] is ${spacing[m]} mm; spacing and affine disagree`,
        { column: m, columnLengthMm: len, spacingMm: spacing[m] },
      );
    }
  }
  const det =
    ci[0] * (cj[1] * ck[2] - cj[2] * ck[1]) - cj[0] * (ci[1] * ck[2] - ci[2] * ck[1]) + ck[0] * (ci[1] * cj[2] - ci[2] * cj[1]);
  const vol = Math.abs(det);
  if (!(vol > 1e-6 * spacing[0] * spacing[1] * spacing[2])) {
    throw new InputError('measure.bad-affine', `affine 3x3 part is singular (|det| = ${vol}); columns are not independent`);
  }
  return {
    ci, cj, ck, t,
    gii: dot(ci, ci), gjj: dot(cj, cj), gkk: dot(ck, ck), gij: dot(ci, cj), gik: dot(ci, ck), gjk: dot(cj, ck),
    voxelVolume: vol,
  };
}

/** Voxel index (possibly fractional) -> patient mm. */
export function toMm(g: Geometry, i: number, j: number, k: number): [number, number, number] {
  return [
    g.ci[0] * i + g.cj[0] * j + g.ck[0] * k + g.t[0],
    g.ci[1] * i + g.cj[1] * j + g.ck[1] * k + g.t[1],
    g.ci[2] * i + g.cj[2] * j + g.ck[2] * k + g.t[2],
  ];
}
