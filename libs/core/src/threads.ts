/**
 * The process-wide worker-thread pool (piscina) for CPU-bound library work: DICOM decoding, endpoint
 * derivation shards, dataset writing. One pool, so threads started for one step are warm for the next
 * (and their task modules stay loaded); idle threads do not keep the process alive.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { WORKER_LOADER } from './paths';

let shared: Piscina | undefined;

/** The shared pool: one thread per core, started now (call it early to have threads warm later). */
export function workerPool(): Piscina {
  shared ??= new Piscina({ filename: WORKER_LOADER, minThreads: availableParallelism(), maxThreads: availableParallelism(), idleTimeout: 60_000 });
  return shared;
}

/** Runs a task module's default export with `payload` on a worker thread of the shared pool. */
export function runInWorker<T>(task: string, payload: unknown): Promise<T> {
  return workerPool().run({ task, payload }) as Promise<T>;
}

/** Stops the shared pool's threads (tests, shutdown); the next use starts a new pool. */
export async function closeWorkerPool(): Promise<void> {
  const p = shared;
  shared = undefined;
  if (p) await p.destroy();
}
