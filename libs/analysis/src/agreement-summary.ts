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
import { byRun, cellAt as datasetsCellAt, columnIndices, type Dataset, type Value } from '@app/datasets';
import { blandAltman, proportion, cohenKappaTable, iccColumns, quantilesType7Unsorted, quantileType7, withinTolerance, type BlandAltmanResult, type IccResult, type KappaResult, type Share } from './agreement';
import { sortedLevels, systematicStep } from './data';
import { orNote, type NotEstimable } from './errors';
import { type Scratch, withScratch } from './scratch';

// Bound once at load: a call through @app/datasets' `export *` re-export is a getter with a megamorphic keyed lookup,
// which costs more than cellAt itself in the row loops (about 30 ms of a 10,000-subject report's statistics).
const cellAt = datasetsCellAt;

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
  /**
   * The pairs themselves for the Bland-Altman plot, as parallel arrays: mean of the two and difference a - b, in mm.
   * Every pair, or with `maxPoints` a systematic sample: pairs 0, k, 2k, ... (k = `pointsStep`).
   */
  points: { mean: number[]; diff: number[] };
  /** 1 when `points` holds every pair, else k of the 1-in-k sample. */
  pointsStep: number;
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

/** 100 (a - b) / mean(a, b) of the pairs with a positive mean, as (differences, zeros) for blandAltman, in scratch arrays. */
function relativeDifferences(scratch: Scratch, a: ArrayLike<number>, b: ArrayLike<number>): [Float64Array, Float64Array] {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i]! + b[i]! > 0) n++;
  const rel = scratch.f64(n);
  for (let i = 0, k = 0; i < a.length; i++) if (a[i]! + b[i]! > 0) rel[k++] = (200 * (a[i]! - b[i]!)) / (a[i]! + b[i]!);
  return [rel, scratch.f64(n)];
}

const SPECIAL = new Set(['TOO SMALL TO MEASURE', 'DISAPPEARED', 'NOT ASSESSED']);
/** A special value (TOO SMALL TO MEASURE, DISAPPEARED, NOT ASSESSED): no hashing of the short numeric texts of measured rows. */
const isSpecial = (c: Value | undefined): boolean => typeof c === 'string' && c.length >= 11 && SPECIAL.has(c);
/** Per reader in the decision counts: accept, edit, reject, add, edits with a size in mm, edits with a size in %. */
const DECISION_SLOTS = 6;
/** ADRSRDR parameter codes. */
const [P_OTHER, P_OVR, P_CBOR, P_BOR, P_PD, P_BICRSEL] = [0, 1, 2, 3, 4, 5];

/** Small-integer codes of values, in order of first appearance. */
class Codes {
  readonly m = new Map<Value, number>();
  of(v: Value): number {
    let k = this.m.get(v);
    if (k === undefined) this.m.set(v, (k = this.m.size));
    return k;
  }
  /**
   * of() for values that come in runs (rows are grouped: a subject's rows together, a read's rows together): the
   * previous value is compared first, so most rows need no Map lookup.
   */
  ofRun(v: Value): number {
    return this.run.of(v);
  }
  // a method over a RunLookup, not a closure field: see RunLookup in @app/datasets
  private readonly run = byRun((v: Value) => this.of(v));
  get size(): number {
    return this.m.size;
  }
}
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

/** Reader decisions on AI proposals, counted for one reader (or all). */
interface AiAcc {
  accept: number;
  edit: number;
  reject: number;
  add: number;
  /** Edits where both are measured values (|reader - AI| in mm known), and those of them with a positive AI value (% known). */
  sized: number;
  pcts: number;
}

/** Where the edit sizes are: the rows (`rows[0..n)`) of edits with a size, each row's size in mm and % (NaN: none) and reader code. */
interface EditSizes {
  rows: Int32Array;
  n: number;
  size: Float64Array;
  pct: Float64Array;
  reader: Int32Array;
}

/** The `per` values (NaN: none) of the edit rows of reader `who` (every reader when who < 0), in a scratch array of `count`. */
function valuesOf(scratch: Scratch, e: EditSizes, per: Float64Array, who: number, count: number): Float64Array {
  const out = scratch.f64(count);
  let k = 0;
  for (let j = 0; j < e.n; j++) {
    const i = e.rows[j]!;
    if (!Number.isNaN(per[i]!) && (who < 0 || e.reader[i] === who)) out[k++] = per[i]!;
  }
  return out;
}

