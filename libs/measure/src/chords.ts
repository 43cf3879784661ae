/**
 * In-plane chords on one slice of a cropped component mask (internal).
 *
 * Pixels are addressed by their raster index r = x + y*bx inside the crop slice; ordering by r is the
 * same as ordering by the volume's raster index on that slice. All geometry is in index space (exact,
 * integer) except lengths and angles, which use the in-plane Gram matrix of the affine columns.
 */
import { LENGTH_EPS_MM } from './validate';

/** In-plane metric: g.. = c_a . c_b for the affine columns ci (per i step) and cj (per j step). */
export interface Gram2 {
  gii: number;
  gjj: number;
  gij: number;
  /** |ci|, |cj| in mm. */
  si: number;
  sj: number;
}

export interface Chord {
  /** End pixels (raster index in the crop slice); r1 <= r2, equal for a single-pixel chord. */
  r1: number;
  r2: number;
  /** Edge-to-edge length (mm). */
  lengthMm: number;
}

export interface PerpChord extends Chord {
  /** |90 deg - angle to the long axis|, degrees. */
  deviationDeg: number;
  toleranceDeg: number;
}

/** Slices with at most this many pixels use every pixel as a chord end; larger ones use boundary pixels. */
export const ALL_PIXELS_MAX = 400;

/** Edge-to-edge length of the chord (dx, dy) index steps: |w| + |u.ci| + |u.cj|, u = w/|w|. dx, dy not both 0. */
export function chordLength(g: Gram2, dx: number, dy: number): number {
  const d = Math.sqrt(dx * dx * g.gii + 2 * dx * dy * g.gij + dy * dy * g.gjj);
  return d + (Math.abs(dx * g.gii + dy * g.gij) + Math.abs(dx * g.gij + dy * g.gjj)) / d;
}

/**
 * Walks the pixels the segment between the centres of pixels (x0, y0) and (x1, y1) crosses, after the first, in
 * order: exact integer grid traversal; passing exactly through a pixel corner goes diagonally (the two side pixels
 * are only touched at that corner point, consistent with 8-connectivity). Stops, returning false, as soon as
 * `visit` (given the raster index x + y * bx) returns false.
 */
function walkSegment(bx: number, x0: number, y0: number, x1: number, y1: number, visit: (index: number) => boolean): boolean {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const sx = dx > 0 ? 1 : -1;
  const sy = dy > 0 ? 1 : -1;
  const ax = Math.abs(dx);
  const ay = Math.abs(dy);
  let x = x0;
  let y = y0;
  let cx = 0;
  let cy = 0;
  while (cx < ax || cy < ay) {
    // next x-boundary at t = (2cx+1)/(2ax), next y-boundary at t = (2cy+1)/(2ay)
    const tx = cx < ax ? (2 * cx + 1) * ay : Infinity;
    const ty = cy < ay ? (2 * cy + 1) * ax : Infinity;
    if (ay === 0 || tx < ty) {
      x += sx;
      cx++;
    } else if (ax === 0 || ty < tx) {
      y += sy;
      cy++;
    } else {
      x += sx;
      y += sy;
      cx++;
      cy++;
    }
    if (!visit(x + y * bx)) return false;
  }
  return true;
}

/** Whether the segment between two pixel centres stays inside the union of the mask's pixel squares (see walkSegment). */
export function segmentInside(mask: Uint8Array, base: number, bx: number, x0: number, y0: number, x1: number, y1: number): boolean {
  return walkSegment(bx, x0, y0, x1, y1, (i) => mask[base + i] !== 0);
}

/** Pixels the segment p1-p2 crosses, in order from p1 (raster indices). */
export function segmentPixels(bx: number, x0: number, y0: number, x1: number, y1: number): number[] {
  const out = [x0 + y0 * bx];
  walkSegment(bx, x0, y0, x1, y1, (i) => {
    out.push(i);
    return true;
  });
  return out;
}

/**
 * Chord end candidates of one crop slice, in raster order: every set pixel when the slice has at most
 * ALL_PIXELS_MAX of them, else the boundary pixels (set pixels with an 8-neighbour unset or outside the crop).
 */
