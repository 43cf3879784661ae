/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * The shipped CT lesion models: 0.1.0 (the 2.5D U-Net, models/ct-lesion-seg/0.1.0) and 0.1.1 (the same network, same
 * sha256, plus a component classifier in its card that drops false-positive components; 0.1.0/train/fp-filter/). The
 * registry accepts both folders and hashes; the cards carry the evaluations the issue asks for; and a small
 * re-validation of 0.1.1, the version the pipeline uses ('ct-lesion-seg' = newest), on held-out 'hard' phantoms (seeds
 * never used in training or tuning: training 1000-1199, classifier tuning 1200-1259, card evaluations 9000-9019 and
 * 9040-9139, this test 9500+) goes through the production path:
 * DICOM files -> volume -> card-driven sliding window -> components and their rules -> RECIST measurements ->
 * alignment + tracking. Expectations come from the phantom's analytic ground truth and its label volume, never from
 * the model. The full evaluations: 0.1.0/train/evaluate.ts and 0.1.0/train/fp-filter/README.md.
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sha256Hex } from '@app/core';
import { analyseCtVolume, checkComponentClassifier, loadSubjectFolder, trackCtSubject, type CtTimepoint } from '@app/airead';
import { createInferencePool, listModels, type InferencePool } from '@app/inference';
import { connectedComponents3d } from '@app/measure';
import { generatePhantomStudy, renderPhantomVisit, renderVoxelOf, type GroundTruthRow, type PhantomOptions } from '@app/phantom';
import { DEFAULT_SERIES_SELECTION } from '@app/pipeline';

const MODELS = resolve(__dirname, '../../models');
const folderOf = (v: string) => join(MODELS, 'ct-lesion-seg', v);
const cardOf = (v: string) => JSON.parse(readFileSync(join(folderOf(v), 'card.json'), 'utf8'));

describe.each(['0.1.0', '0.1.1'])('ct-lesion-seg %s: shipped files and card', (version) => {
  const card = cardOf(version);
  it('the registry accepts the folder; the ONNX file hashes to the card', () => {
    const reg = listModels({ modelsDir: MODELS });
    expect(reg.refused.filter((r) => /ct-lesion-seg/.test(JSON.stringify(r)))).toEqual([]);
    const m = reg.models.find((x) => x.id === 'ct-lesion-seg' && x.version === version);
    expect(m).toBeDefined();
    expect(sha256Hex(readFileSync(join(folderOf(version), 'model.onnx')))).toBe(card.sha256);
    expect(m!.sha256).toBe(card.sha256);
  });

  it('the card reports the held-out evaluation, and the model clearly beats the best single HU threshold', () => {
    const e = card.evaluation.metrics;
    for (const k of ['dice_model', 'dice_best_threshold_baseline', 'sensitivity_ge10mm', 'fp_per_scan', 'ld_median_abs_error_mm', 'sa_median_abs_error_mm', 'tracking_pairs_correct']) {
      expect(typeof e[k]).toBe('number');
    }
    expect(e.dice_model).toBeGreaterThan(e.dice_best_threshold_baseline + 0.2);
    // the accuracy gates on the 20 held-out scans of evaluate.ts
    expect(e.scans).toBe(20);
    expect(e.sensitivity_ge10mm).toBeGreaterThanOrEqual(0.95);
    expect(e.dice_model).toBeGreaterThanOrEqual(0.85);
    expect(e.ld_median_abs_error_mm).toBeLessThanOrEqual(1.5);
    expect(e.sa_median_abs_error_mm).toBeLessThanOrEqual(1.5);
    expect(e.tracking_pairs_correct).toBeGreaterThanOrEqual(0.98);
    // 0.1.0 misses the false-positive gate on these 20 scans (0.25 against 0.2): reported in its card, not asserted
    if (version !== '0.1.0') expect(e.fp_per_scan).toBeLessThanOrEqual(0.2);
  });
});

