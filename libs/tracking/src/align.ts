import { InputError, sliceOf } from '@app/core';
import {
  assertRigid,
  eulerFromRigid,
  multiply4,
  rigidFromEuler,
  rotationFromVector,
  type Mat4,
  type Vec3,
} from './rigid';

/** The parts of an `@app/dicom` Volume that alignment needs. */
export interface VolumeLike {
  dims: ArrayLike<number>;
  spacing: ArrayLike<number>;
  /** Row-major 4x4, voxel (i, j, k, 1) -> patient LPS mm. */
  affine: ArrayLike<number>;
  /** The whole volume (x fastest); or `slice`. */
  data?: Int16Array | Float32Array | Uint16Array | Int32Array;
  /** Or slice k (X * Y values) read when asked (a volume file): only the slices of the working grid are read, once. */
  slice?: (k: number) => ArrayLike<number>;
}

export interface AlignRigidOptions {
  /** In-plane sampling step of the working grid (mm). Default 2.5. */
  inPlaneStepMm?: number;
  /** Slice sampling step of the working grid (mm). Default 3. */
  sliceStepMm?: number;
  /** Body threshold (HU): body = HU > bodyHu, largest 2D component per slice, holes filled. Default -500. */
  bodyHu?: number;
  /** Extra internal edge thresholds (HU) inside the body, each its own point class. Default [150] (bone / contrast). */
  edgeThresholdsHu?: number[];
  /** Largest z shift (mm) searched by the area-profile initialisation. Default 80. */
  maxInitShiftMm?: number;
  /** In-plane principal-axis rotation used for initialisation only when within this (deg). Default 15. */
  maxInitRotationDeg?: number;
  /** ICP pair-distance schedule (mm), coarse to fine. Default [20, 12, 8, 5, 3.5]. */
  icpSchedule?: number[];
  /** Most ICP iterations per schedule stage. Default 30. */
  maxIterationsPerStage?: number;
  /** Most moving points used per ICP iteration (deterministic stride subsampling). Default 30000. */
  maxPoints?: number;
}

export interface RigidAlignment {
  /** Row-major 4x4 mapping MOVING patient mm -> FIXED patient mm. */
  matrix: Mat4;
  /** Euler angles (deg) of the rotation part, R = Rz * Ry * Rx (rotations about the patient origin). */
  rotationDeg: Vec3;
  /** Translation part t of p_fixed = R p_moving + t (mm). */
  translationMm: Vec3;
  /** RMS point-to-plane residual of the final ICP inlier pairs (mm). */
  rmsMm: number;
  /** RMS point-to-point distance of the final inlier pairs (mm; includes the working-grid sampling noise). */
  rmsPointMm: number;
  /** Fraction of the moving edge points inside the fixed field of view that found a partner at the last stage. */
  inlierFraction: number;
  /** Number of moving points paired at the last iteration. */
  pairs: number;
  /** Total ICP iterations over all stages. */
  iterations: number;
  /** The transform after initialisation (before ICP), for diagnostics. */
  initialMatrix: Mat4;
  /** z overlap (mm) of the two scan ranges found by the initialisation. */
  zOverlapMm: number;
  method: string;
  warnings: string[];
}

interface EdgeCloud {
  /** xyz interleaved, patient mm. */
  pos: Float64Array;
  /** unit normals interleaved. */
  nrm: Float64Array;
  cls: Uint8Array;
  count: number;
}

