import type { Logger } from '@app/core';

export interface JobContext<P = unknown> {
  /** Ledger id (stable across retries). */
  id: string;
  name: string;
  payload: P;
  /** 1-based attempt number. */
  attempt: number;
  maxAttempts: number;
  progress(percent: number): Promise<void>;
  log: Logger;
}

export interface JobDefinition<P = unknown> {
  /** Named job type, e.g. 'ingest.object'. */
  name: string;
  handler: (ctx: JobContext<P>) => Promise<unknown>;
  attempts?: number;
  backoffMs?: number;
  /** Called once when the last attempt has failed (e.g. to mark the object failed). */
  onFinalFailure?: (ctx: JobContext<P>, error: Error) => Promise<void>;
}

export interface EnqueueOptions {
  /** Same key = same job: a repeat enqueue is a no-op. Derive from the input's identity (bucket+key+etag...). */
  idempotencyKey: string;
  attempts?: number;
  delayMs?: number;
}

export interface EnqueueResult {
  jobId: string;
  duplicate: boolean;
}

/** What a transport (Bull on Redis, or in-process) must do; the ledger logic sits above it. */
export interface QueueDriver {
  readonly kind: 'bull' | 'in-process';
  add(name: string, data: DriverJobData, opts: { jobId: string; attempts: number; backoffMs: number; delayMs?: number }): Promise<void>;
  process(concurrency: number, fn: (job: DriverJob) => Promise<unknown>): void;
  counts(): Promise<Record<string, number>>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DriverJobData {
  ledgerId: string;
  payload: unknown;
}

export interface DriverJob {
  name: string;
  data: DriverJobData;
  /** attempts already made before this one */
  attemptsMade: number;
  maxAttempts: number;
  progress(p: number): Promise<void>;
}
