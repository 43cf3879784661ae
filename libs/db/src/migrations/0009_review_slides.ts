import { type Kysely, sql } from 'kysely';

/**
 * Slide metrics review (issue 12 §4, slide viewer): the reader's decision on the AI pathology metrics of a slide (TIL %,
 * tumour fraction, cellularity), stored per read revision next to the AI proposal it decided on.
 *
 * - `review_slide_assessments`: one row per (read revision, slide): the AI proposal (id, and its values copied into the
 *   assessment) and the reader's value per metric with the decision and reason. Frozen with its read once signed
 *   (trigger, as review_timepoints); a correction copies the rows into the new revision.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('review_slide_assessments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('read_id', 'uuid', (c) => c.notNull().references('review_reads.id'))
    .addColumn('slide_id', 'uuid', (c) => c.notNull().references('slides.id'))
    .addColumn('ai_proposal_id', 'uuid', (c) => c.references('ai_proposals.id'))
    .addColumn('assessment', 'jsonb', (c) => c.notNull())
    .addColumn('saved_by', 'text', (c) => c.notNull())
    .addColumn('saved_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('review_slide_assessments_read_slide', ['read_id', 'slide_id'])
    .execute();
  await sql`
    CREATE OR REPLACE FUNCTION review_slide_assessments_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' AND (SELECT status FROM review_reads WHERE id = OLD.read_id) = 'signed' THEN
        RAISE EXCEPTION 'review_slide_assessments: the read is signed and immutable (% refused)', TG_OP;
      END IF;
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      IF (SELECT status FROM review_reads WHERE id = NEW.read_id) = 'signed' THEN
        RAISE EXCEPTION 'review_slide_assessments: the read is signed and immutable (% refused)', TG_OP;
      END IF;
      RETURN NEW;
    END $$;
  `.execute(db);
  await sql`CREATE TRIGGER review_slide_assessments_no_change BEFORE INSERT OR UPDATE OR DELETE ON review_slide_assessments FOR EACH ROW EXECUTE FUNCTION review_slide_assessments_frozen()`.execute(db);
  // the newest slide proposal of a slide (case view) and the slides of a subject
  await db.schema.createIndex('ai_proposals_slide').on('ai_proposals').columns(['slide_id', 'kind']).execute();
  await db.schema.createIndex('slides_subject').on('slides').columns(['subject_uuid']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE IF EXISTS review_slide_assessments CASCADE`.execute(db);
  await sql`DROP FUNCTION IF EXISTS review_slide_assessments_frozen()`.execute(db);
  await sql`DROP INDEX IF EXISTS ai_proposals_slide`.execute(db);
  await sql`DROP INDEX IF EXISTS slides_subject`.execute(db);
}
