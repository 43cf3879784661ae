import type { Insertable, Selectable } from 'kysely';
import type { Db } from './database';
import type { DataCutsTable, EproUploadsTable, StudyInputsTable } from './schema';

export type StudyInputRow = Selectable<StudyInputsTable>;
export type EproUploadRow = Selectable<EproUploadsTable>;
export type DataCutRow = Selectable<DataCutsTable>;

/** All SQL of endpoint inputs and data cuts. Rows here are never updated: new versions are new rows. */
export class EndpointsRepository {
  constructor(private readonly db: Db) {}

  async addStudyInput(row: Insertable<StudyInputsTable>): Promise<StudyInputRow> {
    await this.db.insertInto('study_inputs').values(row).onConflict((oc) => oc.columns(['study_id', 'input_sha256']).doNothing()).execute();
    return this.db.selectFrom('study_inputs').selectAll().where('study_id', '=', row.study_id).where('input_sha256', '=', row.input_sha256).executeTakeFirstOrThrow();
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
