/**
 * The audit trail on real PostgreSQL and on PGlite: append-only in the database itself (trigger + privileges), one
 * unforked chain under 50 concurrent writers, and tampering by a superuser with triggers disabled (altered, deleted,
 * inserted, reordered rows) detected with the first bad entry named.
 */
import { Client } from 'pg';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { AuditRepository, createDatabase, migrateToLatest, type Db } from '@app/db';
import { entryHash, GENESIS } from '@app/audit';
import { createTempDatabase, POSTGRES_URL } from '../support/services';

const ev = (i: number) => ({ actor: `user-${i % 3}`, actorRoles: ['reader'], action: 'case.view', entityType: 'subject', entityId: `S-${i}`, before: i % 2 ? { v: i, nested: { b: 1, a: [1.25, 'x'] } } : undefined, after: { v: i + 1 }, detail: { note: `entry ${i}` } });

async function basics(db: Db) {
  await migrateToLatest(db);
  const repo = new AuditRepository(db);
  expect(await repo.verify()).toEqual({ ok: true, entries: 0, head: null });
  expect(await repo.head()).toBeNull();
  const first = await repo.append(ev(1));
  expect(first.prevHash).toBe(GENESIS);
  // the hash is reproducible from what the caller gave (independent recomputation from the returned content)
  expect(first.hash).toBe(entryHash(GENESIS, { at: first.at, actor: 'user-1', actorRoles: ['reader'], action: 'case.view', entityType: 'subject', entityId: 'S-1', before: { nested: { a: [1.25, 'x'], b: 1 }, v: 1 }, after: { v: 2 }, detail: { note: 'entry 1' } }));
  const second = await repo.append(ev(2));
  expect(second.prevHash).toBe(first.hash);
  // inside the caller's transaction: rolled back together with it
  await expect(
    db.transaction().execute(async (trx) => {
      await repo.append(ev(3), trx);
      throw new Error('boom');
    }),
  ).rejects.toThrow('boom');
  const third = await db.transaction().execute((trx) => repo.append(ev(4), trx));
  expect(third.prevHash).toBe(second.hash);
  expect(await repo.head()).toEqual({ seq: third.seq, hash: third.hash });
  const v = await repo.verify();
  expect(v).toEqual({ ok: true, entries: 3, head: { seq: third.seq, hash: third.hash } });
  const listed = await repo.list({ entityType: 'subject', entityId: 'S-1' });
  expect(listed).toHaveLength(1);
  expect(listed[0]).toEqual(first);

  // append-only in the database: UPDATE, DELETE and TRUNCATE refused
  await expect(sql`update audit_log set actor = 'mallory'`.execute(db)).rejects.toThrow(/append-only|permission denied/);
  await expect(sql`delete from audit_log`.execute(db)).rejects.toThrow(/append-only|permission denied/);
  await expect(sql`truncate audit_log`.execute(db)).rejects.toThrow(/append-only|permission denied/);
  expect((await repo.verify()).entries).toBe(3);
}

describe('AuditRepository on PGlite', () => {
  it('appends, chains, verifies and refuses changes', async () => {
    const db = await createDatabase({ DATABASE_URL: undefined, dataDir: '/nonexistent', pgliteDir: ':memory:' });
    try {
      await basics(db);
      // concurrent appends also serialise on PGlite (one connection, advisory lock still taken)
      const repo = new AuditRepository(db);
      await Promise.all(Array.from({ length: 20 }, (_, i) => repo.append(ev(100 + i))));
      expect(await repo.verify()).toMatchObject({ ok: true, entries: 23 });
    } finally {
      await db.destroy();
    }
  });
});

