import type { DriverHooks, DriverJob, DriverJobData, QueueDriver } from './port';

interface Pending {
  name: string;
  data: DriverJobData;
  jobId: string;
  attemptsMade: number;
  maxAttempts: number;
  backoffMs: number;
  notBefore: number;
}

/**
 * The embedded default: runs the same processors in this process, with the same retry/backoff
 * semantics as Bull (exponential: backoff * 2^(attempt-1)). State is in memory; the job ledger in
 * the database keeps every job, owned by this process under a lease that it renews while it lives:
 * when the process dies, its queued and running jobs are taken over by the next process that starts
 * (or by another live one, on its reclaim timer) — see JobQueue.recoverStuck.
 *
 * Lanes: a job type with a limit of its own (heavy types) runs at most that many at once and does not
 * use the shared pool; types sharing a lane run at most its limit at once together; every other type shares
 * `concurrency` slots.
 */
export class InProcessDriver implements QueueDriver {
  readonly kind = 'in-process' as const;
  private pending: Pending[] = [];
  private active = 0;
  private concurrency = 0;
  private readonly lanes = new Map<string, { limit: number; active: number }>();
  /** Job type -> its lane (types without one use the shared pool). */
  private readonly laneOf = new Map<string, { limit: number; active: number }>();
  private fn?: (job: DriverJob) => Promise<unknown>;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private done = { completed: 0, failed: 0 };

  setLane(name: string, concurrency: number, laneName = name): void {
    const limit = Math.max(1, concurrency);
    let lane = this.lanes.get(laneName);
    if (!lane) this.lanes.set(laneName, (lane = { limit, active: 0 }));
    else lane.limit = limit;
    this.laneOf.set(name, lane);
  }

  async add(name: string, data: DriverJobData, opts: { jobId: string; attempts: number; backoffMs: number; delayMs?: number }): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    if (this.pending.some((p) => p.jobId === opts.jobId)) return;
    this.pending.push({ name, data, jobId: opts.jobId, attemptsMade: 0, maxAttempts: opts.attempts, backoffMs: opts.backoffMs, notBefore: Date.now() + (opts.delayMs ?? 0) });
    this.pump();
  }

  process(concurrency: number, fn: (job: DriverJob) => Promise<unknown>, _hooks?: DriverHooks): void {
    this.concurrency = concurrency;
    this.fn = fn;
    this.pump();
  }

  private free(name: string): boolean {
    const lane = this.laneOf.get(name);
    return lane ? lane.active < lane.limit : this.active < this.concurrency;
  }

  private pump(): void {
    if (!this.fn || this.closed) return;
    const now = Date.now();
    for (let i = 0; i < this.pending.length; ) {
      const p = this.pending[i]!;
      if (p.notBefore <= now && this.free(p.name)) {
        this.pending.splice(i, 1);
        this.run(p);
      } else i++;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const later = this.pending.filter((p) => p.notBefore > now);
    if (later.length) {
      const next = Math.min(...later.map((p) => p.notBefore));
      this.timer = setTimeout(() => this.pump(), Math.max(1, next - now));
      this.timer.unref?.();
    }
  }

  private run(p: Pending): void {
    const lane = this.laneOf.get(p.name);
    if (lane) lane.active++;
    else this.active++;
    let discarded = false;
    const job: DriverJob = {
      name: p.name,
      data: p.data,
      id: p.jobId,
      attemptsMade: p.attemptsMade,
      maxAttempts: p.maxAttempts,
      progress: async () => {},
      discard: () => {
        discarded = true;
      },
    };
    void this.fn!(job)
      .then(() => {
        this.done.completed++;
      })
      .catch(() => {
        p.attemptsMade++;
        if (!discarded && p.attemptsMade < p.maxAttempts) {
          p.notBefore = Date.now() + p.backoffMs * 2 ** (p.attemptsMade - 1);
          this.pending.push(p);
        } else this.done.failed++;
      })
      .finally(() => {
        if (lane) lane.active--;
        else this.active--;
        this.pump();
      });
  }

  async counts(): Promise<Record<string, number>> {
    const now = Date.now();
    return {
      waiting: this.pending.filter((p) => p.notBefore <= now).length,
      delayed: this.pending.filter((p) => p.notBefore > now).length,
      active: this.active + [...this.lanes.values()].reduce((n, l) => n + l.active, 0),
      ...this.done,
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('in-process queue is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.active > 0 || [...this.lanes.values()].some((l) => l.active > 0)) await new Promise((r) => setTimeout(r, 20));
  }
}
