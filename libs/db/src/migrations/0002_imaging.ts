import { type Kysely, sql } from 'kysely';

/**
 * The DICOM index (de-identified identifiers only), CT volumes, and the restricted pseudonym tables.
 * `restricted_*` tables hold the link back to real identities: only the admin role may read them
 * (enforced in PseudonymRepository; on PostgreSQL deployments grant them to an admin DB role only).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subjects')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('protocol_id', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('reading_id', 'text', (c) => c.notNull().unique())
    .addColumn('date_shift_days', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('subjects_protocol_subject_uq', ['protocol_id', 'subject_id'])
    .execute();

  await db.schema
    .createTable('restricted_pseudonyms')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('subject_uuid', 'uuid', (c) => c.notNull().references('subjects.id'))
    .addColumn('original_patient_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('restricted_pseudonyms_uq', ['subject_uuid', 'original_patient_id'])
    .execute();
  await db.schema
    .createTable('restricted_uid_map')
    .addColumn('original_uid', 'text', (c) => c.primaryKey())
    .addColumn('replacement_uid', 'text', (c) => c.notNull())
    .addColumn('subject_uuid', 'uuid', (c) => c.notNull().references('subjects.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('studies')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('subject_uuid', 'uuid', (c) => c.notNull().references('subjects.id'))
    .addColumn('study_uid', 'text', (c) => c.notNull().unique())
    .addColumn('study_date', 'text')
    .addColumn('time_point_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('series')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('study_id', 'uuid', (c) => c.notNull().references('studies.id'))
    .addColumn('series_uid', 'text', (c) => c.notNull().unique())
    .addColumn('modality', 'text')
    .addColumn('series_number', 'integer')
    .addColumn('summary', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('instance_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_instance_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('collecting'))
    .addColumn('selected', 'boolean')
    .addColumn('selection_reasons', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('flags', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('instances')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('series_id', 'uuid', (c) => c.notNull().references('series.id'))
    .addColumn('object_id', 'uuid', (c) => c.notNull().references('objects.id'))
    .addColumn('sop_instance_uid', 'text', (c) => c.notNull().unique())
    .addColumn('sop_class_uid', 'text', (c) => c.notNull())
    .addColumn('instance_number', 'integer')
    .addColumn('transfer_syntax_uid', 'text', (c) => c.notNull())
    .addColumn('frames', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('header', 'jsonb', (c) => c.notNull())
    .addColumn('deid_key', 'text', (c) => c.notNull())
    .addColumn('deid_sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('instances_series_idx').on('instances').column('series_id').execute();
  await db.schema.createIndex('instances_object_idx').on('instances').column('object_id').execute();

  await db.schema
    .createTable('volumes')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('series_id', 'uuid', (c) => c.notNull().references('series.id'))
    .addColumn('instance_set_sha256', 'text', (c) => c.notNull())
    .addColumn('dims', 'jsonb', (c) => c.notNull())
    .addColumn('spacing', 'jsonb', (c) => c.notNull())
    .addColumn('affine', 'jsonb', (c) => c.notNull())
    .addColumn('flags', 'jsonb', (c) => c.notNull())
    .addColumn('data_key', 'text', (c) => c.notNull())
    .addColumn('data_sha256', 'text', (c) => c.notNull())
    .addColumn('provenance', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('volumes_series_set_uq', ['series_id', 'instance_set_sha256'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['volumes', 'instances', 'series', 'studies', 'restricted_uid_map', 'restricted_pseudonyms', 'subjects']) await db.schema.dropTable(t).execute();
}
