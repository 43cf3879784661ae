/**
 * RECIST 1.1 time-point response (Eisenhauer et al., "New response evaluation criteria in solid tumours:
 * Revised RECIST guideline (version 1.1)", Eur J Cancer 2009;45:228-247) and the iRECIST extension
 * (Seymour et al., Lancet Oncol 2017;18:e143-e152).
 *
 * All lengths are integer tenths of a millimetre; every threshold is decided with integer arithmetic.
 */
import { InputError } from '@app/core';
import type { Assessment, Diameter, NewLesions, NonTargetAssessment, SourceRef, SubjectInput, TargetMeasurement } from './types';
import { cmpStr, dayNumber, pctChange1dp } from './util';

export type TargetResponse = 'CR' | 'PR' | 'SD' | 'PD' | 'NE';
export type NonTargetResponse = 'CR' | 'NON-CR/NON-PD' | 'PD' | 'NE' | 'NA';
export type OverallResponse = 'CR' | 'PR' | 'SD' | 'NON-CR/NON-PD' | 'PD' | 'NE';
/** iRECIST time-point responses. */
export type IOverallResponse = 'iCR' | 'iPR' | 'iSD' | 'iNON-CR/NON-iUPD' | 'iUPD' | 'iCPD' | 'NE';

/** RECIST 1.1 section 3.3: "too small to measure" counts as 5 mm. */
export const TOO_SMALL_TENTHS = 50;
/** RECIST 1.1 section 4.3.1: a node with short axis < 10 mm is non-pathological. */
export const NODE_NORMAL_TENTHS = 100;
/** RECIST 1.1 at most 5 target lesions, 2 per organ (section 4.2). */
export const MAX_TARGETS = 5;
export const MAX_TARGETS_PER_ORGAN = 2;

/**
 * Validates the baseline target-lesion selection (RECIST 1.1 section 4.2): at most 5 target lesions,
 * at most 2 per organ (organ compared case-insensitively; an empty organ is not counted), unique lesion ids,
 * each with a measured diameter at baseline. Throws InputError `recist.bad-target-selection` naming the
 * offending values. Measurability (size) is a warning: see `targetSelectionWarnings`.
 */
export function validateTargetSelection(baseline: Assessment, usubjid = '?'): void {
  const t = baseline.targets;
  const where = `subject ${usubjid}, baseline ${baseline.visit} (${baseline.date})`;
  if (t.length > MAX_TARGETS)
    throw new InputError('recist.bad-target-selection', `${where}: ${t.length} target lesions selected; RECIST 1.1 allows at most ${MAX_TARGETS}`, { usubjid, count: t.length });
  const seen = new Set<string>();
  const perOrgan = new Map<string, string[]>();
  for (const l of t) {
    if (seen.has(l.lesionId)) throw new InputError('recist.bad-target-selection', `${where}: target lesion id ${l.lesionId} appears twice`, { usubjid, lesionId: l.lesionId });
    seen.add(l.lesionId);
    const organ = l.organ.trim().toUpperCase();
    // An unknown organ (empty string) cannot be checked against the per-organ limit.
    if (organ) perOrgan.set(organ, [...(perOrgan.get(organ) ?? []), l.lesionId]);
    if (typeof l.diameter !== 'number' || l.fragments || l.mergedInto)
      throw new InputError('recist.bad-target-selection', `${where}: target lesion ${l.lesionId} must have a measured diameter at baseline, got ${JSON.stringify(l.diameter)}`, { usubjid, lesionId: l.lesionId });
  }
  for (const [organ, ids] of perOrgan)
    if (ids.length > MAX_TARGETS_PER_ORGAN)
      throw new InputError('recist.bad-target-selection', `${where}: ${ids.length} target lesions in organ ${organ} (${ids.join(', ')}); RECIST 1.1 allows at most ${MAX_TARGETS_PER_ORGAN} per organ`, { usubjid, organ, lesions: ids });
}

