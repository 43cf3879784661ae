import { randomInt, randomUUID } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import { canonicalJson } from '@app/audit';
import { sha256Hex } from '@app/core';
import { AuditRepository, type AuditEvent, type Database, type Db, EndpointsRepository, isUuid, type ReviewAdjudicationRow, type ReviewCaseRow, type ReviewReadRow, ReviewRepository, type ReviewSignatureRow } from '@app/db';
import { dayNumber, type ProtocolSettings, resolveSettings, type StudyInput, type StudyInputWithReads, type SubjectInput, type SubjectRead } from '@app/endpoints';
import { isInputError } from '@app/core';
import { checkSeed, planAssignment, type SubjectSlots } from './assignment';
import { invalid, ReviewError } from './errors';
import type { VolumeGeometry } from './geometry';
import { baselineLesions, normaliseTimepoint, proposalKey, type ProposalRow, type StoredLesion, type StoredTimepoint, type TimepointInput } from './read-model';
import { type AdjudicationRules, checkRules, compareOutcomes, EVALUATOR, evaluatorIdOf, readAiDecisions, type ReadOutcome, readOutcome, readToSubject, recistTable, type SubjectFacts } from './recist';
import { contentSha256, type Manifestation, manifestation, SIGNATURE_MEANING } from './signature';
import { normaliseSlideAssessment, type SlideAssessmentInput, slideAiSnapshot, type SlideProposalRow, type StoredSlideAssessment } from './slides';

type Q = Kysely<Database>;

/** The acting user (always from the verified token). */
export interface Actor {
  id: string;
  username: string;
  displayName: string;
  roles: string[];
}

/** Where audit events go: AuditRepository (hash-chained audit_log), in the caller's transaction. */
export interface AuditSink {
  append(e: AuditEvent, trx?: Kysely<Database> | Transaction<Database>): Promise<unknown>;
  appendMany?(e: AuditEvent[], trx?: Kysely<Database> | Transaction<Database>): Promise<unknown>;
}

/** Re-checks a user's password at signing (the auth service's checkPassword: failures count towards the lock). */
export type PasswordVerifier = (userId: string, password: string) => Promise<boolean>;

export interface ReviewServiceOptions {
  db: Db;
  verifyPassword: PasswordVerifier;
  audit?: AuditSink;
  /** Endpoint settings of the protocol (PROTOCOL_CONFIG `endpoints`), under each study's own review settings. */
  endpointSettings?: () => Partial<ProtocolSettings>;
}

export const READERS_PER_SUBJECT = 2;
export const readerStudyId = (studyId: string, username: string) => `${studyId}.READER-${username}`;
export const bicrStudyId = (studyId: string) => `${studyId}.BICR`;

/** One timepoint of a subject as the reader sees it (pseudonymised date, series for DICOMweb, volumes for measuring). */
interface TimepointCtx {
  timePointId: string;
  ordinal: number;
  date: string | null;
  dayFromBaseline: number | null;
  studies: { studyInstanceUid: string; series: { seriesInstanceUid: string; modality: string | null; seriesNumber: number | null; selected: boolean | null; instances: number }[] }[];
  volumes: (VolumeGeometry & { seriesInstanceUid: string; selected: boolean | null })[];
}
interface SubjectCtx {
  subject: { id: string; reading_id: string; subject_id: string; protocol_id: string; date_shift_days: number };
  timepoints: TimepointCtx[];
}

