/**
 * The bridge from reads to the endpoint engine (libs/endpoints): a read becomes a `SubjectInput`, and every response,
 * sum, nadir, BOR and PD date shown or compared here is the engine's own derivation, never re-implemented.
 */
import { isInputError } from '@app/core';
import {
  addDays,
  type AiLesionDecision,
  type Assessment,
  bestOverallResponse,
  type Bor,
  confirmedBestOverallResponse,
  dayNumber,
  deriveSubjectEndpoints,
  type NonTargetAssessment,
  type ProtocolSettings,
  resolveSettings,
  type SourceRef,
  type SubjectInput,
  type TargetMeasurement,
  tenthsToMm,
} from '@app/endpoints';
import { ReviewError } from './errors';
import { baselineLesions, type StoredTimepoint } from './read-model';

/** Subject-level facts in the REAL (unshifted) date frame; from the study's own input when it knows the subject. */
export interface SubjectFacts {
  usubjid: string;
  randDate?: string;
  trtStartDate?: string;
  deathDate?: string;
  newTherapyDate?: string;
  lastKnownAliveDate?: string;
  arm?: string;
  armCd?: string;
}

/** Provenance carried into every dataset row of a read (see libs/endpoints SourceRef). */
export interface ReadProvenance {
  /** The read revision id. */
  readId: string;
  /** Who read it (username: the audit name). */
  reader: string;
  /** SDTM --EVAL, e.g. 'INDEPENDENT ASSESSOR'. */
  evaluator: string;
  /** SDTM --EVALID, e.g. 'RADIOLOGIST 1'. */
  evaluatorId: string;
  adjudicator?: string;
  selection?: string;
}

export const EVALUATOR = 'INDEPENDENT ASSESSOR';
export const evaluatorIdOf = (slot: number) => `RADIOLOGIST ${slot}`;

/**
 * A read as the engine's SubjectInput. Stored dates are the reader's (date-shifted) ones: `frame: 'real'` subtracts the
 * subject's shift (the endpoint feed), `frame: 'reader'` keeps them and shifts the subject facts instead (what readers
 * and adjudicators see). Without a randomisation date the baseline scan date stands in (as in the AI-only read).
 */
export function readToSubject(timepoints: StoredTimepoint[], facts: SubjectFacts, prov: ReadProvenance, frame: { kind: 'real' | 'reader'; shiftDays: number }): SubjectInput {
  const tps = [...timepoints].sort((a, b) => a.ordinal - b.ordinal);
  const toFrame = (shifted: string) => (frame.kind === 'real' ? addDays(shifted, -frame.shiftDays) : shifted);
  const factFrame = (real: string | undefined) => (real === undefined ? undefined : frame.kind === 'real' ? real : addDays(real, frame.shiftDays));
  const base = tps[0];
  const bl = baselineLesions(base);
  const source = (tp: StoredTimepoint): SourceRef => ({
    readId: `review:${prov.readId}:${tp.timePointId}`,
    reader: prov.reader,
    evaluator: prov.evaluator,
    evaluatorId: prov.evaluatorId,
    ...(prov.adjudicator ? { adjudicator: prov.adjudicator } : {}),
    ...(prov.selection ? { selection: prov.selection } : {}),
  });
  const assessments: Assessment[] = tps.map((tp) => {
    const src = source(tp);
    const byKey = new Map(tp.lesions.map((l) => [l.lesionKey, l]));
    const targets: TargetMeasurement[] = [];
    const nonTargets: NonTargetAssessment[] = [];
    for (const b of bl.values()) {
      const l = byKey.get(b.lesionKey);
      if (b.classification === 'target') {
        const r = l?.reader;
        const diameter: TargetMeasurement['diameter'] = !r || !r.value ? 'NOT_ASSESSED' : r.value === 'MEASURED' ? r.diameterTenths ?? 'NOT_ASSESSED' : r.value;
        targets.push({ lesionId: b.label, organ: b.organ, nodal: b.nodal, diameter, source: src });
      } else nonTargets.push({ lesionId: b.label, organ: b.organ, nodal: b.nodal, status: l?.reader?.status ?? 'NOT_ASSESSED', source: src });
    }
    const news = tp.lesions.filter((l) => l.classification === 'new');
    return {
      visit: tp.ordinal === 0 ? 'BASELINE' : tp.visit,
      visitNum: tp.ordinal,
      date: toFrame(tp.date),
      baseline: tp.ordinal === 0,
      targets,
      nonTargets,
      newLesions: tp.newLesions,
      ...(news.length ? { newLesionCount: news.length, newLesionSum: news.reduce((s, l) => s + (l.reader?.diameterTenths ?? 0), 0) } : {}),
      source: src,
    };
  });
  const baseDate = assessments[0]?.date;
  return {
    usubjid: facts.usubjid,
    ...(facts.arm !== undefined ? { arm: facts.arm } : {}),
    ...(facts.armCd !== undefined ? { armCd: facts.armCd } : {}),
    randDate: factFrame(facts.randDate) ?? baseDate ?? '1970-01-01',
    ...(facts.trtStartDate ? { trtStartDate: factFrame(facts.trtStartDate) } : {}),
    ...(facts.deathDate ? { deathDate: factFrame(facts.deathDate) } : {}),
    ...(facts.newTherapyDate ? { newTherapyDate: factFrame(facts.newTherapyDate) } : {}),
    ...(facts.lastKnownAliveDate ? { lastKnownAliveDate: factFrame(facts.lastKnownAliveDate) } : {}),
    assessments,
  };
}

