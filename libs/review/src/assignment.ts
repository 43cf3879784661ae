import { mulberry32 } from '@app/core';
import { ReviewError, invalid } from './errors';

/** Recorded with every run, so the outcome can be re-derived from the seed. */
export const ASSIGNMENT_ALGORITHM =
  'bicr-assign/1: mulberry32(seed); subjects sorted by reading id, then shuffled (Fisher-Yates); each open slot of a subject (ascending) gets, among the pool readers not already on the subject and below capacity, the one with the most capacity left, ties broken by a random key; each reader\'s new cases are shuffled (Fisher-Yates) and appended after their existing ones';

export interface SubjectSlots {
  subjectUuid: string;
  readingId: string;
  /** Slots (1-based) to fill. */
  slots: number[];
  /** Readers who may not take this subject (already on it, or leaving it). */
  exclude: string[];
}

export interface AssignmentInput {
  /** 32-bit unsigned integer. */
  seed: number;
  subjects: SubjectSlots[];
  /** The reader pool (user ids). */
  readers: string[];
  /** Maximum active cases per reader in the study (existing ones included). */
  capacity: number;
  /** Active cases each reader already has in the study. */
  load?: Record<string, number>;
  /** Next free position in each reader's worklist (default 0). */
  nextOrder?: Record<string, number>;
}

export interface PlannedCase {
  subjectUuid: string;
  readingId: string;
  readerId: string;
  slot: number;
  orderIndex: number;
}

export interface AssignmentPlan {
  seed: number;
  algorithm: string;
  cases: PlannedCase[];
  /** Per reader: cases added now and active cases in all afterwards. */
  perReader: { readerId: string; added: number; total: number }[];
}

export function checkSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw invalid(`seed must be an integer in 0 .. ${0xffffffff}, got ${JSON.stringify(seed)}`);
  return seed;
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Draws readers for the open slots of the given subjects (a pure function of its input: the same input and seed give
 * the same plan). Every slot of a subject gets a distinct reader who is not excluded, and no reader goes above
 * `capacity`. Refuses (409 `review.capacity`, nothing assigned) when the pool cannot cover every slot.
 */
export function planAssignment(input: AssignmentInput): AssignmentPlan {
  const seed = checkSeed(input.seed);
  if (!Number.isInteger(input.capacity) || input.capacity < 1) throw invalid(`capacity must be a positive integer (cases per reader), got ${JSON.stringify(input.capacity)}`);
  const readers = [...new Set(input.readers)].sort(cmp);
  if (readers.length !== input.readers.length) throw invalid('readers: each reader once');
  const rnd = mulberry32(seed);
  const load = new Map(readers.map((r) => [r, input.load?.[r] ?? 0]));
  const subjects = shuffle([...input.subjects].sort((a, b) => cmp(a.readingId, b.readingId)), rnd);
  const need = subjects.reduce((n, s) => n + s.slots.length, 0);
  const room = readers.reduce((n, r) => n + Math.max(0, input.capacity - load.get(r)!), 0);
  if (need > room)
    throw new ReviewError(409, 'review.capacity', `${need} reads are needed but the ${readers.length} reader(s) have room for only ${room} more at a capacity of ${input.capacity} cases each: add readers or raise the capacity. Nothing was assigned.`, { needed: need, room, capacity: input.capacity, readers: readers.length });
  const added = new Map<string, PlannedCase[]>(readers.map((r) => [r, []]));
  for (const s of subjects) {
    const taken = new Set(s.exclude);
    for (const slot of [...s.slots].sort((a, b) => a - b)) {
      const keyed = readers.filter((r) => !taken.has(r) && load.get(r)! < input.capacity).map((r) => ({ r, left: input.capacity - load.get(r)!, key: rnd() }));
      if (!keyed.length)
        throw new ReviewError(409, 'review.capacity', `subject ${s.readingId}: no reader left for slot ${slot} (each subject needs distinct readers and every other reader is at capacity ${input.capacity} or already on it): add readers or raise the capacity. Nothing was assigned.`, { readingId: s.readingId, slot });
      keyed.sort((a, b) => b.left - a.left || a.key - b.key);
      const r = keyed[0]!.r;
      taken.add(r);
      load.set(r, load.get(r)! + 1);
      added.get(r)!.push({ subjectUuid: s.subjectUuid, readingId: s.readingId, readerId: r, slot, orderIndex: -1 });
    }
  }
  const cases: PlannedCase[] = [];
  for (const r of readers) {
    const mine = shuffle(added.get(r)!, rnd);
    let next = input.nextOrder?.[r] ?? 0;
    for (const c of mine) cases.push({ ...c, orderIndex: next++ });
  }
  return {
    seed,
    algorithm: ASSIGNMENT_ALGORITHM,
    cases,
    perReader: readers.map((r) => ({ readerId: r, added: added.get(r)!.length, total: load.get(r)! })),
  };
}
