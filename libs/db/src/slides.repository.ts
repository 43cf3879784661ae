import type { Insertable, Selectable } from 'kysely';
import type { Db } from './database';
import type { SlidesTable } from './schema';

export type SlideRow = Selectable<SlidesTable>;

/** All SQL on `slides`. */
export class SlidesRepository {
  constructor(private readonly db: Db) {}

  byObject(objectId: string) {
    return this.db.selectFrom('slides').selectAll().where('object_id', '=', objectId).executeTakeFirst();
  }
  byId(id: string) {
    return this.db.selectFrom('slides').selectAll().where('id', '=', id).executeTakeFirst();
  }
  async insert(row: Insertable<SlidesTable>): Promise<SlideRow> {
    await this.db.insertInto('slides').values(row).onConflict((oc) => oc.column('object_id').doNothing()).execute();
    return (await this.byObject(row.object_id))!;
  }
  async setPatches(id: string, patches: Record<string, unknown>) {
    await this.db.updateTable('slides').set({ patches: JSON.stringify(patches) }).where('id', '=', id).execute();
  }
  /** One slide with its subject's reading id. */
  withReadingId(id: string) {
    return this.db
      .selectFrom('slides')
      .leftJoin('subjects', 'subjects.id', 'slides.subject_uuid')
      .selectAll('slides')
      .select('subjects.reading_id')
      .where('slides.id', '=', id)
      .executeTakeFirst();
  }
  /** Every slide with its subject's reading id; `readingIds` restricts it to those subjects (unlinked slides excluded). */
  list(readingIds?: readonly string[]) {
    if (readingIds && !readingIds.length) return Promise.resolve([]);
    let q = this.db
      .selectFrom('slides')
      .leftJoin('subjects', 'subjects.id', 'slides.subject_uuid')
      .selectAll('slides')
      .select('subjects.reading_id')
      .orderBy('slides.created_at');
    if (readingIds) q = q.where('subjects.reading_id', 'in', [...readingIds]);
    return q.execute();
  }
}
