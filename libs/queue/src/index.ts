import type { AppConfig, Logger } from '@app/core';
import type { JobsRepository } from '@app/db';
import { assertRedisReachable, BullDriver } from './bull';
import { InProcessDriver } from './in-process';
import { JobQueue } from './job-queue';

export * from './port';
export { JobQueue } from './job-queue';
export { BullDriver, assertRedisReachable } from './bull';
export { InProcessDriver } from './in-process';

/** Bull on Redis when REDIS_URL is set (checked reachable first: one clear line if not), else in-process. */
export async function createJobQueue(config: AppConfig, ledger: JobsRepository, log: Logger): Promise<JobQueue> {
  const opts = { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS, concurrency: config.QUEUE_CONCURRENCY };
  if (config.REDIS_URL) {
    await assertRedisReachable(config.REDIS_URL);
    return new JobQueue(new BullDriver(config.REDIS_URL, config.QUEUE_NAME), ledger, log, opts);
  }
  return new JobQueue(new InProcessDriver(), ledger, log, opts);
}
