/**
 * Bull and the ledger agree after Bull fails a job by itself. Bull fails an active job whose lock lapsed more than
 * maxStalledCount times ("job stalled more than allowable limit") even when its worker is alive (event loop blocked
 * past the lock on a busy machine), and the ledger attempt then completes. The failed Bull job is stale: it is
 * removed when the attempt completes, and the periodic reconciliation removes any stale failed Bull job whose ledger
 * row completed or went on under another transport id. A Bull failure the ledger agrees with is left alone.
 */
import { createRuntime, type PipelineModule, type Runtime } from '@app/pipeline';
import type { BullDriver } from '@app/queue';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig, waitFor } from '../support/services';

let db: Awaited<ReturnType<typeof createTempDatabase>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let runs = 0;
let release: () => void = () => {};
const started: string[] = [];

const gateModule: PipelineModule = {
  name: 'gate',
  jobs: () => [
    {
      name: 'test.gate',
      handler: async (ctx) => {
        runs++;
        started.push(ctx.id);
        await new Promise<void>((r) => (release = r));
        return { ok: true };
      },
    },
    { name: 'test.quick', handler: async () => ({ ok: true }) },
  ],
};

beforeAll(async () => {
  db = await createTempDatabase();
  dir = await tempDir();
  rt = await createRuntime({
    // a long lock (not renewed during the test) and no periodic stall check: the test lapses the lock and runs the check itself
    config: testConfig({
      DATA_DIR: dir.path,
      DATABASE_URL: db.url,
      REDIS_URL,
      QUEUE_NAME: `stale-${Date.now().toString(36)}`,
      BULL_LOCK_DURATION_MS: '120000',
      BULL_STALLED_INTERVAL_MS: '600000',
      BULL_MAX_STALLED_COUNT: '0',
      JOB_RECLAIM_INTERVAL_MS: '0',
    }),
    log: quietLog(),
    modules: [gateModule],
  });
});
afterAll(async () => {
  release();
  if (rt) {
    for (const q of (rt.queue.driver as BullDriver).queues()) await q.obliterate({ force: true }).catch(() => {});
    await rt.close();
  }
  await db?.drop();
  await dir?.remove();
});

const bullQueue = () => (rt.queue.driver as BullDriver).queues()[0]!;
const ledgerRow = (id: string) => rt.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

test('Bull fails a live job for its lapsed lock; the attempt completes; the stale Bull failure is removed', async () => {
  rt.queue.startWorker();
  const { jobId } = await rt.queue.enqueue('test.gate', {}, { idempotencyKey: `gate:${Date.now()}` });
  await waitFor(async () => started.includes(jobId), 15000, 'handler started');
  const q = bullQueue();
  // Bull's stalled check, twice (the first marks active jobs, the next acts on marked ones whose lock lapsed); its
  // rate-limit key is cleared so each call really runs. The worker's lock lapses in between (as when its event loop
  // is blocked past lockDuration).
  const stalledCheck = async () => {
    await q.client.del(q.toKey('stalled-check'));
    await (q as unknown as { moveUnlockedJobsToWait(): Promise<void> }).moveUnlockedJobsToWait();
  };
  await stalledCheck();
  await q.client.del(`${q.toKey(jobId)}:lock`);
  await stalledCheck();
  const failed = await q.getJob(jobId);
  expect(await failed!.isFailed()).toBe(true);
  expect(failed!.failedReason).toMatch(/stalled more than allowable limit/);
  // the ledger attempt is alive: the recovery hook leaves it alone and the Bull failure stays while it runs
  await new Promise((r) => setTimeout(r, 300));
  expect(await ledgerRow(jobId)).toMatchObject({ status: 'running', attempts: 1 });
  expect(await (await q.getJob(jobId))?.isFailed()).toBe(true);

  release();
  await waitFor(async () => (await ledgerRow(jobId)).status === 'completed', 15000, 'ledger completed');
  await waitFor(async () => (await q.getJob(jobId)) === null, 15000, 'stale Bull job removed');
  expect(runs).toBe(1);
  expect(await q.getJobCounts()).toMatchObject({ failed: 0, active: 0, waiting: 0 });
});

test('the reconciliation sweep removes stale failed Bull jobs and keeps the ones the ledger agrees with', async () => {
  // a second deployment on a queue of its own that consumes nothing: its jobs stay where the test puts them
  const rt2 = await createRuntime({
    config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: `stale2-${Date.now().toString(36)}`, JOB_RECLAIM_INTERVAL_MS: '0' }),
    log: quietLog(),
    modules: [gateModule],
  });
  try {
    const q = (rt2.queue.driver as BullDriver).queues()[0]!;
    const tag = Date.now().toString(36);
    const stale = await rt2.queue.enqueue('test.quick', {}, { idempotencyKey: `q1:${tag}` });
    const agreed = await rt2.queue.enqueue('test.quick', {}, { idempotencyKey: `q2:${tag}` });
    // Bull fails both deliveries (taken, then failed as its stalled check would)
    for (let i = 0; i < 2; i++) {
      const j = (await q.getNextJob())!;
      j.discard(); // no Bull retry: failed outright, as a stall beyond the limit is
      await j.moveToFailed({ message: 'job stalled more than allowable limit' }, true);
      await q.client.del(`${q.toKey(String(j.id))}:lock`); // a stalled job's lock has lapsed
    }
    expect(await q.getJobCounts()).toMatchObject({ failed: 2, waiting: 0, active: 0 });
    // the ledger went on: the first row was sent again under another transport id and completed; the second failed
    // under this very transport id (Bull and the ledger agree on it)
    await rt.db.updateTable('jobs').set({ status: 'completed', transport_id: `${stale.jobId}:r1`, progress: 100 }).where('id', '=', stale.jobId).execute();
    await rt.db.updateTable('jobs').set({ status: 'failed', error: 'Error: failed for real' }).where('id', '=', agreed.jobId).execute();

    await rt2.queue.recoverStuck();
    expect(await q.getJob(stale.jobId)).toBeNull();
    expect(await (await q.getJob(agreed.jobId))!.isFailed()).toBe(true);
    expect((await ledgerRow(agreed.jobId)).status).toBe('failed');
    await q.obliterate({ force: true });
  } finally {
    await rt2.close();
  }
});
