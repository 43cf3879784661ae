/**
 * The review workflow on real PostgreSQL, through ReviewService (libs/review) on a real runtime:
 * assignment, reading order, accept / edit / reject / add with the AI's and the reader's values both stored,
 * measurement outside the image, stale version, double submit, wrong password, edit after signing, correction,
 * adjudication on disagreement (and none on agreement), the BICR and per-reader study inputs and their cuts
 * (reader, adjudicator, selection, RSEVAL / RSEVALID), the audit trail, reassignment when a reader leaves.
 */
import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { sql } from 'kysely';
import { canonicalJson } from '@app/audit';
import { readDataset } from '@app/datasets';
import { AuditRepository, EndpointsRepository } from '@app/db';
import { createDataCut, createRuntime, type Runtime } from '@app/pipeline';
import { type Actor, type LesionInput, ReviewService, SIGNATURE_MEANING, type StoredTimepoint } from '@app/review';
import { quietLog, createTempDatabase, tempDir, testConfig } from '../support/services';
import { addDaysYmd, DATES, ijkToMm, makeUsers, PASSWORD, seedSubject, THREE_LESIONS } from './fixtures';

jest.setTimeout(120000);

const canonicalize = ((canonicalizeModule as unknown as { default?: (v: unknown) => string }).default ?? canonicalizeModule) as unknown as (v: unknown) => string;
const STUDY = 'P-REV';
const SHIFT = 30;
let pg: { url: string; drop: () => Promise<void> };
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let svc: ReviewService;
let u: Record<string, Actor>;
let A: Awaited<ReturnType<typeof seedSubject>>;
let B: Awaited<ReturnType<typeof seedSubject>>;
const caseOf: Record<string, string> = {};
const isoOf = (ymd: string) => `${ymd.slice(0, 4)}-${ymd.slice(4, 6)}-${ymd.slice(6, 8)}`;
const realIso = (ymd: string) => isoOf(addDaysYmd(ymd, -SHIFT));
const audit = () => new AuditRepository(rt.db);
const expectRefusal = async (p: Promise<unknown>, status: number, code: string) => {
  await expect(p).rejects.toMatchObject({ status, code });
};

beforeAll(async () => {
  pg = await createTempDatabase();
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATABASE_URL: pg.url, DATA_DIR: dir.path }), log: quietLog() });
  const made = await makeUsers(rt.db, [
    { username: 'r1', roles: ['reader'], displayName: 'Dr Ada Reader' },
    { username: 'r2', roles: ['reader'] },
    { username: 'r3', roles: ['reader'] },
    { username: 'adj1', roles: ['adjudicator'] },
    { username: 'boss', roles: ['admin'] },
  ]);
  u = made.users;
  svc = new ReviewService({ db: rt.db, verifyPassword: (id, pw) => made.auth.checkPassword(id, pw) });
  // subject A: a new lesion appears at FU2 (the AI proposes it)
  A = await seedSubject(rt.db, { protocolId: STUDY, subjectId: 'A01', shiftDays: SHIFT, dates: DATES, lesions: [...THREE_LESIONS, { uid: '2.25.904', trackingId: 'T04 liver', organ: 'LIVER', nodal: false, long: [null, null, 15], short: [null, null, 10], status: ['', '', 'new'] }] });
  B = await seedSubject(rt.db, { protocolId: STUDY, subjectId: 'B02', shiftDays: SHIFT, dates: DATES, lesions: THREE_LESIONS });
  // the study's own input (sponsor data): randomisation 3 days before the real baseline, arms
  const facts = (usubjid: string) => ({ usubjid, arm: 'Drug X', armCd: 'X', randDate: realIso(addDaysYmd(DATES[0]!, -3)), assessments: [] });
  const input = { studyId: STUDY, subjects: [facts('P-REV-A01'), facts('P-REV-B02')] };
  await new EndpointsRepository(rt.db).addStudyInput({ study_id: STUDY, source: 'sdtm-import', issues: '[]', created_by: 'test' }, input, canonicalJson);
});

afterAll(async () => {
  await rt?.close();
  await pg?.drop();
  await dir?.remove();
});

const proposalsAt = async (caseId: string, reader: Actor, tp: string) => {
  const v = await svc.openCase(reader, caseId);
  const t = v.timepoints.find((x) => x.timePointId === tp)!;
  const by = (id: string) => t.proposals.find((p) => p.trackingId === id)!.proposalId;
  return { view: v, by, tp: t };
};

