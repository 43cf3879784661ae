/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * The AI read around the model, end to end on real DICOM: phantom series -> volumes -> model (a fixed threshold
 * model, so the check is of everything around it) -> components -> RECIST measurements -> alignment + tracking ->
 * SEG + SR -> AI-only read -> RECIST responses. Expectations come from the phantom's analytic ground truth.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '@app/core';
import { aiOnlyRead, analyseCtVolume, classesFromCard, loadSubjectFolder, trackCtSubject, writeTimepointSegSr, type CtTimepoint } from '@app/airead';
import { deriveVisitResponses } from '@app/endpoints';
import { createInferencePool, type InferencePool } from '@app/inference';
import { generatePhantomStudy, type GroundTruthRow } from '@app/phantom';
import { DEFAULT_SERIES_SELECTION } from '@app/pipeline';
import { readSegSegments, readSrMeasurements } from '@app/sr';
import { cleanup, tempModelsDir, writeModelFolder } from '../inference/helpers';

const SCT = (code: string, meaning: string) => ({ scheme: 'SCT', code, meaning });
const CLASSES = [
  { index: 1, name: 'liver lesion', category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT('10200004', 'Liver'), nodal: false },
  { index: 2, name: 'lung lesion', category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT('39607008', 'Lung'), nodal: false },
  { index: 3, name: 'lymph node lesion', category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT('59441001', 'Lymph node'), nodal: true },
];

/** The fixed-threshold network's card fields (tests/airead/fixtures/ct-threshold.onnx). */
const THRESHOLD_SPEC = { inC: 3, outC: 4, spatial: [128, 128], preprocessing: { hu_window: [-200, 300], context_slices: 1, roi_size: [128, 128], overlap: 0.5, blending: 'gaussian', gaussian_sigma_scale: 0.125 } };

