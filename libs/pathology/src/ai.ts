/**
 * AI tissue classification of whole-slide images (H&E tile classifier) and the slide-level metrics derived from it.
 *
 * Geometry (all tiles in pixels at the model's target µm/px, `spec.targetMpp`):
 * - the slide is covered by a grid of square "cores" of `stride` px, starting at the level-0 origin (top-left);
 *   the grid is the class map: map pixel (i, j) is core i, j;
 * - the model sees a `tileSize` px tile centred on each core (context of (tileSize - stride) / 2 px on each side;
 *   outside the slide is white glass, as `SlideReader.readRegion` returns it) and predicts the class of the core;
 * - map px * `downsample` = level-0 px, with `downsample = stride * targetMpp / slideMpp`. The map may overhang the
 *   slide's right/bottom edge by less than one map pixel; metrics weight those edge pixels by the area inside.
 *
 * Pixels are read from the finest slide level whose downsample is <= the one the target µm/px needs (OpenSlide
 * best level: never upsampled), resized with libvips area averaging, band by band (a few map rows at a time), so
 * memory is bounded by one band and one batch whatever the slide size.
 *
 * The model is plugged in as a `TilePredictor` so any runtime (in-process onnxruntime, a worker pool, a remote
 * service) can be used; `ortPredictor` adapts an onnxruntime-node InferenceSession.
 */
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import { InputError } from '@app/core';
import { ortType } from '@app/inference';
import type { RgbImage, SlideReader } from '@app/wsi';
import { readScaled } from './region';
import type { TissueMask } from './tissue';
import { maskFraction } from './patches';
/* Local aliases: global lookups (Math.*) are slow inside vm sandboxes such as jest; hot loops use these. */
const { ceil: M_ceil, floor: M_floor, max: M_max, min: M_min, round: M_round } = Math;

/**
 * Runs the model on `n` tiles: `batch` is NCHW [n, 3, tileSize, tileSize] RGB, float32 scaled to [0, 1] or, when the
 * spec's inputDtype is 'uint8', the raw 0-255 bytes (Uint8Array); resolves to float32 [n, classes] class probabilities
 * (rows sum to 1). `batch` is a buffer that classifySlide reuses for the next batch once the promise resolves: copy
 * (or transfer a copy) if the predictor keeps it longer.
 */
export type TileBatch = Float32Array | Uint8Array;
export type TilePredictor = ((batch: TileBatch, n: number) => Promise<Float32Array>) & {
  /**
   * True when the predictor takes batches in shared memory (a SharedArrayBuffer: a worker-thread pool reads them in
   * place). classifySlide then allocates its batch buffers there; otherwise in ordinary memory (onnxruntime-node, for
   * one, refuses shared memory).
   */
  sharedInput?: boolean;
};

export interface ClassifierSpec {
  /** µm per pixel the model expects (e.g. 1.0). */
  targetMpp: number;
  /** Model input edge in px at targetMpp (e.g. 32). */
  tileSize: number;
  /** Core (map pixel) edge in px at targetMpp; tiles are centred on cores (default tileSize: no overlap). */
  stride?: number;
  /** Class names in model output order (e.g. ['background', 'tumour', 'stroma', 'lymphocytes', 'pen']). */
  classes: readonly string[];
  /** Tiles per predictor call. */
  batchSize: number;
  /**
   * What the model takes (its card's input dtype): 'float32' (default), RGB / 255 in [0, 1]; or 'uint8', the raw RGB
   * bytes, for a model that converts inside its graph. Either way the model sees the same values.
   */
  inputDtype?: 'float32' | 'uint8';
  /** Keep the per-map-pixel probabilities in the result (default true). */
  keepProbs?: boolean;
  /**
   * With a tissue mask: cores whose tissue fraction (per the mask) is below this are set to the background class
   * without running the model (default 0: only cores with no tissue at all are skipped). Note that a tissue mask
   * that rejects ink (Otsu) also turns pen marks into background.
   */
  minTissueFraction?: number;
}