export function sliceCandidates(mask: Uint8Array, base: number, bx: number, by: number, pixelCount: number): Int32Array {
  const all = pixelCount <= ALL_PIXELS_MAX;
  const out: number[] = [];
  for (let y = 0; y < by; y++) {
    for (let x = 0; x < bx; x++) {
      const r = x + y * bx;
      if (mask[base + r] === 0) continue;
      if (all || x === 0 || y === 0 || x === bx - 1 || y === by - 1) {
        out.push(r);
        continue;
      }
      const p = base + r;
      if (
        mask[p - 1] === 0 || mask[p + 1] === 0 || mask[p - bx] === 0 || mask[p + bx] === 0 ||
        mask[p - bx - 1] === 0 || mask[p - bx + 1] === 0 || mask[p + bx - 1] === 0 || mask[p + bx + 1] === 0
      ) {
        out.push(r);
      }
    }
  }
  return Int32Array.from(out);
}

/**
 * Upper bound (mm) of the edge-to-edge length of any chord of the slice: the diameter of the set pixel
 * centres (over the convex hull of the row extremes) + the largest projected pixel extent max|ci +- cj|.
 */
export function sliceLengthBound(mask: Uint8Array, base: number, bx: number, by: number, g: Gram2): number {
  const px: number[] = [];
  const py: number[] = [];
  for (let y = 0; y < by; y++) {
    const row = base + y * bx;
    let first = -1;
    let last = -1;
    for (let x = 0; x < bx; x++) {
      if (mask[row + x]) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    px.push(first);
    py.push(y);
    if (last !== first) {
      px.push(last);
      py.push(y);
    }
  }
  const extBound = Math.sqrt(g.gii + g.gjj + 2 * Math.abs(g.gij));
  if (px.length === 0) return -Infinity;
  // Andrew's monotone chain on points sorted by (x, y).
  const idx = px.map((_, q) => q).sort((p, q) => px[p] - px[q] || py[p] - py[q]);
  const cross = (o: number, a: number, b: number): number => (px[a] - px[o]) * (py[b] - py[o]) - (py[a] - py[o]) * (px[b] - px[o]);
  const hull: number[] = [];
  for (const pass of [idx, [...idx].reverse()]) {
    const start = hull.length;
    for (const q of pass) {
      while (hull.length >= start + 2 && cross(hull[hull.length - 2], hull[hull.length - 1], q) <= 0) hull.pop();
      hull.push(q);
    }
    hull.pop();
  }
  if (hull.length === 0) hull.push(idx[0]);
  let d2 = 0;
  for (let a = 0; a < hull.length; a++) {
    for (let b = a + 1; b < hull.length; b++) {
      const dx = px[hull[b]] - px[hull[a]];
      const dy = py[hull[b]] - py[hull[a]];
      const v = dx * dx * g.gii + 2 * dx * dy * g.gij + dy * dy * g.gjj;
      if (v > d2) d2 = v;
    }
  }
  return Math.sqrt(d2) + extBound;
}

/**
 * Longest chord inside the slice mask between two candidate pixels, if at least `floor` mm long.
 * Pairs are examined by decreasing length in bands (widths 1, 2, 4... pixels below the longest pair),
 * stopping at the first band holding an inside pair. Among inside pairs within LENGTH_EPS_MM of the longest,
 * the one with the smallest (r1, r2) wins. A slice with no inside two-pixel chord gives the single-pixel
 * chord of its first pixel (length = the larger pixel side).
 */
export function longestChord(mask: Uint8Array, base: number, bx: number, cands: Int32Array, g: Gram2, floor: number): Chord | null {
  const n = cands.length;
  if (n === 0) return null;
  const single = Math.max(g.si, g.sj);
  const xs = new Int32Array(n);
  const ys = new Int32Array(n);
  for (let a = 0; a < n; a++) {
    xs[a] = cands[a] % bx;
    ys[a] = (cands[a] - xs[a]) / bx;
  }
  const { gii, gjj, gij } = g;
  // Upper bound of every pair's length: max centre distance + largest projected pixel extent.
  const extBound = Math.sqrt(gii + gjj + 2 * Math.abs(gij));
  let d2max = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const dx = xs[b] - xs[a];
      const dy = ys[b] - ys[a];
      const d2 = dx * dx * gii + 2 * dx * dy * gij + dy * dy * gjj;
      if (d2 > d2max) d2max = d2;
    }
  }
  const lmax = n > 1 ? Math.sqrt(d2max) + extBound : -Infinity;
  if (lmax >= floor) {
    const unit = Math.min(g.si, g.sj);
    let hi = Infinity;
    let w = unit;
    let winL = -1;
    let lastLo = -Infinity;
    const pa: number[] = [];
    const pb: number[] = [];
    const pl: number[] = [];
    for (;;) {
      let lo = lmax - w;
      const last = lo <= floor || lo <= 0;
      if (last) lo = floor;
      lastLo = lo;
      pa.length = 0;
      pb.length = 0;
      pl.length = 0;
      const dmin = lo - extBound; // a pair with centre distance below this cannot reach lo
      const d2min = dmin > 0 ? dmin * dmin * (1 - 1e-12) : -1;
      for (let a = 0; a < n; a++) {
        for (let b = a + 1; b < n; b++) {
          const dx = xs[b] - xs[a];
          const dy = ys[b] - ys[a];
          if (dx * dx * gii + 2 * dx * dy * gij + dy * dy * gjj < d2min) continue;
          const l = chordLength(g, dx, dy);
          if (l >= lo && l < hi) {
            pa.push(a);
            pb.push(b);
            pl.push(l);
          }
        }
      }
      const order = pl.map((_, q) => q);
      order.sort((p, q) => pl[q] - pl[p] || pa[p] - pa[q] || pb[p] - pb[q]);
      for (const q of order) {
        if (segmentInside(mask, base, bx, xs[pa[q]], ys[pa[q]], xs[pb[q]], ys[pb[q]])) {
          winL = pl[q];
          break;
        }
      }
      if (winL >= 0 || last) break;
      hi = lo;
      w *= 2;
    }
    if (winL >= 0) {
      // Tie scan: every pair longer than winL failed; the first inside pair within EPS in (a, b) order wins.
      let ta = -1;
      let tb = -1;
      let tl = 0;
      const consider = (a: number, b: number, l: number): void => {
        if (l < winL - LENGTH_EPS_MM || l > winL) return;
        if (ta >= 0 && (a > ta || (a === ta && b > tb))) return;
        if (!segmentInside(mask, base, bx, xs[a], ys[a], xs[b], ys[b])) return;
        ta = a;
        tb = b;
        tl = l;
      };
      if (winL - LENGTH_EPS_MM >= lastLo) {
        for (let q = 0; q < pl.length; q++) consider(pa[q], pb[q], pl[q]); // all such pairs are in the last band
      } else {
        for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) consider(a, b, chordLength(g, xs[b] - xs[a], ys[b] - ys[a]));
      }
      return { r1: cands[ta], r2: cands[tb], lengthMm: tl };
    }
  }
  if (single >= floor) return { r1: cands[0], r2: cands[0], lengthMm: single };
  return null;
}