/** The AI effect row of one reader (`who`: its reader code) or of all (who < 0). Quantiles by selection (no sort). */
function aiRow(scratch: Scratch, reader: string, x: AiAcc, confLevel: number, e: EditSizes, who: number): AiEffectRow {
  const { accept, edit, reject, add } = x;
  const proposals = accept + edit + reject;
  const rate = (k: number) => (proposals ? proportion(k, proposals, confLevel) : null);
  const sizes = valuesOf(scratch, e, e.size, who, x.sized);
  let sum = 0;
  for (let i = 0; i < sizes.length; i++) sum += sizes[i]!;
  const [q1, med, q3] = sizes.length ? quantilesType7Unsorted(sizes, [0.25, 0.5, 0.75]) : [0, 0, 0];
  const pcts = valuesOf(scratch, e, e.pct, who, x.pcts);
  return {
    reader, proposals, accept, edit, reject, add,
    acceptRate: rate(accept), editRate: rate(edit), rejectRate: rate(reject),
    editSize: sizes.length ? { n: sizes.length, meanAbsMm: sum / sizes.length, medianAbsMm: med!, q1AbsMm: q1!, q3AbsMm: q3!, medianAbsPct: pcts.length ? quantilesType7Unsorted(pcts, [0.5])[0]! : 0 } : null,
  };
}

export interface AgreementOptions {
  confLevel?: number;
  /** Tolerances of the "within" shares: absolute in mm (default 2) and relative (default 0.1). */
  absTolMm?: number;
  relTol?: number;
  /**
   * Called with the diameter section (final: the same objects the summary returns) as soon as it is computed, before
   * the response, adjudication and AI sections: the report starts drawing its Bland-Altman plots meanwhile.
   */
  onLesions?: (lesions: LesionAgreement[], origin: string | null) => void;
  /**
   * At most this many Bland-Altman points kept per evaluator pair (`points`): a systematic 1-in-k sample, k =
   * ceil(pairs / maxPoints), the pairs 0, k, 2k, ... (the sample the report's plot draws). Default: every pair. The
   * statistics always use every pair.
   */
  maxPoints?: number;
}

/**
 * The agreement summary of a cut's reads. `adtrrdr` / `adrsrdr` may be undefined (a cut without reads): then every
 * part is null and `notes` says why.
 */
export function readerAgreement(adtrrdr: Dataset | undefined, adrsrdr: Dataset | undefined, o: AgreementOptions = {}): AgreementSummary {
  return withScratch((scratch) => agreementOf(scratch, adtrrdr, adrsrdr, o));
}

function agreementOf(scratch: Scratch, adtrrdr: Dataset | undefined, adrsrdr: Dataset | undefined, o: AgreementOptions): AgreementSummary {
  const confLevel = o.confLevel ?? 0.95;
  const notes: NotEstimable[] = [];
  const empty: AgreementSummary = { origin: null, evaluators: [], subjects: 0, lesions: [], allEvaluators: null, responses: [], targetSelection: [], adjudication: null, aiEffect: null, notes };
  if (!adtrrdr || !adrsrdr || (adtrrdr.rows.length === 0 && adrsrdr.rows.length === 0)) {
    notes.push({ code: 'analysis.no-reads', message: 'this cut holds one read per subject (no ADTRRDR / ADRSRDR reader-level datasets): reader and AI agreement cannot be computed' });
    return empty;
  }
  const d = readPasses(scratch, adtrrdr, adrsrdr, notes);
  const { lesions, allEvaluators } = lesionSection(scratch, d, o, confLevel);
  const { responses, borParam } = responseSection(scratch, d, confLevel);
  const targetSelection = targetSelectionOf(d, confLevel);
  const adjudication = adjudicationOf(d, confLevel, borParam, notes);
  const aiEffect = aiEffectOf(scratch, d, confLevel, notes);
  return { origin: d.origin, evaluators: d.evaluators, subjects: d.nS, lesions, allEvaluators, responses, targetSelection, adjudication, aiEffect, notes };
}

/**
 * The passes over the reader-level rows: ADTRRDR and ADRSRDR read once each into codes and typed arrays (scratch), the
 * evaluators and their pairs. Every section of the summary works from these.
 */
