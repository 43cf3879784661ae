import { resizeRgb, type RgbImage, type SlideReader } from '@app/wsi';

export { resizeRgb };

/** Largest source region (pixels) read in one `readRegion` call; bigger requests are split into pieces. */
export const MAX_PIECE_PIXELS = 8 * 1024 * 1024;

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
  if (sw * sh <= MAX_PIECE_PIXELS) return readPiece(slide, level, Math.round(x0), Math.round(y0), sw, sh, outW, outH);
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
      const p = await readPiece(slide, level, lx0, ly0, Math.max(1, Math.ceil((lx1 - lx0) / dl)), Math.max(1, Math.ceil((ly1 - ly0) / dl)), ox1 - ox0, oy1 - oy0);
      const pw = ox1 - ox0;
      for (let y = 0; y < oy1 - oy0; y++) out.set(p.data.subarray(y * pw * 3, (y + 1) * pw * 3), ((oy0 + y) * outW + ox0) * 3);
    }
  }
  return { width: outW, height: outH, channels: 3, data: out };
}

/**
 * One piece: readRegion resized to outW x outH. Where the reader can do both where it decodes (readRegionScaled: the
 * TIFF reader's decoder sandbox) only the resized pixels come back; the bytes are the same either way.
 */
function readPiece(slide: SlideReader, level: number, x: number, y: number, w: number, h: number, outW: number, outH: number): Promise<RgbImage> {
  if (slide.readRegionScaled) return slide.readRegionScaled(level, x, y, w, h, outW, outH);
  return slide.readRegion(level, x, y, w, h).then((r) => resizeRgb(r, outW, outH));
}

/** Whole slide scaled so its long side is at most maxSize px (aspect kept). */
export async function readWholeScaled(slide: SlideReader, maxSize: number): Promise<RgbImage> {
  const { width: W, height: H } = slide.levels[0];
  const s = Math.min(1, maxSize / Math.max(W, H));
  const w = Math.max(1, Math.round(W * s));
  const h = Math.max(1, Math.round(H * s));
  return readScaled(slide, 0, 0, W, H, w, h);
}