/** Perpendicularity tolerances (degrees): the near-perpendicular levels, then the fallbacks for tiny lesions. */
export const SHORT_AXIS_TOLERANCES_DEG = [1, 2, 3, 5, 10, 20, 45];
const NEAR_LEVELS = [1, 2, 3, 5];
const FALLBACK_LEVELS = [10, 20, 45];

/**
 * Longest chord inside the slice mask that is perpendicular to the long axis p1-p2 and crosses the closed
 * long-axis segment (between the end pixel centres).
 *
 * Chord ends are pixel centres, so near-perpendicular directions are quantised (about 1/length radians): a
 * small lesion may have no long chord within 1 degree. Rule: let M be the longest qualifying chord within
 * 5 degrees; the tolerance used is the smallest of 1, 2, 3, 5 degrees whose longest chord is within one
 * pixel (the smaller pixel side) of M, and the chord is the longest one at that tolerance. If nothing
 * qualifies within 5 degrees, the first of 10, 20, 45 degrees that has a chord is used. Ties (within
 * LENGTH_EPS_MM): smaller deviation from 90 degrees, then (r1, r2) raster order. Null when no two-pixel
 * chord qualifies even at 45 degrees (or p1 = p2).
 */
export function perpendicularChord(
  mask: Uint8Array, base: number, bx: number, cands: Int32Array, g: Gram2,
  x1: number, y1: number, x2: number, y2: number,
): PerpChord | null {
  const ex = x2 - x1;
  const ey = y2 - y1;
  if (ex === 0 && ey === 0) return null;
  const elen = Math.sqrt(ex * ex * g.gii + 2 * ex * ey * g.gij + ey * ey * g.gjj);
  const gex = g.gii * ex + g.gij * ey; // G e
  const gey = g.gij * ex + g.gjj * ey;
  const n = cands.length;
  const xs = new Int32Array(n);
  const ys = new Int32Array(n);
  for (let a = 0; a < n; a++) {
    xs[a] = cands[a] % bx;
    ys[a] = (cands[a] - xs[a]) / bx;
  }
  const orient = (ax: number, ay: number, bx_: number, by_: number, cx: number, cy: number): number =>
    Math.sign((bx_ - ax) * (cy - ay) - (by_ - ay) * (cx - ax));

  /** Crossing pairs with deviation in (minTol, maxTol], sorted by length desc, deviation asc, a, b. */
  const collect = (minTol: number, maxTol: number) => {
    const sinMin = minTol > 0 ? Math.sin((minTol * Math.PI) / 180) : -1;
    const sinMax = Math.sin((maxTol * Math.PI) / 180);
    const sinMax2 = sinMax * sinMax * (1 + 1e-9);
    const elen2 = elen * elen;
    const pa: number[] = [];
    const pb: number[] = [];
    const pl: number[] = [];
    const pd: number[] = [];
    for (let a = 0; a < n; a++) {
      const xa = xs[a];
      const ya = ys[a];
      for (let b = a + 1; b < n; b++) {
        const dx = xs[b] - xa;
        const dy = ys[b] - ya;
        const d2 = dx * dx * g.gii + 2 * dx * dy * g.gij + dy * dy * g.gjj;
        const dot = dx * gex + dy * gey;
        if (dot * dot > sinMax2 * d2 * elen2) continue; // cheap pre-filter (1e-9 slack), exact test below
        const c = Math.abs(dot) / (Math.sqrt(d2) * elen); // |cos| to the long axis = sin(deviation)
        if (c > sinMax || c <= sinMin) continue;
        // closed-segment crossing (never collinear here: deviation <= 45 degrees)
        const o1 = orient(xa, ya, xs[b], ys[b], x1, y1);
        const o2 = orient(xa, ya, xs[b], ys[b], x2, y2);
        if (o1 * o2 > 0) continue;
        const o3 = orient(x1, y1, x2, y2, xa, ya);
        const o4 = orient(x1, y1, x2, y2, xs[b], ys[b]);
        if (o3 * o4 > 0) continue;
        pa.push(a);
        pb.push(b);
        pl.push(chordLength(g, dx, dy));
        pd.push((Math.asin(Math.min(1, c)) * 180) / Math.PI);
      }
    }
    const order = pl.map((_, q) => q);
    order.sort((p, q) => pl[q] - pl[p] || pd[p] - pd[q] || pa[p] - pa[q] || pb[p] - pb[q]);
    return { pa, pb, pl, pd, order, inside: new Int8Array(pl.length) };
  };
  type Pairs = ReturnType<typeof collect>;
  const isInside = (s: Pairs, q: number): boolean => {
    if (s.inside[q] === 0) s.inside[q] = segmentInside(mask, base, bx, xs[s.pa[q]], ys[s.pa[q]], xs[s.pb[q]], ys[s.pb[q]]) ? 1 : 2;
    return s.inside[q] === 1;
  };
  /** Best inside pair with deviation <= tol (index into the pair arrays), or -1. */
  const bestAt = (s: Pairs, tol: number): number => {
    let win = -1;
    for (const q of s.order) {
      if (s.pd[q] > tol) continue;
      if (win >= 0) {
        if (s.pl[q] < s.pl[win] - LENGTH_EPS_MM) break;
        const better = s.pd[q] < s.pd[win] || (s.pd[q] === s.pd[win] && (s.pa[q] < s.pa[win] || (s.pa[q] === s.pa[win] && s.pb[q] < s.pb[win])));
        if (!better) continue;
      }
      if (isInside(s, q)) win = q;
    }
    return win;
  };
  const result = (s: Pairs, q: number, tol: number): PerpChord => ({
    r1: cands[s.pa[q]], r2: cands[s.pb[q]], lengthMm: s.pl[q], deviationDeg: s.pd[q], toleranceDeg: tol,
  });

  const near = collect(0, NEAR_LEVELS[NEAR_LEVELS.length - 1]);
  const wide = bestAt(near, NEAR_LEVELS[NEAR_LEVELS.length - 1]);
  if (wide >= 0) {
    const unit = Math.sqrt(g.gii + g.gjj + 2 * Math.abs(g.gij)); // one pixel: its largest extent (diagonal)
    for (const tol of NEAR_LEVELS) {
      const q = bestAt(near, tol);
      if (q >= 0 && near.pl[q] >= near.pl[wide] - unit) return result(near, q, tol);
    }
  }
  const far = collect(NEAR_LEVELS[NEAR_LEVELS.length - 1], FALLBACK_LEVELS[FALLBACK_LEVELS.length - 1]);
  for (const tol of FALLBACK_LEVELS) {
    const q = bestAt(far, tol);
    if (q >= 0) return result(far, q, tol);
  }
  return null;
}
