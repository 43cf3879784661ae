/**
 * A private deployment for one fault test file: its own PostgreSQL cluster and redis-server on free loopback
 * ports, a local object store in a temp DATA_DIR (or S3 on s3rver), and the real worker in its own process.
 * The test process only uploads and enqueues (like the API), then observes through short-lived connections,
 * so a restarted service never leaves the observer with a broken pool.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Bull from 'bull';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime, type Runtime } from '@app/pipeline';
import { quietLog, tempDir, testConfig } from '../support/services';
import { killAll, type PgHandle, type RedisHandle, spawnWorker, startPostgres, startRedis, type WorkerProc } from './harness';

export interface Cluster {
  pg: PgHandle;
  redis: RedisHandle;
  dataDir: string;
  env: Record<string, string>;
  workers: WorkerProc[];
  /** Start one more real worker process (apps/worker). */
  worker(extra?: Record<string, string>): WorkerProc;
  /** One query on a fresh connection (retries while PostgreSQL restarts). */
  q<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** A runtime in this process that does not consume jobs (upload + enqueue, like the API). */
  withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T>;
  bullCounts(): Promise<Record<string, number>>;
  /** Every Bull queue of this deployment (the main one and one per heavy lane), from Redis. */
  bullQueues(): Promise<string[]>;
  stop(): Promise<void>;
}

export const QUEUE = 'faults';