function readPasses(scratch: Scratch, adtrrdr: Dataset, adrsrdr: Dataset, notes: NotEstimable[]) {
  // Hundreds of thousands of rows (10,000 subjects x 3 evaluators x visits x lesions): columns by index, subjects,
  // visits and lesions interned to small integers, pairs keyed by number, values in typed arrays (scratch: reused).
  const tRows = adtrrdr.rows;
  const rRows = adrsrdr.rows;
  // column indices (-1: absent; r[-1] is undefined, read as missing)
  const [tEval, tSubj, tAval, tAvalc, tVisit, tLesion, tDecn, tAival, tAivalc, tReader, tSrc] = columnIndices(adtrrdr, 'EVALID', 'USUBJID', 'AVAL', 'AVALC', 'AVISITN', 'LESIONID', 'AIDECN', 'AIVAL', 'AIVALC', 'READER', 'READSRC');
  const [rEval, rSubj, rParam, rVisit, rAvalc, rAdt, rEvalType, rReader, rAdjfl, rSrc] = columnIndices(adrsrdr, 'EVALID', 'USUBJID', 'PARAMCD', 'AVISITN', 'AVALC', 'ADT', 'EVAL', 'READER', 'ADJFL', 'READSRC');
  const srcOf = (rows: Value[][], i: number) => (rows[0] ? (cellAt(rows[0], i) as string | null) : null);
  const origin = srcOf(tRows, tSrc) ?? srcOf(rRows, rSrc) ?? null;
  // One pass over ADTRRDR (its rows are wide: touch each once): evaluator and subject codes, measured values,
  // baseline targets, AI decisions.
  const evalRaw = new Codes();
  const subjRaw = new Codes();
  const visitT = new Codes();
  const lesionT = new Codes();
  const n = tRows.length;
  const tEvalRaw = scratch.i32(n);
  const tSubjOf = scratch.i32(n);
  const tVisitOf = scratch.i32(n);
  const tLesionOf = scratch.i32(n);
  const tValue = scratch.f64(n, NaN);
  // baseline target selections: the rows' lesion codes (own codes: every baseline row, measured or not)
  const baseLesion = new Codes();
  const baseRows = scratch.i32(n);
  const baseLesionOf = scratch.i32(n);
  let nBase = 0;
  // AI decisions per reader code: counts [accept, edit, reject, add, sized, pcts] x reader
  const readers = new Codes();
  const decisionCounts: number[] = [];
  // per row: the edit size in mm and % (NaN: none) and the deciding reader's code (for the per-reader quantiles)
  const rowSize = scratch.f64(n, NaN);
  const rowPct = scratch.f64(n, NaN);
  const rowReader = scratch.i32(n, -1);
  const editRows = scratch.i32(n);
  let nEdits = 0;
  let decidedRows = 0;
  for (let i = 0; i < n; i++) {
    const r = tRows[i]!;
    tEvalRaw[i] = evalRaw.ofRun(r[tEval]!);
    tSubjOf[i] = subjRaw.ofRun(r[tSubj]!);
    const av = r[tAval]!;
    const v = typeof av === 'number' ? av : num(av);
    const c = r[tAvalc];
    const visit = r[tVisit]!;
    if (v !== null && !isSpecial(c)) {
      tValue[i] = v;
      tVisitOf[i] = visitT.of(visit);
      tLesionOf[i] = lesionT.of(r[tLesion]!);
    }
    const d = tDecn < 0 ? null : r[tDecn];
    if ((visit === 0 || (typeof visit !== 'number' && num(visit) === 0)) && !(d === 'REJECT' && av == null && c == null)) {
      baseRows[nBase] = i;
      baseLesionOf[nBase++] = baseLesion.of(String(cellAt(r, tLesion)));
    }
    if (d !== null && d !== undefined) {
      decidedRows++;
      const readerK = readers.ofRun(String(r[tReader]));
      if (readerK * DECISION_SLOTS === decisionCounts.length) for (let j = 0; j < DECISION_SLOTS; j++) decisionCounts.push(0); // a new reader
      rowReader[i] = readerK;
      if (d === 'EDIT') {
        const ai = num(r[tAival]!);
        if (v !== null && ai !== null && !isSpecial(String(r[tAvalc])) && !isSpecial(String(r[tAivalc]))) {
          rowSize[i] = Math.abs(v - ai);
          if (ai > 0) rowPct[i] = (100 * Math.abs(v - ai)) / ai;
          editRows[nEdits++] = i;
        }
      }
      const base = readerK * DECISION_SLOTS;
      const k = d === 'ACCEPT' ? 0 : d === 'EDIT' ? 1 : d === 'REJECT' ? 2 : d === 'ADD' ? 3 : -1;
      if (k >= 0) decisionCounts[base + k]!++;
      if (!Number.isNaN(rowSize[i]!)) decisionCounts[base + 4]!++;
      if (!Number.isNaN(rowPct[i]!)) decisionCounts[base + 5]!++;
    }
  }
  // One pass over ADRSRDR: subject, evaluator and parameter codes; each time-point response's visit and text codes.
  const rn = rRows.length;
  const rEvalRaw = scratch.i32(rn);
  const rSubjOf = scratch.i32(rn);
  const rParamOf = scratch.u8(rn);
  const rVisitOf = scratch.i32(rn);
  const rTextOf = scratch.i32(rn);
  const visitR = new Codes();
  const ovrText = new Codes();
  let hasCbor = false;
  for (let i = 0; i < rn; i++) {
    const r = rRows[i]!;
    rSubjOf[i] = subjRaw.ofRun(r[rSubj]!);
    const p = r[rParam];
    const pc = p === 'OVR' ? P_OVR : p === 'CBOR' ? P_CBOR : p === 'BOR' ? P_BOR : p === 'PD' ? P_PD : p === 'BICRSEL' ? P_BICRSEL : P_OTHER;
    rParamOf[i] = pc;
    if (pc === P_CBOR) hasCbor = true;
    if (pc === P_BICRSEL) continue; // names no evaluator
    rEvalRaw[i] = evalRaw.ofRun(r[rEval]!);
    if (pc === P_OVR) {
      rVisitOf[i] = visitR.of(r[rVisit]!);
      rTextOf[i] = ovrText.of(String(rAvalc < 0 ? null : r[rAvalc]));
    }
  }
  const nS = subjRaw.m.size;
  // every EVALID of both datasets (BICRSEL rows name no evaluator), as text
  const evaluators = sortedLevels(new Set([...evalRaw.m.keys()].map(String))).sort(evalOrder);
  if (evaluators.length < 2) notes.push({ code: 'analysis.no-reads', message: `only one evaluator (${evaluators.join(', ') || 'none'}) in the reader-level datasets: agreement needs two` });
  const E = evaluators.length;
  const evalIdx = new Map(evaluators.map((e, i) => [e, i]));
  /** raw EVALID code -> evaluator index */
  const evalOfRaw = Int32Array.from([...evalRaw.m.keys()].map((v) => evalIdx.get(String(v)) ?? -1));

  const pairs = pairsOf(evaluators);
  return {
    origin, nS, evaluators, E, evalIdx, evalOfRaw, pairs,
    // ADTRRDR: per row, codes and measured value; baseline rows; AI decisions
    tRows, visitT, lesionT, tEvalRaw, tSubjOf, tVisitOf, tLesionOf, tValue, baseRows, baseLesionOf, nBase,
    readers, decisionCounts, rowSize, rowPct, rowReader, editRows, nEdits, decidedRows,
    // ADRSRDR: per row, codes; the columns the sections read
    rRows, rn, rEvalRaw, rSubjOf, rParamOf, rVisitOf, rTextOf, visitR, ovrText, hasCbor, rEval, rAvalc, rAdt, rEvalType, rReader, rAdjfl,
  };
}
type Reads = ReturnType<typeof readPasses>;

