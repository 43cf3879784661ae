/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * The AI read through the real pipeline on embedded defaults: phantom CT uploads -> volumes -> inference.ct ->
 * lesions.track -> proposals + SEG + SR; a synthetic slide -> patches -> inference.slide -> metrics + heatmap; the API
 * over them. The CT model here is a fixed threshold model (tests/airead/fixtures), so the checks are of the pipeline;
 * the slide model is the shipped H&E tile classifier.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import sharp from 'sharp';
import { repoRoot } from '@app/core';
import { AiRepository, AuditRepository } from '@app/db';
import { generateSyntheticSlide } from '@app/pathology';
import { generatePhantomStudy, type GroundTruthRow } from '@app/phantom';
import { addAiReadStudyInput, createDataCut, createRuntime, CT_INFERENCE_JOB, decodeNrrd, type Runtime } from '@app/pipeline';
import { readDataset } from '@app/datasets';
import { readSrMeasurements } from '@app/sr';
import { createApiApp } from '../../apps/api/src/app';
import { quietLog, tempDir, testConfig } from '../support/services';
import { tempModelsDir, writeModelFolder, cleanup, ortVersion } from '../inference/helpers';
import { authHeader } from '../helpers/auth';

jest.setTimeout(180000);
let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;
let truth: GroundTruthRow[];
let slideTruth: { tumour: number; stroma: number; lymphocytes: number };
let readingId: string;

const SCT = (code: string, meaning: string) => ({ scheme: 'SCT', code, meaning });
const lesionClass = (index: number, name: string, site: [string, string], nodal: boolean) => ({ index, name, category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT(...site), nodal });

beforeAll(async () => {
  dir = await tempDir();
  const models = tempModelsDir();
  writeModelFolder(models, 'ct-lesion-seg', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', { inC: 3, outC: 4, spatial: [128, 128], preprocessing: { hu_window: [-200, 300], context_slices: 1, roi_size: [128, 128], overlap: 0.5, blending: 'gaussian', gaussian_sigma_scale: 0.125 } }, (card) => {
    card.classes = [lesionClass(1, 'liver lesion', ['10200004', 'Liver'], false), lesionClass(2, 'lung lesion', ['39607008', 'Lung'], false), lesionClass(3, 'lymph node lesion', ['59441001', 'Lymph node'], true)];
    card.postprocessing = { argmax: true, min_component_voxels: 10 };
  });
  cpSync(join(repoRoot(), 'models/he-tile-classifier'), join(models, 'he-tile-classifier'), { recursive: true });
  rt = await createRuntime({ config: testConfig({ DATA_DIR: join(dir.path, 'data'), SERIES_QUIET_MS: '300', MODELS_DIR: models, JOB_ATTEMPTS: '1' }), log: quietLog() });
  rt.queue.startWorker();
  app = await createApiApp(rt);
  await app.init();
  const ph = await generatePhantomStudy({ outDir: join(dir.path, 'ph'), subjects: 1, visits: 3, rows: 160, cols: 160, slices: 24, sliceThickness: 5, sliceSpacing: 5, noiseSigma: 5, seed: 21 });
  truth = ph.groundTruth;
  const events: { bucket: string; key: string; etag: string; eventName: string }[] = [];
  const put = async (key: string, body: Buffer) => {
    const info = await rt.store.put(key, body);
    events.push({ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' });
  };
  for (const f of ph.files) await put(`incoming/ct/${f.visit}/${f.sopInstanceUid}.dcm`, readFileSync(f.path));
  const synth = await generateSyntheticSlide({ path: join(dir.path, 's.svs'), width: 1536, height: 1280, seed: 9003 });
  slideTruth = synth.groundTruth.fractions;
  await put('incoming/slides/subject-SUBJ-001/block-A.svs', readFileSync(synth.path));
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 150000 });
  // the CT subject (the slide's upload path names a second subject, with no studies)
  readingId = (await request(app.getHttpServer()).get('/v1/subjects').set('authorization', await authHeader(app, 'admin')).expect(200)).body.items.find((s: { studies: number | string }) => Number(s.studies) > 0).readingId;
});

afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
  cleanup();
});

