import { type Kysely, sql, type Transaction } from 'kysely';
import { type AuditContent, type AuditEntry, type ChainAnchor, type ChainHead, type ChainLink, contentOf, entryHash, GENESIS, type VerifyResult, verifyLinks } from '@app/audit';
import type { AuditLogRow, Database } from './schema';
import type { Db } from './database';

/** What a caller records. The actor always comes from the authenticated user (or 'system:<process>'), never from a request body. */
export interface AuditEvent {
  actor: string;
  actorRoles?: string[];
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
  detail?: unknown;
}

/** Advisory-lock key that serialises appends (any constant shared by every writer; 'audit' in ASCII). */
export const AUDIT_LOCK_KEY = 0x6175646974;

const PAGE = 2000;

const toEntry = (r: AuditLogRow): AuditEntry => ({
  seq: String(r.seq),
  at: new Date(r.at).toISOString(),
  actor: r.actor,
  actorRoles: r.actor_roles ?? [],
  action: r.action,
  entityType: r.entity_type,
  entityId: r.entity_id,
  before: r.before ?? null,
  after: r.after ?? null,
  detail: r.detail ?? null,
  prevHash: r.prev_hash,
  hash: r.hash,
});

const jsonParam = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

/**
 * The hash-chained audit trail (migration 0006_audit, chain rules in libs/audit).
 *
 * append() takes a transaction-scoped advisory lock, reads the head, and inserts the next entry: concurrent writers
 * (API processes, workers) queue on the lock, so the chain never forks. Pass the caller's transaction to make the
 * audit entry commit or roll back together with the change it records.
 */
export class AuditRepository {
  constructor(private readonly db: Db) {}

