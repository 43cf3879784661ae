/**
 * Bench support: the BUILT API and N workers as real child processes (dist/apps/api|worker/src/main.js) on a
 * fresh PostgreSQL database, Redis (own queue name) and an S3 API (s3rver), with per-process peak RSS
 * (/proc/<pid>/status VmHWM), queue depth sampling (Bull counts + the jobs ledger) and the ledger's
 * per-job-type latencies. Used by scale.bench.ts and large-inputs.bench.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Bull from 'bull';
import { Client } from 'pg';
import { repoRoot } from '@app/core';
import { signBody } from '@app/ingest';
import { createTempDatabase, REDIS_URL, type S3Server } from '../support/services';

export const SECRET = 'bench-webhook-secret-0123456789abcdef';
export const log = (name: string, s: string) => process.stderr.write(`${name}: ${s}\n`);

export const freePort = () =>
  new Promise<number>((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });

/** Nearest-rank percentile. */
export const pct = (xs: number[], p: number): number | null => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

const procKb = (pid: number, field: 'VmHWM' | 'VmRSS'): number => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};

/** Child pids of a process (all its threads' children). */
const childrenOf = (pid: number): number[] => {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
};

/** Resident MB of a process and all its descendants (e.g. the worker's decoder sandbox children). */
const treeRssKb = (pid: number): number => procKb(pid, 'VmRSS') + childrenOf(pid).reduce((a, c) => a + treeRssKb(c), 0);

export class Proc {
  readonly tail: string[] = [];
  private exited = false;
  private readonly exitP: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line.trim()) this.tail.push(line.slice(0, 4000));
      if (this.tail.length > 40) this.tail.splice(0, this.tail.length - 40);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitP = new Promise((r) =>
      child.on('close', (code) => {
        this.exited = true;
        r(code);
      }),
    );
  }
  get pid(): number {
    return this.child.pid!;
  }
  /** Peak resident set (MB) so far, from the kernel (VmHWM). */
  peakRssMb(): number {
    return Math.round(procKb(this.pid, 'VmHWM') / 1024);
  }
  rssMb(): number {
    return Math.round(procKb(this.pid, 'VmRSS') / 1024);
  }
  /** Resident MB of the process with its child processes (sampled: a child's own peak between samples is missed). */
  treeRssMb(): number {
    return Math.round(treeRssKb(this.pid) / 1024);
  }
  alive(): boolean {
    return !this.exited;
  }
  async waitForLine(re: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.tail.some((l) => re.test(l))) {
      if (this.exited) throw new Error(`${this.name} exited before ready:\n${this.tail.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.tail.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  async stop(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exitP;
    clearTimeout(t);
  }
}

export interface ClusterOptions {
  s3: S3Server;
  workers: number;
  dataDir: string;
  /** Extra env for every process (QUEUE_CONCURRENCY, SERIES_QUIET_MS, ...). */
  env?: Record<string, string>;
  label: string;
}

export interface Cluster {
  api: Proc;
  workers: Proc[];
  dbUrl: string;
  queueName: string;
  eventsUrl: string;
  pg: Client;
  bull: Bull.Queue;
  close(): Promise<void>;
}

/** Start the API, wait until it listens, then N workers, each until it logs 'worker started'. */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const db = await createTempDatabase();
  const queueName = `bench-${o.label}-${Date.now().toString(36)}`;
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: db.url,
    REDIS_URL,
    QUEUE_NAME: queueName,
    S3_BUCKET: o.s3.bucket,
    S3_ENDPOINT: o.s3.endpoint,
    S3_ACCESS_KEY_ID: 'S3RVER',
    S3_SECRET_ACCESS_KEY: 'S3RVER',
    S3_REGION: 'us-east-1',
    WEBHOOK_SECRET: SECRET,
    AUTH_JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
    DEID_SECRET: 'bench-deid-secret-0123456789abcdef',
    DATA_DIR: o.dataDir,
    PORT: String(port),
    AI_CT_MODEL: 'off',
    AI_SLIDE_MODEL: 'off',
    // several workers on one host: no fixed operator (metrics) port each
    METRICS_PORT: '0',
    ...o.env,
  };
  const root = repoRoot();
  const built = join(__dirname, '..', '..'); // dist/ (the built apps beside this built file)
  const spawnNode = (name: string, main: string, extra: Record<string, string> = {}) =>
    new Proc(name, spawn(process.execPath, [join(built, 'apps', main, 'src', 'main.js')], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'], cwd: root }));
  // the API's request log would print one line per event: only warnings from it
  const api = spawnNode('api', 'api', { LOG_LEVEL: process.env.BENCH_API_LOG_LEVEL ?? 'warn' });
  const workers: Proc[] = [];
  const pg = new Client({ connectionString: db.url });
  let bull: Bull.Queue | undefined;
  const close = async () => {
    await Promise.all([api, ...workers].map((p) => p.stop()));
    if (bull) {
      // the main queue and every per-job-type lane (bull:<name>.<type>:*): nothing of the run stays in Redis
      const keys: string[] = [];
      const scan = bull.client.scanStream({ match: `bull:${queueName}*`, count: 1000 });
      for await (const batch of scan) keys.push(...(batch as string[]));
      for (let i = 0; i < keys.length; i += 500) await bull.client.del(...keys.slice(i, i + 500)).catch(() => 0);
      await bull.close().catch(() => {});
    }
    await pg.end().catch(() => {});
    await db.drop().catch(() => {});
  };
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (!api.alive()) throw new Error(`api exited:\n${api.tail.join('\n')}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status > 0, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`api not listening after 120 s:\n${api.tail.join('\n')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    for (let i = 0; i < o.workers; i++) workers.push(spawnNode(`worker${i + 1}`, 'worker'));
    await Promise.all(workers.map((w) => w.waitForLine(/worker started/, 120_000)));
    await pg.connect();
    bull = new Bull(queueName, REDIS_URL);
    return { api, workers, dbUrl: db.url, queueName, eventsUrl: `http://127.0.0.1:${port}/v1/events/s3`, pg, bull, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export const s3Event = (bucket: string, key: string, etag: string, size: number) =>
  JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), eTag: etag, size } } }] });