test('assignment: seeded, two distinct readers per subject, within capacity, recorded; over capacity is refused', async () => {
  await expectRefusal(svc.assign(u.boss!, { studyId: STUDY, readers: ['r1', 'r2'], capacity: 1, seed: 11 }), 409, 'review.capacity');
  const run = await svc.assign(u.boss!, { studyId: STUDY, readers: ['r1', 'r2'], capacity: 2, seed: 11, adjudicators: ['adj1'] });
  expect(run.seed).toBe(11);
  expect(run.cases).toHaveLength(4);
  for (const s of [A, B]) {
    const mine = run.cases.filter((c) => c.readingId === s.subject.reading_id);
    expect(mine.map((c) => c.reader).sort()).toEqual(['r1', 'r2']);
    expect(mine.map((c) => c.slot).sort()).toEqual([1, 2]);
    for (const c of mine) caseOf[`${c.reader}:${s.subject.reading_id}`] = c.caseId;
  }
  // each reader's order is a permutation 0..n-1
  for (const r of ['r1', 'r2']) expect(run.cases.filter((c) => c.reader === r).map((c) => c.order).sort()).toEqual([0, 1]);
  const listed = await svc.listAssignments(STUDY);
  expect(listed.runs).toHaveLength(1);
  expect(listed.runs[0]).toMatchObject({ seed: 11, capacity: 2, kind: 'assign' });
  const entry = (await audit().list({ action: 'assignment.create' }))[0]!;
  expect(entry.after).toMatchObject({ seed: 11, capacity: 2, readers: ['r1', 'r2'] });
  // assigning again finds nothing open
  const again = await svc.assign(u.boss!, { studyId: STUDY, readers: ['r1', 'r2'], capacity: 2, seed: 12 });
  expect(again.cases).toEqual([]);
  // the worklist is the reader's own cases in the recorded order
  const wl = await svc.worklist(u.r1!);
  expect(wl.cases.map((c) => c.order)).toEqual([0, 1]);
  expect(wl.cases.every((c) => c.status === 'not-started' && c.timepoints === 3)).toBe(true);
});

test('a case opens blinded, baseline first; follow-ups are locked; another reader gets 403', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  await expectRefusal(svc.openCase(u.r3!, id), 403, 'review.not-assigned');
  await expectRefusal(svc.openCase(u.r2!, id), 403, 'review.not-assigned');
  const v = await svc.openCase(u.r1!, id);
  expect(v.readingId).toBe(A.subject.reading_id);
  expect(v.timepoints.map((t) => [t.timePointId, t.state, t.date, t.dayFromBaseline])).toEqual([
    ['BL', 'next', isoOf(DATES[0]!), 0],
    ['FU1', 'locked', isoOf(DATES[1]!), 49],
    ['FU2', 'locked', isoOf(DATES[2]!), 98],
  ]);
  expect(v.timepoints[0]!.proposals.map((p) => p.trackingId).sort()).toEqual(['T01 liver', 'T02 lung', 'T03 node']);
  expect(v.timepoints[1]!.proposals).toEqual([]);
  expect(v.timepoints[0]!.studies[0]!.series[0]!.seriesInstanceUid).toBe(A.tps[0]!.seriesUid);
  expect(v.signing).toEqual({ meaning: SIGNATURE_MEANING, printedName: 'Dr Ada Reader' });
  const json = JSON.stringify(v);
  for (const banned of ['Drug X', 'P-REV-A01', 'A01"', realIso(DATES[0]!)]) expect(json).not.toContain(banned);
  expect((await audit().list({ action: 'case.view', entityId: id })).length).toBe(1);
  // each proposal shown is audited once per read revision
  await svc.openCase(u.r1!, id);
  expect((await audit().list({ action: 'proposal.shown', actor: 'r1' })).length).toBe(3);
});

test('reading order: a follow-up before the baseline is refused', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'FU1', { version: 1, lesions: [] }), 409, 'review.timepoint-order');
});

