/**
 * POST /v1/cuts through the cut.create job (libs/pipeline stages/endpoints.ts, apps/api cuts.controller.ts):
 * - with Redis and no worker in the API process, the request is queued: 202 { jobId, status } + Location
 *   /v1/cut-jobs/:id after CUT_WAIT_MS; the same request again (while queued, and after it is done) is the same job;
 *   a worker makes the cut once; the poll then gives the cut; a re-POST gives 201 with the same cut, created: false;
 * - refused requests (bad input, no assessments, unblinded without the grant) are answered before anything is queued;
 * - a job whose request is refused inside the job completes once with the input error (never retried);
 * - embedded mode (PGlite, in-process queue): the API runs the job itself; CUT_WAIT_MS=0 gives 202, the poll the cut.
 */
import type { INestApplication } from '@nestjs/common';
import Bull from 'bull';
import request from 'supertest';
import { AuditRepository } from '@app/db';
import { CUT_JOB, createRuntime, loadSimulatedStudy, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader } from '../helpers/auth';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig, waitFor } from '../support/services';

jest.setTimeout(180000);

const STUDY = 'CJ-1';
const JWT = 'cut-jobs-test-secret-0123456789abcdef-xyz';

describe('with Redis: the API queues, a worker cuts', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: Awaited<ReturnType<typeof createTempDatabase>>;
  let api: Runtime;
  let worker: Runtime | undefined;
  let app: INestApplication;
  const queueName = `cutjobs-${Date.now().toString(36)}`;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    dir = await tempDir();
    db = await createTempDatabase();
    const env = { DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: queueName, AUTH_JWT_SECRET: JWT, CUT_WAIT_MS: '300' };
    api = await createRuntime({ config: testConfig(env), log: quietLog() });
    app = await createApiApp(api); // Bull and no API_RUNS_WORKER: this API only enqueues
    await app.init();
    await loadSimulatedStudy(api, STUDY, { subjects: 20, visits: 5, seed: 4, qlq: false, stepWeeks: 4 }, 'test');
  });
  afterAll(async () => {
    await app?.close();
    await worker?.close();
    await api?.close();
    for (const name of [queueName, `${queueName}.${CUT_JOB}`]) {
      const q = new Bull(name, REDIS_URL);
      await q.obliterate({ force: true }).catch(() => {});
      await q.close();
    }
    await db?.drop();
    await dir?.remove();
  });

  const cutJobs = () => api.db.selectFrom('jobs').selectAll().where('name', '=', CUT_JOB).execute();

  it('refused requests are answered before anything is queued', async () => {
    const bio = await authHeader(app, 'biostatistician');
    const bad = await http().post('/v1/cuts').set('authorization', bio).send({ studyId: STUDY, cutoffDate: '2026-13-45', blinded: true }).expect(400);
    expect(bad.body.message).toMatch(/cutoffDate must be an ISO date/);
    await http().post('/v1/cuts').set('authorization', bio).send({ studyId: STUDY, cutoffDate: '2026-01-01', blinded: 'no' }).expect(400);
    await http().post('/v1/cuts').set('authorization', bio).send({ studyId: STUDY, cutoffDate: '2026-01-01', blinded: true, formats: ['sas7bdat'] }).expect(400);
    expect((await http().post('/v1/cuts').set('authorization', bio).send({ studyId: 'NO-SUCH', cutoffDate: '2026-01-01', blinded: true }).expect(400)).body.message).toMatch(/no assessments/);
    const refused = await http().post('/v1/cuts').set('authorization', bio).send({ studyId: STUDY, cutoffDate: '2026-01-01', blinded: false }).expect(403);
    expect(refused.body.code).toBe('access.unblinding-grant');
    expect(await cutJobs()).toEqual([]);
  });

  it('202 + Location while queued; the same request joins the same job; a worker cuts once; then 201 with the same cut', async () => {
    const bio = await authHeader(app, 'biostatistician');
    const body = { studyId: STUDY, cutoffDate: '2026-01-01', blinded: true, formats: ['json', 'csv'] };
    const t0 = Date.now();
    const first = await http().post('/v1/cuts').set('authorization', bio).send(body).expect(202);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300); // waited CUT_WAIT_MS for it first
    expect(first.body).toMatchObject({ status: 'queued', location: `/v1/cut-jobs/${first.body.jobId}` });
    expect(first.headers.location).toBe(`/v1/cut-jobs/${first.body.jobId}`);
    // the same request again while queued (another user too): the same job, no second row
    const again = await http().post('/v1/cuts').set('authorization', await authHeader(app, 'admin')).send(body).expect(202);
    expect(again.body.jobId).toBe(first.body.jobId);
    expect((await cutJobs()).map((j) => [j.id, j.status])).toEqual([[first.body.jobId, 'queued']]);
    const poll = await http().get(first.headers.location).set('authorization', bio).expect(200);
    expect(poll.body).toEqual({ jobId: first.body.jobId, status: 'queued', progress: 0 });
    await http().get(first.headers.location).set('authorization', await authHeader(app, 'reader')).expect(403);
    await http().get('/v1/cut-jobs/00000000-0000-4000-8000-000000000000').set('authorization', bio).expect(404);

    // a worker process (here: a second runtime) takes it
    worker = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: queueName, AUTH_JWT_SECRET: JWT }), log: quietLog() });
    worker.queue.startWorker();
    const done = await waitFor(async () => {
      const r = await http().get(first.headers.location).set('authorization', bio).expect(200);
      return r.body.status === 'completed' ? r.body : undefined;
    }, 60000, 'the cut job to complete');
    expect(done).toMatchObject({ jobId: first.body.jobId, created: true, studyId: STUDY, blinded: true, createdBy: 'test-biostatistician' });

    // after it is done: 201 at once, the same cut, not created by this request, still one job
    const after = await http().post('/v1/cuts').set('authorization', bio).send(body).expect(201);
    expect(after.body).toMatchObject({ jobId: first.body.jobId, status: 'completed', created: false, cutId: done.cutId, manifestSha256: done.manifestSha256 });
    const jobs = await cutJobs();
    expect(jobs.map((j) => [j.status, j.attempts])).toEqual([['completed', 1]]);
    expect(await api.db.selectFrom('data_cuts').select('cut_id').execute()).toEqual([{ cut_id: done.cutId }]);
    expect(await new AuditRepository(api.db).list({ action: 'cut.created', entityId: done.cutId })).toHaveLength(1);
    expect((await http().get(`/v1/cuts/${done.cutId}/verify`).set('authorization', bio).expect(200)).body).toMatchObject({ ok: true });

    // new assessments: the same request is a new job and a new cut
    await loadSimulatedStudy(api, STUDY, { subjects: 21, visits: 5, seed: 4, qlq: false, stepWeeks: 4 }, 'test');
    const next = await waitFor(async () => {
      const r = await http().post('/v1/cuts').set('authorization', bio).send(body);
      return r.status === 201 ? r.body : undefined;
    }, 60000, 'the cut of the new inputs');
    expect(next.jobId).not.toBe(first.body.jobId);
    expect(next.cutId).not.toBe(done.cutId);
  });

  it('unblinded: the grant is checked before queueing and on the poll', async () => {
    const unb = await authHeader(app, 'biostatistician', ['unblinding']);
    const r = await http().post('/v1/cuts').set('authorization', unb).send({ studyId: STUDY, cutoffDate: '2026-02-01', blinded: false, formats: ['json'] });
    expect([201, 202]).toContain(r.status);
    await http().get(`/v1/cut-jobs/${r.body.jobId}`).set('authorization', await authHeader(app, 'biostatistician')).expect(403);
    const done = await waitFor(async () => {
      const p = await http().get(`/v1/cut-jobs/${r.body.jobId}`).set('authorization', unb).expect(200);
      return p.body.status === 'completed' ? p.body : undefined;
    }, 60000, 'the unblinded cut');
    expect(done).toMatchObject({ blinded: false, createdBy: 'test-biostatistician-unblinding' });
  });

  it('a request refused inside the job completes once with its input error, never retried', async () => {
    // past the API's checks (queued directly): the job itself refuses it
    const { jobId } = await api.queue.enqueue(CUT_JOB, { studyId: 'NO-SUCH', cutoffDate: '2026-01-01', blinded: true, createdBy: 'test' }, { idempotencyKey: 'cut-jobs-test:refused' });
    const bio = await authHeader(app, 'biostatistician');
    const p = await waitFor(async () => {
      const r = await http().get(`/v1/cut-jobs/${jobId}`).set('authorization', bio).expect(200);
      return r.body.status === 'refused' ? r.body : undefined;
    }, 30000, 'the refused job');
    expect(p.error).toMatchObject({ code: 'datacut.no-input' });
    const row = await api.jobs.byId(jobId);
    expect({ status: row!.status, attempts: row!.attempts }).toEqual({ status: 'completed', attempts: 1 });
  });
});

