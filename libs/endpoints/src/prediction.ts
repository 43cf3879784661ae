/**
 * Exploratory response prediction from early on-treatment signals (README "Response model"):
 * - `extractEarlyFeatures`: five per-subject early features (baseline tumour burden, early tumour shrinkage,
 *   early new lesions, QLQ-C30 physical-functioning change, change in weekly steps) with missing flags;
 * - `deriveResponseLabels`: the outcome labels the model is trained / evaluated against (confirmed objective
 *   response from the confirmed BOR; progression-free at 6 months from PFS);
 * - `featureMatrix`, `predictResponses`: runs any predictor `(features, n) => Promise<probs>`;
 *   `ortPredictor` is the onnxruntime-node one (loaded lazily, so this library does not load the native
 *   runtime unless it is asked to);
 * - `buildAdpred`: ADPRED rows (one per subject x parameter), labelled EXPLORATORY, with model provenance.
 *
 * The predictions are exploratory only: never an endpoint, never an analysis record (ANL01FL is never set).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InputError, isInputError } from '@app/core';
import type { Dataset } from '@app/datasets';
import { deriveSubjectEndpoints, makeColumns } from './datasets';
import { qlqChangeFromBaseline, weeklySteps } from './pro';
import { baselineOf, sortAssessments, sumOfDiameters } from './recist';
import { isResponder, type Bor } from './subject';
import type { ProtocolSettings, StudyInput, SubjectInput } from './types';
import { dayNumber, resolveSettings, studyDayOfDays } from './util';

/** Feature order of the model input `features` [N, 5] (the card's channel_def uses the same order). */
export const EARLY_FEATURE_NAMES = ['baselineSumMm', 'earlyShrinkagePct', 'earlyNewLesions', 'pfChange', 'stepsChangePct'] as const;
export type EarlyFeatureName = (typeof EARLY_FEATURE_NAMES)[number];

/** Units / definitions of each feature (also in the model card). */
export const EARLY_FEATURE_UNITS: Readonly<Record<EarlyFeatureName, string>> = Object.freeze({
  baselineSumMm: 'mm (sum of target-lesion diameters at baseline)',
  earlyShrinkagePct: '% change of the target sum, first follow-up vs baseline (negative = shrinkage)',
  earlyNewLesions: '0/1 (unequivocal new lesion at the first follow-up)',
  pfChange: 'points (QLQ-C30 PF2 change from baseline, first questionnaire in the early window)',
  stepsChangePct: '% change of mean weekly steps, weeks 1..K vs the baseline week',
});

/** Options of the early window (defaults in `DEFAULT_EARLY_OPTIONS`). */
export interface EarlyFeatureOptions {
  /** The first follow-up (imaging and QLQ-C30) must fall on study days 1..earlyWindowDays (from randomisation). */
  earlyWindowDays: number;
  /** Steps: weeks 1..earlyStepWeeks are the early on-treatment weeks. */
  earlyStepWeeks: number;
}
export const DEFAULT_EARLY_OPTIONS: Readonly<EarlyFeatureOptions> = Object.freeze({ earlyWindowDays: 70, earlyStepWeeks: 4 });

export interface EarlyFeatureRow {
  usubjid: string;
  /** Feature values, null when missing. */
  features: Record<EarlyFeatureName, number | null>;
  /** true where the feature is missing (value null). */
  missing: Record<EarlyFeatureName, boolean>;
  /** Why each missing feature is missing (empty when none is). */
  notes: string[];
}

/** PFS landmark for the 6-month label: 365.25 / 2 days. */
export const PFS6_DAYS = 182.625;

