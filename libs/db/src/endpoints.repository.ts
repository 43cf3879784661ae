import { createHash } from 'node:crypto';
import type { Insertable, Selectable } from 'kysely';
import type { Db } from './database';
import type { DataCutsTable, EproUploadsTable, StudyInputPartsTable, StudyInputsTable } from './schema';
import { type CanonicalJson, joinStudyInput, splitStudyInput, valueAtPath } from './study-input';

export type StudyInputRow = Selectable<StudyInputsTable>;
export type EproUploadRow = Selectable<EproUploadsTable>;
export type DataCutRow = Selectable<DataCutsTable>;

/** A batch of study input items per INSERT: at most this many characters of JSON, or this many rows. */
const PART_BATCH_BYTES = 4 << 20;
const PART_BATCH_ROWS = 500;
/** Characters of item JSON kept from hashing to inserting (beyond: serialised again while inserting). */
const RETAIN_CHARS = 256_000_000;
/** Study input items read per SELECT. */
const PART_PAGE_ROWS = 1000;

/**
 * All SQL of endpoint inputs and data cuts. Rows here are never updated: new versions are new rows.
 */
export class EndpointsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Stores a study input document unless the study already has one with the same sha256 (then that row, `created`
   * false, and nothing is written). The sha256 is that of canonical(document), as before inputs were split, but
   * computed piece by piece (splitStudyInput): no string as large as the document is built. The document's large
   * arrays (subjects, reads) go one item per study_input_parts row, in batches, the rest into study_inputs.input, in
   * one transaction (the caller's, when this repository is bound to one). Each item is serialised once while hashing
   * and kept for the insert while the kept JSON stays under `retainChars`; past that (a 10,000-subject trial with
   * reads is about 400 million characters), items are serialised again as they are inserted, so memory stays bounded.
   */
  async addStudyInput(
    meta: Omit<Insertable<StudyInputsTable>, 'input' | 'input_sha256' | 'parts'>,
    doc: Record<string, unknown>,
    canonical: CanonicalJson,
    opts: { retainChars?: number } = {},
  ): Promise<{ row: StudyInputRow; created: boolean }> {
    if (!this.db.isTransaction) return this.db.transaction().execute((t) => new EndpointsRepository(t).addStudyInput(meta, doc, canonical, opts));
    const { header, parts, text } = splitStudyInput(doc, canonical);
    const budget = opts.retainChars ?? RETAIN_CHARS;
    const hash = createHash('sha256').update(text[0]!);
    let kept: string[][] | undefined = [];
    let chars = 0;
    for (let k = 0; k < parts.length; k++) {
      const json: string[] = [];
      hash.update('[');
      parts[k]!.items.forEach((item, seq) => {
        const j = canonical(item);
        hash.update(seq ? ',' : '').update(j);
        if (!kept) return;
        json.push(j);
        chars += j.length;
        if (chars > budget) kept = undefined;
      });
      kept?.push(json);
      hash.update(']').update(text[k + 1]!);
    }
    const sha = hash.digest('hex');
    const existing = () => this.db.selectFrom('study_inputs').selectAll().where('study_id', '=', meta.study_id).where('input_sha256', '=', sha).executeTakeFirst();
    const before = await existing();
    if (before) return { row: before, created: false };
    const row = await this.db
      .insertInto('study_inputs')
      .values({ ...meta, input: canonical(header), input_sha256: sha, parts: JSON.stringify(parts.map((p) => p.path)) })
      .onConflict((oc) => oc.columns(['study_id', 'input_sha256']).doNothing())
      .returningAll()
      .executeTakeFirst();
    // stored meanwhile by another transaction (it committed first): that row
    if (!row) return { row: (await existing())!, created: false };
    for (let k = 0; k < parts.length; k++) {
      const { path, items } = parts[k]!;
      let batch: Insertable<StudyInputPartsTable>[] = [];
      let bytes = 0;
      for (let seq = 0; seq < items.length; seq++) {
        const item = items[seq];
        const json = kept ? kept[k]![seq]! : canonical(item);
        const usubjid = (item as { usubjid?: unknown } | null)?.usubjid;
        batch.push({ input_id: row.id, path, seq, usubjid: typeof usubjid === 'string' ? usubjid : null, item: json });
        bytes += json.length;
        if (bytes >= PART_BATCH_BYTES || batch.length >= PART_BATCH_ROWS) {
          await this.db.insertInto('study_input_parts').values(batch).execute();
          batch = [];
          bytes = 0;
        }
      }
      if (batch.length) await this.db.insertInto('study_input_parts').values(batch).execute();
    }
    return { row, created: true };
  }

  /**
   * The items of one array of a study input ('subjects', 'reads.reads'), in order: from study_input_parts (read a page
   * at a time) when the input was stored split, else from its document. [] when the document has no such array.
   */
  async studyInputItems(row: StudyInputRow, path: string): Promise<unknown[]> {
    if (!row.parts?.includes(path)) {
      const v = valueAtPath(row.input, path);
      return Array.isArray(v) ? v : [];
    }
    const items: unknown[] = [];
    for (;;) {
      const page = await this.db
        .selectFrom('study_input_parts')
        .select('item')
        .where('input_id', '=', row.id)
        .where('path', '=', path)
        .where('seq', '>=', items.length)
        .orderBy('seq')
        .limit(PART_PAGE_ROWS)
        .execute();
      for (const r of page) items.push(r.item);
      if (page.length < PART_PAGE_ROWS) return items;
    }
  }

  /** The whole document of a study input: its header with its parts put back (older rows: `input` as stored). */
  async studyInputDocument(row: StudyInputRow): Promise<Record<string, unknown>> {
    if (!row.parts) return row.input as Record<string, unknown>;
    const parts = [];
    for (const path of row.parts) parts.push({ path, items: await this.studyInputItems(row, path) });
    return joinStudyInput(row.input as Record<string, unknown>, parts);
  }

  /** The usubjids of a study input's subjects, in order, without reading the subjects when it was stored split. */
  async studyInputSubjectIds(row: StudyInputRow): Promise<string[]> {
    if (!row.parts?.includes('subjects')) return (await this.studyInputItems(row, 'subjects')).map((s) => (s as { usubjid: string }).usubjid);
    const rows = await this.db.selectFrom('study_input_parts').select('usubjid').where('input_id', '=', row.id).where('path', '=', 'subjects').orderBy('seq').execute();
    return rows.map((r) => r.usubjid ?? '');
  }
  latestStudyInput(studyId: string) {
    return this.db.selectFrom('study_inputs').selectAll().where('study_id', '=', studyId).orderBy('created_at', 'desc').orderBy('id').limit(1).executeTakeFirst();
  }
  studies() {
    return this.db.selectFrom('study_inputs').select(['study_id']).distinct().orderBy('study_id').execute();
  }

  async addEproUpload(row: Insertable<EproUploadsTable>): Promise<EproUploadRow> {
    await this.db.insertInto('epro_uploads').values(row).onConflict((oc) => oc.column('object_id').doNothing()).execute();
    return this.db.selectFrom('epro_uploads').selectAll().where('object_id', '=', row.object_id).executeTakeFirstOrThrow();
  }
  /** Accepted uploads up to a moment, oldest first (the order they are applied in). */
  eproUploads() {
    return this.db.selectFrom('epro_uploads').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  cutById(cutId: string) {
    return this.db.selectFrom('data_cuts').selectAll().where('cut_id', '=', cutId).executeTakeFirst();
  }
  async insertCut(row: Insertable<DataCutsTable>): Promise<{ row: DataCutRow; created: boolean }> {
    const ins = await this.db.insertInto('data_cuts').values(row).onConflict((oc) => oc.column('cut_id').doNothing()).returningAll().executeTakeFirst();
    if (ins) return { row: ins, created: true };
    return { row: (await this.cutById(row.cut_id))!, created: false };
  }
  cuts(studyId?: string) {
    let q = this.db.selectFrom('data_cuts').selectAll().orderBy('created_at').orderBy('id');
    if (studyId) q = q.where('study_id', '=', studyId);
    return q.execute();
  }
}
