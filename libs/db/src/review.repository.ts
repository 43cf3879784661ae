import { type Kysely, type Selectable, sql } from 'kysely';
import type {
  Database,
  ReviewAdjudicationsTable,
  ReviewAssignmentRunsTable,
  ReviewCasesTable,
  ReviewComparisonsTable,
  ReviewReadsTable,
  ReviewSignaturesTable,
  ReviewStudiesTable,
  ReviewTimepointsTable,
} from './schema';

export type ReviewStudyRow = Selectable<ReviewStudiesTable>;
export type ReviewRunRow = Selectable<ReviewAssignmentRunsTable>;
export type ReviewCaseRow = Selectable<ReviewCasesTable>;
export type ReviewReadRow = Selectable<ReviewReadsTable>;
export type ReviewTimepointRow = Selectable<ReviewTimepointsTable>;
export type ReviewSignatureRow = Selectable<ReviewSignaturesTable>;
export type ReviewComparisonRow = Selectable<ReviewComparisonsTable>;
export type ReviewAdjudicationRow = Selectable<ReviewAdjudicationsTable>;

type Q = Kysely<Database>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** True for a well-formed UUID (anything else cannot be a row id: answer 404, never a database error). */
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID.test(s);

/**
 * All SQL of the review workflow (migration 0008_review). Construct it on the database or on a transaction
 * (`new ReviewRepository(trx)`); the `forUpdate` reads lock the row for the rest of that transaction.
 */
export class ReviewRepository {
  constructor(private readonly db: Q) {}

  /**
   * Whether a user may see a subject's images and data: an active case of theirs, or an adjudication task of the subject
   * assigned to them. Used by the access guard of series, slides, subjects and DICOMweb for readers and adjudicators.
   */
  async isAssigned(userId: string, readingId: string): Promise<boolean> {
    if (!isUuid(userId)) return false;
    const c = await this.db.selectFrom('review_cases').select('id').where('reader_id', '=', userId).where('reading_id', '=', readingId).where('status', '=', 'active').limit(1).executeTakeFirst();
    if (c) return true;
    const a = await this.db.selectFrom('review_adjudications').select('id').where('adjudicator_id', '=', userId).where('reading_id', '=', readingId).where('status', '<>', 'cancelled').limit(1).executeTakeFirst();
    return !!a;
  }

  /**
   * Every reading id a user may see (the same rule as isAssigned, for filtering list routes in one query): subjects of
   * their active cases and of adjudication tasks assigned to them (not cancelled).
   */
  async assignedReadingIds(userId: string): Promise<string[]> {
    if (!isUuid(userId)) return [];
    const rows = await this.db
      .selectFrom('review_cases')
      .select('reading_id')
      .where('reader_id', '=', userId)
      .where('status', '=', 'active')
      .union(this.db.selectFrom('review_adjudications').select('reading_id').where('adjudicator_id', '=', userId).where('status', '<>', 'cancelled'))
      .execute();
    return [...new Set(rows.map((r) => r.reading_id))].sort();
  }

  // --- studies -------------------------------------------------------------------------------------------------

