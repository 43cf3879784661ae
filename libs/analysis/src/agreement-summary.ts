/**
 * The reader-agreement section of a cut's report, from the reader-level datasets (libs/endpoints reads.ts):
 * ADTRRDR (per read x visit x target lesion: value, AI proposal, decision) and ADRSRDR (per read: OVR per visit, BOR,
 * CBOR, first PD; per subject: the BICR selection). Every statistic that cannot be computed from these data is null
 * with a reason in `notes` (never NaN, never an exception for data that merely lack something).
 *
 * Pairing: lesion measurements by (USUBJID, AVISITN, LESIONID) where both reads have a measured value (special values
 * TOO SMALL / DISAPPEARED / NOT ASSESSED are left out of the diameter statistics); time-point responses by (USUBJID,
 * AVISITN); BOR and PD per subject. The ICC treats each lesion x visit as a rated target (lesions of one subject are
 * not independent: the intervals are optimistic; this is stated in the report).
 */
import type { Dataset, Value } from '@app/datasets';
import { agreementRate, blandAltman, proportion, cohenKappa, icc, quantileType7, withinTolerance, type BlandAltmanResult, type IccResult, type KappaResult, type Share } from './agreement';
import { sortedLevels } from './data';
import { orNote, type NotEstimable } from './errors';

/** Time-point response categories, for the unweighted kappa (all) and the ordinal scale of the weighted kappas. */
export const RESPONSE_LEVELS = ['CR', 'PR', 'SD', 'NON-CR/NON-PD', 'PD', 'NE'] as const;
/** Ordinal scale of weighted kappa: CR < PR < SD (incl. NON-CR/NON-PD) < PD; NE is left out. */
export const ORDINAL_LEVELS = ['CR', 'PR', 'SD', 'PD'] as const;
const ORDINAL_OF: Record<string, string | undefined> = { CR: 'CR', PR: 'PR', SD: 'SD', 'NON-CR/NON-PD': 'SD', PD: 'PD' };
export const BOR_LEVELS = ['CR', 'PR', 'SD', 'NON-CR/NON-PD', 'PD', 'NE', 'MISSING'] as const;

export interface LesionAgreement {
  a: string;
  b: string;
  /** Measured lesion x visit pairs and the subjects they come from. */
  pairs: number;
  subjects: number;
  icc: IccResult | null;
  /** Differences a - b in mm. */
  blandAltman: BlandAltmanResult | null;
  /** Relative differences 100 (a - b) / ((a + b) / 2), in % of the pair's mean (pairs with mean 0 left out): the spread of diameter differences grows with the size. */
  blandAltmanPct: BlandAltmanResult | null;
  tolerance: ReturnType<typeof withinTolerance> | null;
  /** The pairs themselves (mean, difference in mm) for the Bland-Altman plot. */
  points: { mean: number; diff: number }[];
  notes: NotEstimable[];
}

export interface KappaSet {
  /** All six categories (CR, PR, SD, NON-CR/NON-PD, PD, NE). */
  unweighted: KappaResult | null;
  /** Ordinal CR < PR < SD < PD (NON-CR/NON-PD as SD, NE pairs left out): `ordinalPairs` pairs. */
  linear: KappaResult | null;
  quadratic: KappaResult | null;
  ordinalPairs: number;
}

export interface ResponseAgreement {
  a: string;
  b: string;
  timepoints: { pairs: number; subjects: number; agreement: Share | null; kappa: KappaSet };
  bor: { paramcd: 'CBOR' | 'BOR'; subjects: number; agreement: Share | null; kappa: KappaResult | null };
  progression: {
    subjects: number;
    /** Both reads PD, or both no PD. */
    statusAgreement: Share | null;
    /** Same PD status and, when both PD, the same date. */
    dateAgreement: Share | null;
    bothPd: number;
    /** |date a - date b| in days where both have PD: median and range. */
    dateDifferenceDays: { median: number; max: number } | null;
  };
  notes: NotEstimable[];
}

export interface AdjudicationReader {
  reader: string;
  subjects: number;
  adjudicated: number;
  rate: Share | null;
  /** Of this reader's adjudicated subjects, how often the adjudicator chose this reader's read. */
  selected: number;
  selectedRate: Share | null;
}