/**
 * Measurability warnings for the baseline targets (RECIST 1.1 section 3.1.1: non-nodal >= 10 mm longest
 * diameter, nodal >= 15 mm short axis). Returned, not thrown: a sponsor's selection is kept and derived,
 * and the warning is reported with the datasets (`issues`) and in SDTM comparisons.
 */
export function targetSelectionWarnings(baseline: Assessment, usubjid = '?'): string[] {
  const out: string[] = [];
  for (const l of baseline.targets) {
    if (typeof l.diameter !== 'number') continue;
    const min = l.nodal ? 150 : 100;
    if (l.diameter < min)
      out.push(`subject ${usubjid}, baseline ${baseline.visit} (${baseline.date}): target lesion ${l.lesionId} measures ${l.diameter / 10} mm; RECIST 1.1 measurability needs ${l.nodal ? 'a short axis >= 15 mm for a nodal' : 'a longest diameter >= 10 mm for a non-nodal'} target (kept as selected)`);
  }
  return out;
}

/** Value of one diameter in tenths of mm, or null when not assessed. TOO_SMALL = 5 mm, DISAPPEARED = 0. */
export function diameterValue(d: Diameter): number | null {
  if (d === 'NOT_ASSESSED') return null;
  if (d === 'TOO_SMALL') return TOO_SMALL_TENTHS;
  if (d === 'DISAPPEARED') return 0;
  if (!Number.isInteger(d) || d < 0 || d > 10000)
    throw new InputError('recist.bad-measurement', `diameter must be an integer number of tenths of mm in 0..10000 (<= 1 m), got ${JSON.stringify(d)}`);
  return d;
}

/**
 * Contribution of one target lesion to the sum (RECIST 1.1 sections 3.3 and 4.3.1, appendix II):
 * split lesion = sum of the fragments' diameters; lesion merged into another = 0 (the coalesced
 * lesion's diameter is carried by the lesion it merged into). Null when not assessed.
 */
export function lesionValue(l: TargetMeasurement): number | null {
  if (l.mergedInto !== undefined) return 0;
  if (l.fragments && l.fragments.length > 0) {
    let s = 0;
    for (const f of l.fragments) {
      const v = diameterValue(f);
      if (v === null) return null;
      s += v;
    }
    return s;
  }
  return diameterValue(l.diameter);
}

export interface TargetSum {
  /** Sum of the assessed lesions (tenths of mm). */
  sum: number;
  /** True when every baseline target lesion was assessed. */
  complete: boolean;
  /** Baseline lesion ids not assessed. */
  missing: string[];
}

/**
 * Sum of diameters at one time point over the baseline target lesions (RECIST 1.1 section 4.3.1):
 * longest diameter of non-nodal lesions + short axis of nodal lesions. A baseline lesion absent from the
 * follow-up, or 'NOT_ASSESSED', makes the sum incomplete.
 */
export function sumOfDiameters(targets: TargetMeasurement[], baselineIds: readonly string[]): TargetSum {
  const byId = new Map(targets.map((t) => [t.lesionId, t]));
  let sum = 0;
  const missing: string[] = [];
  for (const id of baselineIds) {
    const t = byId.get(id);
    const v = t ? lesionValue(t) : null;
    if (v === null) missing.push(id);
    else sum += v;
  }
  return { sum, complete: missing.length === 0, missing };
}

/** RECIST 1.1 PD threshold: sum >= nadir + 20 % AND sum - nadir >= 5 mm (integers: 5*(s-n) >= n). */
export const meetsPd = (sum: number, nadir: number): boolean => sum - nadir >= 50 && 5 * (sum - nadir) >= nadir;
/** RECIST 1.1 PR threshold: sum <= baseline - 30 % (integers: 10*(b-s) >= 3*b). */
export const meetsPr = (sum: number, baseline: number): boolean => baseline > 0 && 10 * (baseline - sum) >= 3 * baseline;