/** The diameter section: ICC, Bland-Altman and tolerance shares per evaluator pair, and the all-evaluator ICC. */
function lesionSection(scratch: Scratch, d: Reads, o: AgreementOptions, confLevel: number): { lesions: LesionAgreement[]; allEvaluators: AgreementSummary['allEvaluators'] } {
  const { tRows, origin, nS, visitT, lesionT, tEvalRaw, tSubjOf, tVisitOf, tLesionOf, tValue, evaluators, E, evalIdx, evalOfRaw, pairs } = d;
  // ---- lesion measurements: (subject, visit, lesion) -> value per evaluator (NaN: not measured by that evaluator)
  const nV = visitT.m.size;
  const nL = lesionT.m.size;
  // (subject, visit, lesion) key -> slot + 1: a dense index while the key space is small (up to 16 M keys), else a Map
  const nKeys = nS * nV * nL;
  const dense = nKeys <= 1 << 24 ? scratch.i32(nKeys) : null;
  const sparse = dense ? null : new Map<number, number>();
  let measuredRows = 0;
  for (let i = 0; i < tRows.length; i++) if (!Number.isNaN(tValue[i]!)) measuredRows++;
  const slotSubject = scratch.i32(measuredRows);
  const vals = scratch.f64(measuredRows * E, NaN); // slot * E + evaluator
  let nSlots = 0;
  for (let i = 0; i < tRows.length; i++) {
    if (Number.isNaN(tValue[i]!)) continue;
    const key = (tSubjOf[i]! * nV + tVisitOf[i]!) * nL + tLesionOf[i]!;
    let slot = (dense ? dense[key]! : (sparse!.get(key) ?? 0)) - 1;
    if (slot < 0) {
      slot = nSlots++;
      if (dense) dense[key] = slot + 1;
      else sparse!.set(key, slot + 1);
      slotSubject[slot] = tSubjOf[i]!;
    }
    vals[slot * E + evalOfRaw[tEvalRaw[i]!]!] = tValue[i]!;
  }
  const seen = new Uint8Array(nS);
  const lesions: LesionAgreement[] = pairs.map(([a, b]) => {
    const n: NotEstimable[] = [];
    const ia = evalIdx.get(a)!;
    const ib = evalIdx.get(b)!;
    let count = 0;
    for (let s = 0; s < nSlots; s++) if (!Number.isNaN(vals[s * E + ia]!) && !Number.isNaN(vals[s * E + ib]!)) count++;
    const xa = scratch.f64(count);
    const xb = scratch.f64(count);
    seen.fill(0);
    let nSubj = 0;
    for (let s = 0, k = 0; s < nSlots; s++) {
      const va = vals[s * E + ia]!;
      const vb = vals[s * E + ib]!;
      if (Number.isNaN(va) || Number.isNaN(vb)) continue;
      xa[k] = va;
      xb[k++] = vb;
      if (!seen[slotSubject[s]!]) {
        seen[slotSubject[s]!] = 1;
        nSubj++;
      }
    }
    const what = `${a} vs ${b} diameters`;
    if (count === 0) n.push({ code: 'analysis.no-reads', message: `${what}: no lesion measured by both` });
    const ok = count > 0;
    // returned, so not scratch; number arrays on the heap, not typed arrays (see scratch.ts)
    const step = o.maxPoints === undefined ? 1 : systematicStep(count, o.maxPoints);
    const kept = Math.ceil(count / step);
    const mean = new Array<number>(kept);
    const diff = new Array<number>(kept);
    for (let j = 0, k = 0; j < kept; j++, k += step) {
      mean[j] = (xa[k]! + xb[k]!) / 2;
      diff[j] = xa[k]! - xb[k]!;
    }
    return {
      a, b, pairs: count, subjects: nSubj,
      icc: ok ? orNote(() => iccColumns([xa, xb], { confLevel }), n, `${what}, ICC`) : null,
      blandAltman: ok ? orNote(() => blandAltman(xa, xb, { confLevel }), n, `${what}, Bland-Altman`) : null,
      blandAltmanPct: ok ? orNote(() => blandAltman(...relativeDifferences(scratch, xa, xb), { confLevel }), n, `${what}, relative Bland-Altman`) : null,
      tolerance: ok ? orNote(() => withinTolerance(xa, xb, { absTol: o.absTolMm ?? 2, relTol: o.relTol ?? 0.1, confLevel }), n, `${what}, within tolerance`) : null,
      points: { mean, diff },
      pointsStep: step,
      notes: n,
    };
  });
  for (const l of lesions) for (const x of l.icc?.notes ?? []) l.notes.push(x);
  for (const l of lesions) for (const x of l.blandAltman?.notes ?? []) l.notes.push(x);
  o.onLesions?.(lesions, origin);
  let allEvaluators: AgreementSummary['allEvaluators'] = null;
  if (evaluators.length > 2) {
    const n: NotEstimable[] = [];
    // the slots measured by every evaluator, each evaluator's values in a column
    const full = scratch.i32(nSlots);
    let nFull = 0;
    for (let s = 0; s < nSlots; s++) {
      let all = true;
      for (let e = 0; e < E && all; e++) if (Number.isNaN(vals[s * E + e]!)) all = false;
      if (all) full[nFull++] = s;
    }
    const columns = evaluators.map((_, e) => {
      const col = scratch.f64(nFull);
      for (let k = 0; k < nFull; k++) col[k] = vals[full[k]! * E + e]!;
      return col;
    });
    allEvaluators = { evaluators, pairs: nFull, icc: nFull ? orNote(() => iccColumns(columns, { confLevel }), n, `${evaluators.join(' / ')} diameters, ICC`) : null, notes: n };
    if (!nFull) n.push({ code: 'analysis.no-reads', message: 'no lesion measured by every evaluator' });
  }

  return { lesions, allEvaluators };
}

