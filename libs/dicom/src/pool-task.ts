/**
 * Worker-thread tasks of `DicomPool` (run inside piscina workers; one set of WASM codecs per thread).
 * InputErrors are returned as data (class identity does not survive the thread boundary) and rebuilt
 * by the pool.
 *
 * - `load`: read + parse + decode every frame; HU arrays are transferred back (zero copy).
 * - `header`: read a prefix of the file and parse up to Pixel Data; checks the pixel limits.
 * - `decode`: read + parse + decode the listed frames straight into a SharedArrayBuffer volume.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { isInputError } from '@app/core';
import { checkPixelModule, decodeFrame, decodeFrameInto, type DecodeLimits } from './decode';
import { frameGeometry, parseDicom, type DicomHeader, type FrameGeometry } from './parse';

export interface LoadTask {
  kind?: 'load';
  path: string;
  limits?: Partial<DecodeLimits>;
  /** Header only (no pixel decoding). */
  headerOnly?: boolean;
}
export interface HeaderTask {
  kind: 'header';
  path: string;
  limits?: Partial<DecodeLimits>;
}
export interface DecodeTask {
  kind: 'decode';
  path: string;
  limits?: Partial<DecodeLimits>;
  target: SharedArrayBuffer;
  dtype: 'int16' | 'float32';
  /** Frames to decode and the element offset of each in `target`. */
  frames: Array<{ frameIndex: number; offset: number }>;
}
/** Batches (fewer thread round trips): results come back in input order. */
export interface HeaderBatch {
  kind: 'headers';
  tasks: HeaderTask[];
}
export interface DecodeBatch {
  kind: 'decodes';
  tasks: DecodeTask[];
}
export type PoolTask = LoadTask | HeaderTask | DecodeTask | HeaderBatch | DecodeBatch;

export interface PoolFrame {
  frameIndex: number;
  geometry: FrameGeometry;
  values: Int16Array | Float32Array;
}

export type PoolError = { ok: false; path: string; error: { code: string; message: string; detail?: Record<string, unknown> } };
export type PoolResult = { ok: true; path: string; header: DicomHeader; frames: PoolFrame[] } | PoolError;
export type HeaderResult = { ok: true; path: string; header: DicomHeader } | PoolError;
/** `needsFloat`: a frame's HU values are not exact int16, so the int16 target could not hold them. */
export type DecodeResult = { ok: true; path: string; needsFloat: boolean } | PoolError;

const fail = (path: string, e: unknown): PoolError => {
  if (isInputError(e)) return { ok: false, path, error: { code: e.code, message: e.message, detail: e.detail } };
  throw e;
};

const HEADER_PREFIX = 64 * 1024;

/** Reads the first `n` bytes of a file (or all of it if smaller); returns them and the file size. */
function readPrefix(path: string, n: number): { buf: Buffer; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(n, size);
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const r = readSync(fd, buf, got, len - got, got);
      if (r <= 0) break;
      got += r;
    }
    return { buf: buf.subarray(0, got), size };
  } finally {
    closeSync(fd);
  }
}

export async function runPoolTask(task: LoadTask): Promise<PoolResult> {
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
    return fail(task.path, e);
  }
}

// Piscina runs one task at a time per worker (concurrentTasksPerWorker 1, set by DicomPool), so the
// per-thread scratch buffers below are never shared between tasks.
export function runHeaderTask(task: HeaderTask): HeaderResult {
  try {
    const { buf, size } = readPrefix(task.path, HEADER_PREFIX);
    let header: DicomHeader | undefined;
    try {
      header = parseDicom(buf, { stopAtPixelData: true }).header;
    } catch (e) {
      if (buf.length >= size) throw e;
    }
    // Header longer than the prefix (error, or the prefix ended on an element boundary before Pixel
    // Data), or a deflated data set (needs the whole stream): read the whole file.
    if (!header || (!header.image.hasPixelData && buf.length < size)) {
      header = parseDicom(readFileSync(task.path), { stopAtPixelData: true }).header;
    }
    checkPixelModule(header, task.limits);
    return { ok: true, path: task.path, header };
  } catch (e) {
    return fail(task.path, e);
  }
}

/** Per-thread reusable file buffer for decode tasks (nothing parsed from it outlives the task). */
let fileScratch = Buffer.alloc(0);

/** Reads a whole file into the reusable scratch buffer and returns a view of it. */
function readIntoScratch(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (fileScratch.length < size) fileScratch = Buffer.allocUnsafe(Math.max(size, fileScratch.length * 2));
    let got = 0;
    while (got < size) {
      const r = readSync(fd, fileScratch, got, size - got, got);
      if (r <= 0) break;
      got += r;
    }
    return fileScratch.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export async function runDecodeTask(task: DecodeTask): Promise<DecodeResult> {
  try {
    const p = parseDicom(readIntoScratch(task.path));
    const out = task.dtype === 'int16' ? new Int16Array(task.target) : new Float32Array(task.target);
    const per = (p.header.image.rows ?? 0) * (p.header.image.columns ?? 0);
    for (const f of task.frames) {
      if (f.offset + per > out.length) throw new RangeError(`decode task: frame does not fit the target at offset ${f.offset}`);
      const into = out.subarray(f.offset, f.offset + per);
      const values = await decodeFrameInto(p, f.frameIndex, into, { limits: task.limits });
      if (values !== into) return { ok: true, path: task.path, needsFloat: true };
    }
    return { ok: true, path: task.path, needsFloat: false };
  } catch (e) {
    return fail(task.path, e);
  }
}

export default async function poolTask(task: PoolTask): Promise<unknown> {
  if (task.kind === 'headers') return task.tasks.map(runHeaderTask);
  if (task.kind === 'decodes') {
    const out: DecodeResult[] = [];
    for (const t of task.tasks) out.push(await runDecodeTask(t));
    return out;
  }
  if (task.kind === 'header') return runHeaderTask(task);
  if (task.kind === 'decode') return runDecodeTask(task);
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
