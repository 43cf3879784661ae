/**
 * The per-address limit on failed logins (AuthService.login), shared by every API replica when REDIS_URL is set.
 *
 * - With REDIS_URL: `rate-limiter-flexible`'s RateLimiterRedis on its own ioredis connection, keys
 *   `<QUEUE_NAME>:login-failures:<address>` (one deployment's replicas share them; another deployment on the same
 *   Redis, with another QUEUE_NAME, does not). An attacker behind a load balancer then gets AUTH_LOGIN_RATE_PER_MIN
 *   failures a minute in all, not that many per replica.
 * - While Redis is not reachable (not yet connected, down, failing over): each replica counts in its own memory
 *   (the library's insurance limiter), so logins never wait for Redis or fail because of it; one warning when that
 *   starts, one line when Redis is back. The account lock (AUTH_MAX_FAILED_LOGINS) is in the database and holds
 *   across replicas either way.
 * - Without REDIS_URL (embedded defaults, one process): in memory.
 */
import Redis from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { AppConfig, Logger } from '@app/core';

export type LoginLimiterConfig = Pick<AppConfig, 'AUTH_LOGIN_RATE_PER_MIN'> & Partial<Pick<AppConfig, 'REDIS_URL' | 'QUEUE_NAME'>>;

export interface LoginLimiter {
  /** Failed logins per address in the current minute (get / penalty). */
  readonly limiter: RateLimiterAbstract;
  /** 'redis': shared by the replicas; 'memory': this process only. */
  readonly store: 'redis' | 'memory';
  /** Resolves once the Redis connection is ready (at once in memory); rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Closes the Redis connection (no-op in memory). */
  close(): Promise<void>;
}

/** The login limiter for this configuration: shared in Redis when REDIS_URL is set, else in this process's memory. */
export function createLoginLimiter(config: LoginLimiterConfig, log?: Pick<Logger, 'warn' | 'info'>): LoginLimiter {
  const points = config.AUTH_LOGIN_RATE_PER_MIN;
  const memory = () => new RateLimiterMemory({ points, duration: 60 });
  if (!config.REDIS_URL) return { limiter: memory(), store: 'memory', ready: async () => {}, close: async () => {} };
  // no offline queue: a command while the connection is down fails at once (and the insurance limiter answers)
  // instead of waiting for a reconnect; ioredis keeps reconnecting by itself
  const client = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5000 });
  let down = false;
  client.on('error', (e: Error) => {
    if (down) return;
    down = true;
    log?.warn({ err: e.message }, 'login rate limit: Redis is not reachable; each API process counts failed logins on its own until it is back');
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    log?.info({}, 'login rate limit: Redis is back; failed logins are counted across API processes again');
  });
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: `${config.QUEUE_NAME ?? 'pipeline'}:login-failures`,
    points,
    duration: 60,
    rejectIfRedisNotReady: true,
    insuranceLimiter: memory(),
  });
  return {
    limiter,
    store: 'redis',
    ready: (timeoutMs = 5000) =>
      client.status === 'ready'
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
              client.off('ready', onReady);
              reject(new Error(`login rate limit: Redis not ready after ${timeoutMs} ms`));
            }, timeoutMs);
            const onReady = () => {
              clearTimeout(timer);
              resolve();
            };
            client.once('ready', onReady);
          }),
    close: async () => {
      if (client.status === 'end') return;
      await client.quit().catch(() => client.disconnect());
    },
  };
}
