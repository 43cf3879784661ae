/**
 * Card-driven CT segmentation: HU windowing, 2.5D context slices or 3D windows, sliding-window inference with
 * blending, argmax, all read from the model card. Memory stays bounded: 2D models go slice by slice (a few
 * slices in flight), 3D models stream planes out of the window engine (never a whole-volume float32 tensor of
 * all classes unless `probabilities` asks for it).
 */
import { InputError, sliceOf } from '@app/core';
import { fixedSpatial, tensorLayout, type CardTensor, type ModelCard } from './card';
import { ModelRegistryError, type ModelProvenance, type Tensor } from './registry';
import { resampledDims, resampledSlices, resampleLinear, resampleNearest } from './resample';
import { BatchSlots, gaussianImportanceMap, runWindows, type Blending, type WindowReuse, type WindowRunner } from './sliding-window';

/** What segmentVolume needs of a model: a pool handle (createInferencePool().model) or an in-process LoadedModel. */
export interface SegmentationModel {
  readonly card: ModelCard;
  readonly provenance: ModelProvenance;
  /** Pool threads (sets the default work in flight). */
  readonly threads?: number;
  /** Windows per run (default 4). */
  readonly batchSize?: number;
  /** True for pool handles: run() takes shared-memory inputs and writes into shared `outputs` (see RunOptions). */
  readonly sharedMemory?: boolean;
  run(inputs: Record<string, Tensor>, opts?: { outputs?: Record<string, Float32Array> }): Promise<{ outputs: Record<string, Tensor> }>;
}

export interface CtVolume {
  /** [x (columns), y (rows), z (slices)]; voxel (i, j, k) = data[i + j*dims[0] + k*dims[0]*dims[1]]. */
  dims: [number, number, number];
  /** Hounsfield units, the whole volume; or `slice`. */
  data?: Int16Array | Float32Array;
  /**
   * Or HU slice k (X * Y values), read when asked (the stored volume file, read slice by slice): the volume is then
   * never held whole, here or in the resampling. Slices are read in increasing order, each a few times at most.
   */
  slice?: (k: number) => Int16Array | Float32Array;
  /**
   * Voxel size in mm [x, y, z]. Needed when the card sets `preprocessing.target_spacing_mm`: the volume is then
   * resampled to that voxel size for the model and the results brought back to this grid.
   */
  spacing?: readonly [number, number, number] | readonly number[];
}

export interface SegmentVolumeOptions {
  /**
   * Model output channels to return as whole-volume float32 maps (same grid as the volume): true = all, or a list
   * of channel indices. Default none (only labels: memory stays bounded).
   */
  probabilities?: boolean | number[];
  /**
   * Also return `confidence`: per voxel, the blended probability of the argmax class, quantised to 0-255 (uint8:
   * a quarter of one float map). Used to score connected components (card postprocessing
   * `min_component_mean_probability`). Probability outputs only.
   */
  confidence?: boolean;
  /** Windows per model run; default the handle's batchSize, else 4. Does not change results. */
  batchSize?: number;
  /** 2D models: slices processed at once (default threads + 1). 3D: batches in flight (default threads + 1). Does not change results. */
  inFlight?: number;
  /** Override card.preprocessing.overlap (changes results; for experiments only, recorded nowhere). */
  overlap?: number;
  /** Override card.preprocessing.blending. */
  blending?: Blending;
}

export interface SegmentVolumeResult {
  /** Argmax class index per voxel (0 = background), same grid and order as the volume. */
  labels: Uint8Array;
  /** Requested output channels, each a float32 map on the volume's grid. */
  probabilities?: Record<number, Float32Array>;
  /** When asked: the argmax class's probability per voxel x 255 (uint8), same grid. */
  confidence?: Uint8Array;
  provenance: ModelProvenance;
  /** 2 (2.5D slice by slice) or 3. */
  spatialDims: 2 | 3;
  roi: number[];
  /** Windows run in all; 3D: most planes held in accumulators at once (the memory bound: about roi depth + one step per batch). */
  /** sharedSlots: shared-memory batch buffers used (pool handles; 0 in-process): bounded by the batches in flight, not the volume. */
  stats: { windows: number; maxLivePlanes: number; sharedSlots: number };
  /**
   * When the card's target_spacing_mm made the model run on another grid: the volume's spacing, the target, and the
   * grid the model saw. The labels, probabilities and confidence above are on the volume's own grid.
   */
  resampled?: { fromSpacingMm: number[]; toSpacingMm: number[]; dims: [number, number, number] };
}

