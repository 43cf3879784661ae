/**
 * No job is ever stuck — Bull on Redis. A real Bull worker process is killed with SIGKILL inside a handler; Bull's
 * stalled-job check (short lockDuration / stalledInterval here) puts the job back and a live worker takes the ledger
 * row over once its lease has expired: re-run exactly once, completed, no duplicate derived rows. A job whose worker
 * dies on every attempt is failed through the ledger reconciliation, and its object marked failed.
 */
import { createRuntime, type Runtime } from '@app/pipeline';
import type { BullDriver, JobEvent } from '@app/queue';
import { createObjectStore } from '@app/storage';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig, waitFor } from '../support/services';
import { crashModule, TEST_TABLES_SQL } from './support/crash-module';
import { Probe, spawnWorker, TIFF } from './support/harness';

const LEASE_MS = 1000;
const BULL = { BULL_LOCK_DURATION_MS: '1000', BULL_STALLED_INTERVAL_MS: '500', BULL_MAX_STALLED_COUNT: '1' };
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let probe: Probe;
const runtimes: Runtime[] = [];

beforeAll(async () => {
  db = await createTempDatabase();
  dir = await tempDir();
  probe = await Probe.open(db.url);
  for (const q of TEST_TABLES_SQL) await probe.rows(q);
  const store = createObjectStore(testConfig({ DATA_DIR: dir.path }));
  await store.put('incoming/d.tif', TIFF);
  await store.put('incoming/e.tif', TIFF);
});
afterAll(async () => {
  for (const rt of runtimes) {
    for (const q of (rt.queue.driver as BullDriver).queues()) await q.obliterate({ force: true }).catch(() => {});
    await rt.close();
  }
  await probe?.close();
  await db?.drop();
  await dir?.remove();
});

async function bullWorker(queueName: string, events: JobEvent[]): Promise<Runtime> {
  const rt = await createRuntime({
    config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: queueName, JOB_LEASE_MS: String(LEASE_MS), JOB_RECLAIM_INTERVAL_MS: '500', ...BULL }),
    log: quietLog(),
    modules: [crashModule()],
  });
  runtimes.push(rt);
  rt.queue.observe((e) => events.push(e));
  rt.queue.startWorker();
  return rt;
}

test('Bull: a worker killed with SIGKILL mid-job; the stalled job is re-run exactly once by a live worker and completed', async () => {
  const queueName = `rb1-${Date.now().toString(36)}`;
  const child = spawnWorker({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: queueName, JOB_LEASE_MS: String(LEASE_MS), ENQUEUE_KEY: 'incoming/d.tif', CRASH: 'hang', ...BULL });
  const objectId = await probe.waitRuns('incoming/d.tif', 1, 45000, child);
  expect(await child.kill9()).toBe('SIGKILL');
  expect((await probe.objectByKey('incoming/d.tif'))!.status).toBe('processing');
  const jobId = (await probe.processJob(objectId))!.id;

  const events: JobEvent[] = [];
  const rt = await bullWorker(queueName, events);
  await waitFor(async () => (await probe.objectByKey('incoming/d.tif'))!.status === 'processed', 30000, 'object processed');
  await rt.queue.waitIdle({ timeoutMs: 20000 });
  expect((await probe.runs(objectId)).map((r) => [r.pid, r.attempt, r.finished])).toEqual([
    [child.proc.pid, 1, false],
    [process.pid, 2, true],
  ]);
  expect(await probe.derived(objectId)).toBe(3);
  expect(await probe.processJob(objectId)).toMatchObject({ status: 'completed', attempts: 2, owner: rt.queue.workerId });
  expect(events.filter((e) => e.jobId === jobId).map((e) => `${e.type}:${e.attempt}`)).toEqual(['recovered:1', 'started:2', 'completed:2']);
  await rt.close();
});

test('Bull: a job whose worker dies on every attempt ends failed, and its object failed (never processing forever)', async () => {
  const queueName = `rb2-${Date.now().toString(36)}`;
  const env = { DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: queueName, JOB_LEASE_MS: String(LEASE_MS), JOB_ATTEMPTS: '2', CRASH: 'self', ...BULL };
  const a = spawnWorker({ ...env, ENQUEUE_KEY: 'incoming/e.tif' }); // kills itself (SIGKILL) inside attempt 1
  expect(await a.exited).toBe('SIGKILL');
  const objectId = await probe.waitRuns('incoming/e.tif', 1, 5000); // (its stderr: a.stderr())
  const b = spawnWorker(env); // Bull hands it the stalled job: attempt 2, kills itself too
  expect(await b.exited).toBe('SIGKILL');
  expect((await probe.runs(objectId)).map((r) => [r.pid, r.attempt, r.finished])).toEqual([
    [a.proc.pid, 1, false],
    [b.proc.pid, 2, false],
  ]);
  expect((await probe.objectByKey('incoming/e.tif'))!.status).toBe('processing');

  const events: JobEvent[] = [];
  const rt = await bullWorker(queueName, events);
  await waitFor(async () => (await probe.objectByKey('incoming/e.tif'))!.status === 'failed', 30000, 'object failed');
  const obj = (await probe.objectByKey('incoming/e.tif'))!;
  expect(obj).toMatchObject({ reason_code: 'job.failed' });
  expect(obj.reason).toMatch(/^WorkerLostError: .*died/);
  const job = (await probe.processJob(objectId))!;
  expect(job).toMatchObject({ status: 'failed', attempts: 2, max_attempts: 2 });
  expect(job.error).toMatch(/^WorkerLostError: /);
  expect((await probe.runs(objectId)).length).toBe(2); // never run a third time
  expect(events.filter((e) => e.jobId === job.id && e.type === 'failed')).toHaveLength(1);
  expect(await rt.jobs.countStuck()).toBe(0);
});
