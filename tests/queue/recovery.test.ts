/**
 * No job is ever stuck — embedded mode (in-process queue; the ledger on PostgreSQL so that a second process can see
 * it). A real worker process is killed with SIGKILL inside a handler: its object is left `processing`, its job
 * `running` under a lease that nobody renews. GET /v1/jobs?status=stuck lists it once the lease has expired; the next
 * process recovers it at start-up (re-run exactly once, completed, object processed, no duplicate derived rows); a
 * live worker recovers one on its timer.
 */
import request from 'supertest';
import type { INestApplication } from '@nestjs/common';
import { createRuntime, type Runtime } from '@app/pipeline';
import type { BullDriver, JobEvent } from '@app/queue';
import { createObjectStore } from '@app/storage';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader } from '../helpers/auth';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig, waitFor } from '../support/services';
import { crashModule, TEST_TABLES_SQL } from './support/crash-module';
import { Probe, spawnWorker, TIFF } from './support/harness';

const LEASE_MS = 1000;
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let probe: Probe;
let rt: Runtime | undefined;
const events: JobEvent[] = [];

beforeAll(async () => {
  db = await createTempDatabase();
  dir = await tempDir();
  probe = await Probe.open(db.url);
  for (const q of TEST_TABLES_SQL) await probe.rows(q);
  const store = createObjectStore(testConfig({ DATA_DIR: dir.path }));
  await store.put('incoming/a.tif', TIFF);
  await store.put('incoming/c.tif', TIFF);
});
afterAll(async () => {
  await rt?.close();
  await probe?.close();
  await db?.drop();
  await dir?.remove();
});

const childEnv = (extra: Record<string, string>) => ({ DATA_DIR: dir.path, DATABASE_URL: db.url, JOB_LEASE_MS: String(LEASE_MS), ...extra });

test('a worker killed with SIGKILL mid-job: listed as stuck, then recovered at the next start-up, re-run exactly once', async () => {
  const child = spawnWorker(childEnv({ ENQUEUE_KEY: 'incoming/a.tif', CRASH: 'hang' }));
  const objectId = await probe.waitRuns('incoming/a.tif', 1, 45000, child);
  // The ingest job that queued this process job records its completion just after; on a loaded machine that can come
  // after the process handler has started. Kill only once it has, so that the process job is the one left running.
  await waitFor(async () => (await probe.rows<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'running'`))[0]!.n === 1, 15000, 'the ingest job recorded as completed');
  expect(await child.kill9()).toBe('SIGKILL');
  const dead = child.proc.pid!;

  // The process is gone: its object is processing, its job running under a lease nobody renews.
  expect((await probe.objectByKey('incoming/a.tif'))!.status).toBe('processing');
  const before = (await probe.processJob(objectId))!;
  expect(before).toMatchObject({ status: 'running', attempts: 1, recoveries: 0 });
  expect(before.owner).toMatch(new RegExp(`:${dead}:[0-9a-f]{8}$`));
  await new Promise((r) => setTimeout(r, LEASE_MS + 300));

  // An API process (Bull transport, no worker in it: nothing recovers here) shows the stuck row and the counts.
  const api = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: `rec-${Date.now().toString(36)}` }), log: quietLog(), modules: [crashModule()] });
  let app: INestApplication | undefined;
  try {
    app = await createApiApp(api);
    await app.init();
    const auth = await authHeader(app, 'admin');
    const stuck = await request(app.getHttpServer()).get('/v1/jobs?status=stuck').set('authorization', auth).expect(200);
    expect(stuck.body.items.map((j: { id: string }) => j.id)).toEqual([before.id]);
    expect(stuck.body.counts).toMatchObject({ running: 1, stuck: 1 });
    const depth = await request(app.getHttpServer()).get('/v1/jobs/depth').set('authorization', auth).expect(200);
    expect(depth.body.depth['process.object']).toEqual({ waiting: 0, delayed: 0, active: 0, stuck: 1, failed: 0 });
    await request(app.getHttpServer()).get('/v1/jobs?status=bogus').set('authorization', auth).expect(400);
  } finally {
    await app?.close();
    for (const q of (api.queue.driver as BullDriver).queues()) await q.obliterate({ force: true }).catch(() => {});
    await api.close();
  }

  // The next embedded process recovers it at start-up.
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, JOB_LEASE_MS: String(LEASE_MS), JOB_RECLAIM_INTERVAL_MS: '300' }), log: quietLog(), modules: [crashModule()] });
  rt.queue.observe((e) => events.push(e));
  rt.queue.startWorker();
  await waitFor(async () => (await probe.objectByKey('incoming/a.tif'))!.status === 'processed', 30000, 'object processed');
  await rt.queue.waitIdle({ timeoutMs: 20000 });

  const runs = await probe.runs(objectId);
  expect(runs).toEqual([
    { pid: dead, attempt: 1, finished: false },
    { pid: process.pid, attempt: 2, finished: true },
  ]);
  expect(await probe.derived(objectId)).toBe(3); // parts 1 and 2 were written by the dead attempt: no duplicates
  expect(await probe.processJob(objectId)).toMatchObject({ status: 'completed', attempts: 2, recoveries: 1, owner: rt.queue.workerId, lease_until: null });
  const mine = events.filter((e) => e.jobId === before.id).map((e) => `${e.type}:${e.attempt}`);
  expect(mine).toEqual(['recovered:1', 'started:2', 'completed:2']);
  expect(await rt.jobs.countStuck()).toBe(0);
});

test('a live worker recovers, on its timer, the job of another worker killed with SIGKILL', async () => {
  expect(rt).toBeDefined();
  const child = spawnWorker(childEnv({ ENQUEUE_KEY: 'incoming/c.tif', CRASH: 'hang' }));
  const objectId = await probe.waitRuns('incoming/c.tif', 1, 45000, child);
  // the live worker must not take the job while its owner lives (lease renewed)
  await new Promise((r) => setTimeout(r, LEASE_MS * 2));
  expect((await probe.runs(objectId)).length).toBe(1);
  expect((await probe.processJob(objectId))!.status).toBe('running');
  await child.kill9();
  await waitFor(async () => (await probe.objectByKey('incoming/c.tif'))!.status === 'processed', 30000, 'object processed');
  await rt!.queue.waitIdle({ timeoutMs: 20000 });
  expect((await probe.runs(objectId)).map((r) => [r.pid, r.finished])).toEqual([
    [child.proc.pid, false],
    [process.pid, true],
  ]);
  expect(await probe.derived(objectId)).toBe(3);
  expect(await probe.processJob(objectId)).toMatchObject({ status: 'completed', attempts: 2, recoveries: 1 });
});
