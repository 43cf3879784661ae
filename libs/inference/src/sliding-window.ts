/**
 * Sliding-window inference with importance blending, as MONAI's `sliding_window_inference` and nnU-Net:
 * windows of size roi step by floor(roi * (1 - overlap)) (at least 1) and the last window is flush with the
 * image edge, so the windows cover the image exactly; an image smaller than the roi is padded symmetrically
 * (constant padValue) and the padding cropped from the result. Each voxel's output is the weighted mean of the
 * window predictions covering it, weights = the importance map at the voxel's position in each window
 * (Gaussian as nnU-Net, or constant). Accumulation is float64, in window order: deterministic for a given input,
 * whatever the number of batches in flight.
 *
 * The engine streams: output planes along the first spatial axis are emitted as soon as no later window can
 * touch them, so a 3D volume never needs a whole-volume accumulator (see segmentVolume).
 */
import { InputError } from '@app/core';

export type Blending = 'gaussian' | 'constant';

export interface SlidingWindowOptions {
  /** Window size, one entry per spatial dim ([h, w] or [d, h, w]). */
  roi: number[];
  /** Fraction of the roi adjacent windows share, in [0, 1). Default 0.5. */
  overlap?: number;
  /** Default 'gaussian'. */
  blending?: Blending;
  /** Gaussian sigma = sigmaScale * roi (per dim). Default 0.125 (nnU-Net / MONAI). */
  sigmaScale?: number;
  /** Windows per run call. Default 4. */
  batchSize?: number;
  /** Channels the model outputs per voxel. */
  outChannels: number;
  /** Batches in flight at once (run calls not yet resolved). Default 2: the next batch is prepared while one runs. */
  concurrency?: number;
  /** Value of padded voxels (images smaller than roi). Default 0. */
  padValue?: number;
}

/**
 * A batch runner: `batch` is [n, inChannels, ...roi] (channel-first); resolves to [n, outChannels, ...roi]. With
 * slots (WindowEngineSpec.slots) `into` is where to write that result (a shared-memory view of exactly its length).
 */
export type WindowRunner = (batch: Float32Array, n: number, into?: Float32Array) => Promise<Float32Array>;

/**
 * Reused shared-memory buffers for the engine's batches: one slot per batch in flight, each an input and an output
 * buffer over SharedArrayBuffers that the inference worker reads and writes in place. A slot goes back to the free
 * list once its results are blended, so a run of any length allocates only as many slots as it had batches in flight.
 */
export class BatchSlots {
  private readonly free: { input: Float32Array; output: Float32Array }[] = [];
  /** Slots created so far (the most batches that were in flight at once). */
  created = 0;
  constructor(readonly inputLength: number, readonly outputLength: number) {}
  acquire(): { input: Float32Array; output: Float32Array } {
    const s = this.free.pop();
    if (s) return s;
    this.created++;
    return { input: new Float32Array(new SharedArrayBuffer(4 * this.inputLength)), output: new Float32Array(new SharedArrayBuffer(4 * this.outputLength)) };
  }
  release(s: { input: Float32Array; output: Float32Array }): void {
    this.free.push(s);
  }
}

/**
 * Window start positions along one dim (MONAI/nnU-Net): step = max(1, floor(roi * (1 - overlap))), starts
 * 0, step, 2 step, ... and the last one is size - roi (flush with the edge); no duplicates. size <= roi: [0].
 */
export function windowStarts(size: number, roi: number, overlap: number): number[] {
  if (size <= roi) return [0];
  const step = Math.max(1, Math.floor(roi * (1 - overlap)));
  const n = Math.ceil((size - roi) / step) + 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = Math.min(i * step, size - roi);
    if (out[out.length - 1] !== s) out.push(s);
  }
  return out;
}

/** The 1-D Gaussian factor of the importance map: exp(-(x - floor(r/2))^2 / (2 sigma^2)), 0 beyond scipy's 4 sigma truncation. */
function gaussian1d(r: number, sigmaScale: number): Float64Array {
  const sigma = r * sigmaScale;
  const c = Math.floor(r / 2);
  const radius = Math.floor(4 * sigma + 0.5);
  const g = new Float64Array(r);
  for (let x = 0; x < r; x++) {
    const d = x - c;
    g[x] = Math.abs(d) > radius ? 0 : Math.exp(-(d * d) / (2 * sigma * sigma));
  }
  return g;
}