test('baseline: accept, edit (length from the image geometry), reject with reason, add; AI and reader values both stored', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  const { by, view } = await proposalsAt(id, u.r1!, 'BL');
  const lesions: LesionInput[] = [
    { proposalId: by('T01 liver'), decision: 'accept', classification: 'target' },
    { proposalId: by('T02 lung'), decision: 'edit', classification: 'target', longAxis: { p1: { ijk: [60, 70, 10] }, p2: { ijk: [72, 79, 10] } } },
    { proposalId: by('T03 node'), decision: 'reject', reason: 'reactive node, not tumour' },
    { decision: 'add', classification: 'target', organ: 'liver', longAxis: { p1: { mm: ijkToMm(100, 100, 12) }, p2: { mm: ijkToMm(100, 108, 12) } } },
  ];
  // a reject without a reason, an undecided proposal, a point outside the image: refused, nothing saved
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'BL', { version: view.read.version, lesions: lesions.map((l) => (l.decision === 'reject' ? { ...l, reason: ' ' } : l)) }), 400, 'review.invalid');
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'BL', { version: view.read.version, lesions: lesions.slice(1) }), 400, 'review.invalid');
  await expectRefusal(
    svc.saveTimepoint(u.r1!, id, 'BL', { version: view.read.version, lesions: lesions.map((l, i) => (i === 1 ? { ...l, longAxis: { p1: { ijk: [60, 70, 10] }, p2: { ijk: [170, 10, 5] } } } : l)) }),
    400,
    'review.measurement-outside-image',
  );
  const saved = await svc.saveTimepoint(u.r1!, id, 'BL', { version: view.read.version, lesions });
  expect(saved.version).toBe(view.read.version + 1);
  const L = (label: string) => saved.timepoint.lesions.find((l) => l.label === label)!;
  // accept: the reader's value is the AI's
  expect(L('T01 liver').ai).toMatchObject({ longAxisMm: 40, present: true });
  expect(L('T01 liver').reader).toMatchObject({ longAxisMm: 40, diameterTenths: 400, value: 'MEASURED', from: 'ai' });
  // edit: 12 x 9 voxels of 2.25 mm = 27 x 20.25 mm: a 3-4-5 triangle of 33.75 mm; the AI's 25 mm kept beside it
  expect(L('T02 lung').ai!.longAxisMm).toBe(25);
  expect(L('T02 lung').reader).toMatchObject({ longAxisMm: 33.75, diameterTenths: 338, from: 'reader' });
  expect(L('T02 lung').reader!.longAxis!.p2Mm).toEqual(ijkToMm(72, 79, 10));
  // reject: the reason and the AI's value
  expect(L('T03 node')).toMatchObject({ decision: 'reject', reason: 'reactive node, not tumour', classification: null, reader: null });
  expect(L('T03 node').ai).toMatchObject({ shortAxisMm: 18, nodal: true });
  // add (given in patient mm): 8 voxels of 2.25 mm
  expect(L('R01')).toMatchObject({ decision: 'add', ai: null, organ: 'LIVER', classification: 'target' });
  expect(L('R01').reader).toMatchObject({ longAxisMm: 18, diameterTenths: 180 });
  // the engine's live table: baseline sum 40 + 33.8 + 18
  expect(saved.recist.rows[0]).toMatchObject({ visit: 'BASELINE', sumMm: 91.8 });
  // audit: one entry per decision with the AI value before and the reader's after
  const edits = await audit().list({ action: 'lesion.edit', actor: 'r1' });
  expect(edits).toHaveLength(1);
  expect(edits[0]!.before).toMatchObject({ longAxisMm: 25 });
  expect(edits[0]!.after).toMatchObject({ longAxisMm: 33.75 });
  expect((await audit().list({ action: 'lesion.reject', actor: 'r1' }))[0]!.after).toMatchObject({ rejected: true, reason: 'reactive node, not tumour' });
  expect((await audit().list({ action: 'lesion.add', actor: 'r1' }))[0]!.before).toBeNull();
  // the database row holds both values too
  const row = await rt.db.selectFrom('review_timepoints').select('assessment').where('read_id', '=', saved.readId).where('time_point_id', '=', 'BL').executeTakeFirstOrThrow();
  const stored = row.assessment as unknown as StoredTimepoint;
  expect(stored.lesions.find((l) => l.label === 'T02 lung')).toMatchObject({ ai: { longAxisMm: 25 }, reader: { longAxisMm: 33.75 } });
});

test('stale version (two tabs) is refused with 409 and the current version', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  const { by } = await proposalsAt(id, u.r1!, 'BL');
  const p = svc.saveTimepoint(u.r1!, id, 'BL', { version: 1, lesions: [{ proposalId: by('T01 liver'), decision: 'accept', classification: 'target' }] });
  await expect(p).rejects.toMatchObject({ status: 409, code: 'review.stale-version', details: { currentVersion: 2, sentVersion: 1 } });
});

const fu1R1 = (by: (id: string) => string, r01: string): LesionInput[] => [
  { proposalId: by('T01 liver'), decision: 'accept' },
  { proposalId: by('T02 lung'), decision: 'accept' },
  { proposalId: by('T03 node'), decision: 'reject', reason: 'reactive node, not tumour' },
  { decision: 'add', lesionKey: r01, longAxis: { p1: { ijk: [100, 100, 12] }, p2: { ijk: [100, 104, 12] } } },
];

test('double submit: the same requestId replays the first answer and changes nothing; reused with another body: 409', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  const { by, view } = await proposalsAt(id, u.r1!, 'FU1');
  const r01 = view.baselineLesions.find((l) => l.label === 'R01')!.lesionKey;
  const body = { version: view.read.version, requestId: 'req-fu1-0001', lesions: fu1R1(by, r01) };
  const before = (await audit().list({ limit: 1000 })).length;
  const [first, second] = await Promise.all([svc.saveTimepoint(u.r1!, id, 'FU1', body), svc.saveTimepoint(u.r1!, id, 'FU1', body)]);
  expect([first.replayed ?? false, second.replayed ?? false].sort()).toEqual([false, true]);
  expect(second.version).toBe(first.version);
  expect(first.version).toBe(view.read.version + 1);
  const after = (await audit().list({ limit: 1000 })).length;
  expect(after - before).toBe(5); // 4 lesion decisions + timepoint.save, once
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'FU1', { ...body, lesions: body.lesions.slice(0, 3) }), 409, 'review.request-id-reused');
  // without a request id a repeated save carries a stale version: refused
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'FU1', { ...body, requestId: undefined }), 409, 'review.stale-version');
  // at a follow-up, every baseline lesion must be assessed
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'FU1', { version: first.version, lesions: fu1R1(by, r01).slice(0, 3) }), 400, 'review.invalid');
});

