import type { Logger } from '@app/core';

export interface JobContext<P = unknown> {
  /** Ledger id (stable across retries). */
  id: string;
  name: string;
  payload: P;
  /** 1-based attempt number (a worker that died mid-job used an attempt too). */
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
  /**
   * At most this many jobs of this type at once per worker process, in a lane of their own (they never take a slot
   * of the shared QUEUE_CONCURRENCY pool, and light types never wait behind them).
   */
  concurrency?: number;
  /** A heavy type (volume building, slide tiling, inference): its own lane limited to QUEUE_CONCURRENCY_HEAVY. */
  heavy?: boolean;
  /**
   * Share the lane of this name (default: the type's own name) with the other types naming it: together they run at
   * most the lane's limit at once per worker (the smallest limit among them), e.g. two memory-hungry types that must
   * not add up in one worker. With Bull the lane is the Bull queue `<QUEUE_NAME>.<lane>`. Implies a limit (heavy's)
   * when the type sets neither `concurrency` nor `heavy`.
   */
  lane?: string;
  /**
   * Called once when the last attempt has failed (e.g. to mark the object failed), also when the last attempt died
   * with its worker (then `error` says so).
   */
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

/**
 * What `JobQueue.observe` listeners receive (metrics, logs):
 * - `started`: an attempt begins on this worker;
 * - `completed`: it succeeded (`ms` = handler time);
 * - `retrying`: it failed and will be retried (`error`, `ms`);
 * - `failed`: the job failed for good (last attempt failed, or died, or its handler is missing);
 * - `recovered`: a stuck job (its worker died mid-attempt, or its embedded queue was lost) was taken over by this
 *   worker and queued again (`attempt` = the attempt that died; `error` says why). Its final failure, when its
 *   attempts are used up, is a `failed` event instead.
 */
export type JobEventType = 'started' | 'completed' | 'failed' | 'retrying' | 'recovered';
export interface JobEvent {
  type: JobEventType;
  /** Job type. */
  name: string;
  /** Ledger id. */
  jobId: string;
  attempt: number;
  ms?: number;
  /** `Name: message` of the error (failed, retrying, recovered). */
  error?: string;
}
export type JobListener = (event: JobEvent) => void;

/** Per job type, from the ledger: queued and due, queued for later, running, stuck (being recovered), failed. */
export interface JobTypeDepth {
  waiting: number;
  delayed: number;
  active: number;
  stuck: number;
  failed: number;
}

/** Where a transport job is, as far as the transport knows. */
export type TransportState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'missing';

export interface DriverHooks {
  /** The transport failed a job by itself (Bull: stalled more than maxStalledCount). */
  onTransportFailed?(data: DriverJobData, name: string, error: Error, transportId: string): void;
  /** The transport found a job whose worker died and put it back (Bull 'stalled'). */
  onStalled?(data: DriverJobData, name: string): void;
}

/** What a transport (Bull on Redis, or in-process) must do; the ledger logic sits above it. */
export interface QueueDriver {
  readonly kind: 'bull' | 'in-process';
  /**
   * Job type `name` runs in lane `lane` (default: its own), which runs at most `concurrency` jobs at once per worker
   * (the lane's limit, worked out by JobQueue: the last one given for a lane applies). Called at registration, before
   * any add or process.
   */
  setLane(name: string, concurrency: number, lane?: string): void;
  add(name: string, data: DriverJobData, opts: { jobId: string; attempts: number; backoffMs: number; delayMs?: number }): Promise<void>;
  /** Consume: `concurrency` for the shared pool, each lane with its own. */
  process(concurrency: number, fn: (job: DriverJob) => Promise<unknown>, hooks?: DriverHooks): void;
  /** Where the transport job is (Bull); undefined when the transport cannot tell (in-process: its memory died with it). */
  state?(name: string, jobId: string): Promise<TransportState>;
  /** The transport's most recent failed jobs, newest first (Bull); for reconciling them with the ledger. */
  failedJobs?(limit: number): Promise<{ name: string; id: string; data: DriverJobData }[]>;
  /** Remove a transport job if, and only if, the transport holds it as failed. Returns whether it was removed. */
  removeFailed?(name: string, jobId: string): Promise<boolean>;
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
  /** the transport's id for this delivery (the ledger row id, or a re-send's `id:r1`, `id:retry:…`) */
  id: string;
  data: DriverJobData;
  /** attempts already made before this one */
  attemptsMade: number;
  maxAttempts: number;
  progress(p: number): Promise<void>;
  /** Do not retry this job in the transport whatever the outcome (the ledger decided it is final). */
  discard(): void;
}
