/**
 * Scaled-out shape on real services: an API process (enqueues only) and a worker process (its own runtime) share
 * PostgreSQL and Redis (Bull, this file's own queue name). The worker's operator port reports the jobs it ran;
 * the API's /metrics reports the deployment state (queue depth per job type, ledger, objects); the queue dashboard
 * (bull-board) answers an admin (bearer token or the browser cookie from /admin/login) and refuses others.
 */
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { loadOpsConfig } from '../../apps/api/src/ops/ops-config';
import { SESSION_COOKIE } from '../../apps/api/src/ops/queue-dashboard';
import { startWorkerOpsServer, type WorkerOpsServer } from '../../apps/worker/src/ops-server';
import { authHeader, loginAs, TEST_PASSWORD } from '../helpers/auth';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig } from '../support/services';
import { parseProm, value } from './prom';

jest.setTimeout(120000);

const QUEUE = `ops-bull-${randomBytes(4).toString('hex')}`;
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
let api: Runtime;
let worker: Runtime;
let app: INestApplication;
let ops: WorkerOpsServer;
const calls: Record<string, number> = {};

const register = (rt: Runtime) => {
  const count = (n: string) => (calls[n] = (calls[n] ?? 0) + 1);
  rt.queue.register({ name: 'ops.flaky', handler: async () => { if (count('ops.flaky') === 1) throw new Error('transient'); } });
  rt.queue.register({ name: 'ops.broken', handler: async () => { count('ops.broken'); throw new Error('always broken'); } });
  rt.queue.register({ name: 'ops.later', handler: async () => { count('ops.later'); } });
  rt.queue.register({ name: 'ops.heavy', heavy: true, handler: async () => { count('ops.heavy'); } });
};

beforeAll(async () => {
  db = await createTempDatabase();
  dir = await tempDir();
  const env = { DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: QUEUE, JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '10', AUTH_JWT_SECRET: 'ops-bull-test-secret-0123456789abcdef-x' };
  api = await createRuntime({ config: testConfig(env), log: quietLog(), modules: [] });
  worker = await createRuntime({ config: testConfig(env), log: quietLog(), modules: [] });
  register(api);
  register(worker);
  process.env.METRICS_STATE_TTL_MS = '0';
  app = await createApiApp(api);
  await app.init();
  ops = await startWorkerOpsServer(worker, { ...loadOpsConfig({}), METRICS_TOKEN: undefined }, { port: 0, host: '127.0.0.1' });
  worker.queue.startWorker();
});
afterAll(async () => {
  delete process.env.METRICS_STATE_TTL_MS;
  await ops?.close();
  await app?.close();
  await worker?.close();
  await api?.close();
  // this file's Bull keys on the shared Redis
  const { default: Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL);
  const keys = [...(await r.keys(`bull:${QUEUE}:*`)), ...(await r.keys(`bull:${QUEUE}.*`))];
  if (keys.length) await r.del(...keys);
  r.disconnect();
  await db?.drop();
  await dir?.remove();
});

const workerGet = (path: string) => fetch(`http://127.0.0.1:${ops.port}${path}`);

