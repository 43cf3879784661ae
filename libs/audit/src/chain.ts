import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

/**
 * The audit hash chain, framework- and database-free.
 *
 * hash(entry) = sha256_hex(prev_hash || canonical(content)), where canonical is RFC 8785 (JSON Canonicalization
 * Scheme, `canonicalize` from npm) of the entry's content fields. The first entry's prev_hash is GENESIS.
 * `seq` is not hashed: the chain links define the order, so a row moved to another seq is caught as 'reordered'.
 */
export const GENESIS = '0'.repeat(64);

// RFC 8785 serialiser (the package is ESM with a default export; CommonJS sees it as .default)
const canonicalize: (v: unknown) => string | undefined = (canonicalizeModule as unknown as { default?: typeof canonicalizeModule }).default ?? (canonicalizeModule as never);

/** RFC 8785 canonical JSON of a JSON value. Throws on values JSON cannot carry (NaN, Infinity, lone surrogates, undefined at top level). */
export function canonicalJson(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new TypeError('canonicalJson: the value is not representable as JSON');
  return s;
}

/** What an entry says; everything here is hashed. */
export interface AuditContent {
  /** ISO 8601 UTC with milliseconds (Date#toISOString), the one form stored and hashed. */
  at: string;
  actor: string;
  actorRoles: string[];
  action: string;
  entityType: string;
  entityId: string;
  before: unknown;
  after: unknown;
  detail: unknown;
}

export interface AuditEntry extends AuditContent {
  seq: string;
  prevHash: string;
  hash: string;
}

/**
 * JSON values exactly as they will come back from the database (jsonb): undefined -> null, Dates -> ISO strings,
 * objects without prototype quirks. Hashing the normalised value makes the hash reproducible from the stored row.
 */
export function normaliseJson(v: unknown): unknown {
  if (v === undefined) return null;
  return JSON.parse(JSON.stringify(v) ?? 'null');
}

export function contentOf(e: AuditContent): AuditContent {
  return {
    at: e.at,
    actor: e.actor,
    actorRoles: [...e.actorRoles],
    action: e.action,
    entityType: e.entityType,
    entityId: e.entityId,
    before: normaliseJson(e.before),
    after: normaliseJson(e.after),
    detail: normaliseJson(e.detail),
  };
}

export function entryHash(prevHash: string, content: AuditContent): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(contentOf(content))).digest('hex');
}

export type ChainProblem = 'altered' | 'removed' | 'inserted' | 'reordered';

export interface ChainHead {
  seq: string;
  hash: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Rows checked. */
  entries: number;
  /** The last row (null for an empty log). */
  head: ChainHead | null;
  /** The first entry found bad, and why (absent when ok). */
  firstBad?: { seq: string; problem: ChainProblem; message: string };
}

/** The link skeleton of the log, ordered by seq: enough to place every hash. */
export interface ChainLink {
  seq: string;
  prevHash: string;
  hash: string;
}

/** An external record of the head at some moment (e.g. written into a data cut's manifest). */
export interface ChainAnchor {
  seq: string;
  hash: string;
  /** Where the anchor came from, for the message (e.g. 'cut STUDY-2024-01-01-blinded-abc'). */
  source?: string;
}

/**
 * Walk the chain. `links` are all rows ordered by seq; `validAt(i)` says whether row i's stored hash equals the hash
 * recomputed from its stored content and prev_hash (callers compute it while paging through full rows).
 *
 * At the first inconsistency the problem is classified:
 * - 'altered'   a row's content or prev_hash no longer matches its hash (edited in place);
 * - 'inserted'  a row that is not part of the chain: its neighbours link past it;
 * - 'reordered' a row links to a row stored later (seq changed);
 * - 'removed'   a row links to a hash no stored row has (its predecessor is gone); a rewritten row whose hash was
 *               recomputed looks the same and is reported as 'altered' when the seq numbers around it are contiguous.
 * Anchors catch what a chain alone cannot (the tail cut off or rewritten): each must name a stored row with that hash.
 */
