/**
 * The process-wide worker-thread pool (piscina) for CPU-bound library work: DICOM decoding, endpoint
 * derivation shards, dataset writing. One pool, so threads started for one step are warm for the next
 * (and their task modules stay loaded); idle threads do not keep the process alive.
 */
import { availableParallelism } from 'node:os';
import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { InputError } from './errors';
import { WORKER_LOADER } from './paths';

let shared: Piscina | undefined;

/** How many threads the shared pool runs: one per core. */
export const workerPoolThreads = (): number => availableParallelism();

/** The shared pool: one thread per core, started now (call it early to have threads warm later). */
export function workerPool(): Piscina {
  shared ??= new Piscina({ filename: WORKER_LOADER, minThreads: workerPoolThreads(), maxThreads: workerPoolThreads(), idleTimeout: 60_000 });
  return shared;
}

/**
 * A worker task's result as the caller sees it: an InputError the task threw (sent back as data by
 * worker-loader.js) is thrown again here with its code, message and detail.
 */
export function workerResult<T>(r: unknown): T {
  const e = (r as { __inputError?: { code: string; message: string; detail?: Record<string, unknown> } } | null)?.__inputError;
  if (e) throw new InputError(e.code, e.message, e.detail);
  return r as T;
}

/**
 * Runs a task module's default export with `payload` on a worker thread of the shared pool.
 * `transfer`: objects in the payload moved to the worker rather than copied (e.g. a MessagePort the
 * task reads its input from as it comes).
 */
export async function runInWorker<T>(task: string, payload: unknown, transfer: TransferListItem[] = []): Promise<T> {
  return workerResult<T>(await workerPool().run({ task, payload }, transfer.length ? { transferList: transfer } : {}));
}

/** A task result whose ArrayBuffers go back to the calling thread moved (transferred), not copied. */
export function moveResult<T>(value: T, buffers: Iterable<ArrayBufferLike>): T {
  const list = [...new Set(buffers)];
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return list;
    },
    get [Piscina.valueSymbol]() {
      return value;
    },
  } as unknown as ArrayBuffer) as unknown as T;
}
