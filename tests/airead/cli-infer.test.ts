/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * `cli infer-ct` and `cli infer-slide` (the functions behind them): files only, no database. pydicom, an independent
 * reader, reads the SEG and SR back; the SR's values equal proposals.json.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadConfig, repoRoot } from '@app/core';
import { generateSyntheticSlide } from '@app/pathology';
import { generatePhantomStudy } from '@app/phantom';
import { inferCt, inferSlide } from '../../apps/cli/src/infer';
import { cleanup, ortVersion, tempModelsDir, writeModelFolder } from '../inference/helpers';

let dir: string;
let models: string;
/** The fixed-threshold network's card fields (tests/airead/fixtures/ct-threshold.onnx), with one lesion class. */
const THRESHOLD_SPEC = { inC: 3, outC: 4, spatial: [128, 128], preprocessing: { hu_window: [-200, 300], context_slices: 1, roi_size: [128, 128], overlap: 0.5, blending: 'gaussian' } };
const LIVER_ONLY = [{ index: 1, name: 'liver lesion', category: { scheme: 'SCT', code: '49755003', meaning: 'Morphologically abnormal structure' }, type: { scheme: 'SCT', code: '52988006', meaning: 'Lesion' }, finding_site: { scheme: 'SCT', code: '10200004', meaning: 'Liver' } }];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'infer-cli-'));
  models = tempModelsDir();
  writeModelFolder(models, 'ct-lesion-seg', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', THRESHOLD_SPEC, (card) => {
    card.classes = LIVER_ONLY;
  });
  // the same network with a component classifier that drops every component (log volume - 100 is far below 0)
  writeModelFolder(models, 'ct-lesion-seg', '0.2.0', '../../airead/fixtures/ct-threshold.onnx', THRESHOLD_SPEC, (card) => {
    card.classes = LIVER_ONLY;
    card.postprocessing = { ...card.postprocessing, component_classifier: { features: ['log_volume_mm3'], mean: [0], scale: [1], coef: [1], intercept: -100, min_probability: 0.5 } };
  });
  cpSync(join(repoRoot(), 'models/he-tile-classifier'), join(models, 'he-tile-classifier'), { recursive: true });
});
afterAll(() => {
  cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const PY = `
import json, sys, pydicom
seg = pydicom.dcmread(sys.argv[1]); sr = pydicom.dcmread(sys.argv[2])
nums = {}
def walk(items, tuid=None):
    for it in items:
        name = it.ConceptNameCodeSequence[0].CodeMeaning if 'ConceptNameCodeSequence' in it else ''
        if it.ValueType == 'UIDREF' and name == 'Tracking Unique Identifier': tuid = it.UID
        if it.ValueType == 'CONTAINER' and 'ContentSequence' in it:
            t = [c.UID for c in it.ContentSequence if c.ValueType == 'UIDREF' and c.ConceptNameCodeSequence[0].CodeMeaning == 'Tracking Unique Identifier']
            walk(it.ContentSequence, t[0] if t else tuid)
        if it.ValueType == 'NUM' and name.lower() in ('long axis', 'short axis'):
            nums.setdefault(tuid, {})[name.lower()] = float(it.MeasuredValueSequence[0].NumericValue)
walk(sr.ContentSequence)
print(json.dumps({'segments': [s.TrackingUID for s in seg.SegmentSequence], 'frames': int(seg.NumberOfFrames), 'pixels': int(seg.pixel_array.sum()), 'nums': nums, 'patient': str(sr.PatientID)}))
`;

test('infer-ct writes proposals.json and a SEG + SR per timepoint that pydicom reads back to the same values', async () => {
  const ph = await generatePhantomStudy({ outDir: join(dir, 'ph'), subjects: 1, visits: 2, rows: 128, cols: 128, slices: 20, sliceThickness: 5, sliceSpacing: 5, noiseSigma: 5, seed: 5 });
  const out = join(dir, 'out-ct');
  const config = loadConfig({ MODELS_DIR: models, LOG_LEVEL: 'silent' });
  const r = await inferCt(join(dir, 'ph', 'SUBJ-001'), out, config, { model: 'ct-lesion-seg@0.1.0' });
  expect(r.tracking.timepoints).toHaveLength(2);
  const doc = JSON.parse(readFileSync(join(out, 'proposals.json'), 'utf8'));
  expect(doc.model.id).toBe('ct-lesion-seg');
  expect(doc.runtime).toEqual({ onnxruntime: ortVersion(), executionProvider: 'cpu' });
  expect(doc.timepoints.map((t: { droppedComponents: unknown[] }) => t.droppedComponents)).toEqual([[], []]);
  for (const tp of doc.timepoints) {
    const present = tp.lesions.filter((l: { present: boolean }) => l.present);
    expect(present.length).toBe(ph.groundTruth.filter((g) => g.visit === (tp.timePointId === 'TP1' ? 'BL' : 'FU1') && g.present).length);
    const py = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY, join(out, tp.timePointId, 'seg.dcm'), join(out, tp.timePointId, 'sr.dcm')], { encoding: 'utf8' }));
    expect(py.segments.sort()).toEqual(present.map((l: { trackingUid: string }) => l.trackingUid).sort());
    expect(py.pixels).toBeGreaterThan(0);
    for (const l of present) expect(py.nums[l.trackingUid]).toEqual({ 'long axis': l.longAxisMm, 'short axis': l.shortAxisMm });
  }
});

test('infer-slide writes metrics.json and a heatmap', async () => {
  const s = await generateSyntheticSlide({ path: join(dir, 's.svs'), width: 1024, height: 1024, seed: 9004 });
  const out = join(dir, 'out-slide');
  const doc = await inferSlide(s.path, out, loadConfig({ MODELS_DIR: models, LOG_LEVEL: 'silent' }));
  expect(Math.abs(doc.metrics.classFractions.tumour - s.groundTruth.fractions.tumour)).toBeLessThan(0.05);
  expect(existsSync(join(out, 'metrics.json'))).toBe(true);
  expect(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).runtime).toEqual({ onnxruntime: ortVersion(), executionProvider: 'cpu' });
  const meta = await sharp(join(out, 'heatmap.png')).metadata();
  expect(meta.width).toBe(doc.heatmap.width);
});

test("infer-ct's proposals.json lists what the card's component rules dropped, and why", async () => {
  const out = join(dir, 'out-ct-dropped');
  const config = loadConfig({ MODELS_DIR: models, LOG_LEVEL: 'silent' });
  const found = JSON.parse(readFileSync(join(dir, 'out-ct', 'proposals.json'), 'utf8'));
  await inferCt(join(dir, 'ph', 'SUBJ-001'), out, config, { model: 'ct-lesion-seg@0.2.0' });
  const doc = JSON.parse(readFileSync(join(out, 'proposals.json'), 'utf8'));
  expect(doc.model.version).toBe('0.2.0');
  for (const [i, tp] of doc.timepoints.entries()) {
    expect(tp.lesions.filter((l: { present: boolean }) => l.present)).toEqual([]);
    // every lesion 0.1.0 proposed at this timepoint is in the list, with the classifier's rule
    const had = found.timepoints[i].lesions.filter((l: { present: boolean }) => l.present).length;
    expect(had).toBeGreaterThan(0);
    expect(tp.droppedComponents).toHaveLength(had);
    for (const d of tp.droppedComponents) expect(d.rule).toMatch(/^component classifier: lesion probability 0\.000 < 0\.5$/);
  }
});
