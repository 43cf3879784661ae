/**
 * Slide metrics review (issue 12 §4, slide viewer; migration 0009_review_slides): the reader accepts or overrides the AI
 * pathology metrics of a slide (TIL %, tumour fraction, cellularity) with a reason, or marks one not evaluable. Stored
 * with the AI proposal's value and the reader's, audited per metric, versioned like the rest of the draft, and part of
 * the signed read content (sha256 recomputed here with the `canonicalize` package, independently of the service).
 * The HTTP API on real PostgreSQL (the frozen-after-signing trigger is checked in SQL), plus the pure normaliser.
 */
import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import canonicalizeModule from 'canonicalize';
import { sql } from 'kysely';
import request from 'supertest';
import { AuditRepository } from '@app/db';
import { createRuntime, type Runtime } from '@app/pipeline';
import { normaliseSlideAssessment, SIGNATURE_MEANING, type SlideProposalRow } from '@app/review';
import { createApiApp } from '../../apps/api/src/app';
import { loginAs, TEST_PASSWORD } from '../helpers/auth';
import { createTempDatabase, quietLog, tempDir, testConfig } from '../support/services';
import { DATES, seedSubject, THREE_LESIONS } from './fixtures';
import { seedSlide } from './slide-fixtures';

jest.setTimeout(180000);
const canonicalize = ((canonicalizeModule as unknown as { default?: (v: unknown) => string }).default ?? canonicalizeModule) as unknown as (v: unknown) => string;
const sha = (v: unknown) => createHash('sha256').update(canonicalize(v)).digest('hex');

describe('normaliseSlideAssessment', () => {
  const proposal: SlideProposalRow = { id: 'p1', run_id: 'r1', slide_id: 's1', model: { id: 'm', version: '1', sha256: 'x' }, values: { stromalTilPercent: 40, tumourFraction: 0.6, tumourBedCellularity: null, classes: ['a'] } };
  const ok = { stromalTilPercent: { decision: 'accept' as const }, tumourFraction: { decision: 'override' as const, value: 0.25, reason: 'stroma counted as tumour' }, tumourBedCellularity: { decision: 'not-evaluable' as const, reason: 'crushed tissue' } };
  it('stores the AI value and the reader value per metric', () => {
    const s = normaliseSlideAssessment({ metrics: ok, comment: '  fine ' }, { slideId: 's1', proposal });
    expect(s).toEqual({
      slideId: 's1',
      ai: { proposalId: 'p1', runId: 'r1', model: proposal.model, values: { stromalTilPercent: 40, tumourFraction: 0.6, tumourBedCellularity: null } },
      metrics: [
        { metric: 'stromalTilPercent', unit: 'percent', decision: 'accept', ai: 40, reader: 40, reason: null },
        { metric: 'tumourFraction', unit: 'fraction', decision: 'override', ai: 0.6, reader: 0.25, reason: 'stroma counted as tumour' },
        { metric: 'tumourBedCellularity', unit: 'fraction', decision: 'not-evaluable', ai: null, reader: null, reason: 'crushed tissue' },
      ],
      comment: 'fine',
    });
  });
  it.each([
    ['a missing metric', { stromalTilPercent: ok.stromalTilPercent, tumourFraction: ok.tumourFraction }, /tumourBedCellularity: every metric needs a decision/],
    ['an unknown metric', { ...ok, ki67: { decision: 'accept' } }, /unknown metric\(s\) ki67/],
    ['an override without a reason', { ...ok, tumourFraction: { decision: 'override', value: 0.2 } }, /needs a reason/],
    ['an override without a value', { ...ok, tumourFraction: { decision: 'override', reason: 'x' } }, /needs your value/],
    ['a fraction above 1', { ...ok, tumourFraction: { decision: 'override', value: 25, reason: 'percent by mistake' } }, /outside 0\.\.1/],
    ['a TIL % above 100', { ...ok, stromalTilPercent: { decision: 'override', value: 101, reason: 'x' } }, /outside 0\.\.100/],
    ['accepting a metric the AI gave no value for', { ...ok, tumourBedCellularity: { decision: 'accept' } }, /AI gave no Cellularity/],
    ['not-evaluable without a reason', { ...ok, tumourBedCellularity: { decision: 'not-evaluable' } }, /needs a reason/],
    ['a bad decision', { ...ok, stromalTilPercent: { decision: 'edit' } }, /decision must be one of/],
  ])('refuses %s', (_n, metrics, msg) => {
    expect(() => normaliseSlideAssessment({ metrics: metrics as never }, { slideId: 's1', proposal })).toThrow(msg);
  });
  it('without an AI proposal only override / not-evaluable', () => {
    expect(() => normaliseSlideAssessment({ metrics: ok }, { slideId: 's1', proposal: null })).toThrow(/no AI proposal for this slide to accept/);
    const s = normaliseSlideAssessment({ metrics: { stromalTilPercent: { decision: 'override', value: 5, reason: 'own count' }, tumourFraction: ok.tumourFraction, tumourBedCellularity: ok.tumourBedCellularity } }, { slideId: 's1', proposal: null });
    expect(s.ai).toBeNull();
    expect(s.metrics.map((m) => [m.ai, m.reader])).toEqual([[null, 5], [null, 0.25], [null, null]]);
  });
});