/** The volume's dims and data (or slice reader), or InputError 'inference.bad-shape' naming the model. */
function checkVolume(volume: CtVolume, label: string): CtVolume {
  const { dims, data, slice } = volume ?? ({} as CtVolume);
  if (!Array.isArray(dims) || dims.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new InputError('inference.bad-shape', `segmentVolume(${label}): dims must be [x, y, z] positive integers, got ${JSON.stringify(dims)}`);
  }
  const n = dims[0] * dims[1] * dims[2];
  if (!data && typeof slice === 'function') return volume;
  if (!data || data.length !== n) throw new InputError('inference.bad-shape', `segmentVolume(${label}): data has ${data?.length ?? 0} voxels, dims [${dims}] need ${n}`);
  return volume;
}

/** A checked slice reader over either form of the volume (sliceOf: a view of `data`, or `slice(k)` of the right length). */
const slicesOf = (volume: CtVolume, label: string) => (k: number) => sliceOf(volume, k, 'inference.bad-shape', `segmentVolume(${label}): `);

function unsupported(card: ModelCard, msg: string): ModelRegistryError {
  return new ModelRegistryError('inference.card-unsupported', `model ${card.id}@${card.version}: ${msg}`, { id: card.id, version: card.version });
}

/**
 * Segments a CT volume with a card-driven model (see the module comment). With `preprocessing.target_spacing_mm`
 * (3 numbers, mm) the volume is resampled linearly to that voxel size first (`resampleLinear`, HU) and the results are
 * brought back to the volume's grid: labels and confidence by nearest neighbour, probabilities linearly. Within
 * rounding of the target (the same grid size) nothing is resampled. Throws InputError 'inference.no-spacing' when the
 * card asks for a spacing and the volume carries none.
 */
export async function segmentVolume(volume: CtVolume, model: SegmentationModel, opts: SegmentVolumeOptions = {}): Promise<SegmentVolumeResult> {
  const target = model.card.preprocessing?.target_spacing_mm;
  if (!Array.isArray(target)) return segmentOnGrid(volume, model, opts);
  const label = `${model.card.id}@${model.card.version}`;
  if (target.length !== 3 || !target.every((t) => Number.isFinite(t) && t > 0)) throw unsupported(model.card, `preprocessing.target_spacing_mm must be 3 positive numbers (mm), got ${JSON.stringify(target)}`);
  const { dims, spacing: sp } = checkVolume(volume, label);
  if (!sp || sp.length !== 3 || !sp.every((t) => Number.isFinite(t) && t > 0)) {
    throw new InputError('inference.no-spacing', `segmentVolume(${label}): the model expects voxels of ${target.join(' x ')} mm (card target_spacing_mm) and the volume carries no voxel size`);
  }
  const to = resampledDims(dims, sp, target);
  if (to[0] === dims[0] && to[1] === dims[1] && to[2] === dims[2]) return segmentOnGrid(volume, model, opts);
  // resampled slice by slice as the model asks for them: neither grid's volume is held whole unless `data` already is
  const r = await segmentOnGrid({ dims: to, slice: resampledSlices(slicesOf(volume, label), dims, to) }, model, opts);
  let probabilities: Record<number, Float32Array> | undefined;
  if (r.probabilities) {
    probabilities = {};
    for (const [c, p] of Object.entries(r.probabilities)) probabilities[Number(c)] = resampleLinear(p, to, dims);
  }
  return {
    ...r,
    labels: resampleNearest(r.labels, to, dims),
    probabilities,
    confidence: r.confidence ? resampleNearest(r.confidence, to, dims) : undefined,
    resampled: { fromSpacingMm: [...sp], toSpacingMm: [...target], dims: to },
  };
}