test('signing: incomplete refused, wrong password refused (audited), then signed with the manifestation and the content hash', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  let v = await svc.openCase(u.r1!, id);
  await expectRefusal(svc.sign(u.r1!, id, { version: v.read.version, password: PASSWORD, meaning: SIGNATURE_MEANING }), 409, 'review.incomplete');
  const fu2 = v.timepoints.find((t) => t.timePointId === 'FU2')!;
  const by = (x: string) => fu2.proposals.find((p) => p.trackingId === x)!.proposalId;
  const r01 = v.baselineLesions.find((l) => l.label === 'R01')!.lesionKey;
  await svc.saveTimepoint(u.r1!, id, 'FU2', {
    version: v.read.version,
    lesions: [
      { proposalId: by('T01 liver'), decision: 'accept' },
      { proposalId: by('T02 lung'), decision: 'accept' },
      { proposalId: by('T03 node'), decision: 'reject', reason: 'reactive node, not tumour' },
      { proposalId: by('T04 liver'), decision: 'reject', reason: 'perfusion artefact' },
      { decision: 'add', lesionKey: r01, longAxis: { p1: { ijk: [100, 100, 12] }, p2: { ijk: [100, 104, 12] } } },
    ],
  });
  v = await svc.openCase(u.r1!, id);
  // the engine: 91.8 -> 59.0 (PR) -> 55.0 (PR, confirmed 49 days later)
  const rec = (await svc.recist(u.r1!, id)) as { rows: { overallResponse: string; sumMm: number }[]; bor: string; confirmedBor: string };
  expect(rec.rows.map((r) => [r.sumMm, r.overallResponse])).toEqual([[91.8, null], [59, 'PR'], [55, 'PR']]);
  expect([rec.bor, rec.confirmedBor]).toEqual(['PR', 'PR']);
  await expectRefusal(svc.sign(u.r1!, id, { version: v.read.version, password: 'wrong password!!', meaning: SIGNATURE_MEANING }), 403, 'signature.invalid-password');
  expect((await audit().list({ action: 'read.sign.refused', actor: 'r1' })).length).toBe(1);
  await expectRefusal(svc.sign(u.r1!, id, { version: v.read.version, password: PASSWORD, meaning: 'ok' }), 400, 'review.invalid');
  const s = await svc.sign(u.r1!, id, { version: v.read.version, password: PASSWORD, meaning: SIGNATURE_MEANING });
  expect(s.status).toBe('signed');
  expect(s.signature).toMatchObject({ printedName: 'Dr Ada Reader', username: 'r1', meaning: SIGNATURE_MEANING, entity: 'read' });
  // the hash is sha256 over the RFC 8785 form of the stored signed content, which holds the timepoints as saved
  const sig = await rt.db.selectFrom('review_signatures').selectAll().where('id', '=', s.signature.signatureId).executeTakeFirstOrThrow();
  expect(createHash('sha256').update(canonicalize(sig.content)).digest('hex')).toBe(s.signature.contentSha256);
  const tps = (await rt.db.selectFrom('review_timepoints').select('assessment').where('read_id', '=', s.readId).orderBy('ordinal').execute()).map((r) => r.assessment);
  expect((sig.content as { timepoints: unknown }).timepoints).toEqual(tps);
  expect((await audit().list({ action: 'read.sign', entityId: s.readId }))[0]!.after).toMatchObject({ contentSha256: s.signature.contentSha256, printedName: 'Dr Ada Reader' });
  // the manifestation comes with the case view
  expect((await svc.openCase(u.r1!, id)).read.signature).toEqual(s.signature);
});

test('a signed read is immutable (API 409 and the database); a correction is a new revision with a reason and a new signature', async () => {
  const id = caseOf[`r1:${A.subject.reading_id}`]!;
  let v = await svc.openCase(u.r1!, id);
  const bl = v.timepoints[0]!;
  const by = (x: string) => bl.proposals.find((p) => p.trackingId === x)!.proposalId;
  await expectRefusal(svc.saveTimepoint(u.r1!, id, 'BL', { version: v.read.version, lesions: [{ proposalId: by('T01 liver'), decision: 'accept', classification: 'target' }] }), 409, 'review.read-signed');
  await expect(sql`update review_reads set version = version + 1 where id = ${v.read.readId}`.execute(rt.db)).rejects.toThrow(/signed and immutable/);
  await expect(sql`update review_timepoints set ordinal = 9 where read_id = ${v.read.readId}`.execute(rt.db)).rejects.toThrow(/signed and immutable/);
  await expectRefusal(svc.startCorrection(u.r1!, id, { version: v.read.version, reason: '' }), 400, 'review.invalid');
  const c = await svc.startCorrection(u.r1!, id, { version: v.read.version, reason: 'R01 measured on the wrong slice at FU2' });
  expect(c).toMatchObject({ revision: 2, status: 'draft' });
  v = await svc.openCase(u.r1!, id);
  expect(v.read).toMatchObject({ revision: 2, status: 'draft', correctionReason: 'R01 measured on the wrong slice at FU2' });
  expect(v.read.history[0]!.signature).not.toBeNull();
  const fu2 = v.timepoints[2]!;
  const by2 = (x: string) => fu2.proposals.find((p) => p.trackingId === x)!.proposalId;
  const r01 = v.baselineLesions.find((l) => l.label === 'R01')!.lesionKey;
  const saved = await svc.saveTimepoint(u.r1!, id, 'FU2', {
    version: v.read.version,
    lesions: [
      { proposalId: by2('T01 liver'), decision: 'accept' },
      { proposalId: by2('T02 lung'), decision: 'accept' },
      { proposalId: by2('T03 node'), decision: 'reject', reason: 'reactive node, not tumour' },
      { proposalId: by2('T04 liver'), decision: 'reject', reason: 'perfusion artefact' },
      { decision: 'add', lesionKey: r01, longAxis: { p1: { ijk: [100, 100, 13] }, p2: { ijk: [100, 105, 13] } } },
    ],
  });
  const s2 = await svc.sign(u.r1!, id, { version: saved.version, password: PASSWORD, meaning: SIGNATURE_MEANING });
  expect(s2.revision).toBe(2);
  const ex = await svc.exportCase(u.r1!, id);
  expect(ex.reads.map((r) => [r.revision, r.status, !!r.signature, r.signatureValid])).toEqual([[1, 'signed', true, true], [2, 'signed', true, true]]);
  expect(ex.reads[1]!.signature!.contentSha256).not.toBe(ex.reads[0]!.signature!.contentSha256);
  expect((await audit().list({ action: 'read.correction', actor: 'r1' }))[0]!.detail).toMatchObject({ reason: 'R01 measured on the wrong slice at FU2' });
});

