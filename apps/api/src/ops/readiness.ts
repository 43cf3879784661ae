/**
 * Liveness and readiness (issue "Operations" §5), framework-free so the API (through Terminus) and the worker's
 * operator port answer the same way.
 *
 *  - live: the process runs and its event loop answers. No dependency is checked: a database outage must not make
 *    Kubernetes restart every pod (that would only add a restart storm to the outage).
 *  - ready: the database answers `select 1`, Redis answers PING (only when REDIS_URL is set: the Bull driver), the
 *    object store is reachable (S3 HeadBucket / the local folder is writable). Each check is bounded by a timeout,
 *    so a black-holed dependency fails the probe instead of hanging it.
 */
import { pingDatabase } from '@app/db';
import type { Runtime } from '@app/pipeline';

export type ReadyCheckName = 'database' | 'redis' | 'store';
export interface ReadyCheck {
  name: ReadyCheckName;
  run: (signal: AbortSignal) => Promise<void>;
}

/** The checks readiness runs for this runtime (Redis only with the Bull driver). */
export function readinessChecks(rt: Pick<Runtime, 'db' | 'queue' | 'store'>): ReadyCheck[] {
  const checks: ReadyCheck[] = [{ name: 'database', run: () => pingDatabase(rt.db) }];
  if (rt.queue.kind === 'bull') checks.push({ name: 'redis', run: () => rt.queue.ping() });
  checks.push({ name: 'store', run: () => rt.store.ping() });
  return checks;
}

/** Run `fn` with a deadline; the rejection names the timeout. */
export async function withTimeout<T>(fn: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(ac.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          ac.abort();
          reject(new Error(`timed out after ${ms} ms`));
        }, ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export interface ReadinessReport {
  status: 'ok' | 'error';
  checks: Record<string, { status: 'up' | 'down'; ms: number; message?: string }>;
}

/** All checks in parallel (the worker's /health/ready; the API answers through Terminus with the same checks). */
export async function readiness(rt: Pick<Runtime, 'db' | 'queue' | 'store'>, timeoutMs: number): Promise<ReadinessReport> {
  const results = await Promise.all(
    readinessChecks(rt).map(async (c) => {
      const t0 = Date.now();
      try {
        await withTimeout(c.run, timeoutMs);
        return [c.name, { status: 'up' as const, ms: Date.now() - t0 }] as const;
      } catch (e) {
        return [c.name, { status: 'down' as const, ms: Date.now() - t0, message: (e as Error).message }] as const;
      }
    }),
  );
  const checks = Object.fromEntries(results);
  return { status: results.every(([, r]) => r.status === 'up') ? 'ok' : 'error', checks };
}