interface Prepared {
  n: [number, number, number];
  /** working-grid affine (index -> patient). */
  A: Mat4;
  Ainv: Mat4;
  vals: Float32Array;
  mask: Uint8Array;
  sliceZ: Float64Array;
  sliceArea: Float64Array;
  sliceInner: Float64Array;
  /** per slice: count, sum x, sum y, sum xx, sum yy, sum xy (patient mm, mask voxels). */
  mom: Float64Array;
  voxelAreaMm2: number;
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function invert4(m: readonly number[]): Mat4 {
  // general affine inverse (3x3 + translation)
  const a = m[0], b = m[1], c = m[2], d = m[4], e = m[5], f = m[6], g = m[8], h = m[9], i = m[10];
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) {
    throw new InputError('tracking.bad-affine', 'volume affine is singular');
  }
  const inv = [
    (e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
    (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
    (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det,
  ];
  const t = [m[3], m[7], m[11]];
  return [
    inv[0], inv[1], inv[2], -(inv[0] * t[0] + inv[1] * t[1] + inv[2] * t[2]),
    inv[3], inv[4], inv[5], -(inv[3] * t[0] + inv[4] * t[1] + inv[5] * t[2]),
    inv[6], inv[7], inv[8], -(inv[6] * t[0] + inv[7] * t[1] + inv[8] * t[2]),
    0, 0, 0, 1,
  ];
}

export function validateVolume(v: VolumeLike, what: string): void {
  if (!v || typeof v !== 'object') throw new InputError('tracking.bad-volume', `${what}: not a volume`);
  const arr = (a: unknown): number[] | null =>
    a && typeof a === 'object' && typeof (a as ArrayLike<number>).length === 'number' ? Array.from(a as ArrayLike<number>) : null;
  const dims = arr(v.dims), spacing = arr(v.spacing), affine = arr(v.affine);
  const data = v.data;
  if (!dims || dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw new InputError('tracking.bad-volume', `${what}: dims must be three positive integers`);
  }
  if (dims[0] < 4 || dims[1] < 4 || dims[2] < 2) {
    throw new InputError('tracking.empty-volume', `${what}: volume too small to align`, { dims: [...dims] });
  }
  if (!spacing || spacing.length !== 3 || !spacing.every((s) => finite(s) && s > 0)) {
    throw new InputError('tracking.bad-volume', `${what}: spacing must be three positive numbers`);
  }
  if (!affine || affine.length !== 16 || !affine.every(finite)) {
    throw new InputError('tracking.bad-volume', `${what}: affine must be 16 finite numbers`);
  }
  if (!data && typeof v.slice === 'function') return;
  if (!data || typeof (data as { length?: number }).length !== 'number' || data.length !== dims[0] * dims[1] * dims[2]) {
    throw new InputError('tracking.bad-volume', `${what}: data length does not match dims`, {
      expected: dims[0] * dims[1] * dims[2],
      actual: data ? data.length : null,
    });
  }
}

function prepare(v: VolumeLike, o: Required<AlignRigidOptions>, what: string): Prepared {
  const [dx, dy, dz] = Array.from(v.dims);
  const si = Math.max(1, Math.round(o.inPlaneStepMm / v.spacing[0]));
  const sj = Math.max(1, Math.round(o.inPlaneStepMm / v.spacing[1]));
  const sk = Math.max(1, Math.round(o.sliceStepMm / v.spacing[2]));
  const nx = Math.ceil(dx / si), ny = Math.ceil(dy / sj), nz = Math.ceil(dz / sk);
  const S = [si, 0, 0, 0, 0, sj, 0, 0, 0, 0, sk, 0, 0, 0, 0, 1];
  const A = multiply4(Array.from(v.affine), S);
  const Ainv = invert4(A);
  const nxy = nx * ny;
  const vals = new Float32Array(nxy * nz);
  for (let k = 0; k < nz; k++) {
    // slice k * sk of the volume: a view of `data`, or read from the file
    const src = sliceOf<ArrayLike<number>>(v, k * sk, 'tracking.bad-volume', `${what}: `);
    for (let j = 0; j < ny; j++) {
      const ro = j * sj * dx;
      const wo = k * nxy + j * nx;
      for (let i = 0; i < nx; i++) vals[wo + i] = src[ro + i * si]!;
    }
  }
  // per-slice body mask: largest 4-connected component of HU > bodyHu, holes filled
  const mask = new Uint8Array(nxy * nz);
  const lab = new Int32Array(nxy);
  const queue = new Int32Array(nxy);
  const sliceZ = new Float64Array(nz);
  const sliceArea = new Float64Array(nz);
  const sliceInner = new Float64Array(nz);
  const mom = new Float64Array(nz * 6);
  const voxelAreaMm2 = Math.abs(A[0] * A[5] - A[1] * A[4]) || v.spacing[0] * v.spacing[1] * si * sj;
  const inner = o.edgeThresholdsHu.length ? o.edgeThresholdsHu[0] : Infinity;
  let anyBody = false;
  for (let k = 0; k < nz; k++) {
    const off = k * nxy;
    lab.fill(0);
    let best = 0, bestSize = 0, next = 0;
    for (let p = 0; p < nxy; p++) {
      if (lab[p] !== 0 || !(vals[off + p] > o.bodyHu)) continue;
      next++;
      let head = 0, tail = 0, size = 0;
      queue[tail++] = p;
      lab[p] = next;
      while (head < tail) {
        const q = queue[head++];
        size++;
        const qi = q % nx, qj = (q - qi) / nx;
        for (let e = 0; e < 4; e++) {
          const r = e === 0 ? (qi > 0 ? q - 1 : -1) : e === 1 ? (qi < nx - 1 ? q + 1 : -1) : e === 2 ? (qj > 0 ? q - nx : -1) : qj < ny - 1 ? q + nx : -1;
          if (r >= 0 && lab[r] === 0 && vals[off + r] > o.bodyHu) {
            lab[r] = next;
            queue[tail++] = r;
          }
        }
      }
      if (size > bestSize) {
        bestSize = size;
        best = next;
      }
    }
    if (best === 0) {
      sliceZ[k] = A[8] * (nx - 1) / 2 + A[9] * (ny - 1) / 2 + A[10] * k + A[11];
      continue;
    }
    anyBody = true;
    // flood the outside (everything not in the best component) from the border
    const outside = new Uint8Array(nxy);
    let head = 0, tail = 0;
    const push = (r: number): void => {
      if (lab[r] !== best && outside[r] === 0) {
        outside[r] = 1;
        queue[tail++] = r;
      }
    };
    for (let i = 0; i < nx; i++) {
      push(i);
      push((ny - 1) * nx + i);
    }
    for (let j = 0; j < ny; j++) {
      push(j * nx);
      push(j * nx + nx - 1);
    }
    while (head < tail) {
      const q = queue[head++];
      const qi = q % nx, qj = (q - qi) / nx;
      if (qi > 0) push(q - 1);
      if (qi < nx - 1) push(q + 1);
      if (qj > 0) push(q - nx);
      if (qj < ny - 1) push(q + nx);
    }
    let cnt = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, inn = 0;
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const p = j * nx + i;
        if (outside[p]) continue;
        mask[off + p] = 1;
        if (vals[off + p] > inner) inn++;
        const x = A[0] * i + A[1] * j + A[2] * k + A[3];
        const y = A[4] * i + A[5] * j + A[6] * k + A[7];
        cnt++;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
      }
    }
    mom.set([cnt, sx, sy, sxx, syy, sxy], k * 6);
    sliceArea[k] = cnt * voxelAreaMm2;
    sliceInner[k] = inn * voxelAreaMm2;
    sliceZ[k] = A[8] * (nx - 1) / 2 + A[9] * (ny - 1) / 2 + A[10] * k + A[11];
  }
  if (!anyBody) {
    throw new InputError('tracking.no-body', `${what}: no voxel above ${o.bodyHu} HU (empty or non-CT volume)`);
  }
  return { n: [nx, ny, nz], A, Ainv, vals, mask, sliceZ, sliceArea, sliceInner, mom, voxelAreaMm2 };
}

/** Edge points: sub-sample transitions of the body mask and of each inner threshold, along all three grid axes. */
function edges(P: Prepared, o: Required<AlignRigidOptions>): EdgeCloud {
  const [nx, ny, nz] = P.n;
  const nxy = nx * ny;
  const { vals, mask, A, Ainv } = P;
  const pos: number[] = [];
  const nrm: number[] = [];
  const cls: number[] = [];
  const thresholds = [o.bodyHu, ...o.edgeThresholdsHu];
  const strides = [1, nx, nxy];
  // index-gradient -> patient-gradient: g_p = Ainv_lin^T g_idx
  const L = Ainv;
  const ind = new Uint8Array(nxy * nz);
  for (let c = 0; c < thresholds.length; c++) {
    const T = thresholds[c];
    for (let p = 0; p < ind.length; p++) ind[p] = c === 0 ? mask[p] : mask[p] && vals[p] > T ? 1 : 0;
    const at = (i: number, j: number, k: number): number =>
      ind[(i < 0 ? 0 : i >= nx ? nx - 1 : i) + (j < 0 ? 0 : j >= ny ? ny - 1 : j) * nx + (k < 0 ? 0 : k >= nz ? nz - 1 : k) * nxy];
    const g = [0, 0, 0];
    const grad = (i: number, j: number, k: number): void => {
      for (let a = -1; a <= 1; a++) {
        for (let b = -1; b <= 1; b++) {
          g[0] += at(i + 1, j + a, k + b) - at(i - 1, j + a, k + b);
          g[1] += at(i + a, j + 1, k + b) - at(i + a, j - 1, k + b);
          g[2] += at(i + a, j + b, k + 1) - at(i + a, j + b, k - 1);
        }
      }
    };
    for (let axis = 0; axis < 3; axis++) {
      const st = strides[axis];
      const ei = axis === 0 ? nx - 1 : nx, ej = axis === 1 ? ny - 1 : ny, ek = axis === 2 ? nz - 1 : nz;
      for (let k = 0; k < ek; k++) {
        for (let j = 0; j < ej; j++) {
          let p = k * nxy + j * nx;
          for (let i = 0; i < ei; i++, p++) {
            const q = p + st;
            if (ind[p] === ind[q]) continue;
            if (c > 0 && !(mask[p] && mask[q])) continue;
            const va = vals[p], vb = vals[q];
            let t = 0.5;
            if (va !== vb) {
              const tt = (T - va) / (vb - va);
              if (tt >= 0 && tt <= 1) t = tt;
            }
            const fi = i + (axis === 0 ? t : 0), fj = j + (axis === 1 ? t : 0), fk = k + (axis === 2 ? t : 0);
            g[0] = g[1] = g[2] = 0;
            grad(i, j, k);
            grad(axis === 0 ? i + 1 : i, axis === 1 ? j + 1 : j, axis === 2 ? k + 1 : k);
            const px = L[0] * g[0] + L[4] * g[1] + L[8] * g[2];
            const py = L[1] * g[0] + L[5] * g[1] + L[9] * g[2];
            const pz = L[2] * g[0] + L[6] * g[1] + L[10] * g[2];
            const len = Math.sqrt(px * px + py * py + pz * pz);
            if (!(len > 0)) continue;
            pos.push(
              A[0] * fi + A[1] * fj + A[2] * fk + A[3],
              A[4] * fi + A[5] * fj + A[6] * fk + A[7],
              A[8] * fi + A[9] * fj + A[10] * fk + A[11],
            );
            nrm.push(px / len, py / len, pz / len);
            cls.push(c);
          }
        }
      }
    }
  }
  return { pos: Float64Array.from(pos), nrm: Float64Array.from(nrm), cls: Uint8Array.from(cls), count: cls.length };
}

/** Uniform-grid nearest-neighbour index over one point class. */
class Grid {
  private readonly start: Int32Array;
  private readonly items: Int32Array;
  private readonly g: [number, number, number];
  private readonly lo: [number, number, number];
  constructor(private readonly cloud: EdgeCloud, private readonly cls: number, private readonly cell: number) {
    const ids: number[] = [];
    const lo: [number, number, number] = [Infinity, Infinity, Infinity];
    const hi: [number, number, number] = [-Infinity, -Infinity, -Infinity];
    for (let n = 0; n < cloud.count; n++) {
      if (cloud.cls[n] !== cls) continue;
      ids.push(n);
      for (let d = 0; d < 3; d++) {
        const x = cloud.pos[3 * n + d];
        if (x < lo[d]) lo[d] = x;
        if (x > hi[d]) hi[d] = x;
      }
    }
    if (!ids.length) {
      this.g = [1, 1, 1];
      this.lo = [0, 0, 0];
      this.start = new Int32Array(2);
      this.items = new Int32Array(0);
      return;
    }
    this.lo = lo;
    this.g = [0, 1, 2].map((d) => Math.floor((hi[d] - lo[d]) / cell) + 1) as [number, number, number];
    const ncell = this.g[0] * this.g[1] * this.g[2];
    const cellOf = new Int32Array(ids.length);
    const counts = new Int32Array(ncell + 1);
    ids.forEach((n, m) => {
      const c = this.cellIndex(cloud.pos[3 * n], cloud.pos[3 * n + 1], cloud.pos[3 * n + 2]);
      cellOf[m] = c;
      counts[c + 1]++;
    });
    for (let c = 0; c < ncell; c++) counts[c + 1] += counts[c];
    this.start = counts.slice();
    const fill = counts.slice();
    this.items = new Int32Array(ids.length);
    ids.forEach((n, m) => {
      this.items[fill[cellOf[m]]++] = n;
    });
  }
  private cellIndex(x: number, y: number, z: number): number {
    const i = Math.floor((x - this.lo[0]) / this.cell);
    const j = Math.floor((y - this.lo[1]) / this.cell);
    const k = Math.floor((z - this.lo[2]) / this.cell);
    return (k * this.g[1] + j) * this.g[0] + i;
  }
  /** Index of the nearest point within `maxDist`, or -1. */
  nearest(x: number, y: number, z: number, maxDist: number): number {
    const ci = Math.floor((x - this.lo[0]) / this.cell);
    const cj = Math.floor((y - this.lo[1]) / this.cell);
    const ck = Math.floor((z - this.lo[2]) / this.cell);
    let best = -1, bestD = maxDist * maxDist;
    const pos = this.cloud.pos;
    for (let k = ck - 1; k <= ck + 1; k++) {
      if (k < 0 || k >= this.g[2]) continue;
      for (let j = cj - 1; j <= cj + 1; j++) {
        if (j < 0 || j >= this.g[1]) continue;
        for (let i = ci - 1; i <= ci + 1; i++) {
          if (i < 0 || i >= this.g[0]) continue;
          const c = (k * this.g[1] + j) * this.g[0] + i;
          for (let m = this.start[c]; m < this.start[c + 1]; m++) {
            const n = this.items[m];
            const ex = pos[3 * n] - x, ey = pos[3 * n + 1] - y, ez = pos[3 * n + 2] - z;
            const d = ex * ex + ey * ey + ez * ez;
            if (d < bestD || (d === bestD && n < best)) {
              bestD = d;
              best = n;
            }
          }
        }
      }
    }
    return best;
  }
}

function solve6(M: number[], b: number[]): number[] | null {
  const n = 6;
  const a = M.slice();
  const x = b.slice();
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]) > Math.abs(a[piv * n + c])) piv = r;
    if (Math.abs(a[piv * n + c]) < 1e-12) return null;
    if (piv !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[piv * n + k]] = [a[piv * n + k], a[c * n + k]];
      [x[c], x[piv]] = [x[piv], x[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c] / a[c * n + c];
      for (let k = c; k < n; k++) a[r * n + k] -= f * a[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= a[r * n + k] * x[k];
    x[r] = s / a[r * n + r];
  }
  return x;
}