describe('embedded: the API runs the cut job itself', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let rt: Runtime;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    dir = await tempDir();
    rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, AUTH_JWT_SECRET: JWT, CUT_WAIT_MS: '0' }), log: quietLog(), pgliteDir: ':memory:' });
    app = await createApiApp(rt);
    await app.init();
    await loadSimulatedStudy(rt, STUDY, { subjects: 20, visits: 5, seed: 4, qlq: false, stepWeeks: 4 }, 'test');
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await dir?.remove();
  });

  it('CUT_WAIT_MS=0: 202, then the poll gives the cut; a re-POST gives it at once', async () => {
    const bio = await authHeader(app, 'biostatistician');
    const body = { studyId: STUDY, cutoffDate: '2026-01-01', blinded: true };
    const first = await http().post('/v1/cuts').set('authorization', bio).send(body).expect(202);
    expect(['queued', 'running']).toContain(first.body.status);
    const done = await waitFor(async () => {
      const r = await http().get(first.headers.location).set('authorization', bio).expect(200);
      return r.body.status === 'completed' ? r.body : undefined;
    }, 60000, 'the embedded cut job');
    expect(done).toMatchObject({ created: true, blinded: true });
    const again = await http().post('/v1/cuts').set('authorization', bio).send(body).expect(201);
    expect(again.body).toMatchObject({ jobId: first.body.jobId, created: false, cutId: done.cutId });
    expect((await rt.db.selectFrom('jobs').select(['status']).where('name', '=', CUT_JOB).execute()).map((j) => j.status)).toEqual(['completed']);
  });
});