/**
 * nnU-Net's Gaussian importance map for a roi (2D or 3D, row-major, last dim fastest): a unit impulse at
 * floor(roi/2) filtered by a Gaussian of sigma = sigmaScale * roi (scipy gaussian_filter, constant mode,
 * truncate 4), divided by its maximum (so the centre is 1), zeros replaced by the smallest non-zero value.
 */
export function gaussianImportanceMap(roi: number[], sigmaScale = 0.125): Float32Array {
  if (!roi.length || roi.some((r) => !Number.isInteger(r) || r < 1)) throw new InputError('inference.bad-option', `gaussianImportanceMap: roi must be positive integers, got [${roi}]`);
  if (!(sigmaScale > 0)) throw new InputError('inference.bad-option', `gaussianImportanceMap: sigmaScale must be > 0, got ${sigmaScale}`);
  const gs = roi.map((r) => gaussian1d(r, sigmaScale));
  const n = roi.reduce((a, b) => a * b, 1);
  const m = new Float64Array(n);
  const idx = new Array<number>(roi.length).fill(0);
  let max = 0;
  for (let i = 0; i < n; i++) {
    let v = 1;
    for (let d = 0; d < roi.length; d++) v *= gs[d][idx[d]];
    m[i] = v;
    if (v > max) max = v;
    for (let d = roi.length - 1; d >= 0; d--) {
      if (++idx[d] < roi[d]) break;
      idx[d] = 0;
    }
  }
  let minNz = Infinity;
  for (let i = 0; i < n; i++) {
    m[i] /= max;
    if (m[i] > 0 && m[i] < minNz) minNz = m[i];
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = m[i] === 0 ? minNz : m[i];
  return out;
}

/** What the streaming engine needs: sizes are 3D [D, H, W] (2D = D 1). */
export interface WindowEngineSpec {
  size: [number, number, number];
  roi: [number, number, number];
  inChannels: number;
  outChannels: number;
  overlap: number;
  blending: Blending;
  sigmaScale: number;
  batchSize: number;
  concurrency: number;
  /** Importance map for roi (default computed from blending / sigmaScale over the real spatial dims). */
  importance?: Float32Array;
  /**
   * Writes the window [inChannels, rd, rh, rw] whose start is (z0, y0, x0) in PADDED coordinates into dst at
   * offset; pad = the symmetric padding before each dim (voxels outside the image are the caller's pad value).
   */
  fill(dst: Float32Array, offset: number, z0: number, y0: number, x0: number, pad: [number, number, number]): void;
  /**
   * Receives each finished output plane z (original coordinates): [outChannels, H, W], blended. The buffer is
   * reused once emit returns (or its promise settles): copy what you keep.
   */
  emit(z: number, plane: Float32Array): void | Promise<void>;
  /**
   * State shared by consecutive calls on the same geometry (segmentVolume's 2D path makes one call per slice):
   * plane buffers are taken from and returned to it instead of allocated per call, and a single-plane call's weight
   * plane (the sum of the importance maps of its windows, the same for every slice) is computed once. Results are
   * bit-identical with or without it.
   */
  reuse?: WindowReuse;
  /** Shared-memory batch buffers (see BatchSlots; each at least batchSize windows long). */
  slots?: BatchSlots;
}

/** See WindowEngineSpec.reuse; create one with `{ planes: [] }` per run of same-geometry calls. */
export interface WindowReuse {
  planes: PlaneBuffers[];
  weights?: { key: string; importance: Float32Array; w: Float64Array };
}

/** One output plane's accumulators (float64) and its blended output (float32). */
export interface PlaneBuffers {
  acc: Float64Array;
  w: Float64Array;
  out: Float32Array;
}

export interface WindowEngineStats {
  /** Windows run. */
  windows: number;
  /** Most output planes (along the first spatial axis) held in accumulators at once: the memory bound. */
  maxLivePlanes: number;
}

/** Streaming engine behind slidingWindow2d/3d and segmentVolume. */
export async function runWindows(spec: WindowEngineSpec, run: WindowRunner): Promise<WindowEngineStats> {
  const [D, H, W] = spec.size;
  const padded = spec.size.map((s, i) => Math.max(s, spec.roi[i])) as [number, number, number];
  const pad = padded.map((p, i) => Math.floor((p - spec.size[i]) / 2)) as [number, number, number];
  const [rd, rh, rw] = spec.roi;
  const zs = windowStarts(padded[0], rd, spec.overlap);
  const ys = windowStarts(padded[1], rh, spec.overlap);
  const xs = windowStarts(padded[2], rw, spec.overlap);
  const imp = spec.importance ?? new Float32Array(rd * rh * rw).fill(1);
  const roiN = rd * rh * rw;
  const inWin = spec.inChannels * roiN;
  const outWin = spec.outChannels * roiN;
  const C = spec.outChannels;
  const HW = H * W;

  // accumulators per padded plane z that some processed window touched and that is not emitted yet
  const planes = new Map<number, PlaneBuffers>();
  // emitted planes' buffers, zeroed and reused (a 512 x 512 plane of 4 classes is 14 MB with its output: allocating
  // one per slice kept the garbage collector busy and page-faulted every fresh buffer); spec.reuse carries them from
  // one call to the next
  const spare: PlaneBuffers[] = spec.reuse?.planes ?? [];
  const spareMax = Math.max(4, spare.length);
  // a single-plane call (2D) with reuse: the weight plane is the same for every call of that geometry, so it is summed
  // once (the same additions in the same window order as accumulate makes) and accumulate skips it
  let fixedW: Float64Array | null = null;
  if (spec.reuse && D === 1 && rd === 1) {
    const key = `${H}x${W}|${ys.join(',')}|${xs.join(',')}|${pad.join(',')}`;
    const cached = spec.reuse.weights;
    if (cached && cached.key === key && cached.importance === imp) fixedW = cached.w;
    else {
      fixedW = new Float64Array(HW);
      for (const y0 of ys) for (const x0 of xs) addWeights(fixedW, imp, y0, x0, pad, rh, rw, H, W);
      spec.reuse.weights = { key, importance: imp, w: fixedW };
    }
  }
  let maxLivePlanes = 0;
  const plane = (pz: number) => {
    let p = planes.get(pz);
    if (!p) {
      p = spare.pop();
      while (p && (p.acc.length !== C * HW || p.w.length !== HW)) p = spare.pop(); // another size: drop it
      if (p) {
        p.acc.fill(0);
        if (!fixedW) p.w.fill(0);
      } else p = { acc: new Float64Array(C * HW), w: new Float64Array(HW), out: new Float32Array(C * HW) };
      planes.set(pz, p);
      maxLivePlanes = Math.max(maxLivePlanes, planes.size);
    }
    return p;
  };
  let emittedUpTo = 0; // padded planes < emittedUpTo are done
  const flushBelow = async (limit: number) => {
    for (let pz = emittedUpTo; pz < limit; pz++) {
      const z = pz - pad[0];
      if (z < 0 || z >= D) continue;
      const p = planes.get(pz);
      if (!p) throw new Error(`sliding window: plane ${z} was never covered (bug)`);
      planes.delete(pz);
      const { acc, out } = p;
      const w = fixedW ?? p.w;
      for (let c = 0; c < C; c++) for (let i = 0, o = c * HW; i < HW; i++) out[o + i] = acc[o + i] / w[i];
      try {
        await spec.emit(z, out);
      } finally {
        if (spare.length < spareMax) spare.push(p); // reusable only once emit is done with `out`
      }
    }
    emittedUpTo = Math.max(emittedUpTo, limit);
  };

  const accumulate = (pred: Float32Array, off: number, z0: number, y0: number, x0: number) => {
    // the window's part inside the image, found once (no per-voxel bounds test); rows are contiguous runs in both the
    // window and the plane, so each channel is one tight loop per row. Every accumulator gets the same additions in
    // the same order as voxel by voxel.
    const xa = Math.max(0, pad[2] - x0);
    const xb = Math.min(rw, W + pad[2] - x0);
    const ya = Math.max(0, pad[1] - y0);
    const yb = Math.min(rh, H + pad[1] - y0);
    if (xa >= xb || ya >= yb) return;
    for (let dz = 0; dz < rd; dz++) {
      const pz = z0 + dz;
      const z = pz - pad[0];
      if (z < 0 || z >= D) continue;
      const p = plane(pz);
      const acc = p.acc;
      const w = p.w;
      for (let dy = ya; dy < yb; dy++) {
        const li0 = (dz * rh + dy) * rw; // window index of dx = 0
        const vi0 = (y0 + dy - pad[1]) * W + x0 - pad[2]; // plane index of dx = 0
        if (!fixedW) for (let dx = xa; dx < xb; dx++) w[vi0 + dx] += imp[li0 + dx];
        for (let c = 0; c < C; c++) {
          const po = off + c * roiN + li0;
          const ao = c * HW + vi0;
          for (let dx = xa; dx < xb; dx++) acc[ao + dx] += imp[li0 + dx] * pred[po + dx];
        }
      }
    }
  };

  const windows: [number, number, number][] = [];
  for (const z of zs) for (const y of ys) for (const x of xs) windows.push([z, y, x]);
  // z start of the next window group after each window (to know which planes are final)
  const inflight: { promise: Promise<Float32Array>; first: number; n: number; slot?: { input: Float32Array; output: Float32Array } }[] = [];
  let next = 0;
  const launch = () => {
    const n = Math.min(spec.batchSize, windows.length - next);
    const slot = spec.slots?.acquire();
    if (slot && (slot.input.length < n * inWin || slot.output.length < n * outWin)) throw new Error('sliding window: batch slots smaller than a batch (bug)');
    const batch = slot ? slot.input.subarray(0, n * inWin) : new Float32Array(n * inWin);
    for (let k = 0; k < n; k++) {
      const [z, y, x] = windows[next + k];
      spec.fill(batch, k * inWin, z, y, x, pad);
    }
    const first = next;
    next += n;
    const promise = run(batch, n, slot?.output.subarray(0, n * outWin)).then((r) => {
      if (!r || r.length !== n * outWin) {
        throw new InputError('inference.bad-shape', `sliding window: the model returned ${r?.length ?? 0} values for ${n} windows, expected ${n * outWin} (${n} x ${C} channels x roi ${spec.roi.join('x')})`);
      }
      return r;
    });
    promise.catch(() => undefined); // handled when awaited in order
    inflight.push({ promise, first, n, slot });
  };
  while (next < windows.length && inflight.length < spec.concurrency) launch();
  while (inflight.length) {
    const b = inflight.shift()!;
    const r = await b.promise;
    if (next < windows.length) launch(); // keep the runner busy while we blend
    for (let k = 0; k < b.n; k++) {
      const [z, y, x] = windows[b.first + k];
      accumulate(r, k * outWin, z, y, x);
    }
    if (b.slot) spec.slots!.release(b.slot); // blended: the slot may take the next batch
    const done = b.first + b.n;
    // planes below the next window's z start are final
    await flushBelow(done < windows.length ? windows[done][0] : padded[0]);
  }
  return { windows: windows.length, maxLivePlanes };
}

/** Adds one 2D window's importance map into a weight plane, exactly as runWindows' accumulate does (same rows, same order). */
function addWeights(w: Float64Array, imp: Float32Array, y0: number, x0: number, pad: [number, number, number], rh: number, rw: number, H: number, W: number): void {
  const xa = Math.max(0, pad[2] - x0);
  const xb = Math.min(rw, W + pad[2] - x0);
  const ya = Math.max(0, pad[1] - y0);
  const yb = Math.min(rh, H + pad[1] - y0);
  for (let dy = ya; dy < yb; dy++) {
    const li0 = dy * rw;
    const vi0 = (y0 + dy - pad[1]) * W + x0 - pad[2];
    for (let dx = xa; dx < xb; dx++) w[vi0 + dx] += imp[li0 + dx];
  }
}

function resolveOpts(o: SlidingWindowOptions, dims: number) {
  if (!o || !Array.isArray(o.roi) || o.roi.length !== dims || o.roi.some((r) => !Number.isInteger(r) || r < 1)) {
    throw new InputError('inference.bad-option', `sliding window: roi must be ${dims} positive integers, got ${JSON.stringify(o?.roi)}`);
  }
  const overlap = o.overlap ?? 0.5;
  if (!(overlap >= 0 && overlap < 1)) throw new InputError('inference.bad-option', `sliding window: overlap must be in [0, 1), got ${overlap}`);
  const blending = o.blending ?? 'gaussian';
  if (blending !== 'gaussian' && blending !== 'constant') throw new InputError('inference.bad-option', `sliding window: blending must be gaussian or constant, got ${String(blending)}`);
  const sigmaScale = o.sigmaScale ?? 0.125;
  const batchSize = o.batchSize ?? 4;
  const concurrency = o.concurrency ?? 2;
  if (!Number.isInteger(o.outChannels) || o.outChannels < 1) throw new InputError('inference.bad-option', `sliding window: outChannels must be a positive integer, got ${o.outChannels}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || !Number.isInteger(concurrency) || concurrency < 1) throw new InputError('inference.bad-option', 'sliding window: batchSize and concurrency must be positive integers');
  const importance = blending === 'gaussian' ? gaussianImportanceMap(o.roi, sigmaScale) : undefined;
  return { overlap, blending, sigmaScale, batchSize, concurrency, importance, padValue: o.padValue ?? 0 };
}

/** Fill function for an in-memory channel-first image [C, D, H, W]. */
function memoryFill(data: Float32Array, C: number, size: [number, number, number], roi: [number, number, number], padValue: number) {
  const [D, H, W] = size;
  const [rd, rh, rw] = roi;
  return (dst: Float32Array, off: number, z0: number, y0: number, x0: number, pad: [number, number, number]) => {
    for (let c = 0; c < C; c++) {
      for (let dz = 0; dz < rd; dz++) {
        const z = z0 + dz - pad[0];
        for (let dy = 0; dy < rh; dy++) {
          const y = y0 + dy - pad[1];
          const o = off + ((c * rd + dz) * rh + dy) * rw;
          if (z < 0 || z >= D || y < 0 || y >= H) {
            dst.fill(padValue, o, o + rw);
            continue;
          }
          const rowBase = ((c * D + z) * H + y) * W;
          for (let dx = 0; dx < rw; dx++) {
            const x = x0 + dx - pad[2];
            dst[o + dx] = x < 0 || x >= W ? padValue : data[rowBase + x];
          }
        }
      }
    }
  };
}

function checkImage(data: Float32Array, dims: number[], what: string) {
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) throw new InputError('inference.bad-shape', `${what}: sizes must be positive integers, got [${dims}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  if (!data || data.length !== n) throw new InputError('inference.bad-shape', `${what}: data has ${data?.length ?? 0} values, [${dims}] needs ${n}`);
}

/** 2D sliding window over a channel-first image [channels, height, width]; resolves to [outChannels, height, width]. */
export async function slidingWindow2d(
  input: { data: Float32Array; channels: number; height: number; width: number },
  run: WindowRunner,
  opts: SlidingWindowOptions,
): Promise<Float32Array> {
  const { data, channels: C, height: H, width: W } = input;
  checkImage(data, [C, H, W], 'slidingWindow2d');
  const o = resolveOpts(opts, 2);
  const out = new Float32Array(opts.outChannels * H * W);
  const size: [number, number, number] = [1, H, W];
  const roi: [number, number, number] = [1, opts.roi[0], opts.roi[1]];
  await runWindows(
    { ...o, size, roi, inChannels: C, outChannels: opts.outChannels, fill: memoryFill(data, C, size, roi, o.padValue), emit: (_z, p) => void out.set(p) },
    run,
  );
  return out;
}

/** 3D sliding window over [channels, depth, height, width]; resolves to [outChannels, depth, height, width]. */
export async function slidingWindow3d(
  input: { data: Float32Array; channels: number; depth: number; height: number; width: number },
  run: WindowRunner,
  opts: SlidingWindowOptions,
): Promise<Float32Array> {
  const { data, channels: C, depth: D, height: H, width: W } = input;
  checkImage(data, [C, D, H, W], 'slidingWindow3d');
  const o = resolveOpts(opts, 3);
  const K = opts.outChannels;
  const HW = H * W;
  const out = new Float32Array(K * D * HW);
  const size: [number, number, number] = [D, H, W];
  const roi = opts.roi as [number, number, number];
  await runWindows(
    {
      ...o,
      size,
      roi,
      inChannels: C,
      outChannels: K,
      fill: memoryFill(data, C, size, roi, o.padValue),
      emit: (z, p) => {
        for (let c = 0; c < K; c++) out.set(p.subarray(c * HW, (c + 1) * HW), (c * D + z) * HW);
      },
    },
    run,
  );
  return out;
}

