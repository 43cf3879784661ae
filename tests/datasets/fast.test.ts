/**
 * The fast writers against the reference writers (the original implementations, kept for errors):
 * random datasets must give identical bytes in every format, and bad input must raise the identical
 * InputError (code and message).
 */
import fc from 'fast-check';
import {
  type Column, type Dataset, type Value,
  writeCsv, writeCsvReference, writeDatasetJson, writeDatasetJsonReference, writeDatasetNdjson, writeDatasetNdjsonReference,
  writeXpt, writeXptReference, writerStats,
} from '@app/datasets';
import { META, RANDOM_COLUMNS, col, outcome, randomDataset } from './helpers';


const WRITERS: [string, (d: Dataset) => Buffer, (d: Dataset) => Buffer][] = [
  ['csv', writeCsv, writeCsvReference],
  ['json', (d) => writeDatasetJson(d, META), (d) => writeDatasetJsonReference(d, META)],
  ['ndjson', (d) => writeDatasetNdjson(d, META), (d) => writeDatasetNdjsonReference(d, META)],
  ['xpt', (d) => writeXpt(d, META), (d) => writeXptReference(d, META)],
];

describe.each(WRITERS)('%s fast writer', (_name, fast, ref) => {
  it('gives the reference bytes on random datasets', () => {
    const fellBack = writerStats.reference;
    fc.assert(fc.property(randomDataset, (d) => {
      expect(fast(d).equals(ref(d))).toBe(true);
    }), { numRuns: 150 });
    expect(writerStats.reference).toBe(fellBack); // valid canonical input never needs the reference writer
  });

  it('gives the reference output for non-canonical values (integer as text, decimal text in a double column)', () => {
    const d: Dataset = { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('I', 'integer'), col('D', 'double'), col('S', 'string')], rows: [['12', '1.50', 'a'], [3, 2, undefined as unknown as Value]] };
    expect(outcome(() => fast(d))).toEqual(outcome(() => ref(d)));
    expect(outcome(() => fast(d)).bytes).toBeDefined();
  });

  it.each<[string, Dataset]>([
    ['a bad integer', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('I', 'integer')], rows: [[1], [1.5]] }],
    ['an impossible date', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('DT', 'date', { targetDataType: 'integer' })], rows: [['2023-02-29']] }],
    ['a ragged row', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('A', 'string'), col('B', 'string')], rows: [['a', 'b'], ['c']] }],
    ['an unknown dataType', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('A', 'text' as Column['dataType'])], rows: [['a']] }],
    ['a number outside the IBM range', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('D', 'double')], rows: [[1e-300]] }],
    ['a value longer than its declared length', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 3 })], rows: [['abc'], ['abcd']] }],
    ['a UTF-8 value longer than its declared length', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 3 })], rows: [['éé']] }],
    ['a declared length over 200', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 201 })], rows: [['a']] }],
    ['a bad name and a bad value', { name: 'TOO_LONG_NAME', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('I', 'integer')], rows: [[0.5]] }],
  ])('raises the reference error for %s', (_what, d) => {
    const a = outcome(() => fast(d));
    expect(a).toEqual(outcome(() => ref(d)));
  });
});
