/**
 * Readers and adjudicators reach subjects, studies, series, slices, slides and AI outputs only through their own
 * assignments (issue 12 §1): an assigned reader can, an unassigned one gets 403 `review.not-assigned` on a named
 * subject / study / series / slide and does not see it in the lists (GET /v1/subjects, /v1/series, /v1/slides,
 * /v1/ai/runs). Nothing a reader gets names the trial subject id, the original object, the date shift or the arm.
 * Opening data is audited (subject.view, slide.view, ai.slide-metrics.shown, ai.proposals.shown), once per minute per
 * user and entity. Real API on PGlite, real guard and tokens; assignments through the review API.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import sharp from 'sharp';
import { AuditRepository } from '@app/db';
import { createRuntime, encodeNrrd, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader, loginAs } from '../helpers/auth';
import { quietLog, tempDir, testConfig } from '../support/services';
import { addDaysYmd, AFFINE, DATES, DIMS, seedSubject, THREE_LESIONS } from '../review/fixtures';
import { seedSlide } from '../review/slide-fixtures';

jest.setTimeout(120000);
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let app: INestApplication;
const http = () => request(app.getHttpServer());
const tok: Record<string, string> = {};
const ids: Record<string, string> = {};
let s1: Awaited<ReturnType<typeof seedSubject>>;
let s2: Awaited<ReturnType<typeof seedSubject>>;
let slide1: Awaited<ReturnType<typeof seedSlide>>;
let slide2: Awaited<ReturnType<typeof seedSlide>>;
let series1: string;
let study1: string;
let cases: { caseId: string; reader: string; readingId: string; slot: number }[] = [];
/** Everything a reader or adjudicator received, to check for identifying content at the end. */
const seen: string[] = [];

