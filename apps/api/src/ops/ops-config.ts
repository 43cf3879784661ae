/**
 * Settings of the operator surfaces (metrics, health, queue dashboard), read from the environment like AppConfig and
 * validated the same way (ConfigError naming the setting). Kept apart from AppConfig: only the api and worker
 * processes read them.
 */
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { parseEnvSettings } from '@app/core';

const int = (min: number) => z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be >= ${min}`);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /**
   * Bearer token Prometheus sends to /metrics (api and worker). Unset: /metrics is open outside production and
   * refused (403 metrics.token-required) in production.
   */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** The worker's operator port: /metrics, /health/live, /health/ready (0 = off). */
  METRICS_PORT: int(0).max(65535).default(9464),
  /** A metrics scrape reuses the database/queue counts for this long (ms). */
  METRICS_STATE_TTL_MS: int(0).default(5000),
  /** Each readiness check (database, Redis, object store) is down after this long (ms). */
  READY_CHECK_TIMEOUT_MS: int(100).default(2000),
});

export type OpsConfig = z.infer<typeof schema>;

export function loadOpsConfig(env: NodeJS.ProcessEnv = process.env): OpsConfig {
  return parseEnvSettings(schema, env);
}

export type MetricsAccess = { ok: true } | { ok: false; status: 401 | 403; code: string; message: string };

/** May this request read /metrics? `authorization` is the request's Authorization header. */
export function metricsAccess(cfg: Pick<OpsConfig, 'METRICS_TOKEN' | 'NODE_ENV'>, authorization: string | string[] | undefined): MetricsAccess {
  if (!cfg.METRICS_TOKEN) {
    if (cfg.NODE_ENV === 'production') return { ok: false, status: 403, code: 'metrics.token-required', message: 'set METRICS_TOKEN to expose /metrics in production' };
    return { ok: true };
  }
  const h = typeof authorization === 'string' ? authorization : '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) return { ok: false, status: 401, code: 'metrics.token-missing', message: 'Authorization: Bearer <METRICS_TOKEN> required' };
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(cfg.METRICS_TOKEN);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, status: 401, code: 'metrics.token-invalid', message: 'wrong metrics token' };
  return { ok: true };
}
