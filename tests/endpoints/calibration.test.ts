/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * AUC, Brier score and logistic recalibration: closed forms on small cases, and the response model's held-out
 * figures recomputed here equal those scikit-learn / numpy computed when the model was trained (card.json).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@app/core';
import { aucMannWhitney, brierScore, evaluateResponseModel, logisticRecalibration, ortPredictor, responseModelInfo, simulateTrial } from '@app/endpoints';

describe('metrics on small cases', () => {
  it('AUC counts concordant pairs and half the ties', () => {
    // pairs (case, control): (0.9,0.1) c, (0.9,0.5) c, (0.5,0.1) c, (0.5,0.5) tie -> (3 + 0.5) / 4
    expect(aucMannWhitney([1, 1, 0, 0], [0.9, 0.5, 0.1, 0.5])).toBeCloseTo(3.5 / 4, 12);
    expect(aucMannWhitney([0, 1], [0.2, 0.8])).toBe(1);
    expect(aucMannWhitney([1, 0], [0.2, 0.8])).toBe(0);
  });
  it('Brier is the mean squared error', () => {
    expect(brierScore([1, 0, 1], [0.8, 0.3, 0.5])).toBeCloseTo((0.04 + 0.09 + 0.25) / 3, 12);
  });
  it('a perfectly calibrated model recalibrates to a = 0, b = 1', () => {
    // outcomes drawn exactly in proportion: at p = 0.2 one of 5 is 1, at 0.5 one of 2, at 0.8 four of 5
    const p = [0.2, 0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.8, 0.8, 0.8, 0.8, 0.8];
    const y = [1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0];
    const r = logisticRecalibration(y, p);
    expect(r.intercept).toBeCloseTo(0, 9);
    expect(r.slope).toBeCloseTo(1, 9);
  });
  it('refuses a single class and bad values', () => {
    expect(() => aucMannWhitney([1, 1], [0.2, 0.3])).toThrow(/cases and controls/);
    expect(() => brierScore([2], [0.3])).toThrow(/0 or 1/);
    expect(() => brierScore([1], [1.3])).toThrow(/\[0, 1\]/);
  });
});

test('the shipped response model on held-out trial B gives the card figures (scikit-learn at training time)', async () => {
  const dir = join(repoRoot(), 'models/response-model/0.1.0');
  const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8'));
  const info = responseModelInfo(card);
  const predictor = await ortPredictor(join(dir, 'model.onnx'), { sha256: info.sha256 });
  const study = simulateTrial({ subjects: 600, visits: 8, seed: 20262, stepWeeks: 8, outcomeCoupling: true, studyId: 'SIM-RM-B' });
  const r = await evaluateResponseModel(study, predictor, { impute: info.impute });
  for (const [mine, theirs] of [[r.confirmedResponse, card.evaluation.metrics.confirmed_response.held_out_trial_b], [r.progressionFree6m, card.evaluation.metrics.progression_free_6m.held_out_trial_b]]) {
    expect(mine.n).toBe(theirs.n);
    expect(mine.positives).toBe(theirs.positives);
    // the card rounds to 4 decimals; the ONNX runs in float32 (the card was computed in float64 numpy)
    expect(Math.abs(mine.auc - theirs.auc)).toBeLessThan(2e-4);
    expect(Math.abs(mine.brier - theirs.brier)).toBeLessThan(2e-4);
    expect(Math.abs(mine.calibrationSlope - theirs.calibration_slope)).toBeLessThan(2e-3);
    expect(Math.abs(mine.calibrationIntercept - theirs.calibration_intercept)).toBeLessThan(2e-3);
  }
});
