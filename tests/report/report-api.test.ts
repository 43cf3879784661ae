/**
 * The cut report through the pipeline and the API on real PostgreSQL and a real S3 API (s3rver): a simulated BICR
 * (two readers + AI per subject) becomes a cut holding ADTRRDR/ADRSRDR; GET /v1/cuts/:id/report, statistics.json,
 * plots/:name.svg|png and report/manifest.json serve the report, made once by its job (cut.report) and stored
 * write-once next to the cut (the cut and its manifest untouched); concurrent requests are one job; a report not made
 * within REPORT_WAIT_MS answers 202 + Retry-After; access as for the cut (unblinded: biostatisticians with the grant only).
 */
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { sha256Hex } from '@app/core';
import type { CutManifest } from '@app/datasets';
import { buildReportForCut, createDataCut, ensureCutReport, loadSimulatedStudy, REPORT_JOB, requestCutReport, type Runtime, verifyCut } from '@app/pipeline';
import { createRuntime } from '@app/pipeline';
import { verifyReport, type ReportManifest } from '@app/report';
import { createApiApp } from '../../apps/api/src/app';
import { createTempDatabase, quietLog, startS3, type S3Server, testConfig } from '../support/services';
import { authHeader } from '../helpers/auth';

jest.setTimeout(180000);
let s3: S3Server;
let db: { url: string; drop: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;
const STUDY = 'BICR-7';
let blindedId: string;
let unblindedId: string;
const http = () => request(app.getHttpServer());
const binary = (r: request.Test) => r.buffer(true).parse((res, cb) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
});

