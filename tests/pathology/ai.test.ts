/** @jest-environment ./tests/inference/ort-environment.js */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { repoRoot } from '@app/core';
import { openSlide, type SlideReader } from '@app/wsi';
import { TUMOUR_BED_RADIUS_UM, tumourBedMask,
  classifySlide,
  PREDICTIONS_IN_FLIGHT,
  generateSyntheticSlide,
  heatmapDzi,
  heatmapPng,
  ortPredictor,
  slideMetrics,
  readTileBand,
  tileGrid,
  tileToChw,
  tileToChwPlanar,
  bandPlanes,
  type ClassMap,
  type ClassifierSpec,
  type SyntheticSlide,
  type TileBatch,
  type TilePredictor,
  type TissueMask,
} from '@app/pathology';
import { rmDir, tmp } from './helpers';

const MODEL_DIR = join(repoRoot(), 'models/he-tile-classifier/0.1.0');
const card = JSON.parse(readFileSync(join(MODEL_DIR, 'card.json'), 'utf8'));
const CLASSES: string[] = card.network_data_format.outputs.probs.channel_def ? Object.values(card.network_data_format.outputs.probs.channel_def) : [];
const spec = (batchSize = 256): ClassifierSpec => ({
  targetMpp: card.preprocessing.target_mpp,
  tileSize: card.preprocessing.tile_size,
  stride: card.preprocessing.stride,
  classes: CLASSES,
  batchSize,
});
const TRUTH_KEYS = ['background', 'tumour', 'stroma', 'lymphocytes', 'pen'] as const;

