/**
 * Worker-thread task of `DicomPool`: reads + parses + decodes one DICOM file. Runs inside a piscina
 * worker (one set of WASM codecs per thread). InputErrors are returned as data (class identity does
 * not survive the thread boundary) and rebuilt by the pool.
 */
import { readFileSync } from 'node:fs';
import { isInputError } from '@app/core';
import { checkPixelModule, decodeFrame, type DecodeLimits } from './decode';
import { frameGeometry, parseDicom, type DicomHeader, type FrameGeometry } from './parse';

export interface PoolTask {
  path: string;
  limits?: Partial<DecodeLimits>;
  /** Header only (no pixel decoding). */
  headerOnly?: boolean;
}

export interface PoolFrame {
  frameIndex: number;
  geometry: FrameGeometry;
  values: Int16Array | Float32Array;
}

export type PoolResult =
  | { ok: true; path: string; header: DicomHeader; frames: PoolFrame[] }
  | { ok: false; path: string; error: { code: string; message: string; detail?: Record<string, unknown> } };

export async function runPoolTask(task: PoolTask): Promise<PoolResult> {
  try {
    const p = parseDicom(readFileSync(task.path));
    const frames: PoolFrame[] = [];
    if (!task.headerOnly) {
      const pm = checkPixelModule(p.header, task.limits);
      for (let i = 0; i < pm.frames; i++) {
        const f = await decodeFrame(p, i, { limits: task.limits });
        if (!f.values) {
          return { ok: false, path: task.path, error: { code: 'dicom.not-monochrome', message: `${task.path} is not a monochrome image` } };
        }
        frames.push({ frameIndex: i, geometry: frameGeometry(p.header, i), values: f.values });
      }
    }
    return { ok: true, path: task.path, header: p.header, frames };
  } catch (e) {
    if (isInputError(e)) return { ok: false, path: task.path, error: { code: e.code, message: e.message, detail: e.detail } };
    throw e;
  }
}

export default async function poolTask(task: PoolTask): Promise<unknown> {
  const r = await runPoolTask(task);
  if (!r.ok) return r;
  // Transfer the pixel buffers instead of copying them (piscina's movable-object protocol).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Piscina } = require('piscina') as typeof import('piscina');
  return Piscina.move({
    [Piscina.transferableSymbol]: r.frames.map((f) => f.values.buffer),
    [Piscina.valueSymbol]: r,
  } as never);
}
