/**
 * The review API over HTTP (PGlite, the real guard and tokens): every review route declares its roles; admins assign;
 * readers see only their own worklist and cases (403 otherwise); save / sign / correction errors come back as clear JSON
 * codes; the adjudicator resolves a disagreement; the summary shows the adjudication rate; isAssigned answers for the
 * access guard of other routes.
 */
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import request from 'supertest';
import { ReviewRepository } from '@app/db';
import { createRuntime, type Runtime } from '@app/pipeline';
import { SIGNATURE_MEANING } from '@app/review';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader, loginAs, TEST_PASSWORD } from '../helpers/auth';
import { quietLog, tempDir, testConfig } from '../support/services';
import { DATES, seedSubject, THREE_LESIONS } from './fixtures';

jest.setTimeout(120000);
const STUDY = 'P-API';
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let app: INestApplication;
const http = () => request(app.getHttpServer());
const tok: Record<string, string> = {};
const ids: Record<string, string> = {};
let subj: Awaited<ReturnType<typeof seedSubject>>;
let other: Awaited<ReturnType<typeof seedSubject>>;
let caseId: Record<string, string> = {};

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, AUTH_JWT_SECRET: 'review-api-secret-0123456789abcdef-0123' }), log: quietLog(), pgliteDir: ':memory:' });
  app = await createApiApp(rt);
  await app.init();
  for (const [name, roles] of [['rd1', ['reader']], ['rd2', ['reader']], ['rd3', ['reader']], ['ad1', ['adjudicator']]] as const) {
    const l = await loginAs(app, [...roles], { username: name, displayName: `Dr ${name}` });
    tok[name] = `Bearer ${l.token}`;
    ids[name] = l.user.id;
  }
  subj = await seedSubject(rt.db, { protocolId: STUDY, subjectId: 'S1', shiftDays: 11, dates: DATES.slice(0, 2), lesions: [...THREE_LESIONS, { uid: '2.25.77', trackingId: 'T09 lung', organ: 'LUNG', nodal: false, long: [null, 12], short: [null, 8], status: ['', 'new'] }] });
  other = await seedSubject(rt.db, { protocolId: 'P-OTHER', subjectId: 'S9', shiftDays: 5, dates: DATES.slice(0, 1), lesions: THREE_LESIONS });
});

afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

test('every review route declares its roles in the OpenAPI document', () => {
  const doc: OpenAPIObject = SwaggerModule.createDocument(app, new DocumentBuilder().build());
  const ops = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/review'));
  const table = ops.flatMap(([p, item]) => Object.entries(item as Record<string, { 'x-access'?: { roles?: string[] } }>).map(([m, op]) => `${m.toUpperCase()} ${p} ${op['x-access']?.roles?.join(',')}`)).sort();
  expect(table).toEqual([
    'GET /v1/review/adjudications adjudicator,admin',
    'GET /v1/review/adjudications/{id} adjudicator',
    'GET /v1/review/assignments admin',
    'GET /v1/review/cases/{caseId} reader',
    'GET /v1/review/cases/{caseId}/export reader,admin',
    'GET /v1/review/cases/{caseId}/recist reader',
    'GET /v1/review/studies/{studyId}/summary admin,adjudicator,biostatistician',
    'GET /v1/review/worklist reader,adjudicator',
    'POST /v1/review/adjudications/{id}/sign adjudicator',
    'POST /v1/review/assignments admin',
    'POST /v1/review/cases/{caseId}/corrections reader',
    'POST /v1/review/cases/{caseId}/reassign admin',
    'POST /v1/review/cases/{caseId}/sign reader',
    'POST /v1/review/readers/{userId}/withdraw admin',
    'POST /v1/review/studies/{studyId}/feed admin',
    'PUT /v1/review/cases/{caseId}/slides/{slideId} reader',
    'PUT /v1/review/cases/{caseId}/timepoints/{timePointId} reader',
    'PUT /v1/review/studies/{studyId}/settings admin',
  ]);
});

