/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * A read of real AI proposals: phantom CT -> the pipeline (volumes, inference.ct with the threshold model, tracking) ->
 * a reader who accepts the AI's target selection gets, from the endpoint engine, the same sums and responses as the
 * AI-only read (libs/airead, independent code); a reader who redraws the AI's own long-axis end points (in patient mm)
 * gets the AI's lengths back from the volume geometry; the signed read feeds the BICR study input.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aiOnlyRead, type LesionProposalValues, selectTargets } from '@app/airead';
import { AiRepository, EndpointsRepository } from '@app/db';
import { deriveVisitResponses } from '@app/endpoints';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime, type Runtime } from '@app/pipeline';
import { type LesionInput, ReviewService, SIGNATURE_MEANING } from '@app/review';
import { quietLog, tempDir, testConfig } from '../support/services';
import { cleanup, tempModelsDir, writeModelFolder } from '../inference/helpers';
import { makeUsers, PASSWORD } from './fixtures';

jest.setTimeout(240000);
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let svc: ReviewService;
let users: Awaited<ReturnType<typeof makeUsers>>['users'];
let protocolId: string;
let subjectUuid: string;

const SCT = (code: string, meaning: string) => ({ scheme: 'SCT', code, meaning });
const lesionClass = (index: number, name: string, site: [string, string], nodal: boolean) => ({ index, name, category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT(...site), nodal });

beforeAll(async () => {
  dir = await tempDir();
  const models = tempModelsDir();
  writeModelFolder(models, 'ct-lesion-seg', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', { inC: 3, outC: 4, spatial: [128, 128], preprocessing: { hu_window: [-200, 300], context_slices: 1, roi_size: [128, 128], overlap: 0.5, blending: 'gaussian', gaussian_sigma_scale: 0.125 } }, (card) => {
    card.classes = [lesionClass(1, 'liver lesion', ['10200004', 'Liver'], false), lesionClass(2, 'lung lesion', ['39607008', 'Lung'], false), lesionClass(3, 'lymph node lesion', ['59441001', 'Lymph node'], true)];
    card.postprocessing = { argmax: true, min_component_voxels: 10 };
  });
  rt = await createRuntime({ config: testConfig({ DATA_DIR: join(dir.path, 'data'), SERIES_QUIET_MS: '300', MODELS_DIR: models, JOB_ATTEMPTS: '1', AI_SLIDE_MODEL: 'off' }), log: quietLog() });
  rt.queue.startWorker();
  const ph = await generatePhantomStudy({ outDir: join(dir.path, 'ph'), subjects: 1, visits: 3, rows: 128, cols: 128, slices: 20, sliceThickness: 5, sliceSpacing: 5, noiseSigma: 5, seed: 77 });
  const events: { bucket: string; key: string; etag: string; eventName: string }[] = [];
  for (const f of ph.files) {
    const key = `incoming/ct/${f.visit}/${f.sopInstanceUid}.dcm`;
    const info = await rt.store.put(key, readFileSync(f.path));
    events.push({ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' });
  }
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 200000 });
  const s = await rt.db.selectFrom('subjects').selectAll().executeTakeFirstOrThrow();
  protocolId = s.protocol_id;
  subjectUuid = s.id;
  const made = await makeUsers(rt.db, [{ username: 'ra', roles: ['reader'] }, { username: 'rb', roles: ['reader'] }, { username: 'admin1', roles: ['admin'] }]);
  users = made.users;
  svc = new ReviewService({ db: rt.db, verifyPassword: (id, pw) => made.auth.checkPassword(id, pw) });
});

afterAll(async () => {
  await rt?.close();
  await dir?.remove();
  cleanup();
});

