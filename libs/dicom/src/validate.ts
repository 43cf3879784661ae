/**
 * Ingest validation of one DICOM object's pixel data: parse, pixel-module checks, and every frame
 * decoded (native, RLE, JPEG family, JPEG-LS, JPEG 2000 through the WASM codecs). Whole-slide
 * instances only get the pixel-module checks (their tiles are decoded by the slide reader).
 *
 * `validateDicomPixels` runs this in the decoder sandbox (a child process, @app/core sandbox): a
 * decoder that crashes the process, runs out of memory or exceeds its time limit becomes an InputError
 * naming the object and the step, and the calling process keeps running.
 */
import { runSandboxed } from '@app/core';
import { checkPixelModule, decodeAllFrames, type DecodeLimits } from './decode';
import { parseDicom } from './parse';
import { join } from 'node:path';

const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';

export interface DicomValidation {
  hasPixelData: boolean;
  frames: number;
  /** Whole-slide instance: pixel module checked, frames not decoded here. */
  wsi: boolean;
}

/** In-process validation (what the sandboxed task runs). */
export async function validateDicomPixelsInProcess(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Promise<DicomValidation> {
  const p = parseDicom(bytes);
  const h = p.header;
  const wsi = h.instance.sopClassUid === WSI_SOP_CLASS;
  if (!h.image.hasPixelData) return { hasPixelData: false, frames: 0, wsi };
  const pm = checkPixelModule(h, limits);
  if (!wsi) await decodeAllFrames(p, { limits });
  return { hasPixelData: true, frames: pm.frames, wsi };
}

const TASK = join(__dirname, 'validate-task');

/**
 * Validates `bytes` (named `name` in errors, e.g. the object key) in the decoder sandbox.
 * Throws InputError for bad input, including a decoder crash / out-of-memory / time-out.
 */
export async function validateDicomPixels(bytes: Uint8Array, name: string, opts: { limits?: Partial<DecodeLimits>; timeoutMs?: number } = {}): Promise<DicomValidation> {
  return runSandboxed<DicomValidation>(TASK, { bytes, limits: opts.limits }, { file: name, step: 'DICOM pixel decoding', timeoutMs: opts.timeoutMs });
}
