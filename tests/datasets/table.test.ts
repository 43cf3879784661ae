/**
 * Columnar tables (TableBuilder + streaming writeTable) against the row writers: identical bytes in every
 * format on the golden cut and on random datasets, identical InputErrors on bad input, and a table split
 * into row ranges concatenates to the whole file (what the parallel cut writer relies on).
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import fc from 'fast-check';
import {
  type Column, type Dataset, type Table, type TableFormat, type Value,
  TableBuilder, columnsOf, datasetToTable, rowCountOf, tableToDataset, writeDataset, writeTable, writeTableFile,
} from '@app/datasets';
import { goldenDatasets, GOLDEN_META } from './golden';
import { META, RANDOM_COLUMNS, col, outcome, randomDataset } from './helpers';

const FORMATS: TableFormat[] = ['csv', 'json', 'ndjson', 'dsjc', 'xpt'];

/** All formats of a table from one writeTable call (files collected per format). */
function allFiles(t: Table, meta = META, part?: { rows: [number, number]; head: boolean; tail: boolean }): Record<string, Buffer> {
  const parts: Record<string, Buffer[]> = {};
  writeTable(t, meta, part ? FORMATS.filter((f) => f !== 'dsjc') : FORMATS, (f, c) => (parts[f] ??= []).push(Buffer.from(c)), part ?? {});
  return Object.fromEntries(Object.entries(parts).map(([f, p]) => [f, Buffer.concat(p)]));
}