/** The response section: time-point responses (kappas), BOR and PD agreement per evaluator pair. */
function responseSection(scratch: Scratch, d: Reads, confLevel: number): { responses: ResponseAgreement[]; borParam: 'CBOR' | 'BOR' } {
  const { rRows, rAvalc, rAdt, rn, rEvalRaw, rSubjOf, rParamOf, rVisitOf, rTextOf, visitR, ovrText, nS, E, evalIdx, evalOfRaw, pairs, hasCbor } = d;
  const seen = new Uint8Array(nS);
  // ---- responses: time-point OVR per (subject, visit) and evaluator; CBOR/BOR/PD per subject and evaluator
  // (subject, visit) -> slot + 1: dense while the key space is small, else a Map
  const nVR = visitR.size;
  const ovrDense = nS * nVR <= 1 << 24 ? scratch.i32(nS * nVR) : null;
  const ovrSparse = ovrDense ? null : new Map<number, number>();
  // time-point responses as codes of `ovrText` (-1: not read by that evaluator), slot * E + evaluator
  const ovrSubject = scratch.i32(rn);
  const ovrVal = scratch.i32(rn * E, -1);
  let nOvr = 0;
  // CBOR, BOR and PD per (subject, evaluator): code + 1 of the AVALC text (0: none), and the PD row (for its date)
  const subjText = new Codes();
  const cborOf = scratch.i32(nS * E);
  const borOf = scratch.i32(nS * E);
  const pdOf = scratch.i32(nS * E);
  const pdRow = scratch.i32(nS * E);
  for (let i = 0; i < rn; i++) {
    const pc = rParamOf[i]!;
    if (pc === P_OTHER || pc === P_BICRSEL) continue;
    const e = evalOfRaw[rEvalRaw[i]!]!;
    if (pc === P_OVR) {
      const key = rSubjOf[i]! * nVR + rVisitOf[i]!;
      let slot = (ovrDense ? ovrDense[key]! : (ovrSparse!.get(key) ?? 0)) - 1;
      if (slot < 0) {
        slot = nOvr++;
        if (ovrDense) ovrDense[key] = slot + 1;
        else ovrSparse!.set(key, slot + 1);
        ovrSubject[slot] = rSubjOf[i]!;
      }
      ovrVal[slot * E + e] = rTextOf[i]!;
    } else {
      const k = rSubjOf[i]! * E + e;
      const code = subjText.of(String(rAvalc < 0 ? null : rRows[i]![rAvalc])) + 1;
      if (pc === P_CBOR) cborOf[k] = code; else if (pc === P_BOR) borOf[k] = code;
      else {
        pdOf[k] = code;
        pdRow[k] = i;
      }
    }
  }
  const borParam: 'CBOR' | 'BOR' = hasCbor ? 'CBOR' : 'BOR';
  const borCodes = hasCbor ? cborOf : borOf;
  // per text code: its BOR level (-1: outside BOR_LEVELS); the code of 'Y' (PD)
  const subjTexts = [...subjText.m.keys()] as string[];
  const borLevelOf = Int32Array.from(subjTexts, (x) => (BOR_LEVELS as readonly string[]).indexOf(x));
  const yCode = (subjText.m.get('Y') ?? -2) + 1;
  const pdDate = (k: number): Value => (rAdt < 0 ? null : (rRows[pdRow[k]!]![rAdt] ?? null));
  // per code: its row in the six-category table, and in the ordinal one (-1: outside)
  const ovrTexts = [...ovrText.m.keys()] as string[];
  const unweightedOf = Int32Array.from(ovrTexts, (x) => (RESPONSE_LEVELS as readonly string[]).indexOf(x));
  const ordinalOf = Int32Array.from(ovrTexts, (x) => (ORDINAL_OF[x] ? (ORDINAL_LEVELS as readonly string[]).indexOf(ORDINAL_OF[x]!) : -1));
  const square = (L: number) => Array.from({ length: L }, () => new Array<number>(L).fill(0));
  const responses: ResponseAgreement[] = pairs.map(([a, b]) => {
    const n: NotEstimable[] = [];
    const ia = evalIdx.get(a)!;
    const ib = evalIdx.get(b)!;
    seen.fill(0);
    let nSubj = 0;
    // pairs, identical responses, and the contingency tables of the known categories and of the ordinal scale
    let nPairs = 0;
    let same = 0;
    let nKnown = 0;
    let nOrdinal = 0;
    const unweighted = square(RESPONSE_LEVELS.length);
    const ordinal = square(ORDINAL_LEVELS.length);
    for (let s = 0; s < nOvr; s++) {
      const x = ovrVal[s * E + ia]!;
      const y = ovrVal[s * E + ib]!;
      if (x < 0 || y < 0) continue;
      nPairs++;
      if (x === y) same++;
      const ux = unweightedOf[x]!;
      const uy = unweightedOf[y]!;
      if (ux >= 0 && uy >= 0) {
        unweighted[ux]![uy]!++;
        nKnown++;
      }
      const ox = ordinalOf[x]!;
      const oy = ordinalOf[y]!;
      if (ox >= 0 && oy >= 0) {
        ordinal[ox]![oy]!++;
        nOrdinal++;
      }
      if (!seen[ovrSubject[s]!]) {
        seen[ovrSubject[s]!] = 1;
        nSubj++;
      }
    }
    const what = `${a} vs ${b} time-point responses`;
    if (!nPairs) n.push({ code: 'analysis.no-reads', message: `${what}: no time point assessed by both` });
    const kappa: KappaSet = {
      unweighted: nKnown ? orNote(() => cohenKappaTable(unweighted, { levels: RESPONSE_LEVELS, weights: 'unweighted', confLevel }), n, `${what}, kappa`) : null,
      linear: nOrdinal ? orNote(() => cohenKappaTable(ordinal, { levels: ORDINAL_LEVELS, weights: 'linear', confLevel }), n, `${what}, linear weighted kappa`) : null,
      quadratic: nOrdinal ? orNote(() => cohenKappaTable(ordinal, { levels: ORDINAL_LEVELS, weights: 'quadratic', confLevel }), n, `${what}, quadratic weighted kappa`) : null,
      ordinalPairs: nOrdinal,
    };
    // BOR (or CBOR), and PD status and date, per subject read by both
    let nBor = 0;
    let sameBor = 0;
    let nBorKnown = 0;
    const borTable = square(BOR_LEVELS.length);
    let nPd = 0;
    let samePd = 0;
    let sameDate = 0;
    let bothPd = 0;
    const diffs: number[] = [];
    for (let s = 0; s < nS; s++) {
      const ka = s * E + ia;
      const kb = s * E + ib;
      const x = borCodes[ka]!;
      const y = borCodes[kb]!;
      if (x && y) {
        nBor++;
        if (x === y) sameBor++;
        const ux = borLevelOf[x - 1]!;
        const uy = borLevelOf[y - 1]!;
        if (ux >= 0 && uy >= 0) {
          borTable[ux]![uy]!++;
          nBorKnown++;
        }
      }
      const px = pdOf[ka]!;
      const py = pdOf[kb]!;
      if (px && py) {
        nPd++;
        if (px === py) {
          samePd++;
          const dx = pdDate(ka);
          const dy = pdDate(kb);
          if (String(dx ?? '') === String(dy ?? '')) sameDate++;
          if (px === yCode) {
            bothPd++;
            const d = Math.abs(Date.parse(String(dx)) - Date.parse(String(dy))) / 86400000;
            if (Number.isFinite(d)) diffs.push(d);
          }
        }
      }
    }
    diffs.sort((p, q) => p - q);
    const borWhat = `${a} vs ${b} ${borParam === 'CBOR' ? 'confirmed BOR' : 'BOR'}`;
    const bor = {
      paramcd: borParam,
      subjects: nBor,
      agreement: nBor ? orNote(() => proportion(sameBor, nBor, confLevel), n, borWhat) : null,
      kappa: nBorKnown ? orNote(() => cohenKappaTable(borTable, { levels: BOR_LEVELS, weights: 'unweighted', confLevel }), n, `${borWhat}, kappa`) : null,
    };
    if (!nBor) n.push({ code: 'analysis.no-reads', message: `${borWhat}: no subject read by both` });
    const progression = {
      subjects: nPd,
      statusAgreement: nPd ? orNote(() => proportion(samePd, nPd, confLevel), n, `${a} vs ${b} PD status`) : null,
      // the same status and, when both have one, the same date
      dateAgreement: nPd ? orNote(() => proportion(sameDate, nPd, confLevel), n, `${a} vs ${b} PD date`) : null,
      bothPd,
      dateDifferenceDays: diffs.length ? { median: quantileType7(diffs, 0.5), max: diffs[diffs.length - 1]! } : null,
    };
    return { a, b, timepoints: { pairs: nPairs, subjects: nSubj, agreement: nPairs ? proportion(same, nPairs, confLevel) : null, kappa }, bor, progression, notes: n };
  });

  return { responses, borParam };
}

