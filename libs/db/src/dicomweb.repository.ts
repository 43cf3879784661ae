import { sql } from 'kysely';
import type { Db } from './database';

/** A study as QIDO-RS lists it: counts over its stored (de-identified) instances and the header of its first instance. */
export interface DicomwebStudyRow {
  study_uid: string;
  study_date: string | null;
  time_point_id: string;
  reading_id: string;
  series_count: string | number;
  instance_count: string | number;
  modalities: (string | null)[] | null;
  header: Record<string, unknown> | null;
}
export interface DicomwebSeriesRow {
  study_uid: string;
  reading_id: string;
  series_uid: string;
  modality: string | null;
  series_number: number | null;
  instance_count: string | number;
  header: Record<string, unknown> | null;
}
export interface DicomwebInstanceRow {
  study_uid: string;
  reading_id: string;
  time_point_id: string;
  series_uid: string;
  sop_instance_uid: string;
  sop_class_uid: string;
  instance_number: number | null;
  transfer_syntax_uid: string;
  frames: number;
  header: Record<string, unknown>;
  deid_key: string;
  deid_sha256: string;
}

/**
 * Read-only SQL behind the DICOMweb service (apps/api dicomweb.controller). Only de-identified instances exist
 * in these tables (original uploads are objects, never instances), so everything here is the blinded copy.
 * `readingIds` restricts to subjects the caller may see (undefined = all).
 */
export class DicomwebRepository {
  constructor(private readonly db: Db) {}

  studies(f: { studyUid?: string; readingIds?: string[] } = {}): Promise<DicomwebStudyRow[]> {
    if (f.readingIds && !f.readingIds.length) return Promise.resolve([]);
    let q = this.db
      .selectFrom('studies')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .select([
        'studies.study_uid',
        'studies.study_date',
        'studies.time_point_id',
        'subjects.reading_id',
        sql<string>`(select count(*) from series s where s.study_id = studies.id and exists (select 1 from instances i where i.series_id = s.id))`.as('series_count'),
        sql<string>`(select count(*) from instances i join series s on s.id = i.series_id where s.study_id = studies.id)`.as('instance_count'),
        sql<(string | null)[] | null>`(select array_agg(distinct s.modality) from series s where s.study_id = studies.id and exists (select 1 from instances i where i.series_id = s.id))`.as('modalities'),
        sql<Record<string, unknown> | null>`(select i.header from instances i join series s on s.id = i.series_id where s.study_id = studies.id order by s.series_number nulls last, i.instance_number nulls last, i.sop_instance_uid limit 1)`.as('header'),
      ])
      .where(sql<boolean>`exists (select 1 from series s join instances i on i.series_id = s.id where s.study_id = studies.id)`)
      .orderBy('subjects.reading_id')
      .orderBy('studies.study_date')
      .orderBy('studies.study_uid');
    if (f.studyUid) q = q.where('studies.study_uid', '=', f.studyUid);
    if (f.readingIds) q = q.where('subjects.reading_id', 'in', f.readingIds);
    return q.execute() as Promise<DicomwebStudyRow[]>;
  }

  series(studyUid: string, seriesUid?: string): Promise<DicomwebSeriesRow[]> {
    let q = this.db
      .selectFrom('series')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .select([
        'studies.study_uid',
        'subjects.reading_id',
        'series.series_uid',
        'series.modality',
        'series.series_number',
        sql<string>`(select count(*) from instances i where i.series_id = series.id)`.as('instance_count'),
        sql<Record<string, unknown> | null>`(select i.header from instances i where i.series_id = series.id order by i.instance_number nulls last, i.sop_instance_uid limit 1)`.as('header'),
      ])
      .where('studies.study_uid', '=', studyUid)
      .where(sql<boolean>`exists (select 1 from instances i where i.series_id = series.id)`)
      .orderBy('series.series_number')
      .orderBy('series.series_uid');
    if (seriesUid) q = q.where('series.series_uid', '=', seriesUid);
    return q.execute() as Promise<DicomwebSeriesRow[]>;
  }

  instances(f: { studyUid: string; seriesUid?: string; sopInstanceUid?: string }): Promise<DicomwebInstanceRow[]> {
    let q = this.db
      .selectFrom('instances')
      .innerJoin('series', 'series.id', 'instances.series_id')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .select([
        'studies.study_uid',
        'studies.time_point_id',
        'subjects.reading_id',
        'series.series_uid',
        'instances.sop_instance_uid',
        'instances.sop_class_uid',
        'instances.instance_number',
        'instances.transfer_syntax_uid',
        'instances.frames',
        'instances.header',
        'instances.deid_key',
        'instances.deid_sha256',
      ])
      .where('studies.study_uid', '=', f.studyUid)
      .orderBy('series.series_number')
      .orderBy('series.series_uid')
      .orderBy('instances.instance_number')
      .orderBy('instances.sop_instance_uid');
    if (f.seriesUid) q = q.where('series.series_uid', '=', f.seriesUid);
    if (f.sopInstanceUid) q = q.where('instances.sop_instance_uid', '=', f.sopInstanceUid);
    return q.execute() as Promise<DicomwebInstanceRow[]>;
  }

  /** The reading id of a study (undefined when unknown): the access check before anything else is read. */
  async readingIdOfStudy(studyUid: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('studies')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .select('subjects.reading_id')
      .where('studies.study_uid', '=', studyUid)
      .executeTakeFirst();
    return r?.reading_id;
  }
}
