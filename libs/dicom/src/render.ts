import sharp from 'sharp';
import type { DecodedFrame } from './decode';
import type { Volume } from './volume';

export interface WindowSpec {
  /** Window centre (HU for CT). */
  center: number;
  /** Window width (> 0). */
  width: number;
}

/**
 * Linear VOI window of PS3.3 C.11.2.1.2.1 to 0..255: values <= c - 0.5 - (w-1)/2 -> 0,
 * > c - 0.5 + (w-1)/2 -> 255, else ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.
 */
export function applyWindow(values: ArrayLike<number>, win: WindowSpec): Uint8Array {
  if (!(win.width >= 1)) throw new RangeError(`window width must be >= 1, got ${win.width}`);
  const out = new Uint8Array(values.length);
  const c = win.center - 0.5;
  const w = win.width - 1;
  const lo = c - w / 2;
  const hi = c + w / 2;
  for (let k = 0; k < values.length; k++) {
    const x = values[k];
    if (x <= lo) out[k] = 0;
    else if (x > hi) out[k] = 255;
    else out[k] = Math.round(((x - c) / (w || 1) + 0.5) * 255);
  }
  return out;
}

/** What rendering needs of a volume: its size and voxels (a full Volume, or one read back from storage). */
export type VolumeVoxels = Pick<Volume, 'dims' | 'data'>;

const isVolume = (v: VolumeVoxels | DecodedFrame): v is VolumeVoxels => (v as VolumeVoxels).dims !== undefined;

/**
 * Renders axial slice `index` of a volume (or a decoded monochrome frame, index ignored) as an 8-bit
 * greyscale PNG with the given window.
 */
export async function renderSlicePng(src: VolumeVoxels | DecodedFrame, index: number, win: WindowSpec): Promise<Buffer> {
  let w: number;
  let h: number;
  let vals: ArrayLike<number>;
  if (isVolume(src)) {
    [w, h] = src.dims;
    if (!Number.isInteger(index) || index < 0 || index >= src.dims[2]) {
      throw new RangeError(`slice index ${index} outside 0..${src.dims[2] - 1}`);
    }
    vals = src.data.subarray(index * w * h, (index + 1) * w * h);
  } else {
    w = src.columns;
    h = src.rows;
    if (!src.values) throw new RangeError('renderSlicePng needs a monochrome frame (it has no modality-LUT values)');
    vals = src.values;
  }
  const grey = applyWindow(vals, win);
  return sharp(Buffer.from(grey.buffer, grey.byteOffset, grey.byteLength), { raw: { width: w, height: h, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
