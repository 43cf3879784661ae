import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './database';
import type { Selectable } from 'kysely';
import type { InstancesTable, SeriesStatus, SeriesTable, StudiesTable, SubjectsTable, VolumesTable } from './schema';

export type SubjectRow = Selectable<SubjectsTable>;
export type StudyRow = Selectable<StudiesTable>;
export type SeriesRow = Selectable<SeriesTable>;
export type InstanceRow = Selectable<InstancesTable>;
export type VolumeRow = Selectable<VolumesTable>;

const READING_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** A Subject Reading ID: random, meaningless, easy to read aloud (no 0/O, 1/I). */
export const newReadingId = (): string => `R-${Array.from({ length: 6 }, () => READING_ALPHABET[randomInt(READING_ALPHABET.length)]).join('')}`;

/** All SQL of the imaging index (subjects, studies, series, instances, volumes). Identifiers here are pseudonymous. */
export class ImagingRepository {
  constructor(private readonly db: Db) {}

  /** The subject for (protocol, subject id), created on first sight with a new reading id. Race-safe. */
  async ensureSubject(protocolId: string, subjectId: string, dateShiftDays: number): Promise<SubjectRow> {
    for (let i = 0; i < 5; i++) {
      const row = await this.db
        .insertInto('subjects')
        .values({ protocol_id: protocolId, subject_id: subjectId, reading_id: newReadingId(), date_shift_days: dateShiftDays })
        .onConflict((oc) => oc.columns(['protocol_id', 'subject_id']).doNothing())
        .returningAll()
        .executeTakeFirst()
        .catch((e: Error) => {
          if (/reading_id/.test(e.message)) return undefined; // reading id collision: draw again
          throw e;
        });
      if (row) return row;
      const existing = await this.db.selectFrom('subjects').selectAll().where('protocol_id', '=', protocolId).where('subject_id', '=', subjectId).executeTakeFirst();
      if (existing) return existing;
    }
    throw new Error('could not allocate a unique reading id');
  }

  subjectByReadingId(readingId: string) {
    return this.db.selectFrom('subjects').selectAll().where('reading_id', '=', readingId).executeTakeFirst();
  }

  async ensureStudy(subjectUuid: string, studyUid: string, studyDate: string | null, timePointId: string): Promise<StudyRow> {
    await this.db.insertInto('studies').values({ subject_uuid: subjectUuid, study_uid: studyUid, study_date: studyDate, time_point_id: timePointId }).onConflict((oc) => oc.column('study_uid').doNothing()).execute();
    return this.db.selectFrom('studies').selectAll().where('study_uid', '=', studyUid).executeTakeFirstOrThrow();
  }

  async ensureSeries(studyId: string, seriesUid: string, modality: string | null, seriesNumber: number | null): Promise<SeriesRow> {
    await this.db
      .insertInto('series')
      .values({ study_id: studyId, series_uid: seriesUid, modality, series_number: seriesNumber })
      .onConflict((oc) => oc.column('series_uid').doNothing())
      .execute();
    return this.db.selectFrom('series').selectAll().where('series_uid', '=', seriesUid).executeTakeFirstOrThrow();
  }

