/**
 * AI runs and proposals on real PostgreSQL and on PGlite: recorded once per run key (a retried job adds nothing),
 * proposals immutable in the database itself, a newer model version adds rows and keeps the old ones.
 */
import { AiRepository, migrateToLatest, type Db } from '@app/db';
import { withPglite, withPostgres } from '../support/services';

const MODEL_A = { id: 'ct-lesion-seg', version: '0.1.0', sha256: 'a'.repeat(64) };
const MODEL_B = { id: 'ct-lesion-seg', version: '0.2.0', sha256: 'b'.repeat(64) };

const run = (model: typeof MODEL_A, key: string) => ({
  runKey: key, kind: 'track' as const, inputSha256: 'c'.repeat(64), model, outputs: {}, summary: { lesions: 2 }, provenance: { codeVersion: 'test' },
});
const proposals = [
  { kind: 'lesion' as const, timePointId: 'BL', trackingUid: '2.25.1', trackingId: 'T01 liver', values: { longAxisMm: 30.1 }, provenance: {} },
  { kind: 'lesion' as const, timePointId: 'BL', trackingUid: '2.25.2', trackingId: 'T02 lung', values: { longAxisMm: 18.4 }, provenance: {} },
];

async function exercise(db: Db): Promise<void> {
  await migrateToLatest(db);
  const repo = new AiRepository(db);
  const first = await repo.recordRun(run(MODEL_A, 'track:s1:a'), proposals);
  expect(first.created).toBe(true);
  const again = await repo.recordRun(run(MODEL_A, 'track:s1:a'), proposals);
  expect(again.created).toBe(false);
  expect(again.run.id).toBe(first.run.id);
  const rows = await repo.proposalsOfRun(first.run.id);
  expect(rows.map((r) => [r.ordinal, r.tracking_id, r.values.longAxisMm, r.model.sha256])).toEqual([[0, 'T01 liver', 30.1, MODEL_A.sha256], [1, 'T02 lung', 18.4, MODEL_A.sha256]]);

  await expect(db.updateTable('ai_proposals').set({ tracking_id: 'T99 edited' }).where('run_id', '=', first.run.id).execute()).rejects.toThrow(/immutable/);
  await expect(db.deleteFrom('ai_proposals').where('run_id', '=', first.run.id).execute()).rejects.toThrow(/immutable/);

  const second = await repo.recordRun(run(MODEL_B, 'track:s1:b'), proposals);
  expect(second.created).toBe(true);
  const all = await db.selectFrom('ai_proposals').select(['run_id']).execute();
  expect(all.length).toBe(4);
  expect((await repo.proposalsOfRun(first.run.id)).length).toBe(2);
}

describe('AiRepository', () => {
  it('on PostgreSQL', () => withPostgres(exercise));
  it('on PGlite', () => withPglite(exercise));
});
