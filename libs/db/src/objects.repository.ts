import { sql } from 'kysely';
import type { Db } from './database';
import type { NewObject, ObjectKind, ObjectRow, ObjectStatus } from './schema';

export interface ObjectFilter {
  status?: ObjectStatus;
  kind?: ObjectKind;
  limit?: number;
  offset?: number;
}

/** All SQL on the `objects` table. */
export class ObjectsRepository {
  constructor(private readonly db: Db) {}

  /** Insert once per idempotency key; returns the existing row on a repeat. */
  async upsertReceived(o: Omit<NewObject, 'status'>): Promise<{ row: ObjectRow; created: boolean }> {
    const inserted = await this.db
      .insertInto('objects')
      .values({ ...o, status: "received", detail: typeof o.detail === "string" ? o.detail : JSON.stringify(o.detail ?? {}) })
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { row: inserted, created: true };
    const row = await this.db.selectFrom('objects').selectAll().where('idempotency_key', '=', o.idempotency_key).executeTakeFirstOrThrow();
    return { row, created: false };
  }

  byId(id: string): Promise<ObjectRow | undefined> {
    return this.db.selectFrom('objects').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async setStatus(
    id: string,
    status: ObjectStatus,
    fields: { reason?: string | null; reasonCode?: string | null; sha256?: string; kind?: ObjectKind; detail?: Record<string, unknown> } = {},
  ): Promise<void> {
    await this.db
      .updateTable('objects')
      .set({
        status,
        updated_at: sql<Date>`now()`,
        ...(fields.reason !== undefined ? { reason: fields.reason } : {}),
        ...(fields.reasonCode !== undefined ? { reason_code: fields.reasonCode } : {}),
        ...(fields.sha256 ? { sha256: fields.sha256 } : {}),
        ...(fields.kind ? { kind: fields.kind } : {}),
        ...(fields.detail ? { detail: sql`detail || ${JSON.stringify(fields.detail)}::jsonb` } : {}),
        ...(status === 'processed' || status === 'quarantined' || status === 'no-processor' ? { processed_at: sql<Date>`now()` } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  list(f: ObjectFilter = {}): Promise<ObjectRow[]> {
    let q = this.db.selectFrom('objects').selectAll();
    if (f.status) q = q.where('status', '=', f.status);
    if (f.kind) q = q.where('kind', '=', f.kind);
    return q
      .orderBy('created_at', 'asc')
      .orderBy('id')
      .limit(Math.min(f.limit ?? 100, 1000))
      .offset(f.offset ?? 0)
      .execute();
  }

  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('objects').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}
