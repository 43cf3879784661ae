import { sql } from 'kysely';
import type { Db } from './database';
import type { JobRow, JobStatus } from './schema';

/** All SQL on the `jobs` ledger. The ledger is what makes enqueueing idempotent across processes. */
export class JobsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Claim an idempotency key. Returns the new row, or null when a job with that key already exists
   * (queued, running, completed or failed). A key whose enqueue failed can be claimed again.
   */
  async claim(key: string, name: string, payload: unknown, maxAttempts: number): Promise<JobRow | null> {
    const inserted = await this.db
      .insertInto('jobs')
      .values({ idempotency_key: key, name, payload: JSON.stringify(payload), status: 'queued', max_attempts: maxAttempts })
      .onConflict((oc) =>
        oc
          .column('idempotency_key')
          .doUpdateSet({ status: 'queued', error: null, updated_at: sql<Date>`now()` })
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

  async update(id: string, fields: { status?: JobStatus; attempts?: number; progress?: number; error?: string | null; result?: unknown }): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({
        updated_at: sql<Date>`now()`,
        ...(fields.status ? { status: fields.status } : {}),
        ...(fields.attempts !== undefined ? { attempts: fields.attempts } : {}),
        ...(fields.progress !== undefined ? { progress: Math.round(fields.progress) } : {}),
        ...(fields.error !== undefined ? { error: fields.error } : {}),
        ...(fields.result !== undefined ? { result: JSON.stringify(fields.result ?? null) } : {}),
        ...(fields.status === 'completed' || fields.status === 'failed' ? { finished_at: sql<Date>`now()` } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  list(f: { status?: JobStatus; name?: string; limit?: number } = {}): Promise<JobRow[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (f.status) q = q.where('status', '=', f.status);
    if (f.name) q = q.where('name', '=', f.name);
    return q.orderBy('created_at', 'asc').orderBy('id').limit(Math.min(f.limit ?? 100, 1000)).execute();
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('jobs').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