/** Per-core classification of a slide. Map px (i, j) covers level-0 px [i*downsample, (i+1)*downsample) x [j*downsample, ...). */
export interface ClassMap {
  /** Map size in map pixels (cores). */
  width: number;
  height: number;
  /** Level-0 px per map px (same in x and y; need not be an integer). */
  downsample: number;
  /** Class index per map px (row-major), indices into `classes`. */
  classIndex: Uint8Array;
  /** Probabilities [height * width, classes] (row-major), unless spec.keepProbs was false. */
  probs?: Float32Array;
  /** Number of tiles the model actually ran on (the rest were background per the tissue mask). */
  tilesClassified: number;
  classes: readonly string[];
  /** Level-0 slide size in px and its µm/px (x). */
  slideWidth: number;
  slideHeight: number;
  mpp: number;
  targetMpp: number;
  tileSize: number;
  stride: number;
  /** Slide level the pixels were read from. */
  level: number;
}

/** Grid geometry of a classification (see the module comment). */
export interface TileGrid {
  /** Map size in cores. */
  nx: number;
  ny: number;
  tileSize: number;
  stride: number;
  /** Context margin in target px on each side of a core: (tileSize - stride) / 2. */
  margin: number;
  /** Level-0 px per target px (targetMpp / slide mpp). */
  scale: number;
  /** Level-0 px per map px (stride * scale). */
  downsample: number;
  mpp: number;
  level: number;
}

function checkSpec(spec: ClassifierSpec): { T: number; S: number } {
  const T = spec.tileSize;
  const S = spec.stride ?? T;
  const bad = (m: string) => new InputError('pathology.bad-classifier-spec', m, { spec: { ...spec } });
  if (!(spec.targetMpp > 0 && spec.targetMpp < 1000)) throw bad(`targetMpp must be > 0, got ${spec.targetMpp}`);
  if (!Number.isInteger(T) || T < 1 || T > 4096) throw bad(`tileSize must be an integer in 1..4096, got ${T}`);
  if (!Number.isInteger(S) || S < 1 || S > T || (T - S) % 2 !== 0) throw bad(`stride must be an integer in 1..tileSize with tileSize - stride even, got ${S}`);
  if (!Number.isInteger(spec.batchSize) || spec.batchSize < 1) throw bad(`batchSize must be a positive integer, got ${spec.batchSize}`);
  if (!Array.isArray(spec.classes) || spec.classes.length < 1 || spec.classes.length > 255) throw bad('classes must list 1..255 class names');
  if (spec.inputDtype !== undefined && spec.inputDtype !== 'float32' && spec.inputDtype !== 'uint8') throw bad(`inputDtype must be 'float32' or 'uint8', got ${String(spec.inputDtype)}`);
  return { T, S };
}

/** The tile grid for a slide; InputError('pathology.no-mpp') when the slide carries no µm/px. */
export function tileGrid(slide: SlideReader, spec: Pick<ClassifierSpec, 'targetMpp' | 'tileSize' | 'stride' | 'classes' | 'batchSize'>): TileGrid {
  const { T, S } = checkSpec(spec as ClassifierSpec);
  if (!slide.mpp || !(slide.mpp.x > 0)) {
    throw new InputError(
      'pathology.no-mpp',
      'the slide carries no microns-per-pixel (MPP); the tissue classifier needs tiles at a known µm/px. Expected MPP in the slide metadata (e.g. Aperio "MPP =" or TIFF resolution in cm)',
    );
  }
  const mpp = slide.mpp.x;
  const scale = spec.targetMpp / mpp;
  const downsample = S * scale;
  const { width: W, height: H } = slide.levels[0];
  return {
    nx: M_max(1, M_ceil(W / downsample - 1e-9)),
    ny: M_max(1, M_ceil(H / downsample - 1e-9)),
    tileSize: T,
    stride: S,
    margin: (T - S) / 2,
    scale,
    downsample,
    mpp,
    level: slide.getBestLevelForDownsample(scale),
  };
}

/** At most this many batches of tiles are being predicted at once (classifySlide): one fewer while the next is filled. */
export const PREDICTIONS_IN_FLIGHT = 3;

/** Extra target px read around a band and discarded, so resampling edge effects never reach the tiles. */
export const BAND_PAD = 8;

/**
 * Reads map rows [j0, j1) as one RGB band at the target µm/px: (nx * stride + 2 * margin) x ((j1 - j0) * stride +
 * 2 * margin) px; the tile of core (i, j) is the band's tileSize square at (i * stride, (j - j0) * stride). The band
 * is resampled with BAND_PAD extra px on every side that are then cut off, so (for an integer target/slide scale) a
 * tile's pixels do not depend on how the map rows are split into bands.
 */
