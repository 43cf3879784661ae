/**
 * Liveness and readiness on this file's own redis-server and PostgreSQL cluster (tests/faults/harness): readiness
 * is 503 naming the dependency while Redis or the database is down and 200 again once it is back; liveness stays
 * 200 throughout; the worker's operator port answers the same. (Embedded mode, no Redis check: tests/ops/metrics.test.ts.)
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { loadOpsConfig } from '../../apps/api/src/ops/ops-config';
import { startWorkerOpsServer, type WorkerOpsServer } from '../../apps/worker/src/ops-server';
import { exited, freePort, killAll, type PgHandle, type RedisHandle, spawnWorker, startPostgres, startRedis } from '../faults/harness';
import { quietLog, tempDir, testConfig, waitFor } from '../support/services';

jest.setTimeout(120000);

let redis: RedisHandle;
let pg: PgHandle;
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let app: INestApplication;
let ops: WorkerOpsServer;

beforeAll(async () => {
  [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
  dir = await tempDir();
  process.env.READY_CHECK_TIMEOUT_MS = '1500';
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: pg.url, REDIS_URL: redis.url, QUEUE_NAME: 'ops-health' }), log: quietLog(), modules: [] });
  app = await createApiApp(rt);
  await app.init();
  ops = await startWorkerOpsServer(rt, loadOpsConfig({ READY_CHECK_TIMEOUT_MS: '1500' }), { port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  delete process.env.READY_CHECK_TIMEOUT_MS;
  await ops?.close();
  await app?.close();
  await rt?.close();
  await pg?.destroy();
  await killAll();
  await dir?.remove();
});

const get = (path: string) => request(app.getHttpServer()).get(path);
const workerStatus = async (path: string) => (await fetch(`http://127.0.0.1:${ops.port}${path}`)).status;

test('everything up: live 200, ready 200 with database, Redis and store checked', async () => {
  await get('/health/live').expect(200).expect((r) => expect(r.body).toMatchObject({ status: 'ok', info: { process: { status: 'up' } } }));
  const r = await get('/health/ready').expect(200);
  expect(r.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' }, redis: { status: 'up' }, store: { status: 'up' } } });
  expect(r.headers['cache-control']).toMatch(/no-cache/);
  await get('/health').expect(200);
  expect(await workerStatus('/health/ready')).toBe(200);
});

test('Redis down: ready 503 naming redis, live still 200; back: ready 200', async () => {
  await redis.stop('kill');
  const r = await get('/health/ready').expect(503);
  expect(r.body).toMatchObject({ status: 'error', error: { redis: { status: 'down' } }, info: { database: { status: 'up' }, store: { status: 'up' } } });
  expect(r.body.error.database).toBeUndefined();
  await get('/health/live').expect(200);
  await get('/health').expect(503);
  expect(await workerStatus('/health/ready')).toBe(503);
  expect(await workerStatus('/health/live')).toBe(200);

  await redis.start();
  await waitFor(async () => (await get('/health/ready')).status === 200, 30000, 'ready after Redis is back');
});

test('database down: ready 503 naming the database, live still 200; back: ready 200', async () => {
  await pg.stop('immediate');
  const t0 = Date.now();
  const r = await get('/health/ready').expect(503);
  expect(Date.now() - t0).toBeLessThan(10000);
  expect(r.body).toMatchObject({ status: 'error', error: { database: { status: 'down' } }, info: { redis: { status: 'up' }, store: { status: 'up' } } });
  await get('/health/live').expect(200);
  expect(await workerStatus('/health/ready')).toBe(503);
  expect(await workerStatus('/health/live')).toBe(200);

  await pg.start();
  await waitFor(async () => (await get('/health/ready')).status === 200, 30000, 'ready after the database is back');
});

test('the real worker process (apps/worker) serves its operator port: probes, and /metrics behind METRICS_TOKEN', async () => {
  const port = await freePort();
  const token = 'worker-metrics-token-0123456789';
  const w = spawnWorker({ DATABASE_URL: pg.url, REDIS_URL: redis.url, QUEUE_NAME: 'ops-health', DATA_DIR: dir.path, METRICS_PORT: String(port), METRICS_TOKEN: token, AI_CT_MODEL: 'off', LOG_LEVEL: 'warn' });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/health/ready`).catch(() => undefined))?.status === 200, 90000, `worker ready\n${w.output()}`);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const m = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(m.status).toBe(200);
    const text = await m.text();
    expect(text).toMatch(/^endpoint_jobs_started_total\{job="ingest\.object",role="worker"\} 0$/m);
    expect(text).toContain('# TYPE endpoint_job_duration_seconds histogram');
  } finally {
    w.proc.kill('SIGTERM');
    await exited(w.proc, 30000).catch(() => w.kill9());
  }
  expect(w.proc.signalCode ?? w.proc.exitCode).not.toBeNull();
});