test('route x role walk: the guard refuses exactly the undeclared roles; placeholders and empty bodies never give a 5xx', async () => {
  const doc: OpenAPIObject = SwaggerModule.createDocument(app, new DocumentBuilder().build());
  const roles = ['reader', 'adjudicator', 'biostatistician', 'pipeline', 'admin'] as const;
  const problems: string[] = [];
  for (const [path, item] of Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/review')))
    for (const [method, op] of Object.entries(item as Record<string, { 'x-access': { roles: string[] } }>)) {
      const url = path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      for (const who of ['anonymous', ...roles]) {
        let req = (http() as unknown as Record<string, (u: string) => request.Test>)[method]!(url);
        if (who !== 'anonymous') req = req.set('authorization', await authHeader(app, who as (typeof roles)[number]));
        const res = method === 'get' ? await req : await req.send({});
        const allowed = who !== 'anonymous' && op['x-access'].roles.includes(who);
        const guard = ['auth.required', 'auth.forbidden'].includes(res.body?.code);
        if (res.status >= 500) problems.push(`${method} ${path} as ${who}: ${res.status}`);
        else if (allowed && guard) problems.push(`${method} ${path} as ${who}: refused by the guard`);
        else if (!allowed && (!guard || res.status !== (who === 'anonymous' ? 401 : 403))) problems.push(`${method} ${path} as ${who}: expected the guard's refusal, got ${res.status} ${res.body?.code}`);
      }
    }
  expect(problems).toEqual([]);
});

test('admin assigns (readers cannot); the reader sees only their own worklist', async () => {
  await http().post('/v1/review/assignments').set('authorization', tok.rd1!).send({ studyId: STUDY, readers: ['rd1', 'rd2'], capacity: 5 }).expect(403);
  const bad = await http().post('/v1/review/assignments').set('authorization', await authHeader(app, 'admin')).send({ studyId: STUDY, readers: ['rd1', 'ad1'], capacity: 5 }).expect(400);
  expect(bad.body).toMatchObject({ code: 'review.invalid', message: expect.stringMatching(/ad1 does not hold the reader role/) });
  const res = await http().post('/v1/review/assignments').set('authorization', await authHeader(app, 'admin')).send({ studyId: STUDY, readers: ['rd1', 'rd2'], capacity: 5, seed: 2024, adjudicators: ['ad1'] }).expect(201);
  expect(res.body).toMatchObject({ seed: 2024, studyId: STUDY });
  caseId = Object.fromEntries(res.body.cases.map((c: { reader: string; caseId: string }) => [c.reader, c.caseId]));
  expect(Object.keys(caseId).sort()).toEqual(['rd1', 'rd2']);
  const wl = await http().get('/v1/review/worklist').set('authorization', tok.rd1!).expect(200);
  expect(wl.body.cases.map((c: { caseId: string }) => c.caseId)).toEqual([caseId.rd1]);
  expect((await http().get('/v1/review/worklist').set('authorization', tok.rd3!).expect(200)).body.cases).toEqual([]);
  expect((await http().get('/v1/review/worklist').set('authorization', await authHeader(app, 'biostatistician')).expect(403)).body.code).toBe('auth.forbidden');
  const listed = await http().get(`/v1/review/assignments?studyId=${STUDY}`).set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(listed.body.runs[0]).toMatchObject({ seed: 2024, capacity: 5 });
});

test('a case of another reader, or of an unassigned subject, is refused with 403; isAssigned agrees', async () => {
  const r = await http().get(`/v1/review/cases/${caseId.rd1}`).set('authorization', tok.rd2!).expect(403);
  expect(r.body).toMatchObject({ code: 'review.not-assigned' });
  await http().get(`/v1/review/cases/${caseId.rd1}`).set('authorization', tok.rd3!).expect(403);
  expect((await http().get('/v1/review/cases/00000000-0000-4000-8000-000000000000').set('authorization', tok.rd1!).expect(404)).body.code).toBe('review.not-found');
  const repo = new ReviewRepository(rt.db);
  expect(await repo.isAssigned(ids.rd1!, subj.subject.reading_id)).toBe(true);
  expect(await repo.isAssigned(ids.rd3!, subj.subject.reading_id)).toBe(false);
  expect(await repo.isAssigned(ids.rd1!, other.subject.reading_id)).toBe(false);
  expect(await repo.isAssigned('not-a-uuid', subj.subject.reading_id)).toBe(false);
});

async function readCase(reader: string, opts: { acceptNew: boolean }) {
  const id = caseId[reader]!;
  let v = (await http().get(`/v1/review/cases/${id}`).set('authorization', tok[reader]!).expect(200)).body;
  const bl = v.timepoints[0];
  const blBody = { version: v.read.version, lesions: bl.proposals.map((p: { proposalId: string }) => ({ proposalId: p.proposalId, decision: 'accept', classification: 'target' })) };
  // the follow-up before the baseline: 409 with a clear code
  expect((await http().put(`/v1/review/cases/${id}/timepoints/FU1`).set('authorization', tok[reader]!).send({ version: v.read.version, lesions: [] }).expect(409)).body.code).toBe('review.timepoint-order');
  // a point outside the image: 400, nothing saved
  const out = await http().put(`/v1/review/cases/${id}/timepoints/BL`).set('authorization', tok[reader]!).send({ ...blBody, lesions: [...blBody.lesions.slice(1), { proposalId: bl.proposals[0].proposalId, decision: 'edit', classification: 'target', longAxis: { p1: { ijk: [10, 10, 3] }, p2: { ijk: [10, 10, 30] } } }] }).expect(400);
  expect(out.body).toMatchObject({ code: 'review.measurement-outside-image', point: 'p2' });
  const saved = (await http().put(`/v1/review/cases/${id}/timepoints/BL`).set('authorization', tok[reader]!).send(blBody).expect(200)).body;
  expect(saved.version).toBe(v.read.version + 1);
  // two tabs: the old version again
  const stale = await http().put(`/v1/review/cases/${id}/timepoints/BL`).set('authorization', tok[reader]!).send(blBody).expect(409);
  expect(stale.body).toMatchObject({ code: 'review.stale-version', currentVersion: saved.version });
  v = (await http().get(`/v1/review/cases/${id}`).set('authorization', tok[reader]!).expect(200)).body;
  const fu = v.timepoints[1];
  const fuBody = {
    version: v.read.version,
    requestId: `${reader}-fu1-request`,
    lesions: fu.proposals.map((p: { proposalId: string; trackingId: string }) => (p.trackingId === 'T09 lung' ? (opts.acceptNew ? { proposalId: p.proposalId, decision: 'accept' } : { proposalId: p.proposalId, decision: 'reject', reason: 'atelectasis' }) : { proposalId: p.proposalId, decision: 'accept' })),
  };
  const a = await http().put(`/v1/review/cases/${id}/timepoints/FU1`).set('authorization', tok[reader]!).send(fuBody).expect(200);
  const b = await http().put(`/v1/review/cases/${id}/timepoints/FU1`).set('authorization', tok[reader]!).send(fuBody).expect(200);
  expect(b.body).toMatchObject({ version: a.body.version, replayed: true });
  const rec = (await http().get(`/v1/review/cases/${id}/recist`).set('authorization', tok[reader]!).expect(200)).body;
  const wrong = await http().post(`/v1/review/cases/${id}/sign`).set('authorization', tok[reader]!).send({ version: a.body.version, password: 'not my password', meaning: SIGNATURE_MEANING }).expect(403);
  expect(wrong.body.code).toBe('signature.invalid-password');
  const signed = (await http().post(`/v1/review/cases/${id}/sign`).set('authorization', tok[reader]!).send({ version: a.body.version, password: TEST_PASSWORD, meaning: SIGNATURE_MEANING }).expect(200)).body;
  expect(signed.signature).toMatchObject({ printedName: `Dr ${reader}`, meaning: SIGNATURE_MEANING, contentSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const after = await http().put(`/v1/review/cases/${id}/timepoints/BL`).set('authorization', tok[reader]!).send({ ...blBody, version: signed.version }).expect(409);
  expect(after.body.code).toBe('review.read-signed');
  return { rec, signed };
}

test('reading, signing and the errors readers meet, over HTTP; disagreement goes to the adjudicator', async () => {
  const one = await readCase('rd1', { acceptNew: false });
  expect(one.rec.rows.map((r: { overallResponse: string | null }) => r.overallResponse)).toEqual([null, 'SD']);
  const two = await readCase('rd2', { acceptNew: true });
  expect(two.rec.rows.map((r: { overallResponse: string | null }) => r.overallResponse)).toEqual([null, 'PD']);
  const ex = (await http().get(`/v1/review/cases/${caseId.rd1}/export`).set('authorization', tok.rd1!).expect(200)).body;
  expect(ex.reads[0]).toMatchObject({ status: 'signed', signatureValid: true, signature: { contentSha256: one.signed.signature.contentSha256 } });
  await http().get(`/v1/review/cases/${caseId.rd1}/export`).set('authorization', tok.rd2!).expect(403);
  // the adjudicator's worklist has the task; readers cannot reach adjudication routes
  const wl = (await http().get('/v1/review/worklist').set('authorization', tok.ad1!).expect(200)).body;
  expect(wl.adjudications).toHaveLength(1);
  const task = wl.adjudications[0];
  expect((await http().get(`/v1/review/adjudications/${task.adjudicationId}`).set('authorization', tok.rd1!).expect(403)).body.code).toBe('auth.forbidden');
  const view = (await http().get(`/v1/review/adjudications/${task.adjudicationId}`).set('authorization', tok.ad1!).expect(200)).body;
  expect(view.comparison.disagreements.map((d: { rule: string }) => d.rule).sort()).toEqual(['CBOR', 'PD_DATE']);
  const pick = view.reads.find((r: { signature: { username: string } }) => r.signature.username === 'rd2').read;
  const signed = await http().post(`/v1/review/adjudications/${task.adjudicationId}/sign`).set('authorization', tok.ad1!).send({ version: view.version, selectedRead: pick, reason: 'the new lung lesion is real on the lung window', password: TEST_PASSWORD, meaning: SIGNATURE_MEANING }).expect(200);
  expect(signed.body).toMatchObject({ status: 'decided', selectedRead: pick, signature: { username: 'ad1' } });
  const sum = (await http().get(`/v1/review/studies/${STUDY}/summary`).set('authorization', await authHeader(app, 'biostatistician')).expect(200)).body;
  expect(sum).toMatchObject({ subjectsCompared: 1, subjectsNeedingAdjudication: 1, adjudicationRate: 1, adjudications: { decided: 1 }, bicrResults: 1 });
  const feed = (await http().post(`/v1/review/studies/${STUDY}/feed`).set('authorization', await authHeader(app, 'admin')).expect(200)).body;
  expect(feed.inputs.map((i: { studyId: string }) => i.studyId).sort()).toEqual([`${STUDY}.BICR`, `${STUDY}.READER-rd1`, `${STUDY}.READER-rd2`]);
});

test('settings: rules are validated; malformed bodies are 400 with a code, never 500', async () => {
  const admin = await authHeader(app, 'admin');
  expect((await http().put(`/v1/review/studies/${STUDY}/settings`).set('authorization', admin).send({ rules: { bor: 'sometimes' } }).expect(400)).body.code).toBe('review.invalid');
  const ok = await http().put(`/v1/review/studies/${STUDY}/settings`).set('authorization', admin).send({ rules: { bor: 'unconfirmed', pdDate: true, pdDateToleranceDays: 7 } }).expect(200);
  expect(ok.body.rules).toEqual({ bor: 'unconfirmed', pdDate: true, pdDateToleranceDays: 7 });
  expect((await http().put(`/v1/review/cases/${caseId.rd1}/timepoints/BL`).set('authorization', tok.rd1!).send({}).expect(400)).body.code).toBe('review.invalid');
  expect((await http().post(`/v1/review/cases/${caseId.rd1}/sign`).set('authorization', tok.rd1!).send({ version: 'x' }).expect(400)).body.code).toBe('review.invalid');
  expect((await http().post('/v1/review/assignments').set('authorization', admin).send({}).expect(400)).body.code).toBe('review.invalid');
  expect((await http().post(`/v1/review/cases/${caseId.rd1}/reassign`).set('authorization', admin).send({ reason: 'x', readers: ['rd3'] }).expect(409)).body.code).toBe('review.state');
});
