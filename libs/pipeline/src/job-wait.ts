/**
 * What the jobs that a caller waits for (the data cut `cut.create`, the cut report `cut.report`) have in common:
 * queued or joined by idempotency key with a failed job re-run, a refusal (InputError) kept as the job's result rather
 * than retried, the ledger row read as done / pending / refused / failed, and the wait itself (polling the ledger,
 * which every process shares).
 */
import { InputError, isInputError } from '@app/core';
import { type JobRow, JobsRepository } from '@app/db';
import type { PipelineContext } from '@app/ingest';

/** A job that failed for good (an infrastructure error after all its attempts); a refusal is an InputError instead. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
  constructor(
    readonly jobId: string,
    readonly error: string,
    what = 'job',
  ) {
    super(`${what} ${jobId} failed: ${error}`);
  }
}

/** A job's result when its input was refused: the InputError, kept (never retried). */
export type JobRefusal = { inputError: { code: string; message: string } };

/** A handler's work: an InputError becomes the job's result (completed, never retried); anything else is thrown (retried with backoff). */
export async function refusalAsResult<R>(work: () => Promise<R>): Promise<R | JobRefusal> {
  try {
    return await work();
  } catch (e) {
    if (!isInputError(e)) throw e;
    return { inputError: { code: e.code, message: e.message } };
  }
}

/**
 * Queue a job, or join the job of the same key (`duplicate`, with its ledger row). A joined job that failed (an
 * infrastructure error after all its attempts) is re-run from its first attempt: the handlers are idempotent.
 */
export async function enqueueRerunningFailed(ctx: PipelineContext, name: string, payload: unknown, idempotencyKey: string): Promise<{ jobId: string; duplicate: boolean; row?: JobRow }> {
  const r = await ctx.queue.enqueue(name, payload, { idempotencyKey });
  if (!r.duplicate) return r;
  const row = await new JobsRepository(ctx.db).byId(r.jobId);
  if (row?.status === 'failed' || row?.status === 'enqueue-failed') {
    ctx.log.warn({ job: name, jobId: r.jobId }, 'requested again after its job failed: re-run');
    await ctx.queue.retry(r.jobId).catch((e: Error) => ctx.log.warn({ err: e, jobId: r.jobId }, 'job re-run refused'));
  }
  return { ...r, row };
}

export type JobProgress = { state: 'pending'; jobId: string; status: 'queued' | 'running'; progress: number };

/**
 * A ledger row read: its result when completed (undefined when the job stored none), else where it is. Throws the
 * InputError of a refused job, and `failed(error)` for a job that failed for good.
 */
export function jobOutcome<R>(row: JobRow, failed: (error: string) => Error): { done: true; result: R | undefined } | { done: false; pending: JobProgress } {
  if (row.status === 'completed') {
    const result = row.result as R | JobRefusal | null;
    if (result && typeof result === 'object' && 'inputError' in result) throw new InputError(result.inputError.code, result.inputError.message);
    return { done: true, result: (result ?? undefined) as R | undefined };
  }
  if (row.status === 'failed' || row.status === 'enqueue-failed') throw failed(row.error ?? row.status);
  return { done: false, pending: { state: 'pending', jobId: row.id, status: row.status === 'running' ? 'running' : 'queued', progress: row.progress ?? 0 } };
}

/** Reads `state()` until it is not pending any more or `waitMs` has passed (polling every 25 ms, doubling up to 500 ms). */
export async function waitForJobState<S extends { state: string }>(state: () => Promise<S | undefined>, waitMs: number, what: string): Promise<S> {
  const deadline = Date.now() + waitMs;
  for (let pollMs = 25; ; pollMs = Math.min(500, pollMs * 2)) {
    const s = await state();
    if (!s) throw new Error(`no ${what}`);
    const left = deadline - Date.now();
    if (s.state !== 'pending' || left <= 0) return s;
    await new Promise((r) => setTimeout(r, Math.min(pollMs, left)));
  }
}