describe('ct-lesion-seg 0.1.1: the component classifier', () => {
  const c010 = cardOf('0.1.0');
  const c011 = cardOf('0.1.1');
  it("is 0.1.0's network and rules, plus a well-formed classifier", () => {
    expect(c011.sha256).toBe(c010.sha256);
    expect(c011.preprocessing).toEqual(c010.preprocessing);
    const { component_classifier: clf, ...rules } = c011.postprocessing;
    expect(rules).toEqual(c010.postprocessing);
    expect(() => checkComponentClassifier(clf, 3)).not.toThrow();
  });
  it("meets the false-positive gate on 100 fresh held-out scans without losing sensitivity (paired with 0.1.0's rule)", () => {
    const e = c011.evaluation.metrics;
    expect(e.heldout_9040_scans).toBe(100);
    expect(e.heldout_9040_fp_per_scan).toBeLessThanOrEqual(0.2);
    expect(e.heldout_9040_fp_per_scan).toBeLessThan(e.heldout_9040_fp_per_scan_without_classifier);
    expect(e.heldout_9040_sensitivity_ge10mm).toBeGreaterThanOrEqual(0.95);
    expect(e.heldout_9040_sensitivity_ge10mm_without_classifier - e.heldout_9040_sensitivity_ge10mm).toBeLessThanOrEqual(0.01);
  });
});

