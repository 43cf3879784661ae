import { InputError } from '@app/core';
import { deriveResponseLabels, extractEarlyFeatures, predictResponses, type ResponseLabelRow, type ResponsePrediction, type ResponsePredictor } from './prediction';
import type { ProtocolSettings, StudyInput } from './types';

/**
 * How good a probability model is on labelled data: discrimination (AUC), accuracy (Brier score) and calibration
 * (logistic recalibration slope and intercept). Used to report the exploratory response model on a held-out trial.
 */
export interface PredictionMetrics {
  n: number;
  positives: number;
  observedRate: number;
  meanPredicted: number;
  /** Area under the ROC curve, by the Mann-Whitney definition (ties count 1/2). */
  auc: number;
  /** Mean squared error of the probability. */
  brier: number;
  /** a and b of the unpenalised logistic recalibration logit P(y = 1) = a + b logit(p); ideal a = 0, b = 1. */
  calibrationIntercept: number;
  calibrationSlope: number;
}

function check(y: readonly number[], p: readonly number[]): void {
  if (y.length !== p.length) throw new InputError('calibration.bad-input', `${y.length} outcomes but ${p.length} predictions`);
  if (!y.length) throw new InputError('calibration.bad-input', 'no labelled subjects');
  for (let i = 0; i < y.length; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new InputError('calibration.bad-input', `outcome ${i} is ${y[i]}; outcomes are 0 or 1`);
    if (!(p[i]! >= 0 && p[i]! <= 1)) throw new InputError('calibration.bad-input', `prediction ${i} is ${p[i]}; probabilities are in [0, 1]`);
  }
}

/** AUC = P(p_case > p_control) + P(tie) / 2 over all case-control pairs (rank-sum form, O(n log n)). */
export function aucMannWhitney(y: readonly number[], p: readonly number[]): number {
  check(y, p);
  const idx = p.map((_, i) => i).sort((a, b) => p[a]! - p[b]!);
  const ranks = new Float64Array(p.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && p[idx[j + 1]!] === p[idx[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k]!] = r;
    i = j + 1;
  }
  let n1 = 0;
  let sum = 0;
  for (let i = 0; i < y.length; i++) if (y[i] === 1) {
    n1++;
    sum += ranks[i]!;
  }
  const n0 = y.length - n1;
  if (!n1 || !n0) throw new InputError('calibration.one-class', `AUC needs cases and controls (${n1} cases, ${n0} controls)`);
  return (sum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

export function brierScore(y: readonly number[], p: readonly number[]): number {
  check(y, p);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (p[i]! - y[i]!) ** 2;
  return s / y.length;
}

/** Unpenalised logistic regression y ~ a + b logit(p) by Newton-Raphson (p clipped to [1e-7, 1 - 1e-7]). */
export function logisticRecalibration(y: readonly number[], p: readonly number[]): { intercept: number; slope: number } {
  check(y, p);
  const x = p.map((v) => {
    const c = Math.min(1 - 1e-7, Math.max(1e-7, v));
    return Math.log(c / (1 - c));
  });
  let a = 0;
  let b = 0;
  for (let it = 0; it < 100; it++) {
    let g0 = 0, g1 = 0, h00 = 0, h01 = 0, h11 = 0;
    for (let i = 0; i < y.length; i++) {
      const mu = 1 / (1 + Math.exp(-(a + b * x[i]!)));
      const r = y[i]! - mu;
      const w = mu * (1 - mu);
      g0 += r;
      g1 += r * x[i]!;
      h00 += w;
      h01 += w * x[i]!;
      h11 += w * x[i]! * x[i]!;
    }
    const det = h00 * h11 - h01 * h01;
    if (!(Math.abs(det) > 1e-300)) throw new InputError('calibration.singular', 'recalibration is singular (all predictions equal, or separation)');
    const da = (h11 * g0 - h01 * g1) / det;
    const db = (h00 * g1 - h01 * g0) / det;
    a += da;
    b += db;
    if (Math.max(Math.abs(da), Math.abs(db)) < 1e-12) break;
  }
  return { intercept: a, slope: b };
}

export function predictionMetrics(y: readonly number[], p: readonly number[]): PredictionMetrics {
  const { intercept, slope } = logisticRecalibration(y, p);
  const positives = y.reduce((s, v) => s + v, 0);
  return {
    n: y.length,
    positives,
    observedRate: positives / y.length,
    meanPredicted: p.reduce((s, v) => s + v, 0) / p.length,
    auc: aucMannWhitney(y, p),
    brier: brierScore(y, p),
    calibrationIntercept: intercept,
    calibrationSlope: slope,
  };
}

/**
 * The response model on a trial: predictions for every subject with features, metrics against the derived labels
 * (subjects without a label are left out of that output's metrics, as in training).
 */
export async function evaluateResponseModel(
  study: StudyInput,
  predictor: ResponsePredictor,
  opts: { impute?: readonly number[]; settings?: Partial<ProtocolSettings> } = {},
): Promise<{ confirmedResponse: PredictionMetrics; progressionFree6m: PredictionMetrics; predictions: ResponsePrediction[] }> {
  const features = extractEarlyFeatures(study, opts.settings);
  const predictions = await predictResponses(features, predictor, { impute: opts.impute });
  const labels = new Map(deriveResponseLabels(study, opts.settings).map((l) => [l.usubjid, l]));
  const pick = (label: (l: ResponseLabelRow) => 0 | 1 | null, prob: (p: ResponsePrediction) => number) => {
    const y: number[] = [];
    const p: number[] = [];
    for (const pr of predictions) {
      const v = labels.get(pr.usubjid);
      const l = v ? label(v) : null;
      if (l === null) continue;
      y.push(l);
      p.push(prob(pr));
    }
    return predictionMetrics(y, p);
  };
  return {
    confirmedResponse: pick((l) => l.confirmedResponse, (p) => p.pConfirmedResponse),
    progressionFree6m: pick((l) => l.progressionFree6m, (p) => p.pProgressionFree6m),
    predictions,
  };
}
