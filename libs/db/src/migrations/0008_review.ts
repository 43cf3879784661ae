import { type Kysely, sql } from 'kysely';

/**
 * Blinded independent central review (issue 12 §3, 5, 6, 8): assignment, reads, signatures, adjudication.
 *
 * - `review_studies`: the review settings of one study (protocol): adjudication rules, adjudicators, endpoint settings.
 * - `review_assignment_runs`: every assignment / reassignment with its seed, reader pool, capacity and outcome.
 * - `review_cases`: one reader x one subject. At most one active case per (subject, reader) and per (subject, slot):
 *   two distinct readers per subject is a database rule. A withdrawn case keeps its row, reason and successor.
 * - `review_reads`: revisions of a case's read. A draft changes (its `version` counts every change: optimistic
 *   concurrency); a signed revision never changes again (trigger), a correction is a new revision with a reason.
 * - `review_timepoints`: the saved assessment of one timepoint of one read revision (AI proposal + reader value per
 *   lesion); frozen with its read once signed (trigger).
 * - `review_signatures`: Part 11 signature records (meaning, printed name, time, sha256 of the signed content);
 *   immutable (trigger).
 * - `review_comparisons`: the two signed reads of a subject compared by the endpoint engine (agree or not, and why).
 * - `review_adjudications`: a disagreement to resolve; decided ones never change (trigger).
 * - `review_proposal_views`: the first time each AI proposal was shown in a read revision (audited once).
 * - `review_requests`: client request ids of mutations (a double submit replays the first answer).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('review_studies')
    .addColumn('study_id', 'text', (c) => c.primaryKey())
    .addColumn('rules', 'jsonb', (c) => c.notNull())
    .addColumn('adjudicators', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'::uuid[]`))
    .addColumn('readers_per_subject', 'integer', (c) => c.notNull().defaultTo(2))
    .addColumn('endpoint_settings', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('review_assignment_runs')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('study_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('seed', 'bigint', (c) => c.notNull())
    .addColumn('readers', sql`uuid[]`, (c) => c.notNull())
    .addColumn('capacity', 'integer', (c) => c.notNull())
    .addColumn('readers_per_subject', 'integer', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('result', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('review_assignment_runs_kind', sql`kind in ('assign', 'reassign')`)
    .execute();

  await db.schema
    .createTable('review_cases')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('study_id', 'text', (c) => c.notNull())
    .addColumn('subject_uuid', 'uuid', (c) => c.notNull().references('subjects.id'))
    .addColumn('reading_id', 'text', (c) => c.notNull())
    .addColumn('reader_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('slot', 'integer', (c) => c.notNull())
    .addColumn('order_index', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('assignment_run_id', 'uuid', (c) => c.notNull().references('review_assignment_runs.id'))
    .addColumn('replaces', 'uuid')
    .addColumn('replaced_by', 'uuid')
    .addColumn('withdrawn_at', 'timestamptz')
    .addColumn('withdrawn_reason', 'text')
    .addColumn('withdrawn_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('review_cases_status', sql`status in ('active', 'withdrawn')`)
    .addCheckConstraint('review_cases_slot', sql`slot >= 1`)
    .execute();
  await sql`CREATE UNIQUE INDEX review_cases_one_reader ON review_cases (subject_uuid, reader_id) WHERE status = 'active'`.execute(db);
  await sql`CREATE UNIQUE INDEX review_cases_one_slot ON review_cases (subject_uuid, slot) WHERE status = 'active'`.execute(db);
  await db.schema.createIndex('review_cases_reader').on('review_cases').columns(['reader_id', 'status', 'order_index']).execute();
  await db.schema.createIndex('review_cases_study').on('review_cases').columns(['study_id', 'status']).execute();

  await db.schema
    .createTable('review_reads')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('case_id', 'uuid', (c) => c.notNull().references('review_cases.id'))
    .addColumn('revision', 'integer', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('draft'))
    .addColumn('ai_run_id', 'uuid', (c) => c.references('ai_runs.id'))
    .addColumn('correction_reason', 'text')
    .addColumn('supersedes', 'uuid')
    .addColumn('signature_id', 'uuid')
    .addColumn('content_sha256', 'text')
    .addColumn('signed_at', 'timestamptz')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('review_reads_case_revision', ['case_id', 'revision'])
    .addCheckConstraint('review_reads_status', sql`status in ('draft', 'signed')`)
    .addCheckConstraint('review_reads_correction', sql`revision = 1 or (correction_reason is not null and length(btrim(correction_reason)) > 0)`)
    .execute();

  await db.schema
    .createTable('review_timepoints')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('read_id', 'uuid', (c) => c.notNull().references('review_reads.id'))
    .addColumn('time_point_id', 'text', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('assessment', 'jsonb', (c) => c.notNull())
    .addColumn('saved_by', 'text', (c) => c.notNull())
    .addColumn('saved_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('review_timepoints_read_tp', ['read_id', 'time_point_id'])
    .execute();

  await db.schema
    .createTable('review_signatures')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('entity_type', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'uuid', (c) => c.notNull())
    .addColumn('signer_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('signer_username', 'text', (c) => c.notNull())
    .addColumn('printed_name', 'text', (c) => c.notNull())
    .addColumn('meaning', 'text', (c) => c.notNull())
    .addColumn('signed_at', 'timestamptz', (c) => c.notNull())
    .addColumn('content_sha256', 'text', (c) => c.notNull())
    .addColumn('content', 'jsonb', (c) => c.notNull())
    .addCheckConstraint('review_signatures_entity', sql`entity_type in ('read', 'adjudication')`)
    .execute();
  await db.schema.createIndex('review_signatures_entity_idx').on('review_signatures').columns(['entity_type', 'entity_id']).execute();

  await db.schema
    .createTable('review_comparisons')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('study_id', 'text', (c) => c.notNull())
    .addColumn('subject_uuid', 'uuid', (c) => c.notNull().references('subjects.id'))
    .addColumn('read1_id', 'uuid', (c) => c.notNull().references('review_reads.id'))
    .addColumn('read2_id', 'uuid', (c) => c.notNull().references('review_reads.id'))
    .addColumn('agree', 'boolean', (c) => c.notNull())
    .addColumn('rules', 'jsonb', (c) => c.notNull())
    .addColumn('detail', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('review_comparisons_reads', ['read1_id', 'read2_id'])
    .execute();
  await db.schema.createIndex('review_comparisons_subject').on('review_comparisons').columns(['subject_uuid', 'created_at']).execute();

  await db.schema
    .createTable('review_adjudications')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('study_id', 'text', (c) => c.notNull())
    .addColumn('subject_uuid', 'uuid', (c) => c.notNull().references('subjects.id'))
    .addColumn('reading_id', 'text', (c) => c.notNull())
    .addColumn('comparison_id', 'uuid', (c) => c.notNull().unique().references('review_comparisons.id'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('open'))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('adjudicator_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('selected_read_id', 'uuid', (c) => c.references('review_reads.id'))
    .addColumn('selected_slot', 'integer')
    .addColumn('reason', 'text')
    .addColumn('signature_id', 'uuid')
    .addColumn('decided_at', 'timestamptz')
    .addColumn('cancelled_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('review_adjudications_status', sql`status in ('open', 'decided', 'cancelled')`)
    .addCheckConstraint('review_adjudications_decided', sql`status <> 'decided' or (selected_read_id is not null and signature_id is not null and reason is not null and length(btrim(reason)) > 0)`)
    .execute();
  await db.schema.createIndex('review_adjudications_status').on('review_adjudications').columns(['status', 'adjudicator_id']).execute();
  await db.schema.createIndex('review_adjudications_subject').on('review_adjudications').columns(['subject_uuid']).execute();

  await db.schema
    .createTable('review_proposal_views')
    .addColumn('read_id', 'uuid', (c) => c.notNull().references('review_reads.id'))
    .addColumn('proposal_id', 'uuid', (c) => c.notNull().references('ai_proposals.id'))
    .addColumn('first_shown_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('review_proposal_views_pk', ['read_id', 'proposal_id'])
    .execute();

  await db.schema
    .createTable('review_requests')
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('route', 'text', (c) => c.notNull())
    .addColumn('body_sha256', 'text', (c) => c.notNull())
    .addColumn('response', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('review_requests_pk', ['user_id', 'request_id'])
    .execute();

  // Signed means frozen, in the database itself (the API answers 409 before it gets here).
  await sql`
    CREATE OR REPLACE FUNCTION review_reads_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.status = 'signed' THEN
        RAISE EXCEPTION 'review_reads: read % is signed and immutable (% refused); a correction is a new revision', OLD.id, TG_OP;
      END IF;
      IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'review_reads: reads are never deleted';
      END IF;
      RETURN NEW;
    END $$;
  `.execute(db);
  await sql`CREATE TRIGGER review_reads_no_change BEFORE UPDATE OR DELETE ON review_reads FOR EACH ROW EXECUTE FUNCTION review_reads_frozen()`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION review_timepoints_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' AND (SELECT status FROM review_reads WHERE id = OLD.read_id) = 'signed' THEN
        RAISE EXCEPTION 'review_timepoints: the read is signed and immutable (% refused)', TG_OP;
      END IF;
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      IF (SELECT status FROM review_reads WHERE id = NEW.read_id) = 'signed' THEN
        RAISE EXCEPTION 'review_timepoints: the read is signed and immutable (% refused)', TG_OP;
      END IF;
      RETURN NEW;
    END $$;
  `.execute(db);
  await sql`CREATE TRIGGER review_timepoints_no_change BEFORE INSERT OR UPDATE OR DELETE ON review_timepoints FOR EACH ROW EXECUTE FUNCTION review_timepoints_frozen()`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION review_signatures_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'review_signatures are immutable: % refused', TG_OP;
    END $$;
  `.execute(db);
  await sql`CREATE TRIGGER review_signatures_no_change BEFORE UPDATE OR DELETE ON review_signatures FOR EACH ROW EXECUTE FUNCTION review_signatures_immutable()`.execute(db);
  await sql`
    CREATE OR REPLACE FUNCTION review_adjudications_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR OLD.status = 'decided' THEN
        RAISE EXCEPTION 'review_adjudications: a decided adjudication is immutable (% refused)', TG_OP;
      END IF;
      RETURN NEW;
    END $$;
  `.execute(db);
  await sql`CREATE TRIGGER review_adjudications_no_change BEFORE UPDATE OR DELETE ON review_adjudications FOR EACH ROW EXECUTE FUNCTION review_adjudications_frozen()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['review_requests', 'review_proposal_views', 'review_adjudications', 'review_comparisons', 'review_signatures', 'review_timepoints', 'review_reads', 'review_cases', 'review_assignment_runs', 'review_studies'])
    await sql`DROP TABLE IF EXISTS ${sql.table(t)} CASCADE`.execute(db);
  for (const f of ['review_reads_frozen', 'review_timepoints_frozen', 'review_signatures_immutable', 'review_adjudications_frozen']) await sql`DROP FUNCTION IF EXISTS ${sql.raw(f)}()`.execute(db);
}
