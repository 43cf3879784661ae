/**
 * writeTablesParallel: formats split across worker threads give exactly the files writeDataset gives,
 * with their sha256, in every mode (hashes, bytes returned, bytes handed over file by file as written: streamDataCut);
 * bad data raises the writers' InputError from the worker.
 */
import { createHash } from 'node:crypto';
import { CUT_FORMATS, buildDataCut, buildDataCutParallel, type CutFile, datasetToTable, streamDataCut, writeDataset, writeUnits, writeTablesParallel, type Dataset, type TableFormat } from '@app/datasets';
import { Blocks, STREAM_BLOCK } from '../../libs/datasets/src/write-task';
import { goldenDatasets, GOLDEN_META } from './golden';

const FORMATS: TableFormat[] = ['csv', 'json', 'ndjson', 'dsjc', 'xpt'];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('writeTablesParallel', () => {
  it('cuts the work into (table, formats) units, a table\'s JSON and NDJSON together, biggest first', () => {
    const units = writeUnits([1_000_000, 100, 300_000], ['csv', 'json', 'ndjson', 'xpt']);
    expect(units).toHaveLength(9);
    for (const u of units) if (u.formats.includes('json')) expect(u.formats).toEqual(['json', 'ndjson']);
    for (let i = 1; i < units.length; i++) expect(units[i - 1].cost).toBeGreaterThanOrEqual(units[i].cost);
    expect(units.slice(0, 3).map((u) => u.table)).toEqual([0, 0, 0]);
    expect(units.slice(-3).map((u) => u.table)).toEqual([1, 1, 1]);
    expect(writeUnits([5], ['xpt', 'xpt'])).toEqual([{ table: 0, formats: ['xpt'], cost: expect.any(Number) }]);
  });

  it('writes the golden cut on worker threads: same bytes and sha256 as the row writers', async () => {
    const datasets = goldenDatasets();
    const tables = datasets.map(datasetToTable);
    const files = await writeTablesParallel(tables, GOLDEN_META, FORMATS, { threads: 2, mode: 'collect' });
    expect(files).toHaveLength(datasets.length * FORMATS.length);
    let k = 0;
    for (const ds of datasets) {
      for (const f of FORMATS) {
        const want = writeDataset(ds, GOLDEN_META, f);
        const got = files[k++];
        expect({ table: got.table, format: got.format, size: got.size, sha256: got.sha256 }).toEqual({ table: ds.name, format: f, size: want.length, sha256: sha(want) });
        expect(Buffer.compare(got.bytes!, want)).toBe(0);
      }
    }
    const hashed = await writeTablesParallel(tables, GOLDEN_META, FORMATS, { threads: 2 });
    expect(hashed.map((f) => [f.sha256, f.bytes])).toEqual(files.map((f) => [f.sha256, undefined]));
  });

  it('builds the same data cut (files, manifest) from tables on worker threads as from row datasets', async () => {
    const datasets = goldenDatasets();
    const base = { cutId: 'CUT-P', studyId: 'SIM-GOLDEN', cutoffDate: '2025-01-31', settings: { golden: true }, meta: GOLDEN_META, formats: [...CUT_FORMATS], codeVersion: 'test' };
    const a = buildDataCut({ ...base, datasets });
    // tables in two consecutive parts each, written on two threads
    const split = (d: Dataset) => [datasetToTable({ ...d, rows: d.rows.slice(0, 7) }), datasetToTable({ ...d, rows: d.rows.slice(7) })];
    const b = await buildDataCutParallel({ ...base, datasets: datasets.map(split) }, { threads: 2 });
    expect(b.manifest).toEqual(a.manifest);
    expect(b.files.map((f) => [f.path, f.sha256, f.bytes.toString('base64')])).toEqual(a.files.map((f) => [f.path, f.sha256, f.bytes.toString('base64')]));
    const c = buildDataCut({ ...base, datasets: datasets.map(datasetToTable) });
    expect(c.manifest).toEqual(a.manifest);
  });

  it('hands each file of a cut over once, as it is written (streamDataCut): the same files and manifest as buildDataCut, nothing returned but manifest.json', async () => {
    const datasets = goldenDatasets();
    const base = { cutId: 'CUT-S', studyId: 'SIM-GOLDEN', cutoffDate: '2025-01-31', settings: { golden: true }, meta: GOLDEN_META, formats: [...CUT_FORMATS], codeVersion: 'test' };
    const a = buildDataCut({ ...base, datasets });
    for (const threads of [1, 2]) {
      const got: CutFile[] = [];
      // a slow store: files keep arriving while earlier ones are being stored
      const s = await streamDataCut({ ...base, datasets }, async (f) => {
        await new Promise((r) => setTimeout(r, 5));
        expect(f.chunks.every((c) => c.length > 0 && c.length <= STREAM_BLOCK)).toBe(true);
        expect(f.chunks.reduce((n, c) => n + c.length, 0)).toBe(f.size);
        got.push({ path: f.path, sha256: f.sha256, bytes: Buffer.concat(f.chunks) });
      }, { threads });
      expect(s.manifest).toEqual(a.manifest);
      const byPath = (x: CutFile, y: CutFile) => (x.path < y.path ? -1 : 1);
      const all = [...got, s.manifestFile].sort(byPath);
      expect(all.map((f) => [f.path, f.sha256, f.bytes.toString('base64')])).toEqual([...a.files].sort(byPath).map((f) => [f.path, f.sha256, f.bytes.toString('base64')]));
      expect(got.map((f) => f.path)).not.toContain('manifest.json');
      for (const f of got) expect(sha(f.bytes)).toBe(f.sha256);
    }
    // a store that fails fails the cut (after the writing has ended), on either path
    for (const threads of [1, 2]) {
      let calls = 0;
      await expect(streamDataCut({ ...base, datasets }, async (f) => {
        calls++;
        if (f.path.endsWith('.xpt')) throw new Error(`store refused ${f.path}`);
      }, { threads })).rejects.toThrow(/store refused .*\.xpt/);
      expect(calls).toBe(a.files.length - 1);
    }
  });

  it("gathers a streamed file's chunks into blocks of their own, in order, never a half-empty block moved", () => {
    const bytes = Uint8Array.from({ length: 980 }, (_, i) => (i * 7) % 251);
    for (const cut of [[980], [10, 90, 0, 100, 300, 480], [64, 64, 64, 788], Array.from({ length: 98 }, () => 10)]) {
      const b = new Blocks(64);
      let o = 0;
      for (const n of cut) {
        b.add(bytes.subarray(o, o + n));
        o += n;
      }
      const out = b.finish();
      expect(Buffer.concat(out)).toEqual(Buffer.from(bytes));
      expect(out.map((c) => c.length)).toEqual([...Array(15).fill(64), 20]);
      // every block its own memory (moved to the caller without taking anything else along)
      expect(new Set(out.map((c) => c.buffer)).size).toBe(out.length);
      expect(out[15]!.buffer.byteLength).toBe(20); // the last, mostly empty block was cut to its bytes
    }
    const one = new Blocks(64);
    one.add(bytes.subarray(0, 50));
    expect(one.finish().map((c) => [c.length, c.buffer.byteLength])).toEqual([[50, 64]]); // mostly full: kept as it is
    expect(new Blocks(64).finish()).toEqual([]); // an empty file: no block
  });

  it('reports a writer InputError, whichever thread meets it (workers included), and stops the others', async () => {
    const bad = (k: number): Dataset => ({ name: `TOO_LONG_NAME${k}`, label: 'x', itemGroupOID: `IG.X${k}`, standard: 'other', columns: [{ itemOID: 'IT.X.A', name: 'A', label: 'A', dataType: 'string' }], rows: [['a']] });
    for (const threads of [2, 3]) {
      const tables = [0, 1, 2, 3, 4, 5].map((k) => datasetToTable(bad(k)));
      await expect(writeTablesParallel(tables, GOLDEN_META, ['csv', 'xpt'], { threads })).rejects.toMatchObject({ code: 'xpt.invalid-name', message: expect.stringMatching(/must be a SAS name/) });
    }
  });

  it('gives the same files with more threads than units (threads left without a unit return nothing)', async () => {
    const tables = goldenDatasets().slice(0, 2).map(datasetToTable);
    const one = await writeTablesParallel(tables, GOLDEN_META, ['csv', 'xpt'], { threads: 1 });
    const many = await writeTablesParallel(tables, GOLDEN_META, ['csv', 'xpt'], { threads: 6 });
    expect(many).toEqual(one);
  });
});
