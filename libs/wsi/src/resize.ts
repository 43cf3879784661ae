import sharp from 'sharp';
import type { RgbImage } from './types';

/**
 * Resizes interleaved RGB to w x h with libvips (sharp's resize, `fit: 'fill'`: area-averaging when shrinking, aspect
 * not kept). The same bytes in any thread or process: readRegionScaled runs it in the decoder sandbox.
 */
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
