/**
 * Evaluation through the production path on held-out hard phantoms, seeds 9000-9019 (never used in training):
 * renderPhantomVisit (same volume rule as make_data.ts) -> analyseCtVolume (@app/airead, what the inference.ct job
 * runs: segmentVolume with the card-driven 2.5D full-slice sliding window, roi 128, overlap 0.5, gaussian blending,
 * onnxruntime-node on model.onnx, argmax; 26-connected components with the card's component rules
 * min_component_voxels / min_component_mean_probability; RECIST measurements). Tracking: trackCtSubject on 4
 * held-out subjects x 3 visits (study seeds 9100-9103) with per-visit patient motion.
 *
 *   node -r @swc-node/register models/ct-lesion-seg/0.1.0/train/evaluate.ts [--seeds 20] [--no-card]
 *     [--model id@version] [--first-seed S] [--tracking N] [--out file.json]
 *
 * Metrics (voxel counts pooled over all scans): Dice per class (exact class) and foreground (any lesion class);
 * the best-single-HU-threshold baseline (foreground = HU >= t, t scanned over every integer HU and chosen to
 * maximise Dice on these same scans); per-lesion detection sensitivity for ground-truth lesions with analytic
 * LD >= 10 mm (detected = a predicted component overlaps its ground-truth voxels); false positives per scan
 * (predicted components overlapping no ground-truth lesion voxel); LD / SA median absolute error of the detected
 * lesions (measureLesions on the predicted component with the largest overlap) vs the analytic LD / SA, and the
 * same measured on the ground-truth label masks (the sampling floor). Writes train/evaluation.json and the
 * card's evaluation.metrics.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseCtVolume, trackCtSubject, type CtTimepoint } from '@app/airead';
import type { Volume } from '@app/dicom';
import { createInferencePool, type ModelHandle } from '@app/inference';
import { renderPhantomVisit, renderVoxelOf } from '@app/phantom';
import { connectedComponents3d, measureLesions } from '@app/measure';
import { volumeFor } from './make_data';

const HERE = __dirname;
const CARD = join(HERE, '..', 'card.json');
const LABEL: Record<string, number> = { liver: 1, lung: 2, 'lymph node': 3 };
const median = (a: number[]): number => {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r4 = (x: number): number => +x.toFixed(4);

/**
 * Tracking on held-out subjects (study seeds 9100.., subject 0, baseline + 2 follow-ups with patient motion):
 * the production path (analyseCtVolume -> trackCtSubject: rigid alignment + Hungarian matching). A ground-truth
 * lesion pair (same lesion at the baseline and at a follow-up, detected at both) is correct when the AI lesions at
 * its two centres carry the same Tracking UID.
 */
async function evaluateTracking(model: ModelHandle, subjects: number): Promise<{ pairs: number; correct: number; rate: number; subjects: number }> {
  let pairs = 0;
  let correct = 0;
  for (let n = 0; n < subjects; n++) {
    const opts = { seed: 9100 + n, visits: 3 };
    const tps: CtTimepoint[] = [];
    const renders = [0, 1, 2].map((v) => renderPhantomVisit(opts, 0, v));
    for (const r of renders) {
      const volume: Volume = { dims: r.dims, spacing: r.spacing, affine: r.affine, data: r.hu, flags: [], sliceSopInstanceUids: [], sliceFrameIndices: [], slicePositions: [] };
      tps.push({ timePointId: r.visit, date: r.visitDate, volume, sliceHeaders: [], analysis: await analyseCtVolume(volume, model) });
    }
    const tracked = trackCtSubject(`eval-${n}`, tps);
    const uidAt = (v: number, g: { centerX: number; centerY: number; centerZ: number }): string | null => {
      const r = renders[v];
      const [nx, ny] = r.dims;
      const at = renderVoxelOf(r, g.centerX, g.centerY, g.centerZ);
      if (!at) return null;
      const c = tps[v].analysis.components[at[2] * nx * ny + at[1] * nx + at[0]];
      if (!c) return null;
      return tracked.timepoints.find((t) => t.timePointId === r.visit)!.lesions.find((l) => l.lesion?.component === c)?.trackingUid ?? null;
    };
    for (const g0 of renders[0].groundTruth.filter((g) => g.present)) {
      const u0 = uidAt(0, g0);
      if (!u0) continue;
      for (const v of [1, 2]) {
        const g = renders[v].groundTruth.find((x) => x.lesionId === g0.lesionId && x.present);
        const u = g && uidAt(v, g);
        if (!u) continue;
        pairs++;
        if (u === u0) correct++;
      }
    }
    console.log(JSON.stringify({ tracking: n, pairs, correct }));
  }
  return { pairs, correct, rate: r4(correct / Math.max(1, pairs)), subjects };
}

