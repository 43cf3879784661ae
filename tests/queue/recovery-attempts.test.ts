/**
 * Embedded mode (in-process queue, ledger on PostgreSQL): a job whose worker process dies (kill -9 of itself inside
 * the handler) on every attempt. Each next process recovers it at start-up and spends an attempt; when the last
 * attempt has died, the next process fails it and its onFinalFailure marks the object failed: never `processing`
 * forever, never run past its attempts.
 */
import { createRuntime, type Runtime } from '@app/pipeline';
import type { JobEvent } from '@app/queue';
import { createObjectStore } from '@app/storage';
import { createTempDatabase, quietLog, tempDir, testConfig, waitFor } from '../support/services';
import { crashModule, TEST_TABLES_SQL } from './support/crash-module';
import { Probe, spawnWorker, TIFF } from './support/harness';

const LEASE_MS = 800;
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let probe: Probe;
let rt: Runtime | undefined;

beforeAll(async () => {
  db = await createTempDatabase();
  dir = await tempDir();
  probe = await Probe.open(db.url);
  for (const q of TEST_TABLES_SQL) await probe.rows(q);
  await createObjectStore(testConfig({ DATA_DIR: dir.path })).put('incoming/b.tif', TIFF);
});
afterAll(async () => {
  await rt?.close();
  await probe?.close();
  await db?.drop();
  await dir?.remove();
});

test('embedded: a job that dies with its worker on every attempt ends failed, its object failed', async () => {
  const env = { DATA_DIR: dir.path, DATABASE_URL: db.url, JOB_LEASE_MS: String(LEASE_MS), JOB_ATTEMPTS: '2', CRASH: 'self' };
  const a = spawnWorker({ ...env, ENQUEUE_KEY: 'incoming/b.tif' });
  expect(await a.exited).toBe('SIGKILL');
  const objectId = await probe.waitRuns('incoming/b.tif', 1, 5000);
  expect((await probe.processJob(objectId))!).toMatchObject({ status: 'running', attempts: 1 });
  await new Promise((r) => setTimeout(r, LEASE_MS + 200));
  const b = spawnWorker(env); // recovers it at start-up, runs attempt 2, dies too
  expect(await b.exited).toBe('SIGKILL');
  expect((await probe.runs(objectId)).map((r) => [r.pid, r.attempt, r.finished])).toEqual([
    [a.proc.pid, 1, false],
    [b.proc.pid, 2, false],
  ]);
  expect((await probe.processJob(objectId))!).toMatchObject({ status: 'running', attempts: 2, recoveries: 1 });
  expect((await probe.objectByKey('incoming/b.tif'))!.status).toBe('processing');
  await new Promise((r) => setTimeout(r, LEASE_MS + 200));

  const events: JobEvent[] = [];
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, JOB_LEASE_MS: String(LEASE_MS) }), log: quietLog(), modules: [crashModule()] });
  rt.queue.observe((e) => events.push(e));
  expect((await rt.jobs.list({ status: 'stuck' })).map((j) => j.id)).toEqual([(await probe.processJob(objectId))!.id]);
  rt.queue.startWorker();
  await waitFor(async () => (await probe.objectByKey('incoming/b.tif'))!.status === 'failed', 20000, 'object failed');
  const obj = (await probe.objectByKey('incoming/b.tif'))!;
  expect(obj.reason_code).toBe('job.failed');
  expect(obj.reason).toMatch(/^WorkerLostError: the worker running attempt 2 \(.*:\d+:[0-9a-f]{8}\) died during the last attempt \(2 of 2\)$/);
  const job = (await probe.processJob(objectId))!;
  expect(job).toMatchObject({ status: 'failed', attempts: 2, recoveries: 2, owner: null, lease_until: null });
  expect((await probe.runs(objectId)).length).toBe(2);
  expect(events.map((e) => `${e.type}:${e.name}:${e.attempt}`)).toEqual(['failed:process.object:2']);
  expect(await rt.jobs.countStuck()).toBe(0);
  // an operator retry re-runs it from its first attempt (the worker no longer dies here)
  await rt.queue.retry(job.id);
  await waitFor(async () => (await probe.objectByKey('incoming/b.tif'))!.status === 'processed', 20000, 'object processed after retry');
  expect(await probe.derived(objectId)).toBe(3);
});

test('embedded: jobs queued in a stopped process are taken over at the next start at once, a delayed one keeping its time', async () => {
  const done: string[] = [];
  const mod = { name: 'later', jobs: () => [{ name: 'test.later', handler: async (job: { payload: unknown }) => void done.push(JSON.stringify(job.payload)) }] };
  const cfg = testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, JOB_LEASE_MS: '60000' });
  const a = await createRuntime({ config: cfg, log: quietLog(), modules: [mod] }); // enqueues, never consumes
  const now = await a.queue.enqueue('test.later', { n: 'now' }, { idempotencyKey: 'later-now' });
  const later = await a.queue.enqueue('test.later', { n: 'later' }, { idempotencyKey: 'later-later', delayMs: 120_000 });
  const dueAt = (await a.jobs.byId(later.jobId))!.not_before!;
  await a.close(); // graceful: its queued rows are released, not left for the 60 s lease
  const b = await createRuntime({ config: cfg, log: quietLog(), modules: [mod] });
  try {
    const events: JobEvent[] = [];
    b.queue.observe((e) => events.push(e));
    b.queue.startWorker();
    await waitFor(async () => (await b.jobs.byId(now.jobId))?.status === 'completed', 10000, 'queued job run by the next process');
    // the start-up recovery takes the rows over one by one: the delayed one may come after the due one has already run
    await waitFor(async () => (await b.jobs.byId(later.jobId))?.owner === b.queue.workerId, 10000, 'delayed job taken over by the next process');
    expect(done).toEqual(['{"n":"now"}']);
    const row = (await b.jobs.byId(later.jobId))!;
    expect(row).toMatchObject({ status: 'queued', owner: b.queue.workerId, recoveries: 1 });
    expect(new Date(row.not_before!).getTime()).toBe(new Date(dueAt).getTime());
    expect((await b.queue.depth())['test.later']).toEqual({ waiting: 0, delayed: 1, active: 0, stuck: 0, failed: 0 });
    expect(events.filter((e) => e.type === 'recovered').map((e) => e.jobId).sort()).toEqual([now.jobId, later.jobId].sort());
  } finally {
    await b.close();
  }
});
