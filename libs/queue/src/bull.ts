import Bull from 'bull';
import Redis from 'ioredis';
import type { DriverJob, DriverJobData, QueueDriver } from './port';

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

/**
 * Bull on Redis: the production transport. Scale out by running more workers (any machine) against
 * the same REDIS_URL; Bull hands each job to one of them. Failed jobs stay in Redis with their error
 * (removeOnFail: false) and in the database ledger.
 */
export class BullDriver implements QueueDriver {
  readonly kind = 'bull' as const;
  readonly queue: Bull.Queue<DriverJobData>;
  constructor(redisUrl: string, queueName: string) {
    this.queue = new Bull<DriverJobData>(queueName, redisUrl, {
      defaultJobOptions: { removeOnComplete: 1000, removeOnFail: false },
    });
    this.queue.on('error', () => {
      /* surfaced through ping()/health; ioredis reconnects by itself */
    });
  }

  async add(name: string, data: DriverJobData, opts: { jobId: string; attempts: number; backoffMs: number; delayMs?: number }): Promise<void> {
    await this.queue.add(name, data, {
      jobId: opts.jobId,
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs },
      delay: opts.delayMs,
    });
  }

  process(concurrency: number, fn: (job: DriverJob) => Promise<unknown>): void {
    void this.queue.process('*', concurrency, (job) =>
      fn({
        name: job.name,
        data: job.data,
        attemptsMade: job.attemptsMade,
        maxAttempts: job.opts.attempts ?? 1,
        progress: async (p) => {
          await job.progress(p);
        },
      }),
    );
  }

  async counts(): Promise<Record<string, number>> {
    return { ...(await this.queue.getJobCounts()) };
  }

  async ping(): Promise<void> {
    const client = await this.queue.isReady().then((q) => q.client);
    const r = await Promise.race([client.ping(), new Promise<string>((_, rej) => setTimeout(() => rej(new Error('redis ping timed out')), 2000))]);
    if (r !== 'PONG') throw new Error(`unexpected redis ping reply: ${r}`);
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