export interface AdjudicationSummary {
  /** Subjects with a BICR selection (both reads compared). */
  subjects: number;
  adjudicated: number;
  rate: Share | null;
  perReader: AdjudicationReader[];
  /** Of the adjudicated subjects, how often each reading slot was selected. */
  bySlot: { evaluatorId: string; selected: number; share: Share | null }[];
}

export interface AiEffectRow {
  reader: string;
  /** AI proposals decided (accept + edit + reject). */
  proposals: number;
  accept: number;
  edit: number;
  reject: number;
  /** Lesions the reader added (no AI proposal). */
  add: number;
  acceptRate: Share | null;
  editRate: Share | null;
  rejectRate: Share | null;
  /** Size of the edits: |reader - AI| in mm and in % of the AI value (edits where both are measured values). */
  editSize: { n: number; meanAbsMm: number; medianAbsMm: number; q1AbsMm: number; q3AbsMm: number; medianAbsPct: number } | null;
}

export interface AgreementSummary {
  /** 'SIMULATED' or 'REVIEW' (ADTRRDR/ADRSRDR READSRC): simulated reads are labelled as such everywhere. */
  origin: string | null;
  evaluators: string[];
  subjects: number;
  lesions: LesionAgreement[];
  /** ICC over every evaluator at once (lesion x visits measured by all). */
  allEvaluators: { evaluators: string[]; pairs: number; icc: IccResult | null; notes: NotEstimable[] } | null;
  responses: ResponseAgreement[];
  targetSelection: { a: string; b: string; subjects: number; same: Share | null }[];
  adjudication: AdjudicationSummary | null;
  aiEffect: { overall: AiEffectRow; perReader: AiEffectRow[] } | null;
  notes: NotEstimable[];
}

/** 100 (a - b) / mean(a, b) of the pairs with a positive mean, as (differences, zeros) for blandAltman. */
function relativeDifferences(a: number[], b: number[]): [number[], number[]] {
  const rel: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i]! + b[i]! > 0) rel.push((200 * (a[i]! - b[i]!)) / (a[i]! + b[i]!));
  return [rel, new Array<number>(rel.length).fill(0)];
}

/** Column index by name (-1 when absent: r[-1] is undefined, read as missing). */
function indexOf(ds: Dataset): (name: string) => number {
  const idx = new Map(ds.columns.map((c, i) => [c.name, i]));
  return (name) => idx.get(name) ?? -1;
}

function reader(ds: Dataset) {
  const idx = new Map(ds.columns.map((c, i) => [c.name, i]));
  return (r: Value[], name: string): Value => {
    const i = idx.get(name);
    return i === undefined ? null : r[i]!;
  };
}

const SPECIAL = new Set(['TOO SMALL TO MEASURE', 'DISAPPEARED', 'NOT ASSESSED']);
const num = (v: Value): number | null => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
const evalOrder = (a: string, b: string) => {
  const r = (x: string) => (x.startsWith('RADIOLOGIST') ? 0 : x === 'AI' ? 1 : 2);
  return r(a) - r(b) || (a < b ? -1 : a > b ? 1 : 0);
};
/** Evaluator pairs: radiologists with each other first, then AI vs each radiologist. */
function pairsOf(evaluators: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < evaluators.length; i++) for (let j = i + 1; j < evaluators.length; j++) out.push(evaluators[j] === 'AI' ? [evaluators[j]!, evaluators[i]!] : [evaluators[i]!, evaluators[j]!]);
  return out.sort((x, y) => (x[0] === 'AI' ? 1 : 0) - (y[0] === 'AI' ? 1 : 0));
}

/**
 * The agreement summary of a cut's reads. `adtrrdr` / `adrsrdr` may be undefined (a cut without reads): then every
 * part is null and `notes` says why.
 */