describe('Table writers', () => {
  it('write the golden cut byte for byte like the row writers, every format, in one pass', () => {
    for (const ds of goldenDatasets()) {
      const files = allFiles(datasetToTable(ds), GOLDEN_META);
      for (const f of FORMATS) {
        const want = writeDataset(ds, GOLDEN_META, f);
        expect({ ds: ds.name, f, same: files[f]?.equals(want) }).toEqual({ ds: ds.name, f, same: true });
      }
    }
  });

  it('give the row writers\' bytes on random datasets', () => {
    fc.assert(fc.property(randomDataset, (d) => {
      const t = datasetToTable(d);
      for (const f of FORMATS) expect(writeTableFile(t, META, f).equals(writeDataset(d, META, f))).toBe(true);
      // values come back as they went in (-0 and 0 share a dictionary entry: every format writes them alike)
      const z = (rows: Value[][]) => rows.map((r) => r.map((v) => (v === 0 ? 0 : v)));
      expect(z(tableToDataset(t).rows)).toEqual(z(d.rows));
    }), { numRuns: 120 });
  });

  it('split into row ranges, concatenate to the whole file', () => {
    fc.assert(fc.property(randomDataset, fc.nat(), fc.nat(), (d, a, b) => {
      const t = datasetToTable(d);
      const n = t.rowCount;
      const [x, y] = [a % (n + 1), b % (n + 1)].sort((p, q) => p - q);
      const whole = allFiles(t);
      const parts = [
        allFiles(t, META, { rows: [0, x], head: true, tail: false }),
        allFiles(t, META, { rows: [x, y], head: false, tail: false }),
        allFiles(t, META, { rows: [y, n], head: false, tail: true }),
      ];
      for (const f of ['csv', 'json', 'ndjson', 'xpt']) {
        expect(Buffer.concat(parts.map((p) => p[f] ?? Buffer.alloc(0))).equals(whole[f])).toBe(true);
      }
    }), { numRuns: 80 });
  });

  it('write consecutive parts (shards) exactly like the one table holding all their rows', () => {
    fc.assert(fc.property(randomDataset, randomDataset, randomDataset, (a, b, c) => {
      const head = { name: 'R', label: 'Random', itemGroupOID: 'IG.R', standard: 'other' as const };
      const build = (rows: Value[][]) => {
        const t = new TableBuilder(head, RANDOM_COLUMNS, 2);
        for (const r of rows) t.add(r);
        return t.finish({ lengthsFromData: true });
      };
      const whole = build([...a.rows, ...b.rows, ...c.rows]);
      const parts = [build(a.rows), build(b.rows), build(c.rows)];
      expect(columnsOf(parts)).toEqual(whole.columns);
      expect(rowCountOf(parts)).toBe(whole.rowCount);
      const z = (d: Dataset) => ({ ...d, rows: d.rows.map((r) => r.map((v) => (v === 0 ? 0 : v))) }); // -0 and 0 write alike
      expect(z(tableToDataset(parts))).toEqual(z(tableToDataset(whole)));
      for (const f of FORMATS) expect(writeTableFile(parts, META, f).equals(writeTableFile(whole, META, f))).toBe(true);
      // a row range across part boundaries
      const n = whole.rowCount;
      const mid = Math.floor(n / 2);
      const cat = (r: [number, number], head: boolean, tail: boolean) => {
        const out: Record<string, Buffer[]> = { xpt: [], json: [] };
        writeTable(parts, META, ['xpt', 'json'], (f, ch) => out[f].push(Buffer.from(ch)), { rows: r, head, tail });
        return out;
      };
      const [p1, p2] = [cat([0, mid], true, false), cat([mid, n], false, true)];
      for (const f of ['xpt', 'json'] as const) expect(Buffer.concat([...p1[f], ...p2[f]]).equals(writeTableFile(whole, META, f))).toBe(true);
    }), { numRuns: 60 });
    const other = datasetToTable({ name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('X', 'string')], rows: [] });
    expect(() => writeTableFile([datasetToTable({ name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: RANDOM_COLUMNS, rows: [] }), other], META, 'csv')).toThrow(/same columns/);
  });

  it('stream big tables in chunks and reuse the chunk buffer', () => {
    const b = new TableBuilder({ name: 'BIG', label: 'Big', itemGroupOID: 'IG.BIG', standard: 'other' }, [col('S', 'string'), col('N', 'integer'), col('X', 'double')], 4);
    // runs of equal leading values (copied from the previous row) across chunk boundaries
    for (let i = 0; i < 60_000; i++) b.add([`subject-${Math.floor(i / 7) % 997}`, Math.floor(i / 3), i / 8]);
    const t = b.finish({ lengthsFromData: true });
    expect(t.columns[0].length).toBe('subject-996'.length);
    const chunks: number[] = [];
    const bufs = new Set<ArrayBufferLike>();
    writeTable(t, META, ['csv'], (_f, c) => {
      chunks.push(c.length);
      bufs.add(c.buffer);
    });
    expect(chunks.length).toBeGreaterThan(1);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1 << 20);
    expect(bufs.size).toBe(1);
    for (const f of FORMATS) expect(writeTableFile(t, META, f).equals(writeDataset(tableToDataset(t), META, f))).toBe(true);
  });

  it('write a row longer than the chunk after the header without losing bytes', () => {
    const big = 'x'.repeat(1_500_000);
    const d: Dataset = { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string'), col('N', 'integer')], rows: [['a', 1], [big, 2], ['b', 3]] };
    for (const f of ['csv', 'json', 'ndjson'] as const) expect(writeTableFile(datasetToTable(d), META, f).equals(writeDataset(d, META, f))).toBe(true);
  });

  it.each<[string, Dataset]>([
    ['a bad integer', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('I', 'integer')], rows: [[1], [1.5]] }],
    ['an impossible date', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('DT', 'date', { targetDataType: 'integer' })], rows: [['2023-02-29']] }],
    ['a ragged row', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('A', 'string'), col('B', 'string')], rows: [['a', 'b'], ['c']] }],
    ['an unknown dataType', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('A', 'text' as Column['dataType'])], rows: [['a']] }],
    ['a number outside the IBM range', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('D', 'double')], rows: [[1], [1e-300]] }],
    ['a value longer than its declared length', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 3 })], rows: [['abc'], ['abcd']] }],
    ['a UTF-8 value longer than its declared length', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 3 })], rows: [['éé']] }],
    ['a declared length over 200', { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 201 })], rows: [['a']] }],
    ['a bad dataset name', { name: 'TOO_LONG_NAME', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('S', 'string', { length: 201 })], rows: [['a']] }],
    ['a bad name and a bad value', { name: 'TOO_LONG_NAME', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('I', 'integer')], rows: [[0.5]] }],
  ])('raise the reference error for %s', (_what, d) => {
    for (const f of FORMATS) {
      const ref = outcome(() => writeDataset(d, META, f));
      expect({ f, ...outcome(() => writeTableFile(datasetToTable(d), META, f)) }).toEqual({ f, ...ref });
    }
  });

  it('refuse a row range outside the table and an unknown format', () => {
    const t = datasetToTable({ name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other', columns: [col('I', 'integer')], rows: [[1], [2]] });
    expect(() => writeTable(t, META, ['csv'], () => undefined, { rows: [1, 3] })).toThrow(/row range/);
    expect(() => writeTable(t, META, ['sas7bdat' as TableFormat], () => undefined)).toThrow(/unknown format/);
    expect(() => writeTable(t, META, ['dsjc'], () => undefined, { rows: [0, 1] })).toThrow(/whole table/);
  });
});