test('every selected volume is read once, the subject is tracked over its timepoints, and no job failed', async () => {
  const failed = await rt.jobs.list({ status: 'failed' });
  expect(failed.map((j) => `${j.name}: ${j.error}`)).toEqual([]);
  const runs = await rt.db.selectFrom('ai_runs').selectAll().execute();
  expect(runs.filter((r) => r.kind === 'ct')).toHaveLength(3);
  // each stored component labelling (streamed out, hashed on the way) is the file its run names, on the volume's grid
  for (const r of runs.filter((x) => x.kind === 'ct')) {
    const bytes = await rt.store.getBuffer(String(r.outputs.componentsKey));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(r.outputs.componentsSha256);
    const v = await rt.db.selectFrom('volumes').select('dims').where('id', '=', r.volume_id!).executeTakeFirstOrThrow();
    expect(decodeNrrd(bytes).dims).toEqual(v.dims);
  }
  expect(runs.filter((r) => r.kind === 'slide')).toHaveLength(1);
  // what ran each model: the onnxruntime build this process loaded and the provider its sessions used (CPU here)
  for (const r of runs.filter((x) => x.kind === 'ct' || x.kind === 'slide')) expect([r.kind, r.provenance.runtime]).toEqual([r.kind, { onnxruntime: ortVersion(), executionProvider: 'cpu' }]);
  const tracks = runs.filter((r) => r.kind === 'track');
  expect(tracks.length).toBeGreaterThanOrEqual(1);
  // the newest tracking run reads all three timepoints
  const res = await request(app.getHttpServer()).get(`/v1/ai/subjects/${readingId}/proposals`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const tps = [...new Set(res.body.proposals.map((p: { timePointId: string }) => p.timePointId))];
  expect(tps).toHaveLength(3);
  expect(res.body.proposals.every((p: { source: string }) => /not a signed read/.test(p.source))).toBe(true);
  // the CT read and tracking streamed each volume from a local copy of its file, removed after use
  expect(readdirSync(join(dir.path, 'data', 'tmp')).filter((f) => /^ai-(ct|track)-/.test(f))).toEqual([]);
});

test('proposals match the phantom: one identity per lesion over all visits, lengths within a pixel', async () => {
  const res = await request(app.getHttpServer()).get(`/v1/ai/subjects/${readingId}/proposals`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const props: { timePointId: string; studyDate: string; trackingUid: string; values: Record<string, any>; model: { sha256: string } }[] = res.body.proposals;
  // every AI proposal shown is audited: who, which subject, exactly these proposal ids
  const shown = (await new AuditRepository(rt.db).list({ action: 'ai.proposals.shown', entityId: readingId }))[0]!;
  expect(shown).toMatchObject({ actor: 'test-admin', actorRoles: ['admin'], entityType: 'subject' });
  expect((shown.detail as { proposalIds: string[] }).proposalIds).toEqual(res.body.proposals.map((p: { id: string }) => p.id));
  const dates = [...new Set(props.map((p) => p.studyDate))].sort();
  const ps = 360 / 160;
  const idOf = new Map<string, string>();
  for (const [v, date] of dates.entries()) {
    const gt = truth.filter((r) => r.visitIndex === v && r.present);
    const present = props.filter((p) => p.studyDate === date && p.values.present);
    expect(present).toHaveLength(gt.length);
    for (const g of gt) {
      const p = present.find((x) => Math.hypot(x.values.centroidMm[0] - g.centerX, x.values.centroidMm[1] - g.centerY, x.values.centroidMm[2] - g.centerZ) < 6)!;
      expect(p).toBeDefined();
      expect(Math.abs(p.values.longAxisMm - g.longestDiameterMm)).toBeLessThan(1.5 * ps);
      if (idOf.has(g.lesionId)) expect(p.trackingUid).toBe(idOf.get(g.lesionId));
      idOf.set(g.lesionId, p.trackingUid);
    }
  }
  expect(new Set(idOf.values()).size).toBe(idOf.size);
});

test('SEG and SR per timepoint are valid DICOM and carry the stored measurements', async () => {
  const res = await request(app.getHttpServer()).get(`/v1/ai/subjects/${readingId}/proposals`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const props: { timePointId: string; trackingUid: string; values: Record<string, any> }[] = res.body.proposals;
  const tp = props[0]!.timePointId;
  const sr = await request(app.getHttpServer()).get(`/v1/ai/subjects/${readingId}/timepoints/${tp}/sr.dcm`).set('authorization', await authHeader(app, 'admin')).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  }).expect(200);
  const seg = await request(app.getHttpServer()).get(`/v1/ai/subjects/${readingId}/timepoints/${tp}/seg.dcm`).set('authorization', await authHeader(app, 'admin')).buffer(true).parse((r, cb) => {
    const chunks: Buffer[] = [];
    r.on('data', (c: Buffer) => chunks.push(c));
    r.on('end', () => cb(null, Buffer.concat(chunks)));
  }).expect(200);
  for (const [name, body] of [['sr', sr.body], ['seg', seg.body]] as const) {
    const f = join(dir.path, `${name}.dcm`);
    writeFileSync(f, body);
    const out = execFileSync('dciodvfy', [f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) + '';
    expect(out.split('\n').filter((l) => /^Error/.test(l))).toEqual([]);
  }
  const read = readSrMeasurements(sr.body as Buffer);
  const here = props.filter((p) => p.timePointId === tp && p.values.present);
  expect(read.map((r) => [r.trackingUid, r.longAxisMm, r.shortAxisMm]).sort()).toEqual(here.map((p) => [p.trackingUid, p.values.longAxisMm, p.values.shortAxisMm]).sort());
  // the patient in SEG/SR is the reading id only
  expect(execFileSync('dcmdump', ['+P', '0010,0020', join(dir.path, 'sr.dcm')], { encoding: 'utf8' })).toContain(readingId);
});

test('the AI-only read is labelled as the model and gives RECIST responses', async () => {
  const res = await request(app.getHttpServer()).get(`/v1/ai/subjects/${readingId}/ai-read`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const s = res.body.subjects[0];
  expect(s.assessments).toHaveLength(3);
  for (const a of s.assessments) {
    expect(a.source.model.id).toBe('ct-lesion-seg');
    expect(a.source.reader).toBeUndefined();
  }
});

test('the AI-only read is cut like any read, under its own study id, every row naming the model', async () => {
  const r = await addAiReadStudyInput(rt, 'DEMO-001', 'test');
  expect(r.studyId).toBe('DEMO-001.AI-READ');
  const cut = await createDataCut(rt, { studyId: r.studyId, cutoffDate: '2030-01-01', blinded: true, createdBy: 'test', formats: ['csv'] });
  const f = cut.manifest.files.find((x) => x.dataset === 'TR')!;
  const tr = readDataset(await rt.store.getBuffer(`${cut.cut.prefix}/${f.path}`), f.path);
  const col = (n: string) => tr.columns.findIndex((c) => c.name === n);
  expect(tr.rows.length).toBeGreaterThan(0);
  expect(new Set(tr.rows.map((x) => x[col('MODELID')]))).toEqual(new Set(['ct-lesion-seg']));
  expect(tr.rows.every((x) => x[col('READER')] === null || x[col('READER')] === '')).toBe(true);
  expect(new Set(tr.rows.map((x) => x[col('USUBJID')]))).toEqual(new Set([readingId]));
});

test('slide metrics and heatmap from the tile classifier', async () => {
  const slides = (await request(app.getHttpServer()).get('/v1/slides').set('authorization', await authHeader(app, 'admin')).expect(200)).body.items;
  const res = await request(app.getHttpServer()).get(`/v1/ai/slides/${slides[0].id}`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const m = res.body.metrics;
  // the newest version ran: 0.2.0, the uint8-input one (its tiles are the band's bytes)
  expect(res.body.run.model).toMatchObject({ id: 'he-tile-classifier', version: '0.2.0' });
  expect(Math.abs(m.classFractions.tumour - slideTruth.tumour)).toBeLessThan(0.05);
  expect(Math.abs(m.classFractions.stroma - slideTruth.stroma)).toBeLessThan(0.05);
  expect(Math.abs(m.classFractions.lymphocytes - slideTruth.lymphocytes)).toBeLessThan(0.05);
  const png = await request(app.getHttpServer()).get(`/v1/ai/slides/${slides[0].id}/heatmap.png`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const meta = await sharp(png.body as Buffer).metadata();
  expect(meta.width! * m.heatmap.downsample).toBeGreaterThanOrEqual(1536 - m.heatmap.downsample);
});

test('re-running a CT read adds nothing; a missing model fails its job and leaves the object processed', async () => {
  const ai = new AiRepository(rt.db);
  const before = await rt.db.selectFrom('ai_proposals').select(({ fn }) => fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const ct = (await rt.db.selectFrom('ai_runs').selectAll().where('kind', '=', 'ct').execute())[0]!;
  await rt.queue.enqueue(CT_INFERENCE_JOB, { volumeId: ct.volume_id, model: 'ct-lesion-seg' }, { idempotencyKey: 'test:rerun' });
  await rt.queue.enqueue(CT_INFERENCE_JOB, { volumeId: ct.volume_id, model: 'no-such-model' }, { idempotencyKey: 'test:missing-model' });
  await rt.queue.waitIdle({ timeoutMs: 60000 });
  const after = await rt.db.selectFrom('ai_proposals').select(({ fn }) => fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  expect(after.n).toBe(before.n);
  expect((await ai.runsOfSubject(ct.subject_uuid!, 'ct')).length).toBe(3);
  const failed = await rt.jobs.list({ status: 'failed' });
  expect(failed).toHaveLength(1);
  expect(failed[0]!.error).toMatch(/no-such-model/);
  const objs = await rt.objects.countByStatus();
  expect(objs.quarantined ?? 0).toBe(0);
});

test('GET /v1/models lists the models with licences', async () => {
  const res = await request(app.getHttpServer()).get('/v1/models').set('authorization', await authHeader(app, 'admin')).expect(200);
  const tileVersions = readdirSync(join(repoRoot(), 'models/he-tile-classifier')).sort();
  expect(tileVersions).toContain('0.2.0');
  expect(res.body.models.map((m: { id: string; version: string }) => `${m.id}@${m.version}`).sort()).toEqual(['ct-lesion-seg@0.1.0', ...tileVersions.map((v) => `he-tile-classifier@${v}`)]);
  expect(res.body.models.find((m: { id: string }) => m.id === 'he-tile-classifier').licence.weights).toBe('Apache-2.0');
});
