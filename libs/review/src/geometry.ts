import { checkDims, checkGeometry, type Geometry, toMm } from '@app/measure';
import { ReviewError, invalid } from './errors';

/** The grid a reader measures on: a built volume (dims [x = columns, y = rows, z = slices], spacing, row-major affine to LPS mm). */
export interface VolumeGeometry {
  volumeId: string;
  dims: number[];
  spacing: number[];
  affine: number[];
}

export type Vec3 = [number, number, number];
/** A point in image coordinates (voxel index space, voxel centres at integers) or in patient LPS millimetres. */
export type PointInput = { ijk: Vec3 } | { mm: Vec3 };
export interface AxisInput {
  p1: PointInput;
  p2: PointInput;
}
/** A measured axis: both end points in both spaces and the length. */
export interface Axis {
  p1Ijk: Vec3;
  p2Ijk: Vec3;
  p1Mm: Vec3;
  p2Mm: Vec3;
  lengthMm: number;
}

const isVec3 = (v: unknown): v is Vec3 => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Inverse of the affine's 3x3 part (mm -> index). */
function inverse(g: Geometry): (mm: Vec3) => Vec3 {
  const [a, b, c] = [g.ci, g.cj, g.ck];
  // columns a, b, c: M = [a b c]; M^-1 rows = cross products / det
  const cross = (u: number[], v: number[]): Vec3 => [u[1]! * v[2]! - u[2]! * v[1]!, u[2]! * v[0]! - u[0]! * v[2]!, u[0]! * v[1]! - u[1]! * v[0]!];
  const dot = (u: number[], v: number[]) => u[0]! * v[0]! + u[1]! * v[1]! + u[2]! * v[2]!;
  const r0 = cross(b, c);
  const r1 = cross(c, a);
  const r2 = cross(a, b);
  const det = dot(a, r0);
  return (mm) => {
    const d = [mm[0] - g.t[0], mm[1] - g.t[1], mm[2] - g.t[2]];
    return [dot(r0, d) / det, dot(r1, d) / det, dot(r2, d) / det];
  };
}

/**
 * Measures a reader-drawn axis on a volume: each end point given in image coordinates (`ijk`, voxel index space with
 * voxel centres at integers) or in patient LPS mm (`mm`, what a DICOM viewer calls world coordinates). The length is the
 * straight distance between the two end points in mm (the reader places them on the lesion's edges, so no voxel extent
 * is added, unlike the AI's edge-to-edge chords). An end point outside the image (beyond the outer voxel edges,
 * index < -0.5 or > dim - 0.5 on any axis) is refused with `review.measurement-outside-image`.
 */
export function measureAxis(vol: VolumeGeometry, axis: AxisInput | undefined, what: string): Axis {
  if (!axis || typeof axis !== 'object') throw invalid(`${what}: an axis needs two end points { p1, p2 }, each { ijk: [i, j, k] } or { mm: [x, y, z] }`);
  const { nx, ny, nz } = checkDims(vol.dims, 'volume dims');
  const g = checkGeometry(vol.spacing, vol.affine);
  const toIjk = inverse(g);
  const pts = (['p1', 'p2'] as const).map((k) => {
    const p = axis[k] as Partial<{ ijk: unknown; mm: unknown }> | undefined;
    if (p && isVec3(p.ijk)) {
      const ijk = p.ijk;
      return { ijk, mm: toMm(g, ijk[0], ijk[1], ijk[2]) as Vec3 };
    }
    if (p && isVec3(p.mm)) return { ijk: toIjk(p.mm), mm: p.mm };
    throw invalid(`${what}.${k}: give { ijk: [i, j, k] } (image coordinates) or { mm: [x, y, z] } (patient LPS mm), three finite numbers`);
  });
  const limits = [nx, ny, nz];
  for (const [n, p] of pts.entries()) {
    const bad = p.ijk.findIndex((x, a) => x < -0.5 - 1e-6 || x > limits[a]! - 0.5 + 1e-6);
    if (bad >= 0)
      throw new ReviewError(400, 'review.measurement-outside-image', `${what}: end point p${n + 1} lies outside the image (${'ijk'[bad]} = ${round(p.ijk[bad]!, 2)}, the image spans -0.5 .. ${limits[bad]! - 0.5} on that axis; dims ${limits.join(' x ')}). Nothing was saved.`, {
        point: `p${n + 1}`,
        ijk: p.ijk.map((x) => round(x, 3)),
        dims: limits,
      });
  }
  const [a, b] = pts as [{ ijk: Vec3; mm: Vec3 }, { ijk: Vec3; mm: Vec3 }];
  const lengthMm = Math.hypot(b.mm[0] - a.mm[0], b.mm[1] - a.mm[1], b.mm[2] - a.mm[2]);
  if (!(lengthMm > 0)) throw invalid(`${what}: the two end points are the same point`);
  const r3 = (v: Vec3): Vec3 => [round(v[0], 3), round(v[1], 3), round(v[2], 3)];
  return { p1Ijk: r3(a.ijk), p2Ijk: r3(b.ijk), p1Mm: r3(a.mm), p2Mm: r3(b.mm), lengthMm: round(lengthMm, 3) };
}