export interface ResponseLabelRow {
  usubjid: string;
  /** Confirmed BOR (ADRS CBOR), null when the subject's tumour data could not be derived. */
  cbor: Bor | null;
  /** 1 = confirmed CR/PR (ADRS CRSP = Y), 0 = not; null when not derivable. */
  confirmedResponse: 0 | 1 | null;
  /** PFS AVAL (days, ADT - STARTDT + 1) and CNSR (0 event, 1 censored). */
  pfsAval: number | null;
  pfsCnsr: 0 | 1 | null;
  /**
   * 1 = progression-free at 6 months (PFS AVAL > 182.625, event or censored), 0 = PFS event with
   * AVAL <= 182.625, null = censored at or before 182.625 days without an event (status at 6 months
   * unknown: excluded from this label) or not derivable.
   */
  progressionFree6m: 0 | 1 | null;
  /** Derivation error (InputError message), if any. */
  issue?: string;
}

const emptyRow = (usubjid: string): EarlyFeatureRow => ({
  usubjid,
  features: { baselineSumMm: null, earlyShrinkagePct: null, earlyNewLesions: null, pfChange: null, stepsChangePct: null },
  missing: { baselineSumMm: true, earlyShrinkagePct: true, earlyNewLesions: true, pfChange: true, stepsChangePct: true },
  notes: [],
});

function resolveEarly(o: Partial<EarlyFeatureOptions>): EarlyFeatureOptions {
  const r = { ...DEFAULT_EARLY_OPTIONS, ...o };
  for (const k of ['earlyWindowDays', 'earlyStepWeeks'] as const)
    if (!Number.isInteger(r[k]) || r[k] < 1) throw new InputError('endpoints.bad-settings', `${k} must be a positive integer, got ${JSON.stringify(r[k])}`);
  return r;
}

/**
 * Early features of one subject (see `extractEarlyFeatures`). `cutDate`: data after it are ignored.
 */
export function subjectEarlyFeatures(subject: SubjectInput, s: ProtocolSettings, early: EarlyFeatureOptions, cutDate?: string): EarlyFeatureRow {
  const row = emptyRow(subject.usubjid);
  const set = (k: EarlyFeatureName, v: number) => {
    row.features[k] = v;
    row.missing[k] = false;
  };
  const cut = cutDate ? dayNumber(cutDate) : Infinity;
  const rand = dayNumber(subject.randDate);
  const inWindow = (date: string) => {
    const d = dayNumber(date);
    const sd = studyDayOfDays(d, rand);
    return d <= cut && sd >= 1 && sd <= early.earlyWindowDays;
  };
  // Tumour: baseline sum and the first follow-up
  const assessments = subject.assessments.filter((a) => dayNumber(a.date) <= cut);
  const base = baselineOf(assessments);
  if (!base) row.notes.push('no baseline assessment');
  else {
    const ids = base.targets.map((t) => t.lesionId);
    const b = sumOfDiameters(base.targets, ids);
    if (ids.length === 0 || !b.complete) row.notes.push('baseline target sum not available');
    else set('baselineSumMm', b.sum / 10);
    const first = sortAssessments(assessments.filter((a) => a !== base && dayNumber(a.date) > dayNumber(base.date))).find((a) => inWindow(a.date));
    if (!first) row.notes.push(`no tumour assessment on study days 1..${early.earlyWindowDays}`);
    else {
      set('earlyNewLesions', first.newLesions === 'YES' ? 1 : 0);
      const f = sumOfDiameters(first.targets, ids);
      if (!row.missing.baselineSumMm && f.complete && b.sum > 0) set('earlyShrinkagePct', (100 * (f.sum - b.sum)) / b.sum);
      else row.notes.push(`target sum at the first follow-up (${first.visit}) incomplete or no baseline sum`);
    }
  }
  // QLQ-C30 physical functioning (PF2): first post-baseline questionnaire with a PF2 score in the window
  const recs = (subject.qlqc30 ?? []).filter((r) => dayNumber(r.date) <= cut);
  if (recs.length) {
    try {
      const pf = qlqChangeFromBaseline(recs, subject.randDate).filter((c) => c.code === 'PF2' && c.change && inWindow(c.date));
      if (pf.length) set('pfChange', pf[0].change!.num / pf[0].change!.den);
      else row.notes.push('no PF2 change from baseline in the early window');
    } catch (e) {
      if (!isInputError(e)) throw e;
      row.notes.push(`QLQ-C30 not scorable: ${e.message}`);
    }
  } else row.notes.push('no QLQ-C30 questionnaire');
  // Steps: mean of the valid weekly means of weeks 1..K vs the baseline week
  const days = (subject.steps ?? []).filter((d) => dayNumber(d.date) <= cut);
  const weeks = days.length ? weeklySteps(days, subject.randDate, s) : [];
  const bw = weeks.find((w) => w.week === 0)?.mean ?? null;
  const on = weeks.filter((w) => w.week >= 1 && w.week <= early.earlyStepWeeks && w.mean !== null).map((w) => w.mean as number);
  if (bw !== null && bw > 0 && on.length) set('stepsChangePct', (100 * (on.reduce((a, x) => a + x, 0) / on.length - bw)) / bw);
  else row.notes.push('steps: no valid baseline week or no valid week 1..' + early.earlyStepWeeks);
  return row;
}

