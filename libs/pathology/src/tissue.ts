import sharp from 'sharp';
import type { RgbImage, SlideReader } from '@app/wsi';
import { getModel, type ModelProvenance } from '@app/inference';
import { readScaled } from './region';
/* Local aliases: global lookups (Math.*) are slow inside vm sandboxes such as jest; hot loops use these. */
const { max: M_max, min: M_min, round: M_round } = Math;


export type TissueMethod = 'otsu' | 'unet';

export interface TissueMask {
  /** Mask size in pixels; `data[y * width + x]` is 1 for tissue, 0 otherwise. */
  width: number;
  height: number;
  data: Uint8Array;
  /** Level-0 pixels per mask pixel, horizontally and vertically (width = round(W0 / downsample)). */
  downsample: number;
  downsampleY: number;
  method: TissueMethod;
  /** Fraction of mask pixels that are tissue. */
  tissueFraction: number;
  /** Otsu: the saturation threshold (0..1) chosen; unet: the probability threshold. */
  threshold: number;
  /** Otsu: fraction of mask pixels classified as ink (pen) and rejected. */
  inkFraction?: number;
  /** U-Net: the model that produced it. */
  model?: ModelProvenance;
}

export interface TissueOptions {
  method?: TissueMethod;
  /** Level-0 px per mask px. Default: about 8 µm/px (16 at 0.5 µm/px), but the mask's long side kept within 512..4096 px. */
  downsample?: number;
  /** Otsu: tissue components smaller than this are dropped (µm², default 20,000 ~ a 140 µm square). */
  minComponentUm2?: number;
  /** Otsu: holes smaller than this are filled (µm², default 20,000). */
  maxHoleUm2?: number;
  /** Otsu: saturation below this is never tissue (default 0.05), guards blank slides. */
  minSaturation?: number;
}

const DEFAULT_MPP = 0.5; // assumed when the slide carries no MPP (only to size morphology in pixels)

/** Default mask downsample for a slide (see TissueOptions.downsample). */
export function defaultMaskDownsample(slide: SlideReader): number {
  const { width: W, height: H } = slide.levels[0];
  const mpp = slide.mpp?.x ?? DEFAULT_MPP;
  const long = M_max(W, H);
  let ds = 8 / mpp;
  ds = M_min(ds, long / 512);
  ds = M_max(ds, long / 4096, 1);
  return ds;
}

/** Otsu's threshold on a 256-bin histogram: the bin t maximising between-class variance (class 0 = bins <= t). */
export function otsuThreshold(hist: ArrayLike<number>): number {
  let total = 0;
  let sum = 0;
  for (let i = 0; i < 256; i++) {
    total += hist[i];
    sum += i * hist[i];
  }
  let w0 = 0;
  let sum0 = 0;
  let best = 0;
  let bestVar = -1;
  for (let t = 0; t < 256; t++) {
    w0 += hist[t];
    if (w0 === 0) continue;
    const w1 = total - w0;
    if (w1 === 0) break;
    sum0 += t * hist[t];
    const m0 = sum0 / w0;
    const m1 = (sum - sum0) / w1;
    const v = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (v > bestVar) {
      bestVar = v;
      best = t;
    }
  }
  return best;
}

/**
 * Ink (pen mark) rule, per pixel of the low-resolution image. H&E stains are pink (eosin, hue ~300-360°/0-20°) and
 * purple (haematoxylin, hue ~250-300°); marker inks are blue, green or black. A pixel is ink if
 *  - it is saturated (HSV S >= 0.3) with a hue in [70°, 235°] (green through blue; for blue hues this means G > R,
 *    while haematoxylin purple has R > G), or
 *  - it is black/grey ink: dark (max(R,G,B) < 60) AND unsaturated (S < 0.3). Dense haematoxylin can be as dark but
 *    is strongly saturated purple (measured on CMU-1-Small-Region.svs), so it is kept.
 * The ink mask is then dilated by one pixel to catch stroke rims blended with glass.
 */
export function isInk(r: number, g: number, b: number): boolean {
  const mx = M_max(r, g, b);
  const mn = M_min(r, g, b);
  const s = mx === 0 ? 0 : (mx - mn) / mx;
  if (s < 0.3) return mx < 60;
  const d = mx - mn;
  let h: number;
  if (mx === r) h = 60 * (((g - b) / d) % 6);
  else if (mx === g) h = 60 * ((b - r) / d + 2);
  else h = 60 * ((r - g) / d + 4);
  if (h < 0) h += 360;
  return h >= 70 && h <= 235;
}