describe('AuditRepository on PostgreSQL', () => {
  let t: Awaited<ReturnType<typeof createTempDatabase>>;
  let db: Db;
  let su: Client; // a superuser connection that tampers with triggers disabled
  beforeAll(async () => {
    t = await createTempDatabase();
    db = await createDatabase({ DATABASE_URL: t.url, dataDir: '/nonexistent' });
    su = new Client({ connectionString: t.url });
    await su.connect();
  });
  afterAll(async () => {
    await su?.end();
    await db?.destroy();
    await t?.drop();
  });

  it('appends, chains, verifies and refuses changes', async () => {
    await basics(db);
  });

  it('50 concurrent appends from separate connections form one unforked chain', async () => {
    const repo = new AuditRepository(db);
    const before = (await repo.verify()).entries;
    // a second pool, so writers really are different connections and processes-alike
    const other = await createDatabase({ DATABASE_URL: t.url, dataDir: '/nonexistent' });
    try {
      const repos = [repo, new AuditRepository(other)];
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => repos[i % 2]!.append(ev(200 + i))));
      const prevs = new Set(results.map((r) => r.prevHash));
      expect(prevs.size).toBe(50); // nobody shares a predecessor: no fork
      const v = await repo.verify();
      expect(v).toMatchObject({ ok: true, entries: before + 50 });
    } finally {
      await other.destroy();
    }
  });

  /** Run tampering as a superuser with triggers off, check verify, then undo it the same way. */
  async function tamper(sqlText: string, undo: string, params: unknown[] = []) {
    await su.query('BEGIN');
    await su.query('SET LOCAL session_replication_role = replica');
    await su.query(sqlText, params);
    await su.query('COMMIT');
    const v = await new AuditRepository(db).verify();
    await su.query('BEGIN');
    await su.query('SET LOCAL session_replication_role = replica');
    await su.query(undo);
    await su.query('COMMIT');
    expect((await new AuditRepository(db).verify()).ok).toBe(true);
    return v;
  }

  it('detects a superuser altering, deleting, inserting or reordering rows with triggers disabled', async () => {
    const repo = new AuditRepository(db);
    const rows = (await su.query('select seq::text as s from audit_log order by audit_log.seq')).rows.map((r) => r.s as string);
    expect(rows.length).toBeGreaterThan(20);
    const s = rows[10]!;
    const s1 = rows[11]!;

    // a plain superuser UPDATE is still refused by the trigger
    await expect(su.query(`update audit_log set actor = 'mallory' where seq = ${s}`)).rejects.toThrow(/append-only/);

    // altered in place
    await su.query('create temp table saved as select * from audit_log');
    let v = await tamper(`update audit_log set detail = '{"note":"forged"}' where seq = ${s}`, `update audit_log a set detail = s.detail from saved s where a.seq = s.seq`);
    expect(v).toMatchObject({ ok: false, firstBad: { seq: s, problem: 'altered' } });

    // altered by the lower-level way too: ALTER TABLE ... DISABLE TRIGGER ALL
    await su.query('ALTER TABLE audit_log DISABLE TRIGGER ALL');
    await su.query(`update audit_log set actor = 'mallory' where seq = ${s1}`);
    await su.query('ALTER TABLE audit_log ENABLE TRIGGER ALL');
    v = await repo.verify();
    expect(v).toMatchObject({ ok: false, firstBad: { seq: s1, problem: 'altered' } });
    await su.query('ALTER TABLE audit_log DISABLE TRIGGER ALL');
    await su.query(`update audit_log a set actor = s.actor from saved s where a.seq = s.seq`);
    await su.query('ALTER TABLE audit_log ENABLE TRIGGER ALL');
    expect((await repo.verify()).ok).toBe(true);

    // altered AND its own hash recomputed by someone who knows the algorithm
    const row = (await su.query(`select * from audit_log where seq = ${s}`)).rows[0];
    const forgedHash = entryHash(row.prev_hash, { at: new Date(row.at).toISOString(), actor: 'mallory', actorRoles: row.actor_roles, action: row.action, entityType: row.entity_type, entityId: row.entity_id, before: row.before, after: row.after, detail: row.detail });
    v = await tamper(`update audit_log set actor = 'mallory', hash = $1 where seq = ${s}`, `update audit_log a set actor = s.actor, hash = s.hash from saved s where a.seq = s.seq`, [forgedHash]);
    expect(v).toMatchObject({ ok: false, firstBad: { seq: s, problem: 'altered' } });

    // deleted
    v = await tamper(`delete from audit_log where seq = ${s}`, `insert into audit_log select * from saved where seq = ${s}`);
    expect(v).toMatchObject({ ok: false, firstBad: { seq: s1, problem: 'removed' } });

    // inserted: a well-formed forged entry, linked to its predecessor and correctly hashed, in a seq gap
    // (gaps exist: a rolled-back append consumes a seq). Make one the way the application would: roll an append back.
    await expect(db.transaction().execute(async (trx) => { await repo.append(ev(900), trx); throw new Error('rollback'); })).rejects.toThrow('rollback');
    const tail1 = await repo.append(ev(901));
    await repo.append(ev(902));
    const gap = String(BigInt(tail1.seq) - 1n);
    const pred = (await su.query(`select hash from audit_log where seq < ${gap} order by seq desc limit 1`)).rows[0].hash as string;
    const fc = { at: new Date().toISOString(), actor: 'mallory', actorRoles: ['admin'], action: 'read.sign', entityType: 'read', entityId: 'R-1', before: null, after: { forged: true }, detail: null };
    const fh = entryHash(pred, fc);
    v = await tamper(
      `insert into audit_log (seq, at, actor, actor_roles, action, entity_type, entity_id, before, after, detail, prev_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, null, $8, null, $9, $10)`,
      `delete from audit_log where seq = ${gap}`,
      [gap, fc.at, fc.actor, fc.actorRoles, fc.action, fc.entityType, fc.entityId, JSON.stringify(fc.after), pred, fh],
    );
    expect(v).toMatchObject({ ok: false, firstBad: { seq: gap, problem: 'inserted' } });

    // reordered: two entries swap their seq
    const big = '9000000000';
    v = await tamper(
      `update audit_log set seq = ${big} where seq = ${s}; update audit_log set seq = ${s} where seq = ${s1}; update audit_log set seq = ${s1} where seq = ${big}`,
      `update audit_log set seq = ${big} where seq = ${s}; update audit_log set seq = ${s} where seq = ${s1}; update audit_log set seq = ${s1} where seq = ${big}`,
    );
    expect(v).toMatchObject({ ok: false, firstBad: { seq: s, problem: 'reordered' } });

    // the tail cut off: invisible to the chain alone, caught by an anchor (a data cut's recorded head)
    const head = (await repo.head())!;
    await su.query(`create temp table saved_tail as select * from audit_log where seq = ${head.seq}`);
    await su.query('BEGIN; SET LOCAL session_replication_role = replica; ' + `delete from audit_log where seq = ${head.seq}; COMMIT`);
    expect((await repo.verify()).ok).toBe(true);
    v = await repo.verify({ anchors: [{ seq: head.seq, hash: head.hash, source: 'cut X' }] });
    expect(v).toMatchObject({ ok: false, firstBad: { seq: head.seq, problem: 'removed' } });
    expect(v.firstBad!.message).toMatch(/cut X.*cut off/);
    await su.query('BEGIN; SET LOCAL session_replication_role = replica; insert into audit_log select * from saved_tail; COMMIT');
    expect(await repo.verify({ anchors: [{ seq: head.seq, hash: head.hash }] })).toMatchObject({ ok: true });
  });

  it('a non-superuser owner of the table cannot UPDATE or DELETE even with its triggers disabled (privileges revoked)', async () => {
    const role = `audit_owner_${randomBytes(3).toString('hex')}`;
    const dbName = `t_audit_priv_${randomBytes(3).toString('hex')}`;
    const admin = new Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER`);
    await admin.query(`CREATE DATABASE ${dbName} OWNER ${role}`);
    const u = new URL(POSTGRES_URL);
    u.pathname = `/${dbName}`;
    u.username = role;
    const owned = await createDatabase({ DATABASE_URL: u.toString(), dataDir: '/nonexistent' });
    try {
      await migrateToLatest(owned);
      const repo = new AuditRepository(owned);
      await repo.append(ev(1));
      await repo.append(ev(2));
      await sql`ALTER TABLE audit_log DISABLE TRIGGER ALL`.execute(owned); // the owner may do this...
      await expect(sql`update audit_log set actor = 'mallory'`.execute(owned)).rejects.toThrow(/permission denied/);
      await expect(sql`delete from audit_log`.execute(owned)).rejects.toThrow(/permission denied/);
      await expect(sql`truncate audit_log`.execute(owned)).rejects.toThrow(/permission denied/);
      expect(await repo.verify()).toMatchObject({ ok: true, entries: 2 });
    } finally {
      await owned.destroy();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
