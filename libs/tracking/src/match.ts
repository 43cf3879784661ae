import { InputError } from '@app/core';
import { munkres } from 'munkres';
import { assertRigid, transformPoint, type Mat4, type Vec3 } from './rigid';

/** One lesion found at one timepoint (output of segmentation + measurement), in that scan's patient mm. */
export interface LesionCandidate {
  centroidMm: Vec3 | readonly number[];
  volumeMm3?: number;
  longAxisMm?: number;
  /** Class index of the segmentation model. */
  cls?: number;
  /** Organ label, e.g. `liver`. */
  organ?: string;
}

/** A lesion known at the previous timepoint(s), already in the reference ("prev") space. */
export interface TrackedLesionAt extends LesionCandidate {
  /** Optional caller key (e.g. a trackingId); carried through unchanged. */
  key?: string;
}

export type LesionStatus = 'matched' | 'new' | 'disappeared' | 'split' | 'merged';

export interface MatchLesionsOptions {
  /** Largest centroid distance (mm, after alignment) for a pair. Default 20. */
  gateMm?: number;
  /** Rigid matrix mapping CURR patient mm -> PREV space. Default identity. */
  transform?: readonly number[];
  /** Extra cost (mm) added when both lesions carry a class and the classes differ. Default 5. */
  classMismatchPenaltyMm?: number;
  /** Split / merge detection radius (mm). Default = gateMm. */
  splitMergeGateMm?: number;
}

export interface MatchedPair {
  prevIndex: number;
  currIndex: number;
  /** Centroid distance after alignment (mm). */
  distanceMm: number;
  confidence: number;
}

export interface CurrLesionMatch {
  currIndex: number;
  status: 'matched' | 'new' | 'split';
  /** Matched prev lesion (matched) or the prev lesion it split from (split); null for new. */
  prevIndex: number | null;
  distanceMm: number | null;
  /** In [0, 1]; null for new. For split parts: confidence of the split attribution. */
  confidence: number | null;
  /** Centroid after applying the transform (prev space). */
  alignedCentroidMm: Vec3;
}

export interface PrevLesionMatch {
  prevIndex: number;
  status: 'matched' | 'disappeared' | 'merged';
  /** Matched curr lesion (matched) or the curr lesion it merged into (merged); null when disappeared. */
  currIndex: number | null;
  distanceMm: number | null;
  confidence: number | null;
}

export interface LesionMatchResult {
  pairs: MatchedPair[];
  curr: CurrLesionMatch[];
  prev: PrevLesionMatch[];
  gateMm: number;
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Validate one lesion; throws InputError `tracking.bad-lesion`. */
export function validateLesion(l: LesionCandidate, where: string): void {
  if (!l || typeof l !== 'object') throw new InputError('tracking.bad-lesion', `${where}: not an object`);
  const c = l.centroidMm;
  if (!Array.isArray(c) || c.length !== 3 || !c.every(finite)) {
    throw new InputError('tracking.bad-lesion', `${where}: centroidMm must be three finite numbers`, {
      centroidMm: Array.isArray(c) ? c.map((x) => (finite(x) ? x : String(x))) : String(c),
    });
  }
  if (l.volumeMm3 !== undefined && !(finite(l.volumeMm3) && l.volumeMm3 >= 0)) {
    throw new InputError('tracking.bad-lesion', `${where}: volumeMm3 must be a finite number >= 0`);
  }
  if (l.longAxisMm !== undefined && !(finite(l.longAxisMm) && l.longAxisMm >= 0)) {
    throw new InputError('tracking.bad-lesion', `${where}: longAxisMm must be a finite number >= 0`);
  }
  if (l.cls !== undefined && !Number.isInteger(l.cls)) throw new InputError('tracking.bad-lesion', `${where}: cls must be an integer`);
  if (l.organ !== undefined && typeof l.organ !== 'string') throw new InputError('tracking.bad-lesion', `${where}: organ must be a string`);
}

const dist = (a: readonly number[], b: readonly number[]): number => {
  const dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2];
  return Math.sqrt(dx * dx + dy * dy + dz * dz);
};

const classDiffers = (a: LesionCandidate, b: LesionCandidate): boolean =>
  (a.cls !== undefined && b.cls !== undefined && a.cls !== b.cls) ||
  (a.organ !== undefined && b.organ !== undefined && a.organ !== b.organ);

/**
 * Confidence of a pair, in [0, 1] (rounded to 4 decimals):
 *   distance term  (1 - (d / gate)^2)                       1 at d = 0, 0 at the gate
 * x volume term    (min(v1, v2) / max(v1, v2))^0.25         1 if either volume is unknown or zero
 * x class term     0.5 if class or organ differ, else 1
 * x ambiguity term 0.5 + 0.5 * min(1, 2 * margin / gate)    margin = distance from either lesion to its nearest
 *                                                         OTHER candidate within the gate, minus d (gate if none)
 */
export function pairConfidence(
  d: number,
  gate: number,
  a: LesionCandidate,
  b: LesionCandidate,
  secondBestMm: number,
): number {
  const dt = Math.max(0, 1 - (d / gate) ** 2);
  let vt = 1;
  if (finite(a.volumeMm3) && finite(b.volumeMm3) && a.volumeMm3 > 0 && b.volumeMm3 > 0) {
    vt = (Math.min(a.volumeMm3, b.volumeMm3) / Math.max(a.volumeMm3, b.volumeMm3)) ** 0.25;
  }
  const ct = classDiffers(a, b) ? 0.5 : 1;
  const margin = Math.max(0, Math.min(gate, secondBestMm) - d);
  const at = 0.5 + 0.5 * Math.min(1, (2 * margin) / gate);
  return Math.round(dt * vt * ct * at * 1e4) / 1e4;
}