export function readerAgreement(adtrrdr: Dataset | undefined, adrsrdr: Dataset | undefined, o: { confLevel?: number; absTolMm?: number; relTol?: number } = {}): AgreementSummary {
  const confLevel = o.confLevel ?? 0.95;
  const notes: NotEstimable[] = [];
  const empty: AgreementSummary = { origin: null, evaluators: [], subjects: 0, lesions: [], allEvaluators: null, responses: [], targetSelection: [], adjudication: null, aiEffect: null, notes };
  if (!adtrrdr || !adrsrdr || (adtrrdr.rows.length === 0 && adrsrdr.rows.length === 0)) {
    notes.push({ code: 'analysis.no-reads', message: 'this cut holds one read per subject (no ADTRRDR / ADRSRDR reader-level datasets): reader and AI agreement cannot be computed' });
    return empty;
  }
  const T = reader(adtrrdr);
  const R = reader(adrsrdr);
  const ti = indexOf(adtrrdr);
  const ri = indexOf(adrsrdr);
  const origin = (adtrrdr.rows[0] && (T(adtrrdr.rows[0], 'READSRC') as string)) ?? (adrsrdr.rows[0] && (R(adrsrdr.rows[0], 'READSRC') as string)) ?? null;
  const evalSet = new Set<string>();
  const subjSet = new Set<Value>();
  const [tEval, tSubj, tAval, tAvalc, tVisit, tLesion] = [ti('EVALID'), ti('USUBJID'), ti('AVAL'), ti('AVALC'), ti('AVISITN'), ti('LESIONID')];
  const [rEval, rSubj, rParam] = [ri('EVALID'), ri('USUBJID'), ri('PARAMCD')];
  for (const r of adtrrdr.rows) {
    evalSet.add(String(r[tEval]));
    subjSet.add(r[tSubj]!);
  }
  for (const r of adrsrdr.rows) {
    if (r[rParam] !== 'BICRSEL') evalSet.add(String(r[rEval]));
    subjSet.add(r[rSubj]!);
  }
  const evaluators = sortedLevels(evalSet).sort(evalOrder);
  const subjects = subjSet.size;
  if (evaluators.length < 2) notes.push({ code: 'analysis.no-reads', message: `only one evaluator (${evaluators.join(', ') || 'none'}) in the reader-level datasets: agreement needs two` });

  // ---- lesion measurements: (subject, visit, lesion) -> value per evaluator (NaN: not measured by that evaluator)
  const E = evaluators.length;
  const evalIdx = new Map(evaluators.map((e, i) => [e, i]));
  const measured = new Map<string, { subject: string; v: Float64Array }>();
  for (const r of adtrrdr.rows) {
    const v = num(r[tAval]!);
    const c = r[tAvalc];
    if (v === null || (typeof c === 'string' && SPECIAL.has(c))) continue;
    const key = `${r[tSubj]}\u0000${r[tVisit]}\u0000${r[tLesion]}`;
    let m = measured.get(key);
    if (!m) measured.set(key, (m = { subject: String(r[tSubj]), v: new Float64Array(E).fill(NaN) }));
    m.v[evalIdx.get(String(r[tEval]))!] = v;
  }
  const pairs = pairsOf(evaluators);
  const lesions: LesionAgreement[] = pairs.map(([a, b]) => {
    const n: NotEstimable[] = [];
    const xa: number[] = [];
    const xb: number[] = [];
    const subj = new Set<string>();
    const ia = evalIdx.get(a)!;
    const ib = evalIdx.get(b)!;
    for (const m of measured.values()) {
      const va = m.v[ia]!;
      const vb = m.v[ib]!;
      if (Number.isNaN(va) || Number.isNaN(vb)) continue;
      xa.push(va);
      xb.push(vb);
      subj.add(m.subject);
    }
    const what = `${a} vs ${b} diameters`;
    if (xa.length === 0) n.push({ code: 'analysis.no-reads', message: `${what}: no lesion measured by both` });
    const ok = xa.length > 0;
    return {
      a, b, pairs: xa.length, subjects: subj.size,
      icc: ok ? orNote(() => icc(xa.map((x, i) => [x, xb[i]!]), { confLevel }), n, `${what}, ICC`) : null,
      blandAltman: ok ? orNote(() => blandAltman(xa, xb, { confLevel }), n, `${what}, Bland-Altman`) : null,
      blandAltmanPct: ok ? orNote(() => blandAltman(...relativeDifferences(xa, xb), { confLevel }), n, `${what}, relative Bland-Altman`) : null,
      tolerance: ok ? orNote(() => withinTolerance(xa, xb, { absTol: o.absTolMm ?? 2, relTol: o.relTol ?? 0.1, confLevel }), n, `${what}, within tolerance`) : null,
      points: xa.map((x, i) => ({ mean: (x + xb[i]!) / 2, diff: x - xb[i]! })),
      notes: n,
    };
  });
  for (const l of lesions) for (const x of l.icc?.notes ?? []) l.notes.push(x);
  for (const l of lesions) for (const x of l.blandAltman?.notes ?? []) l.notes.push(x);
  let allEvaluators: AgreementSummary['allEvaluators'] = null;
  if (evaluators.length > 2) {
    const n: NotEstimable[] = [];
    const rows: number[][] = [];
    for (const m of measured.values()) if (!m.v.some(Number.isNaN)) rows.push(Array.from(m.v));
    allEvaluators = { evaluators, pairs: rows.length, icc: rows.length ? orNote(() => icc(rows, { confLevel }), n, `${evaluators.join(' / ')} diameters, ICC`) : null, notes: n };
    if (!rows.length) n.push({ code: 'analysis.no-reads', message: 'no lesion measured by every evaluator' });
  }

  // ---- responses
  const ovr = new Map<string, Map<string, string>>(); // subject|visit -> evaluator -> response
  const subjectParam = new Map<string, Map<string, { c: string; dt: Value }>>(); // subject|param -> evaluator -> value
  for (const r of adrsrdr.rows) {
    const p = R(r, 'PARAMCD');
    const e = String(R(r, 'EVALID'));
    if (p === 'OVR') {
      const key = `${R(r, 'USUBJID')}\u0000${R(r, 'AVISITN')}`;
      let m = ovr.get(key);
      if (!m) ovr.set(key, (m = new Map()));
      m.set(e, String(R(r, 'AVALC')));
    } else if (p === 'CBOR' || p === 'BOR' || p === 'PD') {
      const key = `${R(r, 'USUBJID')}\u0000${p}`;
      let m = subjectParam.get(key);
      if (!m) subjectParam.set(key, (m = new Map()));
      m.set(e, { c: String(R(r, 'AVALC')), dt: R(r, 'ADT') });
    }
  }
  const hasCbor = [...subjectParam.keys()].some((k) => k.endsWith('\u0000CBOR'));
  const borParam: 'CBOR' | 'BOR' = hasCbor ? 'CBOR' : 'BOR';
  const responses: ResponseAgreement[] = pairs.map(([a, b]) => {
    const n: NotEstimable[] = [];
    const ra: string[] = [];
    const rb: string[] = [];
    const subj = new Set<string>();
    for (const [key, m] of ovr) {
      const x = m.get(a);
      const y = m.get(b);
      if (x === undefined || y === undefined) continue;
      ra.push(x);
      rb.push(y);
      subj.add(key.slice(0, key.indexOf('\u0000')));
    }
    const known = (x: string) => (RESPONSE_LEVELS as readonly string[]).includes(x);
    const ua = ra.filter((x, i) => known(x) && known(rb[i]!));
    const ub = rb.filter((y, i) => known(ra[i]!) && known(y));
    const oa: string[] = [];
    const ob: string[] = [];
    ra.forEach((x, i) => {
      const p = ORDINAL_OF[x];
      const q = ORDINAL_OF[rb[i]!];
      if (p && q) {
        oa.push(p);
        ob.push(q);
      }
    });
    const what = `${a} vs ${b} time-point responses`;
    if (!ra.length) n.push({ code: 'analysis.no-reads', message: `${what}: no time point assessed by both` });
    const kappa: KappaSet = {
      unweighted: ua.length ? orNote(() => cohenKappa(ua, ub, { levels: RESPONSE_LEVELS, weights: 'unweighted', confLevel }), n, `${what}, kappa`) : null,
      linear: oa.length ? orNote(() => cohenKappa(oa, ob, { levels: ORDINAL_LEVELS, weights: 'linear', confLevel }), n, `${what}, linear weighted kappa`) : null,
      quadratic: oa.length ? orNote(() => cohenKappa(oa, ob, { levels: ORDINAL_LEVELS, weights: 'quadratic', confLevel }), n, `${what}, quadratic weighted kappa`) : null,
      ordinalPairs: oa.length,
    };
    // BOR
    const ba: string[] = [];
    const bb: string[] = [];
    const pdPairs: [{ c: string; dt: Value }, { c: string; dt: Value }][] = [];
    for (const [key, m] of subjectParam) {
      const x = m.get(a);
      const y = m.get(b);
      if (!x || !y) continue;
      if (key.endsWith(`\u0000${borParam}`)) {
        ba.push(x.c);
        bb.push(y.c);
      } else if (key.endsWith('\u0000PD')) pdPairs.push([x, y]);
    }
    const borWhat = `${a} vs ${b} ${borParam === 'CBOR' ? 'confirmed BOR' : 'BOR'}`;
    const borKnown = (x: string) => (BOR_LEVELS as readonly string[]).includes(x);
    const bka = ba.filter((x, i) => borKnown(x) && borKnown(bb[i]!));
    const bkb = bb.filter((y, i) => borKnown(ba[i]!) && borKnown(y));
    const bor = {
      paramcd: borParam,
      subjects: ba.length,
      agreement: ba.length ? orNote(() => agreementRate(ba.map((x, i) => [x, bb[i]!] as const), { confLevel }), n, borWhat) : null,
      kappa: bka.length ? orNote(() => cohenKappa(bka, bkb, { levels: BOR_LEVELS, confLevel }), n, `${borWhat}, kappa`) : null,
    };
    if (!ba.length) n.push({ code: 'analysis.no-reads', message: `${borWhat}: no subject read by both` });
    const both = pdPairs.filter(([x, y]) => x.c === 'Y' && y.c === 'Y');
    const diffs = both.map(([x, y]) => Math.abs(Date.parse(String(x.dt)) - Date.parse(String(y.dt))) / 86400000).filter(Number.isFinite).sort((p, q) => p - q);
    const progression = {
      subjects: pdPairs.length,
      statusAgreement: pdPairs.length ? orNote(() => agreementRate(pdPairs.map(([x, y]) => [x.c, y.c] as const), { confLevel }), n, `${a} vs ${b} PD status`) : null,
      dateAgreement: pdPairs.length ? orNote(() => agreementRate(pdPairs.map(([x, y]) => [`${x.c}${x.dt ?? ''}`, `${y.c}${y.dt ?? ''}`] as const), { confLevel }), n, `${a} vs ${b} PD date`) : null,
      bothPd: both.length,
      dateDifferenceDays: diffs.length ? { median: quantileType7(diffs, 0.5), max: diffs[diffs.length - 1]! } : null,
    };
    return { a, b, timepoints: { pairs: ra.length, subjects: subj.size, agreement: ra.length ? orNote(() => agreementRate(ra.map((x, i) => [x, rb[i]!] as const), { confLevel }), n, what) : null, kappa }, bor, progression, notes: n };
  });

  // ---- target selection at baseline
  const baseline = new Map<string, Map<string, Set<string>>>(); // subject -> evaluator -> target ids
  for (const r of adtrrdr.rows) {
    if (num(T(r, 'AVISITN')) !== 0 || (T(r, 'AIDECN') === 'REJECT' && T(r, 'AVAL') === null && T(r, 'AVALC') === null)) continue;
    const s = String(T(r, 'USUBJID'));
    let m = baseline.get(s);
    if (!m) baseline.set(s, (m = new Map()));
    const e = String(T(r, 'EVALID'));
    if (!m.has(e)) m.set(e, new Set());
    m.get(e)!.add(String(T(r, 'LESIONID')));
  }
  const targetSelection = pairs.map(([a, b]) => {
    const same: (readonly [boolean, boolean])[] = [];
    for (const m of baseline.values()) {
      const x = m.get(a);
      const y = m.get(b);
      if (!x || !y) continue;
      same.push([x.size === y.size && [...x].every((id) => y.has(id)), true]);
    }
    return { a, b, subjects: same.length, same: same.length ? agreementRate(same, { confLevel }) : null };
  });

  // ---- adjudication
  let adjudication: AdjudicationSummary | null = null;
  const sel = adrsrdr.rows.filter((r) => R(r, 'PARAMCD') === 'BICRSEL');
  if (sel.length) {
    const readersOf = new Map<string, Map<string, string>>(); // subject -> slot -> reader
    for (const r of adrsrdr.rows) {
      if (R(r, 'EVAL') !== 'INDEPENDENT ASSESSOR' || R(r, 'PARAMCD') !== borParam) continue;
      const s = String(R(r, 'USUBJID'));
      if (!readersOf.has(s)) readersOf.set(s, new Map());
      readersOf.get(s)!.set(String(R(r, 'EVALID')), String(R(r, 'READER')));
    }
    const adjudicated = sel.filter((r) => R(r, 'ADJFL') === 'Y');
    const per = new Map<string, { subjects: number; adjudicated: number; selected: number }>();
    for (const r of sel) {
      const s = String(R(r, 'USUBJID'));
      const adj = R(r, 'ADJFL') === 'Y';
      for (const [slot, rd] of readersOf.get(s) ?? []) {
        const x = per.get(rd) ?? { subjects: 0, adjudicated: 0, selected: 0 };
        x.subjects++;
        if (adj) {
          x.adjudicated++;
          if (R(r, 'AVALC') === slot) x.selected++;
        }
        per.set(rd, x);
      }
    }
    const slots = sortedLevels(adjudicated.map((r) => String(R(r, 'AVALC'))).concat(['RADIOLOGIST 1', 'RADIOLOGIST 2'].filter((s) => evaluators.includes(s))));
    adjudication = {
      subjects: sel.length,
      adjudicated: adjudicated.length,
      rate: proportion(adjudicated.length, sel.length, confLevel),
      perReader: [...per.keys()].sort().map((rd) => {
        const x = per.get(rd)!;
        return { reader: rd, subjects: x.subjects, adjudicated: x.adjudicated, rate: x.subjects ? proportion(x.adjudicated, x.subjects, confLevel) : null, selected: x.selected, selectedRate: x.adjudicated ? proportion(x.selected, x.adjudicated, confLevel) : null };
      }),
      bySlot: slots.map((s) => {
        const k = adjudicated.filter((r) => R(r, 'AVALC') === s).length;
        return { evaluatorId: s, selected: k, share: adjudicated.length ? proportion(k, adjudicated.length, confLevel) : null };
      }),
    };
    if (!adjudicated.length) notes.push({ code: 'analysis.no-adjudication', message: `no subject needed adjudication (${sel.length} compared): who the adjudicator chose is not estimable` });
  } else notes.push({ code: 'analysis.no-adjudication', message: 'no BICR selection records (ADRSRDR PARAMCD BICRSEL): adjudication rates not estimable' });

  // ---- AI effect
  let aiEffect: AgreementSummary['aiEffect'] = null;
  const decided = adtrrdr.rows.filter((r) => T(r, 'AIDECN') !== null && T(r, 'AIDECN') !== undefined);
  if (decided.length) {
    const [tDec, tAivalc, tAival] = [ti('AIDECN'), ti('AIVALC'), ti('AIVAL')];
    const rowFor = (name: string, rows: Value[][]): AiEffectRow => {
      let accept = 0;
      let edit = 0;
      let reject = 0;
      let add = 0;
      for (const r of rows) {
        const d = r[tDec];
        if (d === 'ACCEPT') accept++;
        else if (d === 'EDIT') edit++;
        else if (d === 'REJECT') reject++;
        else if (d === 'ADD') add++;
      }
      const proposals = accept + edit + reject;
      const rate = (k: number) => (proposals ? proportion(k, proposals, confLevel) : null);
      const sizes: number[] = [];
      const pcts: number[] = [];
      for (const r of rows) {
        if (r[tDec] !== 'EDIT') continue;
        const v = num(r[tAval]!);
        const ai = num(r[tAival]!);
        if (v === null || ai === null || SPECIAL.has(String(r[tAvalc])) || SPECIAL.has(String(r[tAivalc]))) continue;
        sizes.push(Math.abs(v - ai));
        if (ai > 0) pcts.push((100 * Math.abs(v - ai)) / ai);
      }
      sizes.sort((p, q) => p - q);
      pcts.sort((p, q) => p - q);
      return {
        reader: name, proposals, accept, edit, reject, add,
        acceptRate: rate(accept), editRate: rate(edit), rejectRate: rate(reject),
        editSize: sizes.length ? { n: sizes.length, meanAbsMm: sizes.reduce((s, x) => s + x, 0) / sizes.length, medianAbsMm: quantileType7(sizes, 0.5), q1AbsMm: quantileType7(sizes, 0.25), q3AbsMm: quantileType7(sizes, 0.75), medianAbsPct: pcts.length ? quantileType7(pcts, 0.5) : 0 } : null,
      };
    };
    const tReader = ti('READER');
    const byReader = new Map<string, Value[][]>();
    for (const r of decided) {
      const k = String(r[tReader]);
      if (!byReader.has(k)) byReader.set(k, []);
      byReader.get(k)!.push(r);
    }
    aiEffect = { overall: rowFor('all readers', decided), perReader: sortedLevels(byReader.keys()).map((rd) => rowFor(rd, byReader.get(rd)!)) };
  } else notes.push({ code: 'analysis.no-ai-decisions', message: 'no reader decisions on AI proposals (ADTRRDR AIDECN): the AI effect is not estimable' });

  return { origin, evaluators, subjects, lesions, allEvaluators, responses, targetSelection, adjudication, aiEffect, notes };
}
