import type { OpenSlideOptions, SlideReader } from './types';
import { InputError } from '@app/core';
export const DicomSlide = {
  async open(_paths: string | readonly string[], _opts: OpenSlideOptions): Promise<SlideReader> {
    throw new InputError('wsi.unsupported-format', 'DICOM WSI reading is not implemented yet');
  },
};