function interp(zs: Float64Array, vs: Float64Array, z: number): number {
  // zs monotonic (either direction)
  const n = zs.length;
  const asc = zs[n - 1] >= zs[0];
  const f = (m: number): number => (asc ? zs[m] : -zs[m]);
  const t = asc ? z : -z;
  if (t <= f(0)) return vs[0];
  if (t >= f(n - 1)) return vs[n - 1];
  let lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (f(mid) <= t) lo = mid;
    else hi = mid;
  }
  const w = (t - f(lo)) / (f(hi) - f(lo) || 1);
  return vs[lo] * (1 - w) + vs[hi] * w;
}

function initialise(F: Prepared, M: Prepared, o: Required<AlignRigidOptions>): { T: Mat4; overlap: number; warn: string[] } {
  const warn: string[] = [];
  const zr = (P: Prepared): [number, number] => {
    const a = P.sliceZ[0], b = P.sliceZ[P.sliceZ.length - 1];
    return [Math.min(a, b), Math.max(a, b)];
  };
  const [f0, f1] = zr(F);
  const [m0, m1] = zr(M);
  const minOverlap = Math.max(20, 0.3 * Math.min(f1 - f0, m1 - m0));
  const cost = (s: number): number => {
    const lo = Math.max(f0, m0 + s), hi = Math.min(f1, m1 + s);
    if (hi - lo < minOverlap) return Infinity;
    let num = 0, den = 0;
    for (let z = lo; z <= hi; z += 1) {
      const a = interp(F.sliceZ, F.sliceArea, z), b = interp(M.sliceZ, M.sliceArea, z - s);
      const ai = interp(F.sliceZ, F.sliceInner, z), bi = interp(M.sliceZ, M.sliceInner, z - s);
      num += (a - b) ** 2 + 4 * (ai - bi) ** 2;
      den += a * a + b * b + 4 * (ai * ai + bi * bi);
    }
    return den > 0 ? num / den : Infinity;
  };
  let bestS = 0, bestC = Infinity;
  const R = Math.round(o.maxInitShiftMm);
  for (let s = 0; s <= R; s++) {
    for (const sg of s === 0 ? [0] : [s, -s]) {
      const c = cost(sg);
      if (c < bestC - 1e-12) {
        bestC = c;
        bestS = sg;
      }
    }
  }
  if (!Number.isFinite(bestC)) {
    throw new InputError('tracking.no-overlap', 'the two scan ranges cannot overlap within maxInitShiftMm', {
      fixedZ: [f0, f1],
      movingZ: [m0, m1],
    });
  }
  const c0 = cost(bestS - 1), c2 = cost(bestS + 1);
  if (Number.isFinite(c0) && Number.isFinite(c2)) {
    const d = c0 - 2 * bestC + c2;
    if (d > 0) bestS += Math.max(-0.5, Math.min(0.5, (0.5 * (c0 - c2)) / d));
  }
  const lo = Math.max(f0, m0 + bestS), hi = Math.min(f1, m1 + bestS);
  const moments = (P: Prepared, zlo: number, zhi: number): number[] => {
    const s = [0, 0, 0, 0, 0, 0];
    for (let k = 0; k < P.sliceZ.length; k++) {
      if (P.sliceZ[k] < zlo || P.sliceZ[k] > zhi) continue;
      for (let d = 0; d < 6; d++) s[d] += P.mom[k * 6 + d];
    }
    return s;
  };
  const mf = moments(F, lo, hi), mm = moments(M, lo - bestS, hi - bestS);
  if (mf[0] === 0 || mm[0] === 0) throw new InputError('tracking.no-overlap', 'no body in the overlapping scan range');
  const cf = [mf[1] / mf[0], mf[2] / mf[0]], cm = [mm[1] / mm[0], mm[2] / mm[0]];
  const axis = (m: number[], c: number[]): { ang: number; ratio: number } => {
    const sxx = m[3] / m[0] - c[0] * c[0], syy = m[4] / m[0] - c[1] * c[1], sxy = m[5] / m[0] - c[0] * c[1];
    const tr = sxx + syy, det = sxx * syy - sxy * sxy;
    const disc = Math.sqrt(Math.max(0, (tr * tr) / 4 - det));
    const l1 = tr / 2 + disc, l2 = tr / 2 - disc;
    return { ang: 0.5 * Math.atan2(2 * sxy, sxx - syy), ratio: l2 > 0 ? l1 / l2 : Infinity };
  };
  const af = axis(mf, cf), am = axis(mm, cm);
  let dAng = ((af.ang - am.ang) * 180) / Math.PI;
  while (dAng > 90) dAng -= 180;
  while (dAng <= -90) dAng += 180;
  if (!(af.ratio > 1.15 && am.ratio > 1.15 && Math.abs(dAng) <= o.maxInitRotationDeg)) {
    if (Math.abs(dAng) > o.maxInitRotationDeg && af.ratio > 1.15) warn.push(`in-plane principal axes differ by ${dAng.toFixed(1)} deg; initialised without rotation`);
    dAng = 0;
  }
  const zc = (lo + hi) / 2;
  const rot = rigidFromEuler([0, 0, dAng], [0, 0, 0]);
  const toOrigin = [1, 0, 0, -cm[0], 0, 1, 0, -cm[1], 0, 0, 1, -(zc - bestS), 0, 0, 0, 1];
  const back = [1, 0, 0, cf[0], 0, 1, 0, cf[1], 0, 0, 1, zc, 0, 0, 0, 1];
  return { T: multiply4(back, multiply4(rot, toOrigin)), overlap: hi - lo, warn };
}