/**
 * Early features of every subject, in USUBJID order. Definitions (study day 1 = randomisation):
 * - `baselineSumMm`: sum of the baseline target-lesion diameters (RECIST 1.1 sum, mm);
 * - first follow-up = the first assessment after the baseline dated on study days 1..`earlyWindowDays`
 *   (default 70: the week-6 visit of a q6w schedule with its window; a q8w trial would use ~77);
 * - `earlyShrinkagePct`: 100 x (sum at the first follow-up - baseline sum) / baseline sum; missing when the
 *   follow-up sum is incomplete (a target not assessed) - a later visit is NOT used instead;
 * - `earlyNewLesions`: 1 when the first follow-up has an unequivocal new lesion (YES), 0 for NO or EQUIVOCAL;
 * - `pfChange`: QLQ-C30 PF2 score minus its baseline (last score on/before randomisation) at the first
 *   post-baseline questionnaire with a PF2 score on study days 1..`earlyWindowDays`;
 * - `stepsChangePct`: 100 x (mean of the valid weekly means of weeks 1..`earlyStepWeeks` - baseline-week
 *   mean) / baseline-week mean, with the protocol's valid-day / valid-week rules (`weeklySteps`).
 * Missing values are null with `missing[name] = true` and a note; nothing is imputed here (imputation is
 * the model's, see `featureMatrix`). `study.dataCutDate` applies.
 */
export function extractEarlyFeatures(study: StudyInput, settings: Partial<ProtocolSettings> & Partial<EarlyFeatureOptions> = {}): EarlyFeatureRow[] {
  const { earlyWindowDays, earlyStepWeeks, ...protocol } = settings;
  const s = resolveSettings(protocol);
  const early = resolveEarly({ ...(earlyWindowDays !== undefined ? { earlyWindowDays } : {}), ...(earlyStepWeeks !== undefined ? { earlyStepWeeks } : {}) });
  return sortedByUsubjid(study.subjects).map((x) => subjectEarlyFeatures(x, s, early, study.dataCutDate));
}

function sortedByUsubjid(subjects: readonly SubjectInput[]): SubjectInput[] {
  const seen = new Set<string>();
  for (const x of subjects) {
    if (seen.has(x.usubjid)) throw new InputError('endpoints.duplicate-subject', `subject ${x.usubjid} appears more than once`);
    seen.add(x.usubjid);
  }
  return [...subjects].sort((a, b) => (a.usubjid < b.usubjid ? -1 : a.usubjid > b.usubjid ? 1 : 0));
}

/**
 * Outcome labels from the endpoint derivations (`deriveSubjectEndpoints`, the same as ADRS / ADTTE):
 * `confirmedResponse` = confirmed BOR is CR or PR (ADRS CRSP); `progressionFree6m` from PFS (see
 * `ResponseLabelRow`). A subject whose tumour data fail derivation (InputError) gets null labels and an issue.
 */
