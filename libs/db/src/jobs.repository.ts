import { type Expression, type ExpressionBuilder, sql, type SqlBool } from 'kysely';
import type { Db } from './database';
import type { Database, JobRow, JobStatus } from './schema';

/** Ledger statuses plus the derived `stuck` (a row whose worker's lease expired: being recovered). */
export type JobListStatus = JobStatus | 'stuck';

export interface JobDepth {
  waiting: number;
  delayed: number;
  active: number;
  stuck: number;
  failed: number;
}

/**
 * A row is stuck when the process that holds it is gone: `running` with an expired (or, for rows from before leases,
 * no) lease, or — embedded mode, where a queued row lives in its process's memory — `queued` with an expired lease.
 */
function stuckWhere(eb: ExpressionBuilder<Database, 'jobs'>): Expression<SqlBool> {
  return eb.or([
    eb.and([eb('status', '=', 'running'), eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', sql<Date>`now()`)])]),
    // 'is not null' keeps this FALSE, not NULL, for Bull's lease-less queued rows (NOT(NULL) would hide them from depth())
    eb.and([eb('status', '=', 'queued'), eb('lease_until', 'is not', null), eb('lease_until', '<', sql<Date>`now()`)]),
  ]);
}

/** A lease in milliseconds from now, computed by the database (one clock for every worker). */
const leaseFromNow = (ms: number) => sql<Date>`now() + ${`${Math.max(0, Math.round(ms))} milliseconds`}::interval`;

/** All SQL on the `jobs` ledger. The ledger is what makes enqueueing idempotent across processes. */
export class JobsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Claim an idempotency key. Returns the new row, or null when a job with that key already exists
   * (queued, running, completed or failed). A key whose enqueue failed can be claimed again.
   * `owner` + `leaseMs`: embedded mode, where the queued row lives in the claiming process's memory.
   */
  async claim(key: string, name: string, payload: unknown, maxAttempts: number, o: { delayMs?: number; owner?: string; leaseMs?: number } = {}): Promise<JobRow | null> {
    const lease = o.owner && o.leaseMs ? { owner: o.owner, lease_until: leaseFromNow(o.leaseMs) } : { owner: null, lease_until: null };
    const notBefore = o.delayMs ? leaseFromNow(o.delayMs) : null;
    const inserted = await this.db
      .insertInto('jobs')
      .values({ idempotency_key: key, name, payload: JSON.stringify(payload), status: 'queued', max_attempts: maxAttempts, not_before: notBefore, ...lease })
      .onConflict((oc) =>
        oc
          .column('idempotency_key')
          .doUpdateSet({ status: 'queued', error: null, updated_at: sql<Date>`now()`, not_before: notBefore, ...lease })
          .where('jobs.status', '=', 'enqueue-failed'),
      )
      .returningAll()
      .executeTakeFirst();
    return inserted ?? null;
  }

  byKey(key: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('idempotency_key', '=', key).executeTakeFirst();
  }
  byId(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }
  /** The rows of these ids that exist (one query). */
  byIds(ids: readonly string[]): Promise<JobRow[]> {
    return ids.length ? this.db.selectFrom('jobs').selectAll().where('id', 'in', [...ids]).execute() : Promise.resolve([]);
  }

  async update(
    id: string,
    fields: { status?: JobStatus; attempts?: number; progress?: number; error?: string | null; result?: unknown; owner?: string | null; leaseMs?: number | null; transportId?: string },
  ): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({
        updated_at: sql<Date>`now()`,
        ...(fields.status ? { status: fields.status } : {}),
        ...(fields.attempts !== undefined ? { attempts: fields.attempts } : {}),
        ...(fields.progress !== undefined ? { progress: Math.round(fields.progress) } : {}),
        ...(fields.error !== undefined ? { error: fields.error } : {}),
        ...(fields.result !== undefined ? { result: JSON.stringify(fields.result ?? null) } : {}),
        ...(fields.owner !== undefined ? { owner: fields.owner } : {}),
        ...(fields.leaseMs !== undefined ? { lease_until: fields.leaseMs === null ? null : leaseFromNow(fields.leaseMs) } : {}),
        ...(fields.transportId !== undefined ? { transport_id: fields.transportId } : {}),
        ...(fields.status === 'completed' || fields.status === 'failed' ? { finished_at: sql<Date>`now()` } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  /**
   * Start an attempt: the row becomes `running`, owned by `owner` under a lease, and its attempt count goes up (a
   * death is an attempt too). Only a queued row, or a running one whose lease expired (its worker died), can be
   * started: a second delivery of a job that a live worker holds gets `held`; a finished one gets `done`.
   */
  async start(id: string, owner: string, leaseMs: number, opts: { ownRowIdle?: boolean } = {}): Promise<{ row: JobRow; state: 'started' } | { row: JobRow | undefined; state: 'held' | 'done' }> {
    const row = await this.db
      .updateTable('jobs')
      .set({
        status: 'running',
        attempts: sql<number>`attempts + 1`,
        owner,
        lease_until: leaseFromNow(leaseMs),
        started_at: sql<Date>`now()`,
        not_before: null,
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', id)
      // queued; or running under an expired lease (its worker died); or running under this worker's own lease while no
      // attempt of it is in flight here (`ownRowIdle`: an attempt whose end could not be recorded, e.g. the database
      // was restarted at that moment)
      .where((eb) =>
        eb.or([
          eb('status', '=', 'queued'),
          eb.and([eb('status', '=', 'running'), eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', sql<Date>`now()`), ...(opts.ownRowIdle ? [eb('owner', '=', owner)] : [])])]),
        ]),
      )
      .returningAll()
      .executeTakeFirst();
    if (row) return { row, state: 'started' };
    const now = await this.byId(id);
    return { row: now, state: now?.status === 'running' ? 'held' : 'done' };
  }

  /**
   * Record the end of one attempt, fenced by owner and attempt number: a worker whose lease was taken over (its
   * attempt was declared dead and re-run) cannot overwrite the newer attempt's state. Returns false when fenced out.
   */
  async finish(
    id: string,
    fence: { owner: string; attempt: number },
    fields: { status: 'completed' | 'failed' | 'queued'; error?: string | null; result?: unknown; progress?: number; retryInMs?: number; attempts?: number; keepLease?: boolean },
  ): Promise<boolean> {
    // A queued retry keeps its owner and lease in embedded mode (it waits in that process's memory); with Bull it is
    // in Redis, owned by no worker until the next attempt starts.
    const keep = fields.status === 'queued' && fields.keepLease;
    const r = await this.db
      .updateTable('jobs')
      .set({
        status: fields.status,
        updated_at: sql<Date>`now()`,
        lease_until: keep ? sql<Date>`lease_until` : null,
        ...(keep || fields.status !== 'queued' ? {} : { owner: null }),
        ...(fields.status === 'queued' ? { not_before: leaseFromNow(fields.retryInMs ?? 0) } : { finished_at: sql<Date>`now()` }),
        ...(fields.error !== undefined ? { error: fields.error } : {}),
        ...(fields.result !== undefined ? { result: JSON.stringify(fields.result ?? null) } : {}),
        ...(fields.progress !== undefined ? { progress: Math.round(fields.progress) } : {}),
        ...(fields.attempts !== undefined ? { attempts: fields.attempts } : {}),
      })
      .where('id', '=', id)
      .where('owner', '=', fence.owner)
      .where('attempts', '=', fence.attempt)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Progress of the current attempt (fenced: a taken-over worker's progress is dropped). */
  async progress(id: string, fence: { owner: string; attempt: number }, percent: number): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ progress: Math.round(percent), updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .where('owner', '=', fence.owner)
      .where('attempts', '=', fence.attempt)
      .execute();
  }

  /**
   * Heartbeat: renew the lease of the attempts in flight in this worker (`runningIds`) and, embedded, of the queued rows
   * it holds in memory. A `running` row of this owner that is not in flight here (its end could not be recorded, e.g.
   * the database restarted at that moment) is NOT renewed, so it becomes stuck and is recovered. Returns how many.
   */
  async renewLeases(owner: string, leaseMs: number, runningIds: readonly string[] = []): Promise<number> {
    const r = await this.db
      .updateTable('jobs')
      .set({ lease_until: leaseFromNow(leaseMs) })
      .where('owner', '=', owner)
      .where((eb) => eb.or([eb('status', '=', 'queued'), ...(runningIds.length ? [eb.and([eb('status', '=', 'running'), eb('id', 'in', [...runningIds])])] : [])]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Graceful stop (embedded): the queued rows held in this process's memory are released at once (lease ended), so
   * the next process, or a live one, takes them over without waiting for the lease to run out.
   */
  async releaseQueued(owner: string): Promise<number> {
    const r = await this.db
      .updateTable('jobs')
      .set({ lease_until: sql<Date>`now() - interval '1 millisecond'` })
      .where('owner', '=', owner)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Bull: `queued` rows without a lease (in Redis, owned by no worker) not touched for `olderThanMs` and due: the
   * candidates for a lost transport job (a process died between writing the ledger row and adding the Bull job).
   */
  queuedUntouched(olderThanMs: number, limit = 200): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', '=', 'queued')
      .where('lease_until', 'is', null)
      .where('updated_at', '<', sql<Date>`now() - ${`${Math.max(0, Math.round(olderThanMs))} milliseconds`}::interval`)
      .where((eb) => eb.or([eb('not_before', 'is', null), eb('not_before', '<', sql<Date>`now()`)]))
      .orderBy('updated_at')
      .limit(Math.min(limit, 1000))
      .execute();
  }

  /** Rows whose worker died (see stuckWhere), oldest lease first. */
  stuck(limit = 100): Promise<JobRow[]> {
    return this.db
      .selectFrom('jobs')
      .selectAll()
      .where(stuckWhere)
      .orderBy('lease_until', 'asc')
      .orderBy('id')
      .limit(Math.min(limit, 1000))
      .execute();
  }

  /**
   * Take a stuck row over, atomically (several workers may reclaim at once; one wins): back to `queued` for a re-run
   * (`owner`/`leaseMs` in embedded mode, where the row then lives in the reclaimer's memory; `transportId` the new
   * Bull job), or `failed` when its attempts are used up. Returns the updated row, or undefined when another worker
   * won or the row is not stuck any more.
   */
  async reclaim(
    stale: Pick<JobRow, 'id' | 'status' | 'owner' | 'attempts'>,
    to: { status: 'queued' | 'failed'; error: string; owner?: string | null; leaseMs?: number; transportId?: string },
  ): Promise<JobRow | undefined> {
    return this.db
      .updateTable('jobs')
      .set({
        status: to.status,
        error: to.error,
        recoveries: sql<number>`recoveries + 1`,
        updated_at: sql<Date>`now()`,
        owner: to.owner ?? null,
        lease_until: to.owner && to.leaseMs ? leaseFromNow(to.leaseMs) : null,
        ...(to.transportId ? { transport_id: to.transportId } : {}),
        ...(to.status === 'failed' ? { finished_at: sql<Date>`now()` } : {}),
      })
      .where('id', '=', stale.id)
      .where('status', '=', stale.status)
      .where('attempts', '=', stale.attempts)
      .where((eb) => (stale.owner === null ? eb('owner', 'is', null) : eb('owner', '=', stale.owner)))
      .where(stuckWhere)
      .returningAll()
      .executeTakeFirst();
  }

  list(f: { status?: JobListStatus; name?: string; limit?: number } = {}): Promise<JobRow[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (f.status === 'stuck') q = q.where(stuckWhere);
    else if (f.status) q = q.where('status', '=', f.status);
    if (f.name) q = q.where('name', '=', f.name);
    return q.orderBy('created_at', 'asc').orderBy('id').limit(Math.min(f.limit ?? 100, 1000)).execute();
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('jobs').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Rows being recovered right now (a subset of queued/running in countByStatus). */
  async countStuck(): Promise<number> {
    const r = await this.db.selectFrom('jobs').select((eb) => eb.fn.countAll<string>().as('n')).where(stuckWhere).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Queue depth per job type, from the ledger (the same on every transport and every worker). */
  async depth(): Promise<Record<string, JobDepth>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select((eb) => [
        'name',
        eb.fn.countAll<string>().filterWhere((w) => w.and([w('status', '=', 'queued'), w.not(stuckWhere(w)), w.or([w('not_before', 'is', null), w('not_before', '<=', sql<Date>`now()`)])])).as('waiting'),
        eb.fn.countAll<string>().filterWhere((w) => w.and([w('status', '=', 'queued'), w.not(stuckWhere(w)), w('not_before', '>', sql<Date>`now()`)])).as('delayed'),
        eb.fn.countAll<string>().filterWhere((w) => w.and([w('status', '=', 'running'), w.not(stuckWhere(w))])).as('active'),
        eb.fn.countAll<string>().filterWhere(stuckWhere).as('stuck'),
        eb.fn.countAll<string>().filterWhere('status', 'in', ['failed', 'enqueue-failed']).as('failed'),
      ])
      .where('status', 'in', ['queued', 'running', 'failed', 'enqueue-failed'])
      .groupBy('name')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.name, { waiting: Number(r.waiting), delayed: Number(r.delayed), active: Number(r.active), stuck: Number(r.stuck), failed: Number(r.failed) }]));
  }
}
