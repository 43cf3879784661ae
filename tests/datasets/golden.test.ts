/**
 * Byte-for-byte guard for the writers: every file of a small cut (simulated study derived with RECIST 1.1
 * and iRECIST, an edge-case dataset, an empty dataset) in every format must hash exactly as the writers
 * did before the performance work (golden-hashes.json, computed with the original code; see golden.ts).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writerStats } from '@app/datasets';
import { goldenHashes } from './golden';

describe('golden data cut (writer output is byte-identical to the pre-optimisation writers)', () => {
  const expected = JSON.parse(readFileSync(join(__dirname, 'golden-hashes.json'), 'utf8')) as Record<string, string>;
  const actual = goldenHashes();

  it('has the same set of files', () => {
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    expect(Object.keys(actual).length).toBe(20 * 5 + 1);
  });

  it.each(Object.keys(expected).sort())('%s has the golden sha256', (path) => {
    expect(actual[path]).toBe(expected[path]);
  });
});

describe('the fast writers are really used', () => {
  it('writes the whole golden cut without falling back to the reference writers', () => {
    const before = { ...writerStats };
    goldenHashes();
    expect(writerStats.reference - before.reference).toBe(0);
    // 20 datasets x (csv, json, ndjson, xpt, and ndjson again inside dsjc)
    expect(writerStats.fast - before.fast).toBe(20 * 5);
  });
});