/**
 * CR for targets (RECIST 1.1 section 4.3.1): all non-nodal target lesions disappeared (0) and every nodal
 * target lesion short axis < 10 mm. Requires every baseline lesion assessed.
 */
export function targetsInCr(targets: TargetMeasurement[], baselineIds: readonly string[]): boolean {
  const byId = new Map(targets.map((t) => [t.lesionId, t]));
  for (const id of baselineIds) {
    const t = byId.get(id);
    if (!t) return false;
    const v = lesionValue(t);
    if (v === null) return false;
    if (t.nodal ? v >= NODE_NORMAL_TENTHS : v !== 0) return false;
  }
  return true;
}

/**
 * Target-lesion response at one follow-up (RECIST 1.1 section 4.3.1, table 1 footnotes):
 * - CR: all non-nodal targets gone, all nodal targets < 10 mm short axis (checked first: nodes below
 *   10 mm are normal and cannot by themselves constitute progression);
 * - PD: sum >= 20 % above the NADIR (smallest sum on study incl. baseline) and >= 5 mm absolute increase;
 *   decided even on an incomplete sum (the visit is PD anyway when the assessed lesions already qualify);
 * - NE: some target not assessed (and not PD);
 * - PR: sum >= 30 % below the BASELINE sum;
 * - SD otherwise.
 */
export function targetResponse(t: TargetSum, baselineSum: number, nadir: number, cr: boolean): TargetResponse {
  if (t.complete && cr) return 'CR';
  if (meetsPd(t.sum, nadir)) return 'PD';
  if (!t.complete) return 'NE';
  if (meetsPr(t.sum, baselineSum)) return 'PR';
  return 'SD';
}

/**
 * Non-target response (RECIST 1.1 section 4.3.2): PD if any unequivocal progression; NE if any lesion not
 * assessed; CR if all absent (nodes normal-sized); NON-CR/NON-PD otherwise. 'NA' when the subject has no
 * non-target disease at baseline.
 */
export function nonTargetResponse(nts: NonTargetAssessment[], baselineIds: readonly string[]): NonTargetResponse {
  if (baselineIds.length === 0 && nts.length === 0) return 'NA';
  const byId = new Map(nts.map((n) => [n.lesionId, n.status]));
  if (nts.some((n) => n.status === 'UNEQUIVOCAL_PROGRESSION')) return 'PD';
  let allAbsent = true;
  for (const id of baselineIds) {
    const s = byId.get(id);
    if (s === undefined || s === 'NOT_ASSESSED') return 'NE';
    if (s !== 'ABSENT') allAbsent = false;
  }
  return allAbsent ? 'CR' : 'NON-CR/NON-PD';
}

/**
 * Overall time-point response.
 * RECIST 1.1 table 1 (subjects with target disease) and table 2 (non-target disease only).
 * New lesions 'EQUIVOCAL' do not make PD at this time point (RECIST 1.1 section 4.3.2: if later
 * confirmed by a later scan, PD is dated from the first observation - see `backdateEquivocalNewLesions`).
 */
export function overallResponse(target: TargetResponse | 'NA', nonTarget: NonTargetResponse, newLesions: NewLesions): OverallResponse {
  if (newLesions === 'YES' || target === 'PD' || nonTarget === 'PD') return 'PD';
  if (target === 'NA') {
    // Table 2: non-target disease only.
    if (nonTarget === 'CR') return 'CR';
    if (nonTarget === 'NON-CR/NON-PD') return 'NON-CR/NON-PD';
    return 'NE';
  }
  // Table 1.
  if (target === 'CR') return nonTarget === 'CR' || nonTarget === 'NA' ? 'CR' : 'PR';
  if (target === 'PR') return 'PR';
  if (target === 'SD') return 'SD';
  return 'NE';
}

