/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * A data cut with predictions carries ADPRED: the shipped response model's exploratory predictions, labelled as such,
 * with the model's provenance in every row and in the manifest; a cut without them is unchanged.
 */
import { join } from 'node:path';
import { readDataset } from '@app/datasets';
import { ADPRED_PARCAT1 } from '@app/endpoints';
import { createDataCut, createRuntime, loadSimulatedStudy, type Runtime } from '@app/pipeline';
import { quietLog, tempDir, testConfig } from '../support/services';

jest.setTimeout(120000);
let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: join(dir.path, 'data') }), log: quietLog(), pgliteDir: ':memory:' });
  await loadSimulatedStudy(rt, 'PRED-1', { subjects: 40, visits: 6, seed: 3, qlq: true, stepWeeks: 6, outcomeCoupling: true }, 'test');
});
afterAll(async () => {
  await rt?.close();
  await dir?.remove();
});

test('ADPRED only when asked, exploratory, with model provenance; the rest of the cut is the same', async () => {
  const plain = await createDataCut(rt, { studyId: 'PRED-1', cutoffDate: '2030-01-01', blinded: true, createdBy: 'test', formats: ['csv'] });
  const pred = await createDataCut(rt, { studyId: 'PRED-1', cutoffDate: '2030-01-01', blinded: true, createdBy: 'test', formats: ['csv'], predictions: true });
  expect(plain.manifest.files.some((f) => f.dataset === 'ADPRED')).toBe(false);
  const f = pred.manifest.files.find((x) => x.dataset === 'ADPRED')!;
  expect(f).toBeDefined();
  // every endpoint dataset is byte-identical with or without predictions
  for (const p of plain.manifest.files) expect(pred.manifest.files.find((x) => x.path === p.path)?.sha256).toBe(p.sha256);
  const ds = readDataset(await rt.store.getBuffer(`${pred.cut.prefix}/${f.path}`), f.path);
  const col = (n: string) => ds.columns.findIndex((c) => c.name === n);
  expect(ds.rows).toHaveLength(80);
  expect(new Set(ds.rows.map((r) => r[col('PARCAT1')]))).toEqual(new Set([ADPRED_PARCAT1]));
  expect(ds.rows.every((r) => r[col('ANL01FL')] === null || r[col('ANL01FL')] === '')).toBe(true);
  expect(new Set(ds.rows.map((r) => r[col('MODELID')]))).toEqual(new Set(['response-model']));
  expect(ds.rows.every((r) => (r[col('AVAL')] as number) >= 0 && (r[col('AVAL')] as number) <= 1)).toBe(true);
  expect(ds.columns.map((c) => c.name)).not.toContain('ARM');
  expect((pred.cut.inputs as { predictionModel?: { id: string } }).predictionModel?.id).toBe('response-model');
});
