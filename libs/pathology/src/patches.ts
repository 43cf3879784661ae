import type { SlideReader } from '@app/wsi';
import { InputError } from '@app/core';
import { readScaled, resizeRgb } from './region';
import type { TissueMask } from './tissue';
/* Local aliases: global lookups (Math.*) are slow inside vm sandboxes such as jest; hot loops use these. */
const { abs: M_abs, ceil: M_ceil, floor: M_floor, max: M_max, min: M_min, round: M_round } = Math;


export interface PatchOptions {
  /** Target µm per pixel of the patches (e.g. 0.5). */
  mpp: number;
  /** Patch edge in pixels at the target MPP (e.g. 224 or 256). */
  size: number;
  /** Patches per yielded batch (bounds memory: batch x size² x 3 float32). */
  batch: number;
  /** Minimum fraction of the patch that the mask says is tissue (default 0.5). */
  minTissueFraction?: number;
  /** Concurrent region reads within a batch (default 4). */
  concurrency?: number;
}

export interface PatchCoord {
  /** Top-left corner in level-0 pixels. */
  x: number;
  y: number;
  /** Patch extent in level-0 pixels (size x target mpp / slide mpp). */
  level0Size: number;
  /** Tissue fraction of the patch according to the mask. */
  tissueFraction: number;
}

export interface PatchBatch {
  coords: PatchCoord[];
  /** NHWC float32 in 0..1, dims [coords.length, size, size, 3]. */
  tensor: Float32Array;
  dims: [number, number, number, number];
}

export interface PatchPlan {
  coords: PatchCoord[];
  /** Slide level the pixels are read from. */
  level: number;
  /** True when no level matches the target MPP (within 1 %) and patches are resized from the finer level. */
  resampled: boolean;
  /** Pixels read at `level` per patch side. */
  readSize: number;
  level0Size: number;
}

/** Tissue fraction of the level-0 rectangle according to the mask (mean over the mask pixels it covers). */
export function maskFraction(mask: TissueMask, x: number, y: number, w: number, h: number): number {
  const x0 = M_max(0, M_floor(x / mask.downsample));
  const y0 = M_max(0, M_floor(y / mask.downsampleY));
  const x1 = M_min(mask.width, M_max(x0 + 1, M_ceil((x + w) / mask.downsample)));
  const y1 = M_min(mask.height, M_max(y0 + 1, M_ceil((y + h) / mask.downsampleY)));
  let n = 0;
  let t = 0;
  for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++, n++) t += mask.data[yy * mask.width + xx];
  return n ? t / n : 0;
}

/**
 * The patch grid (non-overlapping, from the slide's top-left corner, whole patches only) restricted to tissue, and
 * how it is read: from the level whose downsample matches size x target/slide MPP, or else from the nearest finer
 * level (OpenSlide best level) and resized.
 */
export function planPatches(slide: SlideReader, mask: TissueMask, opts: PatchOptions): PatchPlan {
  if (!slide.mpp) {
    throw new InputError('wsi.no-mpp', 'the slide carries no microns-per-pixel (MPP); patches at a target µm/px cannot be extracted. Expected MPP in the slide metadata (e.g. Aperio "MPP =" or TIFF resolution in cm)');
  }
  if (!(opts.mpp > 0) || !Number.isInteger(opts.size) || opts.size < 1 || !Number.isInteger(opts.batch) || opts.batch < 1) {
    throw new RangeError(`extractPatches: invalid options mpp=${opts.mpp} size=${opts.size} batch=${opts.batch}`);
  }
  const f = opts.mpp / slide.mpp.x;
  const L = opts.size * f;
  const level = slide.getBestLevelForDownsample(f);
  const dl = slide.levels[level].downsample;
  const resampled = M_abs(f / dl - 1) > 0.01;
  const readSize = resampled ? M_ceil(L / dl) : opts.size;
  const { width: W, height: H } = slide.levels[0];
  const min = opts.minTissueFraction ?? 0.5;
  const coords: PatchCoord[] = [];
  const nx = M_floor(W / L);
  const ny = M_floor(H / L);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const x = M_round(i * L);
      const y = M_round(j * L);
      const tf = maskFraction(mask, x, y, L, L);
      if (tf >= min && tf > 0) coords.push({ x, y, level0Size: L, tissueFraction: tf });
    }
  }
  return { coords, level, resampled, readSize, level0Size: L };
}

/**
 * Streams tissue patches at a target MPP in batches (memory: one batch). Errors from the reader propagate.
 */
export async function* extractPatches(slide: SlideReader, mask: TissueMask, opts: PatchOptions): AsyncGenerator<PatchBatch> {
  const plan = planPatches(slide, mask, opts);
  const S = opts.size;
  const conc = M_max(1, opts.concurrency ?? 4);
  const read = async (c: PatchCoord) => {
    if (!plan.resampled) return slide.readRegion(plan.level, c.x, c.y, S, S);
    const r = await slide.readRegion(plan.level, c.x, c.y, plan.readSize, plan.readSize);
    return resizeRgb(r, S, S);
  };
  for (let b = 0; b < plan.coords.length; b += opts.batch) {
    const coords = plan.coords.slice(b, b + opts.batch);
    const tensor = new Float32Array(coords.length * S * S * 3);
    for (let k = 0; k < coords.length; k += conc) {
      const imgs = await Promise.all(coords.slice(k, k + conc).map(read));
      imgs.forEach((img, q) => {
        const base = (k + q) * S * S * 3;
        const d = img.data;
        for (let i = 0; i < d.length; i++) tensor[base + i] = d[i] / 255;
      });
    }
    yield { coords, tensor, dims: [coords.length, S, S, 3] };
  }
}

export { readScaled };
