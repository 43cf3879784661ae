/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
/**
 * Exploratory response model: early features against values computed here from the raw inputs, labels
 * against ADRS / ADTTE, the shipped ONNX (sha256 = card, discrimination and calibration on a freshly
 * simulated held-out trial, graph = the card's published weights), ADPRED labelling and provenance, and
 * the simulator's outcome coupling (and that it is off by default).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADPRED_COLUMNS, ADPRED_PARCAT1, EARLY_FEATURE_NAMES, buildAdpred, deriveEndpointDatasets, deriveResponseLabels, extractEarlyFeatures,
  featureMatrix, ortPredictor, predictResponses, responseModelInfo, simulateTrial,
  type EarlyFeatureRow, type ResponsePredictor, type StudyInput, type SubjectInput,
} from '@app/endpoints';

const MODEL_DIR = join(__dirname, '../../models/response-model/0.1.0');
const card = JSON.parse(readFileSync(join(MODEL_DIR, 'card.json'), 'utf8'));
const DAY = 86400000;
const dn = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / DAY;

/** AUC by the Mann-Whitney definition: P(p_pos > p_neg) + 0.5 P(tie), over all positive/negative pairs. */
function aucMannWhitney(p: number[], y: number[]): number {
  let s = 0;
  let pairs = 0;
  for (let i = 0; i < p.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < p.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      s += p[i] > p[j] ? 1 : p[i] === p[j] ? 0.5 : 0;
    }
  }
  return s / pairs;
}
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;

/** The features of one subject computed directly from its raw inputs (independent of prediction.ts). */
function referenceFeatures(s: SubjectInput) {
  const rand = dn(s.randDate);
  const inWin = (iso: string) => dn(iso) - rand >= 0 && dn(iso) - rand <= 69; // study days 1..70
  const base = s.assessments.find((a) => a.visitNum === 0)!;
  const val = (d: unknown) => (typeof d === 'number' ? d : d === 'TOO_SMALL' ? 50 : d === 'DISAPPEARED' ? 0 : null);
  const baseSum = base.targets.reduce((a, t) => a + (t.diameter as number), 0);
  const fu = s.assessments.filter((a) => a.visitNum > 0 && dn(a.date) > dn(base.date) && inWin(a.date)).sort((a, b) => dn(a.date) - dn(b.date))[0];
  let ets: number | null = null;
  let nl: number | null = null;
  if (fu) {
    nl = fu.newLesions === 'YES' ? 1 : 0;
    const vals = base.targets.map((b) => val(fu.targets.find((t) => t.lesionId === b.lesionId)?.diameter));
    if (vals.every((v) => v !== null)) ets = (100 * ((vals as number[]).reduce((a, v) => a + v, 0) - baseSum)) / baseSum;
  }
  // QLQ-C30 PF2: items 1-5, 4-point, >= 3 answered; score = (1 - (mean - 1) / 3) * 100
  const pf2 = (items: (number | null)[]) => {
    const a = items.slice(0, 5).filter((x): x is number => x !== null);
    return a.length >= 3 ? (1 - (mean(a) - 1) / 3) * 100 : null;
  };
  const q = [...(s.qlqc30 ?? [])].sort((a, b) => dn(a.date) - dn(b.date));
  let pfBase: number | null = null;
  for (const r of q) if (dn(r.date) <= rand && pf2(r.items) !== null) pfBase = pf2(r.items);
  const post = q.find((r) => dn(r.date) > rand && inWin(r.date) && pf2(r.items) !== null);
  const pf = pfBase !== null && post ? pf2(post.items)! - pfBase : null;
  // steps: valid day = 600..1440 min wear and 0..100000 steps; week 0 = days -7..-1, week k = days 7(k-1)+1..7k; >= 4 valid days
  const byWeek = new Map<number, number[]>();
  for (const d of s.steps ?? []) {
    const off = dn(d.date) - rand; // 0 = study day 1
    if (off < -7 || !(d.wearMinutes >= 600 && d.wearMinutes <= 1440 && d.steps >= 0 && d.steps <= 100000)) continue;
    const w = off < 0 ? 0 : Math.floor(off / 7) + 1;
    byWeek.set(w, [...(byWeek.get(w) ?? []), d.steps]);
  }
  const wm = (w: number) => ((byWeek.get(w)?.length ?? 0) >= 4 ? mean(byWeek.get(w)!) : null);
  const early = [1, 2, 3, 4].map(wm).filter((x): x is number => x !== null);
  const b0 = wm(0);
  const steps = b0 !== null && b0 > 0 && early.length ? (100 * (mean(early) - b0)) / b0 : null;
  return { baselineSumMm: baseSum / 10, earlyShrinkagePct: ets, earlyNewLesions: nl, pfChange: pf, stepsChangePct: steps };
}

