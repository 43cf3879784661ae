/**
 * Exports the early features and outcome labels of two simulated trials to CSV for train.py:
 *   trial A (training):   simulateTrial({ subjects: 600, visits: 8, seed: 20261, stepWeeks: 8, outcomeCoupling: true })
 *   trial B (evaluation): the same with seed 20262 (different subjects, never used for fitting).
 * Usage (see README.md): node <build>/models/response-model/0.1.0/train/export-features.js <outDir>
 * Columns: usubjid, the five features in EARLY_FEATURE_NAMES order (empty = missing), crsp (0/1),
 * pfs6 (0/1, empty = censored before 6 months without an event: excluded from that label).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EARLY_FEATURE_NAMES, deriveResponseLabels, extractEarlyFeatures, simulateTrial, type SimulateOptions } from '@app/endpoints';

export const TRIALS: Record<string, SimulateOptions> = {
  'trial-a': { subjects: 600, visits: 8, seed: 20261, stepWeeks: 8, outcomeCoupling: true, studyId: 'SIM-RM-A' },
  'trial-b': { subjects: 600, visits: 8, seed: 20262, stepWeeks: 8, outcomeCoupling: true, studyId: 'SIM-RM-B' },
};

export function trialCsv(o: SimulateOptions): string {
  const study = simulateTrial(o);
  const feats = extractEarlyFeatures(study);
  const labels = new Map(deriveResponseLabels(study).map((l) => [l.usubjid, l]));
  const cell = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
  const lines = [['usubjid', ...EARLY_FEATURE_NAMES, 'crsp', 'pfs6'].join(',')];
  for (const f of feats) {
    const l = labels.get(f.usubjid)!;
    lines.push([f.usubjid, ...EARLY_FEATURE_NAMES.map((k) => cell(f.features[k])), cell(l.confirmedResponse), cell(l.progressionFree6m)].join(','));
  }
  return lines.join('\n') + '\n';
}

if (require.main === module) {
  const out = process.argv[2] ?? '/tmp/response-model';
  mkdirSync(out, { recursive: true });
  for (const [name, o] of Object.entries(TRIALS)) {
    writeFileSync(join(out, `${name}.csv`), trialCsv(o));
    console.log(`${name}: ${o.subjects} subjects, seed ${o.seed} -> ${join(out, `${name}.csv`)}`);
  }
}
