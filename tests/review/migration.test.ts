/**
 * Migration 0008_review on PostgreSQL and PGlite: the database itself keeps two distinct readers per subject and
 * freezes signed reads, signatures and decided adjudications.
 */
import { sql } from 'kysely';
import { migrateToLatest, type Db } from '@app/db';
import { withPglite, withPostgres } from '../support/services';

async function exercise(db: Db) {
  const applied = await migrateToLatest(db);
  expect(applied).toContain('0008_review');
  const u = await db.insertInto('users').values({ username: 'r1', display_name: 'R 1', password_hash: 'x', roles: ['reader'] }).returning('id').executeTakeFirstOrThrow();
  const u2 = await db.insertInto('users').values({ username: 'r2', display_name: 'R 2', password_hash: 'x', roles: ['reader'] }).returning('id').executeTakeFirstOrThrow();
  const s = await db.insertInto('subjects').values({ protocol_id: 'P', subject_id: 'S1', reading_id: 'R-AAAAAA', date_shift_days: 3 }).returning('id').executeTakeFirstOrThrow();
  const run = await db.insertInto('review_assignment_runs').values({ study_id: 'P', kind: 'assign', seed: 1, readers: [u.id, u2.id], capacity: 5, readers_per_subject: 2, algorithm: 'test', result: '{}', created_by: 't' }).returning('id').executeTakeFirstOrThrow();
  const c = { study_id: 'P', subject_uuid: s.id, reading_id: 'R-AAAAAA', assignment_run_id: run.id, order_index: 0 };
  const c1 = await db.insertInto('review_cases').values({ ...c, reader_id: u.id, slot: 1 }).returning('id').executeTakeFirstOrThrow();
  await expect(db.insertInto('review_cases').values({ ...c, reader_id: u.id, slot: 2 }).execute()).rejects.toThrow(/review_cases_one_reader/);
  await expect(db.insertInto('review_cases').values({ ...c, reader_id: u2.id, slot: 1 }).execute()).rejects.toThrow(/review_cases_one_slot/);
  await db.insertInto('review_cases').values({ ...c, reader_id: u2.id, slot: 2 }).execute();
  const r = await db.insertInto('review_reads').values({ case_id: c1.id, revision: 1, version: 1, created_by: 't' }).returning('id').executeTakeFirstOrThrow();
  await db.insertInto('review_timepoints').values({ read_id: r.id, time_point_id: 'BL', ordinal: 0, assessment: '{}', saved_by: 't' }).execute();
  await db.updateTable('review_reads').set({ status: 'signed', version: 2 }).where('id', '=', r.id).execute();
  await expect(db.updateTable('review_reads').set({ version: 3 }).where('id', '=', r.id).execute()).rejects.toThrow(/signed and immutable/);
  await expect(db.updateTable('review_timepoints').set({ ordinal: 1 }).where('read_id', '=', r.id).execute()).rejects.toThrow(/signed and immutable/);
  await expect(db.insertInto('review_timepoints').values({ read_id: r.id, time_point_id: 'FU1', ordinal: 1, assessment: '{}', saved_by: 't' }).execute()).rejects.toThrow(/signed and immutable/);
  await expect(db.deleteFrom('review_timepoints').where('read_id', '=', r.id).execute()).rejects.toThrow(/signed and immutable/);
  // a correction without a reason is refused
  await expect(db.insertInto('review_reads').values({ case_id: c1.id, revision: 2, version: 3, created_by: 't' }).execute()).rejects.toThrow(/review_reads_correction/);
  const sig = await db.insertInto('review_signatures').values({ entity_type: 'read', entity_id: r.id, signer_id: u.id, signer_username: 'r1', printed_name: 'R 1', meaning: 'm', signed_at: new Date(), content_sha256: 'a'.repeat(64), content: '{}' }).returning('id').executeTakeFirstOrThrow();
  await expect(db.updateTable('review_signatures').set({ meaning: 'other' }).where('id', '=', sig.id).execute()).rejects.toThrow(/immutable/);
  await expect(sql`delete from review_signatures`.execute(db)).rejects.toThrow(/immutable/);
}

test('0008_review on PostgreSQL', () => withPostgres(exercise));

test('0008_review on PGlite', () => withPglite(exercise));