// ---- re-validation ----------------------------------------------------------------------------------------
// pixelSpacing 0.9 mm: the coarse end of the training range (0.6-0.9 mm), a 400 x 400 matrix over the phantom's 360 mm
// field of view: 36 windows a slice instead of the 49-81 of seeded spacings, so the four scans take about half the
// inference (this file was the suite's longest); lesion sizes are in mm, so the measurement gates are as strict
const OPTS: Omit<PhantomOptions, 'outDir'> = { subjects: 2, visits: 2, seed: 9500, realism: 'hard', sliceThickness: 5, pixelSpacing: 0.9 };
let dir: string;
let pool: InferencePool;
let truth: GroundTruthRow[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ctseg-'));
  truth = (await generatePhantomStudy({ outDir: dir, ...OPTS })).groundTruth;
  pool = createInferencePool({ modelsDir: MODELS }); // the production default: one single-threaded session per core
}, 120_000);
afterAll(async () => {
  await pool?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ct-lesion-seg 0.1.1: re-validation on held-out hard phantoms (2 subjects x 2 visits)', () => {
  // A regression guard through the DICOM path on 24 lesions: measurement and tracking at the gates;
  // detection and false positives with a margin for so small a sample (one missed lesion = 4 points of sensitivity;
  // onnxruntime's CPU kernels differ slightly between machines). The gate figures are the card's 20-scan evaluation.
  it('detects, measures and tracks the lesions', async () => {
    const model = await pool.model('ct-lesion-seg@0.1.1');
    let tp = 0, np = 0, ng = 0, fp = 0, scans = 0, eligible = 0, detected = 0, pairs = 0, pairsOk = 0;
    const ldErr: number[] = [];
    const saErr: number[] = [];
    const subjects = [...new Set(truth.map((g) => g.subjectId))];
    for (const [s, subjectId] of subjects.entries()) {
      const folder = await loadSubjectFolder(join(dir, subjectId), DEFAULT_SERIES_SELECTION, sha256Hex);
      expect(folder).toHaveLength(2);
      const tps: CtTimepoint[] = [];
      for (const f of folder) tps.push({ timePointId: f.timePointId, date: f.date, volume: f.volume, sliceHeaders: f.sliceHeaders, analysis: await analyseCtVolume(f.volume, model) });
      const tracked = trackCtSubject(subjectId, tps);
      const uidByLesion = new Map<string, string[]>();
      for (const [v, t] of tps.entries()) {
        scans++;
        // the DICOM volume is the render's grid: compare against the render's label volume
        const r = renderPhantomVisit(OPTS, s, v);
        expect(t.volume.dims).toEqual(r.dims);
        for (let a = 0; a < 3; a++) expect(t.volume.affine[a * 4 + 3]).toBeCloseTo(r.affine[a * 4 + 3], 3);
        const comp = t.analysis.components;
        const G = connectedComponents3d(r.labels, r.dims, { connectivity: 26, minVoxels: 1 });
        const hitGt = new Set<number>();
        // overlap[gt component] = Map(AI component -> shared voxels)
        const overlap = new Map<number, Map<number, number>>();
        for (let i = 0; i < comp.length; i++) {
          const p = comp[i] > 0;
          const g = r.labels[i] > 0;
          if (p) np++;
          if (g) ng++;
          if (p && g) {
            tp++;
            hitGt.add(comp[i]);
            const m = overlap.get(G.components[i]) ?? new Map<number, number>();
            m.set(comp[i], (m.get(comp[i]) ?? 0) + 1);
            overlap.set(G.components[i], m);
          }
        }
        fp += t.analysis.lesions.filter((l) => !hitGt.has(l.component)).length;
        const [nx, ny] = r.dims;
        const trackedTp = tracked.timepoints.find((x) => x.timePointId === t.timePointId)!;
        for (const g of truth.filter((x) => x.subjectId === subjectId && x.visitIndex === v && x.present)) {
          const at = renderVoxelOf(r, g.centerX, g.centerY, g.centerZ);
          const idx = at ? at[2] * nx * ny + at[1] * nx + at[0] : -1;
          if (!at || !r.labels[idx] || g.longestDiameterMm < 10) continue; // not imaged at its centre, or below RECIST size
          eligible++;
          // detected: an AI component overlaps the lesion's voxels (the one overlapping most is measured)
          const ov = [...(overlap.get(G.components[idx]) ?? new Map<number, number>())].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
          if (!ov.length) continue;
          const c = ov[0][0];
          detected++;
          const l = t.analysis.lesions.find((x) => x.component === c)!;
          ldErr.push(Math.abs(l.measurement.longAxis.lengthMm - g.longestDiameterMm));
          saErr.push(Math.abs(l.measurement.shortAxis.lengthMm - g.shortAxisMm));
          const uid = trackedTp.lesions.find((x) => x.lesion?.component === c)!.trackingUid;
          uidByLesion.set(g.lesionId, [...(uidByLesion.get(g.lesionId) ?? []), uid]);
        }
      }
      for (const uids of uidByLesion.values()) {
        if (uids.length !== 2) continue;
        pairs++;
        if (uids[0] === uids[1]) pairsOk++;
      }
    }
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const figures = { dice: (2 * tp) / (np + ng), sensitivity: detected / eligible, fpPerScan: fp / scans, ldMedian: median(ldErr), saMedian: median(saErr), pairs, pairsOk, eligible };
    // printed so a failing CI run shows every figure at once
    process.stdout.write(`ct-lesion-seg re-validation ${JSON.stringify(figures)}\n`);
    expect(eligible).toBeGreaterThanOrEqual(12);
    expect(figures.sensitivity).toBeGreaterThanOrEqual(0.85);
    expect(figures.dice).toBeGreaterThanOrEqual(0.85);
    expect(figures.ldMedian).toBeLessThanOrEqual(1.5);
    expect(figures.saMedian).toBeLessThanOrEqual(1.5);
    expect(pairs).toBeGreaterThanOrEqual(6);
    expect(pairsOk / pairs).toBeGreaterThanOrEqual(0.98);
    // 0.1.1 proposes no false positive on these four scans (2026-12-08: dice 0.87, sensitivity 22/24, LD / SA median
    // error 0.81 / 1.25 mm, 10/10 pairs); one is allowed for machine differences
    expect(figures.fpPerScan).toBeLessThanOrEqual(0.25);
  }, 600_000);
});
