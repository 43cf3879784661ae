import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '@app/core';
import type { JobRow, JobsRepository } from '@app/db';
import type {
  DriverJob,
  EnqueueOptions,
  EnqueueResult,
  JobContext,
  JobDefinition,
  JobEvent,
  JobListener,
  JobTypeDepth,
  QueueDriver,
} from './port';

export interface JobQueueOptions {
  attempts: number;
  backoffMs: number;
  /** Shared pool of job slots per worker (types without a lane of their own). */
  concurrency: number;
  /** Per-worker limit of a heavy type (JobDefinition.heavy) in its own lane. Default 1. */
  heavyConcurrency?: number;
  /** A worker's lease on a job it runs (and, embedded, on the jobs queued in its memory); renewed every leaseMs/3. Default 30 s. */
  leaseMs?: number;
  /** How often a worker looks for stuck jobs to recover (also once at start-up). Default 15 s; 0 = only at start-up. */
  reclaimIntervalMs?: number;
}

/** Ms until a queued row is due (its `not_before`), or undefined when it is due now. */
const dueInMs = (row: Pick<JobRow, 'not_before'>): number | undefined => {
  const ms = row.not_before ? new Date(row.not_before).getTime() - Date.now() : 0;
  return ms > 0 ? ms : undefined;
};

const errorText = (e: unknown): string => {
  const err = e instanceof Error ? e : new Error(String(e));
  return `${err.name}: ${err.message}`;
};

