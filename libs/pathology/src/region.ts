import sharp from 'sharp';
import type { RgbImage, SlideReader } from '@app/wsi';

/** Largest source region (pixels) read in one `readRegion` call; bigger requests are split into pieces. */
export const MAX_PIECE_PIXELS = 8 * 1024 * 1024;

/** Resizes interleaved RGB with libvips (sharp), area-averaging when shrinking. */
export async function resizeRgb(img: RgbImage, w: number, h: number): Promise<RgbImage> {
  if (img.width === w && img.height === h) return img;
  const data = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .resize(w, h, { fit: 'fill' })
    .raw()
    .toBuffer();
  return { width: w, height: h, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/**
 * Reads the level-0 rectangle [x0, x0+w0) x [y0, y0+h0) scaled to outW x outH pixels: from the finest level whose
 * downsample is <= the requested one (OpenSlide `get_best_level_for_downsample`), resized with libvips. Large
 * requests are read in pieces of at most MAX_PIECE_PIXELS source pixels, so memory stays bounded whatever the slide
 * (the output itself is outW x outH x 3 bytes). Outside the slide is white, as the reader returns it.
 */
export async function readScaled(slide: SlideReader, x0: number, y0: number, w0: number, h0: number, outW: number, outH: number): Promise<RgbImage> {
  const ds = Math.min(w0 / outW, h0 / outH);
  const level = slide.getBestLevelForDownsample(ds);
  const dl = slide.levels[level].downsample;
  const sw = Math.ceil(w0 / dl);
  const sh = Math.ceil(h0 / dl);
  if (sw * sh <= MAX_PIECE_PIXELS) {
    const r = await slide.readRegion(level, Math.round(x0), Math.round(y0), sw, sh);
    return resizeRgb(r, outW, outH);
  }
  const nx = Math.max(1, Math.ceil(sw / 4096));
  const ny = Math.max(1, Math.ceil((sw / nx) * sh / MAX_PIECE_PIXELS));
  const out = new Uint8Array(outW * outH * 3);
  const fx = w0 / outW;
  const fy = h0 / outH;
  for (let j = 0; j < ny; j++) {
    const oy0 = Math.floor((j * outH) / ny);
    const oy1 = Math.floor(((j + 1) * outH) / ny);
    if (oy1 <= oy0) continue;
    for (let i = 0; i < nx; i++) {
      const ox0 = Math.floor((i * outW) / nx);
      const ox1 = Math.floor(((i + 1) * outW) / nx);
      if (ox1 <= ox0) continue;
      const lx0 = Math.round(x0 + ox0 * fx);
      const ly0 = Math.round(y0 + oy0 * fy);
      const lx1 = Math.round(x0 + ox1 * fx);
      const ly1 = Math.round(y0 + oy1 * fy);
      const r = await slide.readRegion(level, lx0, ly0, Math.max(1, Math.ceil((lx1 - lx0) / dl)), Math.max(1, Math.ceil((ly1 - ly0) / dl)));
      const p = await resizeRgb(r, ox1 - ox0, oy1 - oy0);
      const pw = ox1 - ox0;
      for (let y = 0; y < oy1 - oy0; y++) out.set(p.data.subarray(y * pw * 3, (y + 1) * pw * 3), ((oy0 + y) * outW + ox0) * 3);
    }
  }
  return { width: outW, height: outH, channels: 3, data: out };
}

/** Whole slide scaled so its long side is at most maxSize px (aspect kept). */
export async function readWholeScaled(slide: SlideReader, maxSize: number): Promise<RgbImage> {
  const { width: W, height: H } = slide.levels[0];
  const s = Math.min(1, maxSize / Math.max(W, H));
  const w = Math.max(1, Math.round(W * s));
  const h = Math.max(1, Math.round(H * s));
  return readScaled(slide, 0, 0, W, H, w, h);
}