/** Derived response at one follow-up visit, with everything needed for TR/RS/ADTR/ADRS rows. */
export interface VisitResponse {
  visit: string;
  visitNum: number;
  date: string;
  /** Sum of diameters (tenths of mm) of assessed targets; null for subjects without target disease. */
  sum: number | null;
  sumComplete: boolean;
  baselineSum: number | null;
  /** Nadir used for this visit's PD decision (smallest complete sum before this visit, incl. baseline). */
  nadir: number | null;
  pctFromBaseline: number | null;
  pctFromNadir: number | null;
  target: TargetResponse | 'NA';
  nonTarget: NonTargetResponse;
  newLesions: NewLesions;
  /** RECIST 1.1 overall response. */
  overall: OverallResponse;
  /** iRECIST response when criteria = 'iRECIST'. */
  iOverall?: IOverallResponse;
  source: SourceRef;
  /** Free-text derivation notes (e.g. which lesion was missing). */
  notes: string[];
}

/** Baseline assessment of a subject: `baseline: true`, else the lowest visitNum (ties: earliest date). */
export function baselineOf(assessments: Assessment[]): Assessment | undefined {
  const flagged = assessments.filter((a) => a.baseline);
  const pool = flagged.length > 0 ? flagged : assessments;
  let best: Assessment | undefined;
  for (const a of pool)
    if (!best || a.visitNum < best.visitNum || (a.visitNum === best.visitNum && cmpStr(a.date, best.date) < 0)) best = a;
  return best;
}

/** Assessments sorted by date then visitNum (stable, input-order independent). */
export function sortAssessments(assessments: Assessment[]): Assessment[] {
  return [...assessments].sort((a, b) => cmpStr(a.date, b.date) || a.visitNum - b.visitNum || cmpStr(a.visit, b.visit));
}

/**
 * Time-point responses of one subject (RECIST 1.1): validates the baseline target selection, then for each
 * follow-up in date order computes sum, nadir (smallest complete sum so far incl. baseline: an incomplete
 * sum never becomes the nadir), target / non-target / new-lesion status and the overall response.
 * With `iRECIST`, also the iRECIST response (see `applyIrecist`).
 */
export function deriveVisitResponses(subject: SubjectInput, opts: { irecist?: boolean; cutDate?: string; backdateEquivocal?: boolean } = {}): VisitResponse[] {
  const all = subject.assessments.filter((a) => !opts.cutDate || dayNumber(a.date) <= dayNumber(opts.cutDate));
  const base = baselineOf(all);
  if (!base) return [];
  validateTargetSelection(base, subject.usubjid);
  const baseIds = base.targets.map((t) => t.lesionId).sort(cmpStr);
  const ntIds = base.nonTargets.map((n) => n.lesionId).sort(cmpStr);
  const hasTargets = baseIds.length > 0;
  const baselineSum = hasTargets ? sumOfDiameters(base.targets, baseIds).sum : null;
  let nadir = baselineSum;
  const out: VisitResponse[] = [];
  for (const a of sortAssessments(all)) {
    if (a === base) continue;
    if (dayNumber(a.date) < dayNumber(base.date)) continue;
    const notes: string[] = [];
    const extra = a.targets.filter((t) => !baseIds.includes(t.lesionId));
    if (extra.length) notes.push(`ignored target lesion(s) not selected at baseline: ${extra.map((t) => t.lesionId).join(', ')}`);
    let target: TargetResponse | 'NA' = 'NA';
    let sum: number | null = null;
    let complete = true;
    const visitNadir = nadir;
    if (hasTargets && baselineSum !== null && nadir !== null) {
      const s = sumOfDiameters(a.targets, baseIds);
      sum = s.sum;
      complete = s.complete;
      if (!s.complete) notes.push(`target lesion(s) not assessed: ${s.missing.join(', ')}`);
      target = targetResponse(s, baselineSum, nadir, targetsInCr(a.targets, baseIds));
      if (s.complete && s.sum < nadir) nadir = s.sum;
    }
    const nt = nonTargetResponse(a.nonTargets, ntIds);
    out.push({
      visit: a.visit,
      visitNum: a.visitNum,
      date: a.date,
      sum,
      sumComplete: complete,
      baselineSum,
      nadir: visitNadir,
      pctFromBaseline: sum !== null && baselineSum !== null ? pctChange1dp(sum, baselineSum) : null,
      pctFromNadir: sum !== null && visitNadir !== null ? pctChange1dp(sum, visitNadir) : null,
      target,
      nonTarget: nt,
      newLesions: a.newLesions,
      overall: overallResponse(target, nt, a.newLesions),
      source: a.source,
      notes,
    });
  }
  if (opts.backdateEquivocal ?? true) backdateEquivocalNewLesions(out);
  if (opts.irecist) applyIrecist(out, all);
  return out;
}