export function deriveResponseLabels(study: StudyInput, settings: Partial<ProtocolSettings> = {}): ResponseLabelRow[] {
  const s = resolveSettings(settings);
  return sortedByUsubjid(study.subjects).map((x) => {
    try {
      const e = deriveSubjectEndpoints(x, s, study.dataCutDate);
      const pf6 = e.pfs.aval > PFS6_DAYS ? 1 : e.pfs.cnsr === 0 ? 0 : null;
      return { usubjid: x.usubjid, cbor: e.cbor.bor, confirmedResponse: isResponder(e.cbor.bor) ? 1 : 0, pfsAval: e.pfs.aval, pfsCnsr: e.pfs.cnsr, progressionFree6m: pf6 };
    } catch (err) {
      if (!isInputError(err)) throw err;
      return { usubjid: x.usubjid, cbor: null, confirmedResponse: null, pfsAval: null, pfsCnsr: null, progressionFree6m: null, issue: err.message };
    }
  });
}

/** A model runtime: features [n x 5] row-major float32 -> probabilities [n x 2] (P(confirmed response), P(PF at 6 m)). */
export type ResponsePredictor = (features: Float32Array, n: number) => Promise<Float32Array>;

/**
 * Row-major [n x 5] float32 matrix of the features in `EARLY_FEATURE_NAMES` order. A missing value is
 * replaced by `impute[j]` (the model's training mean, card `preprocessing.impute_values`: after the
 * model's standardisation it is 0, i.e. "no information"); without `impute` a missing value is an error.
 */
export function featureMatrix(rows: readonly EarlyFeatureRow[], impute?: readonly number[]): Float32Array {
  if (impute && (impute.length !== EARLY_FEATURE_NAMES.length || impute.some((v) => !Number.isFinite(v))))
    throw new InputError('endpoints.bad-input', `impute must be ${EARLY_FEATURE_NAMES.length} finite numbers`);
  const m = new Float32Array(rows.length * EARLY_FEATURE_NAMES.length);
  rows.forEach((r, i) =>
    EARLY_FEATURE_NAMES.forEach((k, j) => {
      const v = r.features[k];
      if (v === null || v === undefined) {
        if (!impute) throw new InputError('endpoints.bad-input', `subject ${r.usubjid}: feature ${k} is missing and no imputation values were given`);
        m[i * EARLY_FEATURE_NAMES.length + j] = impute[j];
      } else if (!Number.isFinite(v)) throw new InputError('endpoints.bad-input', `subject ${r.usubjid}: feature ${k} is not finite (${v})`);
      else m[i * EARLY_FEATURE_NAMES.length + j] = v;
    }),
  );
  return m;
}

export interface ResponsePrediction {
  usubjid: string;
  /** P(confirmed objective response). */
  pConfirmedResponse: number;
  /** P(progression-free at 6 months). */
  pProgressionFree6m: number;
  /** Features that were missing and imputed with the training mean. */
  imputed: EarlyFeatureName[];
}

/** Runs `predictor` on the rows (one batch) and checks its output: 2 finite probabilities in [0, 1] per subject. */
export async function predictResponses(features: readonly EarlyFeatureRow[], predictor: ResponsePredictor, opts: { impute?: readonly number[] } = {}): Promise<ResponsePrediction[]> {
  if (features.length === 0) return [];
  const x = featureMatrix(features, opts.impute);
  const p = await predictor(x, features.length);
  if (!p || p.length !== 2 * features.length) throw new InputError('endpoints.bad-prediction', `predictor returned ${p?.length} values for ${features.length} subjects (expected ${2 * features.length})`);
  return features.map((r, i) => {
    const a = p[2 * i];
    const b = p[2 * i + 1];
    if (!(a >= 0 && a <= 1 && b >= 0 && b <= 1)) throw new InputError('endpoints.bad-prediction', `predictor returned non-probabilities for ${r.usubjid}: ${a}, ${b}`);
    return { usubjid: r.usubjid, pConfirmedResponse: a, pProgressionFree6m: b, imputed: EARLY_FEATURE_NAMES.filter((k) => r.missing[k]) };
  });
}