const get = async (path: string, who: string, status: number) => {
  const r = await http().get(path).set('authorization', tok[who]!);
  if (r.status !== status) throw new Error(`${who} GET ${path}: expected ${status}, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  if (!who.startsWith('admin')) seen.push(r.type.startsWith('application/json') ? JSON.stringify(r.body) : '');
  return r;
};

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, AUTH_JWT_SECRET: 'reader-scope-secret-0123456789abcdef-01' }), log: quietLog(), pgliteDir: ':memory:' });
  app = await createApiApp(rt);
  await app.init();
  for (const [name, roles] of [['rd1', ['reader']], ['rd2', ['reader']], ['rd3', ['reader']], ['rd4', ['reader']], ['ad1', ['adjudicator']], ['ad2', ['adjudicator']], ['admin', ['admin']]] as const) {
    const l = await loginAs(app, [...roles], { username: name, displayName: `Dr ${name}` });
    tok[name] = `Bearer ${l.token}`;
    ids[name] = l.user.id;
  }
  s1 = await seedSubject(rt.db, { protocolId: 'P-SCOPE', subjectId: 'SUBJ-SCOPE-0001', shiftDays: 17, dates: DATES.slice(0, 2), lesions: THREE_LESIONS });
  s2 = await seedSubject(rt.db, { protocolId: 'P-SCOPE2', subjectId: 'SUBJ-SCOPE-0002', shiftDays: 23, dates: DATES.slice(0, 1), lesions: THREE_LESIONS });
  // a real volume behind S1's baseline series (slices are rendered from it)
  const v = await rt.db.selectFrom('volumes').innerJoin('series', 'series.id', 'volumes.series_id').select(['volumes.data_key', 'series.id as series_id', 'series.study_id']).where('volumes.id', '=', s1.tps[0]!.volumeId).executeTakeFirstOrThrow();
  series1 = v.series_id;
  study1 = v.study_id;
  const data = new Int16Array(DIMS[0]! * DIMS[1]! * DIMS[2]!).fill(40);
  await rt.store.put(v.data_key, encodeNrrd({ dims: DIMS as [number, number, number], affine: AFFINE, data }));
  slide1 = await seedSlide(rt, { subjectUuid: s1.subject.id, metrics: { tumourFraction: 0.5, stromalTilPercent: 33.3, tumourBedCellularity: 0.5 } });
  slide2 = await seedSlide(rt, { subjectUuid: s2.subject.id, metrics: { tumourFraction: 0.2, stromalTilPercent: 10, tumourBedCellularity: 0.2 } });
  // S1 -> rd1 + rd2, S2 -> rd2 + rd3; rd4 and the adjudicators have nothing yet
  const a1 = await http().post('/v1/review/assignments').set('authorization', tok.admin!).send({ studyId: 'P-SCOPE', readers: ['rd1', 'rd2'], capacity: 5, seed: 7 }).expect(201);
  const a2 = await http().post('/v1/review/assignments').set('authorization', tok.admin!).send({ studyId: 'P-SCOPE2', readers: ['rd2', 'rd3'], capacity: 5, seed: 8 }).expect(201);
  cases = [...a1.body.cases, ...a2.body.cases];
});

afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

const R1 = () => s1.subject.reading_id;
const R2 = () => s2.subject.reading_id;

test('GET /v1/subjects and /v1/series list only the caller’s assigned subjects (admin: all)', async () => {
  const subj = async (who: string) => (await get('/v1/subjects', who, 200)).body.items.map((i: { readingId: string }) => i.readingId).sort();
  expect(await subj('rd1')).toEqual([R1()]);
  expect(await subj('rd2')).toEqual([R1(), R2()].sort());
  expect(await subj('rd3')).toEqual([R2()]);
  expect(await subj('rd4')).toEqual([]);
  expect(await subj('ad1')).toEqual([]);
  expect(await subj('admin')).toEqual([R1(), R2()].sort());
  const ser = async (who: string) => (await get('/v1/series', who, 200)).body.items as { readingId: string; id: string }[];
  const mine = await ser('rd1');
  expect(mine.length).toBe(2); // S1's two timepoints, one series each
  expect(new Set(mine.map((s) => s.readingId))).toEqual(new Set([R1()]));
  expect(await ser('rd4')).toEqual([]);
  expect((await ser('admin')).length).toBe(3);
});

test('a named subject, study, series or slice: 200 when assigned, 403 review.not-assigned otherwise, 404 when absent', async () => {
  const st = await get(`/v1/subjects/${R1()}/studies`, 'rd1', 200);
  expect(st.body.items.map((s: { studyDate: string }) => s.studyDate).sort()).toEqual(DATES.slice(0, 2));
  expect((await get(`/v1/subjects/${R1()}/studies`, 'rd3', 403)).body.code).toBe('review.not-assigned');
  await get('/v1/subjects/R-NOSUCH/studies', 'rd1', 404);
  expect((await get(`/v1/studies/${study1}/series`, 'rd1', 200)).body.items.map((s: { id: string }) => s.id)).toEqual([series1]);
  expect((await get(`/v1/studies/${study1}/series`, 'rd3', 403)).body.code).toBe('review.not-assigned');
  await get('/v1/studies/00000000-0000-4000-8000-000000000000/series', 'rd1', 404);
  const one = await get(`/v1/series/${series1}`, 'rd2', 200);
  expect(one.body.volume).toMatchObject({ dims: DIMS });
  await get(`/v1/series/${series1}`, 'rd4', 403);
  const png = await http().get(`/v1/series/${series1}/slices/3.png`).set('authorization', tok.rd1!).expect(200);
  expect(png.headers['content-type']).toBe('image/png');
  expect(await sharp(png.body as Buffer).metadata()).toMatchObject({ width: DIMS[0], height: DIMS[1] });
  await get(`/v1/series/${series1}/slices/3.png`, 'rd3', 403);
});

test('slides and AI outputs: assigned subjects only, lists filtered', async () => {
  const sl = async (who: string) => (await get('/v1/slides', who, 200)).body.items.map((i: { id: string }) => i.id);
  expect(await sl('rd1')).toEqual([slide1.slide.id]);
  expect(await sl('rd3')).toEqual([slide2.slide.id]);
  expect(await sl('rd4')).toEqual([]);
  expect((await sl('admin')).sort()).toEqual([slide1.slide.id, slide2.slide.id].sort());
  await get(`/v1/slides/${slide1.slide.id}`, 'rd1', 200);
  await get(`/v1/slides/${slide1.slide.id}.dzi`, 'rd1', 200);
  await http().get(`/v1/slides/${slide1.slide.id}_files/9/0_0.jpeg`).set('authorization', tok.rd1!).expect(200);
  expect((await get(`/v1/slides/${slide1.slide.id}`, 'rd3', 403)).body.code).toBe('review.not-assigned');
  await get(`/v1/slides/${slide1.slide.id}_files/9/0_0.jpeg`, 'rd3', 403);

  const runs = async (who: string) => (await get('/v1/ai/runs', who, 200)).body.items as { id: string; readingId: string; kind: string }[];
  const r1 = await runs('rd1');
  expect(r1.map((r) => r.id).sort()).toEqual([s1.runId, slide1.runId].sort());
  expect(new Set(r1.map((r) => r.readingId))).toEqual(new Set([R1()]));
  expect(await runs('rd4')).toEqual([]);
  expect((await runs('admin')).length).toBe(4);

  const p = await get(`/v1/ai/subjects/${R1()}/proposals`, 'rd1', 200);
  expect(p.body.run.id).toBe(s1.runId);
  expect((await get(`/v1/ai/subjects/${R1()}/proposals`, 'rd3', 403)).body.code).toBe('review.not-assigned');
  await get('/v1/ai/subjects/R-NOSUCH/proposals', 'rd1', 404);
  // the AI-only derived read stays with admin / pipeline
  expect((await get(`/v1/ai/subjects/${R1()}/ai-read`, 'rd1', 403)).body.code).toBe('auth.forbidden');
  const m = await get(`/v1/ai/slides/${slide1.slide.id}`, 'rd1', 200);
  expect(m.body.metrics).toMatchObject({ tumourFraction: 0.5, stromalTilPercent: 33.3 });
  await http().get(`/v1/ai/slides/${slide1.slide.id}/heatmap.png`).set('authorization', tok.rd1!).expect(200);
  await get(`/v1/ai/slides/${slide1.slide.id}`, 'rd3', 403);
  await get(`/v1/ai/slides/${slide1.slide.id}/heatmap.png`, 'rd3', 403);
  await get(`/v1/ai/subjects/${R1()}/timepoints/BL/seg.dcm`, 'rd4', 403);
});

test('an adjudicator sees a subject once a task of it is assigned to them (not before, not another adjudicator)', async () => {
  await get(`/v1/subjects/${R1()}/studies`, 'ad1', 403);
  // two draft reads of S1's cases, their comparison and a disagreement task assigned to ad1 (the rows the workflow writes)
  const readIds: string[] = [];
  for (const c of cases.filter((x) => x.readingId === R1()).sort((a, b) => a.slot - b.slot)) {
    const r = await rt.db.insertInto('review_reads').values({ case_id: c.caseId, revision: 1, version: 1, created_by: c.reader }).returning('id').executeTakeFirstOrThrow();
    readIds.push(r.id);
  }
  const cmp = await rt.db.insertInto('review_comparisons').values({ study_id: 'P-SCOPE', subject_uuid: s1.subject.id, read1_id: readIds[0]!, read2_id: readIds[1]!, agree: false, rules: '{}', detail: '{"disagreements":[]}' }).returning('id').executeTakeFirstOrThrow();
  await rt.db.insertInto('review_adjudications').values({ study_id: 'P-SCOPE', subject_uuid: s1.subject.id, reading_id: R1(), comparison_id: cmp.id, adjudicator_id: ids.ad1! }).execute();
  expect((await get('/v1/subjects', 'ad1', 200)).body.items.map((i: { readingId: string }) => i.readingId)).toEqual([R1()]);
  expect((await get('/v1/slides', 'ad1', 200)).body.items.map((i: { id: string }) => i.id)).toEqual([slide1.slide.id]);
  await get(`/v1/series/${series1}`, 'ad1', 200);
  await get(`/v1/ai/slides/${slide1.slide.id}`, 'ad1', 200);
  await get(`/v1/series/${series1}`, 'ad2', 403);
  expect((await get('/v1/subjects', 'ad2', 200)).body.items).toEqual([]);
});

test('a reassigned case: the old reader drops out of the lists at once and loses named access; the new reader gains it', async () => {
  const c = cases.find((x) => x.readingId === R1() && x.reader === 'rd1')!;
  await http().post(`/v1/review/cases/${c.caseId}/reassign`).set('authorization', tok.admin!).send({ reason: 'reader left the study', toReader: 'rd4' }).expect(201);
  expect((await get('/v1/subjects', 'rd1', 200)).body.items).toEqual([]);
  expect((await get('/v1/slides', 'rd1', 200)).body.items).toEqual([]);
  expect((await get('/v1/subjects', 'rd4', 200)).body.items.map((i: { readingId: string }) => i.readingId)).toEqual([R1()]);
  await get(`/v1/subjects/${R1()}/studies`, 'rd4', 200);
  // per-subject answers are cached for 5 s (tile bursts): after that the old reader is refused
  await new Promise((r) => setTimeout(r, 5200));
  await get(`/v1/subjects/${R1()}/studies`, 'rd1', 403);
  await get(`/v1/slides/${slide1.slide.id}.dzi`, 'rd1', 403);
});

test('opening data is audited (once a minute per user and entity); refusals and admin reads write no view entry', async () => {
  const audit = new AuditRepository(rt.db);
  const views = async (actor: string) => (await audit.list({ actor, limit: 1000 })).filter((e) => /\.view$|\.shown$/.test(e.action)).map((e) => `${e.action} ${e.entityType} ${e.entityId}`);
  const rd1 = await views('rd1');
  expect(rd1).toEqual(
    expect.arrayContaining([`subject.view subject ${R1()}`, `slide.view slide ${slide1.slide.id}`, `ai.slide-metrics.shown slide ${slide1.slide.id}`, `ai.proposals.shown subject ${R1()}`]),
  );
  // GET /v1/slides/:id and its .dzi within a minute: one slide.view
  expect(rd1.filter((x) => x === `slide.view slide ${slide1.slide.id}`)).toHaveLength(1);
  // rd3's refused reads left nothing about S1
  expect((await views('rd3')).filter((x) => x.includes(R1()) || x.includes(slide1.slide.id) || x.includes(series1))).toEqual([]);
  expect(await views('admin')).toEqual([]);
  expect(await views('rd2')).toContain(`subject.view series ${series1}`);
  const before = (await views('rd2')).length;
  await get(`/v1/series/${series1}`, 'rd2', 200);
  expect((await views('rd2')).length).toBe(before);
  const sm = (await audit.list({ actor: 'rd1', action: 'ai.slide-metrics.shown' }))[0]!;
  expect(sm.detail).toMatchObject({ runId: slide1.runId, tumourFraction: 0.5, stromalTilPercent: 33.3 });
  expect((await audit.verify()).ok).toBe(true);
});

test('nothing a reader or adjudicator received names the subject id, the original object, the date shift or real dates', () => {
  const all = seen.join('\n');
  expect(all.length).toBeGreaterThan(1000);
  for (const bad of ['SUBJ-SCOPE-0001', 'SUBJ-SCOPE-0002', 'incoming/', slide1.objectKey, 'date_shift', 'dateShift', 'subject_id', 'subjectId', '"arm', '"site', 'original_patient_id'])
    expect(all).not.toContain(bad);
  // real dates = shifted dates moved back by the subject's shift (either sign): none appears
  for (const d of DATES.slice(0, 2)) for (const shift of [17, -17]) expect(all).not.toContain(addDaysYmd(d, shift));
});
