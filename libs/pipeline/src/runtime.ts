import { type AppConfig, createLogger, type Logger, loadConfig } from '@app/core';
import { createDatabase, type Db, JobsRepository, migrateToLatest, ObjectsRepository, pingDatabase } from '@app/db';
import { INGEST_JOB, IngestService, type IngestPayload, PROCESS_JOB, type PipelineContext, ProcessorRegistry, type Sniffer } from '@app/ingest';
import { createJobQueue, type JobQueue } from '@app/queue';
import { createObjectStore, type ObjectStore } from '@app/storage';
import { pipelineModules } from './modules';
import { VOLUME_JOB } from './stages/dicom';
import { PATCHES_JOB } from './stages/wsi';
import { CT_INFERENCE_JOB, SLIDE_INFERENCE_JOB } from './stages/ai';
import { CUT_JOB } from './stages/endpoints';

/**
 * Heavy job types (CPU and memory bound: volume building, slide patches, inference, data cuts): each runs in a lane of
 * its own, limited per worker by QUEUE_CONCURRENCY_HEAVY, so light jobs (ingest, instance processing) never wait behind
 * them.
 */
export const HEAVY_JOBS: ReadonlySet<string> = new Set([VOLUME_JOB, PATCHES_JOB, CT_INFERENCE_JOB, SLIDE_INFERENCE_JOB, CUT_JOB]);

/** Everything a process (api, worker, cli) needs, built from the config. No NestJS here. */
export interface Runtime extends PipelineContext {
  jobs: JobsRepository;
  processors: ProcessorRegistry;
  ingest: IngestService;
  health(): Promise<HealthReport>;
  close(): Promise<void>;
}

export interface HealthReport {
  ok: boolean;
  mode: AppConfig['mode'];
  checks: Record<'database' | 'queue' | 'store', { ok: boolean; ms: number; error?: string }>;
}

export interface RuntimeOptions {
  config?: AppConfig;
  log?: Logger;
  /** Override the PGlite folder (tests: ':memory:'). */
  pgliteDir?: string;
  /** Which pipeline modules to register (default: all). */
  modules?: typeof pipelineModules;
}

async function timed(fn: () => Promise<void>): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t0 = Date.now();
  try {
    await fn();
    return { ok: true, ms: Date.now() - t0 };
  } catch (e) {
    return { ok: false, ms: Date.now() - t0, error: (e as Error).message };
  }
}

export async function createRuntime(opts: RuntimeOptions = {}): Promise<Runtime> {
  const config = opts.config ?? loadConfig();
  const log = opts.log ?? createLogger(config.LOG_LEVEL);
  const store = createObjectStore(config);
  const db = await createDatabase({ ...config, pgliteDir: opts.pgliteDir });
  let queue: JobQueue | undefined;
  try {
    await pingDatabase(db).catch((e) => {
      throw new Error(`DATABASE_URL: cannot reach the database (${(e as Error).message})`);
    });
    await migrateToLatest(db);
    const objects = new ObjectsRepository(db);
    const jobs = new JobsRepository(db);
    queue = await createJobQueue(config, jobs, log);
    const processors = new ProcessorRegistry();
    const sniffers: Sniffer[] = [];
    const ctx: PipelineContext = { config, log, db, store, queue, objects };
    const modules = opts.modules ?? pipelineModules;
    for (const m of modules) {
      for (const p of m.processors?.(ctx) ?? []) processors.register(p);
      sniffers.push(...(m.sniffers ?? []));
    }
    const ingest = new IngestService(ctx, processors, sniffers);
    queue.register<IngestPayload>({
      name: INGEST_JOB,
      handler: (job) => ingest.ingest(job),
      onFinalFailure: (job, err) => ingest.markFailed({ ingestKey: job.payload.ingestKey }, err),
    });
    queue.register<{ objectId: string }>({
      name: PROCESS_JOB,
      handler: (job) => ingest.process(job),
      onFinalFailure: (job, err) => ingest.markFailed({ objectId: job.payload.objectId }, err),
    });
    for (const m of modules) for (const j of m.jobs?.(ctx) ?? []) queue.register({ ...j, heavy: j.heavy ?? HEAVY_JOBS.has(j.name) });
    const q = queue;
    const rt: Runtime = {
      ...ctx,
      jobs,
      processors,
      ingest,
      async health() {
        const checks = {
          database: await timed(() => pingDatabase(db)),
          queue: await timed(() => q.ping()),
          store: await timed(() => store.ping()),
        };
        return { ok: Object.values(checks).every((c) => c.ok), mode: config.mode, checks };
      },
      async close() {
        await q.close().catch(() => {});
        for (const m of modules) await m.close?.(ctx).catch(() => {});
        await db.destroy().catch(() => {});
      },
    };
    return rt;
  } catch (e) {
    await queue?.close().catch(() => {});
    await db.destroy().catch(() => {});
    throw e;
  }
}