/** Model identity (provenance) and the imputation values, read from a response-model card. */
export interface ResponseModelInfo {
  id: string;
  version: string;
  sha256: string;
  /** Training means in `EARLY_FEATURE_NAMES` order (card preprocessing.impute_values). */
  impute: number[];
}

/** Reads a response-model card (object or path to card.json) and checks its input matches `EARLY_FEATURE_NAMES`. */
export function responseModelInfo(card: unknown): ResponseModelInfo {
  const c = (typeof card === 'string' ? JSON.parse(readFileSync(card, 'utf8')) : card) as {
    id?: string; version?: string; sha256?: string;
    preprocessing?: { feature_order?: string[]; impute_values?: number[] };
  };
  const order = c?.preprocessing?.feature_order;
  if (!c || typeof c.id !== 'string' || typeof c.version !== 'string' || !/^[0-9a-f]{64}$/.test(c.sha256 ?? '') || !Array.isArray(order) || order.join() !== EARLY_FEATURE_NAMES.join())
    throw new InputError('endpoints.bad-model-card', `not a response-model card for features ${EARLY_FEATURE_NAMES.join(', ')}`);
  const impute = c.preprocessing!.impute_values;
  if (!Array.isArray(impute) || impute.length !== EARLY_FEATURE_NAMES.length || impute.some((v) => !Number.isFinite(v)))
    throw new InputError('endpoints.bad-model-card', 'card preprocessing.impute_values must be 5 finite numbers');
  return { id: c.id, version: c.version, sha256: c.sha256!, impute: [...impute] };
}

/**
 * onnxruntime-node predictor (input `features` [N, 5] float32, output `probs` [N, 2]). `model`: path or
 * bytes of model.onnx; with `sha256` the bytes must hash to it (else InputError
 * `endpoints.model-sha256-mismatch`): what runs is exactly what was hashed.
 */
export async function ortPredictor(model: string | Uint8Array, opts: { sha256?: string; inputName?: string; outputName?: string } = {}): Promise<ResponsePredictor> {
  const bytes = typeof model === 'string' ? readFileSync(model) : model;
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (opts.sha256 && actual !== opts.sha256)
    throw new InputError('endpoints.model-sha256-mismatch', `response model sha256 is ${actual}, expected ${opts.sha256}`, { expected: opts.sha256, actual });
  const ort = (await import('onnxruntime-node')) as typeof import('onnxruntime-node');
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  const input = opts.inputName ?? 'features';
  const output = opts.outputName ?? 'probs';
  return async (features, n) => {
    if (features.length !== n * EARLY_FEATURE_NAMES.length) throw new InputError('endpoints.bad-input', `features has ${features.length} values, [${n}, ${EARLY_FEATURE_NAMES.length}] needs ${n * EARLY_FEATURE_NAMES.length}`);
    const res = await session.run({ [input]: new ort.Tensor('float32', features, [n, EARLY_FEATURE_NAMES.length]) });
    return Float32Array.from(res[output].data as Float32Array);
  };
}

/** PARCAT1 of every ADPRED row. */
export const ADPRED_PARCAT1 = 'EXPLORATORY AI PREDICTION';

/**
 * One ADPRED row (plain object; the lead maps it into a Dataset). Columns:
 * STUDYID, USUBJID; PARAMCD 'PCRSP' (P(confirmed objective response)) or 'PPFS6' (P(progression-free at
 * 6 months)); PARAM; PARCAT1 'EXPLORATORY AI PREDICTION'; AVAL the probability (0..1); AVALU 'PROBABILITY';
 * DTYPE 'AI PREDICTION' (a model output, not an observed or derived value); ANL01FL always null (never an
 * analysis record); FEATIMP the features imputed with the training mean (comma-separated) or null;
 * MODELID / MODELVER / MODELSHA the model provenance (id, version, sha256 of the weights).
 */
