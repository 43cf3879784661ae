/**
 * Row-loop helpers of @app/datasets: byRun (a lookup remembered for its last key, for rows that come in runs).
 */
import { byRun, type Value } from '@app/datasets';

test('byRun calls get once per run of equal keys, and again when a key comes back after another', () => {
  const calls: Value[] = [];
  const f = byRun((k: Value) => {
    calls.push(k);
    return `v${calls.length}`;
  });
  const keys: Value[] = ['A', 'A', 'A', 'B', 'B', 'A', 1, 1, null, null];
  const got = keys.map((k) => f.of(k));
  expect(calls).toEqual(['A', 'B', 'A', 1, null]);
  expect(got).toEqual(['v1', 'v1', 'v1', 'v2', 'v2', 'v3', 'v4', 'v4', 'v5', 'v5']);
});

test('byRun: an undefined first key (an absent column read as r[-1]) is looked up, not taken for the start state', () => {
  const calls: unknown[] = [];
  const f = byRun((k: unknown) => (calls.push(k), calls.length));
  expect([f.of(undefined), f.of(undefined), f.of(NaN), f.of(NaN)]).toEqual([1, 1, 2, 3]); // NaN !== NaN: every NaN is looked up
  expect(calls).toEqual([undefined, NaN, NaN]);
});
