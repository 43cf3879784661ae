import { type Kysely, sql } from 'kysely';

/**
 * AI reads: model runs and the proposals they produce, kept apart from anything a human signs.
 *
 * - `ai_runs`: one row per (job type, input sha256, model sha256) = `run_key`; re-running the same input with the
 *   same model is a no-op, a new model version adds a new run. Outputs (label volume, SEG, SR, heatmap) are
 *   object-store keys with their sha256.
 * - `ai_proposals`: one row per lesion per timepoint (kind 'lesion') or per slide (kind 'slide'), written once by
 *   a run and never changed: the database refuses UPDATE and DELETE (trigger), so a proposal shown to a reader is
 *   exactly the one stored. A newer run adds newer rows; the old ones stay.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('ai_runs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('run_key', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject_uuid', 'uuid', (c) => c.references('subjects.id'))
    .addColumn('volume_id', 'uuid', (c) => c.references('volumes.id'))
    .addColumn('slide_id', 'uuid', (c) => c.references('slides.id'))
    .addColumn('time_point_id', 'text')
    .addColumn('input_sha256', 'text', (c) => c.notNull())
    .addColumn('model', 'jsonb', (c) => c.notNull())
    .addColumn('outputs', 'jsonb', (c) => c.notNull())
    .addColumn('summary', 'jsonb', (c) => c.notNull())
    .addColumn('provenance', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('ai_runs_subject').on('ai_runs').columns(['subject_uuid', 'kind']).execute();

  await db.schema
    .createTable('ai_proposals')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('run_id', 'uuid', (c) => c.notNull().references('ai_runs.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject_uuid', 'uuid', (c) => c.references('subjects.id'))
    .addColumn('time_point_id', 'text')
    .addColumn('study_date', 'text')
    .addColumn('volume_id', 'uuid', (c) => c.references('volumes.id'))
    .addColumn('slide_id', 'uuid', (c) => c.references('slides.id'))
    .addColumn('tracking_uid', 'text')
    .addColumn('tracking_id', 'text')
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('values', 'jsonb', (c) => c.notNull())
    .addColumn('mask_ref', 'jsonb')
    .addColumn('model', 'jsonb', (c) => c.notNull())
    .addColumn('provenance', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('ai_proposals_run_ordinal', ['run_id', 'ordinal'])
    .execute();
  await db.schema.createIndex('ai_proposals_subject').on('ai_proposals').columns(['subject_uuid', 'time_point_id']).execute();
  await sql`
    CREATE OR REPLACE FUNCTION ai_proposals_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'ai_proposals are immutable: % refused (a new model run adds new proposals)', TG_OP;
    END $$;
  `.execute(db);
  await sql`
    CREATE TRIGGER ai_proposals_no_change BEFORE UPDATE OR DELETE ON ai_proposals
    FOR EACH ROW EXECUTE FUNCTION ai_proposals_immutable();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER IF EXISTS ai_proposals_no_change ON ai_proposals`.execute(db);
  await sql`DROP FUNCTION IF EXISTS ai_proposals_immutable()`.execute(db);
  await db.schema.dropTable('ai_proposals').execute();
  await db.schema.dropTable('ai_runs').execute();
}