export interface AdpredRow {
  STUDYID: string;
  USUBJID: string;
  PARAMCD: 'PCRSP' | 'PPFS6';
  PARAM: string;
  PARCAT1: typeof ADPRED_PARCAT1;
  AVAL: number;
  AVALU: 'PROBABILITY';
  DTYPE: 'AI PREDICTION';
  ANL01FL: null;
  FEATIMP: string | null;
  MODELID: string;
  MODELVER: string;
  MODELSHA: string;
}

/** ADPRED column order (the keys of every row, in this order). */
export const ADPRED_COLUMNS = ['STUDYID', 'USUBJID', 'PARAMCD', 'PARAM', 'PARCAT1', 'AVAL', 'AVALU', 'DTYPE', 'ANL01FL', 'FEATIMP', 'MODELID', 'MODELVER', 'MODELSHA'] as const;

export const ADPRED_PARAMS = Object.freeze({
  PCRSP: 'Predicted Probability of Confirmed Objective Response (exploratory)',
  PPFS6: 'Predicted Probability of Progression-Free at 6 Months (exploratory)',
});

/** ADPRED rows sorted by USUBJID, PARAMCD. */
export function buildAdpred(predictions: readonly ResponsePrediction[], model: Pick<ResponseModelInfo, 'id' | 'version' | 'sha256'>, opts: { studyId: string }): AdpredRow[] {
  if (!model.id || !model.version || !/^[0-9a-f]{64}$/.test(model.sha256)) throw new InputError('endpoints.bad-input', 'buildAdpred: model id, version and sha256 (64 hex) are required');
  const rows: AdpredRow[] = [];
  const sorted = [...predictions].sort((a, b) => (a.usubjid < b.usubjid ? -1 : a.usubjid > b.usubjid ? 1 : 0));
  for (const p of sorted) {
    const featimp = p.imputed.length ? p.imputed.join(',') : null;
    for (const [paramcd, aval] of [['PCRSP', p.pConfirmedResponse], ['PPFS6', p.pProgressionFree6m]] as const) {
      rows.push({
        STUDYID: opts.studyId, USUBJID: p.usubjid, PARAMCD: paramcd, PARAM: ADPRED_PARAMS[paramcd], PARCAT1: ADPRED_PARCAT1,
        AVAL: aval, AVALU: 'PROBABILITY', DTYPE: 'AI PREDICTION', ANL01FL: null, FEATIMP: featimp,
        MODELID: model.id, MODELVER: model.version, MODELSHA: model.sha256,
      });
    }
  }
  return rows;
}

/**
 * ADPRED as a `Dataset` for a data cut: the exploratory AI predictions, one row per subject x parameter, keyed by
 * USUBJID, PARAMCD. It carries no arm (safe in a blinded cut) and ANL01FL is never set: it is not an endpoint.
 */
export function adpredDataset(rows: readonly AdpredRow[]): Dataset {
  const columns = makeColumns(
    'ADPRED',
    [
      ['STUDYID', 'Study Identifier', 'string'],
      ['USUBJID', 'Unique Subject Identifier', 'string'],
      ['PARAMCD', 'Parameter Code', 'string'],
      ['PARAM', 'Parameter', 'string'],
      ['PARCAT1', 'Parameter Category 1', 'string'],
      ['AVAL', 'Analysis Value', 'double'],
      ['AVALU', 'Analysis Value Unit', 'string'],
      ['DTYPE', 'Derivation Type', 'string'],
      ['ANL01FL', 'Analysis Flag 01', 'string'],
      ['FEATIMP', 'Features Imputed', 'string'],
      ['MODELID', 'Source AI Model Identifier', 'string'],
      ['MODELVER', 'Source AI Model Version', 'string'],
      ['MODELSHA', 'Source AI Model SHA-256', 'string'],
    ],
    ['STUDYID', 'USUBJID', 'PARAMCD'],
  );
  return { name: 'ADPRED', label: 'Exploratory AI Response Predictions', itemGroupOID: 'IG.ADPRED', standard: 'ADaM', columns, rows: rows.map((r) => ADPRED_COLUMNS.map((c) => r[c])) };
}
