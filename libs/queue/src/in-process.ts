import type { DriverJob, DriverJobData, QueueDriver } from './port';

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
 * the database keeps every job's outcome and error, so nothing is lost on restart except jobs that
 * were queued but not started (re-fired by re-posting their event or `cli jobs retry`).
 */
export class InProcessDriver implements QueueDriver {
  readonly kind = 'in-process' as const;
  private pending: Pending[] = [];
  private active = 0;
  private concurrency = 0;
  private fn?: (job: DriverJob) => Promise<unknown>;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private done = { completed: 0, failed: 0 };

  async add(name: string, data: DriverJobData, opts: { jobId: string; attempts: number; backoffMs: number; delayMs?: number }): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    if (this.pending.some((p) => p.jobId === opts.jobId)) return;
    this.pending.push({ name, data, jobId: opts.jobId, attemptsMade: 0, maxAttempts: opts.attempts, backoffMs: opts.backoffMs, notBefore: Date.now() + (opts.delayMs ?? 0) });
    this.pump();
  }

  process(concurrency: number, fn: (job: DriverJob) => Promise<unknown>): void {
    this.concurrency = concurrency;
    this.fn = fn;
    this.pump();
  }

  private pump(): void {
    if (!this.fn || this.closed) return;
    const now = Date.now();
    while (this.active < this.concurrency) {
      const i = this.pending.findIndex((p) => p.notBefore <= now);
      if (i < 0) break;
      const [p] = this.pending.splice(i, 1);
      this.run(p!);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length && this.active < this.concurrency) {
      const next = Math.min(...this.pending.map((p) => p.notBefore));
      this.timer = setTimeout(() => this.pump(), Math.max(1, next - now));
      this.timer.unref?.();
    }
  }

  private run(p: Pending): void {
    this.active++;
    const job: DriverJob = { name: p.name, data: p.data, attemptsMade: p.attemptsMade, maxAttempts: p.maxAttempts, progress: async () => {} };
    void this.fn!(job)
      .then(() => {
        this.done.completed++;
      })
      .catch(() => {
        p.attemptsMade++;
        if (p.attemptsMade < p.maxAttempts) {
          p.notBefore = Date.now() + p.backoffMs * 2 ** (p.attemptsMade - 1);
          this.pending.push(p);
        } else this.done.failed++;
      })
      .finally(() => {
        this.active--;
        this.pump();
      });
  }

  async counts(): Promise<Record<string, number>> {
    const now = Date.now();
    return {
      waiting: this.pending.filter((p) => p.notBefore <= now).length,
      delayed: this.pending.filter((p) => p.notBefore > now).length,
      active: this.active,
      ...this.done,
    };
  }

  async ping(): Promise<void> {
    if (this.closed) throw new Error('in-process queue is closed');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.active > 0) await new Promise((r) => setTimeout(r, 20));
  }
}
