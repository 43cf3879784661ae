import { type Kysely, sql } from 'kysely';

/**
 * Endpoint inputs and data cuts.
 * - study_inputs: versioned snapshots of a study's assessments (imported SDTM, simulated, or reads), immutable.
 * - epro_uploads: ePRO / wearable uploads accepted whole, with their rows.
 * - data_cuts: immutable, content-addressed snapshots with their manifest.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('study_inputs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('study_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('input', 'jsonb', (c) => c.notNull())
    .addColumn('input_sha256', 'text', (c) => c.notNull())
    .addColumn('issues', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('study_inputs_uq', ['study_id', 'input_sha256'])
    .execute();
  await db.schema
    .createTable('epro_uploads')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('object_id', 'uuid', (c) => c.notNull().unique().references('objects.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('object_sha256', 'text', (c) => c.notNull())
    .addColumn('row_count', 'integer', (c) => c.notNull())
    .addColumn('parsed', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('data_cuts')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('cut_id', 'text', (c) => c.notNull().unique())
    .addColumn('study_id', 'text', (c) => c.notNull())
    .addColumn('cutoff_date', 'text', (c) => c.notNull())
    .addColumn('blinded', 'boolean', (c) => c.notNull())
    .addColumn('inputs', 'jsonb', (c) => c.notNull())
    .addColumn('settings', 'jsonb', (c) => c.notNull())
    .addColumn('issues', 'jsonb', (c) => c.notNull())
    .addColumn('manifest', 'jsonb', (c) => c.notNull())
    .addColumn('manifest_sha256', 'text', (c) => c.notNull())
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('data_cuts_study_idx').on('data_cuts').columns(['study_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['data_cuts', 'epro_uploads', 'study_inputs']) await db.schema.dropTable(t).execute();
}
