import { type Kysely, sql } from 'kysely';

/** Whole-slide images: the blinded copy, its pyramid, tissue mask and patch plan. Label/macro never stored. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('slides')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('object_id', 'uuid', (c) => c.notNull().unique().references('objects.id'))
    .addColumn('subject_uuid', 'uuid', (c) => c.references('subjects.id'))
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('height', 'integer', (c) => c.notNull())
    .addColumn('mpp_x', 'double precision')
    .addColumn('mpp_y', 'double precision')
    .addColumn('objective_power', 'double precision')
    .addColumn('levels', 'jsonb', (c) => c.notNull())
    .addColumn('properties', 'jsonb', (c) => c.notNull())
    .addColumn('blinding', 'jsonb', (c) => c.notNull())
    .addColumn('blinded_key', 'text', (c) => c.notNull())
    .addColumn('blinded_sha256', 'text', (c) => c.notNull())
    .addColumn('dzi_key', 'text', (c) => c.notNull())
    .addColumn('thumbnail_key', 'text', (c) => c.notNull())
    .addColumn('tissue_key', 'text', (c) => c.notNull())
    .addColumn('tissue', 'jsonb', (c) => c.notNull())
    .addColumn('patches', 'jsonb')
    .addColumn('provenance', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('slides').execute();
}