let dir: string;
let models: string;
let pool: InferencePool;
let truth: GroundTruthRow[];
const PS = 360 / 256;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airead-'));
  const res = await generatePhantomStudy({ outDir: join(dir, 'dicom'), subjects: 2, visits: 3, rows: 256, cols: 256, slices: 40, noiseSigma: 5, seed: 11 });
  truth = res.groundTruth;
  models = tempModelsDir();
  writeModelFolder(models, 'ct-threshold', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', THRESHOLD_SPEC, (card) => {
    card.classes = CLASSES;
    card.postprocessing = { argmax: true, min_component_voxels: 10 };
  });
  // the same network with a card-level component classifier: one that drops every component, and one naming a feature
  // that does not exist (passes the card schema, refused by the analysis)
  const withClassifier = (id: string, clf: Record<string, unknown>) =>
    writeModelFolder(models, id, '0.1.0', '../../airead/fixtures/ct-threshold.onnx', THRESHOLD_SPEC, (card) => {
      card.classes = CLASSES;
      card.postprocessing = { argmax: true, min_component_voxels: 10, component_classifier: { features: ['log_volume_mm3'], mean: [0], scale: [1], coef: [1], intercept: -100, min_probability: 0.5, ...clf } };
    });
  withClassifier('ct-threshold-drop-all', {});
  withClassifier('ct-threshold-bad-feature', { features: ['volume_ml'] });
  pool = createInferencePool({ modelsDir: models, threads: 1 });
});
afterAll(async () => {
  await pool?.close();
  cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const reads = new Map<string, Promise<Awaited<ReturnType<typeof readSubjectOnce>>>>();
/** Each subject is read once and shared by the tests. */
function readSubject(subjectId: string) {
  if (!reads.has(subjectId)) reads.set(subjectId, readSubjectOnce(subjectId));
  return reads.get(subjectId)!;
}
async function readSubjectOnce(subjectId: string) {
  const model = await pool.model('ct-threshold');
  const folder = await loadSubjectFolder(join(dir, 'dicom', subjectId), DEFAULT_SERIES_SELECTION, sha256Hex);
  const tps: CtTimepoint[] = [];
  for (const f of folder) tps.push({ timePointId: f.timePointId, date: f.date, volume: f.volume, sliceHeaders: f.sliceHeaders, analysis: await analyseCtVolume(f.volume, model) });
  return { model, folder, tps, tracked: trackCtSubject(subjectId, tps) };
}

describe('CT AI read on phantom series', () => {
  it('finds, measures and tracks every lesion, and writes SEG + SR that read back to the stored values', async () => {
    for (const subjectId of ['SUBJ-001', 'SUBJ-002']) {
      const { model, folder, tps, tracked } = await readSubject(subjectId);
      expect(tracked.timepoints.map((t) => t.date)).toEqual([...folder.map((f) => f.date)].sort());
      const uidOfTruth = new Map<string, string>();
      for (const [v, tp] of tracked.timepoints.entries()) {
        const gt = truth.filter((r) => r.subjectId === subjectId && r.visitIndex === v && r.present);
        const present = tp.lesions.filter((l) => l.present);
        expect(present.length).toBe(gt.length);
        for (const g of gt) {
          // the AI lesion at the ground-truth centre (patient mm; the basic phantom does not move the patient)
          const near = present.filter((l) => Math.hypot(l.centroidMm![0] - g.centerX, l.centroidMm![1] - g.centerY, l.centroidMm![2] - g.centerZ) < 4);
          expect(near).toHaveLength(1);
          const l = near[0]!;
          // one pixel (diagonal) of digitisation either way
          expect(Math.abs(l.longAxisMm! - g.longestDiameterMm)).toBeLessThan(1.5 * PS);
          expect(Math.abs(l.shortAxisMm! - g.shortAxisMm)).toBeLessThan(1.5 * PS);
          // one identity per ground-truth lesion over all visits, and one lesion per identity
          const known = uidOfTruth.get(g.lesionId);
          if (known) expect(l.trackingUid).toBe(known);
          else {
            expect([...uidOfTruth.values()]).not.toContain(l.trackingUid);
            uidOfTruth.set(g.lesionId, l.trackingUid);
          }
          expect(l.status).toBe(known ? 'matched' : 'new');
        }
        // a lesion gone since the previous visit is listed as not present under its identity
        const gone = truth.filter((r) => r.subjectId === subjectId && r.visitIndex === v && !r.present && uidOfTruth.has(r.lesionId));
        for (const g of gone) expect(tp.lesions.find((l) => l.trackingUid === uidOfTruth.get(g.lesionId))?.present).toBe(false);

        const out = writeTimepointSegSr(tp, tps[v]!.volume, tps[v]!.sliceHeaders, tps[v]!.analysis.components, {
          readingId: subjectId, model: model.provenance, classes: classesFromCard(model.card), runKey: `test:${subjectId}`, contentDate: '20261205', contentTime: '120000',
        });
        if (!present.length) {
          expect(out).toBeNull();
          continue;
        }
        const sr = readSrMeasurements(out!.sr);
        expect(sr.map((r) => [r.trackingUid, r.longAxisMm, r.shortAxisMm, r.volumeMm3, r.timePointId]).sort()).toEqual(
          present.map((l) => [l.trackingUid, l.longAxisMm, l.shortAxisMm, l.volumeMm3, tp.timePointId]).sort(),
        );
        const seg = readSegSegments(out!.seg);
        expect(seg.segments.map((s) => [s.number, s.trackingUid, s.label])).toEqual(present.map((l) => [l.segmentNumber, l.trackingUid, l.trackingId]));
      }
    }
  });

  it('gives the responses the trajectories imply: the responder responds, the progressor progresses', async () => {
    const subjects = [];
    for (const subjectId of ['SUBJ-001', 'SUBJ-002']) {
      const { model, tracked } = await readSubject(subjectId);
      subjects.push({
        usubjid: subjectId,
        timepoints: tracked.timepoints.map((t) => ({ timePointId: t.timePointId, date: t.date, lesions: t.lesions, readId: `ai:${t.timePointId}` })),
        model: model.provenance,
      });
    }
    const study = aiOnlyRead(subjects, { studyId: 'PHANTOM', model: subjects[0]!.model });
    const responder = deriveVisitResponses(study.subjects[0]!).map((r) => r.overall);
    const progressor = deriveVisitResponses(study.subjects[1]!).map((r) => r.overall);
    expect(responder).toContain('PR');
    expect(progressor[progressor.length - 1]).toBe('PD');
  });

  it("applies the card's component classifier: every component it scores below min_probability is dropped and recorded", async () => {
    const { folder, tps } = await readSubject('SUBJ-001');
    const kept = tps[0]!.analysis.lesions.length;
    expect(kept).toBeGreaterThan(0);
    const a = await analyseCtVolume(folder[0]!.volume, await pool.model('ct-threshold-drop-all'));
    expect(a.lesions).toEqual([]);
    expect(a.components.every((c) => c === 0)).toBe(true);
    expect(a.dropped).toHaveLength(kept);
    for (const d of a.dropped!) {
      // log volume (mm3) - 100 is far below 0: the probability is ~0
      expect(d.rule).toMatch(/^component classifier: lesion probability 0\.000 < 0\.5$/);
      expect(d.lesionProbability).toBe(0);
    }
  });

  it('a model whose card asks for 1 mm pixels runs on the resampled volume; lesions are measured on the scan grid', async () => {
    const { folder } = await readSubject('SUBJ-001');
    const vol = folder[0]!.volume;
    expect(vol.spacing[0]).toBeCloseTo(PS, 3); // 1.41 mm pixels (DICOM decimal string): the model's 1 mm grid is finer
    writeModelFolder(models, 'ct-threshold-1mm', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', THRESHOLD_SPEC, (card) => {
      card.classes = CLASSES;
      card.postprocessing = { argmax: true, min_component_voxels: 10 };
      card.preprocessing.target_spacing_mm = [1, 1, vol.spacing[2]];
    });
    const a = await analyseCtVolume(vol, await pool.model('ct-threshold-1mm'));
    const grid = Math.round((vol.dims[0] * vol.spacing[0]) / 1);
    expect(a.resampled).toEqual({ fromSpacingMm: [...vol.spacing], toSpacingMm: [1, 1, vol.spacing[2]], dims: [grid, grid, vol.dims[2]] });
    expect(a.components.length).toBe(vol.dims[0] * vol.dims[1] * vol.dims[2]); // on the scan's grid
    const gt = truth.filter((r) => r.subjectId === 'SUBJ-001' && r.visitIndex === 0 && r.present);
    expect(a.lesions.length).toBe(gt.length);
    for (const g of gt) {
      const near = a.lesions.filter((l) => Math.hypot(l.measurement.centroidMm[0] - g.centerX, l.measurement.centroidMm[1] - g.centerY, l.measurement.centroidMm[2] - g.centerZ) < 4);
      expect(near).toHaveLength(1);
      expect(Math.abs(near[0]!.measurement.longAxis.lengthMm - g.longestDiameterMm)).toBeLessThan(1.5 * PS);
    }
  });

  it('refuses a card whose component classifier names an unknown feature, before running the model', async () => {
    const { folder } = await readSubject('SUBJ-001');
    const model = await pool.model('ct-threshold-bad-feature');
    const err = await analyseCtVolume(folder[0]!.volume, model).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'airead.bad-card' });
    expect((err as Error).message).toMatch(/ct-threshold-bad-feature@0\.1\.0: postprocessing\.component_classifier: unknown feature "volume_ml"/);
  });
});
