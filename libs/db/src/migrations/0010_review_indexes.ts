import { type Kysely, sql } from 'kysely';

/**
 * Indexes for the reading service's hot paths (found with `npm run bench:review`): foreign keys that the worklist, the
 * case view and DICOMweb follow from the child side had none, so every lookup scanned the table.
 *
 * - `studies (subject_uuid)`: a subject's studies (case view, worklist timepoint count, DICOMweb, imaging index);
 * - `series (study_id)`: a study's series;
 * - `volumes (series_id, created_at)`: a series' newest volume;
 * - `ai_proposals (run_id, ordinal)`: a run's proposals in order (the lesion proposals of a read's pinned run).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('studies_subject').on('studies').columns(['subject_uuid', 'study_date']).execute();
  await db.schema.createIndex('series_study').on('series').columns(['study_id']).execute();
  await db.schema.createIndex('volumes_series').on('volumes').columns(['series_id', 'created_at']).execute();
  await db.schema.createIndex('ai_proposals_run').on('ai_proposals').columns(['run_id', 'ordinal']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const i of ['studies_subject', 'series_study', 'volumes_series', 'ai_proposals_run']) await sql`DROP INDEX IF EXISTS ${sql.raw(i)}`.execute(db);
}