/**
 * RECIST 1.1 section 4.3.2 (new lesions): "If a new lesion is equivocal ... If repeat scans confirm there is
 * definitely a new lesion, then progression should be declared using the date of the initial scan."
 * When a visit with new lesions YES follows a run of visits with EQUIVOCAL new lesions (nothing else in
 * between), the first equivocal visit becomes PD (with a note). Mutates `rows` (sorted by date).
 */
export function backdateEquivocalNewLesions(rows: VisitResponse[]): void {
  let runStart = -1;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.newLesions === 'EQUIVOCAL') {
      if (runStart < 0) runStart = i;
    } else {
      if (r.newLesions === 'YES' && runStart >= 0 && rows[runStart].overall !== 'PD') {
        const first = rows[runStart];
        first.overall = 'PD';
        first.notes.push(`PD backdated: equivocal new lesion at this visit confirmed at ${r.visit} (${r.date}) per RECIST 1.1 section 4.3.2`);
      }
      runStart = -1;
    }
  }
}

/**
 * iRECIST (Seymour et al. 2017): the first RECIST 1.1 PD is unconfirmed progression (iUPD). It is
 * confirmed (iCPD) at the next assessment if there is a further increase: target sum +>= 5 mm over the
 * iUPD sum, unequivocal non-target progression, or more / larger new lesions (count up, or new-lesion sum
 * +>= 5 mm). If the next assessment no longer meets PD criteria the bar resets (iCR/iPR/iSD/
 * iNON-CR/NON-iUPD) and a later PD is a fresh iUPD. If it still meets PD without a further increase it
 * stays iUPD. Mutates `rows` by setting `iOverall`.
 */
export function applyIrecist(rows: VisitResponse[], assessments: Assessment[]): void {
  const byDate = new Map(assessments.map((a) => [`${a.date}|${a.visitNum}`, a]));
  let iupd: { row: VisitResponse; a: Assessment | undefined } | null = null;
  let confirmed = false;
  for (const r of rows) {
    if (confirmed) {
      r.iOverall = 'iCPD';
      continue;
    }
    const a = byDate.get(`${r.date}|${r.visitNum}`);
    if (iupd) {
      const p = iupd.row;
      const pa = iupd.a;
      const targetUp = r.sum !== null && p.sum !== null && r.sum - p.sum >= 50;
      const ntUp = r.nonTarget === 'PD';
      const newUp =
        (p.newLesions !== 'YES' && r.newLesions === 'YES') ||
        ((a?.newLesionCount ?? 0) > (pa?.newLesionCount ?? 0)) ||
        ((a?.newLesionSum ?? 0) - (pa?.newLesionSum ?? 0) >= 50);
      if (targetUp || ntUp || newUp) {
        r.iOverall = 'iCPD';
        confirmed = true;
        continue;
      }
      if (r.overall === 'PD') {
        r.iOverall = 'iUPD';
        continue;
      }
      iupd = null;
    }
    if (r.overall === 'PD') {
      r.iOverall = 'iUPD';
      iupd = { row: r, a };
      continue;
    }
    r.iOverall = r.overall === 'NE' ? 'NE' : r.overall === 'NON-CR/NON-PD' ? 'iNON-CR/NON-iUPD' : (`i${r.overall}` as IOverallResponse);
  }
}
