/**
 * Fault harness: each test file starts and stops its OWN services on free loopback ports, so a fault it injects
 * (a restart, a kill, a hung S3) never disturbs another test or the shared services.
 *
 * - Redis: `redis-server` on a free port with AOF persistence (appendfsync always) in a temp dir, so a restart
 *   keeps the queue like a production Redis does (a Redis without persistence loses queued jobs by design).
 * - PostgreSQL: its own cluster (initdb + pg_ctl, run as the `postgres` user when we are root) in a temp dir.
 * - S3: s3rver behind a fault-injecting HTTP proxy (pass, HTTP 500, hang = timeout, refuse = stopped endpoint).
 * - Worker: the real apps/worker (node -r @swc-node/register), killable with SIGKILL.
 *
 * Every spawned process is tracked; killAll() (afterAll) and a process 'exit' hook kill what is left, even after
 * a failed test.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@app/core';
import { startS3, type S3Server } from '../support/services';

const live = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];
process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const f of cleanups) f();
});

/** Kill every process this harness spawned that is still running (afterAll; safe to call twice). */
export async function killAll(): Promise<void> {
  for (const c of [...live]) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([...live].map((c) => exited(c, 5000).catch(() => {})));
}

export function exited(c: ChildProcess, timeoutMs: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`process ${c.pid} did not exit in ${timeoutMs} ms`)), timeoutMs);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

function track(c: ChildProcess): ChildProcess {
  live.add(c);
  c.once('exit', () => live.delete(c));
  return c;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function tempDirFor(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

// ---------------------------------------------------------------- Redis

export interface RedisHandle {
  port: number;
  url: string;
  start(): Promise<void>;
  /** Graceful stop (SIGTERM: Redis flushes its AOF), or 'kill' for SIGKILL. */
  stop(how?: 'term' | 'kill'): Promise<void>;
  restart(downMs?: number): Promise<void>;
  /** Kill it and remove its data dir. */
  destroy(): Promise<void>;
}

export async function startRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const dir = tempDirFor('fault-redis-');
  let proc: ChildProcess | undefined;
  const h: RedisHandle = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = track(
        spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--protected-mode', 'no', '--loglevel', 'warning'], {
          stdio: 'ignore',
        }),
      );
      await waitPort(port, 10000, 'redis-server');
    },
    async stop(how = 'term') {
      if (!proc) return;
      const p = proc;
      proc = undefined;
      p.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
      await exited(p, 10000).catch(async () => {
        p.kill('SIGKILL');
        await exited(p, 5000);
      });
    },
    async restart(downMs = 500) {
      await h.stop();
      await sleep(downMs);
      await h.start();
    },
    async destroy() {
      await h.stop('kill');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await h.start();
  return h;
}

// ---------------------------------------------------------------- PostgreSQL

