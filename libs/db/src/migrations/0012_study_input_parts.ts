import type { Kysely } from 'kysely';

/**
 * Study inputs stored item by item.
 *
 * A study input was one jsonb value (`study_inputs.input`). PostgreSQL refuses a jsonb value over 256 MB, and a
 * simulated 10,000-subject trial with BICR reads is about 400 MB of JSON (1,000 subjects: 40 MB), so such a trial could
 * not be loaded at all (PGlite ran out of memory first). Now the input's large arrays (its subjects and its reads) are
 * stored one item per row of `study_input_parts`, in order; `study_inputs.input` holds the rest, and `parts` names the
 * arrays taken out (null: an older row, whose `input` is the whole document and is read as before). Both tables stay
 * append-only: an input's rows are written in one transaction and never changed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('study_inputs').addColumn('parts', 'jsonb').execute();
  await db.schema
    .createTable('study_input_parts')
    .addColumn('input_id', 'uuid', (c) => c.notNull().references('study_inputs.id'))
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('usubjid', 'text')
    .addColumn('item', 'jsonb', (c) => c.notNull())
    .addPrimaryKeyConstraint('study_input_parts_pk', ['input_id', 'path', 'seq'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('study_input_parts').execute();
  await db.schema.alterTable('study_inputs').dropColumn('parts').execute();
}