async function segmentOnGrid(volume: CtVolume, model: SegmentationModel, opts: SegmentVolumeOptions = {}): Promise<SegmentVolumeResult> {
  const card = model.card;
  const label = `${card.id}@${card.version}`;
  const [inName, inSpec] = Object.entries(card.network_data_format.inputs)[0] as [string, CardTensor];
  const [outName, outSpec] = Object.entries(card.network_data_format.outputs)[0] as [string, CardTensor];
  if (Object.keys(card.network_data_format.inputs).length !== 1) throw unsupported(card, 'segmentVolume needs a model with exactly one input');
  const nd = inSpec.spatial_shape.length;
  if (nd !== 2 && nd !== 3) throw unsupported(card, `input "${inName}" has ${nd} spatial dims; segmentVolume handles 2 (slice) or 3 (volume)`);
  const inLayout = tensorLayout(inSpec);
  const outLayout = tensorLayout(outSpec);
  if (inLayout !== (nd === 2 ? 'NCHW' : 'NCDHW') || outLayout !== inLayout) throw unsupported(card, `segmentVolume needs channel-first tensors (NCHW / NCDHW); the card says ${inLayout} -> ${outLayout}`);
  if (outSpec.spatial_shape.length !== nd) throw unsupported(card, `output "${outName}" spatial dims differ from the input's`);
  const pre = card.preprocessing ?? {};
  const ctx = pre.context_slices ?? 0;
  const C = inSpec.num_channels;
  if (nd === 2 && C !== 2 * ctx + 1) throw unsupported(card, `input has ${C} channels; with context_slices ${ctx} it must be ${2 * ctx + 1}`);
  if (nd === 3 && C !== 1) throw unsupported(card, `3D input has ${C} channels; segmentVolume feeds one CT channel`);
  const roi = pre.roi_size ?? fixedSpatial(inSpec);
  if (!roi) throw unsupported(card, 'neither preprocessing.roi_size nor a fixed input spatial_shape gives the window size');
  const K = outSpec.num_channels;
  if (K > 255) throw unsupported(card, `${K} output channels do not fit Uint8 labels`);
  const hu = pre.hu_window;
  if (inSpec.format === 'hounsfield' && !hu) throw unsupported(card, 'format hounsfield needs preprocessing.hu_window');
  const overlap = opts.overlap ?? pre.overlap ?? 0.5;
  const blending = opts.blending ?? pre.blending ?? 'gaussian';
  const sigmaScale = pre.gaussian_sigma_scale ?? 0.125;
  const batchSize = opts.batchSize ?? model.batchSize ?? 4;
  const inFlight = opts.inFlight ?? (model.threads ?? 1) + 1;
  const threshold = Number(card.postprocessing?.threshold ?? (outSpec.format === 'logits' ? 0 : 0.5));

  const { dims } = checkVolume(volume, label);
  const [X, Y, Z] = dims;
  const XY = X * Y;
  const readSlice = slicesOf(volume, label);

  const lo = hu ? hu[0] : 0;
  const span = hu ? hu[1] - hu[0] : 1;
  const norm = hu ? (v: number) => (v <= lo ? 0 : v >= lo + span ? 1 : (v - lo) / span) : (v: number) => v;

  const labels = new Uint8Array(XY * Z);
  const probChannels = opts.probabilities === true ? [...Array(K).keys()] : Array.isArray(opts.probabilities) ? opts.probabilities : [];
  for (const c of probChannels) if (!Number.isInteger(c) || c < 0 || c >= K) throw new InputError('inference.bad-option', `segmentVolume(${label}): probabilities channel ${c} not in 0..${K - 1}`);
  const probabilities: Record<number, Float32Array> | undefined = probChannels.length ? {} : undefined;
  for (const c of probChannels) probabilities![c] = new Float32Array(XY * Z);
  if (opts.confidence && outSpec.format !== 'probabilities') throw new InputError('inference.bad-option', `segmentVolume(${label}): confidence needs an output of format probabilities, this model gives ${outSpec.format}`);
  const confidence = opts.confidence ? new Uint8Array(XY * Z) : undefined;

  /** Argmax of one output plane [K, Y, X] into labels at slice z (ties: lowest index). */
  const writePlane = (z: number, p: Float32Array) => {
    const base = z * XY;
    if (K === 1) {
      for (let i = 0; i < XY; i++) labels[base + i] = p[i] >= threshold ? 1 : 0;
      if (confidence) for (let i = 0; i < XY; i++) confidence[base + i] = Math.round(255 * Math.min(1, Math.max(0, p[i] >= threshold ? p[i] : 1 - p[i])));
    } else {
      for (let i = 0; i < XY; i++) {
        let best = 0;
        let bv = p[i];
        for (let c = 1; c < K; c++) {
          const v = p[c * XY + i];
          if (v > bv) (bv = v), (best = c);
        }
        labels[base + i] = best;
        if (confidence) confidence[base + i] = Math.round(255 * Math.min(1, Math.max(0, bv)));
      }
    }
    for (const c of probChannels) probabilities![c].set(p.subarray(c * XY, (c + 1) * XY), base);
  };

  /** Pool handles: every batch's input and output live in reused shared-memory slots (nothing allocated per batch). */
  const slotsFor = (inChannels: number, roiN: number) => (model.sharedMemory ? new BatchSlots(batchSize * inChannels * roiN, batchSize * K * roiN) : undefined);
  const runner = (roiDims: number[]): WindowRunner => async (batch, n, into) => {
    const r = await model.run({ [inName]: { data: batch, dims: [n, C, ...roiDims] } }, into ? { outputs: { [outName]: into } } : undefined);
    const o = r.outputs[outName];
    if (!o) throw new ModelRegistryError('inference.card-mismatch', `model ${label}: no output "${outName}" in the result`);
    return o.data;
  };

  if (nd === 3) {
    const [rd, rh, rw] = roi as [number, number, number];
    const importance = blending === 'gaussian' ? gaussianImportanceMap([rd, rh, rw], sigmaScale) : undefined;
    const slots3d = slotsFor(1, rd * rh * rw);
    // windows go in z order, `inFlight` batches at once: the planes of the last few window depths are kept (a plane
    // evicted too early is only read again)
    const planeCache = new Map<number, Int16Array | Float32Array>();
    const planeCap = rd * (inFlight + 2) + batchSize;
    const plane = (k: number) => {
      let p = planeCache.get(k);
      if (p) {
        planeCache.delete(k);
        planeCache.set(k, p);
        return p;
      }
      p = readSlice(k);
      if (planeCache.size >= planeCap) planeCache.delete(planeCache.keys().next().value!);
      planeCache.set(k, p);
      return p;
    };
    const st = await runWindows(
      {
        size: [Z, Y, X],
        roi: [rd, rh, rw],
        inChannels: 1,
        outChannels: K,
        overlap,
        blending,
        sigmaScale,
        batchSize,
        concurrency: inFlight,
        importance,
        // windows are read from the HU volume and windowed on the fly (no whole-volume float copy); pad = 0 after normalisation
        fill: (dst, off, z0, y0, x0, pad) => {
          for (let dz = 0; dz < rd; dz++) {
            const k = z0 + dz - pad[0];
            const src = k < 0 || k >= Z ? null : plane(k);
            for (let dy = 0; dy < rh; dy++) {
              const j = y0 + dy - pad[1];
              const o = off + (dz * rh + dy) * rw;
              if (!src || j < 0 || j >= Y) {
                dst.fill(0, o, o + rw);
                continue;
              }
              const row = j * X;
              for (let dx = 0; dx < rw; dx++) {
                const i = x0 + dx - pad[2];
                dst[o + dx] = i < 0 || i >= X ? 0 : norm(src[row + i]);
              }
            }
          }
        },
        emit: writePlane,
        slots: slots3d,
      },
      runner([rd, rh, rw]),
    );
    return { labels, probabilities, confidence, provenance: model.provenance, spatialDims: 3, roi: [rd, rh, rw], stats: { ...st, sharedSlots: slots3d?.created ?? 0 } };
  }

  // 2D / 2.5D: slice by slice, `inFlight` slices at once; each HU slice is windowed once into a small cache
  const [rh, rw] = roi as [number, number];
  const importance = blending === 'gaussian' ? gaussianImportanceMap([rh, rw], sigmaScale) : undefined;
  const cache = new Map<number, Float32Array>();
  const windowed = (k: number) => {
    let p = cache.get(k);
    if (!p) {
      p = new Float32Array(XY);
      const src = readSlice(k);
      for (let i = 0; i < XY; i++) p[i] = norm(src[i]);
      cache.set(k, p);
    }
    return p;
  };
  const run = runner([rh, rw]);
  const slots = slotsFor(C, rh * rw);
  let windowsRun = 0;
  // per-slice buffers are reused from slice to slice (at most inFlight in use at once): allocating ~17 MB of typed
  // arrays per slice made garbage collection and page faults a large share of the main thread's time
  const spareInputs: Float32Array[] = [];
  const reuse: WindowReuse = { planes: [] };
  const doSlice = async (k: number) => {
    // channel ch = slice k - ctx + ch, edge slices replicated
    const input = spareInputs.pop() ?? new Float32Array(C * XY);
    for (let ch = 0; ch < C; ch++) input.set(windowed(Math.min(Z - 1, Math.max(0, k - ctx + ch))), ch * XY);
    try {
      await sliceWindows(k, input);
    } finally {
      spareInputs.push(input);
    }
  };
  const sliceWindows = async (k: number, input: Float32Array) => {
    const st = await runWindows(
      {
        size: [1, Y, X],
        roi: [1, rh, rw],
        inChannels: C,
        outChannels: K,
        overlap,
        blending,
        sigmaScale,
        batchSize,
        concurrency: 2,
        importance,
        fill: (dst, off, _z0, y0, x0, pad) => {
          for (let ch = 0; ch < C; ch++) {
            const src = ch * XY;
            for (let dy = 0; dy < rh; dy++) {
              const j = y0 + dy - pad[1];
              const o = off + (ch * rh + dy) * rw;
              if (j < 0 || j >= Y) {
                dst.fill(0, o, o + rw);
                continue;
              }
              const i0 = x0 - pad[2];
              if (i0 >= 0 && i0 + rw <= X) dst.set(input.subarray(src + j * X + i0, src + j * X + i0 + rw), o); // the usual case: one copy per row
              else {
                for (let dx = 0; dx < rw; dx++) {
                  const i = i0 + dx;
                  dst[o + dx] = i < 0 || i >= X ? 0 : input[src + j * X + i];
                }
              }
            }
          }
        },
        emit: (_z, p) => writePlane(k, p),
        reuse,
        slots,
      },
      run,
    );
    windowsRun += st.windows;
  };
  // a bounded queue of slices: while slice k's batches run on the pool, the next slices are windowed and started
  let nextK = 0;
  let lowestActive = 0;
  const active = new Set<number>();
  const errors: unknown[] = [];
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (!errors.length && active.size < inFlight && nextK < Z) {
        const k = nextK++;
        active.add(k);
        doSlice(k)
          .catch((e) => errors.push(e))
          .finally(() => {
            active.delete(k);
            lowestActive = active.size ? Math.min(...active) : nextK;
            for (const key of cache.keys()) if (key < lowestActive - ctx) cache.delete(key);
            if (active.size === 0 && (nextK >= Z || errors.length)) resolve();
            else pump();
          });
      }
      if (active.size === 0) resolve();
    };
    pump();
  });
  if (errors.length) throw errors[0];
  return { labels, probabilities, confidence, provenance: model.provenance, spatialDims: 2, roi: [rh, rw], stats: { windows: windowsRun, maxLivePlanes: 1, sharedSlots: slots?.created ?? 0 } };
}