/** Target selection at baseline: the share of subjects for whom two evaluators chose the same target lesions. */
function targetSelectionOf(d: Reads, confLevel: number): AgreementSummary['targetSelection'] {
  const { tEvalRaw, tSubjOf, baseRows, baseLesionOf, nBase, nS, E, evalIdx, evalOfRaw, pairs } = d;
  // ---- target selection at baseline: per (subject, evaluator) the set of baseline lesion codes
  const baseSets = new Array<Set<number> | undefined>(nS * E);
  for (let j = 0; j < nBase; j++) {
    const i = baseRows[j]!;
    const e = evalOfRaw[tEvalRaw[i]!]!;
    if (e < 0) continue;
    const k = tSubjOf[i]! * E + e;
    (baseSets[k] ??= new Set()).add(baseLesionOf[j]!);
  }
  const targetSelection = pairs.map(([a, b]) => {
    const ia = evalIdx.get(a)!;
    const ib = evalIdx.get(b)!;
    let both = 0;
    let same = 0;
    for (let s = 0; s < nS; s++) {
      const x = baseSets[s * E + ia];
      const y = baseSets[s * E + ib];
      if (!x || !y) continue;
      both++;
      if (x.size === y.size && [...x].every((id) => y.has(id))) same++;
    }
    return { a, b, subjects: both, same: both ? proportion(same, both, confLevel) : null };
  });

  return targetSelection;
}

