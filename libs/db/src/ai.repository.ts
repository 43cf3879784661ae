import type { Selectable } from 'kysely';
import type { Db } from './database';
import type { AiProposalsTable, AiRunsTable } from './schema';

export type AiRunRow = Selectable<AiRunsTable>;
export type AiProposalRow = Selectable<AiProposalsTable>;
type ModelRef = { id: string; version: string; sha256: string };

export interface NewAiRun {
  runKey: string;
  kind: 'ct' | 'track' | 'slide';
  subjectUuid?: string | null;
  volumeId?: string | null;
  slideId?: string | null;
  timePointId?: string | null;
  inputSha256: string;
  model: ModelRef;
  outputs: Record<string, unknown>;
  summary: Record<string, unknown>;
  provenance: Record<string, unknown>;
}

export interface NewAiProposal {
  kind: 'lesion' | 'slide';
  subjectUuid?: string | null;
  timePointId?: string | null;
  studyDate?: string | null;
  volumeId?: string | null;
  slideId?: string | null;
  trackingUid?: string | null;
  trackingId?: string | null;
  values: Record<string, unknown>;
  maskRef?: Record<string, unknown> | null;
  provenance: Record<string, unknown>;
}

/** All SQL on `ai_runs` and `ai_proposals`. Proposals are insert-only (the database refuses UPDATE/DELETE). */
export class AiRepository {
  constructor(private readonly db: Db) {}

  runByKey(runKey: string) {
    return this.db.selectFrom('ai_runs').selectAll().where('run_key', '=', runKey).executeTakeFirst();
  }
  runById(id: string) {
    return this.db.selectFrom('ai_runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Records a run and its proposals in one transaction, once: a second call with the same run key returns the
   * first run (its proposals untouched), so a retried or repeated job never duplicates rows.
   */
  async recordRun(run: NewAiRun, proposals: NewAiProposal[]): Promise<{ run: AiRunRow; created: boolean }> {
    return this.db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('ai_runs')
        .values({
          run_key: run.runKey,
          kind: run.kind,
          subject_uuid: run.subjectUuid ?? null,
          volume_id: run.volumeId ?? null,
          slide_id: run.slideId ?? null,
          time_point_id: run.timePointId ?? null,
          input_sha256: run.inputSha256,
          model: JSON.stringify(run.model),
          outputs: JSON.stringify(run.outputs),
          summary: JSON.stringify(run.summary),
          provenance: JSON.stringify(run.provenance),
        })
        .onConflict((oc) => oc.column('run_key').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!inserted) {
        const existing = await tx.selectFrom('ai_runs').selectAll().where('run_key', '=', run.runKey).executeTakeFirstOrThrow();
        return { run: existing, created: false };
      }
      if (proposals.length) {
        await tx
          .insertInto('ai_proposals')
          .values(
            proposals.map((p, ordinal) => ({
              run_id: inserted.id,
              kind: p.kind,
              subject_uuid: p.subjectUuid ?? null,
              time_point_id: p.timePointId ?? null,
              study_date: p.studyDate ?? null,
              volume_id: p.volumeId ?? null,
              slide_id: p.slideId ?? null,
              tracking_uid: p.trackingUid ?? null,
              tracking_id: p.trackingId ?? null,
              ordinal,
              values: JSON.stringify(p.values),
              mask_ref: p.maskRef ? JSON.stringify(p.maskRef) : null,
              model: JSON.stringify(run.model),
              provenance: JSON.stringify(p.provenance),
            })),
          )
          .execute();
      }
      return { run: inserted, created: true };
    });
  }

  /** Runs of one kind for a subject, newest first. */
  runsOfSubject(subjectUuid: string, kind: string) {
    return this.db.selectFrom('ai_runs').selectAll().where('subject_uuid', '=', subjectUuid).where('kind', '=', kind).orderBy('created_at', 'desc').orderBy('id').execute();
  }
  runsOfSlide(slideId: string) {
    return this.db.selectFrom('ai_runs').selectAll().where('slide_id', '=', slideId).where('kind', '=', 'slide').orderBy('created_at', 'desc').execute();
  }
  proposalsOfRun(runId: string) {
    return this.db.selectFrom('ai_proposals').selectAll().where('run_id', '=', runId).orderBy('ordinal').execute();
  }
  /** Every run (newest first) with its subject's reading id, for listing. */
  listRuns(limit = 200, readingIds?: readonly string[]) {
    if (readingIds && !readingIds.length) return Promise.resolve([]);
    let q = this.db
      .selectFrom('ai_runs')
      .leftJoin('subjects', 'subjects.id', 'ai_runs.subject_uuid')
      .selectAll('ai_runs')
      .select('subjects.reading_id')
      .orderBy('ai_runs.created_at', 'desc')
      .limit(limit);
    // only these subjects' runs (a reader's assignments)
    if (readingIds) q = q.where('subjects.reading_id', 'in', [...readingIds]);
    return q.execute();
  }

  /** A volume with its series, study (time point, date) and subject (reading id). */
  volumeContext(volumeId: string) {
    return this.db
      .selectFrom('volumes')
      .innerJoin('series', 'series.id', 'volumes.series_id')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
      .selectAll('volumes')
      .select(['series.series_uid', 'series.selected', 'studies.time_point_id', 'studies.study_date', 'studies.subject_uuid', 'subjects.reading_id'])
      .where('volumes.id', '=', volumeId)
      .executeTakeFirst();
  }
  /** The newest volume of every selected series of a subject, one per study (time point), in study-date order. */
  async selectedVolumesOfSubject(subjectUuid: string) {
    const rows = await this.db
      .selectFrom('volumes')
      .innerJoin('series', 'series.id', 'volumes.series_id')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .selectAll('volumes')
      .select(['series.series_uid', 'studies.id as study_id', 'studies.time_point_id', 'studies.study_date'])
      .where('studies.subject_uuid', '=', subjectUuid)
      .where('series.selected', '=', true)
      .orderBy('studies.study_date')
      .orderBy('series.series_number')
      .orderBy('volumes.created_at', 'desc')
      .execute();
    const perStudy = new Map<string, (typeof rows)[number]>();
    for (const r of rows) if (!perStudy.has(r.study_id)) perStudy.set(r.study_id, r);
    return [...perStudy.values()];
  }
  /** The newest track run of a subject (optionally for one model sha256) with its proposals. */
  async latestTrack(subjectUuid: string) {
    const run = await this.db.selectFrom('ai_runs').selectAll().where('subject_uuid', '=', subjectUuid).where('kind', '=', 'track').orderBy('created_at', 'desc').limit(1).executeTakeFirst();
    return run ? { run, proposals: await this.proposalsOfRun(run.id) } : undefined;
  }
  subjectByReadingId(readingId: string) {
    return this.db.selectFrom('subjects').selectAll().where('reading_id', '=', readingId).executeTakeFirst();
  }
}
