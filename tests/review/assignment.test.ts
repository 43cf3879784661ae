/**
 * Assignment (pure): deterministic for a seed, two distinct readers per subject, never above capacity, balanced,
 * refused when the pool cannot cover every slot; each reader's order is a recorded permutation. And the adjudication
 * rules on engine outcomes; and the axis measurement on an oblique volume geometry.
 */
import { compareOutcomes, checkRules, measureAxis, planAssignment, type ReadOutcome, ReviewError } from '@app/review';

const subjects = (n: number) => Array.from({ length: n }, (_, i) => ({ subjectUuid: `s${i}`, readingId: `R-${String(i).padStart(4, '0')}`, slots: [1, 2], exclude: [] as string[] }));
const readers = ['u-a', 'u-b', 'u-c', 'u-d', 'u-e'];

test('the same seed gives the same plan; another seed another one', () => {
  const a = planAssignment({ seed: 42, subjects: subjects(30), readers, capacity: 20 });
  const b = planAssignment({ seed: 42, subjects: [...subjects(30)].reverse(), readers: [...readers].reverse(), capacity: 20 });
  expect(b.cases).toEqual(a.cases);
  const c = planAssignment({ seed: 43, subjects: subjects(30), readers, capacity: 20 });
  expect(c.cases).not.toEqual(a.cases);
});

test.each([
  [30, 5, 12],
  [7, 2, 7],
  [10, 3, 7],
  [1, 2, 1],
])('%i subjects, %i readers, capacity %i: two distinct readers each, within capacity, balanced', (n, r, cap) => {
  for (const seed of [1, 2, 3, 99, 0xffffffff]) {
    const plan = planAssignment({ seed, subjects: subjects(n), readers: readers.slice(0, r), capacity: cap });
    expect(plan.cases).toHaveLength(2 * n);
    const bySubject = new Map<string, string[]>();
    for (const c of plan.cases) bySubject.set(c.subjectUuid, [...(bySubject.get(c.subjectUuid) ?? []), c.readerId]);
    for (const rs of bySubject.values()) expect(new Set(rs).size).toBe(2);
    const load = new Map<string, number>();
    for (const c of plan.cases) load.set(c.readerId, (load.get(c.readerId) ?? 0) + 1);
    expect(Math.max(...load.values())).toBeLessThanOrEqual(cap);
    // most-room-first keeps loads within one case of each other when capacity allows it
    if (cap * r >= 2 * n) expect(Math.max(...load.values()) - Math.min(...[...load.values(), ...readers.slice(0, r).filter((x) => !load.has(x)).map(() => 0)])).toBeLessThanOrEqual(1);
    // each reader's order: 0..k-1, a permutation
    for (const [reader, k] of load) expect(plan.cases.filter((c) => c.readerId === reader).map((c) => c.orderIndex).sort((x, y) => x - y)).toEqual([...Array(k).keys()]);
  }
});

test('the case order differs between seeds (it is shuffled, not the reading-id order)', () => {
  const orders = new Set([1, 2, 3, 4, 5, 6].map((seed) => planAssignment({ seed, subjects: subjects(12), readers: ['x', 'y'], capacity: 12 }).cases.filter((c) => c.readerId === 'x').sort((p, q) => p.orderIndex - q.orderIndex).map((c) => c.readingId).join()));
  expect(orders.size).toBeGreaterThan(1);
});

test('refused, naming the numbers, when the pool cannot cover every slot; excluded readers are never drawn', () => {
  expect(() => planAssignment({ seed: 1, subjects: subjects(5), readers: ['x', 'y'], capacity: 4 })).toThrow(expect.objectContaining({ status: 409, code: 'review.capacity' }));
  try {
    planAssignment({ seed: 1, subjects: subjects(5), readers: ['x', 'y'], capacity: 4 });
  } catch (e) {
    expect((e as ReviewError).message).toMatch(/10 reads are needed but the 2 reader\(s\) have room for only 8/);
  }
  // capacity suffices in total, but one reader cannot take both slots of a subject
  expect(() => planAssignment({ seed: 1, subjects: subjects(2), readers: ['x', 'y', 'z'], capacity: 4, load: { y: 4, z: 4 } })).toThrow(expect.objectContaining({ code: 'review.capacity' }));
  const plan = planAssignment({ seed: 7, subjects: [{ subjectUuid: 's', readingId: 'R-1', slots: [2], exclude: ['x', 'y'] }], readers: ['x', 'y', 'z'], capacity: 1 });
  expect(plan.cases).toEqual([{ subjectUuid: 's', readingId: 'R-1', readerId: 'z', slot: 2, orderIndex: 0 }]);
  expect(() => planAssignment({ seed: -1, subjects: subjects(1), readers, capacity: 2 })).toThrow(/seed/);
});

