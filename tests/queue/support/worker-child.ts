/**
 * A real worker process for the recovery tests, wired like createRuntime's ingest/process jobs but without the
 * pipeline stages (a child that loads every stage takes too long to start on a loaded CI machine): the in-process
 * queue on the test's PostgreSQL, or Bull when REDIS_URL is set, with the crash-test stage. With ENQUEUE_KEY it first
 * enqueues the upload of that key. Prints "ready" once its worker consumes. The test kills it with SIGKILL while a
 * handler runs (CRASH=hang).
 */
import { createLogger, loadConfig } from '@app/core';
import { createDatabase, JobsRepository, migrateToLatest, ObjectsRepository } from '@app/db';
import { INGEST_JOB, IngestService, type IngestPayload, PROCESS_JOB, type PipelineContext, ProcessorRegistry } from '@app/ingest';
import { createJobQueue } from '@app/queue';
import { createObjectStore } from '@app/storage';
import { crashModule } from './crash-module';

async function main(): Promise<void> {
  const env = process.env;
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: env.DATA_DIR,
    DATABASE_URL: env.DATABASE_URL,
    REDIS_URL: env.REDIS_URL,
    QUEUE_NAME: env.QUEUE_NAME,
    JOB_ATTEMPTS: env.JOB_ATTEMPTS,
    JOB_BACKOFF_MS: '20',
    JOB_LEASE_MS: env.JOB_LEASE_MS,
    JOB_RECLAIM_INTERVAL_MS: env.JOB_RECLAIM_INTERVAL_MS ?? '0',
    BULL_LOCK_DURATION_MS: env.BULL_LOCK_DURATION_MS,
    BULL_STALLED_INTERVAL_MS: env.BULL_STALLED_INTERVAL_MS,
    BULL_MAX_STALLED_COUNT: env.BULL_MAX_STALLED_COUNT,
  });
  const log = createLogger('silent');
  const db = await createDatabase(config);
  await migrateToLatest(db);
  const objects = new ObjectsRepository(db);
  const queue = await createJobQueue(config, new JobsRepository(db), log);
  const ctx: PipelineContext = { config, log, db, store: createObjectStore(config), queue, objects };
  const processors = new ProcessorRegistry();
  for (const p of crashModule().processors!(ctx)) processors.register(p);
  const ingest = new IngestService(ctx, processors, []);
  // the same wiring as libs/pipeline/src/runtime.ts
  queue.register<IngestPayload>({ name: INGEST_JOB, handler: (job) => ingest.ingest(job), onFinalFailure: (job, err) => ingest.markFailed({ ingestKey: job.payload.ingestKey }, err) });
  queue.register<{ objectId: string }>({ name: PROCESS_JOB, handler: (job) => ingest.process(job), onFinalFailure: (job, err) => ingest.markFailed({ objectId: job.payload.objectId }, err) });
  queue.startWorker();
  if (env.ENQUEUE_KEY) {
    const head = await ctx.store.head(env.ENQUEUE_KEY);
    await ingest.enqueueEvents([{ bucket: ctx.store.bucket, key: env.ENQUEUE_KEY, etag: head!.etag, eventName: 'ObjectCreated:Put' }]);
  }
  process.stdout.write('ready\n');
}

main().catch((e) => {
  process.stderr.write(`worker-child: ${(e as Error).stack}\n`);
  process.exit(1);
});
