/** Helpers for the recovery tests: a real worker child process, killed with a real SIGKILL, and SQL probes. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { repoRoot } from '@app/core';
import { waitFor } from '../../support/services';

export const TIFF = Buffer.concat([Buffer.from('II*\0'), Buffer.alloc(64)]);

export interface Child {
  proc: ChildProcess;
  stderr: () => string;
  /** SIGKILL (kill -9) and wait until the process is gone. */
  kill9: () => Promise<NodeJS.Signals | null>;
  /** Wait until the process has ended by itself; its signal. */
  exited: Promise<NodeJS.Signals | null>;
}

/** Start tests/queue/support/worker-child.ts as a real node process with these settings. */
export function spawnWorker(env: Record<string, string | undefined>): Child {
  const proc = spawn(process.execPath, ['-r', require.resolve('@swc-node/register'), join(repoRoot(), 'tests/queue/support/worker-child.ts')], {
    cwd: repoRoot(),
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += String(d)));
  proc.stdout!.resume();
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.once('exit', (_code, signal) => resolve(signal)));
  return {
    proc,
    exited,
    stderr: () => err,
    kill9: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      return exited;
    },
  };
}

export class Probe {
  private constructor(private readonly c: Client) {}
  static async open(url: string): Promise<Probe> {
    const c = new Client({ connectionString: url });
    await c.connect();
    return new Probe(c);
  }
  async rows<T = Record<string, unknown>>(q: string, params: unknown[] = []): Promise<T[]> {
    return (await this.c.query(q, params)).rows as T[];
  }
  async objectByKey(key: string) {
    return (await this.rows<{ id: string; status: string; reason: string | null; reason_code: string | null }>('SELECT id, status, reason, reason_code FROM objects WHERE key = $1', [key]))[0];
  }
  async processJob(objectId: string) {
    return (
      await this.rows<{ id: string; status: string; attempts: number; max_attempts: number; owner: string | null; recoveries: number; error: string | null; lease_until: Date | null }>(
        `SELECT id, status, attempts, max_attempts, owner, recoveries, error, lease_until FROM jobs WHERE name = 'process.object' AND payload->>'objectId' = $1`,
        [objectId],
      )
    )[0];
  }
  runs(objectId: string) {
    return this.rows<{ pid: number; attempt: number; finished: boolean }>('SELECT pid, attempt, finished FROM test_runs WHERE object_id = $1 ORDER BY id', [objectId]);
  }
  async derived(objectId: string): Promise<number> {
    return Number((await this.rows<{ n: string }>('SELECT count(*) AS n FROM test_derived WHERE object_id = $1', [objectId]))[0]!.n);
  }
  /** Wait until the object of `key` has `n` recorded runs (the n-th attempt is inside the handler). */
  async waitRuns(key: string, n: number, timeoutMs = 40000, child?: Child): Promise<string> {
    return waitFor(
      async () => {
        if (child && child.proc.exitCode !== null) throw new Error(`worker child exited early (${child.proc.exitCode}): ${child.stderr()}`);
        const o = await this.objectByKey(key).catch(() => undefined);
        return o && (await this.runs(o.id)).length >= n ? o.id : undefined;
      },
      timeoutMs,
      `run ${n} of ${key}`,
    );
  }
  close(): Promise<void> {
    return this.c.end();
  }
}