/** This process as a job owner: host:pid:random (random: a restarted process with a reused pid is a new owner). */
export const newWorkerId = (): string => `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

/** The last attempt died with its worker: what onFinalFailure and the ledger get. */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
}

/**
 * The job queue port: named job types, retries with exponential backoff, progress, failed jobs kept
 * with their error, and idempotency keys. The database ledger (`jobs` table) decides "already done"
 * (a unique key, so it holds across API replicas and workers) and who runs a job now (owner + lease);
 * the driver (Bull or in-process) only transports and retries.
 *
 * No job is ever stuck: each attempt is owned by one worker (`workerId`) under a lease renewed while
 * the worker lives. A row whose lease expired is stuck; `recoverStuck()` (at start-up and on a timer)
 * re-runs it (the dead attempt counts) or fails it after its attempts, calling onFinalFailure so its
 * object never stays `processing`. Ends of attempts are fenced by owner + attempt, so a worker that
 * was declared dead and comes back cannot overwrite the newer attempt.
 */
export class JobQueue {
  private readonly defs = new Map<string, JobDefinition<any>>();
  /** Lane name (a type's own, or the one it shares) -> its per-worker limit: the smallest limit of the types in it. */
  private readonly laneLimits = new Map<string, number>();
  private readonly listeners = new Set<JobListener>();
  private started = false;
  private closed = false;
  private heartbeat?: NodeJS.Timeout;
  /** Ledger ids of the attempts running in this process now (the heartbeat renews exactly these). */
  private readonly inFlight = new Set<string>();
  private reclaimer?: NodeJS.Timeout;
  private recovering?: Promise<number>;
  private closing?: Promise<void>;
  /** This process as a job owner (host:pid:random). */
  readonly workerId = newWorkerId();
  readonly leaseMs: number;

  constructor(
    readonly driver: QueueDriver,
    private readonly ledger: JobsRepository,
    private readonly log: Logger,
    private readonly opts: JobQueueOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    // Embedded: queued jobs live in this process's memory, so they are leased from enqueue on; renew from the start.
    if (driver.kind === 'in-process') this.startHeartbeat();
  }

  get kind(): 'bull' | 'in-process' {
    return this.driver.kind;
  }

  register<P>(def: JobDefinition<P>): void {
    if (this.defs.has(def.name)) throw new Error(`job type ${def.name} registered twice`);
    this.defs.set(def.name, def as JobDefinition<any>);
    const limit = this.limitOf(def as JobDefinition<any>);
    if (limit === undefined) return;
    const lane = def.lane ?? def.name;
    const laneLimit = Math.min(limit, this.laneLimits.get(lane) ?? limit);
    this.laneLimits.set(lane, laneLimit);
    this.driver.setLane(def.name, laneLimit, lane);
  }

  /** Per-worker limit of a type with a lane of its own (or a shared one); undefined = shared pool. */
  limitOf(def: JobDefinition<any>): number | undefined {
    return def.concurrency ?? (def.heavy || def.lane ? (this.opts.heavyConcurrency ?? 1) : undefined);
  }

  names(): string[] {
    return [...this.defs.keys()];
  }

  /** The lanes (by lane name: a type's own, or the one it shares) with their limits, and the shared pool; for logs and the worker banner. */
  concurrency(): { shared: number; lanes: Record<string, number> } {
    return { shared: this.opts.concurrency, lanes: Object.fromEntries(this.laneLimits) };
  }

  /**
   * Subscribe to job events of this process (started, completed, failed, retrying, recovered). Returns the
   * unsubscribe function. Listeners run synchronously and must not throw (a throwing listener is logged and ignored).
   */
  observe(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit(e: JobEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.warn({ err }, 'job event listener threw');
      }
    }
  }

  /**
   * Queue depth per job type, from the ledger (the same answer on every transport and from every process):
   * waiting (due), delayed (retry backoff / delay), active, stuck (worker died, being recovered), failed.
   * Every registered type is present, with zeros when it has no jobs.
   */
  async depth(): Promise<Record<string, JobTypeDepth>> {
    const rows = await this.ledger.depth();
    const zero = (): JobTypeDepth => ({ waiting: 0, delayed: 0, active: 0, stuck: 0, failed: 0 });
    const out: Record<string, JobTypeDepth> = {};
    for (const n of this.defs.keys()) out[n] = zero();
    for (const [n, d] of Object.entries(rows)) out[n] = d;
    return out;
  }

  async enqueue<P>(name: string, payload: P, o: EnqueueOptions): Promise<EnqueueResult> {
    const def = this.defs.get(name);
    if (!def) throw new Error(`unknown job type ${name}`);
    const attempts = o.attempts ?? def.attempts ?? this.opts.attempts;
    const row = await this.ledger.claim(o.idempotencyKey, name, payload, attempts, { delayMs: o.delayMs, ...this.embeddedLease() });
    if (!row) {
      const existing = await this.ledger.byKey(o.idempotencyKey);
      // a process that died between writing the row and adding the transport job left it queued with nothing to run it:
      // the repeat enqueue (e.g. the re-run of the step that enqueues) sends it (same transport id: Bull keeps one job)
      if (existing && existing.status === 'queued') await this.resendIfLost(existing);
      return { jobId: existing!.id, duplicate: true };
    }
    await this.send(row, attempts, def.backoffMs ?? this.opts.backoffMs, o.delayMs, row.id);
    return { jobId: row.id, duplicate: false };
  }

  /** Bull: a queued ledger row whose Bull job is missing is sent again. Returns whether it was. */
  private async resendIfLost(row: JobRow): Promise<boolean> {
    if (this.driver.kind !== 'bull' || !this.driver.state || row.lease_until) return false;
    const def = this.defs.get(row.name);
    if (!def) return false;
    const transportId = row.transport_id ?? row.id;
    if ((await this.driver.state(row.name, transportId)) !== 'missing') return false;
    this.log.warn({ job: row.name, jobId: row.id }, 'queued job had no transport job (its enqueuing process died): sent again');
    await this.send(row, Math.max(1, row.max_attempts - row.attempts), def.backoffMs ?? this.opts.backoffMs, dueInMs(row), transportId);
    return true;
  }

  /** Embedded mode: a queued row is this process's (in its memory) under a lease; with Bull it is Redis's. */
  private embeddedLease(): { owner?: string; leaseMs?: number } {
    return this.driver.kind === 'in-process' ? { owner: this.workerId, leaseMs: this.leaseMs } : {};
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
    const transportId = `${row.id}:retry:${Date.now()}`;
    const lease = this.embeddedLease();
    await this.ledger.update(row.id, { status: 'queued', attempts: 0, error: null, progress: 0, transportId, owner: lease.owner ?? null, leaseMs: lease.leaseMs ?? null });
    await this.send(row, row.max_attempts, def.backoffMs ?? this.opts.backoffMs, undefined, transportId);
  }

  /** Start consuming (worker role): recovers stuck jobs now, then every reclaimIntervalMs. */
  startWorker(concurrency = this.opts.concurrency): void {
    if (this.started) return;
    this.started = true;
    this.startHeartbeat();
    this.driver.process(concurrency, (job) => this.run(job), {
      onStalled: (data, name) => this.log.warn({ job: name, jobId: data.ledgerId }, 'stalled job (its worker died) queued again by Bull; its next attempt takes the ledger row over'),
      onTransportFailed: (data, name, _err, transportId) =>
        void this.recoverOne(data.ledgerId)
          .then(async () => this.dropStaleTransport(name, transportId, await this.ledger.byId(data.ledgerId)))
          .catch((err) => this.log.warn({ err }, 'reconcile after transport failure failed')),
    });
    void this.recoverStuck().catch((err) => this.log.error({ err }, 'start-up recovery of stuck jobs failed'));
    const every = this.opts.reclaimIntervalMs ?? 15_000;
    if (every > 0) {
      this.reclaimer = setInterval(() => void this.recoverStuck().catch((err) => this.log.warn({ err }, 'stuck job recovery failed')), every);
      this.reclaimer.unref?.();
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.heartbeat.unref?.();
  }

  /** Renews the leases of this worker's attempts in flight and (embedded) of the queued rows its memory holds. */
  private async renewLeases(): Promise<void> {
    await this.ledger.renewLeases(this.workerId, this.leaseMs, [...this.inFlight]).catch((err) => this.log.warn({ err }, 'job lease renewal failed'));
  }

  /**
   * Recover every stuck job (its worker's lease expired): queue it again (the attempt that died counts) or, when its
   * attempts are used up, fail it and call its onFinalFailure. With Bull, a stuck row whose Bull job is still waiting,
   * delayed or active is left to Bull (its stalled-job check re-delivers an active job whose worker died). Several
   * workers may recover at once: each row is taken over by exactly one. Returns how many rows were recovered.
   */
  recoverStuck(): Promise<number> {
    this.recovering ??= (async () => {
      let n = 0;
      try {
        for (const row of await this.ledger.stuck(500)) if (await this.recoverRow(row)) n++;
        // Bull: queued rows whose transport job was never added (enqueuing process died in between)
        if (this.driver.kind === 'bull') for (const row of await this.ledger.queuedUntouched(Math.max(this.leaseMs, 30_000))) if (!this.closed && (await this.resendIfLost(row))) n++;
        // Bull: failed transport jobs the ledger has since finished or sent again (see dropStaleTransport)
        if (this.driver.failedJobs) {
          const failed = await this.driver.failedJobs(100);
          const rows = new Map((await this.ledger.byIds([...new Set(failed.map((j) => j.data.ledgerId))])).map((r) => [r.id, r]));
          for (const j of failed) if (!this.closed) await this.dropStaleTransport(j.name, j.id, rows.get(j.data.ledgerId));
        }
      } finally {
        this.recovering = undefined;
      }
      return n;
    })();
    return this.recovering;
  }

  /**
   * Bull can fail a transport job by itself (stalled more than maxStalledCount: its worker's event loop was blocked
   * past the lock, or the worker died twice) while the ledger row goes on: the live attempt completes it, or the
   * recovery sends it again under a new transport id. The failed Bull job is then stale, and dashboards would show a
   * failure that did not happen: it is removed when its ledger row is completed, or is queued/running/failed under
   * another transport id. A row that is failed under this same transport id agrees with Bull and is left.
   */
  private async dropStaleTransport(name: string, transportId: string, row: JobRow | undefined): Promise<boolean> {
    if (!this.driver.removeFailed || !row) return false;
    const current = row.transport_id ?? row.id;
    if (row.status !== 'completed' && current === transportId) return false;
    if (!(await this.driver.removeFailed(name, transportId))) return false;
    this.log.info({ job: name, jobId: row.id, transportId, ledger: row.status, current }, 'stale failed Bull job removed: the ledger row finished or went on under another transport id');
    return true;
  }

  private async recoverOne(id: string): Promise<boolean> {
    // reclaim() re-checks atomically that the row is stuck (lease expired); a live worker's row is left alone
    const row = await this.ledger.byId(id);
    return row && (row.status === 'running' || row.status === 'queued') ? this.recoverRow(row) : false;
  }

  private async recoverRow(row: JobRow): Promise<boolean> {
    if (this.closed) return false;
    const def = this.defs.get(row.name);
    if (!def) return false; // another service's job type: left to a worker that knows it
    if (row.owner === this.workerId && (row.status === 'queued' || this.inFlight.has(row.id))) {
      // Ours and alive: an attempt this process is running, or (embedded) a row its memory holds. Its lease ran out
      // only because the heartbeat could not renew it in time (a long synchronous stretch of a big job blocked the
      // event loop, or the database was out of reach); re-running it here would do the work twice. Renewed instead.
      await this.renewLeases();
      return false;
    }
    if (this.driver.kind === 'bull' && this.driver.state) {
      const s = await this.driver.state(row.name, row.transport_id ?? row.id);
      if (s === 'waiting' || s === 'delayed' || s === 'active') return false; // Bull still has it (stalled check for active)
    }
    const died = row.status === 'running' ? `the worker running attempt ${row.attempts} (${row.owner ?? 'unknown'}) died` : `the process holding it queued (${row.owner ?? 'unknown'}) stopped or died`;
    if (row.status === 'running' && row.attempts >= row.max_attempts) {
      const err = new WorkerLostError(`${died} during the last attempt (${row.attempts} of ${row.max_attempts})`);
      const failed = await this.ledger.reclaim(row, { status: 'failed', error: errorText(err) });
      if (!failed) return false;
      this.log.error({ job: row.name, jobId: row.id, attempt: row.attempts }, 'stuck job failed: its last attempt died with its worker');
      await this.finalFailure(def, failed, err);
      this.emit({ type: 'failed', name: row.name, jobId: row.id, attempt: row.attempts, error: errorText(err) });
      return true;
    }
    const transportId = `${row.id}:r${row.recoveries + 1}`;
    const reason = `${died}; queued again (lease expired)`;
    const requeued = await this.ledger.reclaim(row, { status: 'queued', error: `WorkerLostError: ${reason}`, transportId, ...this.embeddedLease() });
    if (!requeued) return false;
    this.log.warn({ job: row.name, jobId: row.id, attempt: row.attempts, owner: row.owner }, 'stuck job recovered: queued again');
    this.emit({ type: 'recovered', name: row.name, jobId: row.id, attempt: row.attempts, error: `WorkerLostError: ${reason}` });
    // a delayed job keeps its time
    await this.send(requeued, Math.max(1, row.max_attempts - row.attempts), def.backoffMs ?? this.opts.backoffMs, dueInMs(row), transportId);
    return true;
  }

  private context(def: JobDefinition<any>, row: Pick<JobRow, 'id' | 'name' | 'payload' | 'max_attempts'>, attempt: number, progress: (p: number) => Promise<void>): JobContext {
    return {
      id: row.id,
      name: row.name,
      payload: row.payload,
      attempt,
      maxAttempts: row.max_attempts,
      log: this.log.child({ job: row.name, jobId: row.id, attempt }),
      progress,
    };
  }

  private async finalFailure(def: JobDefinition<any>, row: JobRow, err: Error): Promise<void> {
    if (!def.onFinalFailure) return;
    const ctx = this.context(def, row, row.attempts, async () => {});
    await def.onFinalFailure(ctx, err).catch((e) => ctx.log.error({ err: e }, 'onFinalFailure failed'));
  }

  private async run(job: DriverJob): Promise<unknown> {
    const def = this.defs.get(job.name);
    const id = job.data.ledgerId;
    if (!def) {
      await this.ledger.update(id, { status: 'failed', error: `no handler registered for job type ${job.name}` });
      this.emit({ type: 'failed', name: job.name, jobId: id, attempt: job.attemptsMade + 1, error: `Error: no handler for ${job.name}` });
      throw new Error(`no handler for ${job.name}`);
    }
    // Take the row: queued, or running under an expired lease (its worker died). A live worker's row is waited for
    // (a transport re-delivery that beat the lease), a finished one is not run again.
    const before = await this.ledger.byId(id);
    const startOpts = () => ({ ownRowIdle: !this.inFlight.has(id) });
    let start = await this.ledger.start(id, this.workerId, this.leaseMs, startOpts());
    const waitUntil = Date.now() + this.leaseMs * 2;
    while (start.state === 'held' && Date.now() < waitUntil && !this.closed) {
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(50, this.leaseMs / 10))));
      start = await this.ledger.start(id, this.workerId, this.leaseMs, startOpts());
    }
    if (start.state !== 'started') {
      this.log.info({ job: job.name, jobId: id, status: start.row?.status, owner: start.row?.owner }, 'job delivered again but not run: it is finished or held by a live worker');
      job.discard();
      return start.row?.result ?? null;
    }
    const row = start.row;
    const attempt = row.attempts;
    const fence = { owner: this.workerId, attempt };
    const ctx = this.context(def, row, attempt, async (p) => {
      await Promise.all([job.progress(p), this.ledger.progress(id, fence, p)]);
    });
    if (attempt > row.max_attempts) {
      // Every attempt died with its worker and the transport delivered it once more (Bull stall): fail it here.
      const err = new WorkerLostError(`the worker running attempt ${row.max_attempts} of ${row.max_attempts} died`);
      job.discard();
      if (await this.ledger.finish(id, fence, { status: 'failed', error: errorText(err), attempts: row.max_attempts })) {
        await this.finalFailure(def, { ...row, attempts: row.max_attempts }, err);
        this.emit({ type: 'failed', name: job.name, jobId: id, attempt: row.max_attempts, error: errorText(err) });
      }
      throw err;
    }
    if (before?.status === 'running' && before.owner !== this.workerId) {
      // The transport re-delivered a job whose worker died (Bull: stalled): this attempt takes the row over.
      const error = `WorkerLostError: the worker running attempt ${before.attempts} (${before.owner ?? 'unknown'}) died; its job was delivered again`;
      ctx.log.warn({ deadOwner: before.owner }, 'job of a dead worker taken over');
      this.emit({ type: 'recovered', name: job.name, jobId: id, attempt: before.attempts, error });
    }
    this.emit({ type: 'started', name: job.name, jobId: id, attempt });
    const t0 = Date.now();
    this.inFlight.add(id);
    try {
      const result = await def.handler(ctx);
      const ms = Date.now() - t0;
      if (await this.ledger.finish(id, fence, { status: 'completed', progress: 100, result: result ?? null, error: null })) {
        ctx.log.debug({ ms }, 'job completed');
        this.emit({ type: 'completed', name: job.name, jobId: id, attempt, ms });
        // Bull may have failed this delivery meanwhile (lock lost while the handler ran): the ledger's outcome stands,
        // and the row is completed (just written), so a failed transport job of it is stale
        if (this.driver.removeFailed)
          void this.driver
            .removeFailed(job.name, job.id)
            .then((removed) => removed && ctx.log.info({ transportId: job.id }, 'stale failed Bull job removed: the ledger row completed'))
            .catch((err) => ctx.log.warn({ err }, 'stale transport check failed'));
      } else ctx.log.warn({ ms }, 'job finished after its lease was taken over; the newer attempt owns the result');
      return result;
    } catch (e) {
      const ms = Date.now() - t0;
      const final = attempt >= row.max_attempts || job.attemptsMade + 1 >= job.maxAttempts;
      if (final) job.discard();
      const backoff = (def.backoffMs ?? this.opts.backoffMs) * 2 ** Math.max(0, job.attemptsMade);
      const recorded = await this.ledger.finish(id, fence, {
        status: final ? 'failed' : 'queued',
        error: errorText(e),
        retryInMs: backoff,
        keepLease: this.driver.kind === 'in-process',
      });
      if (!recorded) {
        ctx.log.warn({ ms }, 'job attempt failed after its lease was taken over; the newer attempt owns the outcome');
        job.discard();
        throw e;
      }
      ctx.log[final ? 'error' : 'warn']({ err: { name: (e as Error).name, message: (e as Error).message }, final }, final ? 'job failed' : 'job attempt failed; will retry');
      if (final && def.onFinalFailure) await def.onFinalFailure(ctx, e as Error).catch((err) => ctx.log.error({ err }, 'onFinalFailure failed'));
      this.emit({ type: final ? 'failed' : 'retrying', name: job.name, jobId: id, attempt, ms, error: errorText(e) });
      throw e;
    } finally {
      this.inFlight.delete(id);
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
  /** Stop (idempotent: a second call waits for the first). */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.reclaimer) clearInterval(this.reclaimer);
    await this.recovering?.catch(() => {});
    await this.driver.close();
    if (this.driver.kind === 'in-process') await this.ledger.releaseQueued(this.workerId).catch((err) => this.log.warn({ err }, 'releasing queued jobs failed'));
  }
}