describe('extractEarlyFeatures', () => {
  const study = simulateTrial({ subjects: 40, visits: 6, seed: 31337, stepWeeks: 6, outcomeCoupling: true, pMissed: 0.15 });
  // Make some values missing on purpose: no questionnaires, a not-assessed target at the first follow-up, no steps.
  const s0 = study.subjects[0];
  delete s0.qlqc30;
  const s1 = study.subjects[1];
  s1.assessments.find((a) => a.visitNum === Math.min(...s1.assessments.filter((x) => x.visitNum > 0).map((x) => x.visitNum)))!.targets[0].diameter = 'NOT_ASSESSED';
  delete study.subjects[2].steps;
  const rows = extractEarlyFeatures(study);

  it('matches the features computed independently from the raw inputs, subject by subject', () => {
    expect(rows.map((r) => r.usubjid)).toEqual(study.subjects.map((s) => s.usubjid).sort());
    const byId = new Map(study.subjects.map((s) => [s.usubjid, s]));
    let present = 0;
    for (const r of rows) {
      const ref = referenceFeatures(byId.get(r.usubjid)!);
      for (const k of EARLY_FEATURE_NAMES) {
        const v = ref[k];
        expect(r.missing[k]).toBe(v === null);
        if (v === null) expect(r.features[k]).toBeNull();
        else {
          present++;
          // steps weekly means are rounded to 0.01 step by the protocol's weeklySteps: < 1e-3 % here
          expect(r.features[k]).toBeCloseTo(v, k === 'stepsChangePct' ? 3 : 9);
        }
      }
    }
    expect(present).toBeGreaterThan(150); // most of the 200 values are present
    expect(rows.find((r) => r.usubjid === s0.usubjid)!.missing.pfChange).toBe(true);
    expect(rows.find((r) => r.usubjid === s1.usubjid)!.missing.earlyShrinkagePct).toBe(true);
    expect(rows.find((r) => r.usubjid === s1.usubjid)!.missing.earlyNewLesions).toBe(false);
    expect(rows.find((r) => r.usubjid === study.subjects[2].usubjid)!.missing.stepsChangePct).toBe(true);
    expect(rows.find((r) => r.usubjid === s0.usubjid)!.notes.join(' ')).toMatch(/QLQ-C30/);
  });

  it('labels: confirmed response = ADRS CRSP; PF at 6 months from ADTTE PFS (censored before 182.625 days: no label)', () => {
    const labels = deriveResponseLabels(study);
    const ds = deriveEndpointDatasets(study, {}, { blinded: true }).datasets;
    const col = (d: (typeof ds)[number], n: string) => d.columns.findIndex((c) => c.name === n);
    const adrs = ds.find((d) => d.name === 'ADRS')!;
    const adtte = ds.find((d) => d.name === 'ADTTE')!;
    const crsp = new Map(adrs.rows.filter((r) => r[col(adrs, 'PARAMCD')] === 'CRSP').map((r) => [r[col(adrs, 'USUBJID')], r[col(adrs, 'AVALC')]]));
    const pfs = new Map(adtte.rows.filter((r) => r[col(adtte, 'PARAMCD')] === 'PFS').map((r) => [r[col(adtte, 'USUBJID')], { aval: r[col(adtte, 'AVAL')] as number, cnsr: r[col(adtte, 'CNSR')] as number }]));
    const seen = new Set<string>();
    for (const l of labels) {
      expect(l.confirmedResponse).toBe(crsp.get(l.usubjid) === 'Y' ? 1 : 0);
      const p = pfs.get(l.usubjid)!;
      const want = p.aval >= 183 ? 1 : p.cnsr === 0 ? 0 : null;
      expect(l.progressionFree6m).toBe(want);
      seen.add(String(want));
    }
    expect(seen).toEqual(new Set(['0', '1', 'null'])); // every kind of label occurs in this trial
  });

  it('featureMatrix imputes only when told to, and refuses bad settings', () => {
    const missingRow = rows.find((r) => r.missing.pfChange)!;
    expect(() => featureMatrix([missingRow])).toThrow(/missing and no imputation/);
    const m = featureMatrix([missingRow], [1, 2, 3, 4, 5]);
    expect(m[EARLY_FEATURE_NAMES.indexOf('pfChange')]).toBe(4);
    expect(() => extractEarlyFeatures(study, { earlyWindowDays: 0 })).toThrow(/earlyWindowDays/);
  });
});

