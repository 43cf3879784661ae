/**
 * The endpoint stage on real PostgreSQL + a real S3 API: ePRO uploads through ingest, data cuts
 * (byte-identical re-runs, blinding, verification, tamper detection), SDTM import, and the cuts API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { sha256Hex } from '@app/core';
import { readDataset } from '@app/datasets';
import { simulateTrial, type StudyInput } from '@app/endpoints';
import { addStudyInput, createDataCut, importSdtm, PHARMAVERSE_SDTM_DIR, type Runtime, verifyCut } from '@app/pipeline';
import { createRuntime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { createTempDatabase, quietLog, startS3, type S3Server, testConfig } from '../support/services';
import { authHeader } from '../helpers/auth';

jest.setTimeout(120000);
let s3: S3Server;
let db: { url: string; drop: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;
const STUDY = 'TRIAL-42';
let study: StudyInput;

beforeAll(async () => {
  s3 = await startS3('cuts');
  db = await createTempDatabase();
  rt = await createRuntime({
    config: testConfig({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', DATABASE_URL: db.url, PROTOCOL_ID: STUDY }),
    log: quietLog(),
  });
  rt.queue.startWorker();
  app = await createApiApp(rt);
  await app.init();
  study = simulateTrial({ subjects: 12, visits: 6, seed: 9, qlq: true, stepWeeks: 2, studyId: STUDY });
  await addStudyInput(rt, STUDY, 'simulated', { ...study, subjects: study.subjects.map((s) => ({ ...s, qlqc30: [] })) }, 'test');
  const q = ['subject_id,visit,date,' + Array.from({ length: 30 }, (_, i) => `q${i + 1}`).join(',')];
  for (const s of study.subjects) for (const r of s.qlqc30 ?? []) q.push([s.usubjid, r.visit, r.date, ...r.items.map((v) => v ?? '')].join(','));
  const bad = `${q[0]}\n${study.subjects[0]!.usubjid},BASELINE,2024-01-01,${Array(30).fill(5).join(',')}\n`;
  const events = [];
  for (const [key, body] of [
    ['incoming/epro/qlq.csv', q.join('\n')],
    ['incoming/epro/bad.csv', bad],
  ] as const) {
    const i = await rt.store.put(key, Buffer.from(body));
    events.push({ bucket: rt.store.bucket, key, etag: i.etag, eventName: 'ObjectCreated:Put' });
  }
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 60000 });
});
afterAll(async () => {
  await app?.close();
  await rt?.close();
  await db?.drop();
  await s3?.stop();
});

test('an ePRO upload is accepted whole; one with bad rows is quarantined with every bad row listed and kept', async () => {
  const good = await rt.db.selectFrom('objects').selectAll().where('key', '=', 'incoming/epro/qlq.csv').executeTakeFirstOrThrow();
  expect(good).toMatchObject({ kind: 'epro-csv', status: 'processed' });
  const bad = await rt.db.selectFrom('objects').selectAll().where('key', '=', 'incoming/epro/bad.csv').executeTakeFirstOrThrow();
  expect(bad).toMatchObject({ status: 'quarantined', reason_code: 'epro.bad-rows' });
  const errors = (bad.detail as { error: { errors: { row: number; field: string }[] } }).error.errors;
  expect(errors.length).toBe(28); // q1..q28 answered 5: out of range 1..4; q29, q30 (1..7) are fine
  expect(errors.every((e) => e.row === 2)).toBe(true);
  expect(await rt.store.head('incoming/epro/bad.csv')).not.toBeNull();
  const uploads = await rt.db.selectFrom('epro_uploads').selectAll().execute();
  expect(uploads).toHaveLength(1);
  expect(uploads[0]!.row_count).toBe(study.subjects.reduce((a, s) => a + (s.qlqc30?.length ?? 0), 0));
});

test('a data cut is immutable and reproducible: re-running gives the same cut and byte-identical files', async () => {
  const a = await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-06-30', blinded: true, createdBy: 'test' });
  expect(a.created).toBe(true);
  const b = await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-06-30', blinded: true, createdBy: 'test' });
  expect(b.created).toBe(false);
  expect(b.cut.cut_id).toBe(a.cut.cut_id);
  // a fresh derivation from the same inputs, into another store location, gives the same bytes
  await rt.db.deleteFrom('data_cuts').where('cut_id', '=', a.cut.cut_id).execute();
  const c = await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-06-30', blinded: true, createdBy: 'test' });
  expect(c.created).toBe(true);
  expect(c.manifest.manifestSha256).toBe(a.manifest.manifestSha256);
  expect(c.manifest.files.map((f) => f.sha256)).toEqual(a.manifest.files.map((f) => f.sha256));
  expect(a.manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining(['adtte.xpt', 'adtte.json', 'adtte.ndjson', 'adrs.csv', 'adqs.xpt', 'tu.json', 'tr.json', 'rs.json', 'adtr.json']));
  expect((await verifyCut(rt, c.cut)).ok).toBe(true);
});

test('blinded cuts never contain the treatment arm; unblinded ones do, and ePRO rows trace to their upload', async () => {
  const blinded = await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-06-30', blinded: true, createdBy: 'test' });
  const unblinded = await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-06-30', blinded: false, createdBy: 'test' });
  expect(unblinded.cut.cut_id).not.toBe(blinded.cut.cut_id);
  for (const f of blinded.manifest.files.filter((x) => x.format === 'json')) {
    const ds = readDataset(await rt.store.getBuffer(`${blinded.cut.prefix}/${f.path}`), f.path);
    expect(ds.columns.map((c) => c.name)).not.toEqual(expect.arrayContaining(['ARM']));
    expect(ds.columns.map((c) => c.name).filter((n) => /^(ARM|ARMCD|TRT01P|TRT01A|ACTARM)$/.test(n))).toEqual([]);
  }
  const arms = new Set(study.subjects.map((s) => s.arm));
  const ub = readDataset(await rt.store.getBuffer(`${unblinded.cut.prefix}/adsl.json`).catch(() => rt.store.getBuffer(`${unblinded.cut.prefix}/adtte.json`)), 'x.json');
  const armCol = ub.columns.findIndex((c) => /^(ARM|TRT01P)$/.test(c.name));
  expect(armCol).toBeGreaterThanOrEqual(0);
  expect(arms.has(String(ub.rows[0]![armCol]))).toBe(true);
  const upload = await rt.db.selectFrom('epro_uploads').select('id').executeTakeFirstOrThrow();
  expect((await rt.store.getBuffer(`${blinded.cut.prefix}/adqs.csv`)).toString()).toContain(upload.id);
});

test('tampering with a stored file is detected', async () => {
  const cut = await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-03-31', blinded: true, createdBy: 'test' });
  const key = `${cut.cut.prefix}/adtte.csv`;
  const bytes = await rt.store.getBuffer(key);
  await rt.store.put(key, Buffer.concat([bytes, Buffer.from('STUDY,TAMPERED\n')]));
  const v = await verifyCut(rt, cut.cut);
  expect(v.ok).toBe(false);
  expect(v.problems.join(' ')).toMatch(/adtte\.csv/);
});

test('SDTM import from the sponsor agrees with the investigator RS or explains each difference', async () => {
  const files = ['tu_onco.csv.gz', 'tr_onco.csv.gz', 'rs_onco.csv.gz'].map((f) => ({ name: f.replace('_onco', ''), bytes: readFileSync(join(PHARMAVERSE_SDTM_DIR(), f)) }));
  const r = await importSdtm(rt, 'PHARMA', files, 'test');
  expect(r.subjects).toBeGreaterThan(0);
  expect(r.comparison!.agree).toBeGreaterThan(0);
  for (const d of r.comparison!.disagree) expect(d.explanation.length).toBeGreaterThan(10);
  const cut = await createDataCut(rt, { studyId: 'PHARMA', cutoffDate: '2030-01-01', blinded: true, createdBy: 'test' });
  expect(cut.manifest.files.length).toBeGreaterThan(10);
});

test('the cuts API: run, list, download, verify; bad requests are refused clearly', async () => {
  const res = await request(app.getHttpServer()).post('/v1/cuts').set('authorization', await authHeader(app, 'biostatistician')).send({ studyId: STUDY, cutoffDate: '2025-06-30', blinded: true }).expect(201);
  expect(res.body.created).toBe(false);
  const list = await request(app.getHttpServer()).get('/v1/cuts').set('authorization', await authHeader(app, 'biostatistician')).query({ studyId: STUDY }).expect(200);
  expect(list.body.items.map((c: { cutId: string }) => c.cutId)).toContain(res.body.cutId);
  const xpt = await request(app.getHttpServer()).get(`/v1/cuts/${res.body.cutId}/files/adtte.xpt`).set('authorization', await authHeader(app, 'biostatistician')).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  }).expect(200);
  expect(sha256Hex(xpt.body as Buffer)).toBe(res.body.files.find((f: { path: string }) => f.path === 'adtte.xpt').sha256);
  await request(app.getHttpServer()).get(`/v1/cuts/${res.body.cutId}/verify`).set('authorization', await authHeader(app, 'biostatistician')).expect(200).expect((r) => expect(r.body.ok).toBe(true));
  await request(app.getHttpServer()).post('/v1/cuts').set('authorization', await authHeader(app, 'biostatistician')).send({ studyId: STUDY, cutoffDate: '2025-06-30' }).expect(400).expect((r) => expect(r.body.message).toMatch(/blinded/));
  await request(app.getHttpServer()).post('/v1/cuts').set('authorization', await authHeader(app, 'biostatistician')).send({ studyId: 'NO-SUCH', cutoffDate: '2025-06-30', blinded: true }).expect(400).expect((r) => expect(r.body.message).toMatch(/no assessments/));
  await request(app.getHttpServer()).get(`/v1/cuts/${res.body.cutId}/files/..%2Fsecret`).set('authorization', await authHeader(app, 'biostatistician')).expect(404);
});
