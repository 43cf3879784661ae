import Bull from 'bull';
import Redis from 'ioredis';
import type { DriverHooks, DriverJob, DriverJobData, QueueDriver, TransportState } from './port';

/** Explain an unreachable Redis in one line, naming the setting. */
export async function assertRedisReachable(url: string, timeoutMs = 3000): Promise<void> {
  const u = new URL(url);
  const client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: Error | undefined;
  client.on('error', (e: Error) => {
    cause ??= e;
  });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    const why = (cause ?? (e as Error)).message || (cause as NodeJS.ErrnoException | undefined)?.code || 'unknown error';
    throw new Error(`REDIS_URL: cannot reach Redis at ${u.hostname}:${u.port || 6379} (${why})`);
  } finally {
    client.disconnect();
  }
}

export interface BullSettings {
  /** Ms a worker's lock on an active job lasts; renewed every lockDuration/2 while the worker lives. */
  lockDuration?: number;
  /** Ms between checks for active jobs whose lock expired (their worker died): they go back to waiting. */
  stalledInterval?: number;
  /** How many times a job may stall before Bull fails it (the ledger then fails it through onFinalFailure). */
  maxStalledCount?: number;
}

/**
 * Bull on Redis: the production transport. Scale out by running more workers (any machine) against
 * the same REDIS_URL; Bull hands each job to one of them. Failed jobs stay in Redis with their error
 * (removeOnFail: false) and in the database ledger.
 *
 * Lanes: Bull sums the concurrency of named processors on one queue (any of them takes any job: REFERENCE.md,
 * queue.process, "to avoid this behaviour you need to create an own queue for each process function"), so a job
 * type with a per-worker limit gets a Bull queue of its own (`<QUEUE_NAME>.<type>`, or `<QUEUE_NAME>.<lane>` shared
 * by the types naming that lane) processed with that limit; every other type shares the main queue and
 * QUEUE_CONCURRENCY.
 *
 * Process death: Bull's stalled-job check (lockDuration / stalledInterval / maxStalledCount) puts an active job
 * whose worker died back to waiting (or fails it after maxStalledCount); JobQueue reconciles the ledger with it.
 */
export class BullDriver implements QueueDriver {
  readonly kind = 'bull' as const;
  /** The main queue (every type without a lane of its own). */
  readonly queue: Bull.Queue<DriverJobData>;
  private readonly lanes = new Map<string, { queue: Bull.Queue<DriverJobData>; concurrency: number }>();
  /** Job type -> its lane (types without one use the main queue). */
  private readonly laneOf = new Map<string, { queue: Bull.Queue<DriverJobData>; concurrency: number }>();
  private readonly opts: Bull.QueueOptions;
  constructor(
    private readonly redisUrl: string,
    private readonly queueName: string,
    settings: BullSettings = {},
  ) {
    this.opts = {
      defaultJobOptions: { removeOnComplete: 1000, removeOnFail: false },
      settings: Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as Bull.AdvancedSettings,
    };
    this.queue = this.open(queueName);
  }

  private open(name: string): Bull.Queue<DriverJobData> {
    const q = new Bull<DriverJobData>(name, this.redisUrl, this.opts);
    q.on('error', () => {
      /* surfaced through ping()/health; ioredis reconnects by itself */
    });
    return q;
  }

  /** Every Bull queue of this driver: the main one, then one per lane (dashboards, tests). */
  queues(): Bull.Queue<DriverJobData>[] {
    return [this.queue, ...[...this.lanes.values()].map((l) => l.queue)];
  }

  setLane(name: string, concurrency: number, laneName = name): void {
    let lane = this.lanes.get(laneName);
    if (!lane) this.lanes.set(laneName, (lane = { queue: this.open(`${this.queueName}.${laneName}`), concurrency }));
    else lane.concurrency = concurrency;
    this.laneOf.set(name, lane);
  }

  private queueFor(name: string): Bull.Queue<DriverJobData> {
    return this.laneOf.get(name)?.queue ?? this.queue;
  }

  async add(name: string, data: DriverJobData, opts: { jobId: string; attempts: number; backoffMs: number; delayMs?: number }): Promise<void> {
    await this.queueFor(name).add(name, data, {
      jobId: opts.jobId,
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs },
      delay: opts.delayMs,
    });
  }

  process(concurrency: number, fn: (job: DriverJob) => Promise<unknown>, hooks: DriverHooks = {}): void {
    const handler = (job: Bull.Job<DriverJobData>) =>
      fn({
        name: job.name,
        id: String(job.id),
        data: job.data,
        attemptsMade: job.attemptsMade,
        maxAttempts: job.opts.attempts ?? 1,
        progress: async (p) => {
          await job.progress(p);
        },
        discard: () => {
          void job.discard();
        },
      });
    const consume = (q: Bull.Queue<DriverJobData>, n: number) => {
      q.on('stalled', (job: Bull.Job<DriverJobData> | null) => job && hooks.onStalled?.(job.data, job.name));
      // Bull's own failure of a job whose worker died (handler failures are the ledger's already)
      q.on('failed', (job: Bull.Job<DriverJobData> | null, err: Error) => job && /stalled more than allowable limit/.test(err?.message ?? '') && hooks.onTransportFailed?.(job.data, job.name, err, String(job.id)));
      void q.process('*', n, handler);
    };
    consume(this.queue, concurrency);
    for (const lane of this.lanes.values()) consume(lane.queue, lane.concurrency);
  }

  async state(name: string, jobId: string): Promise<TransportState> {
    const job = await this.queueFor(name).getJob(jobId);
    if (!job) return 'missing';
    const s = await job.getState();
    if (s === 'paused') return 'waiting';
    return s === 'active' || s === 'waiting' || s === 'delayed' || s === 'completed' || s === 'failed' ? s : 'missing';
  }

  async failedJobs(limit: number): Promise<{ name: string; id: string; data: DriverJobData }[]> {
    const out: { name: string; id: string; data: DriverJobData }[] = [];
    for (const q of this.queues()) for (const j of await q.getFailed(0, limit - 1)) if (j?.data?.ledgerId) out.push({ name: j.name, id: String(j.id), data: j.data });
    return out;
  }

  async removeFailed(name: string, jobId: string): Promise<boolean> {
    const job = await this.queueFor(name).getJob(jobId);
    if (!job || !(await job.isFailed())) return false;
    // Bull refuses while a worker still holds the job's lock: left for the next reconciliation
    return job.remove().then(
      () => true,
      () => false,
    );
  }

  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const q of this.queues()) for (const [k, v] of Object.entries(await q.getJobCounts())) out[k] = (out[k] ?? 0) + (v as number);
    return out;
  }

  async ping(): Promise<void> {
    const client = await this.queue.isReady().then((q) => q.client);
    const r = await Promise.race([client.ping(), new Promise<string>((_, rej) => setTimeout(() => rej(new Error('redis ping timed out')), 2000))]);
    if (r !== 'PONG') throw new Error(`unexpected redis ping reply: ${r}`);
  }

  async close(): Promise<void> {
    await Promise.all(this.queues().map((q) => q.close()));
  }
}