/** Adjudication: how often the BICR reads needed it, per reader, and whom the adjudicator chose. */
function adjudicationOf(d: Reads, confLevel: number, borParam: 'CBOR' | 'BOR', notes: NotEstimable[]): AdjudicationSummary | null {
  const { rRows, rEval, rAvalc, rEvalType, rReader, rAdjfl, rn, rSubjOf, rParamOf, nS, evaluators } = d;
  // ---- adjudication
  let adjudication: AdjudicationSummary | null = null;
  const sel: number[] = [];
  for (let i = 0; i < rn; i++) if (rParamOf[i] === P_BICRSEL) sel.push(i);
  if (sel.length) {
    // subject -> reading slot (EVALID) -> reader, from the independent assessors' BOR (or CBOR) rows
    const borCode = borParam === 'CBOR' ? P_CBOR : P_BOR;
    // (subject, slot) -> reader code (-1: none; a later row replaces an earlier one); slot = EVALID text
    const slotCodes = new Codes();
    const readerCodes = new Codes();
    const assessorRows: number[] = [];
    for (let i = 0; i < rn; i++) {
      if (rParamOf[i] !== borCode || cellAt(rRows[i]!, rEvalType) !== 'INDEPENDENT ASSESSOR') continue;
      assessorRows.push(i, slotCodes.of(String(cellAt(rRows[i]!, rEval))), readerCodes.of(String(cellAt(rRows[i]!, rReader))));
    }
    const nSl = slotCodes.size;
    const slotTexts = [...slotCodes.m.keys()] as string[];
    const readerTexts = [...readerCodes.m.keys()] as string[];
    const readerAt = new Int32Array(nS * nSl).fill(-1);
    for (let j = 0; j < assessorRows.length; j += 3) readerAt[rSubjOf[assessorRows[j]!]! * nSl + assessorRows[j + 1]!] = assessorRows[j + 2]!;
    const adjudicated = sel.filter((i) => cellAt(rRows[i]!, rAdjfl) === 'Y');
    const chosen = (i: number) => String(cellAt(rRows[i]!, rAvalc));
    // per reader code: subjects, adjudicated, selected (the reader's read chosen)
    const counts = new Int32Array(readerTexts.length * 3);
    const seenReader = new Uint8Array(readerTexts.length);
    for (const i of sel) {
      const adj = cellAt(rRows[i]!, rAdjfl) === 'Y';
      const choice = cellAt(rRows[i]!, rAvalc);
      const base = rSubjOf[i]! * nSl;
      for (let c = 0; c < nSl; c++) {
        const rd = readerAt[base + c]!;
        if (rd < 0) continue;
        seenReader[rd] = 1;
        counts[rd * 3]!++;
        if (adj) {
          counts[rd * 3 + 1]!++;
          if (choice === slotTexts[c]) counts[rd * 3 + 2]!++;
        }
      }
    }
    const per = new Map<string, { subjects: number; adjudicated: number; selected: number }>();
    for (let rd = 0; rd < readerTexts.length; rd++) if (seenReader[rd]) per.set(readerTexts[rd]!, { subjects: counts[rd * 3]!, adjudicated: counts[rd * 3 + 1]!, selected: counts[rd * 3 + 2]! });
    const slots = sortedLevels(adjudicated.map(chosen).concat(['RADIOLOGIST 1', 'RADIOLOGIST 2'].filter((s) => evaluators.includes(s))));
    adjudication = {
      subjects: sel.length,
      adjudicated: adjudicated.length,
      rate: proportion(adjudicated.length, sel.length, confLevel),
      perReader: [...per.keys()].sort().map((rd) => {
        const x = per.get(rd)!;
        return { reader: rd, subjects: x.subjects, adjudicated: x.adjudicated, rate: x.subjects ? proportion(x.adjudicated, x.subjects, confLevel) : null, selected: x.selected, selectedRate: x.adjudicated ? proportion(x.selected, x.adjudicated, confLevel) : null };
      }),
      bySlot: slots.map((s) => {
        const k = adjudicated.filter((i) => chosen(i) === s).length;
        return { evaluatorId: s, selected: k, share: adjudicated.length ? proportion(k, adjudicated.length, confLevel) : null };
      }),
    };
    if (!adjudicated.length) notes.push({ code: 'analysis.no-adjudication', message: `no subject needed adjudication (${sel.length} compared): who the adjudicator chose is not estimable` });
  } else notes.push({ code: 'analysis.no-adjudication', message: 'no BICR selection records (ADRSRDR PARAMCD BICRSEL): adjudication rates not estimable' });

  return adjudication;
}