export async function verifyLinks(links: ChainLink[], validAt: (i: number) => Promise<boolean> | boolean, anchors: ChainAnchor[] = []): Promise<VerifyResult> {
  const pos = new Map<string, number>();
  links.forEach((l, i) => pos.set(l.hash, i));
  /** index of a row whose prev_hash is this hash (the last one wins; only "is there one after i" matters) */
  const linkedFrom = new Map<string, number>();
  links.forEach((l, i) => linkedFrom.set(l.prevHash, i));
  const head = links.length ? { seq: links[links.length - 1]!.seq, hash: links[links.length - 1]!.hash } : null;
  const bad = (i: number, problem: ChainProblem, message: string): VerifyResult => ({ ok: false, entries: links.length, head, firstBad: { seq: links[i]!.seq, problem, message } });
  let prev = GENESIS;
  let prevIdx = -1;
  for (let i = 0; i < links.length; i++) {
    const l = links[i]!;
    const next = links[i + 1];
    if (l.prevHash === prev) {
      if (await validAt(i)) {
        prev = l.hash;
        prevIdx = i;
        continue;
      }
      if (next && next.prevHash === prev) return bad(i, 'inserted', `entry ${l.seq} is not part of the chain: entry ${next.seq} links past it, and its own hash does not match its content`);
      return bad(i, 'altered', `entry ${l.seq} was changed after it was written: its hash does not match its content`);
    }
    // the link from the previous good row is broken
    const target = pos.get(l.prevHash);
    if (target !== undefined && target > i) return bad(i, 'reordered', `entry ${l.seq} links to entry ${links[target]!.seq}, which is stored after it: the order was changed`);
    if (next && next.prevHash === prev) return bad(i, 'inserted', `entry ${l.seq} is not part of the chain: entry ${next.seq} links to the entry before it`);
    if (!(await validAt(i))) return bad(i, 'altered', `entry ${l.seq} was changed after it was written: its hash does not match its content or its link`);
    if (target !== undefined) {
      // a fork: rows target+1..prevIdx and row i both follow row `target`. The branch that later rows continue is the chain.
      const continued = (linkedFrom.get(l.hash) ?? -1) > i;
      if (continued) return bad(target + 1, 'inserted', `entry ${links[target + 1]!.seq} is not part of the chain: entry ${l.seq} links to entry ${links[target]!.seq} before it`);
      return bad(i, 'inserted', `entry ${l.seq} is not part of the chain: it links to entry ${links[target]!.seq}, which entry ${links[target + 1]!.seq} already follows`);
    }
    // predecessor missing. Contiguous seq numbers around the break mean the previous row was rewritten and rehashed.
    const prevRow = prevIdx >= 0 ? links[prevIdx] : undefined;
    if (prevRow && BigInt(l.seq) === BigInt(prevRow.seq) + 1n) return bad(prevIdx, 'altered', `entry ${prevRow.seq} was rewritten (its hash was recomputed): entry ${l.seq} links to a different version of it`);
    return bad(i, 'removed', `an entry before ${l.seq} was removed: ${l.seq} links to a hash no stored entry has${prevRow ? ` (previous stored entry: ${prevRow.seq})` : ' (it is the first stored entry)'}`);
  }
  for (const a of [...anchors].sort((x, y) => (BigInt(x.seq) < BigInt(y.seq) ? -1 : 1))) {
    const i = links.findIndex((l) => l.seq === a.seq);
    const src = a.source ? ` (anchored by ${a.source})` : '';
    if (i < 0) {
      const after = links.findIndex((l) => BigInt(l.seq) > BigInt(a.seq));
      return { ok: false, entries: links.length, head, firstBad: { seq: a.seq, problem: 'removed', message: `entry ${a.seq}${src} is missing${after < 0 ? ': the end of the log was cut off' : ''}` } };
    }
    if (links[i]!.hash !== a.hash) return bad(i, 'altered', `entry ${a.seq} differs from the hash recorded${src}`);
  }
  return { ok: true, entries: links.length, head };
}