describe('TableBuilder set / setId / commit (rows without row arrays)', () => {
  const head = { name: 'R', label: 'R', itemGroupOID: 'IG.R', standard: 'other' as const };

  it('builds the same table as add() on random datasets, setting only the columns that change', () => {
    fc.assert(
      fc.property(randomDataset, (ds) => {
        const viaAdd = datasetToTable(ds);
        const b = new TableBuilder({ name: ds.name, label: ds.label, itemGroupOID: ds.itemGroupOID, standard: ds.standard }, ds.columns, 16);
        let prev: Value[] | null = null;
        for (const r of ds.rows) {
          // columns equal to the previous row's are left alone: commit() keeps their ids
          r.forEach((v, ci) => {
            if (!prev || prev[ci] !== v) b.set(ci, v);
          });
          b.commit();
          prev = r;
        }
        expect(tableToDataset(b.finish())).toEqual(tableToDataset(viaAdd));
      }),
      { numRuns: 60 },
    );
  });

  it('setId reuses an id from idOf, a column not set keeps its previous value, null is id 0', () => {
    const b = new TableBuilder(head, [col('A', 'string'), col('N', 'integer'), col('D', 'date')]);
    const x = b.idOf(0, 'x');
    expect(b.idOf(0, 'x')).toBe(x);
    expect(b.idOf(0, null)).toBe(0);
    b.setId(0, x);
    b.set(1, 7);
    b.set(2, '2024-01-31');
    b.commit();
    b.set(1, 8); // A and D unchanged
    b.commit();
    b.set(0, null);
    b.setId(2, 0);
    b.commit();
    expect(tableToDataset(b.finish()).rows).toEqual([['x', 7, '2024-01-31'], ['x', 8, '2024-01-31'], [null, 8, null]]);
  });

  it('checks values as add() does (same InputError, row of the row being built)', () => {
    const b = new TableBuilder(head, [col('N', 'integer'), col('D', 'date', { targetDataType: 'integer' })]);
    b.set(0, 1);
    b.set(1, '2024-01-01');
    b.commit();
    expect(() => b.set(0, 1.5)).toThrow(expect.objectContaining({ code: 'dataset.type-mismatch' }));
    expect(() => b.set(1, '2024-13-01')).toThrow(/row 2/);
  });

  it('scoped columns: a value met again after newScope() gets a second id, the table and its files are unchanged', () => {
    const cols = [col('U', 'string'), col('R', 'string'), col('N', 'integer')];
    const rows: Value[][] = [];
    for (let s = 0; s < 50; s++) for (let k = 0; k < 7; k++) rows.push([`S${s}`, `READ-${(s * 7 + k) % 60}`, k]);
    const plain = new TableBuilder(head, cols);
    const scoped = new TableBuilder(head, cols, 16, { scoped: ['R', 'NOT-A-COLUMN'] });
    rows.forEach((r, i) => {
      if (i % 7 === 0) scoped.newScope();
      plain.add(r);
      scoped.add(r);
    });
    const a = plain.finish({ lengthsFromData: true });
    const b = scoped.finish({ lengthsFromData: true });
    expect(b.data[1].values.length).toBeGreaterThan(a.data[1].values.length); // READ-n met in several scopes
    expect(b.data[0].values.length).toBe(a.data[0].values.length); // U is not scoped
    expect(tableToDataset(b)).toEqual(tableToDataset(a));
    for (const f of FORMATS) expect(writeTableFile(b, META, f).equals(writeTableFile(a, META, f))).toBe(true);
  });

  it('reserve() keeps the rows so far, and more rows than reserved still fit', () => {
    const b = new TableBuilder(head, [col('I', 'integer'), col('S', 'string')], 16);
    const want: Value[][] = [];
    for (let i = 0; i < 5000; i++) {
      if (i === 1500) b.reserve(3000); // rows 0..1023 are in the columns, the rest still staged
      if (i === 10) b.reserve(5); // less than there is room for: nothing to do
      const r = [i % 700, i % 2 ? `odd${i % 11}` : null];
      b.add(r);
      want.push(r);
    }
    expect(tableToDataset(b.finish()).rows).toEqual(want);
  });

  it('shared: id arrays in SharedArrayBuffers through reserve, widening and the exact-length copy; same table, same files; a port passes them uncopied', () => {
    const cols = [col('I', 'integer'), col('S', 'string'), col('D', 'decimal')];
    const build = (shared: boolean) => {
      const b = new TableBuilder(head, cols, 16, { shared });
      for (let i = 0; i < 3000; i++) {
        if (i === 100) b.reserve(20_000); // far more than used: finish() makes an exact-length copy
        b.add([i % 400, i % 5 ? `v${i % 37}` : null, i % 3 ? (i % 70_000) / 10 : null]);
      }
      return b.finish({ lengthsFromData: true });
    };
    const plain = build(false);
    const shared = build(true);
    for (const d of shared.data) expect(d.ids.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const d of plain.data) expect(d.ids.buffer).toBeInstanceOf(ArrayBuffer);
    expect(shared.data[0].ids).toBeInstanceOf(Uint16Array); // widened past 255 values
    expect(shared.data[0].ids.length).toBe(3000);
    expect(tableToDataset(shared)).toEqual(tableToDataset(plain));
    for (const f of FORMATS) expect(writeTableFile(shared, META, f).equals(writeTableFile(plain, META, f))).toBe(true);
    // what crosses to a worker thread: the same memory, not a copy
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(shared);
    const got = receiveMessageOnPort(port2)!.message as Table;
    port1.close();
    got.data[1].ids[0] = 99;
    expect(shared.data[1].ids[0]).toBe(99);
  });

  it('widens id arrays past 255 and 65535 distinct values while rows are committed', () => {
    const b = new TableBuilder(head, [col('I', 'integer'), col('S', 'string')], 16);
    const want: Value[][] = [];
    let str = '';
    for (let i = 0; i < 70_000; i++) {
      b.set(0, i);
      if (i % 3 === 0) b.set(1, (str = `s${(i / 3) % 300}`));
      b.commit();
      want.push([i, str]);
    }
    const t = b.finish();
    expect(t.data[0].ids).toBeInstanceOf(Uint32Array);
    expect(t.data[1].ids).toBeInstanceOf(Uint16Array);
    const rows = tableToDataset(t).rows;
    expect(rows).toEqual(want);
  });
});