/**
 * Optimal one-to-one matching of the current lesions to the previous ones (Hungarian algorithm, `munkres`)
 * on centroid distance after mapping `curr` into prev space, plus a class-mismatch penalty; pairs farther
 * than `gateMm` are never made. Then every unmatched lesion is classified (see README):
 * - curr unmatched, within splitMergeGateMm of a MATCHED prev lesion of the same class/organ -> `split` (from the
 *   nearest one), else `new`;
 * - prev unmatched, within splitMergeGateMm of a MATCHED curr lesion of the same class/organ -> `merged` (into the
 *   nearest one), else `disappeared`.
 * Split / merged are geometric hypotheses for reader review (see README limits).
 */
export function matchLesions(
  prev: readonly TrackedLesionAt[],
  curr: readonly LesionCandidate[],
  opts: MatchLesionsOptions = {},
): LesionMatchResult {
  if (!Array.isArray(prev) || !Array.isArray(curr)) throw new InputError('tracking.bad-input', 'prev and curr must be arrays');
  const gate = opts.gateMm ?? 20;
  if (!finite(gate) || gate <= 0) throw new InputError('tracking.bad-option', 'gateMm must be a positive number');
  const smGate = opts.splitMergeGateMm ?? gate;
  if (!finite(smGate) || smGate < 0) throw new InputError('tracking.bad-option', 'splitMergeGateMm must be >= 0');
  const penalty = opts.classMismatchPenaltyMm ?? 5;
  if (!finite(penalty) || penalty < 0) throw new InputError('tracking.bad-option', 'classMismatchPenaltyMm must be >= 0');
  let T: Mat4 | null = null;
  if (opts.transform !== undefined) {
    assertRigid(opts.transform as number[], 'transform');
    T = opts.transform as Mat4;
  }
  prev.forEach((l, i) => validateLesion(l, `prev[${i}]`));
  curr.forEach((l, i) => validateLesion(l, `curr[${i}]`));
  const aligned: Vec3[] = curr.map((l) =>
    T ? transformPoint(T, l.centroidMm) : [l.centroidMm[0], l.centroidMm[1], l.centroidMm[2]],
  );
  const np = prev.length, nc = curr.length;
  const D: number[][] = prev.map((p) => aligned.map((c) => dist(p.centroidMm, c)));
  const pairs: MatchedPair[] = [];
  if (np && nc) {
    const BIG = 1e6;
    // integer-free but deterministic cost; ties resolved by munkres' fixed order
    const cost = prev.map((p, i) => curr.map((c, j) => (D[i][j] <= gate ? D[i][j] + (classDiffers(p, c) ? penalty : 0) : BIG)));
    const asg = munkres(cost) as Array<[number, number]>;
    for (const [i, j] of asg) {
      if (D[i][j] <= gate) pairs.push({ prevIndex: i, currIndex: j, distanceMm: D[i][j], confidence: 0 });
    }
    pairs.sort((a, b) => a.prevIndex - b.prevIndex);
  }
  const prevOf = new Map<number, MatchedPair>(), currOf = new Map<number, MatchedPair>();
  for (const pr of pairs) {
    prevOf.set(pr.prevIndex, pr);
    currOf.set(pr.currIndex, pr);
  }
  const secondForPair = (i: number, j: number): number => {
    let s = Infinity;
    for (let jj = 0; jj < nc; jj++) if (jj !== j) s = Math.min(s, D[i][jj]);
    for (let ii = 0; ii < np; ii++) if (ii !== i) s = Math.min(s, D[ii][j]);
    return s;
  };
  for (const pr of pairs) {
    pr.confidence = pairConfidence(pr.distanceMm, gate, prev[pr.prevIndex], curr[pr.currIndex], secondForPair(pr.prevIndex, pr.currIndex));
  }
  const currOut: CurrLesionMatch[] = curr.map((c, j) => {
    const pr = currOf.get(j);
    if (pr) {
      return { currIndex: j, status: 'matched', prevIndex: pr.prevIndex, distanceMm: pr.distanceMm, confidence: pr.confidence, alignedCentroidMm: aligned[j] };
    }
    let best = -1, bd = Infinity;
    for (let i = 0; i < np; i++) {
      if (prevOf.has(i) && D[i][j] <= smGate && D[i][j] < bd && !classDiffers(prev[i], c)) {
        bd = D[i][j];
        best = i;
      }
    }
    if (best >= 0) {
      const conf = pairConfidence(bd, Math.max(smGate, 1e-9), prev[best], c, Infinity);
      return { currIndex: j, status: 'split', prevIndex: best, distanceMm: bd, confidence: conf, alignedCentroidMm: aligned[j] };
    }
    return { currIndex: j, status: 'new', prevIndex: null, distanceMm: null, confidence: null, alignedCentroidMm: aligned[j] };
  });
  const prevOut: PrevLesionMatch[] = prev.map((p, i) => {
    const pr = prevOf.get(i);
    if (pr) return { prevIndex: i, status: 'matched', currIndex: pr.currIndex, distanceMm: pr.distanceMm, confidence: pr.confidence };
    let best = -1, bd = Infinity;
    for (let j = 0; j < nc; j++) {
      if (currOf.has(j) && D[i][j] <= smGate && D[i][j] < bd && !classDiffers(p, curr[j])) {
        bd = D[i][j];
        best = j;
      }
    }
    if (best >= 0) {
      const conf = pairConfidence(bd, Math.max(smGate, 1e-9), p, curr[best], Infinity);
      return { prevIndex: i, status: 'merged', currIndex: best, distanceMm: bd, confidence: conf };
    }
    return { prevIndex: i, status: 'disappeared', currIndex: null, distanceMm: null, confidence: null };
  });
  return { pairs, curr: currOut, prev: prevOut, gateMm: gate };
}