export async function startCluster(extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const dir = await tempDir('fault-cluster-');
  const [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  const env: Record<string, string> = {
    DATA_DIR: join(dir.path, 'data'),
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    QUEUE_NAME: QUEUE,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    JOB_ATTEMPTS: '6',
    JOB_BACKOFF_MS: '300',
    SERIES_QUIET_MS: '500',
    QUEUE_CONCURRENCY: '2',
    // recovery timings scaled down from the production defaults (30 s leases, 15 s reclaim, 30 s Bull locks)
    JOB_LEASE_MS: '3000',
    JOB_RECLAIM_INTERVAL_MS: '1000',
    BULL_LOCK_DURATION_MS: '3000',
    BULL_STALLED_INTERVAL_MS: '1000',
    AI_CT_MODEL: 'off',
    WEBHOOK_SECRET: 'test-webhook-secret-0123456789',
    METRICS_PORT: '0', // several workers on one host: no fixed operator port
    ...extraEnv,
  };
  for (const [k, v] of Object.entries(env)) if (v === '') delete env[k]; // '' = unset a default
  const workers: WorkerProc[] = [];
  // the observer's pool survives PostgreSQL restarts: broken clients are dropped (error listeners), queries retried
  const observer = new Pool({ connectionString: pg.url, max: 2, connectionTimeoutMillis: 2000, idleTimeoutMillis: 1000 });
  observer.on('error', () => {});
  observer.on('connect', (client) => client.on('error', () => {}));
  const c: Cluster = {
    pg,
    redis,
    dataDir: env.DATA_DIR!,
    env,
    workers,
    worker(extra = {}) {
      const w = spawnWorker({ ...env, ...extra });
      workers.push(w);
      return w;
    },
    async q<T>(text: string, params: unknown[] = []): Promise<T[]> {
      for (let i = 0; ; i++) {
        try {
          return (await observer.query(text, params)).rows as T[];
        } catch (e) {
          if (i >= 100) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async withRuntime<T>(fn: (rt: Runtime) => Promise<T>): Promise<T> {
      const rt = await createRuntime({ config: testConfig(env), log: quietLog() });
      try {
        return await fn(rt);
      } finally {
        await rt.close();
      }
    },
    async bullCounts() {
      const out: Record<string, number> = {};
      for (const name of await c.bullQueues()) {
        const q = new Bull(name, redis.url);
        try {
          for (const [k, v] of Object.entries(await q.getJobCounts())) out[k] = (out[k] ?? 0) + (v as number);
        } finally {
          await q.close();
        }
      }
      return out;
    },
    async bullQueues() {
      const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        const keys = await r.keys(`bull:${QUEUE}*:id`);
        return keys.map((k) => k.slice('bull:'.length, -':id'.length)).sort();
      } finally {
        r.disconnect();
      }
    },
    async stop() {
      await Promise.all(workers.map((w) => w.stop().catch(() => {})));
      await observer.end().catch(() => {});
      await killAll();
      await Promise.all([pg.destroy().catch(() => {}), redis.destroy().catch(() => {})]);
      await dir.remove().catch(() => {});
    },
  };
  return c;
}

/** Upload a small phantom CT series (one subject, one visit) and enqueue one ingest event per slice. */
export async function uploadSeries(c: Cluster, opts: { slices: number; seed: number; prefix: string }): Promise<{ keys: string[] }> {
  const ph = await generatePhantomStudy({ outDir: join(c.dataDir, '..', `ph-${opts.seed}`), subjects: 1, visits: 1, rows: 64, cols: 64, slices: opts.slices, seed: opts.seed });
  return c.withRuntime(async (rt) => {
    const events = [];
    for (const f of ph.files) {
      const key = `${opts.prefix}/${f.sopInstanceUid}.dcm`;
      const info = await rt.store.put(key, readFileSync(f.path));
      events.push({ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' });
    }
    await rt.ingest.enqueueEvents(events);
    return { keys: events.map((e) => e.key) };
  });
}

/**
 * What the fault tests assert after the run: every effect once, nothing pending, nothing failed. One statement, so one
 * snapshot: separate queries could see a job completed but not the series state it wrote just before (a false alarm).
 */
export async function pipelineState(c: Cluster) {
  const [row] = await c.q<{ s: Record<string, Record<string, string | number | null>> }>(`select json_build_object(
    'objects', (select json_build_object('total', count(*), 'processed', count(*) filter (where status = 'processed'), 'keys', count(distinct key)) from objects),
    'instances', (select json_build_object('total', count(*), 'objects', count(distinct object_id), 'sops', count(distinct sop_instance_uid)) from instances),
    'series', (select json_build_object('total', count(*), 'built', count(*) filter (where status = 'volume-built')) from series),
    -- a volume per (series, instance set): a slice that arrives after the quiet period gives a second, complete volume
    'volumes', (select json_build_object('total', count(*), 'series', count(distinct series_id), 'sets', count(distinct (series_id, instance_set_sha256)), 'slices', max((dims::jsonb->>2)::int)) from volumes),
    -- volume jobs that stored a volume, and those that found their instance set stale before building (no volume)
    'volumeJobs', (select json_build_object('built', count(*) filter (where result ? 'volumeId'), 'skippedStale', count(*) filter (where result ? 'stale' and not result ? 'volumeId')) from jobs where name = 'dicom.volume' and status = 'completed'),
    'jobs', (select coalesce(json_object_agg(k, n), '{}') from (select name || ':' || status k, count(*) n from jobs group by name, status order by 1) j)
  ) s`);
  const { objects, instances, series, volumes, volumeJobs, jobs } = row!.s;
  return {
    objects: { total: +objects!.total!, processed: +objects!.processed!, keys: +objects!.keys! },
    instances: { total: +instances!.total!, objects: +instances!.objects!, sops: +instances!.sops! },
    series: { total: +series!.total!, built: +series!.built! },
    volumes: { total: +volumes!.total!, series: +volumes!.series!, sets: +volumes!.sets!, slices: volumes!.slices === null ? null : +volumes!.slices! },
    volumeJobs: { built: +volumeJobs!.built!, skippedStale: +volumeJobs!.skippedStale! },
    jobs: Object.fromEntries(Object.entries(jobs!).map(([k, n]) => [k, +n!])),
  };
}

/** Whether the run has settled: every slice processed, the volume of all of them built, no job queued or running. */
export function settled(s: Awaited<ReturnType<typeof pipelineState>>, slices: number): boolean {
  return s.volumes.slices === slices && s.objects.processed === slices && !Object.keys(s.jobs).some((k) => /:(queued|running)$/.test(k));
}

/**
 * What a fault test asserts of a settled run of one series of `slices` objects: every effect once, nothing pending,
 * nothing failed. A failed expectation carries the series row, the volume and retried jobs and `output` (the worker's
 * log tail): CI keeps no other trace.
 */
export async function expectEveryEffectOnce(c: Cluster, state: Awaited<ReturnType<typeof pipelineState>>, slices: number, output: () => string): Promise<void> {
  try {
    expect(state.objects).toEqual({ total: slices, processed: slices, keys: slices });
    expect(state.instances).toEqual({ total: slices, objects: slices, sops: slices });
    expect(state.series).toEqual({ total: 1, built: 1 });
    // no duplicate volume; the newest is complete (a slice delayed by the fault past SERIES_QUIET_MS gives a second one)
    expect(state.volumes.total).toBe(state.volumes.sets);
    expect(state.volumes.series).toBe(1);
    expect(state.volumes.slices).toBe(slices);
    // every volume from a completed job; a job whose instance set grew before it built stored none
    expect(state.volumeJobs.built).toBe(state.volumes.total);
    expect(state.jobs['dicom.volume:completed']).toBe(state.volumeJobs.built + state.volumeJobs.skippedStale);
    expect(state.jobs['ingest.object:completed']).toBe(slices);
    expect(state.jobs['process.object:completed']).toBe(slices);
    expect(Object.keys(state.jobs).filter((k) => !k.endsWith(':completed'))).toEqual([]);
  } catch (e) {
    const series = await c.q(`select status, instance_count, error from series`);
    const jobs = await c.q(`select name, status, attempts, error, result from jobs where status <> 'completed' or attempts > 1 or name = 'dicom.volume' order by created_at`);
    (e as Error).message += `\nstate ${JSON.stringify(state)}\nseries ${JSON.stringify(series)}\njobs ${JSON.stringify(jobs)}\nworker output (tail):\n${output().slice(-1500)}`;
    throw e;
  }
}

export async function waitUntil<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string, pollMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Waits until at least 3 but not all of `slices` uploaded objects are processed: the moment to inject a fault mid-run.
 * On a time-out the error carries the pipeline state and the worker's output. Returns how many were processed then.
 */
export async function waitMidRun(c: Cluster, w: WorkerProc, slices: number): Promise<number> {
  const processed = async () => +(await c.q<{ n: string }>(`select count(*) n from objects where status = 'processed'`))[0]!.n;
  await waitUntil(async () => {
    const n = await processed();
    return n >= 3 && n < slices;
  }, 60000, `some of the ${slices} slices processed`, 50).catch(async (e) => {
    throw new Error(`${(e as Error).message}; state ${JSON.stringify(await pipelineState(c))}; worker output (tail):\n${w.output().slice(-1500)}`);
  });
  return processed();
}