export async function readTileBand(slide: SlideReader, g: TileGrid, j0: number, j1: number): Promise<RgbImage> {
  const P = BAND_PAD;
  const outW = g.nx * g.stride + 2 * g.margin;
  const outH = (j1 - j0) * g.stride + 2 * g.margin;
  const x0 = -(g.margin + P) * g.scale;
  const y0 = (j0 * g.stride - g.margin - P) * g.scale;
  const padded = await readScaled(slide, x0, y0, (outW + 2 * P) * g.scale, (outH + 2 * P) * g.scale, outW + 2 * P, outH + 2 * P);
  const data = new Uint8Array(outW * outH * 3);
  const pw = padded.width;
  for (let y = 0; y < outH; y++) {
    const src = ((y + P) * pw + P) * 3;
    data.set(padded.data.subarray(src, src + outW * 3), y * outW * 3);
  }
  return { width: outW, height: outH, channels: 3, data };
}

/**
 * Map rows per band (a function of the grid only, never of the batch size, so results do not depend on batching):
 * bands of at most ~6 M source pixels at the level read (below readScaled's single-read limit), at least one row.
 */
export function tileBandRows(g: TileGrid, levelDownsample: number): number {
  const bandW = g.nx * g.stride + 2 * g.margin + 2 * BAND_PAD;
  const srcPerTarget = Math.pow(M_max(1, g.scale / levelDownsample), 2);
  return M_max(1, M_min(g.ny, M_floor(6e6 / (bandW * g.stride * srcPerTarget))));
}

/** Copies the tile of core column i (band row r) into `out` at `offset` as float32 CHW RGB in [0, 1]. */
export function tileToChw(band: RgbImage, g: TileGrid, i: number, r: number, out: Float32Array, offset: number): void {
  const T = g.tileSize;
  const bw = band.width;
  const d = band.data;
  const plane = T * T;
  const x0 = i * g.stride;
  const y0 = r * g.stride;
  for (let y = 0; y < T; y++) {
    let s = ((y0 + y) * bw + x0) * 3;
    let o = offset + y * T;
    for (let x = 0; x < T; x++, s += 3, o++) {
      out[o] = d[s] / 255;
      out[o + plane] = d[s + 1] / 255;
      out[o + 2 * plane] = d[s + 2] / 255;
    }
  }
}

/**
 * A band's interleaved RGB as three planes (R, then G, then B; width x height each) in `into` when it is large enough
 * (reused band after band), else in a new array. For tileToChwPlanar.
 */
export function bandPlanes(band: RgbImage, into?: Uint8Array): Uint8Array {
  const n = band.width * band.height;
  const out = into && into.length >= 3 * n ? into : new Uint8Array(3 * n);
  const d = band.data;
  for (let p = 0, q = 0; p < n; p++, q += 3) {
    out[p] = d[q]!;
    out[p + n] = d[q + 1]!;
    out[p + 2 * n] = d[q + 2]!;
  }
  return out;
}

/** A Uint32 view of each byte array tileToChwPlanar copies from or into (a band's planes, a batch): not one per tile. */
const wordViews = new WeakMap<Uint8Array, Uint32Array>();
function words(bytes: Uint8Array): Uint32Array {
  let v = wordViews.get(bytes);
  if (!v) wordViews.set(bytes, (v = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2)));
  return v;
}

/**
 * Copies the tile of core column i (band row r) into `out` at `offset` as uint8 CHW RGB (the band's bytes as they are:
 * tileToChw's tile x 255), from the band's planes (bandPlanes). Each tile row of each plane is a run of tileSize
 * bytes, copied 4 bytes at a time when the tile size, stride, band width and `offset` are multiples of 4 (the shipped
 * tile model: 32 px tiles, stride 16), else byte by byte. A tile is 3 x tileSize rows of runs instead of tileSize²
 * pixels gathered from RGB triplets: the slide read's main thread spent a tenth of a slide's time there.
 */