/**
 * POST signed event bodies; `inFlight` requests at a time (10,000 = all at once). Resolves with the status counts
 * (202 accepted; 503 = the API shed load; any 5xx, 408 (the server's request timeout), 429 or connection error is retried
 * with backoff, as S3/SNS deliveries are).
 */
export async function postEvents(url: string, bodies: string[], inFlight: number): Promise<Record<string, number>> {
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const statuses: Record<string, number> = {};
  let firstError = '';
  const one = (body: string) =>
    new Promise<number>((res, rej) => {
      const req = request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-signature': signBody(body, SECRET) } },
        (r) => {
          let text = '';
          r.on('data', (d: Buffer) => {
            if (text.length < 500) text += d.toString('utf8');
          });
          r.on('end', () => {
            if (r.statusCode !== 202 && r.statusCode !== 503 && !firstError) firstError = `HTTP ${r.statusCode}: ${text}`;
            res(r.statusCode ?? 0);
          });
        },
      );
      req.on('error', rej);
      req.end(body);
    });
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, bodies.length) }, async () => {
      while (next < bodies.length && !failed) {
        const body = bodies[next++]!;
        for (let attempt = 0; !failed; attempt++) {
          let s: number;
          try {
            s = await one(body);
          } catch (e) {
            s = -1;
            if (attempt > 20) {
              failed = true;
              throw new Error(`event not delivered after ${attempt} attempts: ${(e as Error).message} (statuses so far ${JSON.stringify(statuses)})`);
            }
          }
          statuses[s] = (statuses[s] ?? 0) + 1;
          if (s === 202) break;
          // 5xx, 408/429 and connection errors are retried, as S3/SNS retry a failed delivery; the counts are reported
          if (s < 500 && s !== 429 && s !== 408 && s !== -1) {
            failed = true;
            throw new Error(`event refused with HTTP ${s} (first: ${firstError})`);
          }
          // as S3/SNS deliveries do: back off (Retry-After is 1 s), exponentially, with jitter
          await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 8000) * (0.5 + Math.random())));
        }
      }
    }),
  );
  agent.destroy();
  return statuses;
}

