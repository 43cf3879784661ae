/**
 * GET /metrics on the embedded API (PGlite, in-process runner, local store): after real jobs ran (one retried then
 * completed, one failed after all attempts, one slow, three still waiting) and real uploads were ingested (two
 * quarantined, one waiting for a processor), every metric family of issue "Operations" §5 is there with the values
 * the database and the jobs say; the metrics token is enforced; no object key or patient name leaks into a scrape.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { repoRoot } from '@app/core';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader } from '../helpers/auth';
import { postSigned, s3Event } from '../spine/helpers';
import { quietLog, tempDir, testConfig } from '../support/services';
import { parseProm, value } from './prom';

const TOKEN = 'metrics-test-token-0123456789abcdef';
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let app: INestApplication;
const calls: Record<string, number> = {};

beforeAll(async () => {
  process.env.METRICS_TOKEN = TOKEN;
  process.env.METRICS_STATE_TTL_MS = '0';
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, JOB_ATTEMPTS: '3', JOB_BACKOFF_MS: '10' }), log: quietLog(), pgliteDir: ':memory:', modules: [] });
  const count = (n: string) => (calls[n] = (calls[n] ?? 0) + 1);
  rt.queue.register({ name: 'ops.flaky', handler: async () => { if (count('ops.flaky') === 1) throw new Error('transient'); return { ok: true }; } });
  rt.queue.register({ name: 'ops.broken', handler: async () => { count('ops.broken'); throw new Error('always broken'); } });
  rt.queue.register({ name: 'ops.slow', handler: async () => { count('ops.slow'); await new Promise((r) => setTimeout(r, 150)); } });
  rt.queue.register({ name: 'ops.later', handler: async () => { count('ops.later'); } });
  app = await createApiApp(rt);
  await app.init();
});
afterAll(async () => {
  delete process.env.METRICS_TOKEN;
  delete process.env.METRICS_STATE_TTL_MS;
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

const scrape = async () => {
  const r = await request(app.getHttpServer()).get('/metrics').set('authorization', `Bearer ${TOKEN}`).expect(200);
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: r.text, ...parseProm(r.text) };
};

test('the metrics token is required (401 without or with a wrong one); the guard lets Prometheus through', async () => {
  const none = await request(app.getHttpServer()).get('/metrics').expect(401);
  expect(none.body).toMatchObject({ code: 'metrics.token-missing' });
  expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
  await request(app.getHttpServer()).get('/metrics').set('authorization', 'Bearer wrong-token-wrong-token-xx').expect(401);
  await request(app.getHttpServer()).get('/metrics').set('authorization', `Bearer ${TOKEN}x`).expect(401);
  await scrape();
});

test('jobs, uploads and quarantine show up as the named metric families with the values the ledger and objects table hold', async () => {
  // uploads: two unrecognised files (quarantined: ingest.unknown-kind), one DICOM (no processor registered: waits)
  const keys = ['incoming/SMITH^JOHN-19500101/a.bin', 'incoming/SMITH^JOHN-19500101/b.bin', 'incoming/SMITH^JOHN-19500101/c.dcm'];
  const bodies = [Buffer.from('\x00\x01 not an image'), Buffer.from('plain text, no magic'), readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/CT_small.dcm'))];
  for (const [i, key] of keys.entries()) {
    const info = await rt.store.put(key, bodies[i]!);
    await postSigned(app, s3Event(rt.store.bucket, key, info.etag, info.size)).expect(202);
  }
  for (const n of ['ops.flaky', 'ops.broken', 'ops.slow']) await rt.queue.enqueue(n, {}, { idempotencyKey: `t-${n}` });
  for (let i = 0; i < 3; i++) await rt.queue.enqueue('ops.later', { i }, { idempotencyKey: `t-later-${i}`, delayMs: 10 * 60_000 });
  // wait for everything but the three delayed jobs
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = await rt.jobs.countByStatus();
    if (!c.running && (c.queued ?? 0) === 3) break;
    if (Date.now() > deadline) throw new Error(`jobs did not settle: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(calls).toEqual({ 'ops.flaky': 2, 'ops.broken': 3, 'ops.slow': 1 });

  const { samples, types, text } = await scrape();
  // families and types
  for (const [name, type] of [
    ['endpoint_queue_depth', 'gauge'],
    ['endpoint_queue_transport_jobs', 'gauge'],
    ['endpoint_jobs', 'gauge'],
    ['endpoint_objects', 'gauge'],
    ['endpoint_quarantined_objects', 'gauge'],
    ['endpoint_job_duration_seconds', 'histogram'],
    ['endpoint_jobs_started_total', 'counter'],
    ['endpoint_jobs_completed_total', 'counter'],
    ['endpoint_job_failures_total', 'counter'],
    ['endpoint_job_retries_total', 'counter'],
    ['endpoint_jobs_recovered_total', 'counter'],
    ['process_cpu_user_seconds_total', 'counter'],
  ])
    expect([name, types.get(name)]).toEqual([name, type]);

  // queue depth per job type = the jobs still waiting in the ledger
  const queued = await rt.db.selectFrom('jobs').select(['name']).where('status', '=', 'queued').execute();
  expect(queued).toHaveLength(3);
  expect(value(samples, 'endpoint_queue_depth', { job: 'ops.later' })).toBe(3);
  for (const j of ['ops.flaky', 'ops.broken', 'ops.slow', 'ingest.object']) expect([j, value(samples, 'endpoint_queue_depth', { job: j })]).toEqual([j, 0]);
  expect(value(samples, 'endpoint_queue_jobs', { job: 'ops.later', state: 'delayed' })).toBe(3);
  expect(value(samples, 'endpoint_queue_jobs', { job: 'ops.later', state: 'waiting' })).toBe(0);
  expect(value(samples, 'endpoint_queue_transport_jobs', { state: 'delayed' })).toBe(3);

  // job execution in this process (embedded: the API runs the jobs)
  expect(value(samples, 'endpoint_job_retries_total', { job: 'ops.flaky' })).toBe(1);
  expect(value(samples, 'endpoint_jobs_completed_total', { job: 'ops.flaky' })).toBe(1);
  expect(value(samples, 'endpoint_job_failures_total', { job: 'ops.flaky' })).toBe(0);
  expect(value(samples, 'endpoint_job_retries_total', { job: 'ops.broken' })).toBe(2);
  expect(value(samples, 'endpoint_job_failures_total', { job: 'ops.broken' })).toBe(1);
  expect(value(samples, 'endpoint_jobs_completed_total', { job: 'ops.broken' })).toBe(0);
  expect(value(samples, 'endpoint_jobs_started_total', { job: 'ops.broken' })).toBe(3);
  expect(value(samples, 'endpoint_jobs_started_total', { job: 'ingest.object' })).toBe(3);
  expect(value(samples, 'endpoint_jobs_completed_total', { job: 'ingest.object' })).toBe(3);
  expect(value(samples, 'endpoint_job_duration_seconds_count', { job: 'ops.slow', outcome: 'completed' })).toBe(1);
  expect(value(samples, 'endpoint_job_duration_seconds_sum', { job: 'ops.slow', outcome: 'completed' })).toBeGreaterThanOrEqual(0.14);
  expect(value(samples, 'endpoint_job_duration_seconds_bucket', { job: 'ops.slow', outcome: 'completed', le: '0.1' })).toBe(0);
  expect(value(samples, 'endpoint_job_duration_seconds_count', { job: 'ops.broken', outcome: 'retrying' })).toBe(2);
  expect(value(samples, 'endpoint_job_duration_seconds_count', { job: 'ops.broken', outcome: 'failed' })).toBe(1);

  // the ledger per type and status
  const ledger = await rt.db.selectFrom('jobs').select(['name', 'status']).execute();
  for (const name of ['ops.flaky', 'ops.broken', 'ops.slow', 'ops.later', 'ingest.object'])
    for (const status of ['queued', 'running', 'completed', 'failed'])
      expect([name, status, value(samples, 'endpoint_jobs', { job: name, status })]).toEqual([name, status, ledger.filter((r) => r.name === name && r.status === status).length]);
  expect(value(samples, 'endpoint_jobs', { job: 'ops.broken', status: 'failed' })).toBe(1);

  // objects by status, quarantine by reason code
  const objects = await rt.db.selectFrom('objects').select(['status', 'reason_code']).execute();
  expect(objects).toHaveLength(3);
  for (const status of ['quarantined', 'no-processor', 'processed', 'failed']) expect([status, value(samples, 'endpoint_objects', { status })]).toEqual([status, objects.filter((o) => o.status === status).length]);
  expect(value(samples, 'endpoint_objects', { status: 'quarantined' })).toBe(2);
  expect(value(samples, 'endpoint_quarantined_objects', { reason_code: 'ingest.unknown-kind' })).toBe(2);
  expect(samples.filter((s) => s.name === 'endpoint_quarantined_objects')).toHaveLength(1);
  expect(value(samples, 'endpoint_ops_state_up', { source: 'database' })).toBe(1);

  // every sample names its process role; nothing identifying leaks
  expect(samples.filter((s) => s.name.startsWith('endpoint_')).every((s) => s.labels.role === 'api')).toBe(true);
  for (const secret of ['SMITH', 'JOHN', '19500101', 'incoming/', '.dcm', rt.store.bucket]) expect(text).not.toContain(secret);
  const ids = (await rt.db.selectFrom('objects').select(['id', 'sha256']).execute()).flatMap((o) => [o.id, o.sha256]).filter(Boolean);
  for (const id of ids) expect(text).not.toContain(id!);
});

test('embedded mode: readiness checks the database and the store (no Redis); liveness answers', async () => {
  const r = await request(app.getHttpServer()).get('/health/ready').expect(200);
  expect(Object.keys(r.body.info).sort()).toEqual(['database', 'store']);
  await request(app.getHttpServer()).get('/health/live').expect(200);
});

test('embedded mode: the queue dashboard says there is no Bull queue, to admins only (reader 403, anonymous 401)', async () => {
  const http = () => request(app.getHttpServer());
  const page = await http().get('/admin/queues').set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(page.text).toMatch(/runs its jobs in-process/);
  expect(page.text).toContain('REDIS_URL');
  await http().get('/admin/queues').set('authorization', await authHeader(app, 'reader')).expect(403);
  await http().get('/admin/queues/anything').set('authorization', await authHeader(app, 'biostatistician')).expect(403);
  expect((await http().get('/admin/queues').expect(401)).body).toMatchObject({ code: 'auth.required' });
});

test('in production /metrics is refused until METRICS_TOKEN is set', async () => {
  const d = await tempDir();
  delete process.env.METRICS_TOKEN;
  const prod = await createRuntime({
    config: testConfig({ NODE_ENV: 'production', DATA_DIR: d.path, DEID_SECRET: 'prod-deid-secret-0123456789', AUTH_JWT_SECRET: 'prod-jwt-secret-0123456789abcdef-0123456' }),
    log: quietLog(),
    pgliteDir: ':memory:',
    modules: [],
  });
  const prodApp = await createApiApp(prod);
  await prodApp.init();
  try {
    const r = await request(prodApp.getHttpServer()).get('/metrics').expect(403);
    expect(r.body).toMatchObject({ code: 'metrics.token-required' });
  } finally {
    process.env.METRICS_TOKEN = TOKEN;
    await prodApp.close();
    await prod.close();
    await d.remove();
  }
});