/**
 * A signed read's decisions on the AI proposals, as the reader-level datasets take them (ADTRRDR AIVAL / AIDECN): per
 * timepoint, every lesion the reader kept as a target (accept / edit of an AI proposal, or add) and every AI proposal
 * they rejected, with the AI's RECIST diameter (short axis for a node, long axis otherwise) in tenths of mm. The lesion
 * id is the one the read's TR rows use (the tracking label), so both reads of a subject line up.
 */
export function readAiDecisions(timepoints: StoredTimepoint[]): AiLesionDecision[] {
  const tps = [...timepoints].sort((a, b) => a.ordinal - b.ordinal);
  const targets = new Set([...baselineLesions(tps[0]).values()].filter((b) => b.classification === 'target').map((b) => b.lesionKey));
  const out: AiLesionDecision[] = [];
  for (const tp of tps)
    for (const l of tp.lesions) {
      if (l.decision !== 'reject' && !targets.has(l.lesionKey)) continue;
      const mm = l.ai ? (l.nodal ? l.ai.shortAxisMm : l.ai.longAxisMm) : null;
      out.push({ visitNum: tp.ordinal, lesionId: l.label, organ: l.organ, nodal: l.nodal, ai: mm === null ? null : Math.round(mm * 10), decision: l.decision === 'add' || !l.ai ? 'ADD' : (l.decision.toUpperCase() as AiLesionDecision['decision']) });
    }
  return out;
}

/** Runs the engine on one subject; an engine refusal (e.g. 3 targets in one organ) becomes 400 `review.recist`. */
export function deriveOrRefuse(subject: SubjectInput, settings: ProtocolSettings) {
  try {
    return deriveSubjectEndpoints(subject, settings);
  } catch (e) {
    if (isInputError(e)) throw new ReviewError(400, 'review.recist', `RECIST 1.1 (endpoint engine): ${e.message}`, { engineCode: e.code });
    throw e;
  }
}

