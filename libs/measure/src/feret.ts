/** 3D Feret (maximum caliper) diameter of a cropped component mask (internal). */
import { LENGTH_EPS_MM, type Geometry } from './validate';

/** Components with at most this many voxels use every voxel as a Feret end candidate. */
export const FERET_ALL_VOXELS_MAX = 3000;

export interface FeretPair {
  /** End voxels as crop raster indices (x + y*bx + z*bx*by), a1 <= a2; equal for a single voxel. */
  a1: number;
  a2: number;
  lengthMm: number;
  /** For a single voxel: the axis (0 = i, 1 = j, 2 = k) the length is taken along. */
  axis?: 0 | 1 | 2;
}

/**
 * Edge-to-edge 3D Feret diameter: max over candidate voxel pairs of |w| + |u.ci| + |u.cj| + |u.ck|
 * (w = centre difference in mm, u = w/|w|). Candidates: every voxel for small components, else the voxels
 * that are first or last set voxel of their i-row AND of their j-column AND of their k-pillar (a superset of
 * the convex-hull vertices of the voxel centres). Ties within LENGTH_EPS_MM: smallest (a1, a2) raster pair.
 */
export function feret3d(mask: Uint8Array, bx: number, by: number, bz: number, voxelCount: number, g: Geometry): FeretPair {
  const bxy = bx * by;
  let cand: number[];
  if (voxelCount <= FERET_ALL_VOXELS_MAX) {
    cand = [];
    for (let p = 0; p < mask.length; p++) if (mask[p]) cand.push(p);
  } else {
    const flags = new Uint8Array(mask.length);
    for (let z = 0; z < bz; z++) {
      for (let y = 0; y < by; y++) {
        const row = z * bxy + y * bx;
        let first = -1;
        let last = -1;
        for (let x = 0; x < bx; x++) {
          if (mask[row + x]) {
            if (first < 0) first = x;
            last = x;
          }
        }
        if (first >= 0) {
          flags[row + first] |= 1;
          flags[row + last] |= 1;
        }
      }
      for (let x = 0; x < bx; x++) {
        let first = -1;
        let last = -1;
        for (let y = 0; y < by; y++) {
          if (mask[z * bxy + y * bx + x]) {
            if (first < 0) first = y;
            last = y;
          }
        }
        if (first >= 0) {
          flags[z * bxy + first * bx + x] |= 2;
          flags[z * bxy + last * bx + x] |= 2;
        }
      }
    }
    for (let p = 0; p < bxy; p++) {
      let first = -1;
      let last = -1;
      for (let z = 0; z < bz; z++) {
        if (mask[z * bxy + p]) {
          if (first < 0) first = z;
          last = z;
        }
      }
      if (first >= 0) {
        flags[first * bxy + p] |= 4;
        flags[last * bxy + p] |= 4;
      }
    }
    cand = [];
    for (let p = 0; p < flags.length; p++) if (flags[p] === 7) cand.push(p);
  }
  const n = cand.length;
  const si = Math.sqrt(g.gii);
  const sj = Math.sqrt(g.gjj);
  const sk = Math.sqrt(g.gkk);
  if (n === 1) {
    const axis: 0 | 1 | 2 = si >= sj && si >= sk ? 0 : sj >= sk ? 1 : 2;
    return { a1: cand[0], a2: cand[0], lengthMm: Math.max(si, sj, sk), axis };
  }
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  const zs = new Float64Array(n);
  for (let a = 0; a < n; a++) {
    const p = cand[a];
    zs[a] = Math.floor(p / bxy);
    ys[a] = Math.floor((p - zs[a] * bxy) / bx);
    xs[a] = p - zs[a] * bxy - ys[a] * bx;
  }
  const extMax = si + sj + sk;
  const { gii, gjj, gkk, gij, gik, gjk } = g;
  let best = -Infinity;
  let b1 = 0;
  let b2 = 0;
  let skip2 = -1; // pairs with d^2 below this cannot reach best - EPS
  for (let a = 0; a < n; a++) {
    const xa = xs[a];
    const ya = ys[a];
    const za = zs[a];
    for (let b = a + 1; b < n; b++) {
      const dx = xs[b] - xa;
      const dy = ys[b] - ya;
      const dz = zs[b] - za;
      const gx = gii * dx + gij * dy + gik * dz;
      const gy = gij * dx + gjj * dy + gjk * dz;
      const gz = gik * dx + gjk * dy + gkk * dz;
      const d2 = dx * gx + dy * gy + dz * gz;
      if (d2 < skip2) continue;
      const d = Math.sqrt(d2);
      const l = d + (Math.abs(gx) + Math.abs(gy) + Math.abs(gz)) / d;
      if (l > best + LENGTH_EPS_MM) {
        best = l;
        b1 = a;
        b2 = b;
        const t = best - LENGTH_EPS_MM - extMax;
        skip2 = t > 0 ? t * t * (1 - 1e-12) : -1;
      }
    }
  }
  return { a1: cand[b1], a2: cand[b2], lengthMm: best };
}
