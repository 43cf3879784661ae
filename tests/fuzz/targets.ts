/**
 * What the fuzzer runs on each input: the same entry points the pipeline runs on an uploaded object.
 * - slide: openSlide, read every level's top-left 256x256 and the smallest level whole (up to 1024 px), the
 *   smallest level again scaled to half size as two overlapping bands (readRegionScaled), every associated image,
 *   and (TIFF family) blindSlide then reopen the blinded copy.
 * - dicom: the ingest validation (parse, pixel module checks, every frame decoded), as the DICOM step does.
 */
import { rm } from 'node:fs/promises';
import { openSlide, blindSlide } from '@app/wsi';
import { validateDicomPixels, validateDicomPixelsInProcess } from '@app/dicom';

export interface SlideTargetOptions {
  /** Top-left region read at every level (px). Default 256. */
  regionPx?: number;
  /** The smallest level is read whole up to this size (px). Default 1024. */
  lowestLevelPx?: number;
  /** Also blind the slide and reopen the blinded copy (TIFF family). Default true. */
  blind?: boolean;
}

export async function slideTarget(path: string, blindedPath: string, o: SlideTargetOptions = {}): Promise<void> {
  const region = o.regionPx ?? 256;
  const lowest = o.lowestLevelPx ?? 1024;
  const s = await openSlide(path);
  try {
    for (let l = 0; l < s.levels.length; l++) await s.readRegion(l, 0, 0, Math.min(region, s.levels[l].width), Math.min(region, s.levels[l].height));
    const last = s.levels.length - 1;
    const L = s.levels[last];
    await s.readRegion(last, 0, 0, Math.min(lowest, L.width), Math.min(lowest, L.height));
    // the scaled path (thumbnails, tissue masks, the tile classifier's bands): the region task in the sandbox, on two
    // overlapping bands of the smallest level at half size, so that the second can reuse the first one's kept blocks
    if (s.readRegionScaled) {
      const w = Math.min(lowest, L.width);
      const h = Math.min(lowest, L.height);
      const band = Math.min(h, Math.ceil(h / 2) + 8);
      for (const y of [0, h - band]) await s.readRegionScaled(last, 0, Math.round(y * L.downsample), w, band, Math.ceil(w / 2), Math.ceil(band / 2));
    }
    for (const a of s.associatedImageNames) await s.readAssociatedImage(a);
  } finally {
    await s.close();
  }
  if (!path.endsWith('.dcm') && (o.blind ?? true)) {
    try {
      await blindSlide(path, blindedPath);
      const b = await openSlide(blindedPath);
      await b.close();
    } finally {
      await rm(blindedPath, { force: true });
    }
  }
}

export async function dicomTarget(bytes: Buffer, name: string): Promise<void> {
  // FUZZ_IN_PROCESS=1: without the sandbox (to reproduce what an unprotected process would suffer)
  if (process.env.FUZZ_IN_PROCESS === '1') await validateDicomPixelsInProcess(bytes);
  else await validateDicomPixels(bytes, name);
}
