import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationProvider } from 'kysely';
import type { AppConfig } from '@app/core';
import type { Database } from './schema';
import { migrations } from './migrations';
import { PGlitePool } from './pglite-pool';

export type Db = Kysely<Database>;

/** PostgreSQL when DATABASE_URL is set, otherwise embedded PGlite under DATA_DIR/pglite (or in memory for ':memory:'). */
export async function createDatabase(config: Pick<AppConfig, 'DATABASE_URL' | 'dataDir'> & Partial<Pick<AppConfig, 'DB_CONNECT_TIMEOUT_MS'>> & { pgliteDir?: string }): Promise<Db> {
  if (config.DATABASE_URL) {
    const { Pool } = await import('pg');
    // bigint (int8) comes back as string: sizes stay exact.
    const pool = new Pool({ connectionString: config.DATABASE_URL, max: 10, connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_MS ?? 30000 });
    // a database restart cuts every connection: pg emits 'error' on each client (checked out ones included, which
    // carry no pool listener) and on the pool for idle ones. Unheard, either would crash the process; the query in
    // flight fails on its own, the pool drops the client and the next query connects again (readiness: 503 meanwhile)
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  const dir = config.pgliteDir ?? join(config.dataDir, 'pglite');
  if (dir !== ':memory:') await mkdir(dir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  // int8 as string, like node-postgres: sizes and counts stay exact and JSON-serialisable
  const pg = await PGlite.create(dir === ':memory:' ? undefined : dir, { parsers: { 20: (v: string) => v } });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: new PGlitePool(pg) as never }) });
}

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Apply pending migrations; throws with the failing migration's name. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: 'schema_migrations', migrationLockTableName: 'schema_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).map((r) => r.migrationName);
}

export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