export interface PgHandle {
  port: number;
  url: string;
  start(): Promise<void>;
  /** 'immediate' = like a crash (no checkpoint, clients cut); 'fast' = clean shutdown. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  restart(downMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

const asPostgres = (cmd: string, args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];

function runPg(cmd: string, args: string[], timeoutMs: number): void {
  const [c, a] = asPostgres(cmd, args);
  try {
    execFileSync(c, a, { stdio: 'pipe', timeout: timeoutMs });
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** A private PostgreSQL cluster in a temp dir on a free port (trust auth, loopback only, fsync off). */
export async function startPostgres(): Promise<PgHandle> {
  const port = await freePort();
  const dir = tempDirFor('fault-pg-');
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  runPg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--no-instructions'], 60000);
  writeFileSync(join(dir, 'README'), 'fault-test cluster\n');
  let running = false;
  const h: PgHandle = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60`;
      runPg('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'], 70000);
      running = true;
    },
    async stop(mode = 'fast') {
      if (!running) return;
      running = false;
      runPg('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop'], 40000);
    },
    async restart(downMs = 500) {
      await h.stop('immediate');
      await sleep(downMs);
      await h.start();
    },
    async destroy() {
      if (existsSync(join(data, 'postmaster.pid'))) {
        try {
          runPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '20', 'stop'], 30000);
        } catch {
          /* already down */
        }
      }
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // a cluster left running by a crashed test run is stopped by the exit hook too
  cleanups.unshift(() => {
    if (existsSync(join(data, 'postmaster.pid')))
      try {
        const [c, a] = asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
        execFileSync(c, a, { stdio: 'ignore', timeout: 20000 });
      } catch {
        /* ignore */
      }
  });
  await h.start();
  return h;
}

// ---------------------------------------------------------------- S3 behind a fault proxy

export type S3Fault = 'pass' | 'error500' | 'hang';

export interface FaultyS3 {
  /** The proxy's endpoint (what the service is configured with). */
  endpoint: string;
  bucket: string;
  /** The real s3rver behind it (for test set-up that must not see faults). */
  direct: string;
  fault: S3Fault;
  /** Fault only requests whose method + path match (e.g. /GET .*\.dcm/); others pass. */
  match?: RegExp;
  /** Requests seen while faulting, with their arrival time. */
  faulted: { method: string; url: string; at: number }[];
  requests: number;
  /**
   * Hold rules: the next `left` requests matching `re` (on "METHOD /bucket/key?query") are held unanswered until
   * their client goes away (a killed worker), so the job making them is caught mid-flight. Checked before `fault`.
   */
  holds: HoldRule[];
  /**
   * Stale-read rules: the next `left` requests matching `re` are answered 404 NoSuchKey, as an eventually consistent
   * store answers a read that comes just after a write. Checked after `holds`, before `fault`.
   */
  stale: { re: RegExp; left: number; answered: string[] }[];
  /** Stop listening (connections refused, like a stopped endpoint) / listen again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export interface HoldRule {
  label: string;
  re: RegExp;
  left: number;
  /** Held requests; `pid`: the process that sent it, from its User-Agent (`pid/<n>`, see S3StoreOptions.userAgent), if named. */
  held: { method: string; url: string; at: number; open: boolean; userAgent: string; pid?: number }[];
}

export async function startFaultyS3(bucket = 'trial-uploads'): Promise<FaultyS3> {
  const s3: S3Server = await startS3(bucket);
  const target = new URL(s3.endpoint);
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  const hung = new Set<http.ServerResponse>();
  const f: FaultyS3 = {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    direct: s3.endpoint,
    fault: 'pass',
    faulted: [],
    requests: 0,
    holds: [],
    stale: [],
    down: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
    },
    up: () => new Promise<void>((r, j) => server.once('error', j).listen(port, '127.0.0.1', () => (server.off('error', j), r()))),
    stop: async () => {
      for (const r of hung) r.destroy();
      for (const s of sockets) s.destroy();
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
      await s3.stop();
    },
  };
  const server = http.createServer((req, res) => {
    f.requests++;
    const line = `${req.method} ${req.url}`;
    const rule = f.holds.find((h) => h.left > 0 && h.re.test(line));
    if (rule) {
      rule.left--;
      const userAgent = req.headers['user-agent'] ?? '';
      const pid = /(?:^|\s)pid\/(\d+)(?:\s|$)/.exec(userAgent)?.[1];
      const h = { method: req.method!, url: req.url!, at: Date.now(), open: true, userAgent, ...(pid ? { pid: Number(pid) } : {}) };
      rule.held.push(h);
      req.resume();
      hung.add(res);
      res.on('close', () => {
        h.open = false;
        hung.delete(res);
      });
      return;
    }
    const stale = f.stale.find((r) => r.left > 0 && r.re.test(line));
    if (stale) {
      stale.left--;
      stale.answered.push(line);
      req.resume();
      req.on('end', () => {
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>injected stale read</Message></Error>');
      });
      return;
    }
    const faulty = f.fault !== 'pass' && (!f.match || f.match.test(`${req.method} ${req.url}`));
    if (faulty) {
      f.faulted.push({ method: req.method!, url: req.url!, at: Date.now() });
      req.resume();
      if (f.fault === 'error500') {
        req.on('end', () => {
          res.writeHead(500, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected fault</Message></Error>');
        });
      } else {
        hung.add(res); // never answers: the client's timeout must fire
        res.on('close', () => hung.delete(res));
      }
      return;
    }
    const up = http.request({ host: target.hostname, port: Number(target.port), method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await f.up();
  return f;
}

// ---------------------------------------------------------------- the real worker process

export interface WorkerProc {
  proc: ChildProcess;
  output: () => string;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** apps/worker/src/main.ts in its own process (swc-node), with exactly the given environment. */
export function spawnWorker(env: Record<string, string>): WorkerProc {
  let out = '';
  const proc = track(
    spawn(process.execPath, ['-r', require.resolve('@swc-node/register'), join(repoRoot(), 'apps/worker/src/main.ts')], {
      cwd: repoRoot(),
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-20000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return {
    proc,
    output: () => out,
    async kill9() {
      proc.kill('SIGKILL');
      await exited(proc, 10000);
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await exited(proc, 15000).catch(async () => {
        proc.kill('SIGKILL');
        await exited(proc, 5000);
      });
    },
  };
}

// ---------------------------------------------------------------- inputs

let seq = 0;
/** The fixture CT slice with its own SOP Instance UID (so each scenario has its own instance). */
export function dicomWithNewUid(workDir: string): Buffer {
  const uid = `1.2.826.0.1.3680043.10.1${process.pid}.${Date.now()}.${++seq}`;
  const p = join(workDir, `slice-${seq}.dcm`);
  copyFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/CT_small.dcm'), p);
  execFileSync('dcmodify', ['-nb', '-i', `(0008,0018)=${uid}`, p], { stdio: 'pipe' });
  return readFileSync(p);
}