describe('H&E tile classifier (models/he-tile-classifier/0.1.0) and slide metrics', () => {
  const dir = tmp('ai');
  let s: SyntheticSlide;
  let slide: SlideReader;
  let session: ort.InferenceSession;
  let predict: TilePredictor;
  let map: ClassMap;
  let truthMask: { data: Uint8Array; width: number; height: number };

  beforeAll(async () => {
    const bytes = readFileSync(join(MODEL_DIR, card.file));
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    predict = ortPredictor(session, { tileSize: card.preprocessing.tile_size });
    // held-out evaluation seed (training used seeds 1-160, validation 500-511)
    s = await generateSyntheticSlide({ path: join(dir, 'held-out.svs'), width: 1536, height: 1280, seed: 9003, mpp: 0.5 });
    slide = await openSlide(s.path);
    const m = await sharp(s.groundTruth.maskPath).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    truthMask = { data: new Uint8Array(m.data), width: m.info.width, height: m.info.height };
    map = await classifySlide(slide, undefined, predict, spec());
  }, 60000);
  afterAll(async () => {
    await slide?.close();
    rmDir(dir);
  });

  it('ships model.onnx whose sha256 is the one in card.json, with the documented input/output', () => {
    const sha = createHash('sha256').update(readFileSync(join(MODEL_DIR, card.file))).digest('hex');
    expect(sha).toBe(card.sha256);
    expect(session.inputNames).toEqual(['image']);
    expect(session.outputNames).toEqual(['probs']);
    expect(CLASSES).toEqual([...TRUTH_KEYS]);
    expect(existsSync(join(MODEL_DIR, 'LICENSE'))).toBe(true);
  });

  it('0.2.0 is 0.1.0 taking uint8 tiles: its card says so, its sha256 matches, and it gives the same map to the bit', async () => {
    const dir2 = join(repoRoot(), 'models/he-tile-classifier/0.2.0');
    const card2 = JSON.parse(readFileSync(join(dir2, 'card.json'), 'utf8'));
    expect(createHash('sha256').update(readFileSync(join(dir2, card2.file))).digest('hex')).toBe(card2.sha256);
    expect(card2.network_data_format.inputs.image).toMatchObject({ dtype: 'uint8', value_range: [0, 255], layout: 'NCHW' });
    expect(card2.preprocessing).toMatchObject({ target_mpp: card.preprocessing.target_mpp, tile_size: card.preprocessing.tile_size, stride: card.preprocessing.stride });
    expect(card2.network_data_format.outputs).toEqual(card.network_data_format.outputs);
    expect(existsSync(join(dir2, 'LICENSE'))).toBe(true);
    const session2 = await ort.InferenceSession.create(readFileSync(join(dir2, card2.file)), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    try {
      const md = session2.inputMetadata[0];
      expect(md.isTensor && md.type).toBe('uint8');
      let batches = 0;
      const predict2 = ortPredictor(session2, { tileSize: card2.preprocessing.tile_size });
      const counting: TilePredictor = async (b, n) => {
        expect(Object.prototype.toString.call(b)).toBe('[object Uint8Array]'); // the bytes themselves, never /255
        batches++;
        return predict2(b, n);
      };
      const map2 = await classifySlide(slide, undefined, counting, { ...spec(), inputDtype: 'uint8' });
      expect(batches).toBe(Math.ceil(map.tilesClassified / 256));
      expect(Array.from(map2.classIndex)).toEqual(Array.from(map.classIndex));
      expect(Buffer.from(map2.probs!.buffer).equals(Buffer.from(map.probs!.buffer))).toBe(true);
      // a float32 batch is refused by the uint8 model (onnxruntime's own type check)
      await expect(predict2(new Float32Array(3 * 32 * 32), 1)).rejects.toThrow(/type|float/i);
    } finally {
      await session2.release();
    }
  }, 60000);

  /** The uint8 CHW tile of tileToChw's float32 one (x 255; exact: the first test checks the relation). */
  const bytesOf = (f: Float32Array) => Uint8Array.from(f, (x) => Math.round(x * 255));

  it('tileToChwPlanar cuts the same tile as tileToChw, as bytes (x 255 exactly)', async () => {
    const g = tileGrid(slide, spec());
    const j0 = Math.floor(g.ny / 2);
    const band = await readTileBand(slide, g, j0, j0 + 2);
    const L = 3 * g.tileSize * g.tileSize;
    const f = new Float32Array(2 * L);
    const b = new Uint8Array(2 * L);
    const planes = bandPlanes(band);
    for (const [k, [i, r]] of [[Math.floor(g.nx / 2), 1], [Math.floor(g.nx / 3), 0]].entries()) {
      tileToChw(band, g, i!, r!, f, k * L);
      tileToChwPlanar(planes, band, g, i!, r!, b, k * L);
    }
    for (let k = 0; k < f.length; k++) expect(f[k]).toBe(Math.fround(b[k]! / 255));
    expect(new Set(b).size).toBeGreaterThan(20); // real pixels, not blank
  });

  it('tileToChwPlanar cuts the same bytes as tileToChw on the word path and the byte path', async () => {
    const g = tileGrid(slide, spec());
    const j0 = Math.floor(g.ny / 3);
    const band = await readTileBand(slide, g, j0, j0 + 2);
    const L = 3 * g.tileSize * g.tileSize;
    // the real grid (32 px tiles, stride 16: the 4-byte path), every tile of the band's two rows, at offsets 0 and 1
    const planes = bandPlanes(band);
    const f = new Float32Array(2 * g.nx * L);
    for (let r = 0; r < 2; r++) for (let i = 0; i < g.nx; i++) tileToChw(band, g, i, r, f, (r * g.nx + i) * L);
    const want = bytesOf(f);
    for (const shift of [0, 1]) {
      const got = new Uint8Array(shift + 2 * g.nx * L);
      for (let r = 0; r < 2; r++) for (let i = 0; i < g.nx; i++) tileToChwPlanar(planes, band, g, i, r, got, shift + (r * g.nx + i) * L);
      expect(Buffer.from(got.subarray(shift)).equals(Buffer.from(want))).toBe(true);
    }
    // a grid no word copy fits (6 px tiles, stride 3) on a band 2 px narrower than a multiple of 4, planes reused
    const odd = { ...g, tileSize: 6, stride: 3 };
    const w = 4 * 9 + 2;
    const small = { width: w, height: 9, channels: 3 as const, data: Uint8Array.from({ length: w * 9 * 3 }, (_, k) => (k * 7 + 3) % 251) };
    const reused = bandPlanes(small, new Uint8Array(3 * w * 9 + 10));
    const n = 3 * 36;
    for (let i = 0; i < 11; i++) {
      const a = new Float32Array(n);
      const b = new Uint8Array(n);
      tileToChw(small, odd, i, 1, a, 0);
      tileToChwPlanar(reused, small, odd, i, 1, b, 0);
      expect(Array.from(b)).toEqual(Array.from(bytesOf(a)));
    }
  });

  it('classifies a held-out synthetic slide: class map geometry and probabilities', () => {
    const g = tileGrid(slide, spec());
    // 16 px cores at 1.0 µm/px on a 0.5 µm/px slide: 32 level-0 px per map px
    expect(map.downsample).toBeCloseTo((card.preprocessing.stride * card.preprocessing.target_mpp) / 0.5, 10);
    expect(map.width).toBe(Math.ceil(s.width / map.downsample));
    expect(map.height).toBe(Math.ceil(s.height / map.downsample));
    expect(map.width).toBe(g.nx);
    expect(map.tilesClassified).toBe(map.width * map.height);
    expect(map.classIndex.length).toBe(map.width * map.height);
    const C = CLASSES.length;
    for (let m = 0; m < map.classIndex.length; m += 37) {
      let sum = 0;
      let best = 0;
      for (let c = 0; c < C; c++) {
        sum += map.probs![m * C + c];
        if (map.probs![m * C + c] > map.probs![m * C + best]) best = c;
      }
      expect(sum).toBeCloseTo(1, 4);
      expect(map.classIndex[m]).toBe(best);
    }
  });

  it('estimates whole-slide class fractions within 5 percentage points of the ground truth', () => {
    const met = slideMetrics(map);
    for (const k of TRUTH_KEYS) expect(Math.abs(met.classFractions[k] - s.groundTruth.fractions[k])).toBeLessThan(0.05);
    const soft = slideMetrics(map, { soft: true });
    expect(soft.areaMethod).toBe('probabilities');
    for (const k of TRUTH_KEYS) expect(Math.abs(soft.classFractions[k] - s.groundTruth.fractions[k])).toBeLessThan(0.05);
    const sum = Object.values(met.classFractions).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 9);
  });

  it('resamples other scan resolutions: a held-out 0.55 µm/px slide is also within 5 pp', async () => {
    const s2 = await generateSyntheticSlide({ path: join(dir, 'held-out-055.svs'), width: 1200, height: 1100, seed: 9005, mpp: 0.55, pen: 'green' });
    const sl = await openSlide(s2.path);
    try {
      const m2 = await classifySlide(sl, null, predict, spec());
      expect(m2.downsample).toBeCloseTo(16 / 0.55, 10);
      const met = slideMetrics(m2);
      for (const k of TRUTH_KEYS) expect(Math.abs(met.classFractions[k] - s2.groundTruth.fractions[k])).toBeLessThan(0.05);
    } finally {
      await sl.close();
    }
  });

  it('per-map-pixel classes agree with the truth mask at the same level-0 position (overlay alignment)', () => {
    // class of the truth-mask cell under each map pixel's centre
    let agree = 0;
    let n = 0;
    for (let j = 0; j < map.height; j++) {
      for (let i = 0; i < map.width; i++) {
        const x = (i + 0.5) * map.downsample;
        const y = (j + 0.5) * map.downsample;
        if (x >= s.width || y >= s.height) continue;
        const t = truthMask.data[Math.floor(y / s.groundTruth.downsample) * truthMask.width + Math.floor(x / s.groundTruth.downsample)];
        n++;
        if (map.classIndex[j * map.width + i] === t) agree++;
      }
    }
    expect(agree / n).toBeGreaterThan(0.9);
  });

  it('slide metrics follow their definitions and match the metrics of the truth mask', () => {
    const met = slideMetrics(map);
    const f = met.classFractions;
    const tissue = f.tumour + f.stroma + f.lymphocytes;
    expect(met.tumourFraction).toBeCloseTo(f.tumour / tissue, 10);
    // the tumour bed: tissue within 500 µm (square window on the map) of a tumour cell; brute force here
    const R = Math.round(TUMOUR_BED_RADIUS_UM / (map.downsample * map.mpp));
    const tIdx = map.classes.indexOf('tumour');
    const names = ['tumour', 'stroma', 'lymphocytes'].map((n) => map.classes.indexOf(n));
    let bedTum = 0;
    let bedTissue = 0;
    for (let j = 0; j < map.height; j++)
      for (let i = 0; i < map.width; i++) {
        let near = false;
        for (let b = Math.max(0, j - R); b <= Math.min(map.height - 1, j + R) && !near; b++)
          for (let a = Math.max(0, i - R); a <= Math.min(map.width - 1, i + R); a++) if (map.classIndex[b * map.width + a] === tIdx) { near = true; break; }
        if (!near) continue;
        const w = Math.max(0, Math.min(map.downsample, map.slideWidth - i * map.downsample)) * Math.max(0, Math.min(map.downsample, map.slideHeight - j * map.downsample));
        const c = map.classIndex[j * map.width + i];
        if (c === tIdx) bedTum += w;
        if (names.includes(c)) bedTissue += w;
      }
    expect(met.tumourBedCellularity).toBeCloseTo(bedTum / bedTissue, 10);
    expect(met.tumourBedCellularity).toBeGreaterThanOrEqual(met.tumourFraction); // the bed is part of the tissue
    expect(met.stromalTilPercent).toBeCloseTo((100 * f.lymphocytes) / (f.stroma + f.lymphocytes), 10);
    expect(met.tissueAreaMm2).toBeCloseTo((tissue * s.width * s.height * 0.25) / 1e6, 8);
    const t = s.groundTruth.fractions;
    const tt = t.tumour + t.stroma + t.lymphocytes;
    expect(Math.abs(met.tumourFraction - t.tumour / tt)).toBeLessThan(0.08);
    expect(Math.abs(met.stromalTilPercent - (100 * t.lymphocytes) / (t.stroma + t.lymphocytes))).toBeLessThan(10);
    expect(Math.abs(met.tissueAreaMm2 / ((tt * s.width * s.height * 0.25) / 1e6) - 1)).toBeLessThan(0.1);
  });

  it('slideMetrics on a hand-made map: edge pixels weighted by the area inside the slide', () => {
    // 2 x 2 map, 10 level-0 px per map px, slide 15 x 10 px: right column only half inside
    const hand: ClassMap = {
      width: 2, height: 1, downsample: 10, classIndex: Uint8Array.from([1, 3]), tilesClassified: 2,
      classes: [...TRUTH_KEYS], slideWidth: 15, slideHeight: 10, mpp: 2, targetMpp: 1, tileSize: 32, stride: 16, level: 0,
    };
    const m = slideMetrics(hand);
    expect(m.classFractions.tumour).toBeCloseTo(100 / 150, 12);
    expect(m.classFractions.lymphocytes).toBeCloseTo(50 / 150, 12);
    expect(m.tumourFraction).toBeCloseTo(2 / 3, 12);
    expect(m.stromalTilPercent).toBeCloseTo(100, 12);
    expect(m.tissueAreaMm2).toBeCloseTo((150 * 4) / 1e6, 15);
    const none = slideMetrics({ ...hand, classIndex: Uint8Array.from([0, 4]) });
    expect(none.tumourFraction).toBeNaN();
    expect(none.stromalTilPercent).toBeNaN();
    expect(none.tissueAreaMm2).toBe(0);
  });

  it('heatmap PNG: one pixel per map px, covers the slide from the top-left, background transparent', async () => {
    const h = await heatmapPng(map);
    expect(h.downsample).toBe(map.downsample);
    const { data, info } = await sharp(h.png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([map.width, map.height, 4]);
    // covers the slide, overhang < 1 map px
    expect(info.width * h.downsample).toBeGreaterThanOrEqual(s.width);
    expect((info.width - 1) * h.downsample).toBeLessThan(s.width);
    expect(info.height * h.downsample).toBeGreaterThanOrEqual(s.height);
    expect((info.height - 1) * h.downsample).toBeLessThan(s.height);
    const bg = CLASSES.indexOf('background');
    for (let m = 0; m < map.classIndex.length; m++) {
      if (map.classIndex[m] === bg) expect(data[m * 4 + 3]).toBe(0);
      else expect(data[m * 4 + 3]).toBeGreaterThan(0);
    }
    const x4 = await heatmapPng(map, { scale: 4 });
    expect([x4.width, x4.height, x4.downsample]).toEqual([map.width * 4, map.height * 4, map.downsample / 4]);
  });

  it('heatmap DZI overlay has the slide level-0 size, so it stacks on the slide pyramid', async () => {
    const r = await heatmapDzi(map, join(dir, 'overlay'), { name: 'classes' });
    const xml = readFileSync(r.dziPath, 'utf8');
    expect(xml).toContain(`Width="${s.width}"`);
    expect(xml).toContain(`Height="${s.height}"`);
    expect(existsSync(join(dir, 'overlay', 'classes_files', '0', '0_0.png'))).toBe(true);
  });

  it('is deterministic and independent of the batch size', async () => {
    const again = await classifySlide(slide, undefined, predict, spec(97));
    expect(Buffer.from(again.classIndex).equals(Buffer.from(map.classIndex))).toBe(true);
    let maxd = 0;
    for (let k = 0; k < map.probs!.length; k++) maxd = Math.max(maxd, Math.abs(map.probs![k] - again.probs![k]));
    expect(maxd).toBeLessThan(1e-5);
  }, 30000);

  it('pipelined: a predictor that reads its input only later gets every batch intact; up to PREDICTIONS_IN_FLIGHT at once', async () => {
    // each prediction waits, then reads its input: a batch buffer refilled before its prediction settled would give
    // other tiles' pixels, and the map would differ from the sequential one
    let inFlight = 0;
    let most = 0;
    const late: TilePredictor = async (b, n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      const copy = new Float32Array(b.subarray(0, n * 3 * spec().tileSize ** 2));
      inFlight--;
      return predict(copy, n);
    };
    const again = await classifySlide(slide, undefined, late, spec(64));
    expect(Buffer.from(again.classIndex).equals(Buffer.from(map.classIndex))).toBe(true);
    expect(most).toBe(PREDICTIONS_IN_FLIGHT); // never more; and more than one: the batches did overlap
  }, 30000);

  it('a predictor that asks for shared memory (sharedInput) gets its batches there, and the same map', async () => {
    let shared = 0;
    let calls = 0;
    const viaShared: TilePredictor = Object.assign(
      async (b: TileBatch, n: number) => {
        calls++;
        if (b.buffer instanceof SharedArrayBuffer) shared++;
        return predict(new Float32Array(b.subarray(0, n * 3 * spec().tileSize ** 2)), n); // onnxruntime-node refuses shared memory
      },
      { sharedInput: true },
    );
    const again = await classifySlide(slide, undefined, viaShared, spec(64));
    expect(calls).toBeGreaterThan(1);
    expect(shared).toBe(calls);
    expect(Buffer.from(again.classIndex).equals(Buffer.from(map.classIndex))).toBe(true);
    // an ordinary predictor gets ordinary memory
    let plain = 0;
    await classifySlide(slide, undefined, async (b, n) => (b.buffer instanceof SharedArrayBuffer || plain++, predict(b, n)), spec(64));
    expect(plain).toBeGreaterThan(1);
  }, 30000);

  it('pipelined: a prediction that fails fails the slide with its error, once every read and prediction has settled', async () => {
    let calls = 0;
    let settled = 0;
    const failing: TilePredictor = async (b, n) => {
      const k = ++calls;
      try {
        await new Promise((r) => setTimeout(r, k === 3 ? 1 : 10));
        if (k === 3) throw new Error('model crashed on batch 3');
        return await predict(b, n);
      } finally {
        settled++;
      }
    };
    await expect(classifySlide(slide, undefined, failing, spec(64))).rejects.toThrow('model crashed on batch 3');
    expect(settled).toBe(calls); // nothing left running behind the rejection
  }, 30000);

  it('tile pixels do not depend on how map rows are split into bands', async () => {
    const g = tileGrid(slide, spec());
    const whole = await readTileBand(slide, g, 0, 12);
    const part = await readTileBand(slide, g, 5, 12);
    expect(whole.width).toBe(g.nx * g.stride + 2 * g.margin);
    expect(part.height).toBe(7 * g.stride + 2 * g.margin);
    const rowBytes = whole.width * 3;
    const a = Buffer.from(whole.data.subarray(5 * g.stride * rowBytes));
    expect(a.equals(Buffer.from(part.data))).toBe(true);
  });

  it('with a tissue mask, cores without tissue are background and not sent to the model', async () => {
    // tissue only in the top-left quarter of the slide (mask: 1 px per 64 level-0 px)
    const mw = Math.ceil(s.width / 64);
    const mh = Math.ceil(s.height / 64);
    const data = new Uint8Array(mw * mh);
    for (let y = 0; y < mh / 2; y++) for (let x = 0; x < mw / 2; x++) data[y * mw + x] = 1;
    const mask: TissueMask = { width: mw, height: mh, data, downsample: 64, downsampleY: 64, method: 'otsu', tissueFraction: 0.25, threshold: 0 };
    let sent = 0;
    const counting: TilePredictor = async (b, n) => {
      sent += n;
      return predict(b, n);
    };
    const r = await classifySlide(slide, mask, counting, spec());
    expect(r.tilesClassified).toBe(sent);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(map.width * map.height * 0.35);
    for (let j = 0; j < r.height; j++)
      for (let i = 0; i < r.width; i++) {
        const inside = (i * r.downsample) / 64 < mw / 2 && (j * r.downsample) / 64 < mh / 2;
        // each 32 px core lies within one 64 px mask pixel
        expect(r.classIndex[j * r.width + i]).toBe(inside ? map.classIndex[j * map.width + i] : 0);
      }
  });

  it('refuses a slide without MPP (pathology.no-mpp) and a bad spec', async () => {
    const noMpp = Object.create(slide, { mpp: { value: null } }) as SlideReader;
    await expect(classifySlide(noMpp, undefined, predict, spec())).rejects.toMatchObject({ name: 'InputError', code: 'pathology.no-mpp' });
    await expect(classifySlide(slide, undefined, predict, { ...spec(), stride: 15 })).rejects.toMatchObject({ code: 'pathology.bad-classifier-spec' });
    const bad: TilePredictor = async (_b, n) => new Float32Array(n * 2);
    await expect(classifySlide(slide, undefined, bad, spec())).rejects.toMatchObject({ code: 'pathology.bad-prediction' });
  });
});

test('tumour bed: a square window of the radius around tumour cells (hand-made map)', () => {
  // 6 x 4 map: tumour at (0,0) and (1,0); radius 1 -> columns 0..2 of rows 0..1
  const classIndex = new Uint8Array(24).fill(1);
  classIndex[0] = 0;
  classIndex[1] = 0;
  const bed = tumourBedMask({ width: 6, height: 4, classIndex }, 0, 1);
  const rows = [0, 1, 2, 3].map((j) => [...bed.slice(j * 6, j * 6 + 6)].join(''));
  expect(rows).toEqual(['111000', '111000', '000000', '000000']);
  expect([...tumourBedMask({ width: 6, height: 4, classIndex }, -1, 1)].every((x) => x === 0)).toBe(true);
  // as slide metrics: 500 µm cells (1000 px at 0.5 µm/px) -> radius 1 cell; stroma far from the tumour is not in the bed
  const classes = ['tumour', 'stroma', 'lymphocytes', 'background', 'pen'];
  const map = { width: 6, height: 4, downsample: 1000, classIndex, tilesClassified: 24, classes, slideWidth: 6000, slideHeight: 4000, mpp: 0.5, targetMpp: 0.5, tileSize: 224, stride: 224 } as unknown as Parameters<typeof slideMetrics>[0];
  const met = slideMetrics(map);
  expect(met.tumourFraction).toBeCloseTo(2 / 24, 12);
  expect(met.tumourBedCellularity).toBeCloseTo(2 / 6, 12);
  // no tumour: no tumour bed, cellularity not estimable
  expect(slideMetrics({ ...map, classIndex: new Uint8Array(24).fill(1) } as typeof map).tumourBedCellularity).toBeNaN();
});
