import type { AppConfig, Logger } from '@app/core';
import type { JobsRepository } from '@app/db';
import { assertRedisReachable, BullDriver } from './bull';
import { InProcessDriver } from './in-process';
import { JobQueue } from './job-queue';

export * from './port';
export { JobQueue, WorkerLostError, newWorkerId, type JobQueueOptions } from './job-queue';
export { BullDriver, assertRedisReachable, type BullSettings } from './bull';
export { InProcessDriver } from './in-process';

/** Bull on Redis when REDIS_URL is set (checked reachable first: one clear line if not), else in-process. */
export async function createJobQueue(config: AppConfig, ledger: JobsRepository, log: Logger): Promise<JobQueue> {
  const opts = {
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    concurrency: config.QUEUE_CONCURRENCY,
    heavyConcurrency: config.QUEUE_CONCURRENCY_HEAVY,
    leaseMs: config.JOB_LEASE_MS,
    reclaimIntervalMs: config.JOB_RECLAIM_INTERVAL_MS,
  };
  if (config.REDIS_URL) {
    await assertRedisReachable(config.REDIS_URL);
    const bull = new BullDriver(config.REDIS_URL, config.QUEUE_NAME, {
      lockDuration: config.BULL_LOCK_DURATION_MS,
      stalledInterval: config.BULL_STALLED_INTERVAL_MS,
      maxStalledCount: config.BULL_MAX_STALLED_COUNT,
    });
    return new JobQueue(bull, ledger, log, opts);
  }
  return new JobQueue(new InProcessDriver(), ledger, log, opts);
}
