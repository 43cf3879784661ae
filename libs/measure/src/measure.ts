import { InputError, sliceOf } from '@app/core';
import { longestChord, perpendicularChord, segmentPixels, sliceCandidates, sliceLengthBound, type Gram2 } from './chords';
import { feret3d } from './feret';
import { recistMeasurability } from './recist';
import type {
  AxisMeasurement, FeretMeasurement, LesionMeasurement, MeasureGrid, MeasureOptions, ShortAxisMeasurement, Vec3,
} from './types';
import { LENGTH_EPS_MM, checkDims, checkGeometry, checkLength, toMm, type Geometry } from './validate';

type V3 = [number, number, number];
const dot3 = (a: V3, b: V3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub3 = (a: V3, b: V3): V3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const scale3 = (a: V3, s: number): V3 => [a[0] * s, a[1] * s, a[2] * s];
const add3 = (a: V3, b: V3): V3 => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const norm3 = (a: V3): number => Math.sqrt(dot3(a, a));
const cross3 = (a: V3, b: V3): V3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const unit3 = (a: V3): V3 => scale3(a, 1 / norm3(a));

/**
 * A chord between voxel centres c1 and c2 (ijk) measured edge to edge: returns the end points pushed out by half
 * the voxel extent projected on the direction. `dirIfSingle` gives the direction when c1 = c2.
 */
function chordEnds(g: Geometry, c1: Vec3, c2: Vec3, cols: V3[], dirIfSingle?: V3): { p1Mm: Vec3; p2Mm: Vec3; u: V3; centre: number; ext: number } {
  const m1 = toMm(g, c1[0], c1[1], c1[2]);
  const m2 = toMm(g, c2[0], c2[1], c2[2]);
  const w = sub3(m2, m1);
  const centre = norm3(w);
  const u = centre > 0 ? scale3(w, 1 / centre) : dirIfSingle!;
  let ext = 0;
  for (const c of cols) ext += Math.abs(dot3(u, c));
  return { p1Mm: add3(m1, scale3(u, -ext / 2)), p2Mm: add3(m2, scale3(u, ext / 2)), u, centre, ext };
}

/**
 * Measures every component 1..count of `components` (same grid as `grid`), as a RECIST 1.1 reader would.
 * See the README for the length convention, tie-breaking and limits. Deterministic.
 *
 * Throws InputError: measure.bad-shape (dims / lengths), measure.bad-spacing, measure.bad-affine,
 * measure.bad-option, measure.bad-labels (ids outside 0..count), measure.empty-mask (no component at all:
 * callers should treat "no lesion" before calling), measure.empty-component (an id in 1..count without voxels).
 */
export function measureLesions(grid: MeasureGrid, components: Int32Array, count: number, opts: MeasureOptions): LesionMeasurement[] {
  const { nx, ny, nz, n } = checkDims(grid?.dims);
  const g = checkGeometry(grid.spacing, grid.affine);
  if (!(components instanceof Int32Array)) throw new InputError('measure.bad-shape', 'components must be an Int32Array');
  checkLength(components.length, n, 'components', [nx, ny, nz]);
  // HU from the whole array or read slice by slice (grid.slice: a volume file); none: no HU statistics
  if (grid.data !== undefined) checkLength(grid.data.length, n, 'data', [nx, ny, nz]);
  const hasHu = grid.data !== undefined || typeof grid.slice === 'function';
  const huSlice = (k: number) => sliceOf(grid, k, 'measure.bad-shape');
  if (!Number.isSafeInteger(count) || count < 0) throw new InputError('measure.bad-option', `count must be an integer >= 0, got ${count}`);
  if (!opts || !Number.isFinite(opts.sliceThicknessMm) || opts.sliceThicknessMm <= 0) {
    throw new InputError('measure.bad-option', `sliceThicknessMm must be a finite positive number, got ${opts?.sliceThicknessMm}`);
  }
  if (opts.classes !== undefined && opts.classes.length < count) {
    throw new InputError('measure.bad-option', `classes has ${opts.classes.length} entries for ${count} components`);
  }

  // Pass over the volume: counts, index sums, bounding boxes, HU sums.
  const nv = new Float64Array(count + 1);
  const si = new Float64Array(count + 1);
  const sj = new Float64Array(count + 1);
  const sk = new Float64Array(count + 1);
  const lo = new Int32Array((count + 1) * 3).fill(2 ** 31 - 1);
  const hi = new Int32Array((count + 1) * 3).fill(-1);
  const hs = new Float64Array(count + 1);
  const hn = new Float64Array(count + 1);
  const nxy0 = nx * ny;
  let hu: ArrayLike<number> | null = null;
  let huK = -1;
  for (let idx = 0; idx < n; idx++) {
    const c = components[idx];
    if (c === 0) continue;
    const k = Math.floor(idx / nxy0);
    const rem = idx - k * nxy0;
    const j = Math.floor(rem / nx);
    const i = rem - j * nx;
    if (c < 0 || c > count) {
      throw new InputError('measure.bad-labels', `components holds id ${c} at voxel (${i}, ${j}, ${k}), outside 0..${count}`, { id: c, count });
    }
    nv[c]++;
    si[c] += i;
    sj[c] += j;
    sk[c] += k;
    const b = c * 3;
    if (i < lo[b]) lo[b] = i;
    if (i > hi[b]) hi[b] = i;
    if (j < lo[b + 1]) lo[b + 1] = j;
    if (j > hi[b + 1]) hi[b + 1] = j;
    if (k < lo[b + 2]) lo[b + 2] = k;
    if (k > hi[b + 2]) hi[b + 2] = k;
    if (hasHu) {
      if (huK !== k) (hu = huSlice(k)), (huK = k); // only slices that hold a lesion are read
      const v = hu![rem]!;
      if (Number.isFinite(v)) {
        hs[c] += v;
        hn[c]++;
      }
    }
  }
  if (count === 0) throw new InputError('measure.empty-mask', 'The mask has no component to measure (count is 0)');
  for (let c = 1; c <= count; c++) {
    if (nv[c] === 0) throw new InputError('measure.empty-component', `Component ${c} of ${count} has no voxel`, { component: c, count });
  }

  const g2: Gram2 = { gii: g.gii, gjj: g.gjj, gij: g.gij, si: Math.sqrt(g.gii), sj: Math.sqrt(g.gjj) };
  const planeCols: V3[] = [g.ci, g.cj];
  const allCols: V3[] = [g.ci, g.cj, g.ck];
  const planeNormal = unit3(cross3(g.ci, g.cj));
  const nxy = nx * ny;
  const out: LesionMeasurement[] = [];

  for (let c = 1; c <= count; c++) {
    const b = c * 3;
    const [i0, j0, k0] = [lo[b], lo[b + 1], lo[b + 2]];
    const bx = hi[b] - i0 + 1;
    const by = hi[b + 1] - j0 + 1;
    const bz = hi[b + 2] - k0 + 1;
    const bxy = bx * by;
    const mask = new Uint8Array(bxy * bz);
    const slicePixels = new Int32Array(bz);
    const huMean = hn[c] > 0 ? hs[c] / hn[c] : undefined;
    let ss = 0;
    for (let z = 0; z < bz; z++) {
      const zs = huMean !== undefined ? huSlice(k0 + z) : null;
      for (let y = 0; y < by; y++) {
        const gBase = (k0 + z) * nxy + (j0 + y) * nx + i0;
        const sBase = (j0 + y) * nx + i0;
        const lBase = z * bxy + y * bx;
        for (let x = 0; x < bx; x++) {
          if (components[gBase + x] !== c) continue;
          mask[lBase + x] = 1;
          slicePixels[z]++;
          if (zs) {
            const v = zs[sBase + x]!;
            if (Number.isFinite(v)) ss += (v - huMean!) * (v - huMean!);
          }
        }
      }
    }

    // Long axis: slices by decreasing upper bound (hull diameter + pixel extent), then by k.
    const bound = new Float64Array(bz).fill(-Infinity);
    const zs: number[] = [];
    for (let z = 0; z < bz; z++) {
      if (slicePixels[z] === 0) continue;
      bound[z] = sliceLengthBound(mask, z * bxy, bx, by, g2);
      zs.push(z);
    }
    zs.sort((p, q) => bound[q] - bound[p] || p - q);
    let best: { z: number; r1: number; r2: number; lengthMm: number; cands: Int32Array } | null = null;
    for (const z of zs) {
      if (best && bound[z] < best.lengthMm - LENGTH_EPS_MM) break;
      const cands = sliceCandidates(mask, z * bxy, bx, by, slicePixels[z]);
      const r = longestChord(mask, z * bxy, bx, cands, g2, best ? best.lengthMm - LENGTH_EPS_MM : -Infinity);
      if (!r) continue;
      if (!best || r.lengthMm > best.lengthMm + LENGTH_EPS_MM || (Math.abs(r.lengthMm - best.lengthMm) <= LENGTH_EPS_MM && z < best.z)) {
        best = { z, r1: r.r1, r2: r.r2, lengthMm: r.lengthMm, cands };
      }
    }
    const L = best!;
    const kG = k0 + L.z;
    const x1 = L.r1 % bx;
    const y1 = (L.r1 - x1) / bx;
    const x2 = L.r2 % bx;
    const y2 = (L.r2 - x2) / bx;
    const p1Ijk: Vec3 = [i0 + x1, j0 + y1, kG];
    const p2Ijk: Vec3 = [i0 + x2, j0 + y2, kG];
    const singleDir: V3 = g2.si >= g2.sj ? unit3(g.ci) : unit3(g.cj);
    const le = chordEnds(g, p1Ijk, p2Ijk, planeCols, singleDir);
    const longAxis: AxisMeasurement = {
      lengthMm: L.lengthMm, centreLengthMm: le.centre, k: kG, p1Ijk, p2Ijk, p1Mm: le.p1Mm, p2Mm: le.p2Mm, directionMm: le.u,
    };

    // Short axis on the same slice.
    let shortAxis: ShortAxisMeasurement;
    const pc = perpendicularChord(mask, L.z * bxy, bx, L.cands, g2, x1, y1, x2, y2);
    if (pc) {
      const xa = pc.r1 % bx;
      const ya = (pc.r1 - xa) / bx;
      const xb = pc.r2 % bx;
      const yb = (pc.r2 - xb) / bx;
      const a: Vec3 = [i0 + xa, j0 + ya, kG];
      const bb: Vec3 = [i0 + xb, j0 + yb, kG];
      const se = chordEnds(g, a, bb, planeCols);
      shortAxis = {
        lengthMm: pc.lengthMm, centreLengthMm: se.centre, k: kG, p1Ijk: a, p2Ijk: bb, p1Mm: se.p1Mm, p2Mm: se.p2Mm,
        directionMm: se.u, angleToLongAxisDeg: 90 - pc.deviationDeg, toleranceDeg: pc.toleranceDeg, singleVoxel: false,
      };
    } else {
      // No two-voxel chord: the extent, perpendicular to the long axis, of the middle voxel of the long axis.
      const px = segmentPixels(bx, x1, y1, x2, y2);
      const r = px[(px.length - 1) >> 1];
      const xm = r % bx;
      const ym = (r - xm) / bx;
      const v = unit3(cross3(planeNormal, le.u));
      const m: Vec3 = [i0 + xm, j0 + ym, kG];
      const se = chordEnds(g, m, m, planeCols, v);
      shortAxis = {
        lengthMm: se.ext, centreLengthMm: 0, k: kG, p1Ijk: m, p2Ijk: [...m], p1Mm: se.p1Mm, p2Mm: se.p2Mm,
        directionMm: v, angleToLongAxisDeg: 90, toleranceDeg: 0, singleVoxel: true,
      };
    }

    // Feret.
    const f = feret3d(mask, bx, by, bz, nv[c], g);
    const fIjk = (a: number): Vec3 => {
      const z = Math.floor(a / bxy);
      const y = Math.floor((a - z * bxy) / bx);
      return [i0 + a - z * bxy - y * bx, j0 + y, k0 + z];
    };
    const f1 = fIjk(f.a1);
    const f2 = fIjk(f.a2);
    const fe = chordEnds(g, f1, f2, allCols, f.axis !== undefined ? unit3(allCols[f.axis]) : undefined);
    const feret: FeretMeasurement = {
      lengthMm: f.lengthMm, centreLengthMm: fe.centre, p1Ijk: f1, p2Ijk: f2, p1Mm: fe.p1Mm, p2Mm: fe.p2Mm, directionMm: fe.u,
    };

    const cls = opts.classes ? opts.classes[c - 1] : 0;
    const nodal = opts.nodal ? !!opts.nodal(c, cls) : false;
    const centroidIjk: Vec3 = [si[c] / nv[c], sj[c] / nv[c], sk[c] / nv[c]];
    const m: LesionMeasurement = {
      component: c,
      cls,
      nodal,
      voxelCount: nv[c],
      volumeMm3: nv[c] * g.voxelVolume,
      centroidIjk,
      centroidMm: toMm(g, centroidIjk[0], centroidIjk[1], centroidIjk[2]),
      bbox: { min: [i0, j0, k0], max: [hi[b], hi[b + 1], hi[b + 2]] },
      longAxis,
      shortAxis,
      feret,
      feretMm: feret.lengthMm,
      measurability: recistMeasurability({
        longAxisMm: longAxis.lengthMm, shortAxisMm: shortAxis.lengthMm, nodal, sliceThicknessMm: opts.sliceThicknessMm,
      }),
    };
    if (huMean !== undefined) {
      m.huMean = huMean;
      m.huSd = Math.sqrt(ss / hn[c]);
    }
    out.push(m);
  }
  return out;
}
