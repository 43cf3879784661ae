/**
 * Study inputs stored item by item (migration 0012), on real PostgreSQL and on PGlite: the sha256 is still that of the
 * whole document's canonical JSON, the document reads back whole, a repeated document adds no row, rows written before
 * the split still read, and a caller's transaction that rolls back leaves nothing. Why: one jsonb value is limited to
 * 256 MB, and a 10,000-subject trial with BICR reads is about 400 MB of JSON (a single-value input could not be stored).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '@app/audit';
import { type Db, EndpointsRepository, migrateToLatest, splitStudyInput, STUDY_INPUT_PART_PATHS } from '@app/db';
import { simulateTrial } from '@app/endpoints';
import { withPglite, withPostgres } from '../support/services';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** The pipeline's canonical JSON (sorted keys through JSON.stringify's replacer): a second, independent serialiser. */
const sortedJson = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
const meta = (studyId: string) => ({ study_id: studyId, source: 'simulated', issues: '[]', created_by: 'test' });
/** A simulated trial with readers: subjects and reads.reads, both split out. */
const trial = (subjects: number, seed = 7) => simulateTrial({ studyId: 'SPLIT', subjects, visits: 4, seed, readers: true, qlq: true, stepWeeks: 4 }) as unknown as Record<string, unknown>;

describe('splitStudyInput', () => {
  it('cuts the canonical JSON of the whole document around its parts, for either serialiser, without changing the document', () => {
    const doc = trial(6);
    const before = sortedJson(doc);
    for (const canonical of [sortedJson, canonicalJson]) {
      const { header, parts, text } = splitStudyInput(doc, canonical);
      expect(parts.map((p) => p.path).sort()).toEqual([...STUDY_INPUT_PART_PATHS].sort());
      expect(header.subjects).toBeUndefined();
      expect((header.reads as Record<string, unknown>).reads).toBeUndefined();
      expect((header.reads as Record<string, unknown>).selections).toEqual((doc.reads as Record<string, unknown>).selections);
      const joined = text.map((t, k) => t + (k < parts.length ? `[${parts[k]!.items.map(canonical).join(',')}]` : '')).join('');
      expect(joined).toBe(canonical(doc));
    }
    expect(sortedJson(doc)).toBe(before);
  });

  it('leaves a document without those arrays whole, and keeps empty ones as parts', () => {
    expect(splitStudyInput({ studyId: 'X', reads: 'not an object' }, sortedJson).parts).toEqual([]);
    const s = splitStudyInput({ studyId: 'X', subjects: [] }, sortedJson);
    expect(s.parts).toEqual([{ path: 'subjects', items: [] }]);
    expect(s.text.join('[]')).toBe(sortedJson({ studyId: 'X', subjects: [] }));
  });
});

async function exercise(db: Db): Promise<void> {
  await migrateToLatest(db);
  const repo = new EndpointsRepository(db);
  const doc = trial(40);
  const { row, created } = await repo.addStudyInput(meta('SPLIT'), doc, sortedJson);
  expect(created).toBe(true);
  expect(row.input_sha256).toBe(sha256(sortedJson(doc)));
  expect(row.parts).toEqual(['reads.reads', 'subjects']); // in the order of the canonical JSON
  // the header row holds neither array; every item has its own row
  expect((row.input as Record<string, unknown>).subjects).toBeUndefined();
  const counts = await db.selectFrom('study_input_parts').select(['path']).select((eb) => eb.fn.countAll<string>().as('n')).where('input_id', '=', row.id).groupBy('path').orderBy('path').execute();
  expect(counts.map((c) => [c.path, Number(c.n)])).toEqual([['reads.reads', (doc.reads as { reads: unknown[] }).reads.length], ['subjects', 40]]);
  // read back whole, and by parts
  const latest = (await repo.latestStudyInput('SPLIT'))!;
  expect(sortedJson(await repo.studyInputDocument(latest))).toBe(sortedJson(doc));
  expect(await repo.studyInputSubjectIds(latest)).toEqual((doc.subjects as { usubjid: string }[]).map((s) => s.usubjid));
  expect(sortedJson(await repo.studyInputItems(latest, 'subjects'))).toBe(sortedJson(doc.subjects));

  // the same document again (the other serialiser writes the same canonical JSON): the same row, nothing written
  const again = await repo.addStudyInput(meta('SPLIT'), doc, canonicalJson);
  expect(again).toEqual({ row: expect.objectContaining({ id: row.id, input_sha256: row.input_sha256 }), created: false });
  expect((await db.selectFrom('study_inputs').select('id').where('study_id', '=', 'SPLIT').execute()).length).toBe(1);
  expect((await db.selectFrom('study_input_parts').select('input_id').where('input_id', '!=', row.id).execute()).length).toBe(0);

  // more items than one INSERT batch (500) and one SELECT page (1,000) hold; and past the retained-JSON budget (each
  // item serialised again while inserting): the same hash and document either way
  const many = { studyId: 'MANY', subjects: Array.from({ length: 2345 }, (_, i) => ({ usubjid: `S-${String(i).padStart(5, '0')}`, x: i / 7 })) };
  for (const [study, retainChars] of [['MANY', undefined], ['MANY-RESERIALISED', 1000]] as const) {
    const m = await repo.addStudyInput(meta(study), many, sortedJson, { retainChars });
    expect(m.row.input_sha256).toBe(sha256(sortedJson(many)));
    expect(await repo.studyInputDocument(m.row)).toEqual(many);
    expect((await repo.studyInputSubjectIds(m.row)).length).toBe(2345);
  }

  // a row written before the split (the whole document in `input`, parts null) reads as before
  const old = { studyId: 'OLD', subjects: [{ usubjid: 'O-1', assessments: [] }], reads: { origin: 'SIMULATED', reads: [{ usubjid: 'O-1', reader: 'R1' }] } };
  const o = await db
    .insertInto('study_inputs')
    .values({ study_id: 'OLD', source: 'simulated', input: JSON.stringify(old), input_sha256: sha256(sortedJson(old)), issues: '[]', created_by: 'test' })
    .returningAll()
    .executeTakeFirstOrThrow();
  expect(o.parts).toBeNull();
  expect(await repo.studyInputDocument(o)).toEqual(old);
  expect(await repo.studyInputItems(o, 'reads.reads')).toEqual(old.reads.reads);
  expect(await repo.studyInputSubjectIds(o)).toEqual(['O-1']);
  expect(await repo.studyInputItems(o, 'nothing.here')).toEqual([]);

  // inside a caller's transaction (the review service's): nothing is left when it rolls back
  await expect(
    db.transaction().execute(async (t) => {
      const r = await new EndpointsRepository(t).addStudyInput(meta('ROLLBACK'), trial(5, 9), sortedJson);
      expect(r.created).toBe(true);
      throw new Error('caller fails after storing');
    }),
  ).rejects.toThrow('caller fails after storing');
  expect(await db.selectFrom('study_inputs').select('id').where('study_id', '=', 'ROLLBACK').execute()).toEqual([]);
  const left = await db.selectFrom('study_input_parts').innerJoin('study_inputs', 'study_inputs.id', 'study_input_parts.input_id').select('study_id').distinct().execute();
  expect(left.map((r) => r.study_id).sort()).toEqual(['MANY', 'MANY-RESERIALISED', 'SPLIT']);
}

describe('EndpointsRepository study inputs', () => {
  it('on PostgreSQL', () => withPostgres(exercise));
  it('on PGlite', () => withPglite(exercise));
});
