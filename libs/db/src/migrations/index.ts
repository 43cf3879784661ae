import type { Migration } from 'kysely';
import * as m0001 from './0001_spine';
import * as m0002 from './0002_imaging';
import * as m0003 from './0003_slides';
import * as m0004 from './0004_endpoints';
import * as m0005 from './0005_ai';
import * as m0006 from './0006_audit';
import * as m0007 from './0007_auth';
import * as m0008 from './0008_review';
import * as m0009 from './0009_review_slides';
import * as m0010 from './0010_review_indexes';
import * as m0011 from './0011_job_leases';
import * as m0012 from './0012_study_input_parts';

/**
 * Every migration, in order. One set for PostgreSQL and PGlite. Append only: never edit a migration
 * that has shipped; add a new one.
 */
export const migrations: Record<string, Migration> = {
  '0001_spine': m0001,
  '0002_imaging': m0002,
  '0003_slides': m0003,
  '0004_endpoints': m0004,
  '0005_ai': m0005,
  '0006_audit': m0006,
  '0007_auth': m0007,
  '0008_review': m0008,
  '0009_review_slides': m0009,
  '0010_review_indexes': m0010,
  '0011_job_leases': m0011,
  '0012_study_input_parts': m0012,
};