export interface RecistRow {
  timePointId: string;
  visit: string;
  date: string;
  dayFromBaseline: number;
  sumMm: number | null;
  baselineSumMm: number | null;
  nadirMm: number | null;
  changeFromBaselinePct: number | null;
  changeFromNadirPct: number | null;
  targetResponse: string | null;
  nonTargetResponse: string | null;
  newLesions: string;
  overallResponse: string | null;
  /** Best overall response over the timepoints so far (unconfirmed / confirmed), by the engine. */
  runningBor: Bor | null;
  runningConfirmedBor: Bor | null;
  /** The reader's own calls (stored as entered; the datasets use the engine's). */
  readerOverallResponse: string | null;
  readerNonTargetResponse: string | null;
  notes: string[];
}

export interface RecistTable {
  criteria: string;
  rows: RecistRow[];
  bor: Bor | null;
  confirmedBor: Bor | null;
  /** First timepoint with overall PD (reader's frame), or null. */
  pdDate: string | null;
  pdTimePointId: string | null;
}

/** The live RECIST table of a (possibly partial) read, per timepoint, computed by the endpoint engine. */
export function recistTable(timepoints: StoredTimepoint[], subject: SubjectInput, settingsIn: Partial<ProtocolSettings>): RecistTable {
  const settings = resolveSettings(settingsIn);
  const tps = [...timepoints].sort((a, b) => a.ordinal - b.ordinal);
  const ep = deriveOrRefuse(subject, settings);
  const base = subject.assessments.find((a) => a.visitNum === 0);
  const bsum = base && base.targets.length ? base.targets.reduce((s, t) => s + (typeof t.diameter === 'number' ? t.diameter : 0), 0) : null;
  const rows: RecistRow[] = [];
  for (const tp of tps) {
    if (tp.ordinal === 0) {
      rows.push({
        timePointId: tp.timePointId, visit: 'BASELINE', date: tp.date, dayFromBaseline: 0,
        sumMm: bsum === null ? null : tenthsToMm(bsum), baselineSumMm: bsum === null ? null : tenthsToMm(bsum), nadirMm: null,
        changeFromBaselinePct: null, changeFromNadirPct: null, targetResponse: null, nonTargetResponse: null, newLesions: tp.newLesions, overallResponse: null,
        runningBor: null, runningConfirmedBor: null, readerOverallResponse: tp.overallResponse, readerNonTargetResponse: tp.nonTargetResponse, notes: [],
      });
      continue;
    }
    const i = ep.visits.findIndex((v) => v.visitNum === tp.ordinal);
    const v = ep.visits[i];
    if (!v) continue;
    const upTo = ep.visits.slice(0, i + 1);
    rows.push({
      timePointId: tp.timePointId,
      visit: tp.visit,
      date: tp.date,
      dayFromBaseline: tp.dayFromBaseline,
      sumMm: v.sum === null ? null : tenthsToMm(v.sum),
      baselineSumMm: v.baselineSum === null ? null : tenthsToMm(v.baselineSum),
      nadirMm: v.nadir === null ? null : tenthsToMm(v.nadir),
      changeFromBaselinePct: v.pctFromBaseline,
      changeFromNadirPct: v.pctFromNadir,
      targetResponse: v.target,
      nonTargetResponse: v.nonTarget,
      newLesions: v.newLesions,
      overallResponse: settings.criteria === 'iRECIST' && v.iOverall ? v.iOverall : v.overall,
      runningBor: bestOverallResponse(upTo, subject, settings).bor,
      runningConfirmedBor: confirmedBestOverallResponse(upTo, subject, settings).bor,
      readerOverallResponse: tp.overallResponse,
      readerNonTargetResponse: tp.nonTargetResponse,
      notes: [...v.notes, ...(tp.overallResponse && tp.overallResponse !== v.overall ? [`the reader called ${tp.overallResponse}; RECIST 1.1 from the recorded lesions gives ${v.overall} (the datasets use the derived response)`] : [])],
    });
  }
  const pd = ep.visits.find((v) => v.overall === 'PD');
  const pdTp = pd ? tps.find((t) => t.ordinal === pd.visitNum) : undefined;
  return {
    criteria: settings.criteria,
    rows,
    bor: tps.length > 1 ? ep.bor.bor : null,
    confirmedBor: tps.length > 1 ? ep.cbor.bor : null,
    pdDate: pdTp?.date ?? null,
    pdTimePointId: pdTp?.timePointId ?? null,
  };
}