describe('slide metrics review over HTTP (PostgreSQL)', () => {
  let pg: { url: string; drop: () => Promise<void> };
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let rt: Runtime;
  let app: INestApplication;
  const http = () => request(app.getHttpServer());
  const tok: Record<string, string> = {};
  let subj: Awaited<ReturnType<typeof seedSubject>>;
  let slideA: Awaited<ReturnType<typeof seedSlide>>;
  let slideB: Awaited<ReturnType<typeof seedSlide>>;
  let slideOther: Awaited<ReturnType<typeof seedSlide>>;
  const caseOf: Record<string, string> = {};
  let version = 0;
  const audit = () => new AuditRepository(rt.db);
  const A_METRICS = { tumourFraction: 0.5, stromalTilPercent: 33.3, tumourBedCellularity: 0.45 };
  const body = (extra: Record<string, unknown> = {}) => ({
    version,
    proposalId: slideA.proposalId,
    metrics: {
      stromalTilPercent: { decision: 'override', value: 20, reason: 'lymphocytes in tumour nests counted as stromal' },
      tumourFraction: { decision: 'accept' },
      tumourBedCellularity: { decision: 'not-evaluable', reason: 'cautery artefact' },
    },
    ...extra,
  });
  const put = (slideId: string, b: unknown, who = 'rd1') => http().put(`/v1/review/cases/${caseOf[who]}/slides/${slideId}`).set('authorization', tok[who]!).send(b as object);
  const rows = () => rt.db.selectFrom('review_slide_assessments').selectAll().execute();

  beforeAll(async () => {
    pg = await createTempDatabase();
    dir = await tempDir();
    rt = await createRuntime({ config: testConfig({ DATABASE_URL: pg.url, DATA_DIR: dir.path, AUTH_JWT_SECRET: 'slides-review-secret-0123456789abcdef-0' }), log: quietLog() });
    app = await createApiApp(rt);
    await app.init();
    for (const [name, roles] of [['rd1', ['reader']], ['rd2', ['reader']], ['admin', ['admin']]] as const) tok[name] = `Bearer ${(await loginAs(app, [...roles], { username: name, displayName: `Dr ${name}` })).token}`;
    subj = await seedSubject(rt.db, { protocolId: 'P-SL', subjectId: 'SL1', shiftDays: 9, dates: DATES.slice(0, 1), lesions: THREE_LESIONS });
    const other = await seedSubject(rt.db, { protocolId: 'P-SL2', subjectId: 'SL2', shiftDays: 9, dates: DATES.slice(0, 1), lesions: THREE_LESIONS });
    slideA = await seedSlide(rt, { subjectUuid: subj.subject.id, metrics: A_METRICS });
    // the AI could not compute a TIL % on slide B (no stroma: NaN, stored as null)
    slideB = await seedSlide(rt, { subjectUuid: subj.subject.id, metrics: { tumourFraction: 0.9, stromalTilPercent: NaN, tumourBedCellularity: 0.9 } });
    slideOther = await seedSlide(rt, { subjectUuid: other.subject.id, metrics: A_METRICS });
    const a = await http().post('/v1/review/assignments').set('authorization', tok.admin!).send({ studyId: 'P-SL', readers: ['rd1', 'rd2'], capacity: 3, seed: 1 }).expect(201);
    for (const c of a.body.cases) caseOf[c.reader] = c.caseId;
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await dir?.remove();
    await pg?.drop();
  });

  test('the case view lists the subject’s slides with the AI metrics; showing them is audited once per read', async () => {
    const v = (await http().get(`/v1/review/cases/${caseOf.rd1}`).set('authorization', tok.rd1!).expect(200)).body;
    version = v.read.version;
    expect(v.slides.map((s: { slideId: string }) => s.slideId).sort()).toEqual([slideA.slide.id, slideB.slide.id].sort());
    const a = v.slides.find((s: { slideId: string }) => s.slideId === slideA.slide.id);
    expect(a).toMatchObject({ dzi: `/v1/slides/${slideA.slide.id}.dzi`, heatmap: `/v1/ai/slides/${slideA.slide.id}/heatmap.png`, ai: { proposalId: slideA.proposalId, runId: slideA.runId, values: A_METRICS }, assessment: null });
    expect(v.slides.find((s: { slideId: string }) => s.slideId === slideB.slide.id).ai.values.stromalTilPercent).toBeNull();
    await http().get(`/v1/review/cases/${caseOf.rd1}`).set('authorization', tok.rd1!).expect(200);
    const shown = await audit().list({ action: 'proposal.shown', entityId: slideA.proposalId! });
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ actor: 'rd1', after: { kind: 'slide', ...A_METRICS }, detail: { slideId: slideA.slide.id } });
  });

  test('bad saves are refused with clear codes and save nothing', async () => {
    const bad = async (b: unknown, status: number, code: string, msg?: RegExp, slideId = slideA.slide.id, who = 'rd1') => {
      const r = await put(slideId, b, who).expect(status);
      expect(r.body.code).toBe(code);
      if (msg) expect(r.body.message).toMatch(msg);
    };
    await bad(body({ metrics: { ...body().metrics, stromalTilPercent: { decision: 'override', value: 20 } } }), 400, 'review.invalid', /needs a reason/);
    await bad(body({ metrics: { ...body().metrics, tumourFraction: { decision: 'override', value: 50, reason: 'x' } } }), 400, 'review.invalid', /outside 0\.\.1/);
    await bad(body({ proposalId: undefined }), 400, 'review.invalid', /proposalId/);
    await bad(body({ proposalId: slideB.proposalId }), 400, 'review.invalid', /not an AI proposal of slide/);
    await bad(body({ proposalId: slideB.proposalId, metrics: { ...body().metrics, stromalTilPercent: { decision: 'accept' } } }), 400, 'review.invalid', /AI gave no TIL %/, slideB.slide.id);
    await bad(body({ proposalId: slideOther.proposalId }), 404, 'review.not-found', /has no slide/, slideOther.slide.id);
    await bad(body(), 404, 'review.not-found', undefined, 'not-a-uuid');
    await bad(body({ version: version + 5 }), 409, 'review.stale-version');
    // rd2 on rd1's case
    const r = await http().put(`/v1/review/cases/${caseOf.rd1}/slides/${slideA.slide.id}`).set('authorization', tok.rd2!).send(body()).expect(403);
    expect(r.body.code).toBe('review.not-assigned');
    await http().put(`/v1/review/cases/${caseOf.rd1}/slides/${slideA.slide.id}`).set('authorization', tok.admin!).send(body()).expect(403);
    expect(await rows()).toEqual([]);
    expect(await audit().list({ action: 'slide.save' })).toEqual([]);
  });

  test('a save stores the AI value and the reader value per metric, bumps the version, audits each decision; a double submit replays', async () => {
    const res = await put(slideA.slide.id, body({ requestId: 'slide-save-0001', comment: 'hot spots in the upper left' })).expect(200);
    expect(res.body.version).toBe(version + 1);
    expect(res.body.slide.metrics).toEqual([
      { metric: 'stromalTilPercent', unit: 'percent', decision: 'override', ai: 33.3, reader: 20, reason: 'lymphocytes in tumour nests counted as stromal' },
      { metric: 'tumourFraction', unit: 'fraction', decision: 'accept', ai: 0.5, reader: 0.5, reason: null },
      { metric: 'tumourBedCellularity', unit: 'fraction', decision: 'not-evaluable', ai: 0.45, reader: null, reason: 'cautery artefact' },
    ]);
    const again = await put(slideA.slide.id, body({ requestId: 'slide-save-0001', comment: 'hot spots in the upper left' })).expect(200);
    expect(again.body).toMatchObject({ replayed: true, version: version + 1 });
    version += 1;
    const stored = await rows();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ slide_id: slideA.slide.id, ai_proposal_id: slideA.proposalId, saved_by: 'rd1' });
    expect(stored[0]!.assessment).toMatchObject({ ai: { values: A_METRICS }, comment: 'hot spots in the upper left' });
    const ov = await audit().list({ action: 'slide-metric.override' });
    expect(ov).toHaveLength(1);
    expect(ov[0]).toMatchObject({ actor: 'rd1', before: { ai: 33.3 }, after: { decision: 'override', value: 20 }, detail: { metric: 'stromalTilPercent', ai: 33.3, proposalId: slideA.proposalId, slideId: slideA.slide.id } });
    expect(await audit().list({ action: 'slide-metric.accept' })).toHaveLength(1);
    expect(await audit().list({ action: 'slide-metric.not-evaluable' })).toHaveLength(1);
    expect(await audit().list({ action: 'slide.save' })).toHaveLength(1);
    // the case view returns the saved assessment
    const v = (await http().get(`/v1/review/cases/${caseOf.rd1}`).set('authorization', tok.rd1!).expect(200)).body;
    expect(v.read.version).toBe(version);
    expect(v.slides.find((s: { slideId: string }) => s.slideId === slideA.slide.id).assessment.metrics[0]).toMatchObject({ reader: 20, ai: 33.3 });
    // re-saving an unchanged metric writes no new per-metric entry, a changed one does (old value -> new)
    await put(slideA.slide.id, body({ metrics: { ...body().metrics, stromalTilPercent: { decision: 'override', value: 22, reason: 'recounted' } } })).expect(200);
    version += 1;
    const ov2 = await audit().list({ action: 'slide-metric.override' });
    expect(ov2).toHaveLength(2);
    expect(ov2[0]).toMatchObject({ before: { decision: 'override', value: 20 }, after: { value: 22, reason: 'recounted' }, detail: { resaved: true } });
    expect(await audit().list({ action: 'slide-metric.accept' })).toHaveLength(1);
  });

  test('signing binds the slide review: the signed content carries it (sha256 recomputed independently), slides left unreviewed are named', async () => {
    const v = (await http().get(`/v1/review/cases/${caseOf.rd1}`).set('authorization', tok.rd1!).expect(200)).body;
    const tp = v.timepoints[0];
    const saved = await http().put(`/v1/review/cases/${caseOf.rd1}/timepoints/${tp.timePointId}`).set('authorization', tok.rd1!).send({ version, lesions: tp.proposals.map((p: { proposalId: string }) => ({ proposalId: p.proposalId, decision: 'accept', classification: 'target' })) }).expect(200);
    version = saved.body.version;
    const signed = await http().post(`/v1/review/cases/${caseOf.rd1}/sign`).set('authorization', tok.rd1!).send({ version, password: TEST_PASSWORD, meaning: SIGNATURE_MEANING }).expect(200);
    version = signed.body.version;
    const sig = await rt.db.selectFrom('review_signatures').selectAll().where('id', '=', signed.body.signature.signatureId).executeTakeFirstOrThrow();
    const content = sig.content as { slides: { slideId: string; metrics: { reader: number | null }[] }[]; slidesNotReviewed: string[] };
    expect(sha(content)).toBe(signed.body.signature.contentSha256);
    expect(content.slides).toHaveLength(1);
    expect(content.slides[0]).toMatchObject({ slideId: slideA.slide.id, ai: { proposalId: slideA.proposalId, values: A_METRICS } });
    expect(content.slides[0]!.metrics.map((m) => m.reader)).toEqual([22, 0.5, null]);
    expect(content.slidesNotReviewed).toEqual([slideB.slide.id]);
    // immutable: the API answers 409, the database refuses even a direct UPDATE
    expect((await put(slideA.slide.id, body()).expect(409)).body.code).toBe('review.read-signed');
    await expect(sql`update review_slide_assessments set assessment = '{}'::jsonb`.execute(rt.db)).rejects.toThrow(/signed and immutable/);
    await expect(sql`delete from review_slide_assessments`.execute(rt.db)).rejects.toThrow(/signed and immutable/);
    const exp = (await http().get(`/v1/review/cases/${caseOf.rd1}/export`).set('authorization', tok.rd1!).expect(200)).body;
    expect(exp.reads[0]).toMatchObject({ signatureValid: true, slides: content.slides });
  });

  test('a correction carries the slide review into the new revision; a stored assessment altered behind the trigger no longer matches its signature', async () => {
    const c = await http().post(`/v1/review/cases/${caseOf.rd1}/corrections`).set('authorization', tok.rd1!).send({ version, reason: 'slide B not reviewed' }).expect(201);
    version = c.body.version;
    const v = (await http().get(`/v1/review/cases/${caseOf.rd1}`).set('authorization', tok.rd1!).expect(200)).body;
    expect(v.read.revision).toBe(2);
    expect(v.slides.find((s: { slideId: string }) => s.slideId === slideA.slide.id).assessment.metrics.map((m: { reader: number | null }) => m.reader)).toEqual([22, 0.5, null]);
    const b = await put(slideB.slide.id, { version, proposalId: slideB.proposalId, metrics: { stromalTilPercent: { decision: 'override', value: 5, reason: 'sparse stroma, estimated' }, tumourFraction: { decision: 'accept' }, tumourBedCellularity: { decision: 'accept' } } }).expect(200);
    version = b.body.version;
    expect(b.body.slide.metrics[0]).toEqual({ metric: 'stromalTilPercent', unit: 'percent', decision: 'override', ai: null, reader: 5, reason: 'sparse stroma, estimated' });
    const s2 = await http().post(`/v1/review/cases/${caseOf.rd1}/sign`).set('authorization', tok.rd1!).send({ version, password: TEST_PASSWORD, meaning: SIGNATURE_MEANING }).expect(200);
    const sig2 = await rt.db.selectFrom('review_signatures').select('content').where('id', '=', s2.body.signature.signatureId).executeTakeFirstOrThrow();
    expect((sig2.content as { slides: unknown[]; slidesNotReviewed: string[] }).slides).toHaveLength(2);
    expect((sig2.content as { slidesNotReviewed: string[] }).slidesNotReviewed).toEqual([]);
    // a superuser with triggers off rewrites revision 1's reader value: the export says the signature no longer holds
    const rev1 = (await rt.db.selectFrom('review_reads').select('id').where('case_id', '=', caseOf.rd1!).where('revision', '=', 1).executeTakeFirstOrThrow()).id;
    await rt.db.transaction().execute(async (trx) => {
      await sql`set local session_replication_role = replica`.execute(trx);
      await sql`update review_slide_assessments set assessment = jsonb_set(assessment, '{metrics,0,reader}', '35') where read_id = ${rev1}::uuid`.execute(trx);
    });
    const exp = (await http().get(`/v1/review/cases/${caseOf.rd1}/export`).set('authorization', tok.rd1!).expect(200)).body;
    expect(exp.reads.map((r: { revision: number; signatureValid: boolean }) => [r.revision, r.signatureValid])).toEqual([[1, false], [2, true]]);
    expect((await audit().verify()).ok).toBe(true);
  });
});
