/**
 * Benchmark: the AI read's throughput against the same model in a bare onnxruntime loop.
 *
 * - CT: a 300 x 512 x 512 phantom series (DICOM written once into .bench/inference/, git-ignored) is read into a
 *   volume and stored as the pipeline stores it (NRRD), then timed from the volume file to stored measurements:
 *   analyseCtVolume reading the file slice by slice (openNrrdSlices, as inference.ct does; card-driven 2.5D sliding window through
 *   the worker-thread pool, Gaussian blending, argmax, 3D components, RECIST measurements) + SEG + SR + proposals JSON
 *   written to disk. Reference: the same model in a bare `InferenceSession.run` loop on the main thread over the same
 *   number of windows, in batches of the same size, fed real windows of the same volume prepared beforehand (the
 *   preparation is not timed). speedup_vs_bare_ort_ct = bare time / pipeline time (>= 0.85: the pipeline keeps 85 %
 *   of bare throughput, i.e. I/O, preprocessing and measurement overlap with or cost little beside inference).
 * - WSI: a synthetic slide (WSI_BENCH_SIZE px square, default 8192) through classifySlide (streamed tile bands through
 *   the pool) vs the bare loop on the same number of tiles. The decoder sandbox's children are started first (one map
 *   row read from another handle), as the session is warmed. The first slide classified is timed apart
 *   (wsi_first_slide_patches_per_s: the decoder children's and this thread's code not yet optimised by V8); then
 *   WSI_BENCH_REPS (default 5) slides, each from a fresh handle, as a worker that has classified a slide before sees
 *   them: wsi_patches_per_s = tiles per second of their median. The bare loop is timed WSI_BENCH_REPS times too, each
 *   right after one of the slides, alternating so that both see the same spells of the machine's speed; each is a
 *   fresh session with one warm-up run, on one batch of real tiles of the same slide cut beforehand in the model's
 *   input dtype (float32 / 255, or the bytes for a uint8-input model such as he-tile-classifier 0.2.0);
 *   speedup_vs_bare_ort_wsi = median bare time / median pipeline time.
 * The pipeline's pool is configured as a worker's is: INFERENCE_THREADS sessions of INFERENCE_INTRAOP_THREADS intra-op
 * threads each (defaults: defaultInferenceThreads, i.e. on CPU one per core up to 4, each single-threaded). The bare loop is one session with onnxruntime's default intra-op threads
 * (BARE_INTRAOP_THREADS to change it), whatever the pool uses. Both use the same batch size (INFERENCE_BATCH, default 8
 * for CT, 256 for tiles). The CT model is AI_CT_MODEL (default ct-lesion-seg), the tile
 * model AI_SLIDE_MODEL (default he-tile-classifier), from MODELS_DIR or models/.
 * peak_rss_mb: this process's maximum RSS over the whole run (pipeline and bare loops).
 * Run: npm run bench:inference   Ends with ONE JSON line.
 */
import { mkdirSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { loadConfig, repoRoot, sha256Hex } from '@app/core';
import { analyseCtVolume, classesFromCard, loadSubjectFolder, trackCtSubject, writeTimepointSegSr } from '@app/airead';
import { createInferencePool, gaussianImportanceMap, resolveModel, windowStarts } from '@app/inference';
import { bandPlanes, classifySlide, generateSyntheticSlide, readTileBand, tileGrid, tileToChw, tileToChwPlanar } from '@app/pathology';
import { generatePhantomStudy } from '@app/phantom';
import { DEFAULT_SERIES_SELECTION, encodeNrrd, openNrrdSlices, slideSpec, tilePredictor } from '@app/pipeline';
import { openSlide } from '@app/wsi';
import { writeFile } from 'node:fs/promises';

const ROOT = join(repoRoot(), '.bench', 'inference');
const SLICES = Number(process.env.CT_BENCH_SLICES ?? 300);
const MATRIX = Number(process.env.CT_BENCH_MATRIX ?? 512);
const WSI = Number(process.env.WSI_BENCH_SIZE ?? 8192);
const WSI_REPS = Math.max(1, Number(process.env.WSI_BENCH_REPS ?? 5));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rssMb = () => process.resourceUsage().maxRSS / 1024;
const say = (s: string) => process.stdout.write(`${s}\n`);

async function ctSeries(): Promise<string> {
  const dir = join(ROOT, `ct-${MATRIX}x${SLICES}`);
  if (!existsSync(join(dir, 'ground_truth.json'))) {
    rmSync(dir, { recursive: true, force: true });
    const t = performance.now();
    await generatePhantomStudy({ outDir: dir, subjects: 1, visits: 1, rows: MATRIX, cols: MATRIX, slices: SLICES, sliceThickness: 1.25, sliceSpacing: 1.25, pixelSpacing: 0.7, seed: 2026 });
    say(`generated ${SLICES} x ${MATRIX}^2 CT series in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  return join(dir, 'SUBJ-001');
}

/** The bare reference: one InferenceSession on this thread, `runs` calls on prepared feeds, cycled. */
async function bareLoop(modelFile: string, inputName: string, feeds: (Float32Array | Uint8Array)[], dims: number[], runs: number): Promise<number> {
  const opts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'] };
  const intra = process.env.BARE_INTRAOP_THREADS;
  if (intra) opts.intraOpNumThreads = Number(intra);
  const s = await ort.InferenceSession.create(readFileSync(modelFile), opts);
  const type = feeds[0] instanceof Uint8Array ? 'uint8' : 'float32';
  await s.run({ [inputName]: new ort.Tensor(type, feeds[0]!, dims) }); // warm-up, as the pool's session is warm
  const t = performance.now();
  for (let r = 0; r < runs; r++) await s.run({ [inputName]: new ort.Tensor(type, feeds[r % feeds.length]!, dims) });
  const sec = (performance.now() - t) / 1000;
  await s.release();
  return sec;
}

async function main(): Promise<void> {
  mkdirSync(ROOT, { recursive: true });
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const ctBatch = Number(process.env.INFERENCE_BATCH ?? 8);
  const tileBatch = Number(process.env.INFERENCE_TILE_BATCH ?? 256);
  const intra = process.env.INFERENCE_INTRAOP_THREADS ? Number(process.env.INFERENCE_INTRAOP_THREADS) : undefined;

  // ---------- CT ----------
  const folder = await ctSeries();
  const [tp] = await loadSubjectFolder(folder, DEFAULT_SERIES_SELECTION, sha256Hex);
  const vol = tp!.volume;
  const threads = config.INFERENCE_THREADS;
  const pool = createInferencePool({ threads, intraOpNumThreads: intra, batchSize: ctBatch, modelsDir: config.MODELS_DIR });
  const model = await pool.model(config.AI_CT_MODEL);
  await model.run({ image: { data: new Float32Array(3 * 128 * 128), dims: [1, 3, 128, 128] } }); // session warm, as in a running worker
  const out = join(ROOT, 'out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // the volume as the pipeline stores it (NRRD, written untimed); the timed read streams it slice by slice from the
  // file, as inference.ct does
  const nrrdPath = join(ROOT, 'volume.nrrd');
  await writeFile(nrrdPath, encodeNrrd(vol));
  const file = openNrrdSlices(nrrdPath);
  const t0 = performance.now();
  const analysis = await analyseCtVolume({ dims: file.dims, affine: file.affine, spacing: file.spacing, flags: vol.flags, slice: (k) => file.slice(k) }, model);
  file.close();
  const tracked = trackCtSubject('BENCH', [{ timePointId: tp!.timePointId, date: tp!.date, volume: vol, sliceHeaders: tp!.sliceHeaders, analysis }]);
  const files = writeTimepointSegSr(tracked.timepoints[0]!, vol, tp!.sliceHeaders, analysis.components, { readingId: 'BENCH', model: model.provenance, classes: classesFromCard(model.card), runKey: 'bench', contentDate: '20261205', contentTime: '000000' });
  if (files) {
    await writeFile(join(out, 'seg.dcm'), files.seg);
    await writeFile(join(out, 'sr.dcm'), files.sr);
  }
  await writeFile(join(out, 'proposals.json'), JSON.stringify(tracked.timepoints[0]!.lesions.map(({ lesion, ...l }) => l)));
  const ctS = (performance.now() - t0) / 1000;
  say(`CT pipeline: ${vol.dims.join('x')} in ${ctS.toFixed(2)} s (${analysis.windows} windows, ${analysis.lesions.length} lesions)`);

  // bare: the same number of windows in batches of ctBatch, real windows of this volume (HU window from the card)
  const pre = model.card.preprocessing ?? {};
  const [lo, hi] = (pre.hu_window as [number, number]) ?? [-200, 300];
  const roi = (pre.roi_size as number[]) ?? [128, 128];
  const [nx, ny] = vol.dims;
  const xs = windowStarts(nx, roi[1]!, Number(pre.overlap ?? 0.5));
  const ys = windowStarts(ny, roi[0]!, Number(pre.overlap ?? 0.5));
  void gaussianImportanceMap;
  const feeds: Float32Array[] = [];
  const plane = roi[0]! * roi[1]!;
  for (let f = 0; f < 8; f++) {
    const feed = new Float32Array(ctBatch * 3 * plane);
    for (let b = 0; b < ctBatch; b++) {
      const k = Math.min(vol.dims[2] - 2, 1 + ((f * ctBatch + b) * 7) % (vol.dims[2] - 2));
      const x0 = xs[(f + b) % xs.length]!;
      const y0 = ys[(f * 3 + b) % ys.length]!;
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < roi[0]!; y++)
          for (let x = 0; x < roi[1]!; x++) {
            const v = vol.data[(x0 + x) + (y0 + y) * nx + (k - 1 + c) * nx * ny]!;
            feed[b * 3 * plane + c * plane + y * roi[1]! + x] = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
          }
    }
    feeds.push(feed);
  }
  const ctModel = resolveModel(config.AI_CT_MODEL, { modelsDir: config.MODELS_DIR });
  const bareCtS = await bareLoop(ctModel.file, Object.keys(model.card.network_data_format.inputs)[0]!, feeds, [ctBatch, 3, roi[0]!, roi[1]!], Math.ceil(analysis.windows / ctBatch));
  say(`CT bare ORT loop: ${Math.ceil(analysis.windows / ctBatch)} runs of ${ctBatch} windows in ${bareCtS.toFixed(2)} s`);

  // ---------- WSI ----------
  const slidePath = join(ROOT, `slide-${WSI}.svs`);
  if (!existsSync(slidePath)) await generateSyntheticSlide({ path: slidePath, width: WSI, height: WSI, seed: 2027 });
  const tileModel = await pool.model(config.AI_SLIDE_MODEL);
  const spec = { ...slideSpec(tileModel), batchSize: tileBatch };
  const tileLen = 3 * spec.tileSize * spec.tileSize;
  const bytes = spec.inputDtype === 'uint8';
  await tileModel.run({ [Object.keys(tileModel.card.network_data_format.inputs)[0]!]: { data: bytes ? new Uint8Array(tileLen) : new Float32Array(tileLen), dims: [1, 3, spec.tileSize, spec.tileSize] } }); // session warm, as for CT
  // the decoder sandbox warm, as in a running worker: its child processes start (and load their codecs) on first use
  // and then stay; one map row of another slide object warms them without warming this one's reads
  // the bare loop's feeds are real tiles of the same slide (the first map rows, in map order), cut as classifySlide cuts
  // them, in the model's input dtype; made here, untimed
  const warmSlide = await openSlide(slidePath);
  const grid = tileGrid(warmSlide, spec);
  const band = await readTileBand(warmSlide, grid, 0, Math.ceil(tileBatch / grid.nx));
  await warmSlide.close();
  const tfeed = bytes ? new Uint8Array(tileBatch * tileLen) : new Float32Array(tileBatch * tileLen);
  const planes = bytes ? bandPlanes(band) : undefined;
  for (let t = 0; t < tileBatch; t++) {
    if (tfeed instanceof Uint8Array) tileToChwPlanar(planes!, band, grid, t % grid.nx, Math.floor(t / grid.nx), tfeed, t * tileLen);
    else tileToChw(band, grid, t % grid.nx, Math.floor(t / grid.nx), tfeed, t * tileLen);
  }
  const classifyOnce = async () => {
    const slide = await openSlide(slidePath);
    try {
      const tw = performance.now();
      const map = await classifySlide(slide, null, tilePredictor(tileModel, spec.tileSize), spec);
      return { s: (performance.now() - tw) / 1000, tiles: map.tilesClassified };
    } finally {
      await slide.close();
    }
  };
  const first = await classifyOnce();
  const tiles = first.tiles;
  say(`WSI, first slide: ${tiles} tiles (${spec.tileSize} px at ${spec.targetMpp} um/px) in ${first.s.toFixed(2)} s = ${(tiles / first.s).toFixed(0)}/s`);
  const tfeeds = [tfeed];
  const tm = resolveModel(config.AI_SLIDE_MODEL, { modelsDir: config.MODELS_DIR });
  // pipeline and bare loop alternate, so that both see the same spells of a shared machine's speed (on a noisy 2-core
  // VM the same slide took 2.6 to 3.3 s a few minutes apart: three pipeline runs and then three bare ones compared
  // different spells)
  const wsiTimes: number[] = [];
  const bareTimes: number[] = [];
  for (let r = 0; r < WSI_REPS; r++) {
    wsiTimes.push((await classifyOnce()).s);
    bareTimes.push(await bareLoop(tm.file, Object.keys(tileModel.card.network_data_format.inputs)[0]!, tfeeds, [tileBatch, 3, spec.tileSize, spec.tileSize], Math.ceil(tiles / tileBatch)));
  }
  const wsiS = median(wsiTimes);
  say(`WSI, next ${WSI_REPS} slides: ${wsiTimes.map((x) => x.toFixed(2)).join(' ')} s; median ${wsiS.toFixed(2)} s = ${(tiles / wsiS).toFixed(0)}/s`);
  const bareWsiS = median(bareTimes);
  say(`WSI bare ORT loop: ${Math.ceil(tiles / tileBatch)} runs of ${tileBatch} tiles in ${bareTimes.map((x) => x.toFixed(2)).join(' ')} s; median ${bareWsiS.toFixed(2)} s = ${(tiles / bareWsiS).toFixed(0)}/s`);
  await pool.close();

  console.log(
    JSON.stringify({
      bench: 'inference',
      ct_model: `${model.provenance.id}@${model.provenance.version}`,
      ct_volume: vol.dims.join('x'),
      ct_series_s: Number(ctS.toFixed(2)),
      ct_bare_ort_s: Number(bareCtS.toFixed(2)),
      speedup_vs_bare_ort_ct: Number((bareCtS / ctS).toFixed(3)),
      ct_windows: analysis.windows,
      wsi_model: `${tileModel.provenance.id}@${tileModel.provenance.version}`,
      wsi_tiles: tiles,
      wsi_patches_per_s: Math.round(tiles / wsiS),
      wsi_first_slide_patches_per_s: Math.round(tiles / first.s),
      wsi_reps: WSI_REPS,
      wsi_bare_ort_patches_per_s: Math.round(tiles / bareWsiS),
      speedup_vs_bare_ort_wsi: Number((bareWsiS / wsiS).toFixed(3)),
      pipeline_threads: pool.threads,
      pipeline_intraop_threads: pool.intraOpNumThreads ?? 'onnxruntime default',
      bare_intraop_threads: process.env.BARE_INTRAOP_THREADS ? Number(process.env.BARE_INTRAOP_THREADS) : 'onnxruntime default',
      peak_rss_mb: Math.round(rssMb()),
      target_fraction_of_bare: 0.85,
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
