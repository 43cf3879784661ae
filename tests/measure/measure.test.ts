/**
 * Golden tests for @app/measure. Shapes are rasterised here (a voxel belongs to a shape when its centre does)
 * and expected values come from the shape parameters and the documented length convention
 * (edge to edge: centre distance + voxel extent projected on the chord), never from the code under test.
 */
import {
  connectedComponents3d, measureLesions, recistMeasurability, FERET_ALL_VOXELS_MAX,
  type LesionMeasurement, type MeasureGrid, type Vec3,
} from '@app/measure';
import { expectInputError } from '../support/assertions';

type Affine = number[];
const diagAffine = (sx: number, sy: number, sz: number, t: Vec3 = [0, 0, 0]): Affine => [
  sx, 0, 0, t[0], 0, sy, 0, t[1], 0, 0, sz, t[2], 0, 0, 0, 1,
];
const grid = (dims: Vec3, spacing: Vec3, affine?: Affine): MeasureGrid => ({
  dims, spacing, affine: affine ?? diagAffine(spacing[0], spacing[1], spacing[2]),
});
/** Rasterises a predicate on voxel indices into a 0/1 label volume. */
function raster(dims: Vec3, inside: (i: number, j: number, k: number) => boolean, label = 1): Uint8Array {
  const out = new Uint8Array(dims[0] * dims[1] * dims[2]);
  for (let k = 0; k < dims[2]; k++) {
    for (let j = 0; j < dims[1]; j++) {
      for (let i = 0; i < dims[0]; i++) if (inside(i, j, k)) out[i + j * dims[0] + k * dims[0] * dims[1]] = label;
    }
  }
  return out;
}
/** Measures a single-shape mask directly (component 1 = the mask), independent of connectedComponents3d. */
function measureMask(g: MeasureGrid, mask: Uint8Array, sliceThicknessMm = 1, nodal = false): LesionMeasurement {
  const comps = Int32Array.from(mask, (v) => (v ? 1 : 0));
  const r = measureLesions(g, comps, 1, { sliceThicknessMm, nodal: () => nodal });
  expect(r).toHaveLength(1);
  return r[0];
}
/** Expected edge-to-edge length of a chord with in-plane mm components (dx, dy) on an sx x sy pixel grid. */
const conventionLength = (dx: number, dy: number, sx: number, sy: number): number => {
  const d = Math.sqrt(dx * dx + dy * dy);
  return d + (Math.abs(dx) / d) * sx + (Math.abs(dy) / d) * sy;
};
const angleDeg = (u: number[], v: number[]): number => {
  const c = Math.abs(u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (Math.hypot(u[0], u[1], u[2]) * Math.hypot(v[0], v[1], v[2]));
  return (Math.acos(Math.min(1, c)) * 180) / Math.PI;
};
const dist = (a: number[], b: number[]): number => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

describe('long axis: axis-aligned rectangles (exact)', () => {
  const cases: Array<{ w: number; h: number; sx: number; sy: number }> = [
    { w: 30, h: 12, sx: 0.5, sy: 0.8 },
    { w: 7, h: 25, sx: 0.5, sy: 0.8 },
    { w: 16, h: 16, sx: 0.7, sy: 0.7 },
    { w: 3, h: 2, sx: 1.2, sy: 0.4 },
  ];
  test.each(cases)('$w x $h pixels at $sx x $sy mm: long axis = diagonal, main diagonal wins the tie', ({ w, h, sx, sy }) => {
    const [i0, j0] = [5, 7];
    const dims: Vec3 = [w + 12, h + 14, 1];
    const m = measureMask(grid(dims, [sx, sy, 2.5]), raster(dims, (i, j) => i >= i0 && i < i0 + w && j >= j0 && j < j0 + h));
    const expected = conventionLength((w - 1) * sx, (h - 1) * sy, sx, sy);
    expect(m.longAxis.lengthMm).toBeCloseTo(expected, 9);
    expect(m.longAxis.centreLengthMm).toBeCloseTo(Math.hypot((w - 1) * sx, (h - 1) * sy), 9);
    // both diagonals are equally long: p1 = the first voxel in raster order, i.e. the top-left corner
    expect(m.longAxis.p1Ijk).toEqual([i0, j0, 0]);
    expect(m.longAxis.p2Ijk).toEqual([i0 + w - 1, j0 + h - 1, 0]);
    // edge-to-edge end points: projections of the rectangle's outer corners on the diagonal
    expect(dist(m.longAxis.p1Mm, m.longAxis.p2Mm)).toBeCloseTo(expected, 9);
    expect(m.voxelCount).toBe(w * h);
    expect(m.volumeMm3).toBeCloseTo(w * h * sx * sy * 2.5, 9);
    expect(m.centroidMm[0]).toBeCloseTo((i0 + (w - 1) / 2) * sx, 9);
    expect(m.centroidMm[1]).toBeCloseTo((j0 + (h - 1) / 2) * sy, 9);
    expect(m.bbox).toEqual({ min: [i0, j0, 0], max: [i0 + w - 1, j0 + h - 1, 0] });
    // a flat (single-slice) shape: the 3D Feret is the same diagonal
    expect(m.feretMm).toBeCloseTo(expected, 9);
  });

  test('a straight run of n voxels measures n x spacing (caliper, edge to edge); its short axis is one voxel', () => {
    const dims: Vec3 = [40, 30, 1];
    const sx = 0.6;
    const sy = 0.9;
    const row = measureMask(grid(dims, [sx, sy, 1]), raster(dims, (i, j) => j === 4 && i >= 3 && i < 3 + 25));
    expect(row.longAxis.lengthMm).toBeCloseTo(25 * sx, 12);
    expect(row.longAxis.p1Mm[0]).toBeCloseTo(2.5 * sx, 12);
    expect(row.longAxis.p2Mm[0]).toBeCloseTo(27.5 * sx, 12);
    expect(row.shortAxis.singleVoxel).toBe(true);
    expect(row.shortAxis.lengthMm).toBeCloseTo(sy, 12);
    expect(row.shortAxis.angleToLongAxisDeg).toBe(90);
    const col = measureMask(grid(dims, [sx, sy, 1]), raster(dims, (i, j) => i === 9 && j >= 2 && j < 2 + 21));
    expect(col.longAxis.lengthMm).toBeCloseTo(21 * sy, 12);
    const one = measureMask(grid(dims, [sx, sy, 1]), raster(dims, (i, j) => i === 9 && j === 9));
    expect(one.longAxis.lengthMm).toBeCloseTo(Math.max(sx, sy), 12);
    expect(one.shortAxis.lengthMm).toBeCloseTo(Math.min(sx, sy), 12);
    expect(one.feretMm).toBeCloseTo(Math.max(sx, sy, 1), 12);
    expect(one.volumeMm3).toBeCloseTo(sx * sy, 12);
  });
});

describe('oblique ellipses: long axis ~ 2a, short axis ~ 2b and perpendicular', () => {
  const cases = [
    { deg: 17, a: 20, b: 9, sx: 0.7, sy: 0.7 },
    { deg: 33, a: 15, b: 6, sx: 0.5, sy: 0.5 },
    { deg: 61, a: 18, b: 11, sx: 0.6, sy: 0.9 },
    { deg: 128, a: 12, b: 8, sx: 0.8, sy: 0.55 },
  ];
  test.each(cases)('$deg deg, a=$a b=$b mm at $sx x $sy mm', ({ deg, a, b, sx, sy }) => {
    const th = (deg * Math.PI) / 180;
    const dims: Vec3 = [Math.ceil((2 * a + 10) / sx), Math.ceil((2 * a + 10) / sy), 1];
    const cx = (dims[0] / 2 + 0.3) * sx;
    const cy = (dims[1] / 2 - 0.2) * sy;
    const mask = raster(dims, (i, j) => {
      const x = i * sx - cx;
      const y = j * sy - cy;
      const u = x * Math.cos(th) + y * Math.sin(th);
      const v = -x * Math.sin(th) + y * Math.cos(th);
      return (u / a) ** 2 + (v / b) ** 2 <= 1;
    });
    const m = measureMask(grid(dims, [sx, sy, 3]), mask);
    const px = Math.max(sx, sy);
    // "one pixel" = a pixel's diagonal (its largest extent in any direction)
    expect(Math.abs(m.longAxis.lengthMm - 2 * a)).toBeLessThanOrEqual(Math.hypot(sx, sy));
    expect(Math.abs(m.shortAxis.lengthMm - 2 * b)).toBeLessThanOrEqual(Math.hypot(sx, sy));
    expect(m.shortAxis.singleVoxel).toBe(false);
    expect(m.shortAxis.toleranceDeg).toBe(1);
    expect(m.shortAxis.angleToLongAxisDeg).toBeGreaterThanOrEqual(89);
    expect(angleDeg(m.shortAxis.directionMm, m.longAxis.directionMm)).toBeGreaterThanOrEqual(89);
    // the long axis runs along the major axis (within the angle one pixel subtends at the tip)
    expect(angleDeg(m.longAxis.directionMm, [Math.cos(th), Math.sin(th), 0])).toBeLessThan((Math.atan(px / a) * 180) / Math.PI + 1);
    // the short axis crosses the long axis near the centre of the ellipse
    const mid = [(m.shortAxis.p1Mm[0] + m.shortAxis.p2Mm[0]) / 2 - cx, (m.shortAxis.p1Mm[1] + m.shortAxis.p2Mm[1]) / 2 - cy];
    expect(Math.hypot(mid[0], mid[1])).toBeLessThan(a / 2);
    expect(m.volumeMm3 / (Math.PI * a * b * 3)).toBeCloseTo(1, 1);
  });
});

describe('concave shapes: the longest pairwise distance is not a valid chord', () => {
  test('thin L (1 voxel wide arms): long axis = the longer arm, exactly', () => {
    const dims: Vec3 = [50, 40, 1];
    const [A, B] = [31, 22];
    const s = 0.8;
    const m = measureMask(grid(dims, [s, s, 1]), raster(dims, (i, j) => (j === 3 && i >= 3 && i < 3 + A) || (i === 3 && j >= 3 && j < 3 + B)));
    // the arm tips are sqrt((A-1)^2 + (B-1)^2) voxels apart, but that segment leaves the shape
    expect(m.longAxis.lengthMm).toBeCloseTo(A * s, 12);
    expect(m.longAxis.p1Ijk).toEqual([3, 3, 0]);
    expect(m.longAxis.p2Ijk).toEqual([3 + A - 1, 3, 0]);
    expect(m.feretMm).toBeGreaterThan(Math.hypot(A - 1, B - 1) * s);
  });

  test('thick L: long axis = the longest chord inside the polygon (analytic criterion), shorter than its diameter', () => {
    // Pixels: horizontal bar [0,A) x [0,T) plus vertical bar [0,T) x [0,B), shifted by (o, o).
    const [A, T, B, o] = [80, 10, 55, 2];
    const sx = 0.5;
    const sy = 0.8;
    const dims: Vec3 = [A + 6, B + 6, 1];
    const inL = (x: number, y: number): boolean => (x >= 0 && x < A && y >= 0 && y < T) || (x >= 0 && x < T && y >= 0 && y < B);
    const m = measureMask(grid(dims, [sx, sy, 1]), raster(dims, (i, j) => inL(i - o, j - o)));
    // Reference: the union of pixel squares is the polygon [-.5, A-.5]x[-.5, T-.5] U [-.5, T-.5]x[-.5, B-.5].
    // A segment between two of its pixel centres lies inside iff it avoids the open quadrant x > T-.5, y > T-.5.
    const c = T - 0.5;
    const entersQuadrant = (x0: number, y0: number, x1: number, y1: number): boolean => {
      let tlo = 0;
      let thi = 1;
      for (const [p0, p1] of [[x0, x1], [y0, y1]]) {
        const d = p1 - p0;
        if (d === 0) {
          if (!(p0 > c)) return false;
        } else if (d > 0) tlo = Math.max(tlo, (c - p0) / d);
        else thi = Math.min(thi, (c - p0) / d);
      }
      return tlo < thi;
    };
    const pts: Array<[number, number]> = [];
    for (let y = 0; y < B; y++) for (let x = 0; x < A; x++) if (inL(x, y)) pts.push([x, y]);
    let bestInside = 0;
    let diameter = 0;
    for (let p = 0; p < pts.length; p++) {
      for (let q = p + 1; q < pts.length; q++) {
        const l = conventionLength((pts[q][0] - pts[p][0]) * sx, (pts[q][1] - pts[p][1]) * sy, sx, sy);
        if (l > diameter) diameter = l;
        if (l > bestInside && !entersQuadrant(pts[p][0], pts[p][1], pts[q][0], pts[q][1])) bestInside = l;
      }
    }
    expect(diameter).toBeGreaterThan(bestInside + 5);
    expect(m.longAxis.lengthMm).toBeCloseTo(bestInside, 9);
    const [p1, p2] = [m.longAxis.p1Ijk, m.longAxis.p2Ijk];
    expect(entersQuadrant(p1[0] - o, p1[1] - o, p2[0] - o, p2[1] - o)).toBe(false);
    // the unconstrained 3D Feret does bridge the concavity
    expect(m.feretMm).toBeCloseTo(diameter, 9);
  });

  test('C shape: the chord between the two tips crosses the gap and is refused', () => {
    // ring sector: annulus r in [10, 16] mm, opening of 60 deg on the +x side
    const s = 0.5;
    const dims: Vec3 = [80, 80, 1];
    const [cx, cy] = [40 * s, 40 * s];
    const mask = raster(dims, (i, j) => {
      const x = i * s - cx;
      const y = j * s - cy;
      const r = Math.hypot(x, y);
      return r >= 10 && r <= 16 && Math.abs(Math.atan2(y, x)) >= Math.PI / 6;
    });
    const m = measureMask(grid(dims, [s, s, 1]), mask);
    // Every chord inside the C stays in the annulus, so it is at most the chord of the outer circle tangent
    // to the inner one: 2*sqrt(16^2 - 10^2) (+ 1 pixel for the edge-to-edge convention and rasterisation).
    const tangentChord = 2 * Math.sqrt(16 ** 2 - 10 ** 2);
    expect(m.longAxis.lengthMm).toBeLessThanOrEqual(tangentChord + 2 * s);
    expect(m.longAxis.lengthMm).toBeGreaterThanOrEqual(tangentChord - 2 * s);
    // while the shape's diameter is the outer diameter (~32 mm)
    expect(Math.abs(m.feretMm - 32)).toBeLessThanOrEqual(s * Math.SQRT2);
  });
});

describe('3D ellipsoid', () => {
  test('Feret ~ 2 max semi-axis, long axis on the central slice, volume ~ 4/3 pi abc', () => {
    const [a, b, c] = [15, 10, 6.5];
    const sp: Vec3 = [0.7, 0.7, 2.5];
    const th = (25 * Math.PI) / 180;
    const dims: Vec3 = [64, 64, 9];
    const ctr = [31.6 * sp[0], 32.3 * sp[1], 4 * sp[2]]; // centred on slice 4
    const mask = raster(dims, (i, j, k) => {
      const x = i * sp[0] - ctr[0];
      const y = j * sp[1] - ctr[1];
      const z = k * sp[2] - ctr[2];
      const u = x * Math.cos(th) + y * Math.sin(th);
      const v = -x * Math.sin(th) + y * Math.cos(th);
      return (u / a) ** 2 + (v / b) ** 2 + (z / c) ** 2 <= 1;
    });
    const m = measureMask(grid(dims, sp), mask, 2.5);
    expect(m.longAxis.k).toBe(4);
    expect(Math.abs(m.longAxis.lengthMm - 2 * a)).toBeLessThanOrEqual(sp[0] * Math.SQRT2);
    expect(Math.abs(m.shortAxis.lengthMm - 2 * b)).toBeLessThanOrEqual(sp[0] * Math.SQRT2);
    expect(Math.abs(m.feretMm - 2 * a)).toBeLessThanOrEqual(sp[0] * Math.SQRT2);
    expect(m.feretMm).toBeGreaterThanOrEqual(m.longAxis.lengthMm - 1e-9);
    expect(Math.abs(m.volumeMm3 / ((4 / 3) * Math.PI * a * b * c) - 1)).toBeLessThan(0.04);
    for (let q = 0; q < 3; q++) expect(Math.abs(m.centroidMm[q] - ctr[q])).toBeLessThan(0.1);
  });

  test('finer ellipsoid: volume within 2 %, Feret along the largest semi-axis (through-plane)', () => {
    const [a, b, c] = [9, 7, 12]; // largest semi-axis along z: Feret is not in-plane
    const sp: Vec3 = [0.8, 0.8, 1];
    const dims: Vec3 = [30, 26, 30];
    const ctr = [14.6 * sp[0], 12.4 * sp[1], 14.5 * sp[2]];
    const mask = raster(dims, (i, j, k) => ((i * sp[0] - ctr[0]) / a) ** 2 + ((j * sp[1] - ctr[1]) / b) ** 2 + ((k * sp[2] - ctr[2]) / c) ** 2 <= 1);
    const m = measureMask(grid(dims, sp), mask, 1);
    expect(Math.abs(m.volumeMm3 / ((4 / 3) * Math.PI * a * b * c) - 1)).toBeLessThan(0.02);
    expect(Math.abs(m.feretMm - 2 * c)).toBeLessThanOrEqual(Math.hypot(...sp));
    // tips of a rasterised ellipsoid are small flat caps: the farthest pair may run across them
    expect(angleDeg(m.feret.directionMm, [0, 0, 1])).toBeLessThan(20);
    expect(Math.abs(m.longAxis.lengthMm - 2 * a)).toBeLessThanOrEqual(sp[0] * Math.SQRT2);
    expect(Math.abs(m.shortAxis.lengthMm - 2 * b)).toBeLessThanOrEqual(sp[0] * Math.SQRT2);
    // > FERET_ALL_VOXELS_MAX voxels, so the Feret uses the row/column/pillar-extreme voxels: compare with
    // an independent brute force over every voxel pair (same convention: centre distance + projected voxel)
    // (surface voxels only, i.e. with a face neighbour outside: the farthest pair lies on the hull, hence on the surface)
    const at = (i: number, j: number, k: number): number =>
      i < 0 || j < 0 || k < 0 || i >= dims[0] || j >= dims[1] || k >= dims[2] ? 0 : mask[i + j * dims[0] + k * dims[0] * dims[1]];
    const vox: number[][] = [];
    let total = 0;
    for (let k = 0; k < dims[2]; k++) {
      for (let j = 0; j < dims[1]; j++) {
        for (let i = 0; i < dims[0]; i++) {
          if (!at(i, j, k)) continue;
          total++;
          if (!at(i - 1, j, k) || !at(i + 1, j, k) || !at(i, j - 1, k) || !at(i, j + 1, k) || !at(i, j, k - 1) || !at(i, j, k + 1)) {
            vox.push([i * sp[0], j * sp[1], k * sp[2]]);
          }
        }
      }
    }
    expect(total).toBeGreaterThan(FERET_ALL_VOXELS_MAX);
    let brute = 0;
    for (let p = 0; p < vox.length; p++) {
      const [x, y, z] = vox[p];
      for (let q = p + 1; q < vox.length; q++) {
        const dx = vox[q][0] - x;
        const dy = vox[q][1] - y;
        const dz = vox[q][2] - z;
        const d = Math.sqrt(dx * dx + dy * dy + dz * dz);
        const l = d + (Math.abs(dx) * sp[0] + Math.abs(dy) * sp[1] + Math.abs(dz) * sp[2]) / d;
        if (l > brute) brute = l;
      }
    }
    expect(m.feretMm).toBeCloseTo(brute, 9);
  });
});

describe('non-identity affine', () => {
  test('in-plane axes swapped (i -> patient y, j -> patient x), origin shifted: patient-mm end points', () => {
    const sp: Vec3 = [0.8, 0.5, 3]; // column spacing 0.8 along patient y, row spacing 0.5 along patient x
    const t: Vec3 = [-120.25, 35.5, 17];
    const affine = [0, 0.5, 0, t[0], 0.8, 0, 0, t[1], 0, 0, 3, t[2], 0, 0, 0, 1];
    const A = (i: number, j: number, k: number): Vec3 => [0.5 * j + t[0], 0.8 * i + t[1], 3 * k + t[2]];
    const [i0, j0, w, h] = [4, 6, 20, 13];
    const dims: Vec3 = [30, 25, 2];
    const m = measureMask(grid(dims, sp, affine), raster(dims, (i, j, k) => k === 1 && i >= i0 && i < i0 + w && j >= j0 && j < j0 + h));
    expect(m.longAxis.lengthMm).toBeCloseTo(conventionLength((w - 1) * 0.8, (h - 1) * 0.5, 0.8, 0.5), 9);
    expect(m.longAxis.p1Ijk).toEqual([i0, j0, 1]);
    expect(m.longAxis.p2Ijk).toEqual([i0 + w - 1, j0 + h - 1, 1]);
    // edge-to-edge end points = outer corners of the end voxels projected on the line through their centres
    const c1 = A(i0, j0, 1);
    const c2 = A(i0 + w - 1, j0 + h - 1, 1);
    const len = dist(c1, c2);
    const u = [0, 1, 2].map((q) => (c2[q] - c1[q]) / len);
    const proj = (p: Vec3): number[] => {
      const s = (p[0] - c1[0]) * u[0] + (p[1] - c1[1]) * u[1] + (p[2] - c1[2]) * u[2];
      return [0, 1, 2].map((q) => c1[q] + s * u[q]);
    };
    const e1 = proj(A(i0 - 0.5, j0 - 0.5, 1));
    const e2 = proj(A(i0 + w - 0.5, j0 + h - 0.5, 1));
    for (let q = 0; q < 3; q++) {
      expect(m.longAxis.p1Mm[q]).toBeCloseTo(e1[q], 9);
      expect(m.longAxis.p2Mm[q]).toBeCloseTo(e2[q], 9);
    }
    const cen = A(i0 + (w - 1) / 2, j0 + (h - 1) / 2, 1);
    for (let q = 0; q < 3; q++) expect(m.centroidMm[q]).toBeCloseTo(cen[q], 9);
    expect(m.volumeMm3).toBeCloseTo(w * h * 0.8 * 0.5 * 3, 9);
  });

  test('rotated in-plane orientation (30 deg): lengths unchanged, end points through the affine', () => {
    const th = (30 * Math.PI) / 180;
    const [sx, sy] = [0.6, 0.75];
    const ci = [Math.cos(th) * sx, Math.sin(th) * sx, 0];
    const cj = [-Math.sin(th) * sy, Math.cos(th) * sy, 0];
    const t: Vec3 = [10, -20, 5];
    const affine = [ci[0], cj[0], 0, t[0], ci[1], cj[1], 0, t[1], 0, 0, 2, t[2], 0, 0, 0, 1];
    const dims: Vec3 = [40, 30, 1];
    const [i0, j0, w, h] = [3, 5, 25, 9];
    const m = measureMask(grid(dims, [sx, sy, 2], affine), raster(dims, (i, j) => i >= i0 && i < i0 + w && j >= j0 && j < j0 + h));
    expect(m.longAxis.lengthMm).toBeCloseTo(conventionLength((w - 1) * sx, (h - 1) * sy, sx, sy), 9);
    const c1 = [ci[0] * i0 + cj[0] * j0 + t[0], ci[1] * i0 + cj[1] * j0 + t[1], t[2]];
    const dir = [ci[0] * (w - 1) + cj[0] * (h - 1), ci[1] * (w - 1) + cj[1] * (h - 1), 0];
    const dl = Math.hypot(dir[0], dir[1]);
    const half = ((Math.abs((w - 1) * sx) / Math.hypot((w - 1) * sx, (h - 1) * sy)) * sx + (Math.abs((h - 1) * sy) / Math.hypot((w - 1) * sx, (h - 1) * sy)) * sy) / 2;
    for (let q = 0; q < 3; q++) expect(m.longAxis.p1Mm[q]).toBeCloseTo(c1[q] - (dir[q] / dl) * half, 9);
  });
  test('ellipse drawn in patient space on a rotated, flipped, anisotropic grid: axes and perpendicularity in mm', () => {
    const rot = (40 * Math.PI) / 180;
    const [sx, sy] = [0.55, 0.8];
    // i runs along (cos, sin), j along -(−sin, cos) (flipped): a left-handed in-plane frame
    const ci = [Math.cos(rot) * sx, Math.sin(rot) * sx, 0];
    const cj = [Math.sin(rot) * sy, -Math.cos(rot) * sy, 0];
    const t: Vec3 = [-30, 40, -12];
    const affine = [ci[0], cj[0], 0, t[0], ci[1], cj[1], 0, t[1], 0, 0, 1.5, t[2], 0, 0, 0, 1];
    const [a, b, phi] = [16, 7, (75 * Math.PI) / 180];
    const ctr = [-30 + 25 * ci[0] + 25 * cj[0] + 0.13, 40 + 25 * ci[1] + 25 * cj[1] - 0.21];
    const dims: Vec3 = [60, 60, 1];
    const mask = raster(dims, (i, j) => {
      const x = t[0] + ci[0] * i + cj[0] * j - ctr[0];
      const y = t[1] + ci[1] * i + cj[1] * j - ctr[1];
      const u = x * Math.cos(phi) + y * Math.sin(phi);
      const v = -x * Math.sin(phi) + y * Math.cos(phi);
      return (u / a) ** 2 + (v / b) ** 2 <= 1;
    });
    const m = measureMask(grid(dims, [sx, sy, 1.5], affine), mask);
    expect(Math.min(m.bbox.min[0], m.bbox.min[1])).toBeGreaterThan(0); // not clipped by the grid
    expect(Math.max(m.bbox.max[0], m.bbox.max[1])).toBeLessThan(59);
    const diag = Math.hypot(sx, sy);
    expect(Math.abs(m.longAxis.lengthMm - 2 * a)).toBeLessThanOrEqual(diag);
    expect(Math.abs(m.shortAxis.lengthMm - 2 * b)).toBeLessThanOrEqual(diag);
    expect(angleDeg(m.longAxis.directionMm, [Math.cos(phi), Math.sin(phi), 0])).toBeLessThan(3);
    expect(angleDeg(m.shortAxis.directionMm, m.longAxis.directionMm)).toBeGreaterThanOrEqual(89);
    expect(m.shortAxis.angleToLongAxisDeg).toBeCloseTo(angleDeg(m.shortAxis.directionMm, m.longAxis.directionMm), 6);
    // end points lie on the affine-mapped slice plane z = t[2]
    for (const p of [m.longAxis.p1Mm, m.longAxis.p2Mm, m.shortAxis.p1Mm, m.shortAxis.p2Mm]) expect(p[2]).toBeCloseTo(t[2], 9);
    expect(dist(m.longAxis.p1Mm, m.longAxis.p2Mm)).toBeCloseTo(m.longAxis.lengthMm, 9);
    expect(dist(m.shortAxis.p1Mm, m.shortAxis.p2Mm)).toBeCloseTo(m.shortAxis.lengthMm, 9);
  });
});

describe('connectedComponents3d', () => {
  const dims: Vec3 = [8, 8, 8];
  const cube = (lab: Uint8Array, o: Vec3, size: number, v = 1): void => {
    for (let k = o[2]; k < o[2] + size; k++) {
      for (let j = o[1]; j < o[1] + size; j++) for (let i = o[0]; i < o[0] + size; i++) lab[i + j * 8 + k * 64] = v;
    }
  };
  test('corner-touching blobs merge with 26 and split with 18 and 6; edge-touching merge with 18', () => {
    const corner = new Uint8Array(512);
    cube(corner, [0, 0, 0], 3);
    cube(corner, [3, 3, 3], 3);
    expect(connectedComponents3d(corner, dims).count).toBe(1);
    expect(connectedComponents3d(corner, dims, { connectivity: 18 }).count).toBe(2);
    expect(connectedComponents3d(corner, dims, { connectivity: 6 }).count).toBe(2);
    const edge = new Uint8Array(512);
    cube(edge, [0, 0, 0], 3);
    cube(edge, [3, 3, 0], 3);
    expect(connectedComponents3d(edge, dims, { connectivity: 26 }).count).toBe(1);
    expect(connectedComponents3d(edge, dims, { connectivity: 18 }).count).toBe(1);
    expect(connectedComponents3d(edge, dims, { connectivity: 6 }).count).toBe(2);
    const r = connectedComponents3d(corner, dims, { connectivity: 6 });
    expect(r.sizes).toEqual([27, 27]);
  });

  test('numbering follows the raster order of each component first voxel; U shapes merge', () => {
    const lab = new Uint8Array(512);
    cube(lab, [5, 5, 1], 2); // first voxel raster index 5 + 40 + 64
    cube(lab, [0, 0, 4], 2); // first voxel index 256
    // a U in slice 0 (two arms met first separately in raster order, joined at the bottom row)
    for (let j = 0; j < 4; j++) {
      lab[1 + j * 8] = 1;
      lab[4 + j * 8] = 1;
    }
    for (let i = 1; i <= 4; i++) lab[i + 3 * 8] = 1;
    const r = connectedComponents3d(lab, dims, { connectivity: 6 });
    expect(r.count).toBe(3);
    expect(r.components[1]).toBe(1);
    expect(r.components[4]).toBe(1);
    expect(r.components[5 + 40 + 64]).toBe(2);
    expect(r.components[256]).toBe(3);
    expect(r.sizes).toEqual([10, 8, 8]);
  });

  test('minVoxels drops specks and renumbers keeping raster order', () => {
    const lab = new Uint8Array(512);
    lab[0] = 1; // speck, first in raster order
    cube(lab, [4, 4, 0], 2);
    lab[7 + 7 * 8 + 7 * 64] = 1; // speck
    cube(lab, [0, 4, 5], 3);
    const all = connectedComponents3d(lab, dims);
    expect(all.count).toBe(4);
    const r = connectedComponents3d(lab, dims, { minVoxels: 2 });
    expect(r.count).toBe(2);
    expect(r.sizes).toEqual([8, 27]);
    expect(r.components[0]).toBe(0);
    expect(r.components[7 + 7 * 8 + 7 * 64]).toBe(0);
    expect(r.components[4 + 4 * 8]).toBe(1);
    expect(r.components[0 + 4 * 8 + 5 * 64]).toBe(2);
  });

  test('touching voxels of different classes form one component with the majority class (ties -> smallest)', () => {
    const lab = new Uint8Array(512);
    cube(lab, [0, 0, 0], 2, 3); // 8 voxels of class 3
    lab[2] = 2; // one voxel of class 2 touching it
    cube(lab, [5, 5, 5], 2, 4);
    for (let q = 0; q < 4; q++) lab[5 + 5 * 8 + 5 * 64 + (q & 1) + ((q >> 1) & 1) * 8] = 1; // half of it class 1
    const r = connectedComponents3d(lab, dims);
    expect(r.count).toBe(2);
    expect(r.classes).toEqual([3, 1]);
    expect(connectedComponents3d(lab, dims, { classOf: false }).classes).toEqual([0, 0]);
  });

  test('matches an independent BFS on random volumes, for 6/18/26 connectivity; deterministic', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const d: Vec3 = [23, 17, 11];
    const n = d[0] * d[1] * d[2];
    const lab = new Uint8Array(n);
    for (let p = 0; p < n; p++) lab[p] = rand() < 0.3 ? 1 + Math.floor(rand() * 3) : 0;
    for (const conn of [6, 18, 26] as const) {
      // reference: BFS from each unvisited foreground voxel in raster order
      const ref = new Int32Array(n);
      let count = 0;
      for (let s = 0; s < n; s++) {
        if (!lab[s] || ref[s]) continue;
        ref[s] = ++count;
        const queue = [s];
        while (queue.length) {
          const p = queue.pop()!;
          const i = p % d[0];
          const j = Math.floor(p / d[0]) % d[1];
          const k = Math.floor(p / (d[0] * d[1]));
          for (let dk = -1; dk <= 1; dk++) {
            for (let dj = -1; dj <= 1; dj++) {
              for (let di = -1; di <= 1; di++) {
                const order = Math.abs(di) + Math.abs(dj) + Math.abs(dk);
                if (order === 0 || (conn === 6 && order > 1) || (conn === 18 && order > 2)) continue;
                const [a, b, c] = [i + di, j + dj, k + dk];
                if (a < 0 || b < 0 || c < 0 || a >= d[0] || b >= d[1] || c >= d[2]) continue;
                const q = a + b * d[0] + c * d[0] * d[1];
                if (lab[q] && !ref[q]) {
                  ref[q] = count;
                  queue.push(q);
                }
              }
            }
          }
        }
      }
      const r1 = connectedComponents3d(lab, d, { connectivity: conn });
      const r2 = connectedComponents3d(lab, d, { connectivity: conn });
      expect(r1.count).toBe(count);
      expect(Buffer.from(r1.components.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
      expect(r2).toEqual(r1);
    }
  });
});

describe('determinism', () => {
  test('measureLesions twice on the same input gives identical numbers', () => {
    const dims: Vec3 = [60, 50, 5];
    const lab = raster(dims, (i, j, k) => ((i - 20.3) / 12) ** 2 + ((j - 25.1) / 7) ** 2 + ((k - 2) / 2.2) ** 2 <= 1 || (i > 45 && i < 55 && j > 5 && j < 40 && k === 2));
    const cc = connectedComponents3d(lab, dims);
    const g = { ...grid(dims, [0.7, 0.7, 2]), data: Int16Array.from(lab, (v, p) => (v ? 40 + (p % 7) : -1000)) };
    const r1 = measureLesions(g, cc.components, cc.count, { sliceThicknessMm: 2 });
    const r2 = measureLesions(g, cc.components, cc.count, { sliceThicknessMm: 2 });
    expect(JSON.stringify(r1)).toBe(JSON.stringify(r2));
    expect(r1).toHaveLength(2);
  });

  test('HU read slice by slice (a volume file): the same numbers, and only the slices holding a lesion are read', () => {
    const dims: Vec3 = [60, 50, 9];
    const lab = raster(dims, (i, j, k) => ((i - 20.3) / 12) ** 2 + ((j - 25.1) / 7) ** 2 + ((k - 3) / 2.2) ** 2 <= 1 || (i > 45 && i < 55 && j > 5 && j < 40 && k === 3));
    const cc = connectedComponents3d(lab, dims);
    const data = Float32Array.from(lab, (v, p) => (v ? 40 + (p % 7) * 1.5 : -1000));
    const base = grid(dims, [0.7, 0.7, 2]);
    const want = measureLesions({ ...base, data }, cc.components, cc.count, { sliceThicknessMm: 2 });
    const read = new Set<number>();
    const plane = dims[0] * dims[1];
    const got = measureLesions({ ...base, slice: (k) => (read.add(k), data.slice(k * plane, (k + 1) * plane)) }, cc.components, cc.count, { sliceThicknessMm: 2 });
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
    expect(want[0]!.huSd).toBeGreaterThan(0);
    const lesionSlices = new Set(Array.from(lab.keys()).filter((p) => lab[p]).map((p) => Math.floor(p / plane)));
    expect([...read].sort()).toEqual([...lesionSlices].sort());
    expect(lesionSlices.size).toBeLessThan(dims[2]);
    // a reader that returns the wrong size is refused
    expectInputError(() => measureLesions({ ...base, slice: () => new Float32Array(3) }, cc.components, cc.count, { sliceThicknessMm: 2 }), 'measure.bad-shape');
  });

  test('HU mean and population SD', () => {
    const dims: Vec3 = [10, 10, 1];
    const lab = raster(dims, (i, j) => i >= 2 && i < 6 && j >= 2 && j < 4); // 8 voxels
    const data = new Float32Array(100).fill(-1000);
    const vals = [10, 20, 30, 40, 50, 60, 70, 80];
    let q = 0;
    for (let p = 0; p < 100; p++) if (lab[p]) data[p] = vals[q++];
    const m = measureLesions({ ...grid(dims, [1, 1, 1]), data }, Int32Array.from(lab), 1, { sliceThicknessMm: 1 })[0];
    expect(m.huMean).toBeCloseTo(45, 12);
    expect(m.huSd).toBeCloseTo(Math.sqrt(vals.reduce((s, v) => s + (v - 45) ** 2, 0) / 8), 12);
  });
});

describe('RECIST 1.1 measurability', () => {
  test('thresholds (unit)', () => {
    const r = (longAxisMm: number, shortAxisMm: number, nodal: boolean, sliceThicknessMm: number) =>
      recistMeasurability({ longAxisMm, shortAxisMm, nodal, sliceThicknessMm }).category;
    expect(r(10, 5, false, 5)).toBe('measurable');
    expect(r(9.99, 5, false, 5)).toBe('non-measurable');
    expect(r(13.9, 5, false, 7)).toBe('non-measurable');
    expect(r(14, 5, false, 7)).toBe('measurable');
    expect(r(40, 15, true, 5)).toBe('measurable');
    expect(r(40, 14.99, true, 5)).toBe('non-measurable');
    expect(r(40, 10, true, 5)).toBe('non-measurable');
    expect(r(40, 9.99, true, 5)).toBe('normal-node');
    expect(recistMeasurability({ longAxisMm: 40, shortAxisMm: 9, nodal: true, sliceThicknessMm: 5 }).measurable).toBe(false);
  });

  test('non-nodal strips at 7 mm slices: minimum 14 mm (2 x slice thickness); at 3 mm: 10 mm', () => {
    const dims: Vec3 = [40, 10, 1];
    const strip = (n: number, thick: number) =>
      measureMask(grid(dims, [0.5, 0.5, thick]), raster(dims, (i, j) => j === 4 && i >= 2 && i < 2 + n), thick).measurability;
    expect(strip(28, 7)).toMatchObject({ measurable: true, category: 'measurable' }); // 14.0 mm
    expect(strip(27, 7)).toMatchObject({ measurable: false, category: 'non-measurable' }); // 13.5 mm
    expect(strip(20, 3)).toMatchObject({ measurable: true, category: 'measurable' }); // 10.0 mm
    expect(strip(19, 3)).toMatchObject({ measurable: false, category: 'non-measurable' }); // 9.5 mm
    expect(strip(27, 7).reason).toMatch(/2 x slice thickness/);
  });

  test('nodal discs use the short axis: 20 mm measurable, 12 mm pathological non-measurable, 7 mm normal', () => {
    const s = 0.5;
    const disc = (diam: number) => {
      const dims: Vec3 = [Math.ceil(diam / s) + 8, Math.ceil(diam / s) + 8, 1];
      const c = (dims[0] / 2 + 0.25) * s;
      const m = measureMask(grid(dims, [s, s, 3]), raster(dims, (i, j) => Math.hypot(i * s - c, j * s - c) <= diam / 2), 3, true);
      expect(Math.abs(m.shortAxis.lengthMm - diam)).toBeLessThanOrEqual(s * Math.SQRT2);
      return m.measurability;
    };
    expect(disc(20)).toMatchObject({ measurable: true, category: 'measurable' });
    expect(disc(12)).toMatchObject({ measurable: false, category: 'non-measurable' });
    expect(disc(7)).toMatchObject({ measurable: false, category: 'normal-node' });
  });

  test('nodal callback receives the component id and class', () => {
    const dims: Vec3 = [30, 10, 1];
    const lab = raster(dims, (i, j) => j >= 2 && j < 5 && (i < 5 || (i > 10 && i < 15)));
    for (let p = 0; p < lab.length; p++) if (lab[p] && p % 30 > 10) lab[p] = 2;
    const cc = connectedComponents3d(lab, dims);
    const seen: Array<[number, number]> = [];
    const r = measureLesions(grid(dims, [1, 1, 1]), cc.components, cc.count, {
      sliceThicknessMm: 1, classes: cc.classes, nodal: (c, cls) => (seen.push([c, cls]), cls === 2),
    });
    expect(seen).toEqual([[1, 1], [2, 2]]);
    expect(r.map((m) => [m.cls, m.nodal])).toEqual([[1, false], [2, true]]);
  });
});

describe('bad input', () => {
  const dims: Vec3 = [4, 4, 2];
  const g = grid(dims, [1, 1, 1]);
  test('InputError codes', () => {
    expectInputError(() => measureLesions(g, new Int32Array(32), 0, { sliceThicknessMm: 1 }), 'measure.empty-mask');
    expectInputError(() => measureLesions(g, new Int32Array(32), 1, { sliceThicknessMm: 1 }), 'measure.empty-component');
    expectInputError(() => measureLesions(g, new Int32Array(31), 1, { sliceThicknessMm: 1 }), 'measure.bad-shape');
    const one = new Int32Array(32);
    one[3] = 2;
    expectInputError(() => measureLesions(g, one, 1, { sliceThicknessMm: 1 }), 'measure.bad-labels');
    one[3] = 1;
    for (const bad of [NaN, Infinity, 0, -1]) {
      expectInputError(() => measureLesions(grid(dims, [1, bad, 1], diagAffine(1, 1, 1)), one, 1, { sliceThicknessMm: 1 }), 'measure.bad-spacing');
    }
    expectInputError(() => measureLesions(grid(dims, [1, 1, 1], diagAffine(1, 2, 1)), one, 1, { sliceThicknessMm: 1 }), 'measure.bad-affine');
    expectInputError(() => measureLesions(grid(dims, [1, 1, 1], [1, 0, 0]), one, 1, { sliceThicknessMm: 1 }), 'measure.bad-affine');
    expectInputError(() => measureLesions({ ...g, data: new Int16Array(5) }, one, 1, { sliceThicknessMm: 1 }), 'measure.bad-shape');
    expectInputError(() => measureLesions(g, one, 1, { sliceThicknessMm: NaN }), 'measure.bad-option');
    expectInputError(() => measureLesions(grid([4, 4, 0] as Vec3, [1, 1, 1]), one, 1, { sliceThicknessMm: 1 }), 'measure.bad-shape');
    expectInputError(() => connectedComponents3d(new Uint8Array(31), dims), 'measure.bad-shape');
    expectInputError(() => connectedComponents3d(new Uint8Array(32), [4, 4, 2.5] as Vec3), 'measure.bad-shape');
    expectInputError(() => connectedComponents3d(new Uint8Array(32), dims, { connectivity: 8 as 6 }), 'measure.bad-option');
  });
  test('an empty label volume has no component (not an error)', () => {
    expect(connectedComponents3d(new Uint8Array(32), dims)).toEqual({ components: new Int32Array(32), count: 0, sizes: [], classes: [] });
  });
});
