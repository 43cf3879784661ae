/**
 * Real services for tests. PostgreSQL and Redis are required (CI starts them in .ci/run); a test
 * that needs one fails loudly when it is unreachable, never skips. S3 is a real S3 HTTP API on
 * loopback (s3rver).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import S3rver from 's3rver';
import { makeS3rverDurable } from './s3rver-durable';
import { type AppConfig, createLogger, loadConfig } from '@app/core';
import { createDatabase, type Db } from '@app/db';

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const quietLog = () => createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** A fresh, empty PostgreSQL database for one test file; drop() removes it. */
export async function createTempDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `t_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`PostgreSQL is required for this test and is not reachable at ${POSTGRES_URL} (${(e as Error).message}); start it or set TEST_DATABASE_URL`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(POSTGRES_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Runs `fn` on a fresh temporary PostgreSQL database (dropped afterwards). */
export async function withPostgres(fn: (db: Db) => Promise<void>): Promise<void> {
  const t = await createTempDatabase();
  const db = await createDatabase({ DATABASE_URL: t.url, dataDir: '/nonexistent' });
  try {
    await fn(db);
  } finally {
    await db.destroy();
    await t.drop();
  }
}

/** Runs `fn` on a fresh in-memory PGlite database (the embedded default). */
export async function withPglite(fn: (db: Db) => Promise<void>): Promise<void> {
  const db = await createDatabase({ DATABASE_URL: undefined, dataDir: '/nonexistent', pgliteDir: ':memory:' });
  try {
    await fn(db);
  } finally {
    await db.destroy();
  }
}

export interface S3Server {
  endpoint: string;
  bucket: string;
  stop: () => Promise<void>;
}

/** A real S3 HTTP API on loopback with one bucket, read-after-write consistent like S3 itself. */
export async function startS3(bucket = 'trial-uploads'): Promise<S3Server> {
  makeS3rverDurable(); // s3rver answers a PUT before its bytes are on disk: see s3rver-durable.ts
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const addr = (await server.run()) as { port: number };
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    bucket,
    stop: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function tempDir(prefix = 'es-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Config for tests: explicit env only, never the developer's shell. */
/**
 * Test settings. The shipped CT model is off unless a test names its own MODELS_DIR (or AI_CT_MODEL): running the
 * real 2.5D U-Net on every volume of every pipeline test would cost minutes and test nothing those tests check.
 * The AI read is tested with its own models (tests/pipeline/ai-stage, tests/airead, tests/models).
 */
export function testConfig(env: Record<string, string | undefined>): AppConfig {
  const ai = env.MODELS_DIR || env.AI_CT_MODEL ? {} : { AI_CT_MODEL: 'off' };
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', JOB_BACKOFF_MS: '20', SERIES_QUIET_MS: '200', WEBHOOK_SECRET: TEST_SECRET, ...ai, ...env });
}

export const TEST_SECRET = 'test-webhook-secret-0123456789';

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 20000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