/**
 * The best fixed-HU baseline on the pooled voxels of the same scans: the best of `HU >= t`, `HU <= t` and
 * `lo <= HU <= hi` over every integer HU (chosen with the ground truth, so an upper bound for any fixed window).
 */
export function bestHuBaseline(histL: Float64Array, histA: Float64Array): { dice: number; t: number | [number, number]; rule: string } {
  const B = histL.length;
  let nl = 0;
  for (const v of histL) nl += v;
  let best: { dice: number; t: number | [number, number]; rule: string } = { dice: 0, t: NaN, rule: 'none' };
  // prefix sums: cumL[b] = sum histL[0..b-1]
  const cumL = new Float64Array(B + 1);
  const cumA = new Float64Array(B + 1);
  for (let b = 0; b < B; b++) { cumL[b + 1] = cumL[b] + histL[b]; cumA[b + 1] = cumA[b] + histA[b]; }
  for (let lo = 0; lo < B; lo++) {
    if (!histA[lo]) continue;
    for (let hi = lo; hi < B; hi++) {
      const tpv = cumL[hi + 1] - cumL[lo];
      const d = (2 * tpv) / (cumA[hi + 1] - cumA[lo] + nl);
      if (d > best.dice) best = { dice: d, t: [lo - 1024, hi - 1024], rule: hi === B - 1 ? 'HU >= t' : lo === 0 ? 'HU <= t' : 'lo <= HU <= hi' };
    }
  }
  if (best.rule === 'HU >= t') best.t = (best.t as [number, number])[0];
  else if (best.rule === 'HU <= t') best.t = (best.t as [number, number])[1];
  return best;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--baseline-only')) return baselineOnly(args.includes('--seeds') ? Number(args[args.indexOf('--seeds') + 1]) : 20);
  const nSeeds = args.includes('--seeds') ? Number(args[args.indexOf('--seeds') + 1]) : 20;
  // --first-seed 8000: tuning runs on seeds that are neither training (1000-1199) nor evaluation (9000-9019)
  const firstSeed = args.includes('--first-seed') ? Number(args[args.indexOf('--first-seed') + 1]) : 9000;
  const card = JSON.parse(readFileSync(CARD, 'utf8'));
  const minVoxOverride = args.includes('--min-voxels') ? Number(args[args.indexOf('--min-voxels') + 1]) : null;
  const minVox = minVoxOverride ?? Number(card.postprocessing?.min_component_voxels ?? 10);
  const fpSizes: number[] = [];
  const tpSizes: number[] = [];
  const pool = createInferencePool({ threads: 1, intraOpNumThreads: Number(process.env.EVAL_THREADS ?? 2), batchSize: 16 });
  // --model ct-lesion-seg@0.2.0: another version of this network (the hard-negatives experiment, hard-negatives/README.md)
  const modelRef = args.includes('--model') ? args[args.indexOf('--model') + 1] : 'ct-lesion-seg@0.1.0';
  const model = await pool.model(modelRef);
  const tp = [0, 0, 0, 0];
  const np = [0, 0, 0, 0];
  const ng = [0, 0, 0, 0];
  const histL = new Float64Array(4096);
  const histA = new Float64Array(4096);
  let detected = 0;
  let detectedSameClass = 0;
  let eligible = 0;
  let notImaged = 0;
  let fp = 0;
  let detectedSmall = 0;
  let eligibleSmall = 0;
  const ldErr: number[] = [];
  const saErr: number[] = [];
  const ldErrGt: number[] = [];
  const saErrGt: number[] = [];
  const scans: unknown[] = [];
  const t0 = Date.now();
  for (let s = firstSeed; s < firstSeed + nSeeds; s++) {
    const r = volumeFor(s);
    const n = r.hu.length;
    for (let i = 0; i < n; i++) {
      const b = r.hu[i] + 1024;
      histA[b]++;
      if (r.labels[i]) histL[b]++;
    }
    const t1 = Date.now();
    // the production path: analyseCtVolume applies the card's component rules and measures every component
    const volume: Volume = { dims: r.dims, spacing: r.spacing, affine: r.affine, data: r.hu, flags: [], sliceSopInstanceUids: [], sliceFrameIndices: [], slicePositions: [] };
    const analysis = await analyseCtVolume(volume, model, { sliceThicknessMm: r.sliceThickness, ...(minVoxOverride != null ? { minVoxels: minVoxOverride } : {}) });
    const ms = Date.now() - t1;
    const clsOf = new Uint8Array(analysis.lesions.length + 1);
    for (const l of analysis.lesions) clsOf[l.component] = l.cls;
    const pred = new Uint8Array(n);
    for (let i = 0; i < n; i++) pred[i] = clsOf[analysis.components[i]];
    const P = { components: analysis.components, count: analysis.lesions.length, sizes: new Array<number>(analysis.lesions.length).fill(0), classes: Array.from(clsOf.subarray(1)) };
    for (let i = 0; i < n; i++) if (P.components[i]) P.sizes[P.components[i] - 1]++;
    const G = connectedComponents3d(r.labels, r.dims, { connectivity: 26, minVoxels: 1 });
    let sTp = 0, sP = 0, sG = 0;
    for (let i = 0; i < n; i++) {
      const p = pred[i];
      const g = r.labels[i];
      if (p) { np[p]++; np[0]++; sP++; }
      if (g) { ng[g]++; ng[0]++; sG++; }
      if (p && g) { tp[0]++; sTp++; if (p === g) tp[p]++; }
    }
    // overlap table predicted component x ground-truth component
    const overlap = new Map<number, Map<number, number>>();
    const predHitsGt = new Uint8Array(P.count + 1);
    for (let i = 0; i < n; i++) {
      const pcI = P.components[i];
      const gcI = G.components[i];
      if (pcI && gcI) {
        predHitsGt[pcI] = 1;
        const m = overlap.get(gcI) ?? new Map<number, number>();
        m.set(pcI, (m.get(pcI) ?? 0) + 1);
        overlap.set(gcI, m);
      }
    }
    let sFp = 0;
    for (let c = 1; c <= P.count; c++) {
      if (!predHitsGt[c]) { sFp++; fpSizes.push(P.sizes[c - 1]); } else tpSizes.push(P.sizes[c - 1]);
    }
    fp += sFp;
    const grid = { dims: r.dims, spacing: r.spacing, affine: r.affine };
    const predMeas = new Map(analysis.lesions.map((l) => [l.component, l.measurement]));
    const gtMeas = G.count > 0 ? measureLesions(grid, G.components, G.count, { sliceThicknessMm: r.sliceThickness, classes: G.classes }) : [];
    const [nx, ny] = r.dims;
    let sDet = 0, sElig = 0;
    for (const g of r.groundTruth.filter((x) => x.present)) {
      const at = renderVoxelOf(r, g.centerX, g.centerY, g.centerZ);
      const gc = at ? G.components[at[2] * nx * ny + at[1] * nx + at[0]] : 0;
      const big = g.longestDiameterMm >= 10;
      if (!gc) { if (big) notImaged++; continue; }
      const ov = overlap.get(gc);
      const hit = !!ov && ov.size > 0;
      if (!big) { eligibleSmall++; if (hit) detectedSmall++; continue; }
      eligible++; sElig++;
      const gm = gtMeas[gc - 1];
      ldErrGt.push(Math.abs(gm.longAxis.lengthMm - g.longestDiameterMm));
      saErrGt.push(Math.abs(gm.shortAxis.lengthMm - g.shortAxisMm));
      if (!hit) continue;
      detected++; sDet++;
      let best = 0, bestN = 0;
      for (const [c, v] of ov!) if (v > bestN) { best = c; bestN = v; }
      if (P.classes[best - 1] === LABEL[g.organ]) detectedSameClass++;
      const pm = predMeas.get(best)!;
      ldErr.push(Math.abs(pm.longAxis.lengthMm - g.longestDiameterMm));
      saErr.push(Math.abs(pm.shortAxis.lengthMm - g.shortAxisMm));
    }
    const sc = { seed: s, dims: r.dims, spacing: r.spacing.map(r4), noise: r.noiseSigma, dice_fg: r4((2 * sTp) / Math.max(1, sP + sG)), lesions_ge10: sElig, detected: sDet, fp: sFp, segment_ms: ms };
    scans.push(sc);
    console.log(JSON.stringify(sc));
  }
  const tracking = await evaluateTracking(model, args.includes('--tracking') ? Number(args[args.indexOf('--tracking') + 1]) : 4);
  await model.close();
  await pool.close();
  const best = bestHuBaseline(histL, histA);
  const dice = tp.map((t, c) => (2 * t) / Math.max(1, np[c] + ng[c]));
  const metrics = {
    dice_model: r4(dice[0]),
    dice_liver_lesion: r4(dice[1]),
    dice_lung_lesion: r4(dice[2]),
    dice_lymph_node_lesion: r4(dice[3]),
    dice_mean_per_scan: r4((scans as { dice_fg: number }[]).reduce((a, x) => a + x.dice_fg, 0) / scans.length),
    dice_best_threshold_baseline: r4(best.dice),
    best_threshold_hu: best.t,
    best_threshold_rule: best.rule,
    sensitivity_ge10mm: r4(detected / Math.max(1, eligible)),
    lesions_ge10mm: eligible,
    class_correct_detection_rate: r4(detectedSameClass / Math.max(1, detected)),
    sensitivity_lt10mm: r4(detectedSmall / Math.max(1, eligibleSmall)),
    lesions_lt10mm: eligibleSmall,
    fp_per_scan: r4(fp / scans.length),
    ld_median_abs_error_mm: r4(median(ldErr)),
    sa_median_abs_error_mm: r4(median(saErr)),
    ld_median_abs_error_gt_mask_mm: r4(median(ldErrGt)),
    sa_median_abs_error_gt_mask_mm: r4(median(saErrGt)),
    scans: scans.length,
    min_component_voxels: minVox,
    fp_component_voxels: [...fpSizes].sort((a, b) => a - b),
    matched_component_voxels_min: tpSizes.length ? Math.min(...tpSizes) : null,
    not_imaged_ge10mm: notImaged,
    tracking_pairs_correct: tracking.rate,
    tracking_pairs: tracking.pairs,
    tracking_subjects: tracking.subjects,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  console.log(JSON.stringify(metrics, null, 1));
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : join(HERE, firstSeed === 9000 ? 'evaluation.json' : `tuning-${firstSeed}.json`);
  writeFileSync(out, JSON.stringify({ metrics, scans }, null, 1));
  if (!args.includes('--no-card') && modelRef === 'ct-lesion-seg@0.1.0' && firstSeed === 9000 && nSeeds === 20) {
    card.evaluation.metrics = metrics;
    writeFileSync(CARD, JSON.stringify(card, null, 2) + '\n');
  }
}

/** Recomputes only the fixed-HU baseline on seeds 9000.. (no model) and updates the card's baseline figures. */
function baselineOnly(nSeeds: number): void {
  const histL = new Float64Array(4096);
  const histA = new Float64Array(4096);
  for (let s = 9000; s < 9000 + nSeeds; s++) {
    const r = volumeFor(s);
    for (let i = 0; i < r.hu.length; i++) {
      const b = r.hu[i] + 1024;
      histA[b]++;
      if (r.labels[i]) histL[b]++;
    }
    console.log(`baseline seed ${s}`);
  }
  const best = bestHuBaseline(histL, histA);
  console.log(JSON.stringify(best));
  if (nSeeds === 20) {
    const card = JSON.parse(readFileSync(CARD, 'utf8'));
    Object.assign(card.evaluation.metrics, { dice_best_threshold_baseline: r4(best.dice), best_threshold_hu: best.t, best_threshold_rule: best.rule });
    writeFileSync(CARD, JSON.stringify(card, null, 2) + '\n');
    const ev = JSON.parse(readFileSync(join(HERE, 'evaluation.json'), 'utf8'));
    Object.assign(ev.metrics, { dice_best_threshold_baseline: r4(best.dice), best_threshold_hu: best.t, best_threshold_rule: best.rule });
    writeFileSync(join(HERE, 'evaluation.json'), JSON.stringify(ev, null, 1));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