export function tileToChwPlanar(planes: Uint8Array, band: { width: number; height: number }, g: TileGrid, i: number, r: number, out: Uint8Array, offset: number): void {
  const T = g.tileSize;
  const bw = band.width;
  const n = bw * band.height;
  const plane = T * T;
  const x0 = i * g.stride;
  const y0 = r * g.stride;
  if ((T & 3) === 0 && (bw & 3) === 0 && (x0 & 3) === 0 && ((out.byteOffset + offset) & 3) === 0 && (planes.byteOffset & 3) === 0) {
    const src = words(planes);
    const dst = words(out);
    const w = T >> 2;
    for (let c = 0; c < 3; c++) {
      let si = (c * n + y0 * bw + x0) >> 2;
      let di = (offset + c * plane) >> 2;
      for (let y = 0; y < T; y++, si += bw >> 2, di += w) for (let k = 0; k < w; k++) dst[di + k] = src[si + k]!;
    }
    return;
  }
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < T; y++) {
      const si = c * n + (y0 + y) * bw + x0;
      const di = offset + c * plane + y * T;
      for (let x = 0; x < T; x++) out[di + x] = planes[si + x]!;
    }
}

/**
 * Classifies every core of the slide (see the module comment for the geometry). With a tissue mask, cores without
 * tissue are set to the background class (the class named 'background', else index 0) without inference.
 * Deterministic for a deterministic predictor. Errors: InputError 'pathology.no-mpp' (slide without µm/px),
 * 'pathology.bad-classifier-spec', 'pathology.bad-prediction' (predictor returned the wrong number of values, or values
 * outside [0, 1]: the predictor must return probabilities, softmax included).
 */
