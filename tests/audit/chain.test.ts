/**
 * The chain rules without a database: the hash is sha256(prev_hash || RFC 8785 JSON), checked against a canonical
 * string written out by hand; and each kind of tampering on a hand-built chain is named with the right entry.
 */
import { createHash } from 'node:crypto';
import { type AuditContent, canonicalJson, type ChainLink, entryHash, GENESIS, verifyLinks } from '@app/audit';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const content = (n: number): AuditContent => ({ at: `2024-01-0${(n % 9) + 1}T00:00:00.000Z`, actor: 'u1', actorRoles: ['admin'], action: 'thing.done', entityType: 'thing', entityId: String(n), before: null, after: { n }, detail: null });

describe('audit chain', () => {
  it('hashes prev_hash followed by the RFC 8785 form of the content (hand-written reference)', () => {
    const c: AuditContent = { at: '2024-03-01T10:00:00.000Z', actor: 'alice', actorRoles: ['reader'], action: 'login.success', entityType: 'user', entityId: 'u-1', before: undefined, after: { z: 1, a: [1.5, 'é'] }, detail: { ip: '127.0.0.1' } };
    const expected = '{"action":"login.success","actor":"alice","actorRoles":["reader"],"after":{"a":[1.5,"é"],"z":1},"at":"2024-03-01T10:00:00.000Z","before":null,"detail":{"ip":"127.0.0.1"},"entityId":"u-1","entityType":"user"}';
    expect(canonicalJson({ ...c, before: null })).toBe(expected);
    expect(entryHash(GENESIS, c)).toBe(sha(GENESIS + expected));
    // key order and undefined-vs-null do not change the hash; any value does
    expect(entryHash(GENESIS, { ...c, after: { a: [1.5, 'é'], z: 1 } })).toBe(entryHash(GENESIS, c));
    expect(entryHash(GENESIS, { ...c, after: { z: 2, a: [1.5, 'é'] } })).not.toBe(entryHash(GENESIS, c));
    expect(entryHash('1'.repeat(64), c)).not.toBe(entryHash(GENESIS, c));
    expect(() => canonicalJson({ x: Number.NaN })).toThrow();
  });

  const build = (n: number) => {
    const rows: (ChainLink & { c: AuditContent })[] = [];
    let prev = GENESIS;
    for (let i = 1; i <= n; i++) {
      const c = content(i);
      const hash = entryHash(prev, c);
      rows.push({ seq: String(i), prevHash: prev, hash, c });
      prev = hash;
    }
    return rows;
  };
  const check = (rows: (ChainLink & { c: AuditContent })[], anchors = []) => verifyLinks(rows, (i) => entryHash(rows[i]!.prevHash, rows[i]!.c) === rows[i]!.hash, anchors);

  it('accepts an intact chain and an empty one', async () => {
    const rows = build(6);
    expect(await check(rows)).toEqual({ ok: true, entries: 6, head: { seq: '6', hash: rows[5]!.hash } });
    expect(await check([])).toEqual({ ok: true, entries: 0, head: null });
  });

  it('names altered, rehashed, removed, inserted and reordered entries', async () => {
    let rows = build(6);
    rows[2]!.c = { ...rows[2]!.c, after: { n: 99 } };
    expect((await check(rows)).firstBad).toMatchObject({ seq: '3', problem: 'altered' });

    rows = build(6); // altered and its own hash recomputed: the next link still breaks
    rows[2]!.c = { ...rows[2]!.c, after: { n: 99 } };
    rows[2]!.hash = entryHash(rows[2]!.prevHash, rows[2]!.c);
    expect((await check(rows)).firstBad).toMatchObject({ seq: '3', problem: 'altered' });

    rows = build(6);
    rows.splice(2, 1); // seq 3 deleted
    expect((await check(rows)).firstBad).toMatchObject({ seq: '4', problem: 'removed' });

    rows = build(6);
    rows.splice(0, 1); // the first entry deleted
    expect((await check(rows)).firstBad).toMatchObject({ seq: '2', problem: 'removed' });

    rows = build(6); // forged row in a seq gap, correctly linked to its predecessor and correctly hashed
    rows = rows.map((r) => ({ ...r, seq: String(Number(r.seq) * 10) }));
    const forged = { c: content(42), prevHash: rows[1]!.hash, seq: '25', hash: '' };
    forged.hash = entryHash(forged.prevHash, forged.c);
    rows.splice(2, 0, forged);
    expect((await check(rows)).firstBad).toMatchObject({ seq: '25', problem: 'inserted' });

    rows = build(6); // forged row with a made-up hash
    rows = rows.map((r) => ({ ...r, seq: String(Number(r.seq) * 10) }));
    rows.splice(2, 0, { c: content(42), prevHash: rows[1]!.hash, seq: '25', hash: 'f'.repeat(64) });
    expect((await check(rows)).firstBad).toMatchObject({ seq: '25', problem: 'inserted' });

    rows = build(6); // forged fork appended at the end
    const fork = { c: content(43), prevHash: rows[4]!.hash, seq: '7', hash: '' };
    fork.hash = entryHash(fork.prevHash, fork.c);
    rows.push(fork);
    expect((await check(rows)).firstBad).toMatchObject({ seq: '7', problem: 'inserted' });

    rows = build(6); // seq of 3 and 4 swapped
    const [a, b] = [rows[2]!, rows[3]!];
    rows[2] = { ...b, seq: '3' };
    rows[3] = { ...a, seq: '4' };
    expect((await check(rows)).firstBad).toMatchObject({ seq: '3', problem: 'reordered' });
  });

  it('anchors catch a cut-off or rewritten tail', async () => {
    const rows = build(6);
    const anchor = { seq: '6', hash: rows[5]!.hash, source: 'cut X' };
    expect((await check(rows, [anchor] as never)).ok).toBe(true);
    const cut = rows.slice(0, 4);
    expect((await check(cut, [anchor] as never)).firstBad).toMatchObject({ seq: '6', problem: 'removed' });
    const rewritten = build(6);
    rewritten[5]!.c = { ...rewritten[5]!.c, actor: 'mallory' };
    rewritten[5]!.hash = entryHash(rewritten[5]!.prevHash, rewritten[5]!.c);
    expect((await check(rewritten, [anchor] as never)).firstBad).toMatchObject({ seq: '6', problem: 'altered' });
  });
});