test('the worker counts the jobs it runs; the API reports queue depth per job type and the ledger for the whole deployment', async () => {
  await api.queue.enqueue('ops.flaky', {}, { idempotencyKey: `${QUEUE}-flaky` });
  await api.queue.enqueue('ops.broken', {}, { idempotencyKey: `${QUEUE}-broken` });
  for (let i = 0; i < 2; i++) await api.queue.enqueue('ops.later', { i }, { idempotencyKey: `${QUEUE}-later-${i}`, delayMs: 10 * 60_000 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = await api.jobs.countByStatus();
    if ((c.completed ?? 0) === 1 && (c.failed ?? 0) === 1) break;
    if (Date.now() > deadline) throw new Error(`jobs did not settle: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(calls).toEqual({ 'ops.flaky': 2, 'ops.broken': 2 });

  // the worker's own port: what this worker ran
  const wr = await workerGet('/metrics');
  expect(wr.status).toBe(200);
  const w = parseProm(await wr.text()).samples;
  expect(value(w, 'endpoint_job_retries_total', { job: 'ops.flaky' })).toBe(1);
  expect(value(w, 'endpoint_jobs_completed_total', { job: 'ops.flaky' })).toBe(1);
  expect(value(w, 'endpoint_job_retries_total', { job: 'ops.broken' })).toBe(1);
  expect(value(w, 'endpoint_job_failures_total', { job: 'ops.broken' })).toBe(1);
  expect(value(w, 'endpoint_job_duration_seconds_count', { job: 'ops.flaky', outcome: 'completed' })).toBe(1);
  expect(w.filter((s) => s.name.startsWith('endpoint_job')).every((s) => s.labels.role === 'worker')).toBe(true);
  // deployment state is the API's job, not each worker's
  expect(w.some((s) => s.name === 'endpoint_queue_depth' || s.name === 'endpoint_objects')).toBe(false);

  // the API: deployment state (no METRICS_TOKEN in this file: open outside production)
  const ar = await request(app.getHttpServer()).get('/metrics').expect(200);
  const a = parseProm(ar.text).samples;
  expect(value(a, 'endpoint_queue_depth', { job: 'ops.later' })).toBe(2);
  expect(value(a, 'endpoint_queue_depth', { job: 'ops.flaky' })).toBe(0);
  expect(value(a, 'endpoint_jobs', { job: 'ops.broken', status: 'failed' })).toBe(1);
  expect(value(a, 'endpoint_jobs', { job: 'ops.flaky', status: 'completed' })).toBe(1);
  // Bull's own counts for this queue (delayed: the two later jobs; failed: the broken one)
  expect(value(a, 'endpoint_queue_transport_jobs', { state: 'delayed' })).toBe(2);
  expect(value(a, 'endpoint_queue_transport_jobs', { state: 'failed' })).toBe(1);
  // the API ran nothing itself: its job counters stay empty (no double counting when summed with the workers')
  expect(a.filter((s) => s.name === 'endpoint_jobs_completed_total' && s.value > 0)).toEqual([]);
});

test('the worker port answers liveness and readiness (database, Redis, store)', async () => {
  const live = await workerGet('/health/live');
  expect(live.status).toBe(200);
  const ready = await workerGet('/health/ready');
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'ok', checks: { database: { status: 'up' }, redis: { status: 'up' }, store: { status: 'up' } } });
  expect((await workerGet('/nope')).status).toBe(404);
});

test('the queue dashboard: admin 200 (bearer or browser cookie), reader 403, anonymous 401', async () => {
  const http = () => request(app.getHttpServer());
  const admin = await authHeader(app, 'admin');
  const page = await http().get('/admin/queues/').set('authorization', admin).expect(200);
  expect(page.headers['content-type']).toMatch(/text\/html/);
  expect(page.text).toMatch(/bull|board/i);
  const queues = await http().get('/admin/queues/api/queues').set('authorization', admin).expect(200);
  expect(JSON.stringify(queues.body)).toContain(QUEUE);
  // the main queue and the heavy type's lane, both read-only
  expect(queues.body.queues.map((q: { name: string; readOnlyMode: boolean }) => [q.name, q.readOnlyMode]).sort()).toEqual([[QUEUE, true], [`${QUEUE}.ops.heavy`, true]]);

  await http().get('/admin/queues/').set('authorization', await authHeader(app, 'reader')).expect(403);
  await http().get('/admin/queues/api/queues').set('authorization', await authHeader(app, 'pipeline')).expect(403);
  const anon = await http().get('/admin/queues/').expect(401);
  expect(anon.body).toMatchObject({ code: 'auth.required' });
  const anonHtml = await http().get('/admin/queues/').set('accept', 'text/html').expect(401);
  expect(anonHtml.text).toContain('href="/admin/login"');
  await http().get('/admin/queues/api/queues').set('authorization', 'Bearer not-a-token').expect(401);

  // a browser: the login form, then the cookie
  expect((await http().get('/admin/login').expect(200)).text).toMatch(/<form method="post" action="\/admin\/login">/);
  const { user } = await loginAs(app, ['admin'], { username: 'ops-admin' });
  const login = await http().post('/admin/login').type('form').send({ username: user.username, password: TEST_PASSWORD }).expect(303);
  expect(login.headers.location).toBe('/admin/queues/');
  const cookie = String(login.headers['set-cookie']);
  expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;]+; Path=/admin; Max-Age=\\d+; HttpOnly; SameSite=Strict`));
  const jar = cookie.split(';')[0]!;
  await http().get('/admin/queues/').set('cookie', jar).expect(200);
  expect((await http().get('/admin/queues/api/queues').set('cookie', jar).expect(200)).body.queues).toHaveLength(2);
  // a reader cannot get a dashboard cookie; a wrong password neither
  await loginAs(app, ['reader'], { username: 'ops-reader' });
  const r = await http().post('/admin/login').type('form').send({ username: 'ops-reader', password: TEST_PASSWORD }).expect(403);
  expect(r.headers['set-cookie']).toBeUndefined();
  await http().post('/admin/login').type('form').send({ username: 'ops-admin', password: 'wrong password!' }).expect(401);
  // logout revokes the session behind the cookie
  await http().post('/admin/logout').set('cookie', jar).expect(303);
  await http().get('/admin/queues/').set('cookie', jar).expect(401);
});