test('accepting the AI target selection reproduces the AI-only read; redrawn AI end points give the AI lengths; the signed read feeds the BICR input', async () => {
  expect((await rt.jobs.list({ status: 'failed' })).map((j) => `${j.name}: ${j.error}`)).toEqual([]);
  const track = (await new AiRepository(rt.db).latestTrack(subjectUuid))!;
  expect(track.proposals.length).toBeGreaterThan(0);
  const run = await svc.assign(users.admin1!, { studyId: protocolId, readers: ['ra', 'rb'], capacity: 1, seed: 3 });
  const caseOf = (r: string) => run.cases.find((c) => c.reader === r)!.caseId;

  // reader A: the AI-only read's own target selection, everything accepted
  const idA = caseOf('ra');
  let v = await svc.openCase(users.ra!, idA);
  const tps = v.timepoints.map((t) => t.timePointId);
  expect(tps).toHaveLength(3);
  const blValues = v.timepoints[0]!.proposals.map((p) => p.values as unknown as LesionProposalValues);
  const { targets, nonTargets } = selectTargets(blValues);
  expect(targets.length).toBeGreaterThan(0);
  const targetUids = new Set(targets.map((t) => t.trackingUid));
  const ntUids = new Set(nonTargets.map((t) => t.trackingUid));
  for (const tp of tps) {
    v = await svc.openCase(users.ra!, idA);
    const t = v.timepoints.find((x) => x.timePointId === tp)!;
    const lesions: LesionInput[] = t.proposals.map((p) => {
      if (t.ordinal > 0) return { proposalId: p.proposalId, decision: 'accept' };
      if (targetUids.has(p.trackingUid!)) return { proposalId: p.proposalId, decision: 'accept', classification: 'target' };
      if (ntUids.has(p.trackingUid!)) return { proposalId: p.proposalId, decision: 'accept', classification: 'non-target' };
      return { proposalId: p.proposalId, decision: 'reject', reason: 'normal-sized node' };
    });
    await svc.saveTimepoint(users.ra!, idA, tp, { version: v.read.version, lesions });
  }
  const mine = (await svc.recist(users.ra!, idA)) as { rows: { sumMm: number | null; overallResponse: string | null; targetResponse: string | null }[] };
  // the independent reference: libs/airead's AI-only read of the same proposals through the engine
  const byTp = new Map<string, { date: string; lesions: LesionProposalValues[] }>();
  for (const p of track.proposals) {
    const e = byTp.get(p.time_point_id!) ?? { date: p.study_date!, lesions: [] };
    e.lesions.push(p.values as unknown as LesionProposalValues);
    byTp.set(p.time_point_id!, e);
  }
  const iso = (d: string) => (/^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : d);
  const ref = aiOnlyRead([{ usubjid: 'X', timepoints: [...byTp].map(([timePointId, e]) => ({ timePointId, date: iso(e.date), lesions: e.lesions, readId: timePointId })) }], { studyId: 'S', model: track.run.model }).subjects[0]!;
  const refVisits = deriveVisitResponses(ref);
  expect(mine.rows.slice(1).map((r) => [r.sumMm, r.targetResponse])).toEqual(refVisits.map((x) => [x.sum === null ? null : x.sum / 10, x.target]));
  expect(mine.rows.slice(1).map((r) => r.overallResponse)).toEqual(refVisits.map((x) => x.overall));
  v = await svc.openCase(users.ra!, idA);
  await svc.sign(users.ra!, idA, { version: v.read.version, password: PASSWORD, meaning: SIGNATURE_MEANING });

  // reader B: every present AI lesion "edited" by redrawing the AI's own long axis end points in patient mm
  const idB = caseOf('rb');
  v = await svc.openCase(users.rb!, idB);
  const bl = v.timepoints[0]!;
  const lesions: LesionInput[] = bl.proposals.map((p) => {
    const val = p.values as { present: boolean; nodal: boolean; longAxis: { p1Mm: [number, number, number]; p2Mm: [number, number, number] } | null };
    if (!val.present || !val.longAxis || val.nodal) return { proposalId: p.proposalId, decision: 'reject', reason: 'not assessed in this test' };
    return { proposalId: p.proposalId, decision: 'edit', classification: 'non-target', longAxis: { p1: { mm: val.longAxis.p1Mm }, p2: { mm: val.longAxis.p2Mm } } };
  });
  const saved = await svc.saveTimepoint(users.rb!, idB, bl.timePointId, { version: v.read.version, lesions });
  const edited = saved.timepoint.lesions.filter((l) => l.decision === 'edit');
  expect(edited.length).toBeGreaterThan(0);
  for (const l of edited) expect(Math.abs(l.reader!.longAxisMm! - l.ai!.longAxisMm!)).toBeLessThan(0.01);

  // the signed read of reader A is in the per-reader input (real dates: the AI proposals carry the shifted ones)
  const input = await rt.db.selectFrom('study_inputs').selectAll().where('study_id', '=', `${protocolId}.READER-ra`).executeTakeFirstOrThrow();
  const subj = ((await new EndpointsRepository(rt.db).studyInputDocument(input)) as { subjects: { assessments: { date: string; targets: unknown[] }[] }[]; reviewProvenance: boolean });
  expect(subj.reviewProvenance).toBe(true);
  expect(subj.subjects[0]!.assessments).toHaveLength(3);
  const shift = (await rt.db.selectFrom('subjects').select('date_shift_days').where('id', '=', subjectUuid).executeTakeFirstOrThrow()).date_shift_days;
  const d0 = iso(track.proposals.find((p) => p.time_point_id === tps[0])!.study_date!);
  expect(subj.subjects[0]!.assessments[0]!.date).toBe(new Date(Date.parse(`${d0}T00:00:00Z`) - shift * 86400000).toISOString().slice(0, 10));
});