  async append(e: AuditEvent, trx?: Kysely<Database> | Transaction<Database>): Promise<AuditEntry> {
    if (!e.actor || !e.action || !e.entityType || e.entityId === undefined || e.entityId === null) throw new TypeError('audit: actor, action, entityType and entityId are required');
    const run = async (t: Kysely<Database>): Promise<AuditEntry> => {
      await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY}::bigint)`.execute(t);
      const last = await t.selectFrom('audit_log').select(['hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      const prevHash = last?.hash ?? GENESIS;
      const content: AuditContent = contentOf({
        at: new Date().toISOString(),
        actor: e.actor,
        actorRoles: e.actorRoles ?? [],
        action: e.action,
        entityType: e.entityType,
        entityId: String(e.entityId),
        before: e.before,
        after: e.after,
        detail: e.detail,
      });
      const hash = entryHash(prevHash, content);
      const row = await t
        .insertInto('audit_log')
        .values({
          at: content.at,
          actor: content.actor,
          actor_roles: content.actorRoles,
          action: content.action,
          entity_type: content.entityType,
          entity_id: content.entityId,
          before: jsonParam(content.before),
          after: jsonParam(content.after),
          detail: jsonParam(content.detail),
          prev_hash: prevHash,
          hash,
        })
        .returning(['seq'])
        .executeTakeFirstOrThrow();
      return { ...content, seq: String(row.seq), prevHash, hash };
    };
    if (trx && (trx as Transaction<Database>).isTransaction) return run(trx);
    return this.db.transaction().execute(run);
  }

  /**
   * Several entries in one go, in order (e.g. a case view and the proposals it showed): one lock, one head read, one
   * multi-row insert (rows of one VALUES list take their seq in list order), each entry chained to the one before.
   * The same chain as calling append() for each, in fewer round trips while the chain's lock is held.
   */
  async appendMany(events: AuditEvent[], trx?: Kysely<Database> | Transaction<Database>): Promise<AuditEntry[]> {
    if (!events.length) return [];
    if (events.length === 1) return [await this.append(events[0]!, trx)];
    for (const e of events) if (!e.actor || !e.action || !e.entityType || e.entityId === undefined || e.entityId === null) throw new TypeError('audit: actor, action, entityType and entityId are required');
    const run = async (t: Kysely<Database>): Promise<AuditEntry[]> => {
      await sql`select pg_advisory_xact_lock(${AUDIT_LOCK_KEY}::bigint)`.execute(t);
      const last = await t.selectFrom('audit_log').select(['hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      let prevHash = last?.hash ?? GENESIS;
      const out: Omit<AuditEntry, 'seq'>[] = [];
      for (const e of events) {
        const content: AuditContent = contentOf({ at: new Date().toISOString(), actor: e.actor, actorRoles: e.actorRoles ?? [], action: e.action, entityType: e.entityType, entityId: String(e.entityId), before: e.before, after: e.after, detail: e.detail });
        const hash = entryHash(prevHash, content);
        out.push({ ...content, prevHash, hash });
        prevHash = hash;
      }
      const rows = await t
        .insertInto('audit_log')
        .values(out.map((c) => ({ at: c.at, actor: c.actor, actor_roles: c.actorRoles, action: c.action, entity_type: c.entityType, entity_id: c.entityId, before: jsonParam(c.before), after: jsonParam(c.after), detail: jsonParam(c.detail), prev_hash: c.prevHash, hash: c.hash })))
        .returning(['seq', 'hash'])
        .execute();
      const seqOf = new Map(rows.map((r) => [r.hash, String(r.seq)]));
      const entries = out.map((c) => ({ ...c, seq: seqOf.get(c.hash)! }));
      // the list order must be the seq order (the chain's links decide validity; this is a cheap guard)
      for (let k = 1; k < entries.length; k++) if (BigInt(entries[k]!.seq) <= BigInt(entries[k - 1]!.seq)) throw new Error('audit: appendMany rows were numbered out of order');
      return entries;
    };
    if (trx && (trx as Transaction<Database>).isTransaction) return run(trx);
    return this.db.transaction().execute(run);
  }

  /** The newest entry's seq and hash (null for an empty log): what a data cut's manifest anchors. */
  async head(trx?: Kysely<Database>): Promise<ChainHead | null> {
    const r = await (trx ?? this.db).selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return r ? { seq: String(r.seq), hash: r.hash } : null;
  }

  /** Entries, newest first, filtered by entity and/or action. */
  async list(f: { entityType?: string; entityId?: string; action?: string; actor?: string; limit?: number; beforeSeq?: string } = {}): Promise<AuditEntry[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (f.entityType) q = q.where('entity_type', '=', f.entityType);
    if (f.entityId) q = q.where('entity_id', '=', f.entityId);
    if (f.action) q = q.where('action', '=', f.action);
    if (f.actor) q = q.where('actor', '=', f.actor);
    if (f.beforeSeq) q = q.where('seq', '<', f.beforeSeq);
    const rows = await q.orderBy('seq', 'desc').limit(Math.min(Math.max(f.limit ?? 100, 1), 1000)).execute();
    return rows.map(toEntry);
  }

  /** Chain heads recorded in data cut manifests (manifest.auditHead), to check the log against. */
  async cutAnchors(): Promise<ChainAnchor[]> {
    const rows = await this.db.selectFrom('data_cuts').select(['cut_id', 'manifest']).execute();
    const out: ChainAnchor[] = [];
    for (const r of rows) {
      const h = (r.manifest as { auditHead?: ChainHead | null }).auditHead;
      if (h?.seq && h.hash) out.push({ seq: String(h.seq), hash: h.hash, source: `cut ${r.cut_id}` });
    }
    return out;
  }

  /**
   * Re-hash every entry and walk the links (two passes: the link skeleton, then full rows page by page).
   * Names the first altered, removed, inserted or reordered entry; anchors (e.g. cutAnchors()) also catch a cut-off tail.
   */
  async verify(opts: { anchors?: ChainAnchor[] } = {}): Promise<VerifyResult> {
    const links: ChainLink[] = (await this.db.selectFrom('audit_log').select(['seq', 'prev_hash', 'hash']).orderBy('seq', 'asc').execute()).map((r) => ({ seq: String(r.seq), prevHash: r.prev_hash, hash: r.hash }));
    const valid = new Uint8Array(links.length);
    let i = 0;
    let after: string | undefined;
    for (;;) {
      let q = this.db.selectFrom('audit_log').selectAll().orderBy('seq', 'asc').limit(PAGE);
      if (after !== undefined) q = q.where('seq', '>', after);
      const rows = await q.execute();
      for (const r of rows) {
        const e = toEntry(r);
        // rows are read in the same seq order as `links`
        while (i < links.length && links[i]!.seq !== e.seq) i++;
        if (i < links.length) valid[i++] = entryHash(e.prevHash, e) === e.hash ? 1 : 0;
      }
      if (rows.length < PAGE) break;
      after = String(rows[rows.length - 1]!.seq);
    }
    return verifyLinks(links, (k) => valid[k] === 1, opts.anchors ?? []);
  }
}