beforeAll(async () => {
  s3 = await startS3('report');
  db = await createTempDatabase();
  rt = await createRuntime({ config: testConfig({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', DATABASE_URL: db.url, PROTOCOL_ID: STUDY }), log: quietLog() });
  app = await createApiApp(rt);
  await app.init();
  await loadSimulatedStudy(rt, STUDY, { subjects: 40, visits: 6, seed: 7, readers: true, qlq: false, stepWeeks: 0 }, 'test');
  blindedId = (await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-12-31', blinded: true, createdBy: 'test', formats: ['json', 'csv'] })).cut.cut_id;
  unblindedId = (await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-12-31', blinded: false, createdBy: 'test', formats: ['json'] })).cut.cut_id;
});
afterAll(async () => {
  await app?.close();
  await rt?.close();
  await db?.drop();
  await s3?.stop();
});

test('a cut of a study with several reads per subject holds the reader-level datasets', async () => {
  const cut = (await rt.db.selectFrom('data_cuts').selectAll().where('cut_id', '=', blindedId).executeTakeFirstOrThrow());
  const m = cut.manifest as unknown as CutManifest;
  expect(m.datasets.map((d) => d.name)).toEqual(expect.arrayContaining(['ADTRRDR', 'ADRSRDR', 'ADTTE', 'ADRS', 'ADTR']));
  expect(m.files.map((f) => f.path)).toEqual(expect.arrayContaining(['adtrrdr.json', 'adrsrdr.csv']));
});

test('GET report / statistics.json / plots / manifest: made once, stored with the cut, the cut untouched', async () => {
  const bio = await authHeader(app, 'biostatistician');
  const html = await http().get(`/v1/cuts/${blindedId}/report`).set('authorization', bio).expect(200);
  expect(html.headers['content-type']).toMatch(/^text\/html/);
  expect(html.headers['content-security-policy']).toContain("default-src 'none'");
  expect(html.text).toContain('BLINDED data cut');
  for (const w of ['Drug X 10 mg', 'Placebo']) expect(html.text).not.toContain(w);
  const stats = await http().get(`/v1/cuts/${blindedId}/statistics.json`).set('authorization', bio).expect(200);
  expect(stats.body.cut.cutId).toBe(blindedId);
  expect(stats.body.statistics.find((e: { id: string }) => e.id === 'agreement.adjudication.rate')).toMatchObject({ dataset: 'ADRSRDR', parameter: 'BICRSEL', subjects: 40 });
  const svg = await binary(http().get(`/v1/cuts/${blindedId}/plots/km-pfs.svg`).set('authorization', bio)).expect(200);
  expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
  expect((svg.body as Buffer).toString('utf8').startsWith('<svg')).toBe(true);
  const png = await binary(http().get(`/v1/cuts/${blindedId}/plots/waterfall.png`).set('authorization', bio)).expect(200);
  expect((png.body as Buffer).subarray(1, 4).toString()).toBe('PNG');
  await http().get(`/v1/cuts/${blindedId}/plots/forest-pfs.svg`).set('authorization', bio).expect(404); // blinded: no by-arm plot
  await http().get(`/v1/cuts/${blindedId}/plots/..%2Fmanifest.json`).set('authorization', bio).expect(404);
  await http().get('/v1/cuts/NO-SUCH/report').set('authorization', bio).expect(404);

  // stored once under the cut's prefix, with a manifest that references the cut manifest and verifies every file
  const cut = await rt.db.selectFrom('data_cuts').selectAll().where('cut_id', '=', blindedId).executeTakeFirstOrThrow();
  const rm = (await http().get(`/v1/cuts/${blindedId}/report/manifest.json`).set('authorization', bio).expect(200)).body as ReportManifest;
  expect(rm.cutManifestSha256).toBe(cut.manifest_sha256);
  expect(rm.readsOrigin).toBe('SIMULATED');
  const stored = [];
  for (const f of rm.files) stored.push({ path: f.path, bytes: await rt.store.getBuffer(`${cut.prefix}/report/${f.path}`) });
  expect(verifyReport(rm, stored)).toEqual([]);
  expect(sha256Hex(Buffer.from(html.text))).toBe(rm.files.find((f) => f.path === 'report.html')!.sha256);
  // the same bytes as a fresh build from the cut (deterministic), and the second request serves the stored report
  const fresh = await buildReportForCut(rt, cut);
  expect(fresh.manifest.files).toEqual(rm.files);
  const again = await http().get(`/v1/cuts/${blindedId}/report`).set('authorization', bio).expect(200);
  expect(again.text).toBe(html.text);
  const audits = await rt.db.selectFrom('audit_log').selectAll().where('action', '=', 'cut.report.created').where('entity_id', '=', blindedId).execute();
  expect(audits).toHaveLength(1);
  expect(audits[0]!.actor).toBe('test-biostatistician');
  // made by one cut.report job, in the worker (here the API's in-process one), not in the request
  const jobs = await rt.db.selectFrom('jobs').selectAll().where('name', '=', REPORT_JOB).execute();
  expect(jobs.filter((j) => (j.payload as { cutId: string }).cutId === blindedId).map((j) => [j.status, (j.result as { created: boolean }).created])).toEqual([['completed', true]]);
  // the cut itself is unchanged: its own files still verify against its manifest
  expect((await verifyCut(rt, cut)).ok).toBe(true);
});

test('access: the roles of the cut; an unblinded cut report only with the unblinding grant', async () => {
  await http().get(`/v1/cuts/${blindedId}/report`).expect(401);
  await http().get(`/v1/cuts/${blindedId}/report`).set('authorization', await authHeader(app, 'reader')).expect(403);
  await http().get(`/v1/cuts/${blindedId}/statistics.json`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const refused = await http().get(`/v1/cuts/${unblindedId}/report`).set('authorization', await authHeader(app, 'biostatistician')).expect(403);
  expect(refused.body.code).toBe('access.unblinding-grant');
  await http().get(`/v1/cuts/${unblindedId}/plots/km-pfs.svg`).set('authorization', await authHeader(app, 'admin')).expect(403);
  const ok = await http().get(`/v1/cuts/${unblindedId}/report`).set('authorization', await authHeader(app, 'biostatistician', ['unblinding'])).expect(200);
  expect(ok.text).toContain('UNBLINDED data cut');
  expect(ok.text).toContain('Drug X 10 mg');
  const forest = await binary(http().get(`/v1/cuts/${unblindedId}/plots/forest-pfs.svg`).set('authorization', await authHeader(app, 'biostatistician', ['unblinding']))).expect(200);
  expect((forest.body as Buffer).toString('utf8')).toContain('hazard ratio');
});

test('a report not made yet: concurrent requests are one job; 202 + Retry-After while it is made, then the report', async () => {
  const bio = await authHeader(app, 'biostatistician');
  const cutId = (await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-06-30', blinded: true, createdBy: 'test', formats: ['json'] })).cut.cut_id;
  // five requests at once (HTML, statistics, a plot, twice): one job builds the report once
  const answers = await Promise.all([
    http().get(`/v1/cuts/${cutId}/report`).set('authorization', bio),
    http().get(`/v1/cuts/${cutId}/statistics.json`).set('authorization', bio),
    http().get(`/v1/cuts/${cutId}/report`).set('authorization', bio),
    http().get(`/v1/cuts/${cutId}/report/manifest.json`).set('authorization', bio),
    http().get(`/v1/cuts/${cutId}/statistics.json`).set('authorization', bio),
  ]);
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  expect(answers[2]!.text).toBe(answers[0]!.text);
  const jobs = (await rt.db.selectFrom('jobs').selectAll().where('name', '=', REPORT_JOB).execute()).filter((j) => (j.payload as { cutId: string }).cutId === cutId);
  expect(jobs).toHaveLength(1);
  expect(await rt.db.selectFrom('audit_log').selectAll().where('action', '=', 'cut.report.created').where('entity_id', '=', cutId).execute()).toHaveLength(1);

  // what the job runs reports its progress (shown in a 202's body): datasets read, report built; a stored report none
  const third = (await createDataCut(rt, { studyId: STUDY, cutoffDate: '2025-09-30', blinded: true, createdBy: 'test', formats: ['json'] })).cut;
  const progress: number[] = [];
  expect((await ensureCutReport(rt, third, { name: 'test' }, async (p) => void progress.push(p))).created).toBe(true);
  expect(progress).toEqual([30, 80]);
  progress.length = 0;
  expect((await ensureCutReport(rt, third, { name: 'test' }, async (p) => void progress.push(p))).created).toBe(false);
  expect(progress).toEqual([]);

  // an API that does not wait (REPORT_WAIT_MS=0) answers 202 with the job and Retry-After, then the report once made
  const rt0 = await createRuntime({ config: testConfig({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', DATABASE_URL: db.url, PROTOCOL_ID: STUDY, REPORT_WAIT_MS: '0' }), log: quietLog() });
  const app0 = await createApiApp(rt0);
  await app0.init();
  try {
    const other = (await createDataCut(rt0, { studyId: STUDY, cutoffDate: '2025-03-31', blinded: true, createdBy: 'test', formats: ['json'] })).cut;
    const bio0 = await authHeader(app0, 'biostatistician');
    const first = await request(app0.getHttpServer()).get(`/v1/cuts/${other.cut_id}/report`).set('authorization', bio0).expect(202);
    expect(first.headers['retry-after']).toBe('5');
    expect(first.body).toMatchObject({ status: expect.stringMatching(/^(queued|running)$/), jobId: expect.any(String) });
    let html: request.Response | undefined;
    for (let i = 0; i < 600 && !html; i++) {
      const r = await request(app0.getHttpServer()).get(`/v1/cuts/${other.cut_id}/report`).set('authorization', bio0);
      if (r.status === 200) html = r;
      else {
        expect(r.status).toBe(202);
        expect(r.body.jobId).toBe(first.body.jobId); // the same job, not a new one per request
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    expect(html!.text).toContain('BLINDED data cut');
    // stored now: answered at once without a job, by any API process
    expect(await requestCutReport(rt, other, { name: 'test' }, 0)).toMatchObject({ state: 'done', jobId: null, created: false });
    // a stored report removed by hand is made again by a new job (its job had completed), same bytes
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `${other.prefix}/report/manifest.json` }));
    client.destroy();
    const again = await request(app0.getHttpServer()).get(`/v1/cuts/${other.cut_id}/report`).set('authorization', bio0);
    const jobId = again.status === 202 ? again.body.jobId : undefined;
    expect(jobId).not.toBe(first.body.jobId);
    const remade = await requestCutReport(rt0, other, { name: 'test' }, 120_000);
    expect(remade).toMatchObject({ state: 'done', jobId, created: false });
    expect((await request(app0.getHttpServer()).get(`/v1/cuts/${other.cut_id}/report`).set('authorization', bio0).expect(200)).text).toBe(html!.text);
  } finally {
    await app0.close();
    await rt0.close();
  }
});
