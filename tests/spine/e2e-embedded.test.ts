/** The same flow on embedded defaults: local folder, PGlite, in-process runner, through the HTTP API. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createHash } from 'node:crypto';
import { repoRoot } from '@app/core';
import { INGEST_JOB, ingestKey, type IngestPayload } from '@app/ingest';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { quietLog, tempDir, testConfig } from '../support/services';
import { postSigned, s3Event } from './helpers';
import { authHeader } from '../helpers/auth';

let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path }), log: quietLog() });
  app = await createApiApp(rt);
  await app.init();
});
afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

test('embedded defaults are selected when nothing is configured', () => {
  expect(rt.config.mode).toEqual({ store: 'local', db: 'pglite', queue: 'in-process' });
  expect(rt.store.location).toBe(`file://${join(dir.path, 'objects')}`);
});

test('signed event -> in-process ingest -> PGlite row; repeat is a no-op; unknown is quarantined; unsigned is 401', async () => {
  const dcm = readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/CT_small.dcm'));
  const a = await rt.store.put('incoming/a.dcm', dcm);
  const b = await rt.store.put('incoming/b.xyz', Buffer.from('\x00\x01garbage'));
  const evA = s3Event(rt.store.bucket, 'incoming/a.dcm', a.etag, a.size);
  await postSigned(app, evA).expect(202);
  await postSigned(app, evA).expect(202).expect((r) => expect(r.body.duplicates).toBe(1));
  await postSigned(app, s3Event(rt.store.bucket, 'incoming/b.xyz', b.etag, b.size)).expect(202);
  await request(app.getHttpServer()).post('/v1/events/s3').send(evA).expect(401);
  await rt.queue.waitIdle({ timeoutMs: 20000 });

  const rows = await rt.db.selectFrom('objects').selectAll().orderBy('key').execute();
  expect(rows.map((r) => r.key)).toEqual(['incoming/a.dcm', 'incoming/b.xyz']);
  expect(rows[0]!.kind).toBe('dicom');
  expect(rows[0]!.status).toBe('processed');
  expect(rows[1]).toMatchObject({ kind: 'unknown', status: 'quarantined', reason_code: 'ingest.unknown-kind' });
  const jobs = await rt.db.selectFrom('jobs').selectAll().where('name', '=', 'ingest.object').execute();
  expect(jobs).toHaveLength(2);

  const q = await request(app.getHttpServer()).get('/v1/objects').set('authorization', await authHeader(app, 'admin')).query({ status: 'quarantined' }).expect(200);
  expect(q.body.items).toHaveLength(1);
  expect(q.body.items[0].reason).toMatch(/unrecognised content/);
  await request(app.getHttpServer()).get('/v1/objects').set('authorization', await authHeader(app, 'admin')).query({ status: 'bogus' }).expect(400);
});

test('an ingest that died between marking its object queued and enqueueing the process job: its re-run dispatches it', async () => {
  const dcm = readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/CT_small.dcm'));
  const key = 'incoming/died-before-dispatch.dcm';
  const put = await rt.store.put(key, dcm);
  const payload: IngestPayload = { bucket: rt.store.bucket, key, etag: put.etag, ingestKey: ingestKey({ bucket: rt.store.bucket, key, etag: put.etag }) };
  // what the dead attempt left: the object row marked queued (kind known), and no process job
  const { row } = await rt.objects.upsertReceived({ bucket: payload.bucket, key, etag: put.etag, version_id: null, idempotency_key: payload.ingestKey, size: put.size });
  await rt.objects.setStatus(row.id, 'queued', { kind: 'dicom', sha256: createHash('sha256').update(dcm).digest('hex') });
  expect(await rt.db.selectFrom('jobs').select('id').where('idempotency_key', '=', `process:${row.id}`).execute()).toEqual([]);
  // the re-run of the ingest job (same payload: the ledger runs a dead worker's job again)
  await rt.queue.enqueue(INGEST_JOB, payload, { idempotencyKey: payload.ingestKey });
  await rt.queue.waitIdle({ timeoutMs: 20000 });
  const after = await rt.objects.byId(row.id);
  expect(after!.status).toBe('processed');
  const process = await rt.db.selectFrom('jobs').select(['status']).where('idempotency_key', '=', `process:${row.id}`).execute();
  expect(process).toEqual([{ status: 'completed' }]);
  // and once more: the process job exists, so it is not run twice
  await rt.queue.enqueue(INGEST_JOB, payload, { idempotencyKey: `${payload.ingestKey}#again` });
  await rt.queue.waitIdle({ timeoutMs: 20000 });
  expect(await rt.db.selectFrom('jobs').select(['status', 'attempts']).where('idempotency_key', '=', `process:${row.id}`).execute()).toEqual([{ status: 'completed', attempts: 1 }]);
  // the operator's redispatch (cli objects redispatch) also finds an object left queued without a process job
  const key2 = 'incoming/died-before-dispatch-2.dcm';
  const put2 = await rt.store.put(key2, dcm);
  const { row: row2 } = await rt.objects.upsertReceived({ bucket: rt.store.bucket, key: key2, etag: put2.etag, version_id: null, idempotency_key: ingestKey({ bucket: rt.store.bucket, key: key2, etag: put2.etag }), size: put2.size });
  await rt.objects.setStatus(row2.id, 'queued', { kind: 'dicom', sha256: createHash('sha256').update(dcm).digest('hex') });
  expect(await rt.ingest.redispatchWaiting()).toBe(1);
  expect(await rt.ingest.redispatchWaiting()).toBe(0); // dispatched once
  await rt.queue.waitIdle({ timeoutMs: 20000 });
  expect((await rt.objects.byId(row2.id))!.status).toBe('processed');
});

test('health and OpenAPI docs', async () => {
  const h = await request(app.getHttpServer()).get('/health').expect(200);
  expect(h.body.ok).toBe(true);
  const docs = await request(app.getHttpServer()).get('/docs-json').expect(200);
  expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(['/v1/events/s3', '/v1/objects', '/health']));
});

test('a malformed event body gets 400 with the reason', async () => {
  const r = await postSigned(app, { hello: 'world' }).expect(400);
  expect(r.body.message).toMatch(/Records/);
});

test('an event for another bucket is refused', async () => {
  const r = await postSigned(app, s3Event('someone-elses-bucket', 'incoming/a.dcm', 'x')).expect(400);
  expect(r.body.message).toMatch(/bucket/);
});

test('a kind without a registered processor waits visibly as no-processor, and is dispatched once one exists', async () => {
  const d2 = await tempDir();
  const bare = await createRuntime({ config: testConfig({ DATA_DIR: d2.path }), log: quietLog(), modules: [] });
  try {
    const bareApp = await createApiApp(bare);
    await bareApp.init();
    const info = await bare.store.put('incoming/c.dcm', readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/MR_small.dcm')));
    await postSigned(bareApp, s3Event(bare.store.bucket, 'incoming/c.dcm', info.etag, info.size)).expect(202);
    await bare.queue.waitIdle({ timeoutMs: 20000 });
    const waiting = await request(bareApp.getHttpServer()).get('/v1/objects').set('authorization', await authHeader(bareApp, 'admin')).query({ status: 'no-processor' }).expect(200);
    expect(waiting.body.items).toHaveLength(1);
    expect(waiting.body.items[0]).toMatchObject({ kind: 'dicom', reasonCode: 'ingest.no-processor' });
    await bareApp.close();
  } finally {
    await bare.close();
  }
  // the same data folder opened with every stage registered: redispatch processes the waiting object
  const full = await createRuntime({ config: testConfig({ DATA_DIR: d2.path }), log: quietLog() });
  try {
    full.queue.startWorker();
    expect(await full.ingest.redispatchWaiting()).toBe(1);
    await full.queue.waitIdle({ timeoutMs: 20000 });
    expect((await full.objects.list({ status: 'processed' })).map((o) => o.key)).toEqual(['incoming/c.dcm']);
  } finally {
    await full.close();
    await d2.remove();
  }
});