  study(studyId: string) {
    return this.db.selectFrom('review_studies').selectAll().where('study_id', '=', studyId).executeTakeFirst();
  }
  async upsertStudy(v: { studyId: string; rules: Record<string, unknown>; adjudicators: string[]; readersPerSubject: number; endpointSettings: Record<string, unknown>; by: string }): Promise<ReviewStudyRow> {
    return this.db
      .insertInto('review_studies')
      .values({ study_id: v.studyId, rules: JSON.stringify(v.rules), adjudicators: v.adjudicators, readers_per_subject: v.readersPerSubject, endpoint_settings: JSON.stringify(v.endpointSettings), created_by: v.by })
      .onConflict((oc) =>
        oc.column('study_id').doUpdateSet({ rules: JSON.stringify(v.rules), adjudicators: v.adjudicators, readers_per_subject: v.readersPerSubject, endpoint_settings: JSON.stringify(v.endpointSettings), updated_at: sql`now()` as never }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Subjects of a study (protocol) that have at least one imaging study, by reading id. */
  subjectsWithImaging(studyId: string) {
    return this.db
      .selectFrom('subjects')
      .select(['subjects.id', 'subjects.reading_id', 'subjects.subject_id', 'subjects.date_shift_days'])
      .where('subjects.protocol_id', '=', studyId)
      .where(({ exists, selectFrom }) => exists(selectFrom('studies').select('studies.id').whereRef('studies.subject_uuid', '=', 'subjects.id')))
      .orderBy('subjects.reading_id')
      .execute();
  }
  subject(subjectUuid: string) {
    return this.db.selectFrom('subjects').selectAll().where('id', '=', subjectUuid).executeTakeFirst();
  }

  // --- users ---------------------------------------------------------------------------------------------------

  /** Users by id or username (each once), with their roles. */
  async users(refs: string[]) {
    if (!refs.length) return [];
    const ids = refs.filter((r) => isUuid(r));
    const names = refs.filter((r) => !isUuid(r)).map((r) => String(r).toLowerCase());
    return this.db
      .selectFrom('users')
      .select(['id', 'username', 'display_name', 'roles', 'disabled'])
      .where((eb) => eb.or([...(ids.length ? [eb('id', 'in', ids)] : []), ...(names.length ? [eb('username', 'in', names)] : [])]))
      .execute();
  }
  usernames(ids: string[]) {
    if (!ids.length) return Promise.resolve([] as { id: string; username: string; display_name: string }[]);
    return this.db.selectFrom('users').select(['id', 'username', 'display_name']).where('id', 'in', ids).execute();
  }

  // --- assignment ----------------------------------------------------------------------------------------------

  insertRun(v: { studyId: string; kind: 'assign' | 'reassign'; seed: number; readers: string[]; capacity: number; readersPerSubject: number; algorithm: string; reason?: string | null; result: Record<string, unknown>; by: string }) {
    return this.db
      .insertInto('review_assignment_runs')
      .values({ study_id: v.studyId, kind: v.kind, seed: v.seed, readers: v.readers, capacity: v.capacity, readers_per_subject: v.readersPerSubject, algorithm: v.algorithm, reason: v.reason ?? null, result: JSON.stringify(v.result), created_by: v.by })
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  setRunResult(runId: string, result: Record<string, unknown>) {
    return this.db.updateTable('review_assignment_runs').set({ result: JSON.stringify(result) }).where('id', '=', runId).execute();
  }
  runs(studyId: string) {
    return this.db.selectFrom('review_assignment_runs').selectAll().where('study_id', '=', studyId).orderBy('created_at').orderBy('id').execute();
  }
  insertCases(rows: { studyId: string; subjectUuid: string; readingId: string; readerId: string; slot: number; orderIndex: number; runId: string; replaces?: string | null }[]) {
    if (!rows.length) return Promise.resolve([] as ReviewCaseRow[]);
    return this.db
      .insertInto('review_cases')
      .values(rows.map((r) => ({ study_id: r.studyId, subject_uuid: r.subjectUuid, reading_id: r.readingId, reader_id: r.readerId, slot: r.slot, order_index: r.orderIndex, assignment_run_id: r.runId, replaces: r.replaces ?? null })))
      .returningAll()
      .execute();
  }
  /** Serialises assignment changes of a study (transaction-scoped advisory lock). */
  async lockStudy(studyId: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtext(${`review:${studyId}`}))`.execute(this.db);
  }
  casesOfStudy(studyId: string, opts: { activeOnly?: boolean } = {}) {
    let q = this.db.selectFrom('review_cases').selectAll().where('study_id', '=', studyId);
    if (opts.activeOnly) q = q.where('status', '=', 'active');
    return q.orderBy('reading_id').orderBy('slot').orderBy('created_at').execute();
  }
  activeCasesOfSubject(subjectUuid: string) {
    return this.db.selectFrom('review_cases').selectAll().where('subject_uuid', '=', subjectUuid).where('status', '=', 'active').orderBy('slot').execute();
  }
  caseById(id: string, forUpdate = false) {
    if (!isUuid(id)) return Promise.resolve(undefined);
    let q = this.db.selectFrom('review_cases').selectAll().where('id', '=', id);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }
  /** Next free worklist position of each reader (max order + 1 over all their cases). */
  async nextOrder(readerIds: string[]): Promise<Record<string, number>> {
    if (!readerIds.length) return {};
    const rows = await this.db.selectFrom('review_cases').select(['reader_id', sql<number>`max(order_index) + 1`.as('next')]).where('reader_id', 'in', readerIds).groupBy('reader_id').execute();
    return Object.fromEntries(rows.map((r) => [r.reader_id, Number(r.next)]));
  }
  withdrawCase(id: string, v: { reason: string; by: string; replacedBy?: string | null }) {
    return this.db
      .updateTable('review_cases')
      .set({ status: 'withdrawn', withdrawn_at: sql`now()` as never, withdrawn_reason: v.reason, withdrawn_by: v.by, replaced_by: v.replacedBy ?? null })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .returningAll()
      .executeTakeFirst();
  }
  setReplacedBy(id: string, replacedBy: string) {
    return this.db.updateTable('review_cases').set({ replaced_by: replacedBy }).where('id', '=', id).execute();
  }

  /** A reader's active cases (worklist order) with their current read's state and saved timepoint count. */
  async worklist(readerId: string) {
    if (!isUuid(readerId)) return [];
    // the current read of each of the reader's cases: a lateral lookup on (case_id, revision), not a pass over every read
    const rows = await this.db
      .selectFrom('review_cases as c')
      .leftJoinLateral(
        (eb) => eb.selectFrom('review_reads as r').select(['r.case_id', 'r.id', 'r.revision', 'r.version', 'r.status', 'r.signed_at']).whereRef('r.case_id', '=', 'c.id').orderBy('r.revision', 'desc').limit(1).as('cur'),
        (j) => j.onTrue(),
      )
      .select(['c.id', 'c.study_id', 'c.reading_id', 'c.subject_uuid', 'c.order_index', 'c.slot', 'c.created_at', 'cur.id as read_id', 'cur.revision', 'cur.version', 'cur.status as read_status', 'cur.signed_at'])
      .select((eb) => [
        eb.selectFrom('review_timepoints as t').select(eb.fn.countAll<string>().as('n')).whereRef('t.read_id', '=', 'cur.id').as('saved'),
        eb.selectFrom('studies as s').select(sql<string>`count(distinct s.time_point_id)`.as('n')).whereRef('s.subject_uuid', '=', 'c.subject_uuid').as('timepoints'),
      ])
      .where('c.reader_id', '=', readerId)
      .where('c.status', '=', 'active')
      .orderBy('c.study_id')
      .orderBy('c.order_index')
      .execute();
    return rows;
  }

  // --- imaging context -----------------------------------------------------------------------------------------

  /** A subject's studies with their series (de-identified UIDs only), by (shifted) study date. */
  studiesOfSubject(subjectUuid: string) {
    return this.db
      .selectFrom('studies')
      .leftJoin('series', 'series.study_id', 'studies.id')
      .select(['studies.id as study_id', 'studies.study_uid', 'studies.study_date', 'studies.time_point_id', 'series.id as series_id', 'series.series_uid', 'series.modality', 'series.series_number', 'series.selected', 'series.instance_count'])
      .where('studies.subject_uuid', '=', subjectUuid)
      .orderBy('studies.study_date')
      .orderBy('studies.study_uid')
      .orderBy('series.series_number')
      .execute();
  }
  /** Newest volume of every series of a subject (geometry only). */
  async volumesOfSubject(subjectUuid: string) {
    const rows = await this.db
      .selectFrom('volumes')
      .innerJoin('series', 'series.id', 'volumes.series_id')
      .innerJoin('studies', 'studies.id', 'series.study_id')
      .select(['volumes.id', 'volumes.dims', 'volumes.spacing', 'volumes.affine', 'volumes.created_at', 'series.series_uid', 'series.selected', 'studies.time_point_id'])
      .where('studies.subject_uuid', '=', subjectUuid)
      .orderBy('volumes.created_at', 'desc')
      .execute();
    const seen = new Set<string>();
    return rows.filter((r) => (seen.has(r.series_uid) ? false : (seen.add(r.series_uid), true)));
  }
  /** The newest lesion-tracking run of a subject. */
  latestTrackRun(subjectUuid: string) {
    return this.db.selectFrom('ai_runs').select(['id', 'model', 'created_at']).where('subject_uuid', '=', subjectUuid).where('kind', '=', 'track').orderBy('created_at', 'desc').orderBy('id').limit(1).executeTakeFirst();
  }
  runById(id: string) {
    return this.db.selectFrom('ai_runs').select(['id', 'model']).where('id', '=', id).executeTakeFirst();
  }
  lesionProposals(runId: string) {
    return this.db
      .selectFrom('ai_proposals')
      .select(['id', 'run_id', 'time_point_id', 'tracking_uid', 'tracking_id', 'volume_id', 'values', 'model', 'ordinal'])
      .where('run_id', '=', runId)
      .where('kind', '=', 'lesion')
      .orderBy('ordinal')
      .execute();
  }
  /** Proposals newly shown in a read revision (the ones not shown before): audited once each. */
  async markShown(readId: string, proposalIds: string[]): Promise<string[]> {
    if (!proposalIds.length) return [];
    const rows = await this.db
      .insertInto('review_proposal_views')
      .values(proposalIds.map((p) => ({ read_id: readId, proposal_id: p })))
      .onConflict((oc) => oc.columns(['read_id', 'proposal_id']).doNothing())
      .returning('proposal_id')
      .execute();
    return rows.map((r) => r.proposal_id);
  }

  // --- reads ---------------------------------------------------------------------------------------------------

  currentRead(caseId: string, forUpdate = false) {
    let q = this.db.selectFrom('review_reads').selectAll().where('case_id', '=', caseId).orderBy('revision', 'desc').limit(1);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }
  readsOfCase(caseId: string) {
    return this.db.selectFrom('review_reads').selectAll().where('case_id', '=', caseId).orderBy('revision').execute();
  }
  readById(id: string) {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db.selectFrom('review_reads').selectAll().where('id', '=', id).executeTakeFirst();
  }
  latestSignedRead(caseId: string) {
    return this.db.selectFrom('review_reads').selectAll().where('case_id', '=', caseId).where('status', '=', 'signed').orderBy('revision', 'desc').limit(1).executeTakeFirst();
  }
  /** Creates revision 1 of a case's read unless one exists (race-safe: the unique (case, revision) decides). */
  async ensureFirstRead(caseId: string, aiRunId: string | null, by: string): Promise<{ read: ReviewReadRow; created: boolean }> {
    const ins = await this.db
      .insertInto('review_reads')
      .values({ case_id: caseId, revision: 1, version: 1, ai_run_id: aiRunId, created_by: by })
      .onConflict((oc) => oc.columns(['case_id', 'revision']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (ins) return { read: ins, created: true };
    return { read: (await this.currentRead(caseId))!, created: false };
  }
  insertRead(v: { caseId: string; revision: number; version: number; aiRunId: string | null; correctionReason: string; supersedes: string; by: string }) {
    return this.db
      .insertInto('review_reads')
      .values({ case_id: v.caseId, revision: v.revision, version: v.version, ai_run_id: v.aiRunId, correction_reason: v.correctionReason, supersedes: v.supersedes, created_by: v.by })
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  bumpVersion(readId: string, expected: number) {
    return this.db
      .updateTable('review_reads')
      .set({ version: expected + 1, updated_at: sql`now()` as never })
      .where('id', '=', readId)
      .where('version', '=', expected)
      .where('status', '=', 'draft')
      .returningAll()
      .executeTakeFirst();
  }
  markSigned(readId: string, expected: number, v: { signatureId: string; contentSha256: string; signedAt: Date }) {
    return this.db
      .updateTable('review_reads')
      .set({ status: 'signed', version: expected + 1, signature_id: v.signatureId, content_sha256: v.contentSha256, signed_at: v.signedAt, updated_at: sql`now()` as never })
      .where('id', '=', readId)
      .where('version', '=', expected)
      .where('status', '=', 'draft')
      .returningAll()
      .executeTakeFirst();
  }
  timepointsOfRead(readId: string) {
    return this.db.selectFrom('review_timepoints').selectAll().where('read_id', '=', readId).orderBy('ordinal').execute();
  }
  async upsertTimepoint(v: { readId: string; timePointId: string; ordinal: number; assessment: unknown; by: string }) {
    return this.db
      .insertInto('review_timepoints')
      .values({ read_id: v.readId, time_point_id: v.timePointId, ordinal: v.ordinal, assessment: JSON.stringify(v.assessment), saved_by: v.by })
      .onConflict((oc) => oc.columns(['read_id', 'time_point_id']).doUpdateSet({ ordinal: v.ordinal, assessment: JSON.stringify(v.assessment), saved_by: v.by, saved_at: sql`now()` as never }))
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  copyTimepoints(fromReadId: string, toReadId: string, by: string) {
    return sql`insert into review_timepoints (read_id, time_point_id, ordinal, assessment, saved_by) select ${toReadId}::uuid, time_point_id, ordinal, assessment, ${by} from review_timepoints where read_id = ${fromReadId}::uuid`.execute(this.db);
  }

  // --- slides (migration 0009) ---------------------------------------------------------------------------------

  /** A subject's slides (blinded geometry only), oldest first. */
  slidesOfSubject(subjectUuid: string) {
    return this.db.selectFrom('slides').select(['id', 'width', 'height', 'mpp_x', 'mpp_y', 'format', 'created_at']).where('subject_uuid', '=', subjectUuid).orderBy('created_at').orderBy('id').execute();
  }
  /** The newest AI slide proposal (metrics) of each of these slides. */
  async latestSlideProposals(slideIds: string[]) {
    if (!slideIds.length) return [];
    return this.db
      .selectFrom('ai_proposals as p')
      .innerJoin('ai_runs as r', 'r.id', 'p.run_id')
      .distinctOn('p.slide_id')
      .select(['p.id', 'p.run_id', 'p.slide_id', 'p.values', 'p.model', 'r.created_at'])
      .where('p.kind', '=', 'slide')
      .where('p.slide_id', 'in', slideIds)
      .orderBy('p.slide_id')
      .orderBy('r.created_at', 'desc')
      .orderBy('p.id')
      .execute();
  }
  /** One AI slide proposal by id (any run). */
  slideProposal(id: string) {
    if (!isUuid(id)) return Promise.resolve(undefined);
    return this.db
      .selectFrom('ai_proposals as p')
      .innerJoin('ai_runs as r', 'r.id', 'p.run_id')
      .select(['p.id', 'p.run_id', 'p.slide_id', 'p.values', 'p.model', 'r.created_at'])
      .where('p.id', '=', id)
      .where('p.kind', '=', 'slide')
      .executeTakeFirst();
  }
  slideAssessmentsOfRead(readId: string) {
    return this.db.selectFrom('review_slide_assessments').selectAll().where('read_id', '=', readId).orderBy('slide_id').execute();
  }
  upsertSlideAssessment(v: { readId: string; slideId: string; proposalId: string | null; assessment: unknown; by: string }) {
    const assessment = JSON.stringify(v.assessment);
    return this.db
      .insertInto('review_slide_assessments')
      .values({ read_id: v.readId, slide_id: v.slideId, ai_proposal_id: v.proposalId, assessment, saved_by: v.by })
      .onConflict((oc) => oc.columns(['read_id', 'slide_id']).doUpdateSet({ ai_proposal_id: v.proposalId, assessment, saved_by: v.by, saved_at: sql`now()` as never }))
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  copySlideAssessments(fromReadId: string, toReadId: string, by: string) {
    return sql`insert into review_slide_assessments (read_id, slide_id, ai_proposal_id, assessment, saved_by) select ${toReadId}::uuid, slide_id, ai_proposal_id, assessment, ${by} from review_slide_assessments where read_id = ${fromReadId}::uuid`.execute(this.db);
  }

  // --- signatures ----------------------------------------------------------------------------------------------

  insertSignature(v: { entityType: 'read' | 'adjudication'; entityId: string; signerId: string; signerUsername: string; printedName: string; meaning: string; signedAt: Date; contentSha256: string; content: unknown }) {
    return this.db
      .insertInto('review_signatures')
      .values({ entity_type: v.entityType, entity_id: v.entityId, signer_id: v.signerId, signer_username: v.signerUsername, printed_name: v.printedName, meaning: v.meaning, signed_at: v.signedAt, content_sha256: v.contentSha256, content: JSON.stringify(v.content) })
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  signatures(ids: string[]) {
    if (!ids.length) return Promise.resolve([] as ReviewSignatureRow[]);
    return this.db.selectFrom('review_signatures').selectAll().where('id', 'in', ids).execute();
  }

  // --- comparisons and adjudications -----------------------------------------------------------------------------

  insertComparison(v: { studyId: string; subjectUuid: string; read1Id: string; read2Id: string; agree: boolean; rules: unknown; detail: unknown }) {
    return this.db
      .insertInto('review_comparisons')
      .values({ study_id: v.studyId, subject_uuid: v.subjectUuid, read1_id: v.read1Id, read2_id: v.read2Id, agree: v.agree, rules: JSON.stringify(v.rules), detail: JSON.stringify(v.detail) })
      .onConflict((oc) => oc.columns(['read1_id', 'read2_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
  }
  comparisonByReads(read1Id: string, read2Id: string) {
    return this.db.selectFrom('review_comparisons').selectAll().where('read1_id', '=', read1Id).where('read2_id', '=', read2Id).executeTakeFirst();
  }
  comparisonById(id: string) {
    return this.db.selectFrom('review_comparisons').selectAll().where('id', '=', id).executeTakeFirst();
  }
  /** The latest comparison of each subject of a study. */
  latestComparisons(studyId: string) {
    return this.db.selectFrom('review_comparisons').selectAll().distinctOn('subject_uuid').where('study_id', '=', studyId).orderBy('subject_uuid').orderBy('created_at', 'desc').orderBy('id').execute();
  }
  insertAdjudication(v: { studyId: string; subjectUuid: string; readingId: string; comparisonId: string; adjudicatorId: string | null }) {
    return this.db
      .insertInto('review_adjudications')
      .values({ study_id: v.studyId, subject_uuid: v.subjectUuid, reading_id: v.readingId, comparison_id: v.comparisonId, adjudicator_id: v.adjudicatorId })
      .returningAll()
      .executeTakeFirstOrThrow();
  }
  adjudicationById(id: string, forUpdate = false) {
    if (!isUuid(id)) return Promise.resolve(undefined);
    let q = this.db.selectFrom('review_adjudications').selectAll().where('id', '=', id);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }
  adjudicationByComparison(comparisonId: string) {
    return this.db.selectFrom('review_adjudications').selectAll().where('comparison_id', '=', comparisonId).executeTakeFirst();
  }
  openAdjudicationsOfSubject(subjectUuid: string) {
    return this.db.selectFrom('review_adjudications').selectAll().where('subject_uuid', '=', subjectUuid).where('status', '=', 'open').execute();
  }
  adjudications(f: { studyId?: string; status?: string; adjudicatorId?: string; openTo?: string } = {}) {
    let q = this.db.selectFrom('review_adjudications').selectAll();
    if (f.studyId) q = q.where('study_id', '=', f.studyId);
    if (f.status) q = q.where('status', '=', f.status as 'open');
    if (f.adjudicatorId) q = q.where('adjudicator_id', '=', f.adjudicatorId);
    if (f.openTo) {
      const me = f.openTo;
      // assigned to me, or unassigned and I read neither of the subject's cases
      q = q.where((eb) =>
        eb.or([
          eb('adjudicator_id', '=', me),
          eb.and([
            eb('adjudicator_id', 'is', null),
            eb.not(eb.exists(eb.selectFrom('review_cases as c').select('c.id').whereRef('c.subject_uuid', '=', 'review_adjudications.subject_uuid').where('c.reader_id', '=', me))),
          ]),
        ]),
      );
    }
    return q.orderBy('created_at').orderBy('id').execute();
  }
  openLoad(adjudicatorIds: string[]) {
    if (!adjudicatorIds.length) return Promise.resolve([] as { adjudicator_id: string | null; n: string }[]);
    return this.db.selectFrom('review_adjudications').select(['adjudicator_id', sql<string>`count(*)`.as('n')]).where('status', '=', 'open').where('adjudicator_id', 'in', adjudicatorIds).groupBy('adjudicator_id').execute();
  }
  updateAdjudication(id: string, expectedVersion: number, set: Partial<{ status: 'open' | 'decided' | 'cancelled'; adjudicator_id: string | null; selected_read_id: string; selected_slot: number; reason: string; signature_id: string; decided_at: Date; cancelled_reason: string }>) {
    return this.db
      .updateTable('review_adjudications')
      .set({ ...set, version: sql`version + 1` as never, updated_at: sql`now()` as never })
      .where('id', '=', id)
      .where('version', '=', expectedVersion)
      .returningAll()
      .executeTakeFirst();
  }

  // --- client request ids --------------------------------------------------------------------------------------

  /** Claims a request id (true) or returns the earlier request with that id (its body hash, route and answer). */
  async claimRequest(v: { userId: string; requestId: string; route: string; bodySha256: string }): Promise<{ claimed: true } | { claimed: false; route: string; bodySha256: string; response: unknown }> {
    const ins = await this.db
      .insertInto('review_requests')
      .values({ user_id: v.userId, request_id: v.requestId, route: v.route, body_sha256: v.bodySha256 })
      .onConflict((oc) => oc.columns(['user_id', 'request_id']).doNothing())
      .returning('request_id')
      .executeTakeFirst();
    if (ins) return { claimed: true };
    const r = await this.db.selectFrom('review_requests').selectAll().where('user_id', '=', v.userId).where('request_id', '=', v.requestId).executeTakeFirstOrThrow();
    return { claimed: false, route: r.route, bodySha256: r.body_sha256, response: r.response };
  }
  finishRequest(userId: string, requestId: string, response: unknown) {
    return this.db.updateTable('review_requests').set({ response: JSON.stringify(response) }).where('user_id', '=', userId).where('request_id', '=', requestId).execute();
  }

  // --- summary -------------------------------------------------------------------------------------------------

  async studySummary(studyId: string) {
    const cases = await this.db
      .selectFrom('review_cases as c')
      .leftJoin((eb) => eb.selectFrom('review_reads as r').distinctOn('r.case_id').select(['r.case_id', 'r.status']).orderBy('r.case_id').orderBy('r.revision', 'desc').as('cur'), (j) => j.onRef('cur.case_id', '=', 'c.id'))
      .select(['c.status', 'cur.status as read_status', sql<string>`count(*)`.as('n'), sql<string>`count(distinct c.subject_uuid)`.as('subjects')])
      .where('c.study_id', '=', studyId)
      .groupBy(['c.status', 'cur.status'])
      .execute();
    const adj = await this.db.selectFrom('review_adjudications').select(['status', sql<string>`count(*)`.as('n')]).where('study_id', '=', studyId).groupBy('status').execute();
    return { cases, adjudications: adj };
  }
}