export async function classifySlide(slide: SlideReader, tissueMask: TissueMask | undefined | null, predict: TilePredictor, spec: ClassifierSpec): Promise<ClassMap> {
  const g = tileGrid(slide, spec);
  const C = spec.classes.length;
  const T = g.tileSize;
  const tileLen = 3 * T * T;
  const keep = spec.keepProbs !== false;
  const n = g.nx * g.ny;
  const classIndex = new Uint8Array(n);
  const probs = keep ? new Float32Array(n * C) : undefined;
  const bgName = spec.classes.indexOf('background');
  const bg = bgName >= 0 ? bgName : 0;
  const minTf = spec.minTissueFraction ?? 0;
  const B = spec.batchSize;
  const bytes = spec.inputDtype === 'uint8';
  let classified = 0;

  // Pipelined: up to PREDICTIONS_IN_FLIGHT - 1 batches are being predicted (on the inference pool's threads) while this
  // thread fills the next one, and the next band is read (decoded in the sandbox) while this band's tiles are cut.
  // Each batch has its own buffer, reused only after its prediction came back, so any predictor may keep reading its
  // input until its promise settles. Every tile's result lands in its own slot: the map does not depend on timing.
  // In shared memory when the predictor asks for it, so that one running on another thread reads them where they are.
  // uint8 models: the band's bytes as they are (a quarter of the memory written per tile, no division)
  const batchBuffer = (): TileBatch => {
    const size = (bytes ? 1 : 4) * B * tileLen;
    const buf = predict.sharedInput ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    return bytes ? new Uint8Array(buf) : new Float32Array(buf);
  };
  const slots = Array.from({ length: PREDICTIONS_IN_FLIGHT }, () => ({ batch: batchBuffer(), where: new Int32Array(B), done: null as Promise<void> | null }));
  let s = 0;
  let fill = 0;
  const store = (out: Float32Array, where: Int32Array, k: number) => {
    if (!out || out.length !== k * C)
      throw new InputError('pathology.bad-prediction', `predictor returned ${out?.length} values for ${k} tiles, expected ${k * C} probabilities`);
    for (let t = 0; t < k; t++) {
      const m = where[t];
      let best = 0;
      let bv = -Infinity;
      for (let c = 0; c < C; c++) {
        const v = out[t * C + c];
        if (!(v >= 0 && v <= 1.0001)) throw new InputError('pathology.bad-prediction', `predictor returned ${v} for tile ${t} class ${c}; expected probabilities in [0, 1]`);
        if (v > bv) {
          bv = v;
          best = c;
        }
        if (probs) probs[m * C + c] = v;
      }
      classIndex[m] = best;
    }
    classified += k;
  };
  /** Sends the batch being filled to the predictor and makes the next slot ready (waiting for its last prediction). */
  const flush = async () => {
    if (!fill) return;
    const slot = slots[s];
    const k = fill;
    fill = 0;
    const input = k === B ? slot.batch : slot.batch.subarray(0, k * tileLen);
    const done = predict(input, k).then((out) => store(out, slot.where, k));
    done.catch(() => undefined); // its error is thrown where it is awaited, below or at the end
    slot.done = done;
    s = (s + 1) % slots.length;
    const next = slots[s].done;
    slots[s].done = null;
    if (next) await next;
  };

  // bands with tissue (the tissue test first: a band without tissue is never read)
  const rows = tileBandRows(g, slide.levels[g.level].downsample);
  const bands: { j0: number; j1: number; need: boolean[] }[] = [];
  for (let j0 = 0; j0 < g.ny; j0 += rows) {
    const j1 = M_min(g.ny, j0 + rows);
    const need: boolean[] = [];
    let any = false;
    for (let j = j0; j < j1; j++) {
      for (let i = 0; i < g.nx; i++) {
        const on = !tissueMask || maskFraction(tissueMask, i * g.downsample, j * g.downsample, g.downsample, g.downsample) > minTf;
        need.push(on);
        if (on) any = true;
        else {
          const m = j * g.nx + i;
          classIndex[m] = bg;
          if (probs) probs[m * C + bg] = 1;
        }
      }
    }
    if (any) bands.push({ j0, j1, need });
  }
  const read = (b: number) => {
    const p = readTileBand(slide, g, bands[b].j0, bands[b].j1);
    p.catch(() => undefined); // thrown where it is awaited
    return p;
  };
  let nextBand = bands.length ? read(0) : null;
  // uint8 models: each band split into planes once (one buffer, reused), tiles then cut as runs of bytes
  let planes: Uint8Array | undefined;
  try {
    for (let b = 0; b < bands.length; b++) {
      const band = await nextBand!;
      nextBand = b + 1 < bands.length ? read(b + 1) : null;
      const { j0, j1, need } = bands[b];
      if (bytes) planes = bandPlanes(band, planes);
      let q = 0;
      for (let j = j0; j < j1; j++) {
        for (let i = 0; i < g.nx; i++, q++) {
          if (!need[q]) continue;
          const slot = slots[s];
          if (bytes) tileToChwPlanar(planes!, band, g, i, j - j0, slot.batch as Uint8Array, fill * tileLen);
          else tileToChw(band, g, i, j - j0, slot.batch as Float32Array, fill * tileLen);
          slot.where[fill++] = j * g.nx + i;
          if (fill === B) await flush();
        }
      }
    }
    await flush();
    for (const x of slots) if (x.done) await x.done;
  } finally {
    // on an error: let the reads and predictions still running settle before the caller closes the slide or the pool
    await Promise.allSettled([nextBand, ...slots.map((x) => x.done)]);
  }
  const { width: W, height: H } = slide.levels[0];
  return {
    width: g.nx,
    height: g.ny,
    downsample: g.downsample,
    classIndex,
    probs,
    tilesClassified: classified,
    classes: [...spec.classes],
    slideWidth: W,
    slideHeight: H,
    mpp: g.mpp,
    targetMpp: spec.targetMpp,
    tileSize: T,
    stride: g.stride,
    level: g.level,
  };
}

/** Minimal structural view of an onnxruntime-node InferenceSession (so this library does not load the native addon). */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>>;
}

/**
 * Adapts an onnxruntime-node InferenceSession (input `image` [N, 3, H, W] float32, output `probs` [N, classes]) to a
 * TilePredictor. `tileSize` is the model's input edge; names default to 'image' / 'probs' (else the session's first).
 */
export function ortPredictor(session: OrtSessionLike, opts: { tileSize: number; inputName?: string; outputName?: string }): TilePredictor {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const input = opts.inputName ?? (session.inputNames.includes('image') ? 'image' : session.inputNames[0]);
  const output = opts.outputName ?? (session.outputNames.includes('probs') ? 'probs' : session.outputNames[0]);
  const T = opts.tileSize;
  return async (batch, n) => {
    if (batch.length !== n * 3 * T * T) throw new InputError('pathology.bad-input', `batch has ${batch.length} values, [${n}, 3, ${T}, ${T}] needs ${n * 3 * T * T}`);
    const res = await session.run({ [input]: new ort.Tensor(ortType(batch), batch, [n, 3, T, T]) });
    return Float32Array.from(res[output].data as Float32Array);
  };
}