/** The AI effect: readers' decisions on AI proposals and the size of their edits (counted in the ADTRRDR pass). */
function aiEffectOf(scratch: Scratch, d: Reads, confLevel: number, notes: NotEstimable[]): AgreementSummary['aiEffect'] {
  const { readers, decisionCounts, rowSize, rowPct, rowReader, editRows, nEdits, decidedRows } = d;
  // ---- AI effect (counted in the pass above)
  let aiEffect: AgreementSummary['aiEffect'] = null;
  if (decidedRows) {
    const edits: EditSizes = { rows: editRows, n: nEdits, size: rowSize, pct: rowPct, reader: rowReader };
    const accOf = (c: number[]): AiAcc => ({ accept: c[0]!, edit: c[1]!, reject: c[2]!, add: c[3]!, sized: c[4]!, pcts: c[5]! });
    const ofReader = (k: number) => accOf(decisionCounts.slice(k * DECISION_SLOTS, (k + 1) * DECISION_SLOTS));
    // all readers: each slot summed over the readers
    const overall = accOf(Array.from({ length: DECISION_SLOTS }, (_, j) => decisionCounts.reduce((sum, x, i) => (i % DECISION_SLOTS === j ? sum + x : sum), 0)));
    const row = (name: string, x: AiAcc, who: number) => aiRow(scratch, name, x, confLevel, edits, who);
    const names = [...readers.m.keys()] as string[];
    aiEffect = { overall: row('all readers', overall, -1), perReader: sortedLevels(names).map((rd) => row(rd, ofReader(readers.m.get(rd)!), readers.m.get(rd)!)) };
  } else notes.push({ code: 'analysis.no-ai-decisions', message: 'no reader decisions on AI proposals (ADTRRDR AIDECN): the AI effect is not estimable' });

  return aiEffect;
}

