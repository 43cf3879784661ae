import type { Migration } from 'kysely';
import * as m0001 from './0001_spine';

/**
 * Every migration, in order. One set for PostgreSQL and PGlite. Append only: never edit a migration
 * that has shipped; add a new one.
 */
export const migrations: Record<string, Migration> = {
  '0001_spine': m0001,
};