/** Reads a subject accepting every proposal (targets at baseline; new lesions accepted as new) and signs. */
async function readAllAccept(reader: Actor, caseId: string) {
  let v = await svc.openCase(reader, caseId);
  for (const tp of v.timepoints) {
    v = await svc.openCase(reader, caseId);
    const t = v.timepoints.find((x) => x.timePointId === tp.timePointId)!;
    const lesions: LesionInput[] = t.proposals.map((p) => ({ proposalId: p.proposalId, decision: 'accept', ...(t.ordinal === 0 ? { classification: 'target' as const } : {}) }));
    await svc.saveTimepoint(reader, caseId, tp.timePointId, { version: v.read.version, lesions });
  }
  v = await svc.openCase(reader, caseId);
  return svc.sign(reader, caseId, { version: v.read.version, password: PASSWORD, meaning: SIGNATURE_MEANING });
}

test('disagreement on BOR and PD date (by the endpoint engine) creates an adjudication task; agreement does not', async () => {
  // subject A: r2 accepts everything: the new liver lesion at FU2 makes PD (r1: PR)
  await readAllAccept(u.r2!, caseOf[`r2:${A.subject.reading_id}`]!);
  const adj = await rt.db.selectFrom('review_adjudications').selectAll().where('subject_uuid', '=', A.subject.id).execute();
  expect(adj).toHaveLength(1);
  expect(adj[0]!.adjudicator_id).toBe(u.adj1!.id);
  const cmp = await rt.db.selectFrom('review_comparisons').selectAll().where('id', '=', adj[0]!.comparison_id).executeTakeFirstOrThrow();
  const d = cmp.detail as { read1: { confirmedBor: string; pdDate: string | null }; read2: { confirmedBor: string; pdDate: string | null }; disagreements: { rule: string }[] };
  const r1Slot = (await rt.db.selectFrom('review_cases').select('slot').where('id', '=', caseOf[`r1:${A.subject.reading_id}`]!).executeTakeFirstOrThrow()).slot;
  const [r1o, r2o] = r1Slot === 1 ? [d.read1, d.read2] : [d.read2, d.read1];
  expect(r1o).toMatchObject({ confirmedBor: 'PR', pdDate: null });
  // r2: 83 -> 65 (SD) -> 58 with a new lesion: PD at FU2 (the reader's, date-shifted, date)
  expect(r2o).toMatchObject({ confirmedBor: 'SD', pdDate: isoOf(DATES[2]!) });
  expect(d.disagreements.map((x) => x.rule).sort()).toEqual(['CBOR', 'PD_DATE']);
  // subject B: both accept everything -> the same outcome, no task
  await readAllAccept(u.r1!, caseOf[`r1:${B.subject.reading_id}`]!);
  await readAllAccept(u.r2!, caseOf[`r2:${B.subject.reading_id}`]!);
  const cmpB = await rt.db.selectFrom('review_comparisons').selectAll().where('subject_uuid', '=', B.subject.id).execute();
  expect(cmpB.map((c) => c.agree)).toEqual([true]);
  expect(await rt.db.selectFrom('review_adjudications').select('id').where('subject_uuid', '=', B.subject.id).execute()).toEqual([]);
  const sum = await svc.summary(STUDY);
  expect(sum).toMatchObject({ subjectsCompared: 2, subjectsNeedingAdjudication: 1, adjudicationRate: 0.5, adjudications: { open: 1, decided: 0 }, disagreementsByRule: { CBOR: 1, PD_DATE: 1 } });
  expect((await audit().list({ action: 'adjudication.create' })).length).toBe(1);
});

