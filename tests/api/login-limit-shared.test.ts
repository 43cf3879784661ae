/**
 * The per-address limit on failed logins holds across API replicas (real Redis, real PostgreSQL): two API apps on one
 * database and one Redis count the same address's failures together, another deployment (QUEUE_NAME) on that Redis
 * does not see them, and with Redis unreachable each process still limits on its own, with one warning, without
 * waiting for Redis.
 */
import type { INestApplication } from '@nestjs/common';
import Bull from 'bull';
import Redis from 'ioredis';
import request from 'supertest';
import { AuthService, createLoginLimiter } from '@app/auth';
import { AuditRepository } from '@app/db';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { AUTH_SERVICE } from '../../apps/api/src/auth/auth.guard';
import { loginAs, TEST_PASSWORD } from '../helpers/auth';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig } from '../support/services';

const JWT = 'login-limit-test-secret-0123456789abcdef';
const LIMIT = 4;

describe('two API replicas on one Redis', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let db: Awaited<ReturnType<typeof createTempDatabase>>;
  const runtimes: Runtime[] = [];
  const apps: INestApplication[] = [];
  const queueName = `loginlimit-${Date.now().toString(36)}`;

  beforeAll(async () => {
    dir = await tempDir();
    db = await createTempDatabase();
    const env = { DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: queueName, AUTH_JWT_SECRET: JWT, AUTH_LOGIN_RATE_PER_MIN: String(LIMIT), AUTH_MAX_FAILED_LOGINS: '100' };
    for (let k = 0; k < 2; k++) {
      const rt = await createRuntime({ config: testConfig(env), log: quietLog(), modules: [] });
      runtimes.push(rt);
      const app = await createApiApp(rt);
      await app.init();
      apps.push(app);
    }
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    for (const rt of runtimes) await rt.close();
    const q = new Bull(queueName, REDIS_URL);
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
    await db?.drop();
    await dir?.remove();
  });

  it("counts an address's failed logins across the replicas, and only in its own deployment's keys", async () => {
    const [a, b] = apps as [INestApplication, INestApplication];
    for (const app of apps) {
      const { loginLimiter } = app.get<AuthService>(AUTH_SERVICE);
      expect(loginLimiter.store).toBe('redis');
      await loginLimiter.ready(); // until then, a replica counts in its own memory
    }
    await loginAs(a, ['reader'], { username: 'limit.me' }); // a success: not counted
    const fail = (app: INestApplication) => request(app.getHttpServer()).post('/v1/auth/login').send({ username: 'limit.me', password: 'wrong password!!' });
    // LIMIT failures from this address, half on each replica: each replica alone has seen fewer than LIMIT
    for (let i = 0; i < LIMIT; i++) expect((await fail(i % 2 ? b : a)).status).toBe(401);
    for (const app of [a, b]) {
      const r = await request(app.getHttpServer()).post('/v1/auth/login').send({ username: 'limit.me', password: TEST_PASSWORD }).expect(429);
      expect(r.body.code).toBe('auth.rate-limited');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect((await new AuditRepository(runtimes[0]!.db).list({ action: 'login.rate-limited' })).length).toBe(2);
    // the count lives in Redis under this deployment's prefix: another deployment on the same Redis starts at zero
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${queueName}:login-failures:*`).finally(() => redis.quit());
    expect(keys.length).toBe(1);
    const other = createLoginLimiter({ AUTH_LOGIN_RATE_PER_MIN: LIMIT, REDIS_URL, QUEUE_NAME: `${queueName}-other` });
    try {
      const ip = keys[0]!.slice(`${queueName}:login-failures:`.length);
      const mine = createLoginLimiter({ AUTH_LOGIN_RATE_PER_MIN: LIMIT, REDIS_URL, QUEUE_NAME: queueName });
      try {
        await mine.ready();
        await other.ready();
        expect((await mine.limiter.get(ip))?.consumedPoints).toBe(LIMIT);
        expect(await other.limiter.get(ip)).toBeNull();
      } finally {
        await mine.close();
      }
    } finally {
      await other.close();
    }
  });
});

describe('Redis unreachable', () => {
  let rt: Runtime;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir();
    rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, AUTH_JWT_SECRET: JWT }), log: quietLog(), pgliteDir: ':memory:', modules: [] });
  });
  afterAll(async () => {
    await rt?.close();
    await dir?.remove();
  });

  it('each process limits on its own, says so once, and no login waits for Redis', async () => {
    const warnings: string[] = [];
    const log = { warn: (_o: object, msg: string) => void warnings.push(msg), info: () => undefined } as unknown as Parameters<typeof createLoginLimiter>[1];
    // nothing listens on port 1
    const limiter = createLoginLimiter({ AUTH_LOGIN_RATE_PER_MIN: 3, REDIS_URL: 'redis://127.0.0.1:1', QUEUE_NAME: 'unreachable' }, log);
    const auth = new AuthService(rt.db, { ...rt.config, AUTH_LOGIN_RATE_PER_MIN: 3, AUTH_MAX_FAILED_LOGINS: 100 }, undefined, { log2N: 10, r: 8, p: 1 }, limiter);
    try {
      expect(auth.loginLimiter.store).toBe('redis');
      await auth.createUser({ username: 'offline.user', password: TEST_PASSWORD, roles: ['reader'] }, { actor: 'test-setup' });
      const t0 = Date.now();
      expect((await auth.login('offline.user', TEST_PASSWORD, { ip: '10.0.0.9' })).user.username).toBe('offline.user');
      for (let i = 0; i < 3; i++) await expect(auth.login('offline.user', 'wrong password!!', { ip: '10.0.0.9' })).rejects.toMatchObject({ code: 'auth.invalid-credentials' });
      await expect(auth.login('offline.user', TEST_PASSWORD, { ip: '10.0.0.9' })).rejects.toMatchObject({ code: 'auth.rate-limited' });
      // another address is not limited
      expect((await auth.login('offline.user', TEST_PASSWORD, { ip: '10.0.0.10' })).user.username).toBe('offline.user');
      expect(Date.now() - t0).toBeLessThan(4000); // well under the 5 s connect timeout: nothing waited for Redis
      await new Promise((r) => setTimeout(r, 300)); // reconnect attempts fail meanwhile: still one warning
      expect(warnings).toEqual(['login rate limit: Redis is not reachable; each API process counts failed logins on its own until it is back']);
    } finally {
      await auth.close();
    }
  });
});