/** Slide-level metrics from a class map (see `slideMetrics`). */
export interface SlideMetrics {
  /** Fraction of the whole slide area per class (sum 1; comparable with the synthetic ground truth's `fractions`). */
  classFractions: Record<string, number>;
  /** Tissue area in mm²: tumour + stroma + lymphocytes cores (background and pen are not tissue). */
  tissueAreaMm2: number;
  /** Tumour area / tissue area (0..1); NaN when there is no tissue. */
  tumourFraction: number;
  /**
   * Stromal TIL score in percent (0..100): lymphocyte-infiltrate area / (stroma + lymphocyte-infiltrate area) x 100,
   * i.e. the share of the stromal compartment occupied by lymphocytic infiltrate. NaN without stroma or lymphocytes.
   */
  stromalTilPercent: number;
  /** Tumour-bed cellularity proxy: tumour / (tumour + stroma + lymphocytes) area (0..1); NaN when there is no tissue. */
  tumourBedCellularity: number;
  /** Area per class in mm². */
  classAreaMm2: Record<string, number>;
  /** How areas were computed: 'probabilities' (expected area, sum of soft probabilities) or 'argmax'. */
  areaMethod: 'probabilities' | 'argmax';
}

/**
 * Slide metrics from a class map. Areas are counted per map pixel, weighted by the part of the map pixel that lies
 * inside the slide (edge pixels overhang), and by default use the argmax class (`opts.soft` true: the expected area,
 * sum of the class probabilities, when the map kept them).
 *
 * - classFractions: class area / slide area (whole level-0 image, glass included);
 * - tissueAreaMm2: (tumour + stroma + lymphocytes) area x (mpp µm)² / 10⁶;
 * - tumourFraction: tumour / tissue area;
 * - stromalTilPercent: lymphocytes / (stroma + lymphocytes) x 100. Definition follows the International
 *   Immuno-Oncology Biomarker (TIL) Working Group recommendations (Salgado et al., Ann Oncol 2015;26:259-271):
 *   stromal TILs are scored as the percentage of the STROMAL area occupied by mononuclear inflammatory cells,
 *   intratumoural (epithelial) lymphocytes and areas outside the tumour border excluded. Here the stromal
 *   compartment is approximated by the stroma + lymphocyte-infiltrate classes, and the infiltrate class area
 *   stands for the area occupied by lymphocytes; it is an area-based research proxy, not a pathologist's sTIL score;
 * - tumourBedCellularity: tumour / tissue of the tumour bed, the share of the tumour bed that is tumour (an area proxy
 *   in the spirit of residual cancer burden cellularity, Symmans et al., J Clin Oncol 2007). The tumour bed is the
 *   tissue within `TUMOUR_BED_RADIUS_UM` (500 µm, square neighbourhood on the class map) of a tumour-classified cell,
 *   so stroma and infiltrate far from any tumour do not dilute it (tumourFraction divides by all the tissue).
 *
 * Class roles are found by name: 'tumour' (or 'tumor'), 'stroma', 'lymphocytes', 'background', 'pen'.
 */
/** Tissue within this distance of a tumour-classified class-map cell is the tumour bed (see slideMetrics). */
export const TUMOUR_BED_RADIUS_UM = 500;

/**
 * The tumour bed on the class map: cells within `radius` cells (Chebyshev, i.e. a square window) of a cell whose class is
 * `tumourClass`; two separable running-maximum passes.
 */
export function tumourBedMask(map: Pick<ClassMap, 'width' | 'height' | 'classIndex'>, tumourClass: number, radius: number): Uint8Array {
  const { width: W, height: H } = map;
  const rows = new Uint8Array(W * H);
  const out = new Uint8Array(W * H);
  if (tumourClass < 0) return out;
  const next = new Int32Array(M_max(W, H)); // nearest marked cell at or after each position of the current line
  for (let j = 0; j < H; j++) {
    let last = -Infinity; // nearest tumour cell to the left (incl.)
    let nx = -1;
    for (let i = W - 1; i >= 0; i--) {
      if (map.classIndex[j * W + i] === tumourClass) nx = i;
      next[i] = nx;
    }
    for (let i = 0; i < W; i++) {
      if (map.classIndex[j * W + i] === tumourClass) last = i;
      if (i - last <= radius || (next[i] >= 0 && next[i] - i <= radius)) rows[j * W + i] = 1;
    }
  }
  for (let i = 0; i < W; i++) {
    let last = -Infinity;
    let nx = -1;
    for (let j = H - 1; j >= 0; j--) {
      if (rows[j * W + i]) nx = j;
      next[j] = nx;
    }
    for (let j = 0; j < H; j++) {
      if (rows[j * W + i]) last = j;
      if (j - last <= radius || (next[j] >= 0 && next[j] - j <= radius)) out[j * W + i] = 1;
    }
  }
  return out;
}

