/**
 * End-to-end evaluation through the production path: held-out synthetic slides 9000-9009 (3072 x 3072 px, mpp
 * 0.45 / 0.5 / 0.55 cycling, as in make_data.ts 'eval') -> openSlide -> classifySlide (onnxruntime-node, model.onnx)
 * -> slideMetrics, compared with the generator's ground-truth fractions.
 *
 *   node -r @swc-node/register models/he-tile-classifier/0.1.0/train/evaluate.ts [workDir=/tmp/he-eval] [modelDir] [compareDir]
 *
 * modelDir: the version folder to evaluate (default this script's, 0.1.0); the tiles go in as its model.onnx's input
 * type says (float32 / 255 or uint8 bytes). compareDir: another version of the same network; every slide is classified by
 * it too and the largest difference between the two models' probabilities is reported (0.2.0 against 0.1.0: 0).
 * Writes <modelDir>/train/evaluation.json.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { openSlide } from '@app/wsi';
import { generateSyntheticSlide } from '../../../../libs/pathology/src/synthetic';
import { classifySlide, ortPredictor, slideMetrics } from '../../../../libs/pathology/src/ai';

const HERE = __dirname;
const CLASSES = ['background', 'tumour', 'stroma', 'lymphocytes', 'pen'] as const;

async function main() {
  const work = process.argv[2] ?? '/tmp/he-eval';
  const modelDir = resolve(process.argv[3] ?? join(HERE, '..'));
  const compareDir = process.argv[4] ? resolve(process.argv[4]) : undefined;
  mkdirSync(work, { recursive: true });
  const load = async (dir: string) => {
    const session = await ort.InferenceSession.create(readFileSync(join(dir, 'model.onnx')), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const md = session.inputMetadata.find((x) => x.name === 'image');
    const inputDtype = md?.isTensor && md.type === 'uint8' ? 'uint8' : 'float32';
    return { predict: ortPredictor(session, { tileSize: 32 }), inputDtype: inputDtype as 'float32' | 'uint8', version: basename(dir) };
  };
  const model = await load(modelDir);
  const reference = compareDir ? await load(compareDir) : undefined;
  let maxProbDiff = 0;
  const spec = (m: typeof model) => ({ targetMpp: 1.0, tileSize: 32, stride: 16, classes: CLASSES, batchSize: 256, inputDtype: m.inputDtype });
  const rows = [];
  const t0 = Date.now();
  for (let i = 0; i < 10; i++) {
    const seed = 9000 + i;
    const mpp = [0.45, 0.5, 0.55][i % 3];
    const s = await generateSyntheticSlide({ path: join(work, `e${seed}.svs`), width: 3072, height: 3072, seed, mpp, cellSize: 16, pen: 'blue' });
    const slide = await openSlide(s.path);
    const t1 = Date.now();
    const map = await classifySlide(slide, undefined, model.predict, spec(model));
    const ms = Date.now() - t1;
    if (reference) {
      const other = await classifySlide(slide, undefined, reference.predict, spec(reference));
      for (let k = 0; k < map.probs!.length; k++) maxProbDiff = Math.max(maxProbDiff, Math.abs(map.probs![k] - other.probs![k]));
    }
    await slide.close();
    const met = slideMetrics(map);
    const err = Object.fromEntries(CLASSES.map((c) => [c, Math.abs(met.classFractions[c] - s.groundTruth.fractions[c])]));
    const t = s.groundTruth.fractions;
    const tt = t.tumour + t.stroma + t.lymphocytes;
    rows.push({
      seed,
      mpp,
      tiles: map.tilesClassified,
      classify_ms: ms,
      estimated: met.classFractions,
      truth: t,
      abs_error: err,
      max_abs_error: Math.max(...Object.values(err)),
      tumourFraction: { estimated: met.tumourFraction, truth: t.tumour / tt },
      stromalTilPercent: { estimated: met.stromalTilPercent, truth: (100 * t.lymphocytes) / (t.stroma + t.lymphocytes) },
    });
    console.log(`seed ${seed} mpp ${mpp}: ${map.tilesClassified} tiles in ${ms} ms, max abs fraction error ${Math.max(...Object.values(err)).toFixed(4)}`);
    rmSync(s.path, { force: true });
    rmSync(s.groundTruth.maskPath, { force: true });
  }
  const summary = {
    slides: rows.length,
    max_abs_fraction_error: Math.max(...rows.map((r) => r.max_abs_error)),
    mean_abs_fraction_error: Object.fromEntries(CLASSES.map((c) => [c, rows.reduce((a, r) => a + r.abs_error[c], 0) / rows.length])),
    max_abs_tumour_fraction_error: Math.max(...rows.map((r) => Math.abs(r.tumourFraction.estimated - r.tumourFraction.truth))),
    max_abs_stromal_til_error_pp: Math.max(...rows.map((r) => Math.abs(r.stromalTilPercent.estimated - r.stromalTilPercent.truth))),
    total_seconds: (Date.now() - t0) / 1000,
    ...(reference ? { compared_with: reference.version, max_abs_probability_difference: maxProbDiff } : {}),
  };
  console.log(JSON.stringify(summary, null, 1));
  writeFileSync(join(modelDir, 'train', 'evaluation.json'), JSON.stringify({ summary, rows }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