describe('shipped ONNX response model', () => {
  const modelPath = join(MODEL_DIR, 'model.onnx');
  const info = responseModelInfo(card);
  let predictor: ResponsePredictor;
  beforeAll(async () => {
    predictor = await ortPredictor(modelPath, { sha256: card.sha256 });
  });

  it('has the sha256 of its card, a licence, and refuses other bytes', async () => {
    expect(createHash('sha256').update(readFileSync(modelPath)).digest('hex')).toBe(card.sha256);
    expect(readFileSync(join(MODEL_DIR, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0/);
    expect(card.licence).toMatchObject({ weights: 'Apache-2.0', training_data: 'CC0-1.0' });
    expect(card.intended_use).toMatch(/[Ee]xploratory/);
    await expect(ortPredictor(modelPath, { sha256: '0'.repeat(64) })).rejects.toMatchObject({ code: 'endpoints.model-sha256-mismatch' });
  });

  it('computes sigmoid(((x - mean) / scale) W + b) with the constants published in the card', async () => {
    const { mean: mu, scale, weights } = card.preprocessing;
    const x = new Float32Array([120, -35, 0, 8.3, 12, 300, 15, 1, -20, -30, 45.5, 0, 0, 0, 0]);
    const p = await predictor(x, 3);
    for (let i = 0; i < 3; i++)
      for (let k = 0; k < 2; k++) {
        let z = weights.b[k];
        for (let j = 0; j < 5; j++) z += ((x[i * 5 + j] - mu[j]) / scale[j]) * weights.W[j][k];
        expect(p[i * 2 + k]).toBeCloseTo(1 / (1 + Math.exp(-z)), 5);
      }
  });

  it('on a freshly simulated held-out trial: AUC(confirmed response) > 0.75, mean prediction within 0.1 of the rates', async () => {
    const study = simulateTrial({ subjects: 400, visits: 8, seed: 9090901, stepWeeks: 8, outcomeCoupling: true, studyId: 'SIM-HOLDOUT' });
    const feats = extractEarlyFeatures(study);
    const labels = deriveResponseLabels(study);
    const pred = await predictResponses(feats, predictor, { impute: info.impute });
    const y = labels.map((l) => l.confirmedResponse as number);
    const p = pred.map((r) => r.pConfirmedResponse);
    const auc = aucMannWhitney(p, y);
    expect(auc).toBeGreaterThan(0.75);
    expect(Math.abs(mean(p) - mean(y))).toBeLessThan(0.1);
    const keep = labels.map((l, i) => (l.progressionFree6m === null ? -1 : i)).filter((i) => i >= 0);
    const y6 = keep.map((i) => labels[i].progressionFree6m as number);
    const p6 = keep.map((i) => pred[i].pProgressionFree6m);
    expect(aucMannWhitney(p6, y6)).toBeGreaterThan(0.75);
    expect(Math.abs(mean(p6) - mean(y6))).toBeLessThan(0.1);
    // a subject with missing features is predicted with the training means and says so
    const withMissing = pred.find((r) => r.imputed.length > 0)!;
    expect(withMissing.imputed.every((k) => feats.find((f) => f.usubjid === withMissing.usubjid)!.missing[k])).toBe(true);
  });

  it('ADPRED: one row per subject x parameter, labelled exploratory, never an analysis record, with model provenance', async () => {
    const study: StudyInput = simulateTrial({ subjects: 6, visits: 4, seed: 5, stepWeeks: 4, outcomeCoupling: true });
    const feats = extractEarlyFeatures(study);
    const pred = await predictResponses(feats, predictor, { impute: info.impute });
    const rows = buildAdpred(pred, info, { studyId: study.studyId });
    expect(rows).toHaveLength(12);
    for (const r of rows) {
      expect(Object.keys(r)).toEqual([...ADPRED_COLUMNS]);
      expect(r).toMatchObject({ STUDYID: study.studyId, PARCAT1: ADPRED_PARCAT1, DTYPE: 'AI PREDICTION', ANL01FL: null, MODELID: 'response-model', MODELVER: '0.1.0', MODELSHA: card.sha256 });
      expect(r.PARCAT1).toBe('EXPLORATORY AI PREDICTION');
      expect(r.AVAL).toBeGreaterThanOrEqual(0);
      expect(r.AVAL).toBeLessThanOrEqual(1);
    }
    expect(rows.map((r) => `${r.USUBJID}/${r.PARAMCD}`)).toEqual(feats.flatMap((f) => [`${f.usubjid}/PCRSP`, `${f.usubjid}/PPFS6`]));
    expect(rows.filter((r) => r.PARAMCD === 'PCRSP').map((r) => r.AVAL)).toEqual(pred.map((p) => p.pConfirmedResponse));
    expect(() => buildAdpred(pred, { ...info, sha256: 'x' }, { studyId: 'S' })).toThrow(/sha256/);
  });

  it('predictResponses refuses a predictor that does not return probabilities', async () => {
    const feats = extractEarlyFeatures(simulateTrial({ subjects: 2, visits: 3, seed: 1, outcomeCoupling: true }));
    await expect(predictResponses(feats, async () => new Float32Array(3), { impute: info.impute })).rejects.toMatchObject({ code: 'endpoints.bad-prediction' });
    await expect(predictResponses(feats, async (_x, n) => new Float32Array(2 * n).fill(2), { impute: info.impute })).rejects.toThrow(/non-probabilities/);
  });
});

describe('simulator outcome coupling', () => {
  it('is off by default: the same study with and without outcomeCoupling: false', () => {
    const o = { subjects: 25, visits: 6, seed: 2024, stepWeeks: 3 };
    expect(JSON.stringify(simulateTrial({ ...o, outcomeCoupling: false }))).toBe(JSON.stringify(simulateTrial(o)));
    expect(JSON.stringify(simulateTrial({ ...o, outcomeCoupling: true }))).not.toBe(JSON.stringify(simulateTrial(o)));
  });

  it('responders have larger early shrinkage AND larger PF and step improvements on average', () => {
    const study = simulateTrial({ subjects: 300, visits: 8, seed: 555, stepWeeks: 6, outcomeCoupling: true });
    const rows = extractEarlyFeatures(study);
    const lab = new Map(deriveResponseLabels(study).map((l) => [l.usubjid, l.confirmedResponse]));
    const avg = (k: (typeof EARLY_FEATURE_NAMES)[number], y: number) =>
      mean(rows.filter((r: EarlyFeatureRow) => lab.get(r.usubjid) === y && !r.missing[k]).map((r) => r.features[k] as number));
    expect(avg('earlyShrinkagePct', 1)).toBeLessThan(avg('earlyShrinkagePct', 0) - 10); // more shrinkage (more negative)
    expect(avg('pfChange', 1)).toBeGreaterThan(avg('pfChange', 0) + 3);
    expect(avg('stepsChangePct', 1)).toBeGreaterThan(avg('stepsChangePct', 0) + 5);
    expect(avg('earlyNewLesions', 1)).toBeLessThan(avg('earlyNewLesions', 0));
  });
});
