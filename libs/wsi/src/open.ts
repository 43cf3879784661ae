import { open as fsOpen, stat } from 'node:fs/promises';
import { InputError } from '@app/core';
import type { OpenSlideOptions, SlideReader } from './types';
import { TiffSlide } from './tiff-slide';

/**
 * Opens a whole-slide image: a TIFF-family file (Aperio SVS, generic tiled TIFF/BigTIFF, OME-TIFF),
 * or DICOM WSI (a folder of instances, a list of instance files, or one instance file).
 */
export async function openSlide(path: string | readonly string[], opts: OpenSlideOptions = {}): Promise<SlideReader> {
  if (typeof path !== 'string') return openDicom(path, opts);
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw new Error(`cannot open slide ${path}: ${(e as Error).message}`);
  }
  if (st.isDirectory()) return openDicom(path, opts);
  const fh = await fsOpen(path, 'r');
  const head = Buffer.alloc(132);
  try {
    await fh.read(head, 0, 132, 0);
  } finally {
    await fh.close();
  }
  if (st.size >= 132 && head.toString('latin1', 128, 132) === 'DICM') return openDicom([path], opts);
  const bo = head.toString('latin1', 0, 2);
  if (bo === 'II' || bo === 'MM') return TiffSlide.open(path, opts);
  throw new InputError('wsi.not-a-slide', `${path} is not a supported slide: neither TIFF ("II"/"MM" header) nor DICOM ("DICM" at byte 128)`, { size: st.size });
}

async function openDicom(paths: string | readonly string[], opts: OpenSlideOptions): Promise<SlideReader> {
  const { DicomSlide } = await import('./dicom-slide');
  return DicomSlide.open(paths, opts);
}