function dilate(m: Uint8Array, w: number, h: number): Uint8Array {
  const o = new Uint8Array(m.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let dy = -1; dy <= 1 && !v; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < w && m[yy * w + xx]) {
            v = 1;
            break;
          }
        }
      }
      o[y * w + x] = v;
    }
  }
  return o;
}
const invert = (m: Uint8Array) => m.map((v) => (v ? 0 : 1));
/** 3x3 erosion (outside the image counts as background for erosion = foreground stays only if all neighbours are). */
const erode = (m: Uint8Array, w: number, h: number) => invert(dilate(invert(m), w, h));

/**
 * Labels 4-connected components of `value` in m; calls visit(size, touchesBorder, pixels) per component
 * and, if it returns true, sets those pixels to `replace`.
 */
function filterComponents(m: Uint8Array, w: number, h: number, value: number, replace: number, drop: (size: number, border: boolean) => boolean): void {
  const seen = new Uint8Array(m.length);
  const stack = new Int32Array(m.length);
  const comp = new Int32Array(m.length);
  for (let i = 0; i < m.length; i++) {
    if (seen[i] || m[i] !== value) continue;
    let sp = 0;
    let n = 0;
    let border = false;
    stack[sp++] = i;
    seen[i] = 1;
    while (sp) {
      const p = stack[--sp];
      comp[n++] = p;
      const x = p % w;
      const y = (p - x) / w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) border = true;
      if (x > 0 && !seen[p - 1] && m[p - 1] === value) (seen[p - 1] = 1), (stack[sp++] = p - 1);
      if (x < w - 1 && !seen[p + 1] && m[p + 1] === value) (seen[p + 1] = 1), (stack[sp++] = p + 1);
      if (y > 0 && !seen[p - w] && m[p - w] === value) (seen[p - w] = 1), (stack[sp++] = p - w);
      if (y < h - 1 && !seen[p + w] && m[p + w] === value) (seen[p + w] = 1), (stack[sp++] = p + w);
    }
    if (drop(n, border)) for (let k = 0; k < n; k++) m[comp[k]] = replace;
  }
}

export interface OtsuResult {
  mask: Uint8Array;
  threshold: number;
  ink: Uint8Array;
}

/**
 * Otsu tissue segmentation of a low-resolution RGB image: saturation threshold by Otsu (ink pixels excluded from the
 * histogram), ink rejected, then close (3x3), open (3x3), fill holes smaller than maxHolePx not touching the border,
 * drop components smaller than minComponentPx.
 */
export function otsuTissue(img: RgbImage, opts: { minComponentPx: number; maxHolePx: number; minSaturation?: number }): OtsuResult {
  const { width: w, height: h, data } = img;
  const n = w * h;
  const sat = new Uint8Array(n);
  let ink: Uint8Array = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = data[i * 3];
    const g = data[i * 3 + 1];
    const b = data[i * 3 + 2];
    const mx = M_max(r, g, b);
    sat[i] = mx === 0 ? 0 : M_round((255 * (mx - M_min(r, g, b))) / mx);
    if (isInk(r, g, b)) ink[i] = 1;
  }
  ink = dilate(ink, w, h);
  const hist = new Float64Array(256);
  for (let i = 0; i < n; i++) if (!ink[i]) hist[sat[i]]++;
  const t = M_max(otsuThreshold(hist), M_round(255 * (opts.minSaturation ?? 0.05)));
  let m: Uint8Array = new Uint8Array(n);
  for (let i = 0; i < n; i++) m[i] = sat[i] > t && !ink[i] ? 1 : 0;
  m = erode(dilate(m, w, h), w, h); // close
  m = dilate(erode(m, w, h), w, h); // open
  for (let i = 0; i < n; i++) if (ink[i]) m[i] = 0;
  filterComponents(m, w, h, 0, 1, (size, border) => !border && size < opts.maxHolePx);
  filterComponents(m, w, h, 1, 0, (size) => size < opts.minComponentPx);
  return { mask: m, threshold: t / 255, ink };
}

