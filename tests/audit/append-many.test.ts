/**
 * AuditRepository.appendMany (several entries under one lock, one multi-row insert): on PostgreSQL, batches interleaved
 * with single appends from 20 concurrent writers on two connection pools give one unforked chain in which every batch's
 * entries are consecutive and in list order, each hash recomputable from its content (libs/audit entryHash); a failed
 * transaction leaves none of its batch.
 */
import { AuditRepository, createDatabase, migrateToLatest } from '@app/db';
import { entryHash } from '@app/audit';
import { createTempDatabase } from '../support/services';

jest.setTimeout(120000);

test('appendMany chains like append, atomically and without forks under concurrency (PostgreSQL)', async () => {
  const pg = await createTempDatabase();
  const a = await createDatabase({ DATABASE_URL: pg.url } as never);
  const b = await createDatabase({ DATABASE_URL: pg.url } as never);
  try {
    await migrateToLatest(a);
    const ra = new AuditRepository(a);
    const rb = new AuditRepository(b);
    const batch = (w: number) => [0, 1, 2, 3].map((k) => ({ actor: `w${w}`, action: k ? 'proposal.shown' : 'case.view', entityType: 'x', entityId: `${w}-${k}`, detail: { k } }));
    const work: Promise<unknown>[] = [];
    for (let w = 0; w < 20; w++) work.push(w % 2 ? ra.appendMany(batch(w)) : rb.append({ actor: `w${w}`, action: 'login.success', entityType: 'user', entityId: `${w}` }));
    const out = await Promise.all(work);
    const v = await ra.verify();
    expect(v).toMatchObject({ ok: true, entries: 10 * 4 + 10 });
    for (const r of out.filter(Array.isArray) as { seq: string; hash: string; prevHash: string; at: string; actor: string; actorRoles: string[]; action: string; entityType: string; entityId: string; detail: unknown }[][]) {
      expect(r.map((e) => e.entityId.split('-')[1])).toEqual(['0', '1', '2', '3']);
      for (let k = 1; k < r.length; k++) {
        expect(BigInt(r[k]!.seq)).toBe(BigInt(r[k - 1]!.seq) + 1n);
        expect(r[k]!.prevHash).toBe(r[k - 1]!.hash);
      }
      for (const e of r) expect(e.hash).toBe(entryHash(e.prevHash, { at: e.at, actor: e.actor, actorRoles: e.actorRoles, action: e.action, entityType: e.entityType, entityId: e.entityId, before: null, after: null, detail: e.detail }));
    }
    // in a failed transaction: none of the batch stays
    await expect(
      a.transaction().execute(async (t) => {
        await ra.appendMany(batch(99), t);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await ra.list({ actor: 'w99' })).toEqual([]);
    expect((await ra.verify()).ok).toBe(true);
  } finally {
    await a.destroy();
    await b.destroy();
    await pg.drop();
  }
});