test('the adjudicator sees both reads blinded, picks one with a reason and signs; the choice becomes the BICR result', async () => {
  const a = (await svc.listAdjudications(u.adj1!, { status: 'open' })).items[0]!;
  expect(a.readingId).toBe(A.subject.reading_id);
  await expectRefusal(svc.openAdjudication(u.r1!, a.adjudicationId), 403, 'review.not-assigned');
  const view = await svc.openAdjudication(u.adj1!, a.adjudicationId);
  expect(view.reads.map((r) => r.label)).toEqual(['READ 1', 'READ 2']);
  const json = JSON.stringify(view);
  for (const banned of ['Drug X', 'P-REV-A01', realIso(DATES[0]!), realIso(DATES[2]!)]) expect(json).not.toContain(banned);
  const r1Slot = view.reads.find((r) => r.signature?.username === 'r1')!.read;
  await expectRefusal(svc.signAdjudication(u.adj1!, a.adjudicationId, { version: view.version, selectedRead: r1Slot, reason: 'T04 is a perfusion artefact on the arterial phase', password: 'nope nope nope', meaning: SIGNATURE_MEANING }), 403, 'signature.invalid-password');
  await expectRefusal(svc.signAdjudication(u.adj1!, a.adjudicationId, { version: view.version, selectedRead: r1Slot, reason: '   ', password: PASSWORD, meaning: SIGNATURE_MEANING }), 400, 'review.invalid');
  await expectRefusal(svc.signAdjudication(u.adj1!, a.adjudicationId, { version: view.version, selectedRead: 1.5, reason: 'average', password: PASSWORD, meaning: SIGNATURE_MEANING }), 400, 'review.invalid');
  const done = await svc.signAdjudication(u.adj1!, a.adjudicationId, { version: view.version, selectedRead: r1Slot, reason: 'T04 is a perfusion artefact on the arterial phase', password: PASSWORD, meaning: SIGNATURE_MEANING });
  expect(done).toMatchObject({ status: 'decided', selectedRead: r1Slot, signature: { username: 'adj1', entity: 'adjudication' } });
  await expectRefusal(svc.signAdjudication(u.adj1!, a.adjudicationId, { version: done.version, selectedRead: r1Slot, reason: 'again', password: PASSWORD, meaning: SIGNATURE_MEANING }), 409, 'review.state');
  await expect(sql`update review_adjudications set reason = 'changed' where id = ${a.adjudicationId}`.execute(rt.db)).rejects.toThrow(/immutable/);
  expect((await svc.summary(STUDY)).adjudications).toMatchObject({ open: 0, decided: 1 });
  expect(await svc.isAssigned(u.adj1!.id, A.subject.reading_id)).toBe(true);
  expect(await svc.isAssigned(u.adj1!.id, B.subject.reading_id)).toBe(false);
});

const csvRows = (bytes: Buffer, name: string) => {
  const ds = readDataset(bytes, `${name}.csv`, { name });
  return ds.rows.map((r) => Object.fromEntries(ds.columns.map((c, i) => [c.name, r[i]])));
};