const outcome = (o: Partial<ReadOutcome>): ReadOutcome => ({ bor: 'PR', confirmedBor: 'PR', pdDate: null, pdVisit: null, ...o });

test('adjudication rules: BOR (confirmed / unconfirmed / both), PD date with a tolerance', () => {
  const a = outcome({ bor: 'PR', confirmedBor: 'SD', pdDate: '2024-03-01' });
  const b = outcome({ bor: 'SD', confirmedBor: 'SD', pdDate: '2024-03-08' });
  expect(compareOutcomes(a, b, checkRules({})).map((d) => d.rule)).toEqual(['PD_DATE']);
  expect(compareOutcomes(a, b, checkRules({ bor: 'unconfirmed', pdDate: false })).map((d) => d.rule)).toEqual(['BOR']);
  expect(compareOutcomes(a, b, checkRules({ bor: 'both', pdDateToleranceDays: 7 })).map((d) => d.rule)).toEqual(['BOR']);
  expect(compareOutcomes(a, b, checkRules({ pdDateToleranceDays: 6 })).map((d) => d.rule)).toEqual(['PD_DATE']);
  // PD in one read only is a disagreement whatever the tolerance
  expect(compareOutcomes(outcome({ pdDate: null }), outcome({ pdDate: '2024-03-01' }), checkRules({ pdDateToleranceDays: 365 })).map((d) => d.rule)).toEqual(['PD_DATE']);
  expect(compareOutcomes(a, a, checkRules({ bor: 'both' }))).toEqual([]);
  expect(() => checkRules({ bor: 'none', pdDate: false })).toThrow(ReviewError);
  expect(() => checkRules({ pdDateToleranceDays: -1 })).toThrow(ReviewError);
});

test('axis length on an oblique, anisotropic volume equals the distance of the affine-mapped end points', () => {
  // rotated 30 degrees in-plane, 0.7 x 0.9 mm pixels, 3 mm slices
  const c = Math.cos(Math.PI / 6);
  const s = Math.sin(Math.PI / 6);
  const affine = [0.7 * c, -0.9 * s, 0, 10, 0.7 * s, 0.9 * c, 0, -20, 0, 0, 3, 5, 0, 0, 0, 1];
  const vol = { volumeId: 'v', dims: [512, 512, 40], spacing: [0.7, 0.9, 3], affine };
  const m = measureAxis(vol, { p1: { ijk: [100, 200, 12] }, p2: { ijk: [130, 240, 12] } }, 'axis');
  // in-plane rotation keeps lengths: sqrt((30 * 0.7)^2 + (40 * 0.9)^2)
  expect(m.lengthMm).toBeCloseTo(Math.hypot(30 * 0.7, 40 * 0.9), 3);
  // the same points given in mm come back to the same indices and length
  const mm = measureAxis(vol, { p1: { mm: m.p1Mm }, p2: { mm: m.p2Mm } }, 'axis');
  expect(mm.p1Ijk.map((x) => Math.round(x * 100) / 100)).toEqual([100, 200, 12]);
  expect(mm.lengthMm).toBeCloseTo(m.lengthMm, 2);
  // the outer voxel edge is inside, beyond it is outside
  expect(measureAxis(vol, { p1: { ijk: [-0.5, 0, 0] }, p2: { ijk: [511.5, 0, 0] } }, 'axis').lengthMm).toBeCloseTo(512 * 0.7, 6);
  expect(() => measureAxis(vol, { p1: { ijk: [-0.6, 0, 0] }, p2: { ijk: [10, 0, 0] } }, 'axis')).toThrow(expect.objectContaining({ code: 'review.measurement-outside-image' }));
  expect(() => measureAxis(vol, { p1: { ijk: [1, 1, 1] }, p2: { ijk: [1, 1, 40] } }, 'axis')).toThrow(expect.objectContaining({ code: 'review.measurement-outside-image' }));
  expect(() => measureAxis(vol, { p1: { ijk: [1, 1, 1] }, p2: { ijk: [1, 1, 1] } }, 'axis')).toThrow(expect.objectContaining({ code: 'review.invalid' }));
  expect(() => measureAxis(vol, { p1: { ijk: [1, 1] as never }, p2: { ijk: [1, 1, 1] } }, 'axis')).toThrow(expect.objectContaining({ code: 'review.invalid' }));
});