export function slideMetrics(map: ClassMap, opts: { soft?: boolean } = {}): SlideMetrics {
  const C = map.classes.length;
  const soft = !!opts.soft && !!map.probs;
  const area = new Float64Array(C);
  const bedArea = new Float64Array(C);
  const D = map.downsample;
  const tumourIdx = map.classes.findIndex((c) => c.toLowerCase() === 'tumour' || c.toLowerCase() === 'tumor');
  const bed = tumourBedMask(map, tumourIdx, M_max(0, Math.round(TUMOUR_BED_RADIUS_UM / (D * map.mpp))));
  const colW = new Float64Array(map.width);
  for (let i = 0; i < map.width; i++) colW[i] = M_max(0, M_min(D, map.slideWidth - i * D));
  for (let j = 0; j < map.height; j++) {
    const rh = M_max(0, M_min(D, map.slideHeight - j * D));
    if (rh <= 0) continue;
    for (let i = 0; i < map.width; i++) {
      const a = rh * colW[i];
      const m = j * map.width + i;
      if (soft) {
        for (let c = 0; c < C; c++) area[c] += a * map.probs![m * C + c];
        if (bed[m]) for (let c = 0; c < C; c++) bedArea[c] += a * map.probs![m * C + c];
      } else {
        area[map.classIndex[m]] += a;
        if (bed[m]) bedArea[map.classIndex[m]] += a;
      }
    }
  }
  const total = map.slideWidth * map.slideHeight;
  const idx = (...names: string[]) => map.classes.findIndex((c) => names.includes(c.toLowerCase()));
  const get = (k: number) => (k >= 0 ? area[k] : 0);
  const tum = get(idx('tumour', 'tumor'));
  const str = get(idx('stroma'));
  const lym = get(idx('lymphocytes', 'lymphocyte'));
  const tissue = tum + str + lym;
  const bedOf = (k: number) => (k >= 0 ? bedArea[k] : 0);
  const bedTum = bedOf(idx('tumour', 'tumor'));
  const bedTissue = bedTum + bedOf(idx('stroma')) + bedOf(idx('lymphocytes', 'lymphocyte'));
  const px2mm2 = (map.mpp * map.mpp) / 1e6;
  const classFractions: Record<string, number> = {};
  const classAreaMm2: Record<string, number> = {};
  map.classes.forEach((c, k) => {
    classFractions[c] = area[k] / total;
    classAreaMm2[c] = area[k] * px2mm2;
  });
  return {
    classFractions,
    classAreaMm2,
    tissueAreaMm2: tissue * px2mm2,
    tumourFraction: tissue > 0 ? tum / tissue : NaN,
    stromalTilPercent: str + lym > 0 ? (lym / (str + lym)) * 100 : NaN,
    tumourBedCellularity: bedTissue > 0 ? bedTum / bedTissue : NaN,
    areaMethod: soft ? 'probabilities' : 'argmax',
  };
}

/** Default overlay colours (RGBA) by class name; background and unknown names are transparent. */
export const CLASS_COLOURS: Readonly<Record<string, readonly [number, number, number, number]>> = {
  background: [0, 0, 0, 0],
  tumour: [220, 30, 40, 255],
  tumor: [220, 30, 40, 255],
  stroma: [40, 170, 60, 255],
  lymphocytes: [30, 90, 230, 255],
  pen: [120, 120, 120, 255],
};

export interface HeatmapOptions {
  /** RGBA per class name (overrides CLASS_COLOURS). */
  colours?: Record<string, readonly [number, number, number, number]>;
  /** Alpha multiplier 0..1 applied to every class colour (default 0.5). */
  opacity?: number;
  /**
   * Output scale: PNG px per map px (default 1). The PNG is (width * scale) x (height * scale) px, nearest-neighbour,
   * so PNG px * (downsample / scale) = level-0 px.
   */
  scale?: number;
}