  /** Insert an instance once (by SOP Instance UID); bumps the series' count and quiet-period clock when new. */
  async addInstance(i: Omit<InstancesTable, 'id' | 'created_at' | 'header'> & { header: Record<string, unknown> }): Promise<{ row: InstanceRow; created: boolean }> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx
        .insertInto('instances')
        .values({ ...i, header: JSON.stringify(i.header) })
        .onConflict((oc) => oc.column('sop_instance_uid').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (row) {
        await tx
          .updateTable('series')
          .set({ instance_count: sql`instance_count + 1`, last_instance_at: sql`now()`, updated_at: sql`now()`, status: 'collecting' })
          .where('id', '=', i.series_id)
          .execute();
        return { row, created: true };
      }
      return { row: await tx.selectFrom('instances').selectAll().where('sop_instance_uid', '=', i.sop_instance_uid).executeTakeFirstOrThrow(), created: false };
    });
  }

  seriesById(id: string) {
    return this.db.selectFrom('series').selectAll().where('id', '=', id).executeTakeFirst();
  }

  subjectOfSeries(seriesId: string) {
    return this.db
      .selectFrom('series')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .selectAll('subjects')
      .where('series.id', '=', seriesId)
      .executeTakeFirstOrThrow();
  }

  instancesOfSeries(seriesId: string) {
    return this.db.selectFrom('instances').selectAll().where('series_id', '=', seriesId).orderBy('sop_instance_uid').execute();
  }

  /**
   * Sets a series' state. With `ifInstanceCount`, only while the series still has exactly that many instances (a job
   * that worked on an older instance set must not overwrite the newer set's state); returns whether it was written.
   */
  async updateSeries(
    id: string,
    f: { status?: SeriesStatus; selected?: boolean | null; reasons?: string[]; flags?: string[]; summary?: Record<string, unknown>; error?: string | null },
    ifInstanceCount?: number,
  ): Promise<boolean> {
    let q = this.db
      .updateTable('series')
      .set({
        updated_at: sql`now()`,
        ...(f.status ? { status: f.status } : {}),
        ...(f.selected !== undefined ? { selected: f.selected } : {}),
        ...(f.reasons ? { selection_reasons: JSON.stringify(f.reasons) } : {}),
        ...(f.flags ? { flags: JSON.stringify(f.flags) } : {}),
        ...(f.summary ? { summary: JSON.stringify(f.summary) } : {}),
        ...(f.error !== undefined ? { error: f.error } : {}),
      })
      .where('id', '=', id);
    if (ifInstanceCount !== undefined) q = q.where('instance_count', '=', ifInstanceCount);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async addVolume(v: Omit<VolumesTable, 'id' | 'created_at' | 'dims' | 'spacing' | 'affine' | 'flags' | 'provenance'> & { dims: number[]; spacing: number[]; affine: number[]; flags: string[]; provenance: Record<string, unknown> }): Promise<VolumeRow> {
    await this.db
      .insertInto('volumes')
      .values({ ...v, dims: JSON.stringify(v.dims), spacing: JSON.stringify(v.spacing), affine: JSON.stringify(v.affine), flags: JSON.stringify(v.flags), provenance: JSON.stringify(v.provenance) })
      .onConflict((oc) => oc.columns(['series_id', 'instance_set_sha256']).doNothing())
      .execute();
    return this.db.selectFrom('volumes').selectAll().where('series_id', '=', v.series_id).where('instance_set_sha256', '=', v.instance_set_sha256).executeTakeFirstOrThrow();
  }

  latestVolume(seriesId: string) {
    return this.db.selectFrom('volumes').selectAll().where('series_id', '=', seriesId).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  }

  /** Reader-facing listing: reading ids only, never subject ids or patient ids. */
  listSubjects(protocolId?: string, readingIds?: readonly string[]) {
    if (readingIds && !readingIds.length) return Promise.resolve([]);
    let q = this.db
      .selectFrom('subjects')
      .leftJoin('studies', 'studies.subject_uuid', 'subjects.id')
      .select(['subjects.reading_id', 'subjects.protocol_id', (eb) => eb.fn.count<string>('studies.id').as('studies')])
      .groupBy(['subjects.reading_id', 'subjects.protocol_id'])
      .orderBy('subjects.reading_id');
    if (protocolId) q = q.where('subjects.protocol_id', '=', protocolId);
    if (readingIds) q = q.where('subjects.reading_id', 'in', [...readingIds]);
    return q.execute();
  }

  /** The reading id of a study's subject (by the study row id); undefined when there is no such study. */
  async readingIdOfStudy(studyId: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('studies').innerJoin('subjects', 'subjects.id', 'studies.subject_uuid').select('subjects.reading_id').where('studies.id', '=', studyId).executeTakeFirst();
    return r?.reading_id;
  }

  studiesOfSubject(readingId: string) {
    return this.db
      .selectFrom('studies')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .select(['studies.id', 'studies.study_uid', 'studies.study_date', 'studies.time_point_id', 'subjects.reading_id'])
      .where('subjects.reading_id', '=', readingId)
      .orderBy('studies.study_date')
      .execute();
  }

  seriesOfStudy(studyId: string) {
    return this.db.selectFrom('series').selectAll().where('study_id', '=', studyId).orderBy('series_number').orderBy('series_uid').execute();
  }

  /** Every series with its subject's reading id; `readingIds` restricts it to those subjects. */
  allSeries(readingIds?: readonly string[]) {
    if (readingIds && !readingIds.length) return Promise.resolve([]);
    let q = this.db
      .selectFrom('series')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .selectAll('series')
      .select(['subjects.reading_id', 'studies.time_point_id', 'studies.study_date'])
      .orderBy('subjects.reading_id')
      .orderBy('studies.study_date')
      .orderBy('series.series_number');
    if (readingIds) q = q.where('subjects.reading_id', 'in', [...readingIds]);
    return q.execute();
  }
}

export type Role = 'admin' | 'reader' | 'system';
export class ForbiddenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/** The pseudonym map. Writes come from the de-identification step; reads need the admin role. */
export class PseudonymRepository {
  constructor(private readonly db: Db) {}

  async record(subjectUuid: string, originalPatientId: string, uidMap: { original: string; replacement: string }[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      if (originalPatientId)
        await tx
          .insertInto('restricted_pseudonyms')
          .values({ subject_uuid: subjectUuid, original_patient_id: originalPatientId })
          .onConflict((oc) => oc.columns(['subject_uuid', 'original_patient_id']).doNothing())
          .execute();
      if (uidMap.length)
        await tx
          .insertInto('restricted_uid_map')
          .values(uidMap.map((m) => ({ original_uid: m.original, replacement_uid: m.replacement, subject_uuid: subjectUuid })))
          .onConflict((oc) => oc.column('original_uid').doNothing())
          .execute();
    });
  }

  async read(role: Role) {
    if (role !== 'admin') throw new ForbiddenError('the pseudonym map is readable by the admin role only');
    return this.db
      .selectFrom('restricted_pseudonyms')
      .innerJoin('subjects', 'subjects.id', 'restricted_pseudonyms.subject_uuid')
      .select(['subjects.protocol_id', 'subjects.subject_id', 'subjects.reading_id', 'subjects.date_shift_days', 'restricted_pseudonyms.original_patient_id'])
      .orderBy('subjects.reading_id')
      .execute();
  }

  async uidMap(role: Role, subjectReadingId: string) {
    if (role !== 'admin') throw new ForbiddenError('the UID map is readable by the admin role only');
    return this.db
      .selectFrom('restricted_uid_map')
      .innerJoin('subjects', 'subjects.id', 'restricted_uid_map.subject_uuid')
      .select(['restricted_uid_map.original_uid', 'restricted_uid_map.replacement_uid'])
      .where('subjects.reading_id', '=', subjectReadingId)
      .execute();
  }
}
