/**
 * End to end on real services: s3rver (S3 HTTP API on loopback), Bull on the real Redis, the real
 * PostgreSQL. The API process only enqueues (REDIS_URL set); a separate runtime plays the Bull worker.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import request from 'supertest';
import { repoRoot } from '@app/core';
import { createRuntime, type Runtime } from '@app/pipeline';
import type { BullDriver } from '@app/queue';
import { createApiApp } from '../../apps/api/src/app';
import { createTempDatabase, quietLog, REDIS_URL, startS3, type S3Server, testConfig, waitFor } from '../support/services';
import { postSigned, s3Event } from './helpers';
import { authHeader } from '../helpers/auth';

jest.setTimeout(60000);

let s3: S3Server;
let db: { url: string; drop: () => Promise<void> };
let api: Runtime;
let worker: Runtime;
let app: INestApplication;
let pg: Client;
const queueName = `t-${Date.now().toString(36)}`;

beforeAll(async () => {
  s3 = await startS3();
  db = await createTempDatabase();
  const env = {
    S3_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    DATABASE_URL: db.url,
    REDIS_URL,
    QUEUE_NAME: queueName,
  };
  api = await createRuntime({ config: testConfig(env), log: quietLog() });
  worker = await createRuntime({ config: testConfig(env), log: quietLog() });
  worker.queue.startWorker();
  app = await createApiApp(api);
  await app.init();
  pg = new Client({ connectionString: db.url });
  await pg.connect();
});

afterAll(async () => {
  await app?.close();
  await (api?.queue.driver as BullDriver | undefined)?.queue.obliterate({ force: true }).catch(() => {});
  await api?.close();
  await worker?.close();
  await pg?.end();
  await db?.drop();
  await s3?.stop();
});

const objectRows = async (key: string) => (await pg.query('select * from objects where key = $1', [key])).rows;

test('modes are the production adapters', () => {
  expect(api.config.mode).toEqual({ store: 's3', db: 'postgres', queue: 'bull' });
  expect(api.queue.kind).toBe('bull');
});

test('an uploaded DICOM object, announced by a signed S3 event, is processed by a Bull worker into a PostgreSQL row', async () => {
  const body = readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/CT_small.dcm'));
  const key = 'incoming/site 01/CT_small.dcm';
  const info = await api.store.put(key, body);
  const res = await postSigned(app, s3Event(s3.bucket, key, info.etag, info.size)).expect(202);
  expect(res.body).toMatchObject({ received: 1, accepted: 1, duplicates: 0 });
  const row = await waitFor(async () => (await objectRows(key)).find((r) => !['received', 'ingesting', 'queued', 'processing'].includes(r.status)), 30000, 'object row');
  expect(row.kind).toBe('dicom');
  expect(Number(row.size)).toBe(body.length);
  expect(row.sha256).toBe(require('node:crypto').createHash('sha256').update(body).digest('hex'));
  expect(row.status).toBe('processed'); // by the DICOM processor, on the Bull worker
});

test('posting the same event twice gives one row and one job', async () => {
  const key = 'incoming/twice/CT1.dcm';
  const info = await api.store.put(key, readFileSync(join(repoRoot(), 'tests/fixtures/dicom/ct/CT1_UNC.explicit_little_endian.dcm')));
  const ev = s3Event(s3.bucket, key, info.etag, info.size);
  const first = await postSigned(app, ev).expect(202);
  const second = await postSigned(app, ev).expect(202);
  expect(first.body.accepted).toBe(1);
  expect(second.body).toMatchObject({ accepted: 0, duplicates: 1 });
  expect(second.body.jobIds).toEqual(first.body.jobIds);
  await waitFor(async () => (await objectRows(key)).some((r) => r.status !== 'received' && r.status !== 'ingesting'), 30000, 'row');
  await api.queue.waitIdle({ timeoutMs: 30000 });
  expect(await objectRows(key)).toHaveLength(1);
  const jobs = (await pg.query("select * from jobs where name = 'ingest.object' and payload->>'key' = $1", [key])).rows;
  expect(jobs).toHaveLength(1);
  const bullJobs = await (api.queue.driver as BullDriver).queue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed']);
  expect(bullJobs.filter((j) => j.name === 'ingest.object' && (j.data.payload as { key: string }).key === key)).toHaveLength(1);
});

test('an unknown file lands in quarantine with its reason, and stays in the bucket', async () => {
  const key = 'incoming/notes.txt';
  const info = await api.store.put(key, Buffer.from('not an image at all, just words'));
  await postSigned(app, s3Event(s3.bucket, key, info.etag, info.size)).expect(202);
  const row = await waitFor(async () => (await objectRows(key)).find((r) => r.status === 'quarantined'), 30000, 'quarantine');
  expect(row.kind).toBe('unknown');
  expect(row.reason_code).toBe('ingest.unknown-kind');
  expect(row.reason).toMatch(/not DICOM.*not TIFF/);
  expect(await api.store.head(key)).not.toBeNull();
  const listed = await request(app.getHttpServer()).get('/v1/objects?status=quarantined').set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(listed.body.items.map((o: { key: string }) => o.key)).toContain(key);
});

test('an unsigned event is refused with 401, and so is a wrong signature', async () => {
  const ev = s3Event(s3.bucket, 'incoming/x.dcm', 'e1');
  await request(app.getHttpServer()).post('/v1/events/s3').send(ev).expect(401);
  await postSigned(app, ev, 'a-different-secret-0123456789').expect(401);
  expect(await objectRows('incoming/x.dcm')).toHaveLength(0);
});

test('health checks the database, Redis and S3', async () => {
  const res = await request(app.getHttpServer()).get('/health').expect(200);
  expect(res.body.checks).toMatchObject({ database: { ok: true }, queue: { ok: true }, store: { ok: true } });
});

test('the poller lists a prefix and enqueues each object once', async () => {
  await api.store.put('poll/a.dcm', readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/MR_small.dcm')));
  await api.store.put('poll/b.bin', Buffer.from('zzzz'));
  const first = await api.ingest.pollOnce('poll/');
  const again = await api.ingest.pollOnce('poll/');
  expect(first.accepted).toBe(2);
  expect(again).toMatchObject({ accepted: 0, duplicates: 2 });
  await waitFor(async () => (await objectRows('poll/b.bin')).some((r) => r.status === 'quarantined'), 30000, 'polled object');
});