/** Which disagreements between the two reads create an adjudication task (per study). */
export interface AdjudicationRules {
  /** Compare best overall response: confirmed (CBOR), unconfirmed (BOR), both, or none. */
  bor: 'confirmed' | 'unconfirmed' | 'both' | 'none';
  /** Compare the date of progression (first overall PD; a PD in one read only is a disagreement). */
  pdDate: boolean;
  /** Dates of progression this many days apart or fewer still agree. */
  pdDateToleranceDays: number;
}
export const DEFAULT_RULES: Readonly<AdjudicationRules> = Object.freeze({ bor: 'confirmed', pdDate: true, pdDateToleranceDays: 0 });

export function checkRules(r: unknown): AdjudicationRules {
  const x = { ...DEFAULT_RULES, ...((r ?? {}) as Partial<AdjudicationRules>) };
  if (!['confirmed', 'unconfirmed', 'both', 'none'].includes(x.bor)) throw new ReviewError(400, 'review.invalid', "rules.bor must be 'confirmed', 'unconfirmed', 'both' or 'none'");
  if (typeof x.pdDate !== 'boolean') throw new ReviewError(400, 'review.invalid', 'rules.pdDate must be true or false');
  if (!Number.isInteger(x.pdDateToleranceDays) || x.pdDateToleranceDays < 0 || x.pdDateToleranceDays > 365) throw new ReviewError(400, 'review.invalid', 'rules.pdDateToleranceDays must be an integer in 0..365');
  if (x.bor === 'none' && !x.pdDate) throw new ReviewError(400, 'review.invalid', 'rules: compare at least one of bor and pdDate');
  return { bor: x.bor, pdDate: x.pdDate, pdDateToleranceDays: x.pdDateToleranceDays };
}

/** One read's outcome by the engine. */
export interface ReadOutcome {
  bor: Bor;
  confirmedBor: Bor;
  /** First overall PD date in the frame the subject was built in, or null. */
  pdDate: string | null;
  pdVisit: string | null;
}

export function readOutcome(subject: SubjectInput, settingsIn: Partial<ProtocolSettings>): ReadOutcome {
  const ep = deriveOrRefuse(subject, resolveSettings(settingsIn));
  const pd = ep.visits.find((v) => v.overall === 'PD');
  return { bor: ep.bor.bor, confirmedBor: ep.cbor.bor, pdDate: pd?.date ?? null, pdVisit: pd?.visit ?? null };
}

export interface Disagreement {
  rule: 'BOR' | 'CBOR' | 'PD_DATE';
  read1: string | null;
  read2: string | null;
}

/** Compares two outcomes under the rules: the list of disagreements (empty = agree). */
export function compareOutcomes(a: ReadOutcome, b: ReadOutcome, rules: AdjudicationRules): Disagreement[] {
  const out: Disagreement[] = [];
  if ((rules.bor === 'unconfirmed' || rules.bor === 'both') && a.bor !== b.bor) out.push({ rule: 'BOR', read1: a.bor, read2: b.bor });
  if ((rules.bor === 'confirmed' || rules.bor === 'both') && a.confirmedBor !== b.confirmedBor) out.push({ rule: 'CBOR', read1: a.confirmedBor, read2: b.confirmedBor });
  if (rules.pdDate) {
    const differ = a.pdDate === null || b.pdDate === null ? a.pdDate !== b.pdDate : Math.abs(dayNumber(a.pdDate) - dayNumber(b.pdDate)) > rules.pdDateToleranceDays;
    if (differ) out.push({ rule: 'PD_DATE', read1: a.pdDate, read2: b.pdDate });
  }
  return out;
}