const ymdToIso = (d: string | null): string | null => (d && /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}` : d && /^\d{4}-\d{2}-\d{2}$/.test(d) ? d : null);
const text = (v: unknown, what: string, max = 2000): string => {
  if (typeof v !== 'string' || !v.trim()) throw invalid(`${what} is required (non-empty text)`);
  if (v.trim().length > max) throw invalid(`${what}: at most ${max} characters`);
  return v.trim();
};
const intOf = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`${what} must be a non-negative integer`);
  return v;
};

/**
 * The review workflow: assignment, reads, signatures, adjudication and the endpoint feed. Every mutation is one
 * database transaction (its audit entries included), so a refusal leaves nothing half-saved.
 */
export class ReviewService {
  readonly db: Db;
  private readonly audit: AuditSink;
  private readonly verifyPassword: PasswordVerifier;
  private readonly defaultSettings: () => Partial<ProtocolSettings>;
  private readonly factsCache = new Map<string, Map<string, SubjectFacts>>();

  constructor(opts: ReviewServiceOptions) {
    this.db = opts.db;
    this.audit = opts.audit ?? new AuditRepository(opts.db);
    this.verifyPassword = opts.verifyPassword;
    this.defaultSettings = opts.endpointSettings ?? (() => ({}));
  }

  /** For the access guard of series / slides / subjects / DICOMweb. */
  isAssigned(userId: string, readingId: string): Promise<boolean> {
    return new ReviewRepository(this.db).isAssigned(userId, readingId);
  }

  /** Several audit entries in order: in one batch when the sink can (AuditRepository.appendMany). */
  private async appendAll(events: AuditEvent[], t: Transaction<Database>) {
    if (this.audit.appendMany) await this.audit.appendMany(events, t);
    else for (const e of events) await this.audit.append(e, t);
  }

  private ev(actor: Actor, action: string, entityType: string, entityId: string, x: { before?: unknown; after?: unknown; detail?: unknown } = {}): AuditEvent {
    return { actor: actor.username, actorRoles: actor.roles, action, entityType, entityId, ...x };
  }

  /**
   * Runs a mutation in one transaction. With a client request id the first answer is stored with it: a repeat (same
   * user, same route and body) gets that answer back (`replayed: true`) and changes nothing; the same id with another
   * body is refused (409).
   */
  private async mutate<T extends object>(actor: Actor, route: string, requestId: unknown, body: unknown, fn: (t: Transaction<Database>, repo: ReviewRepository) => Promise<T>): Promise<T & { replayed?: boolean }> {
    if (requestId !== undefined && requestId !== null && (typeof requestId !== 'string' || !/^[A-Za-z0-9._:-]{8,128}$/.test(requestId))) throw invalid('requestId: 8-128 letters, digits, . _ : - (e.g. a UUID per user action)');
    const { password: _p, requestId: _r, ...rest } = (body ?? {}) as Record<string, unknown>;
    const bodySha256 = sha256Hex(Buffer.from(canonicalJson(rest)));
    return this.db.transaction().execute(async (t) => {
      const repo = new ReviewRepository(t);
      if (typeof requestId === 'string') {
        const c = await repo.claimRequest({ userId: actor.id, requestId, route, bodySha256 });
        if (!c.claimed) {
          if (c.route !== route || c.bodySha256 !== bodySha256)
            throw new ReviewError(409, 'review.request-id-reused', `requestId ${requestId} was already used for another request (${c.route}); send a new requestId for a new action`, { requestId });
          return { ...(c.response as T), replayed: true };
        }
      }
      const out = await fn(t, repo);
      if (typeof requestId === 'string') await repo.finishRequest(actor.id, requestId, out);
      return out;
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // settings and assignment

  private async settingsOf(repo: ReviewRepository, studyId: string) {
    const row = await repo.study(studyId);
    const rules = checkRules(row?.rules ?? {});
    const endpointSettings = resolveSettings({ ...this.defaultSettings(), ...((row?.endpoint_settings ?? {}) as Partial<ProtocolSettings>) });
    return { row, rules, endpointSettings, adjudicators: row?.adjudicators ?? [], readersPerSubject: row?.readers_per_subject ?? READERS_PER_SUBJECT };
  }

  /** Resolves user ids / usernames to users holding `role` (400 naming the unknown or unfit ones). */
  private async resolveUsers(repo: ReviewRepository, refs: unknown, role: 'reader' | 'adjudicator', what: string): Promise<{ id: string; username: string }[]> {
    if (!Array.isArray(refs) || refs.some((r) => typeof r !== 'string' || !r)) throw invalid(`${what} must be a list of user ids or usernames`);
    const list = refs as string[];
    const rows = await repo.users(list);
    const out: { id: string; username: string }[] = [];
    for (const r of list) {
      const u = rows.find((x) => x.id === r || x.username === r.toLowerCase());
      if (!u) throw invalid(`${what}: no user ${r}`);
      if (u.disabled) throw invalid(`${what}: user ${u.username} is disabled`);
      if (!u.roles.includes(role)) throw invalid(`${what}: user ${u.username} does not hold the ${role} role`);
      if (out.some((o) => o.id === u.id)) throw invalid(`${what}: user ${u.username} is listed twice`);
      out.push({ id: u.id, username: u.username });
    }
    return out;
  }

  private async writeSettings(repo: ReviewRepository, actor: Actor, studyId: string, body: { rules?: unknown; adjudicators?: unknown; endpointSettings?: unknown }, t: Q) {
    const cur = await this.settingsOf(repo, studyId);
    const rules = body.rules === undefined ? cur.rules : checkRules(body.rules);
    const adjudicators = body.adjudicators === undefined ? cur.adjudicators : (await this.resolveUsers(repo, body.adjudicators, 'adjudicator', 'adjudicators')).map((u) => u.id);
    let endpointSettings = (cur.row?.endpoint_settings ?? {}) as Record<string, unknown>;
    if (body.endpointSettings !== undefined) {
      if (!body.endpointSettings || typeof body.endpointSettings !== 'object') throw invalid('endpointSettings must be an object (ProtocolSettings of libs/endpoints)');
      try {
        resolveSettings(body.endpointSettings as Partial<ProtocolSettings>);
      } catch (e) {
        if (isInputError(e)) throw invalid(`endpointSettings: ${e.message}`);
        throw e;
      }
      endpointSettings = body.endpointSettings as Record<string, unknown>;
    }
    const row = await repo.upsertStudy({ studyId, rules: rules as unknown as Record<string, unknown>, adjudicators, readersPerSubject: cur.readersPerSubject, endpointSettings, by: actor.username });
    if (!cur.row || JSON.stringify([cur.rules, cur.adjudicators, cur.row.endpoint_settings]) !== JSON.stringify([rules, adjudicators, endpointSettings]))
      await this.audit.append(this.ev(actor, 'review.settings', 'review_study', studyId, { before: cur.row ? { rules: cur.rules, adjudicators: cur.adjudicators, endpointSettings: cur.row.endpoint_settings } : null, after: { rules, adjudicators, endpointSettings } }), t);
    return { studyId, rules, adjudicators, endpointSettings, readersPerSubject: row.readers_per_subject };
  }

  async updateSettings(actor: Actor, studyId: string, body: { rules?: unknown; adjudicators?: unknown; endpointSettings?: unknown; requestId?: unknown }) {
    return this.mutate(actor, `settings:${studyId}`, body?.requestId, body, (t, repo) => this.writeSettings(repo, actor, studyId, body ?? {}, t));
  }

  /**
   * Assigns every subject of a study with imaging that still has open slots to distinct readers (seeded, within
   * capacity), shuffles each reader's new cases into their worklist, records the run and audits it.
   */
  async assign(actor: Actor, body: { studyId?: unknown; readers?: unknown; seed?: unknown; capacity?: unknown; readersPerSubject?: unknown; adjudicators?: unknown; rules?: unknown; endpointSettings?: unknown; subjects?: unknown; requestId?: unknown }) {
    const studyId = text(body?.studyId, 'studyId', 64);
    const seed = body.seed === undefined || body.seed === null ? randomInt(0, 0xffffffff) : checkSeed(body.seed);
    const capacity = body.capacity;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1) throw invalid('capacity (cases per reader) must be a positive integer');
    if (body.readersPerSubject !== undefined && body.readersPerSubject !== READERS_PER_SUBJECT) throw invalid(`readersPerSubject: BICR here reads each subject with ${READERS_PER_SUBJECT} readers`);
    return this.mutate(actor, 'assign', body.requestId, { ...body, seed }, async (t, repo) => {
      await repo.lockStudy(studyId);
      const readers = await this.resolveUsers(repo, body.readers, 'reader', 'readers');
      if (readers.length < READERS_PER_SUBJECT) throw invalid(`readers: at least ${READERS_PER_SUBJECT} distinct readers are needed`);
      const settings = await this.writeSettings(repo, actor, studyId, { rules: body.rules, adjudicators: body.adjudicators, endpointSettings: body.endpointSettings }, t);
      let subjects = await repo.subjectsWithImaging(studyId);
      if (!subjects.length) throw new ReviewError(404, 'review.not-found', `study ${studyId} has no subject with imaging yet`);
      // optionally only some subjects (reading ids), e.g. those whose imaging is complete
      if (body.subjects !== undefined) {
        if (!Array.isArray(body.subjects) || !body.subjects.length || body.subjects.some((x) => typeof x !== 'string')) throw invalid('subjects: a non-empty list of reading ids');
        const want = new Set(body.subjects as string[]);
        const unknown = [...want].filter((r) => !subjects.some((x) => x.reading_id === r));
        if (unknown.length) throw invalid(`subjects: ${unknown.join(', ')} ${unknown.length === 1 ? 'is not a subject' : 'are not subjects'} of study ${studyId} with imaging`);
        subjects = subjects.filter((x) => want.has(x.reading_id));
      }
      const active = await repo.casesOfStudy(studyId, { activeOnly: true });
      const load: Record<string, number> = {};
      for (const c of active) load[c.reader_id] = (load[c.reader_id] ?? 0) + 1;
      const open: SubjectSlots[] = [];
      for (const s of subjects) {
        const mine = active.filter((c) => c.subject_uuid === s.id);
        const used = new Set(mine.map((c) => c.slot));
        const slots = [1, 2].filter((k) => !used.has(k));
        if (slots.length) open.push({ subjectUuid: s.id, readingId: s.reading_id, slots, exclude: mine.map((c) => c.reader_id) });
      }
      const ids = readers.map((r) => r.id);
      const plan = planAssignment({ seed, subjects: open, readers: ids, capacity, load, nextOrder: await repo.nextOrder(ids) });
      const run = await repo.insertRun({ studyId, kind: 'assign', seed, readers: ids, capacity, readersPerSubject: READERS_PER_SUBJECT, algorithm: plan.algorithm, result: {}, by: actor.username });
      const rows = await repo.insertCases(plan.cases.map((c) => ({ studyId, ...c, runId: run.id })));
      const name = new Map(readers.map((r) => [r.id, r.username]));
      const result = {
        cases: rows.map((r) => ({ caseId: r.id, readingId: r.reading_id, readerId: r.reader_id, reader: name.get(r.reader_id)!, slot: r.slot, order: r.order_index })),
        perReader: plan.perReader.map((p) => ({ ...p, reader: name.get(p.readerId)! })),
        subjectsAssigned: open.length,
        subjectsAlreadyComplete: subjects.length - open.length,
      };
      await repo.setRunResult(run.id, result);
      await this.audit.append(this.ev(actor, 'assignment.create', 'review_assignment_run', run.id, { after: { studyId, seed, capacity, readers: readers.map((r) => r.username), algorithm: plan.algorithm, cases: result.cases.map((c) => ({ caseId: c.caseId, readingId: c.readingId, reader: c.reader, slot: c.slot, order: c.order })) } }), t);
      return { runId: run.id, studyId, seed, capacity, algorithm: plan.algorithm, settings, ...result };
    });
  }

  async listAssignments(studyId: string) {
    const repo = new ReviewRepository(this.db);
    const [runs, cases] = await Promise.all([repo.runs(studyId), repo.casesOfStudy(studyId)]);
    const names = new Map((await repo.usernames([...new Set(cases.map((c) => c.reader_id))])).map((u) => [u.id, u.username]));
    return {
      studyId,
      runs: runs.map((r) => ({ runId: r.id, kind: r.kind, seed: Number(r.seed), capacity: r.capacity, readers: r.readers, algorithm: r.algorithm, reason: r.reason, createdBy: r.created_by, createdAt: r.created_at, result: r.result })),
      cases: cases.map((c) => ({ caseId: c.id, readingId: c.reading_id, readerId: c.reader_id, reader: names.get(c.reader_id) ?? null, slot: c.slot, order: c.order_index, status: c.status, runId: c.assignment_run_id, replaces: c.replaces, replacedBy: c.replaced_by, withdrawnAt: c.withdrawn_at, withdrawnReason: c.withdrawn_reason, withdrawnBy: c.withdrawn_by })),
    };
  }

  /** Withdraws unsigned cases and draws (or names) their new readers, in one transaction, recorded and audited. */
  private async reassignCases(t: Transaction<Database>, repo: ReviewRepository, actor: Actor, studyId: string, cases: ReviewCaseRow[], o: { reason: string; seed: number; pool: { id: string; username: string }[]; capacity: number; leaving?: string }) {
    for (const c of cases) {
      const signed = await repo.latestSignedRead(c.id);
      if (signed) throw new ReviewError(409, 'review.state', `case ${c.id} (${c.reading_id}) has a signed read: a signed read stands and is not reassigned`, { caseId: c.id });
    }
    const active = await repo.casesOfStudy(studyId, { activeOnly: true });
    const withdrawing = new Set(cases.map((c) => c.id));
    const load: Record<string, number> = {};
    for (const c of active) if (!withdrawing.has(c.id)) load[c.reader_id] = (load[c.reader_id] ?? 0) + 1;
    const bySubject = new Map<string, SubjectSlots>();
    for (const c of cases) {
      const e = bySubject.get(c.subject_uuid) ?? { subjectUuid: c.subject_uuid, readingId: c.reading_id, slots: [], exclude: [] };
      e.slots.push(c.slot);
      // not the leaving reader, not the subject's other reader(s)
      e.exclude = [...new Set([...e.exclude, c.reader_id, ...active.filter((a) => a.subject_uuid === c.subject_uuid).map((a) => a.reader_id)])];
      bySubject.set(c.subject_uuid, e);
    }
    const ids = o.pool.map((p) => p.id);
    const plan = planAssignment({ seed: o.seed, subjects: [...bySubject.values()], readers: ids, capacity: o.capacity, load, nextOrder: await repo.nextOrder(ids) });
    const run = await repo.insertRun({ studyId, kind: 'reassign', seed: o.seed, readers: ids, capacity: o.capacity, readersPerSubject: READERS_PER_SUBJECT, algorithm: plan.algorithm, reason: o.reason, result: {}, by: actor.username });
    const made: { from: ReviewCaseRow; to: ReviewCaseRow }[] = [];
    for (const c of cases) {
      await repo.withdrawCase(c.id, { reason: o.reason, by: actor.username });
      const p = plan.cases.find((x) => x.subjectUuid === c.subject_uuid && x.slot === c.slot)!;
      const [n] = await repo.insertCases([{ studyId, ...p, runId: run.id, replaces: c.id }]);
      await repo.setReplacedBy(c.id, n!.id);
      made.push({ from: c, to: n! });
    }
    const name = new Map(o.pool.map((r) => [r.id, r.username]));
    const old = new Map((await repo.usernames(cases.map((c) => c.reader_id))).map((u) => [u.id, u.username]));
    const result = { reason: o.reason, moves: made.map((m) => ({ fromCaseId: m.from.id, toCaseId: m.to.id, readingId: m.to.reading_id, slot: m.to.slot, from: old.get(m.from.reader_id) ?? m.from.reader_id, to: name.get(m.to.reader_id)!, order: m.to.order_index })) };
    await repo.setRunResult(run.id, result);
    await this.audit.append(this.ev(actor, 'assignment.reassign', 'review_assignment_run', run.id, { before: made.map((m) => ({ caseId: m.from.id, readingId: m.from.reading_id, reader: old.get(m.from.reader_id) })), after: result.moves, detail: { studyId, seed: o.seed, capacity: o.capacity, reason: o.reason, leaving: o.leaving ?? null } }), t);
    return { runId: run.id, seed: o.seed, ...result };
  }

  /** Reassigns one case (reason required) to a named reader or one drawn from `readers`. */
  async reassignCase(actor: Actor, caseId: string, body: { reason?: unknown; toReader?: unknown; readers?: unknown; seed?: unknown; capacity?: unknown; requestId?: unknown }) {
    const reason = text(body?.reason, 'reason');
    const seed = body.seed === undefined || body.seed === null ? randomInt(0, 0xffffffff) : checkSeed(body.seed);
    return this.mutate(actor, `reassign:${caseId}`, body.requestId, { ...body, seed }, async (t, repo) => {
      const c = await repo.caseById(caseId);
      if (!c) throw new ReviewError(404, 'review.not-found', 'no such case');
      await repo.lockStudy(c.study_id);
      const cur = await repo.caseById(caseId, true);
      if (!cur || cur.status !== 'active') throw new ReviewError(409, 'review.state', 'this case is not active (already withdrawn)');
      const pool = body.toReader !== undefined ? await this.resolveUsers(repo, [body.toReader], 'reader', 'toReader') : await this.resolveUsers(repo, body.readers, 'reader', 'readers');
      // capacity: as given, else the study's last assignment's
      const lastRun = (await repo.runs(c.study_id)).filter((r) => r.kind === 'assign').pop();
      const capacity = body.capacity !== undefined ? intOf(body.capacity, 'capacity') : lastRun?.capacity ?? 1;
      return this.reassignCases(t, repo, actor, c.study_id, [cur], { reason, seed, pool, capacity: Math.max(1, capacity) });
    });
  }

  /** A reader leaves a study: every unsigned active case of theirs is reassigned (reason required). */
  async withdrawReader(actor: Actor, userId: string, body: { studyId?: unknown; reason?: unknown; readers?: unknown; seed?: unknown; capacity?: unknown; requestId?: unknown }) {
    const studyId = text(body?.studyId, 'studyId', 64);
    const reason = text(body.reason, 'reason');
    const seed = body.seed === undefined || body.seed === null ? randomInt(0, 0xffffffff) : checkSeed(body.seed);
    const capacity = intOf(body.capacity, 'capacity');
    return this.mutate(actor, `withdraw:${userId}`, body.requestId, { ...body, seed }, async (t, repo) => {
      await repo.lockStudy(studyId);
      const [leaving] = await repo.users([userId]);
      if (!leaving) throw new ReviewError(404, 'review.not-found', `no user ${userId}`);
      const pool = (await this.resolveUsers(repo, body.readers, 'reader', 'readers')).filter((p) => p.id !== leaving.id);
      const mine = (await repo.casesOfStudy(studyId, { activeOnly: true })).filter((c) => c.reader_id === leaving.id);
      const open: ReviewCaseRow[] = [];
      let kept = 0;
      for (const c of mine) {
        if (await repo.latestSignedRead(c.id)) kept++;
        else open.push(c);
      }
      if (!open.length) return { runId: null, seed, reason, moves: [], keptSigned: kept };
      const r = await this.reassignCases(t, repo, actor, studyId, open, { reason, seed, pool, capacity, leaving: leaving.username });
      return { ...r, keptSigned: kept };
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // reading

  private async ownCase(repo: ReviewRepository, actor: Actor, caseId: string, forUpdate = false): Promise<ReviewCaseRow> {
    const c = await repo.caseById(caseId, forUpdate);
    if (!c) throw new ReviewError(404, 'review.not-found', 'no such case');
    if (c.reader_id !== actor.id) throw new ReviewError(403, 'review.not-assigned', 'this case is not assigned to you');
    if (c.status !== 'active') throw new ReviewError(403, 'review.not-assigned', `this case was reassigned: ${c.withdrawn_reason ?? ''}`.trim());
    return c;
  }

  private async subjectCtx(repo: ReviewRepository, subjectUuid: string): Promise<SubjectCtx> {
    const subject = await repo.subject(subjectUuid);
    if (!subject) throw new ReviewError(404, 'review.not-found', 'no such subject');
    const rows = await repo.studiesOfSubject(subjectUuid);
    const vols = await repo.volumesOfSubject(subjectUuid);
    const byTp = new Map<string, TimepointCtx>();
    for (const r of rows) {
      let tp = byTp.get(r.time_point_id);
      if (!tp) byTp.set(r.time_point_id, (tp = { timePointId: r.time_point_id, ordinal: 0, date: null, dayFromBaseline: null, studies: [], volumes: [] }));
      const d = ymdToIso(r.study_date);
      if (d && (!tp.date || d < tp.date)) tp.date = d;
      let st = tp.studies.find((s) => s.studyInstanceUid === r.study_uid);
      if (!st) tp.studies.push((st = { studyInstanceUid: r.study_uid, series: [] }));
      if (r.series_uid) st.series.push({ seriesInstanceUid: r.series_uid, modality: r.modality, seriesNumber: r.series_number, selected: r.selected, instances: r.instance_count ?? 0 });
    }
    for (const v of vols) {
      const tp = byTp.get(v.time_point_id);
      if (tp) tp.volumes.push({ volumeId: v.id, seriesInstanceUid: v.series_uid, selected: v.selected, dims: v.dims, spacing: v.spacing, affine: v.affine });
    }
    const tps = [...byTp.values()].sort((a, b) => (a.date ?? '9999') < (b.date ?? '9999') ? -1 : (a.date ?? '9999') > (b.date ?? '9999') ? 1 : a.timePointId < b.timePointId ? -1 : 1);
    const base = tps[0]?.date;
    tps.forEach((tp, i) => {
      tp.ordinal = i;
      tp.dayFromBaseline = tp.date && base ? dayNumber(tp.date) - dayNumber(base) : null;
      tp.volumes.sort((a, b) => Number(!!b.selected) - Number(!!a.selected));
    });
    return { subject, timepoints: tps };
  }

  /** Subject-level facts (real dates) from the study's own latest input, cached per input row. */
  private async factsOf(t: Q, studyId: string, subject: SubjectCtx['subject']): Promise<SubjectFacts> {
    const repo = new EndpointsRepository(t);
    const input = await repo.latestStudyInput(studyId);
    if (input) {
      let m = this.factsCache.get(input.id);
      if (!m) {
        m = new Map();
        for (const s of (await repo.studyInputItems(input, 'subjects')) as StudyInput['subjects']) {
          const { usubjid, randDate, trtStartDate, deathDate, newTherapyDate, lastKnownAliveDate, arm, armCd } = s;
          m.set(usubjid, { usubjid, randDate, trtStartDate, deathDate, newTherapyDate, lastKnownAliveDate, arm, armCd });
        }
        this.factsCache.clear();
        this.factsCache.set(input.id, m);
      }
      const exact = m.get(subject.subject_id);
      if (exact) return exact;
      const suffix = [...m.values()].filter((f) => f.usubjid.endsWith(`-${subject.subject_id}`));
      if (suffix.length === 1) return suffix[0]!;
    }
    return { usubjid: subject.subject_id };
  }

  private async proposalsOf(repo: ReviewRepository, read: ReviewReadRow): Promise<ProposalRow[]> {
    if (!read.ai_run_id) return [];
    return (await repo.lesionProposals(read.ai_run_id)) as unknown as ProposalRow[];
  }

  private async savedTimepoints(repo: ReviewRepository, readId: string): Promise<StoredTimepoint[]> {
    return (await repo.timepointsOfRead(readId)).map((r) => r.assessment as unknown as StoredTimepoint);
  }

  private async manifestations(repo: ReviewRepository, reads: ReviewReadRow[]): Promise<Map<string, Manifestation>> {
    const sigs = await repo.signatures(reads.map((r) => r.signature_id).filter((x): x is string => !!x));
    return new Map(sigs.map((s) => [s.id, manifestation(s)]));
  }

  /** Opens a case: the blinded subject view with the reader's draft. Creates the first read revision on first open. */
  async openCase(actor: Actor, caseId: string) {
    return this.db.transaction().execute(async (t) => {
      const repo = new ReviewRepository(t);
      const c = await this.ownCase(repo, actor, caseId);
      let read = await repo.currentRead(c.id);
      if (!read) read = (await repo.ensureFirstRead(c.id, (await repo.latestTrackRun(c.subject_uuid))?.id ?? null, actor.username)).read;
      const ctx = await this.subjectCtx(repo, c.subject_uuid);
      const view = await this.caseView(t, repo, c, read, ctx);
      const shownIds = [...view.timepoints.flatMap((tp) => tp.proposals.map((p) => p.proposalId)), ...view.slides.flatMap((sl) => (sl.ai ? [sl.ai.proposalId] : []))];
      const fresh = new Set(await repo.markShown(read.id, shownIds));
      // the audit entries last and in one batch: the chain's lock is held from the first append to the commit
      const events: AuditEvent[] = [this.ev(actor, 'case.view', 'review_case', c.id, { detail: { readingId: c.reading_id, readId: read.id, revision: read.revision, version: read.version, status: read.status } })];
      for (const tp of view.timepoints)
        for (const p of tp.proposals)
          if (fresh.has(p.proposalId))
            events.push(this.ev(actor, 'proposal.shown', 'ai_proposal', p.proposalId, { after: { trackingId: p.trackingId, longAxisMm: p.values.longAxisMm ?? null, shortAxisMm: p.values.shortAxisMm ?? null, present: p.values.present ?? null }, detail: { caseId: c.id, readId: read.id, timePointId: tp.timePointId } }));
      for (const sl of view.slides)
        if (sl.ai && fresh.has(sl.ai.proposalId))
          events.push(this.ev(actor, 'proposal.shown', 'ai_proposal', sl.ai.proposalId, { after: { kind: 'slide', ...sl.ai.values }, detail: { caseId: c.id, readId: read.id, slideId: sl.slideId, runId: sl.ai.runId } }));
      await this.appendAll(events, t);
      return view;
    });
  }

  private async caseView(t: Q, repo: ReviewRepository, c: ReviewCaseRow, read: ReviewReadRow, ctx: SubjectCtx) {
    const saved = await this.savedTimepoints(repo, read.id);
    const savedBy = new Map(saved.map((s) => [s.timePointId, s]));
    const proposals = await this.proposalsOf(repo, read);
    const run = read.ai_run_id ? await repo.runById(read.ai_run_id) : undefined;
    const reads = await repo.readsOfCase(c.id);
    const man = await this.manifestations(repo, reads);
    let next = true;
    const timepoints = ctx.timepoints.map((tp) => {
      const isSaved = savedBy.has(tp.timePointId);
      const state: 'saved' | 'next' | 'locked' = isSaved ? 'saved' : next ? 'next' : 'locked';
      if (!isSaved) next = false;
      return {
        timePointId: tp.timePointId,
        ordinal: tp.ordinal,
        visit: tp.ordinal === 0 ? 'BASELINE' : tp.timePointId,
        date: tp.date,
        dayFromBaseline: tp.dayFromBaseline,
        state,
        studies: tp.studies,
        volumes: tp.volumes.map(({ volumeId, seriesInstanceUid, dims, spacing, affine }) => ({ volumeId, seriesInstanceUid, dims, spacing, affine })),
        proposals: state === 'locked' ? [] : proposals.filter((p) => p.time_point_id === tp.timePointId).map((p) => ({ proposalId: p.id, lesionKey: proposalKey(p), trackingUid: p.tracking_uid, trackingId: p.tracking_id, values: p.values })),
        assessment: savedBy.get(tp.timePointId) ?? null,
      };
    });
    const base = saved.find((s) => s.ordinal === 0);
    let recist: unknown = null;
    if (base) {
      try {
        recist = await this.recistOf(t, c, ctx, read, saved);
      } catch (e) {
        if (!(e instanceof ReviewError)) throw e;
        recist = { error: e.message };
      }
    }
    const printedName = (await repo.usernames([c.reader_id]))[0]?.display_name ?? '';
    return {
      caseId: c.id,
      studyId: c.study_id,
      readingId: c.reading_id,
      order: c.order_index,
      read: {
        readId: read.id,
        revision: read.revision,
        version: read.version,
        status: read.status,
        correctionReason: read.correction_reason,
        signature: read.signature_id ? man.get(read.signature_id) ?? null : null,
        history: reads.filter((r) => r.id !== read.id).map((r) => ({ readId: r.id, revision: r.revision, status: r.status, correctionReason: r.correction_reason, signature: r.signature_id ? man.get(r.signature_id) ?? null : null })),
      },
      signing: { meaning: SIGNATURE_MEANING, printedName },
      ai: run ? { runId: run.id, model: run.model } : null,
      timepoints,
      baselineLesions: [...baselineLesions(base).values()],
      slides: await this.slidesView(repo, c.subject_uuid, read.id),
      recist,
    };
  }

  private async recistOf(t: Q, c: ReviewCaseRow, ctx: SubjectCtx, read: { id: string }, tps: StoredTimepoint[]) {
    const repo = new ReviewRepository(t);
    const { endpointSettings } = await this.settingsOf(repo, c.study_id);
    const facts = await this.factsOf(t, c.study_id, ctx.subject);
    const reader = (await repo.usernames([c.reader_id]))[0]?.username ?? c.reader_id;
    const subject = readToSubject(tps, facts, { readId: read.id, reader, evaluator: EVALUATOR, evaluatorId: evaluatorIdOf(c.slot) }, { kind: 'reader', shiftDays: ctx.subject.date_shift_days });
    return recistTable(tps, subject, endpointSettings);
  }

  /** The live RECIST table of the reader's current read (computed by libs/endpoints). */
  async recist(actor: Actor, caseId: string) {
    const repo = new ReviewRepository(this.db);
    const c = await this.ownCase(repo, actor, caseId);
    const read = await repo.currentRead(c.id);
    if (!read) throw new ReviewError(409, 'review.state', 'open the case first (GET /v1/review/cases/:caseId)');
    const tps = await this.savedTimepoints(repo, read.id);
    if (!tps.some((x) => x.ordinal === 0)) return { criteria: null, rows: [], bor: null, confirmedBor: null, pdDate: null, pdTimePointId: null, note: 'save the baseline first' };
    return this.recistOf(this.db, c, await this.subjectCtx(repo, c.subject_uuid), read, tps);
  }

  /** The subject's slides with the newest AI metrics proposal of each and this read's saved assessment. */
  private async slidesView(repo: ReviewRepository, subjectUuid: string, readId: string) {
    const slides = await repo.slidesOfSubject(subjectUuid);
    if (!slides.length) return [];
    const props = new Map((await repo.latestSlideProposals(slides.map((x) => x.id))).map((p) => [p.slide_id, p]));
    const saved = new Map((await repo.slideAssessmentsOfRead(readId)).map((r) => [r.slide_id, r.assessment as unknown as StoredSlideAssessment]));
    return slides.map((sl) => {
      const p = props.get(sl.id);
      return {
        slideId: sl.id,
        width: sl.width,
        height: sl.height,
        mpp: sl.mpp_x ? { x: sl.mpp_x, y: sl.mpp_y } : null,
        dzi: `/v1/slides/${sl.id}.dzi`,
        heatmap: p ? `/v1/ai/slides/${sl.id}/heatmap.png` : null,
        ai: p ? { ...slideAiSnapshot(p as unknown as SlideProposalRow), createdAt: p.created_at } : null,
        assessment: saved.get(sl.id) ?? null,
      };
    });
  }

  /** Saved slide assessments of a read, by slide id. */
  private async savedSlides(repo: ReviewRepository, readId: string): Promise<StoredSlideAssessment[]> {
    return (await repo.slideAssessmentsOfRead(readId)).map((r) => r.assessment as unknown as StoredSlideAssessment);
  }

  /**
   * Saves the reader's decision on one slide's AI pathology metrics (TIL %, tumour fraction, cellularity): accept,
   * override with a value and a reason, or not-evaluable with a reason; the AI proposal's values are stored next to the
   * reader's. Part of the draft (versioned, requestId-safe), of the signed content, and audited per metric.
   */
  async saveSlide(actor: Actor, caseId: string, slideId: string, body: SlideAssessmentInput & { version?: unknown; requestId?: unknown }) {
    const version = intOf(body?.version, 'version');
    return this.mutate(actor, `slide:${caseId}:${slideId}`, body.requestId, body, async (t, repo) => {
      const c = await this.ownCase(repo, actor, caseId, true);
      const read = await repo.currentRead(c.id, true);
      if (!read) throw new ReviewError(409, 'review.state', 'open the case first (GET /v1/review/cases/:caseId)');
      this.checkDraft(read, version);
      const slide = isUuid(slideId) ? (await repo.slidesOfSubject(c.subject_uuid)).find((x) => x.id === slideId) : undefined;
      if (!slide) throw new ReviewError(404, 'review.not-found', `subject ${c.reading_id} has no slide ${slideId}`);
      const latest = (await repo.latestSlideProposals([slide.id]))[0];
      let proposal: SlideProposalRow | null = null;
      if (latest) {
        if (typeof body.proposalId !== 'string') throw invalid('proposalId: the AI metrics proposal you decided on (slides[].ai.proposalId of the case view) is required', { currentProposalId: latest.id });
        const p = await repo.slideProposal(body.proposalId);
        if (!p || p.slide_id !== slide.id) throw invalid(`proposalId ${body.proposalId} is not an AI proposal of slide ${slide.id}`, { currentProposalId: latest.id });
        proposal = p as unknown as SlideProposalRow;
      } else if (body.proposalId !== undefined && body.proposalId !== null) throw invalid(`slide ${slide.id} has no AI proposal: send no proposalId`);
      const stored = normaliseSlideAssessment(body, { slideId: slide.id, proposal });
      const prev = (await this.savedSlides(repo, read.id)).find((x) => x.slideId === slide.id);
      await repo.upsertSlideAssessment({ readId: read.id, slideId: slide.id, proposalId: proposal?.id ?? null, assessment: stored, by: actor.username });
      const bumped = await repo.bumpVersion(read.id, version);
      if (!bumped) throw new ReviewError(409, 'review.stale-version', 'this read was changed meanwhile: reload the case; your change was not saved');
      const before = new Map(prev?.metrics.map((m) => [m.metric, m]) ?? []);
      for (const m of stored.metrics) {
        const p = before.get(m.metric);
        if (p && p.decision === m.decision && p.reader === m.reader && p.reason === m.reason && p.ai === m.ai) continue;
        await this.audit.append(
          this.ev(actor, `slide-metric.${m.decision}`, 'review_read', read.id, {
            before: p ? { decision: p.decision, value: p.reader, reason: p.reason } : { ai: m.ai },
            after: { decision: m.decision, value: m.reader, reason: m.reason },
            detail: { caseId: c.id, readingId: c.reading_id, slideId: slide.id, metric: m.metric, unit: m.unit, proposalId: proposal?.id ?? null, runId: proposal?.run_id ?? null, ai: m.ai, resaved: !!p },
          }),
          t,
        );
      }
      await this.audit.append(this.ev(actor, 'slide.save', 'review_read', read.id, { before: prev ? { metrics: prev.metrics.map((m) => ({ metric: m.metric, decision: m.decision, value: m.reader })) } : null, after: { metrics: stored.metrics.map((m) => ({ metric: m.metric, decision: m.decision, value: m.reader })), comment: stored.comment }, detail: { caseId: c.id, readingId: c.reading_id, slideId: slide.id, proposalId: proposal?.id ?? null, revision: read.revision, version: bumped.version } }), t);
      return { caseId: c.id, readId: read.id, version: bumped.version, slide: stored };
    });
  }

  private checkDraft(read: ReviewReadRow, version: number) {
    if (read.status === 'signed')
      throw new ReviewError(409, 'review.read-signed', `this read (revision ${read.revision}) is signed and cannot be changed; a correction is a new revision with a reason (POST /v1/review/cases/:caseId/corrections)`, { currentVersion: read.version });
    if (read.version !== version)
      throw new ReviewError(409, 'review.stale-version', `this read was changed since you loaded it (you sent version ${version}, it is now version ${read.version}, e.g. from another tab): reload the case; your change was not saved`, { currentVersion: read.version, sentVersion: version });
  }

  /** Saves one timepoint of the reader's draft (baseline first; every proposal decided; versioned). */
  async saveTimepoint(actor: Actor, caseId: string, timePointId: string, body: TimepointInput & { version?: unknown; requestId?: unknown }) {
    const version = intOf(body?.version, 'version');
    return this.mutate(actor, `save:${caseId}:${timePointId}`, body.requestId, body, async (t, repo) => {
      const c = await this.ownCase(repo, actor, caseId, true);
      const read = await repo.currentRead(c.id, true);
      if (!read) throw new ReviewError(409, 'review.state', 'open the case first (GET /v1/review/cases/:caseId)');
      this.checkDraft(read, version);
      const ctx = await this.subjectCtx(repo, c.subject_uuid);
      const tp = ctx.timepoints.find((x) => x.timePointId === timePointId);
      if (!tp) throw new ReviewError(404, 'review.not-found', `subject ${c.reading_id} has no timepoint ${timePointId}`);
      if (!tp.date) throw new ReviewError(409, 'review.state', `timepoint ${timePointId} has no study date; it cannot be assessed`);
      const saved = await this.savedTimepoints(repo, read.id);
      const savedIds = new Set(saved.map((s) => s.timePointId));
      const earlier = ctx.timepoints.filter((x) => x.ordinal < tp.ordinal && !savedIds.has(x.timePointId));
      if (earlier.length)
        throw new ReviewError(409, 'review.timepoint-order', `timepoints are read in order, baseline first: save ${earlier.map((e) => (e.ordinal === 0 ? `the baseline (${e.timePointId})` : e.timePointId)).join(', ')} before ${timePointId}`, { missing: earlier.map((e) => e.timePointId) });
      const others = saved.filter((s) => s.timePointId !== timePointId);
      const baseline = tp.ordinal === 0 ? new Map() : baselineLesions(others.find((s) => s.ordinal === 0));
      const knownAdded = new Map<string, { label: string; organ: string; nodal: boolean }>();
      const usedLabels = new Set<string>();
      for (const s of others)
        for (const l of s.lesions) {
          if (!l.proposalId) usedLabels.add(l.label);
          if (l.classification && !baseline.has(l.lesionKey) && s.ordinal !== 0) knownAdded.set(l.lesionKey, { label: l.label, organ: l.organ, nodal: l.nodal });
        }
      const stored = normaliseTimepoint(body, {
        timePointId,
        ordinal: tp.ordinal,
        date: tp.date,
        dayFromBaseline: tp.dayFromBaseline ?? 0,
        proposals: (await this.proposalsOf(repo, read)).filter((p) => p.time_point_id === timePointId),
        baseline,
        usedLabels,
        knownAdded,
        volumes: tp.volumes,
        newKey: () => `reader:${randomUUID()}`,
      });
      // the endpoint engine on the read so far (refuses e.g. > 2 targets per organ before anything is saved)
      const all = [...others, stored].sort((a, b) => a.ordinal - b.ordinal);
      const recist = await this.recistOf(t, c, ctx, read, all);
      const prev = saved.find((s) => s.timePointId === timePointId);
      await repo.upsertTimepoint({ readId: read.id, timePointId, ordinal: tp.ordinal, assessment: stored, by: actor.username });
      const bumped = await repo.bumpVersion(read.id, version);
      if (!bumped) throw new ReviewError(409, 'review.stale-version', 'this read was changed meanwhile: reload the case; your change was not saved');
      await this.auditLesions(t, actor, c, read, stored, prev);
      await this.audit.append(this.ev(actor, 'timepoint.save', 'review_read', read.id, { before: prev ? { newLesions: prev.newLesions, lesions: prev.lesions.length } : null, after: { newLesions: stored.newLesions, lesions: stored.lesions.length, overallResponse: stored.overallResponse }, detail: { caseId: c.id, readingId: c.reading_id, timePointId, revision: read.revision, version: bumped.version } }), t);
      return { caseId: c.id, readId: read.id, version: bumped.version, timepoint: stored, recist };
    });
  }

  /** lesion.accept / edit / reject / add with the AI's (or the previously saved) value before and the reader's after. */
  private async auditLesions(t: Q, actor: Actor, c: ReviewCaseRow, read: ReviewReadRow, stored: StoredTimepoint, prev: StoredTimepoint | undefined) {
    const value = (l: StoredLesion) =>
      l.decision === 'reject'
        ? { rejected: true, reason: l.reason }
        : { classification: l.classification, organ: l.organ, nodal: l.nodal, value: l.reader?.value ?? null, longAxisMm: l.reader?.longAxisMm ?? null, shortAxisMm: l.reader?.shortAxisMm ?? null, diameterMm: l.reader?.diameterMm ?? null, status: l.reader?.status ?? null, equivocal: l.reader?.equivocal ?? false, longAxis: l.reader?.longAxis ?? null, shortAxis: l.reader?.shortAxis ?? null, from: l.reader?.from ?? null };
    const aiValue = (l: StoredLesion) => (l.ai ? { proposalId: l.ai.proposalId, longAxisMm: l.ai.longAxisMm, shortAxisMm: l.ai.shortAxisMm, present: l.ai.present, organ: l.ai.organ, nodal: l.ai.nodal, status: l.ai.status } : null);
    const before = new Map(prev?.lesions.map((l) => [l.lesionKey, l]) ?? []);
    for (const l of stored.lesions) {
      const p = before.get(l.lesionKey);
      const after = value(l);
      if (p && p.decision === l.decision && JSON.stringify(value(p)) === JSON.stringify(after)) continue;
      await this.audit.append(
        this.ev(actor, `lesion.${l.decision}`, 'review_read', read.id, {
          before: p ? { decision: p.decision, ...value(p) } : aiValue(l),
          after: { ...after, ...(l.decision === 'edit' && l.reason ? { reason: l.reason } : {}) },
          detail: { caseId: c.id, readingId: c.reading_id, timePointId: stored.timePointId, lesionKey: l.lesionKey, label: l.label, proposalId: l.proposalId, ai: aiValue(l), resaved: !!p },
        }),
        t,
      );
    }
  }

  /** Signs the reader's current draft (password re-entered): immutable from then on; may trigger adjudication. */
  async sign(actor: Actor, caseId: string, body: { version?: unknown; password?: unknown; meaning?: unknown; requestId?: unknown }) {
    const version = intOf(body?.version, 'version');
    if (body.meaning !== SIGNATURE_MEANING) throw invalid(`meaning: the signature's meaning must be shown to the signer and sent back exactly: "${SIGNATURE_MEANING}"`);
    if (typeof body.password !== 'string' || !body.password) throw invalid('password: re-enter your password to sign');
    await this.checkSigner(actor, body.password, 'read', caseId);
    return this.mutate(actor, `sign:${caseId}`, body.requestId, body, async (t, repo) => {
      // signatures of a study are serialised: the second of two readers signing at once sees the first's read
      // (comparison) and every feed input is built from all committed results
      const pre = await this.ownCase(repo, actor, caseId);
      await repo.lockStudy(pre.study_id);
      const c = await this.ownCase(repo, actor, caseId, true);
      const read = await repo.currentRead(c.id, true);
      if (!read) throw new ReviewError(409, 'review.state', 'open the case first (GET /v1/review/cases/:caseId)');
      this.checkDraft(read, version);
      const ctx = await this.subjectCtx(repo, c.subject_uuid);
      const saved = await this.savedTimepoints(repo, read.id);
      const savedIds = new Set(saved.map((s) => s.timePointId));
      const missing = ctx.timepoints.filter((x) => !savedIds.has(x.timePointId));
      if (missing.length) throw new ReviewError(409, 'review.incomplete', `save every timepoint before signing: ${missing.map((m) => m.timePointId).join(', ')} not saved`, { missing: missing.map((m) => m.timePointId) });
      const bl = baselineLesions(saved.find((s) => s.ordinal === 0));
      for (const s of saved.filter((x) => x.ordinal > 0)) {
        const keys = new Set(s.lesions.map((l) => l.lesionKey));
        const gone = [...bl.values()].filter((b) => !keys.has(b.lesionKey));
        if (gone.length) throw new ReviewError(409, 'review.incomplete', `the baseline changed after ${s.timePointId} was saved: save ${s.timePointId} again (it does not assess ${gone.map((g) => g.label).join(', ')})`, { timePointId: s.timePointId });
      }
      const tps = saved.sort((a, b) => a.ordinal - b.ordinal);
      const recist = await this.recistOf(t, c, ctx, read, tps);
      // slide metrics reviews: what was assessed, and which slides with AI metrics were not (both signed)
      const slides = await this.savedSlides(repo, read.id);
      const subjectSlides = await repo.slidesOfSubject(c.subject_uuid);
      const withAi = new Set((await repo.latestSlideProposals(subjectSlides.map((x) => x.id))).map((p) => p.slide_id));
      const slidesNotReviewed = subjectSlides.filter((x) => withAi.has(x.id) && !slides.some((a) => a.slideId === x.id)).map((x) => x.id);
      const signedAt = new Date();
      const content = {
        kind: 'bicr-read',
        readId: read.id,
        caseId: c.id,
        revision: read.revision,
        studyId: c.study_id,
        readingId: c.reading_id,
        slot: c.slot,
        signer: { id: actor.id, username: actor.username, printedName: actor.displayName },
        correctionReason: read.correction_reason,
        aiRunId: read.ai_run_id,
        timepoints: tps,
        slides,
        slidesNotReviewed,
        derived: { bor: recist.bor, confirmedBor: recist.confirmedBor, pdDate: recist.pdDate, pdTimePointId: recist.pdTimePointId },
        meaning: SIGNATURE_MEANING,
        signedAt: signedAt.toISOString(),
      };
      const sha = contentSha256(content);
      const sig = await repo.insertSignature({ entityType: 'read', entityId: read.id, signerId: actor.id, signerUsername: actor.username, printedName: actor.displayName, meaning: SIGNATURE_MEANING, signedAt, contentSha256: sha, content });
      const done = await repo.markSigned(read.id, version, { signatureId: sig.id, contentSha256: sha, signedAt });
      if (!done) throw new ReviewError(409, 'review.stale-version', 'this read was changed meanwhile: reload the case; it was not signed');
      const m = manifestation(sig);
      await this.audit.append(this.ev(actor, 'read.sign', 'review_read', read.id, { after: { ...m, revision: read.revision, version: done.version }, detail: { caseId: c.id, readingId: c.reading_id, correctionReason: read.correction_reason } }), t);
      await this.afterReadSigned(t, actor, c);
      return { caseId: c.id, readId: read.id, revision: read.revision, version: done.version, status: 'signed' as const, signature: m };
    });
  }

  private async checkSigner(actor: Actor, password: string, entity: string, entityId: string) {
    if (!(await this.verifyPassword(actor.id, password))) {
      await this.audit.append(this.ev(actor, entity === 'read' ? 'read.sign.refused' : 'adjudication.sign.refused', entity === 'read' ? 'review_case' : 'review_adjudication', entityId, { detail: { reason: 'invalid password' } }));
      throw new ReviewError(403, 'signature.invalid-password', 'the password is not correct: nothing was signed (repeated failures lock the account)');
    }
  }

  /** Starts a correction of a signed read: a new draft revision (copy of the signed one) with a mandatory reason. */
  async startCorrection(actor: Actor, caseId: string, body: { version?: unknown; reason?: unknown; requestId?: unknown }) {
    const version = intOf(body?.version, 'version');
    const reason = text(body.reason, 'reason');
    return this.mutate(actor, `correct:${caseId}`, body.requestId, body, async (t, repo) => {
      const c = await this.ownCase(repo, actor, caseId, true);
      const read = await repo.currentRead(c.id, true);
      if (!read || read.status !== 'signed') throw new ReviewError(409, 'review.state', 'only a signed read is corrected; this one is still a draft: edit it directly');
      if (read.version !== version) throw new ReviewError(409, 'review.stale-version', `this read was changed since you loaded it (you sent version ${version}, it is now version ${read.version}): reload the case`, { currentVersion: read.version, sentVersion: version });
      const next = await repo.insertRead({ caseId: c.id, revision: read.revision + 1, version: read.version + 1, aiRunId: read.ai_run_id, correctionReason: reason, supersedes: read.id, by: actor.username });
      await repo.copyTimepoints(read.id, next.id, actor.username);
      await repo.copySlideAssessments(read.id, next.id, actor.username);
      await this.audit.append(this.ev(actor, 'read.correction', 'review_read', next.id, { before: { readId: read.id, revision: read.revision, contentSha256: read.content_sha256 }, after: { readId: next.id, revision: next.revision, version: next.version }, detail: { caseId: c.id, readingId: c.reading_id, reason } }), t);
      return { caseId: c.id, readId: next.id, revision: next.revision, version: next.version, status: 'draft' as const, correctionReason: reason };
    });
  }

  /** Every revision of a case's read with its timepoints and signature manifestation (and a re-check of its hash). */
  async exportCase(actor: Actor, caseId: string) {
    const repo = new ReviewRepository(this.db);
    const c = actor.roles.includes('admin') ? await repo.caseById(caseId) : await this.ownCase(repo, actor, caseId);
    if (!c) throw new ReviewError(404, 'review.not-found', 'no such case');
    const reads = await repo.readsOfCase(c.id);
    const sigs = new Map((await repo.signatures(reads.map((r) => r.signature_id).filter((x): x is string => !!x))).map((s) => [s.id, s]));
    const out = [];
    for (const r of reads) {
      const tps = await this.savedTimepoints(repo, r.id);
      const slides = await this.savedSlides(repo, r.id);
      const s = r.signature_id ? sigs.get(r.signature_id) : undefined;
      out.push({
        readId: r.id,
        revision: r.revision,
        status: r.status,
        correctionReason: r.correction_reason,
        timepoints: tps,
        slides,
        signature: s ? manifestation(s) : null,
        // the stored timepoints and slide assessments still hash to what was signed
        signatureValid: s ? this.signatureIntact(s, tps, slides) : null,
      });
    }
    return { caseId: c.id, studyId: c.study_id, readingId: c.reading_id, slot: c.slot, reads: out };
  }

  private signatureIntact(s: ReviewSignatureRow, tps: StoredTimepoint[], slides: StoredSlideAssessment[]): boolean {
    const content = s.content as Record<string, unknown>;
    // reads signed before slide reviews existed carry no `slides`: then there must be none stored
    const signedSlides = (content.slides as unknown[] | undefined) ?? [];
    return contentSha256(content) === s.content_sha256 && canonicalJson(content.timepoints) === canonicalJson([...tps].sort((a, b) => a.ordinal - b.ordinal)) && canonicalJson(signedSlides) === canonicalJson(slides);
  }

  // ------------------------------------------------------------------------------------------------------------
  // comparison, adjudication, feed

  /** A subject's reads as the engine sees them (latest signed revision of each active case, by slot). */
  private async signedReadsOf(repo: ReviewRepository, subjectUuid: string) {
    const cases = await repo.activeCasesOfSubject(subjectUuid);
    const out: { c: ReviewCaseRow; read: ReviewReadRow; tps: StoredTimepoint[]; username: string }[] = [];
    const names = new Map((await repo.usernames(cases.map((c) => c.reader_id))).map((u) => [u.id, u.username]));
    for (const c of cases) {
      const read = await repo.latestSignedRead(c.id);
      if (read) out.push({ c, read, tps: await this.savedTimepoints(repo, read.id), username: names.get(c.reader_id) ?? c.reader_id });
    }
    return { cases, signed: out };
  }

  private outcomeOf(tps: StoredTimepoint[], facts: SubjectFacts, readId: string, reader: string, slot: number, shiftDays: number, settings: ProtocolSettings): ReadOutcome {
    const subject = readToSubject(tps, facts, { readId, reader, evaluator: EVALUATOR, evaluatorId: evaluatorIdOf(slot) }, { kind: 'reader', shiftDays });
    return readOutcome(subject, settings);
  }

  /** After a signature: compare the subject's two signed reads (once per pair), open an adjudication on disagreement, refresh the feed. */
  private async afterReadSigned(t: Transaction<Database>, actor: Actor, c: ReviewCaseRow) {
    const repo = new ReviewRepository(t);
    const { rules, endpointSettings, adjudicators } = await this.settingsOf(repo, c.study_id);
    const { cases, signed } = await this.signedReadsOf(repo, c.subject_uuid);
    if (cases.length >= READERS_PER_SUBJECT && signed.length === cases.length) {
      const [a, b] = signed.sort((x, y) => x.c.slot - y.c.slot) as [(typeof signed)[number], (typeof signed)[number]];
      if (!(await repo.comparisonByReads(a.read.id, b.read.id))) {
        const subj = (await repo.subject(c.subject_uuid))!;
        const facts = await this.factsOf(t, c.study_id, subj);
        const oa = this.outcomeOf(a.tps, facts, a.read.id, a.username, a.c.slot, subj.date_shift_days, endpointSettings);
        const ob = this.outcomeOf(b.tps, facts, b.read.id, b.username, b.c.slot, subj.date_shift_days, endpointSettings);
        const disagreements = compareOutcomes(oa, ob, rules);
        const cmp = (await repo.insertComparison({ studyId: c.study_id, subjectUuid: c.subject_uuid, read1Id: a.read.id, read2Id: b.read.id, agree: disagreements.length === 0, rules, detail: { read1: oa, read2: ob, disagreements } }))!;
        for (const old of await repo.openAdjudicationsOfSubject(c.subject_uuid)) {
          await repo.updateAdjudication(old.id, old.version, { status: 'cancelled', cancelled_reason: 'superseded: a read of this subject was corrected and signed again' });
          await this.audit.append(this.ev(actor, 'adjudication.cancel', 'review_adjudication', old.id, { detail: { readingId: c.reading_id, reason: 'superseded by a corrected read', comparisonId: cmp.id } }), t);
        }
        if (disagreements.length) {
          const adjudicatorId = await this.pickAdjudicator(repo, adjudicators, cases.map((x) => x.reader_id));
          const adj = await repo.insertAdjudication({ studyId: c.study_id, subjectUuid: c.subject_uuid, readingId: c.reading_id, comparisonId: cmp.id, adjudicatorId });
          await this.audit.append(this.ev(actor, 'adjudication.create', 'review_adjudication', adj.id, { after: { readingId: c.reading_id, disagreements, adjudicatorId, reads: [a.read.id, b.read.id] }, detail: { comparisonId: cmp.id, rules } }), t);
        }
      }
    }
    await this.refreshReaderFeed(t, actor, c.study_id, c.reader_id);
    await this.refreshBicrFeed(t, actor, c.study_id);
  }

  /** The eligible adjudicator (never a reader of the subject) with the fewest open tasks; null = open to any adjudicator. */
  private async pickAdjudicator(repo: ReviewRepository, adjudicators: string[], readers: string[]): Promise<string | null> {
    const eligible = adjudicators.filter((a) => !readers.includes(a));
    if (!eligible.length) return null;
    const load = new Map((await repo.openLoad(eligible)).map((r) => [r.adjudicator_id, Number(r.n)]));
    return [...eligible].sort((x, y) => (load.get(x) ?? 0) - (load.get(y) ?? 0) || (x < y ? -1 : 1))[0]!;
  }

  private async storeInput(t: Transaction<Database>, actor: Actor, studyId: string, source: string, input: StudyInput) {
    const repo = new EndpointsRepository(t);
    // the database clock at insert time (not the transaction's start): the latest input is the one built last
    const { row, created } = await repo.addStudyInput({ study_id: studyId, source, issues: '[]', created_by: actor.username, created_at: sql<Date>`clock_timestamp()` as never }, input as unknown as Record<string, unknown>, canonicalJson);
    const sha = row.input_sha256;
    if (created) await this.audit.append(this.ev(actor, 'review.feed', 'study_input', row.id, { after: { studyId, source, sha256: sha, subjects: input.subjects.length } }), t);
    return { studyId, inputId: row.id, sha256: sha, subjects: input.subjects.length, created };
  }

  private async subjectOfRead(t: Q, studyId: string, subjectUuid: string, tps: StoredTimepoint[], prov: Parameters<typeof readToSubject>[2]): Promise<SubjectInput> {
    const subj = (await new ReviewRepository(t).subject(subjectUuid))!;
    const facts = await this.factsOf(t, studyId, subj);
    return readToSubject(tps, facts, prov, { kind: 'real', shiftDays: subj.date_shift_days });
  }

  /** `<study>.READER-<username>`: every subject the reader has signed (latest signed revision). */
  private async refreshReaderFeed(t: Transaction<Database>, actor: Actor, studyId: string, readerId: string) {
    const repo = new ReviewRepository(t);
    const username = (await repo.usernames([readerId]))[0]?.username;
    if (!username) return null;
    const subjects: SubjectInput[] = [];
    for (const c of (await repo.casesOfStudy(studyId)).filter((x) => x.reader_id === readerId)) {
      const read = await repo.latestSignedRead(c.id);
      if (!read) continue;
      subjects.push(await this.subjectOfRead(t, studyId, c.subject_uuid, await this.savedTimepoints(repo, read.id), { readId: read.id, reader: username, evaluator: EVALUATOR, evaluatorId: evaluatorIdOf(c.slot) }));
    }
    if (!subjects.length) return null;
    subjects.sort((a, b) => (a.usubjid < b.usubjid ? -1 : 1));
    const id = readerStudyId(studyId, username);
    return this.storeInput(t, actor, id, 'review-reader', { studyId: id, reviewProvenance: true, subjects });
  }

  /** BICR result of each subject: READ 1 when the reads agree, the adjudicator's choice otherwise (pending until decided). */
  private async bicrResults(repo: ReviewRepository, studyId: string) {
    const out: { subjectUuid: string; read: ReviewReadRow; slot: number; reader: string; adjudicator: string | null; selection: string; adjudicated: boolean; compared: [string, string] }[] = [];
    for (const cmp of await repo.latestComparisons(studyId)) {
      let chosen: { readId: string; adjudicatorId: string | null; how: string } | undefined;
      if (cmp.agree) chosen = { readId: cmp.read1_id, adjudicatorId: null, how: 'AGREEMENT' };
      else {
        const adj = await repo.adjudicationByComparison(cmp.id);
        if (adj?.status === 'decided' && adj.selected_read_id) chosen = { readId: adj.selected_read_id, adjudicatorId: adj.adjudicator_id, how: 'ADJUDICATION' };
      }
      if (!chosen) continue;
      const read = (await repo.readById(chosen.readId))!;
      const c = (await repo.caseById(read.case_id))!;
      const names = new Map((await repo.usernames([c.reader_id, ...(chosen.adjudicatorId ? [chosen.adjudicatorId] : [])])).map((u) => [u.id, u.username]));
      out.push({
        subjectUuid: cmp.subject_uuid,
        read,
        slot: c.slot,
        reader: names.get(c.reader_id) ?? c.reader_id,
        adjudicator: chosen.adjudicatorId ? names.get(chosen.adjudicatorId) ?? chosen.adjudicatorId : null,
        selection: chosen.how === 'AGREEMENT' ? `AGREEMENT: ${evaluatorIdOf(c.slot)}` : `ADJUDICATION: ${evaluatorIdOf(c.slot)} SELECTED`,
        adjudicated: chosen.how === 'ADJUDICATION',
        compared: [cmp.read1_id, cmp.read2_id],
      });
    }
    return out;
  }

  /**
   * `<study>.BICR`: every subject with a BICR result, plus both signed reads of each (`reads`, origin REVIEW: each
   * read's assessments and its decisions on the AI proposals) and how the result was chosen, so a cut of it carries the
   * reader-level datasets ADTRRDR / ADRSRDR and its report the reader agreement and the AI effect.
   */
  private async refreshBicrFeed(t: Transaction<Database>, actor: Actor, studyId: string) {
    const repo = new ReviewRepository(t);
    const subjects: SubjectInput[] = [];
    const reads: SubjectRead[] = [];
    const selections: NonNullable<StudyInputWithReads['reads']>['selections'] = [];
    const results = await this.bicrResults(repo, studyId);
    for (const r of results) {
      let usubjid = '';
      for (const readId of r.compared) {
        const read = (await repo.readById(readId))!;
        const c = (await repo.caseById(read.case_id))!;
        const reader = (await repo.usernames([c.reader_id]))[0]?.username ?? c.reader_id;
        const tps = await this.savedTimepoints(repo, read.id);
        const prov = { readId: read.id, reader, evaluator: EVALUATOR, evaluatorId: evaluatorIdOf(c.slot) };
        const subj = await this.subjectOfRead(t, studyId, r.subjectUuid, tps, prov);
        usubjid = subj.usubjid;
        reads.push({ usubjid: subj.usubjid, evaluator: EVALUATOR, evaluatorId: prov.evaluatorId, reader, readId: read.id, assessments: subj.assessments, aiDecisions: readAiDecisions(tps) });
      }
      selections.push({ usubjid, adjudicated: r.adjudicated, selected: evaluatorIdOf(r.slot), ...(r.adjudicator ? { adjudicator: r.adjudicator } : {}) });
    }
    for (const r of results)
      subjects.push(
        await this.subjectOfRead(t, studyId, r.subjectUuid, await this.savedTimepoints(repo, r.read.id), {
          readId: r.read.id,
          reader: r.reader,
          evaluator: EVALUATOR,
          evaluatorId: evaluatorIdOf(r.slot),
          ...(r.adjudicator ? { adjudicator: r.adjudicator } : {}),
          selection: r.selection,
        }),
      );
    if (!subjects.length) return null;
    subjects.sort((a, b) => (a.usubjid < b.usubjid ? -1 : 1));
    const id = bicrStudyId(studyId);
    reads.sort((a, b) => (a.usubjid < b.usubjid ? -1 : a.usubjid > b.usubjid ? 1 : a.evaluatorId < b.evaluatorId ? -1 : 1));
    selections.sort((a, b) => (a.usubjid < b.usubjid ? -1 : 1));
    const input: StudyInputWithReads = { studyId: id, reviewProvenance: true, subjects, reads: { origin: 'REVIEW', reads, selections } };
    return this.storeInput(t, actor, id, 'review-bicr', input);
  }

  /** Rebuilds every per-reader input and the BICR input of a study (admin). */
  rebuildFeed(actor: Actor, studyId: string) {
    return this.db.transaction().execute(async (t) => {
      const repo = new ReviewRepository(t);
      await repo.lockStudy(studyId);
      const readers = [...new Set((await repo.casesOfStudy(studyId)).map((c) => c.reader_id))].sort();
      const inputs = [];
      for (const r of readers) {
        const x = await this.refreshReaderFeed(t, actor, studyId, r);
        if (x) inputs.push(x);
      }
      const b = await this.refreshBicrFeed(t, actor, studyId);
      if (b) inputs.push(b);
      return { studyId, inputs };
    });
  }

  private async adjudicationFor(repo: ReviewRepository, actor: Actor, id: string, forUpdate = false): Promise<ReviewAdjudicationRow> {
    const a = await repo.adjudicationById(id, forUpdate);
    if (!a) throw new ReviewError(404, 'review.not-found', 'no such adjudication task');
    if (a.adjudicator_id === actor.id) return a;
    if (a.adjudicator_id) throw new ReviewError(403, 'review.not-assigned', 'this adjudication task is assigned to another adjudicator');
    const readers = await repo.activeCasesOfSubject(a.subject_uuid);
    const everRead = (await repo.casesOfStudy(a.study_id)).some((c) => c.subject_uuid === a.subject_uuid && c.reader_id === actor.id);
    if (everRead || readers.some((c) => c.reader_id === actor.id)) throw new ReviewError(403, 'review.not-assigned', 'you read this subject: someone else adjudicates it');
    return a;
  }

  /** Tasks for an adjudicator (assigned to them, or open to any adjudicator who did not read the subject); all for admins. */
  async listAdjudications(actor: Actor, q: { studyId?: string; status?: string }) {
    const repo = new ReviewRepository(this.db);
    const isAdmin = actor.roles.includes('admin');
    const rows = await repo.adjudications({ studyId: q.studyId, status: q.status, ...(isAdmin ? {} : { openTo: actor.id }) });
    return { items: rows.map((a) => ({ adjudicationId: a.id, studyId: a.study_id, readingId: a.reading_id, status: a.status, version: a.version, assignedToMe: a.adjudicator_id === actor.id, assigned: !!a.adjudicator_id, createdAt: a.created_at, decidedAt: a.decided_at })) };
  }

  /** Both reads of a disagreement, blinded (READ 1 / READ 2, pseudonymised dates, no arm or site); claims an open task. */
  openAdjudication(actor: Actor, id: string) {
    return this.db.transaction().execute(async (t) => {
      const repo = new ReviewRepository(t);
      let a = await this.adjudicationFor(repo, actor, id, true);
      let claimed = false;
      if (!a.adjudicator_id && a.status === 'open') {
        a = (await repo.updateAdjudication(a.id, a.version, { adjudicator_id: actor.id }))!;
        claimed = true;
      }
      const view = await this.adjudicationView(t, repo, a);
      await this.audit.append(this.ev(actor, 'adjudication.view', 'review_adjudication', a.id, { detail: { readingId: a.reading_id, claimed, status: a.status } }), t);
      return view;
    });
  }

  private async adjudicationView(t: Q, repo: ReviewRepository, a: ReviewAdjudicationRow) {
    const cmp = (await repo.comparisonById(a.comparison_id))!;
    const ctx = await this.subjectCtx(repo, a.subject_uuid);
    const { endpointSettings } = await this.settingsOf(repo, a.study_id);
    const facts = await this.factsOf(t, a.study_id, ctx.subject);
    const reads = [];
    for (const [slot, readId] of [[1, cmp.read1_id], [2, cmp.read2_id]] as const) {
      const read = (await repo.readById(readId))!;
      const tps = await this.savedTimepoints(repo, read.id);
      const sig = read.signature_id ? (await repo.signatures([read.signature_id]))[0] : undefined;
      const subject = readToSubject(tps, facts, { readId: read.id, reader: `READ ${slot}`, evaluator: EVALUATOR, evaluatorId: evaluatorIdOf(slot) }, { kind: 'reader', shiftDays: ctx.subject.date_shift_days });
      reads.push({ read: slot, label: `READ ${slot}`, readId: read.id, revision: read.revision, correctionReason: read.correction_reason, signature: sig ? manifestation(sig) : null, timepoints: tps, slides: await this.savedSlides(repo, read.id), recist: recistTable(tps, subject, endpointSettings) });
    }
    const decision = a.signature_id ? (await repo.signatures([a.signature_id]))[0] : undefined;
    return {
      adjudicationId: a.id,
      studyId: a.study_id,
      readingId: a.reading_id,
      status: a.status,
      version: a.version,
      comparison: { rules: cmp.rules, ...(cmp.detail as Record<string, unknown>) },
      timepoints: ctx.timepoints.map((tp) => ({ timePointId: tp.timePointId, ordinal: tp.ordinal, visit: tp.ordinal === 0 ? 'BASELINE' : tp.timePointId, date: tp.date, dayFromBaseline: tp.dayFromBaseline, studies: tp.studies, volumes: tp.volumes.map(({ volumeId, seriesInstanceUid, dims, spacing, affine }) => ({ volumeId, seriesInstanceUid, dims, spacing, affine })) })),
      reads,
      signing: { meaning: SIGNATURE_MEANING },
      decision: a.status === 'decided' ? { selectedRead: a.selected_slot, reason: a.reason, decidedAt: a.decided_at, signature: decision ? manifestation(decision) : null } : null,
    };
  }

  /** The adjudicator picks one read (never an average) with a written reason and signs (password re-entered). */
  async signAdjudication(actor: Actor, id: string, body: { version?: unknown; selectedRead?: unknown; reason?: unknown; password?: unknown; meaning?: unknown; requestId?: unknown }) {
    const version = intOf(body?.version, 'version');
    if (body.selectedRead !== 1 && body.selectedRead !== 2) throw invalid('selectedRead must be 1 or 2 (one of the two reads: reads are never averaged)');
    const reason = text(body.reason, 'reason', 4000);
    if (body.meaning !== SIGNATURE_MEANING) throw invalid(`meaning: the signature's meaning must be shown to the signer and sent back exactly: "${SIGNATURE_MEANING}"`);
    if (typeof body.password !== 'string' || !body.password) throw invalid('password: re-enter your password to sign');
    await this.checkSigner(actor, body.password, 'adjudication', id);
    const slot = body.selectedRead;
    return this.mutate(actor, `adjudicate:${id}`, body.requestId, body, async (t, repo) => {
      const pre = await this.adjudicationFor(repo, actor, id);
      await repo.lockStudy(pre.study_id);
      const a = await this.adjudicationFor(repo, actor, id, true);
      if (a.status !== 'open') throw new ReviewError(409, 'review.state', `this adjudication is ${a.status}${a.cancelled_reason ? ` (${a.cancelled_reason})` : ''}: nothing to sign`);
      if (a.version !== version) throw new ReviewError(409, 'review.stale-version', `this task changed since you loaded it (you sent version ${version}, it is now version ${a.version}): reload it`, { currentVersion: a.version, sentVersion: version });
      const cmp = (await repo.comparisonById(a.comparison_id))!;
      const reads = [(await repo.readById(cmp.read1_id))!, (await repo.readById(cmp.read2_id))!];
      const chosen = reads[slot - 1]!;
      const signedAt = new Date();
      const content = {
        kind: 'bicr-adjudication',
        adjudicationId: a.id,
        studyId: a.study_id,
        readingId: a.reading_id,
        comparisonId: cmp.id,
        rules: cmp.rules,
        disagreements: (cmp.detail as { disagreements: unknown }).disagreements,
        reads: reads.map((r, i) => ({ read: i + 1, readId: r.id, revision: r.revision, contentSha256: r.content_sha256 })),
        selected: { read: slot, readId: chosen.id, contentSha256: chosen.content_sha256 },
        reason,
        signer: { id: actor.id, username: actor.username, printedName: actor.displayName },
        meaning: SIGNATURE_MEANING,
        signedAt: signedAt.toISOString(),
      };
      const sha = contentSha256(content);
      const sig = await repo.insertSignature({ entityType: 'adjudication', entityId: a.id, signerId: actor.id, signerUsername: actor.username, printedName: actor.displayName, meaning: SIGNATURE_MEANING, signedAt, contentSha256: sha, content });
      const done = await repo.updateAdjudication(a.id, version, { status: 'decided', adjudicator_id: actor.id, selected_read_id: chosen.id, selected_slot: slot, reason, signature_id: sig.id, decided_at: signedAt });
      if (!done) throw new ReviewError(409, 'review.stale-version', 'this task changed meanwhile: reload it; nothing was signed');
      const m = manifestation(sig);
      await this.audit.append(this.ev(actor, 'adjudication.sign', 'review_adjudication', a.id, { before: { status: 'open' }, after: { status: 'decided', selectedRead: slot, selectedReadId: chosen.id, reason, ...m }, detail: { readingId: a.reading_id, comparisonId: cmp.id } }), t);
      const bicr = await this.refreshBicrFeed(t, actor, a.study_id);
      return { adjudicationId: a.id, status: 'decided' as const, version: done.version, selectedRead: slot, selectedReadId: chosen.id, reason, signature: m, bicrInput: bicr ? { studyId: bicr.studyId, inputId: bicr.inputId } : null };
    });
  }

  /** Counts per state and the adjudication rate (subjects whose latest comparison disagrees / subjects compared). */
  async summary(studyId: string) {
    const repo = new ReviewRepository(this.db);
    const { rules } = await this.settingsOf(repo, studyId);
    const cmps = await repo.latestComparisons(studyId);
    const s = await repo.studySummary(studyId);
    const byRule: Record<string, number> = {};
    for (const c of cmps) for (const d of (c.detail as { disagreements: { rule: string }[] }).disagreements) byRule[d.rule] = (byRule[d.rule] ?? 0) + 1;
    const disagree = cmps.filter((c) => !c.agree).length;
    const adj = Object.fromEntries(s.adjudications.map((r) => [r.status, Number(r.n)]));
    const cases = s.cases.map((r) => ({ caseStatus: r.status, readStatus: r.read_status ?? 'not-opened', cases: Number(r.n) }));
    const bicr = (await this.bicrResults(repo, studyId)).length;
    return {
      studyId,
      rules,
      cases,
      subjectsCompared: cmps.length,
      subjectsAgreeing: cmps.length - disagree,
      subjectsNeedingAdjudication: disagree,
      adjudicationRate: cmps.length ? Math.round((disagree / cmps.length) * 1000) / 1000 : null,
      disagreementsByRule: byRule,
      adjudications: { open: adj.open ?? 0, decided: adj.decided ?? 0, cancelled: adj.cancelled ?? 0 },
      bicrResults: bicr,
    };
  }

  /** The caller's worklist: their active cases in their recorded order; adjudicators also get their tasks. */
  async worklist(actor: Actor) {
    const repo = new ReviewRepository(this.db);
    const cases = actor.roles.includes('reader')
      ? (await repo.worklist(actor.id)).map((r) => ({
          caseId: r.id,
          studyId: r.study_id,
          readingId: r.reading_id,
          order: r.order_index,
          status: !r.read_id ? 'not-started' : r.read_status === 'signed' ? (Number(r.timepoints ?? 0) > Number(r.saved ?? 0) ? 'signed-new-timepoint' : 'signed') : (r.revision ?? 1) > 1 ? 'correction' : Number(r.saved ?? 0) > 0 ? 'in-progress' : 'not-started',
          timepoints: Number(r.timepoints ?? 0),
          saved: Number(r.saved ?? 0),
          revision: r.revision ?? null,
          version: r.version ?? null,
          signedAt: r.signed_at ?? null,
        }))
      : [];
    const adjudications = actor.roles.includes('adjudicator') ? (await this.listAdjudications({ ...actor, roles: actor.roles.filter((x) => x !== 'admin') }, { status: 'open' })).items : [];
    return { cases, adjudications };
  }
}

export { isUuid };