/**
 * Finds tissue on a low-resolution rendering of the slide (read via `getBestLevelForDownsample` + `readRegion`).
 * - `otsu` (default): `otsuTissue` above; rejects glass, pen marks (ink rule, see `isInk`) and small debris.
 * - `unet`: the registered `tissue-unet` model (whole slide resized to 500x500, probability >= its threshold 0.6,
 *   resized back to the mask size), as its authors use it; no ink rule or morphology is applied.
 * Errors from the reader (InputError for bad slides) propagate unchanged.
 */
export async function detectTissue(slide: SlideReader, opts: TissueOptions = {}): Promise<TissueMask> {
  const method = opts.method ?? 'otsu';
  const { width: W, height: H } = slide.levels[0];
  const ds = opts.downsample ?? defaultMaskDownsample(slide);
  const mw = M_max(1, M_round(W / ds));
  const mh = M_max(1, M_round(H / ds));
  const base = { width: mw, height: mh, downsample: W / mw, downsampleY: H / mh, method };
  const frac = (m: Uint8Array) => m.reduce((a, v) => a + v, 0) / m.length;
  if (method === 'otsu') {
    const img = await readScaled(slide, 0, 0, W, H, mw, mh);
    const mpp = slide.mpp?.x ?? DEFAULT_MPP;
    const pxArea = (base.downsample * mpp) * (base.downsampleY * (slide.mpp?.y ?? mpp));
    const r = otsuTissue(img, {
      minComponentPx: M_max(1, M_round((opts.minComponentUm2 ?? 20000) / pxArea)),
      maxHolePx: M_max(1, M_round((opts.maxHoleUm2 ?? 20000) / pxArea)),
      minSaturation: opts.minSaturation,
    });
    return { ...base, data: r.mask, tissueFraction: frac(r.mask), threshold: r.threshold, inkFraction: frac(r.ink) };
  }
  if (method !== 'unet') throw new Error(`detectTissue: unknown method ${String(method)}`);
  const model = await getModel('tissue-unet');
  const S = 500;
  const thr = Number(model.entry.params?.threshold ?? 0.6);
  const img = await readScaled(slide, 0, 0, W, H, S, S);
  const x = new Float32Array(S * S * 3);
  for (let i = 0; i < x.length; i++) x[i] = img.data[i] / 255;
  const { outputs, provenance } = await model.run({ input: { data: x, dims: [1, S, S, 3] } });
  const prob = outputs[model.entry.outputs[0].name].data;
  // linear resize of the probability map back to the mask size, then threshold (their post-processing)
  const p8 = new Uint8Array(S * S);
  for (let i = 0; i < p8.length; i++) p8[i] = M_max(0, M_min(255, M_round(prob[i] * 255)));
  const rs = await sharp(Buffer.from(p8.buffer), { raw: { width: S, height: S, channels: 1 } })
    .resize(mw, mh, { fit: 'fill', kernel: 'linear' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  const t8 = M_round(thr * 255);
  const m = new Uint8Array(mw * mh);
  for (let i = 0; i < m.length; i++) m[i] = rs[i] >= t8 ? 1 : 0;
  return { ...base, data: m, tissueFraction: frac(m), threshold: thr, model: provenance };
}

/** The mask as an 8-bit greyscale PNG (tissue 255, other 0), for storage and display. */
export async function maskToPng(mask: { width: number; height: number; data: Uint8Array }): Promise<Buffer> {
  const g = Buffer.alloc(mask.data.length);
  for (let i = 0; i < g.length; i++) g[i] = mask.data[i] ? 255 : 0;
  return sharp(g, { raw: { width: mask.width, height: mask.height, channels: 1 } }).png().toBuffer();
}

/** Dice and IoU of two binary masks of the same size. */
export function maskAgreement(a: Uint8Array, b: Uint8Array): { dice: number; iou: number } {
  if (a.length !== b.length) throw new RangeError(`maskAgreement: sizes differ (${a.length} vs ${b.length})`);
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0;
    const y = b[i] ? 1 : 0;
    inter += x & y;
    na += x;
    nb += y;
  }
  const union = na + nb - inter;
  return { dice: na + nb === 0 ? 1 : (2 * inter) / (na + nb), iou: union === 0 ? 1 : inter / union };
}