test('BICR and per-reader study inputs cut into datasets naming reader, adjudicator, selection, RSEVAL / RSEVALID', async () => {
  const inputs = await rt.db.selectFrom('study_inputs').select(['study_id', 'source']).where('study_id', 'like', `${STUDY}.%`).distinct().execute();
  expect(inputs.map((i) => `${i.study_id}:${i.source}`).sort()).toEqual([`${STUDY}.BICR:review-bicr`, `${STUDY}.READER-r1:review-reader`, `${STUDY}.READER-r2:review-reader`]);
  const cut = await createDataCut(rt, { studyId: `${STUDY}.BICR`, cutoffDate: '2030-01-01', blinded: true, createdBy: 'test', formats: ['csv'] });
  const file = async (name: string) => rt.store.getBuffer(`${cut.cut.prefix}/${cut.manifest.files.find((f) => f.dataset === name && f.format === 'csv')!.path}`);
  const rs = csvRows(await file('RS'), 'RS');
  const aRows = rs.filter((r) => r.USUBJID === 'P-REV-A01');
  const bRows = rs.filter((r) => r.USUBJID === 'P-REV-B02');
  expect(aRows.length).toBeGreaterThan(0);
  expect(bRows.length).toBeGreaterThan(0);
  const r1SlotA = (await rt.db.selectFrom('review_cases').select('slot').where('id', '=', caseOf[`r1:${A.subject.reading_id}`]!).executeTakeFirstOrThrow()).slot;
  for (const r of aRows) expect(r).toMatchObject({ RSEVAL: 'INDEPENDENT ASSESSOR', RSEVALID: `RADIOLOGIST ${r1SlotA}`, READER: 'r1', ADJUDID: 'adj1', BICRSEL: `ADJUDICATION: RADIOLOGIST ${r1SlotA} SELECTED` });
  const slot1B = (await rt.db.selectFrom('review_cases').innerJoin('users', 'users.id', 'review_cases.reader_id').select('users.username').where('subject_uuid', '=', B.subject.id).where('slot', '=', 1).executeTakeFirstOrThrow()).username;
  for (const r of bRows) expect(r).toMatchObject({ RSEVALID: 'RADIOLOGIST 1', READER: slot1B, BICRSEL: 'AGREEMENT: RADIOLOGIST 1' });
  expect(bRows.every((r) => r.ADJUDID === null || r.ADJUDID === '')).toBe(true);
  // real (unshifted) dates, the adjudicated read's responses: r1's corrected read, PR at FU1 and FU2
  const ovr = aRows.filter((r) => r.RSTESTCD === 'OVRLRESP').map((r) => [r.RSDTC, r.RSSTRESC]);
  expect(ovr).toEqual([[realIso(DATES[1]!), 'PR'], [realIso(DATES[2]!), 'PR']]);
  // TR: the edited length the reader signed (33.75 mm -> 33.8), and its read id is the selected (corrected) revision
  const tr = csvRows(await file('TR'), 'TR').filter((r) => r.USUBJID === 'P-REV-A01');
  expect(tr.find((r) => r.TRLNKID === 'T02 lung' && r.VISIT === 'BASELINE')).toMatchObject({ TRSTRESN: '33.8', TREVALID: `RADIOLOGIST ${r1SlotA}`, READER: 'r1' });
  const r1Read = (await rt.db.selectFrom('review_reads').select(['id', 'revision']).where('case_id', '=', caseOf[`r1:${A.subject.reading_id}`]!).orderBy('revision', 'desc').executeTakeFirstOrThrow());
  expect(r1Read.revision).toBe(2);
  expect(String(tr[0]!.READID)).toContain(r1Read.id);
  const adrs = csvRows(await file('ADRS'), 'ADRS').filter((r) => r.USUBJID === 'P-REV-A01' && r.PARAMCD === 'CBOR');
  expect(adrs).toEqual([expect.objectContaining({ AVALC: 'PR', ADJUDID: 'adj1', READER: 'r1' })]);
  // ADTTE too: every row names the read it derives from
  const adtte = csvRows(await file('ADTTE'), 'ADTTE');
  expect(adtte.find((r) => r.USUBJID === 'P-REV-A01' && r.PARAMCD === 'PFS')).toMatchObject({ CNSR: '1', READER: 'r1', ADJUDID: 'adj1', BICRSEL: `ADJUDICATION: RADIOLOGIST ${r1SlotA} SELECTED` });
  expect(adtte.filter((r) => r.USUBJID === 'P-REV-B02').every((r) => r.READER === slot1B && r.BICRSEL === 'AGREEMENT: RADIOLOGIST 1')).toBe(true);
  // the reader-level datasets: both signed reads of each subject with their decisions on the AI proposals
  const trr = csvRows(await file('ADTRRDR'), 'ADTRRDR');
  expect(new Set(trr.filter((r) => r.USUBJID === 'P-REV-A01').map((r) => r.READER))).toEqual(new Set(['r1', 'r2']));
  const r1Bl = trr.filter((r) => r.USUBJID === 'P-REV-A01' && r.READER === 'r1' && r.AVISITN === '0');
  const lr = (id: string) => r1Bl.find((r) => r.LESIONID === id);
  expect(lr('T01 liver')).toMatchObject({ AIDECN: 'ACCEPT', READSRC: 'REVIEW' });
  expect(lr('T01 liver')!.AVAL).toBe(lr('T01 liver')!.AIVAL);
  expect(lr('T02 lung')).toMatchObject({ AIDECN: 'EDIT', AVAL: '33.8', AIVAL: '25' });
  expect(lr('T03 node')).toMatchObject({ AIDECN: 'REJECT', AVAL: null });
  expect(lr('R01')).toMatchObject({ AIDECN: 'ADD', AIVAL: null });
  const rsr = csvRows(await file('ADRSRDR'), 'ADRSRDR');
  expect(rsr.find((r) => r.USUBJID === 'P-REV-A01' && r.PARAMCD === 'BICRSEL')).toMatchObject({ AVALC: `RADIOLOGIST ${r1SlotA}` });
  // a per-reader cut: r2's reads of both subjects, no adjudication columns filled
  const c2 = await createDataCut(rt, { studyId: `${STUDY}.READER-r2`, cutoffDate: '2030-01-01', blinded: false, createdBy: 'test', formats: ['csv'] });
  const rs2 = csvRows(await rt.store.getBuffer(`${c2.cut.prefix}/${c2.manifest.files.find((f) => f.dataset === 'RS' && f.format === 'csv')!.path}`), 'RS');
  expect(new Set(rs2.map((r) => r.USUBJID))).toEqual(new Set(['P-REV-A01', 'P-REV-B02']));
  expect(rs2.every((r) => r.READER === 'r2' && r.RSEVAL === 'INDEPENDENT ASSESSOR')).toBe(true);
  expect(rs2.filter((r) => r.USUBJID === 'P-REV-A01' && r.RSTESTCD === 'OVRLRESP').map((r) => r.RSSTRESC)).toEqual(['SD', 'PD']);
  const adsl = csvRows(await rt.store.getBuffer(`${c2.cut.prefix}/${c2.manifest.files.find((f) => f.dataset === 'ADRS' && f.format === 'csv')!.path}`), 'ADRS');
  expect(adsl.every((r) => r.ARM === 'Drug X')).toBe(true);
});

