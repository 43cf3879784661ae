import type { Logger } from '@app/core';
import type { JobsRepository, JobRow } from '@app/db';
import type { DriverJob, EnqueueOptions, EnqueueResult, JobContext, JobDefinition, QueueDriver } from './port';

export interface JobQueueOptions {
  attempts: number;
  backoffMs: number;
  concurrency: number;
}

const errorText = (e: unknown): string => {
  const err = e instanceof Error ? e : new Error(String(e));
  return `${err.name}: ${err.message}`;
};

/**
 * The job queue port: named job types, retries with exponential backoff, progress, failed jobs kept
 * with their error, and idempotency keys. The database ledger (`jobs` table) decides "already done"
 * (a unique key, so it holds across API replicas and workers); the driver (Bull or in-process) only
 * transports and retries.
 */
export class JobQueue {
  private readonly defs = new Map<string, JobDefinition<any>>();
  private started = false;

  constructor(
    readonly driver: QueueDriver,
    private readonly ledger: JobsRepository,
    private readonly log: Logger,
    private readonly opts: JobQueueOptions,
  ) {}

  get kind(): 'bull' | 'in-process' {
    return this.driver.kind;
  }

  register<P>(def: JobDefinition<P>): void {
    if (this.defs.has(def.name)) throw new Error(`job type ${def.name} registered twice`);
    this.defs.set(def.name, def as JobDefinition<any>);
  }

  names(): string[] {
    return [...this.defs.keys()];
  }

  async enqueue<P>(name: string, payload: P, o: EnqueueOptions): Promise<EnqueueResult> {
    const def = this.defs.get(name);
    if (!def) throw new Error(`unknown job type ${name}`);
    const attempts = o.attempts ?? def.attempts ?? this.opts.attempts;
    const row = await this.ledger.claim(o.idempotencyKey, name, payload, attempts);
    if (!row) {
      const existing = await this.ledger.byKey(o.idempotencyKey);
      return { jobId: existing!.id, duplicate: true };
    }
    await this.send(row, attempts, def.backoffMs ?? this.opts.backoffMs, o.delayMs, row.id);
    return { jobId: row.id, duplicate: false };
  }

  private async send(row: JobRow, attempts: number, backoffMs: number, delayMs: number | undefined, transportId: string): Promise<void> {
    try {
      await this.driver.add(row.name, { ledgerId: row.id, payload: row.payload }, { jobId: transportId, attempts, backoffMs, delayMs });
    } catch (e) {
      await this.ledger.update(row.id, { status: 'enqueue-failed', error: errorText(e) });
      throw e;
    }
  }

  /** Re-run a failed job from its first attempt (operator action; safe because handlers are idempotent). */
  async retry(jobId: string): Promise<void> {
    const row = await this.ledger.byId(jobId);
    if (!row) throw new Error(`no job ${jobId}`);
    if (row.status !== 'failed' && row.status !== 'enqueue-failed') throw new Error(`job ${jobId} is ${row.status}; only failed jobs can be retried`);
    const def = this.defs.get(row.name);
    if (!def) throw new Error(`unknown job type ${row.name}`);
    await this.ledger.update(row.id, { status: 'queued', attempts: 0, error: null, progress: 0 });
    await this.send(row, row.max_attempts, def.backoffMs ?? this.opts.backoffMs, undefined, `${row.id}:retry:${Date.now()}`);
  }

  /** Start consuming (worker role). */
  startWorker(concurrency = this.opts.concurrency): void {
    if (this.started) return;
    this.started = true;
    this.driver.process(concurrency, (job) => this.run(job));
  }

  private async run(job: DriverJob): Promise<unknown> {
    const def = this.defs.get(job.name);
    const id = job.data.ledgerId;
    const attempt = job.attemptsMade + 1;
    const log = this.log.child({ job: job.name, jobId: id, attempt });
    if (!def) {
      await this.ledger.update(id, { status: 'failed', error: `no handler registered for job type ${job.name}` });
      throw new Error(`no handler for ${job.name}`);
    }
    const ctx: JobContext = {
      id,
      name: job.name,
      payload: job.data.payload,
      attempt,
      maxAttempts: job.maxAttempts,
      log,
      progress: async (p) => {
        await Promise.all([job.progress(p), this.ledger.update(id, { progress: p })]);
      },
    };
    await this.ledger.update(id, { status: 'running', attempts: attempt });
    const t0 = Date.now();
    try {
      const result = await def.handler(ctx);
      await this.ledger.update(id, { status: 'completed', progress: 100, result: result ?? null, error: null });
      log.debug({ ms: Date.now() - t0 }, 'job completed');
      return result;
    } catch (e) {
      const final = attempt >= job.maxAttempts;
      await this.ledger.update(id, { status: final ? 'failed' : 'queued', error: errorText(e) });
      log[final ? 'error' : 'warn']({ err: { name: (e as Error).name, message: (e as Error).message }, final }, final ? 'job failed' : 'job attempt failed; will retry');
      if (final && def.onFinalFailure) await def.onFinalFailure(ctx, e as Error).catch((err) => log.error({ err }, 'onFinalFailure failed'));
      throw e;
    }
  }

  /** Wait until the ledger has no queued or running jobs (demo, tests, CLI). */
  async waitIdle(opts: { timeoutMs?: number; pollMs?: number; onTick?: (counts: Record<string, number>) => void } = {}): Promise<Record<string, number>> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const counts = await this.ledger.countByStatus();
      opts.onTick?.(counts);
      if (!counts.queued && !counts.running) return counts;
      if (Date.now() > deadline) throw new Error(`jobs still pending after ${opts.timeoutMs} ms: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
    }
  }

  ping(): Promise<void> {
    return this.driver.ping();
  }
  close(): Promise<void> {
    return this.driver.close();
  }
}