const DEFAULTS: Required<AlignRigidOptions> = {
  inPlaneStepMm: 2.5,
  sliceStepMm: 3,
  bodyHu: -500,
  edgeThresholdsHu: [150],
  maxInitShiftMm: 80,
  maxInitRotationDeg: 15,
  icpSchedule: [20, 12, 8, 5, 3.5],
  maxIterationsPerStage: 30,
  maxPoints: 30000,
};

/**
 * Rigid alignment of the body in two CT volumes. Returns the matrix mapping MOVING patient mm to FIXED
 * patient mm. Deterministic (no randomness, fixed iteration order). See the README for the method.
 */
export function alignRigid(fixed: VolumeLike, moving: VolumeLike, opts: AlignRigidOptions = {}): RigidAlignment {
  validateVolume(fixed, 'fixed');
  validateVolume(moving, 'moving');
  const o: Required<AlignRigidOptions> = { ...DEFAULTS, ...opts };
  for (const k of ['inPlaneStepMm', 'sliceStepMm', 'maxInitShiftMm', 'maxIterationsPerStage', 'maxPoints'] as const) {
    if (!finite(o[k]) || o[k] <= 0) throw new InputError('tracking.bad-option', `${k} must be a positive number`);
  }
  if (!o.icpSchedule.length || !o.icpSchedule.every((d) => finite(d) && d > 0)) {
    throw new InputError('tracking.bad-option', 'icpSchedule must be positive distances');
  }
  const F = prepare(fixed, o, 'fixed');
  const M = prepare(moving, o, 'moving');
  const fe = edges(F, o);
  const me = edges(M, o);
  const init = initialise(F, M, o);
  const warnings = [...init.warn];
  let T = init.T;
  const nClasses = 1 + o.edgeThresholdsHu.length;
  const stride = Math.max(1, Math.ceil(me.count / o.maxPoints));
  const [fnx, fny, fnz] = F.n;
  const Fi = F.Ainv;
  // linearisation centre: centre of the fixed working grid
  const c0 = [
    F.A[0] * (fnx - 1) / 2 + F.A[1] * (fny - 1) / 2 + F.A[2] * (fnz - 1) / 2 + F.A[3],
    F.A[4] * (fnx - 1) / 2 + F.A[5] * (fny - 1) / 2 + F.A[6] * (fnz - 1) / 2 + F.A[7],
    F.A[8] * (fnx - 1) / 2 + F.A[9] * (fny - 1) / 2 + F.A[10] * (fnz - 1) / 2 + F.A[11],
  ];
  let iterations = 0, rms = NaN, rmsPoint = NaN, pairs = 0, inlierFraction = 0;
  for (const dmax of o.icpSchedule) {
    const grids = Array.from({ length: nClasses }, (_, c) => new Grid(fe, c, Math.max(dmax, 2)));
    const huber = Math.max(1, dmax / 4);
    for (let it = 0; it < o.maxIterationsPerStage; it++) {
      iterations++;
      const H = new Array<number>(36).fill(0);
      const g = new Array<number>(6).fill(0);
      let n = 0, inFov = 0, ss = 0, sp = 0;
      const st = dmax >= 8 ? stride * 4 : stride;
      for (let m = 0; m < me.count; m += st) {
        const x0 = me.pos[3 * m], y0 = me.pos[3 * m + 1], z0 = me.pos[3 * m + 2];
        const x = T[0] * x0 + T[1] * y0 + T[2] * z0 + T[3];
        const y = T[4] * x0 + T[5] * y0 + T[6] * z0 + T[7];
        const z = T[8] * x0 + T[9] * y0 + T[10] * z0 + T[11];
        // inside the fixed field of view, away from its scan-range caps by half a working slice
        const fi = Fi[0] * x + Fi[1] * y + Fi[2] * z + Fi[3];
        const fj = Fi[4] * x + Fi[5] * y + Fi[6] * z + Fi[7];
        const fk = Fi[8] * x + Fi[9] * y + Fi[10] * z + Fi[11];
        if (fi < 0.5 || fj < 0.5 || fk < 0.5 || fi > fnx - 1.5 || fj > fny - 1.5 || fk > fnz - 1.5) continue;
        inFov++;
        const q = grids[me.cls[m]].nearest(x, y, z, dmax);
        if (q < 0) continue;
        const u0 = me.nrm[3 * m], u1 = me.nrm[3 * m + 1], u2 = me.nrm[3 * m + 2];
        const nmx = T[0] * u0 + T[1] * u1 + T[2] * u2;
        const nmy = T[4] * u0 + T[5] * u1 + T[6] * u2;
        const nmz = T[8] * u0 + T[9] * u1 + T[10] * u2;
        const nx = fe.nrm[3 * q], ny = fe.nrm[3 * q + 1], nz = fe.nrm[3 * q + 2];
        if (nmx * nx + nmy * ny + nmz * nz < 0.5) continue;
        const ex = x - fe.pos[3 * q], ey = y - fe.pos[3 * q + 1], ez = z - fe.pos[3 * q + 2];
        const r = ex * nx + ey * ny + ez * nz;
        const w = Math.abs(r) <= huber ? 1 : huber / Math.abs(r);
        const px = x - c0[0], py = y - c0[1], pz = z - c0[2];
        const a = [py * nz - pz * ny, pz * nx - px * nz, px * ny - py * nx, nx, ny, nz];
        for (let r1 = 0; r1 < 6; r1++) {
          g[r1] -= w * r * a[r1];
          for (let r2 = r1; r2 < 6; r2++) H[r1 * 6 + r2] += w * a[r1] * a[r2];
        }
        n++;
        ss += r * r;
        sp += ex * ex + ey * ey + ez * ez;
      }
      pairs = n;
      inlierFraction = inFov ? n / inFov : 0;
      rms = n ? Math.sqrt(ss / n) : NaN;
      rmsPoint = n ? Math.sqrt(sp / n) : NaN;
      if (n < 30) {
        throw new InputError('tracking.align-failed', 'too few corresponding body edge points between the volumes', {
          pairs: n,
          stageMm: dmax,
        });
      }
      for (let r1 = 0; r1 < 6; r1++) for (let r2 = 0; r2 < r1; r2++) H[r1 * 6 + r2] = H[r2 * 6 + r1];
      let tr = 0;
      for (let d = 0; d < 6; d++) tr += H[d * 7];
      for (let d = 0; d < 6; d++) H[d * 7] += 1e-9 * tr;
      const x = solve6(H, g);
      if (!x) {
        warnings.push('degenerate ICP system; stopped early');
        break;
      }
      const Rd = rotationFromVector([x[0], x[1], x[2]]);
      const Rc = [Rd[0] * c0[0] + Rd[1] * c0[1] + Rd[2] * c0[2], Rd[3] * c0[0] + Rd[4] * c0[1] + Rd[5] * c0[2], Rd[6] * c0[0] + Rd[7] * c0[1] + Rd[8] * c0[2]];
      const D = [
        Rd[0], Rd[1], Rd[2], c0[0] - Rc[0] + x[3],
        Rd[3], Rd[4], Rd[5], c0[1] - Rc[1] + x[4],
        Rd[6], Rd[7], Rd[8], c0[2] - Rc[2] + x[5],
        0, 0, 0, 1,
      ];
      T = multiply4(D, T);
      const rotStep = Math.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
      const trStep = Math.sqrt(x[3] * x[3] + x[4] * x[4] + x[5] * x[5]);
      if (rotStep < 5e-5 && trStep < 0.01) break;
    }
  }
  assertRigid(T, 'alignment result', 1e-6);
  if (inlierFraction < 0.5) warnings.push(`only ${(100 * inlierFraction).toFixed(0)} % of moving edge points paired; check the result`);
  return {
    matrix: T,
    rotationDeg: eulerFromRigid(T),
    translationMm: [T[3], T[7], T[11]],
    rmsMm: rms,
    rmsPointMm: rmsPoint,
    inlierFraction,
    pairs,
    iterations,
    initialMatrix: init.T,
    zOverlapMm: init.overlap,
    method:
      'body mask (HU > bodyHu, largest component per slice, holes filled) on a ~2.5x2.5x3 mm grid; init: z shift from body/bone area profiles + in-plane mask centroid and principal axis; refine: multi-stage Huber-weighted point-to-plane ICP on sub-voxel body and bone edge points (uniform-grid nearest neighbour, normal-compatibility check, fixed field-of-view trimming)',
    warnings,
  };
}