test('a reader leaves: unsigned cases are reassigned (seeded, recorded with the reason), signed ones stay', async () => {
  const C = await seedSubject(rt.db, { protocolId: STUDY, subjectId: 'C03', shiftDays: SHIFT, dates: DATES.slice(0, 2), lesions: THREE_LESIONS });
  const run = await svc.assign(u.boss!, { studyId: STUDY, readers: ['r1', 'r2', 'r3'], capacity: 3, seed: 5 });
  expect(run.cases).toHaveLength(2);
  expect(run.cases.map((c) => c.reader)).toContain('r3'); // the reader with the most room left
  const other = run.cases.find((c) => c.reader !== 'r3')!.reader;
  const w = await svc.withdrawReader(u.boss!, u.r3!.id, { studyId: STUDY, reason: 'left the reading centre', readers: ['r1', 'r2'], capacity: 3, seed: 99 });
  expect(w.moves).toHaveLength(1);
  expect(w.moves[0]).toMatchObject({ from: 'r3', to: ['r1', 'r2'].find((r) => r !== other), readingId: C.subject.reading_id });
  const cases = await rt.db.selectFrom('review_cases').selectAll().where('subject_uuid', '=', C.subject.id).orderBy('created_at').execute();
  const old = cases.find((c) => c.reader_id === u.r3!.id)!;
  expect(old).toMatchObject({ status: 'withdrawn', withdrawn_reason: 'left the reading centre', withdrawn_by: 'boss', replaced_by: w.moves[0]!.toCaseId });
  expect(new Set(cases.filter((c) => c.status === 'active').map((c) => c.reader_id)).size).toBe(2);
  await expectRefusal(svc.openCase(u.r3!, old.id), 403, 'review.not-assigned');
  expect(await svc.isAssigned(u.r3!.id, C.subject.reading_id)).toBe(false);
  const runs = await svc.listAssignments(STUDY);
  expect(runs.runs.at(-1)).toMatchObject({ kind: 'reassign', seed: 99, reason: 'left the reading centre' });
  expect((await audit().list({ action: 'assignment.reassign' }))[0]!.detail).toMatchObject({ reason: 'left the reading centre', leaving: 'r3', seed: 99 });
  // a signed read is not reassigned
  await expectRefusal(svc.reassignCase(u.boss!, caseOf[`r1:${A.subject.reading_id}`]!, { reason: 'test', readers: ['r3'] }), 409, 'review.state');
});

test('two readers signing the same subject at the same moment: one comparison, and the BICR input has the subject', async () => {
  const E = await seedSubject(rt.db, { protocolId: STUDY, subjectId: 'E05', shiftDays: SHIFT, dates: DATES.slice(0, 2), lesions: THREE_LESIONS });
  const run = await svc.assign(u.boss!, { studyId: STUDY, readers: ['r1', 'r2'], capacity: 10, seed: 8 });
  expect(run.cases.map((c) => c.reader).sort()).toEqual(['r1', 'r2']);
  const versions: Record<string, number> = {};
  for (const c of run.cases) {
    const reader = u[c.reader]!;
    for (const tp of ['BL', 'FU1']) {
      const v = await svc.openCase(reader, c.caseId);
      const t = v.timepoints.find((x) => x.timePointId === tp)!;
      const saved = await svc.saveTimepoint(reader, c.caseId, tp, { version: v.read.version, lesions: t.proposals.map((p) => ({ proposalId: p.proposalId, decision: 'accept' as const, ...(t.ordinal === 0 ? { classification: 'target' as const } : {}) })) });
      versions[c.caseId] = saved.version;
    }
  }
  await Promise.all(run.cases.map((c) => svc.sign(u[c.reader]!, c.caseId, { version: versions[c.caseId]!, password: PASSWORD, meaning: SIGNATURE_MEANING })));
  const cmps = await rt.db.selectFrom('review_comparisons').selectAll().where('subject_uuid', '=', E.subject.id).execute();
  expect(cmps.map((c) => c.agree)).toEqual([true]);
  const inputs = new EndpointsRepository(rt.db);
  const bicr = await inputs.latestStudyInput(`${STUDY}.BICR`);
  expect(((await inputs.studyInputDocument(bicr!)) as { subjects: { usubjid: string }[] }).subjects.map((x) => x.usubjid)).toContain('E05');
});

test('the audit chain is intact after the whole workflow', async () => {
  const v = await audit().verify();
  expect(v.ok).toBe(true);
  const actions = new Set((await audit().list({ limit: 1000 })).map((e) => e.action));
  for (const a of ['case.view', 'proposal.shown', 'lesion.accept', 'lesion.edit', 'lesion.reject', 'lesion.add', 'read.sign', 'read.correction', 'adjudication.create', 'adjudication.view', 'adjudication.sign', 'assignment.create', 'assignment.reassign', 'review.feed']) expect(actions).toContain(a);
});