function heatmapRgba(map: ClassMap, opts: HeatmapOptions): Buffer {
  const op = opts.opacity ?? 0.5;
  const lut = map.classes.map((c) => {
    const col = opts.colours?.[c] ?? CLASS_COLOURS[c] ?? [0, 0, 0, 0];
    return [col[0], col[1], col[2], M_round(col[3] * op)];
  });
  const out = Buffer.alloc(map.width * map.height * 4);
  for (let m = 0; m < map.classIndex.length; m++) {
    const c = lut[map.classIndex[m]] ?? [0, 0, 0, 0];
    out[m * 4] = c[0];
    out[m * 4 + 1] = c[1];
    out[m * 4 + 2] = c[2];
    out[m * 4 + 3] = c[3];
  }
  return out;
}

/**
 * The class map as an RGBA PNG (one colour per class, background transparent) plus how it overlays the slide:
 * PNG pixel (x, y) covers level-0 px [x * downsample, (x + 1) * downsample) x [y * downsample, ...), origin top-left
 * at the slide's origin, same aspect ratio. To overlay the slide's Deep Zoom pyramid (whose full-resolution level is
 * level 0 of the slide), scale the PNG by `downsample` and place it at (0, 0): the PNG (width x height) spans
 * width * downsample >= slide width level-0 px (the last column/row may overhang the slide edge by < 1 map px;
 * viewers clip it).
 */
export async function heatmapPng(map: ClassMap, opts: HeatmapOptions = {}): Promise<{ png: Buffer; width: number; height: number; downsample: number }> {
  const s = opts.scale ?? 1;
  if (!Number.isInteger(s) || s < 1 || s > 64) throw new InputError('pathology.bad-option', `heatmap scale must be an integer in 1..64, got ${s}`);
  const rgba = heatmapRgba(map, opts);
  let img = sharp(rgba, { raw: { width: map.width, height: map.height, channels: 4 } });
  if (s > 1) img = img.resize(map.width * s, map.height * s, { kernel: 'nearest' });
  const png = await img.png({ compressionLevel: 6 }).toBuffer();
  return { png, width: map.width * s, height: map.height * s, downsample: map.downsample / s };
}

/**
 * Writes a Deep Zoom (DZI) overlay pyramid of the class map into `dir` (`<dir>/<name>.dzi` + `<name>_files/`),
 * with sharp `.tile()`. The overlay is rendered at the slide's level-0 size (width x height of the slide, map px
 * replicated nearest-neighbour over exactly the level-0 px they cover), so its DZI levels coincide with those of the
 * slide's own DZI (same width/height) and a viewer can stack them directly. Use `maxSize` to cap the rendered
 * size for very large slides (the overlay is then a scaled copy: set the viewer's overlay width to the slide width).
 */
export async function heatmapDzi(
  map: ClassMap,
  dir: string,
  opts: HeatmapOptions & { name?: string; tileSize?: number; overlap?: number; maxSize?: number } = {},
): Promise<{ dziPath: string; width: number; height: number }> {
  const name = opts.name ?? 'heatmap';
  const maxSize = opts.maxSize ?? 200000;
  const k = M_min(1, maxSize / M_max(map.slideWidth, map.slideHeight));
  const W = M_max(1, M_round(map.slideWidth * k));
  const H = M_max(1, M_round(map.slideHeight * k));
  const rgba = heatmapRgba(map, opts);
  // exact nearest-neighbour placement: crop the map (scaled up to cover) to the slide area
  const fullW = M_ceil(map.width * map.downsample * k);
  const fullH = M_ceil(map.height * map.downsample * k);
  mkdirSync(dir, { recursive: true });
  await sharp(rgba, { raw: { width: map.width, height: map.height, channels: 4 } })
    .resize(M_max(W, fullW), M_max(H, fullH), { kernel: 'nearest' })
    .extract({ left: 0, top: 0, width: W, height: H })
    .png()
    .tile({ size: opts.tileSize ?? 254, overlap: opts.overlap ?? 1, layout: 'dz' })
    .toFile(`${dir}/${name}`);
  return { dziPath: `${dir}/${name}.dzi`, width: W, height: H };
}