export interface Sample {
  maxBullDepth: number;
  maxLedgerDepth: number;
  peakRss: Record<string, number>;
  /** Peak of the process + its children (sampled), e.g. the worker with its decoder sandbox processes. */
  peakTreeRss: Record<string, number>;
}

/** Sample queue depth (Bull waiting+delayed+active, ledger queued+running) and RSS every `everyMs` until stop(). */
export function sampler(c: Cluster, everyMs = 250): { stop: () => Promise<Sample> } {
  const s: Sample = { maxBullDepth: 0, maxLedgerDepth: 0, peakRss: {}, peakTreeRss: {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const b = await c.bull.getJobCounts();
        s.maxBullDepth = Math.max(s.maxBullDepth, b.waiting + b.delayed + b.active);
        const r = await c.pg.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('queued','running')`);
        s.maxLedgerDepth = Math.max(s.maxLedgerDepth, r.rows[0].n as number);
      } catch {
        /* the sample is best effort */
      }
      for (const p of [c.api, ...c.workers]) {
        s.peakRss[p.name] = Math.max(s.peakRss[p.name] ?? 0, p.rssMb());
        s.peakTreeRss[p.name] = Math.max(s.peakTreeRss[p.name] ?? 0, p.treeRssMb());
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      for (const p of [c.api, ...c.workers]) s.peakRss[p.name] = Math.max(s.peakRss[p.name] ?? 0, p.peakRssMb());
      return s;
    },
  };
}

/** Wait until `objects` rows are all final and the ledger has nothing queued or running; throws on a dead process. */
export async function waitDone(c: Cluster, objects: number, timeoutMs: number, onTick?: (s: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastTick = 0;
  for (;;) {
    for (const p of [c.api, ...c.workers]) if (!p.alive()) throw new Error(`${p.name} died:\n${p.tail.join('\n')}`);
    const o = await c.pg.query(`SELECT status, count(*)::int AS n FROM objects GROUP BY status`);
    const j = await c.pg.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('queued','running')`);
    const by = Object.fromEntries(o.rows.map((r) => [r.status, r.n as number]));
    const final = (by.processed ?? 0) + (by.quarantined ?? 0) + (by.failed ?? 0) + (by['no-processor'] ?? 0);
    if (final >= objects && j.rows[0].n === 0) return;
    if (Date.now() - lastTick > 10_000) {
      lastTick = Date.now();
      onTick?.(`objects ${JSON.stringify(by)}, jobs pending ${j.rows[0].n}`);
    }
    if (Date.now() > deadline) throw new Error(`not done after ${timeoutMs} ms: objects ${JSON.stringify(by)}, pending jobs ${j.rows[0].n}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Per job type: count, failed, and latency (enqueue -> finished, from the ledger) percentiles in ms. */
export async function ledgerLatencies(c: Cluster): Promise<Record<string, { n: number; failed: number; p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number }>> {
  const r = await c.pg.query(
    `SELECT name, status, extract(epoch FROM (finished_at - created_at)) * 1000 AS ms FROM jobs WHERE finished_at IS NOT NULL OR status = 'failed'`,
  );
  const by = new Map<string, { ms: number[]; failed: number }>();
  for (const row of r.rows) {
    const e = by.get(row.name) ?? { ms: [], failed: 0 };
    if (row.status === 'failed') e.failed++;
    if (row.ms !== null) e.ms.push(Number(row.ms));
    by.set(row.name, e);
  }
  const out: Record<string, { n: number; failed: number; p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number }> = {};
  for (const [name, e] of [...by].sort()) {
    const f = (p: number) => Math.round(pct(e.ms, p) ?? 0);
    out[name] = { n: e.ms.length, failed: e.failed, p50_ms: f(50), p95_ms: f(95), p99_ms: f(99), max_ms: Math.round(Math.max(0, ...e.ms)) };
  }
  return out;
}

/** Seconds from t0 (epoch ms) to the last job's finished_at. */
export async function lastFinishedS(c: Cluster, t0EpochMs: number): Promise<number> {
  const r = await c.pg.query(`SELECT extract(epoch FROM max(finished_at)) * 1000 AS t FROM jobs`);
  return (Number(r.rows[0].t) - t0EpochMs) / 1000;
}
