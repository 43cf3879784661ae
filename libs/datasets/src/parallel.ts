/**
 * Writes tables in several formats on several threads. The work is cut into units, one per table and
 * format (JSON, NDJSON and DSJC of a table are one unit: they share a pass), ordered by estimated cost
 * (rows x format), biggest first. Every writing thread takes the next unit not taken yet from a shared
 * counter (Atomics) until none is left: a thread that is slowed down (a cold JIT, a busy core) simply takes
 * fewer units, so the threads finish together. With more than one thread they are all worker threads of the
 * shared pool and the calling thread only waits: its event loop stays free for what a service process must
 * go on doing meanwhile (job lease heartbeats, Bull's lock renewal, database connections), where taking
 * units itself was one synchronous call of about 15 s for a 10,000-subject cut. With one thread (small
 * cuts, below PARALLEL_MIN_ROWS) the calling thread writes everything, without the copy to a worker. Every file is streamed through
 * writeTable, so the bytes are exactly writeTable's in one thread (tests/datasets/parallel.test.ts).
 * A worker gets a copy of the tables' dictionaries (their id arrays too unless they live in
 * SharedArrayBuffers, see TableBuilder's `shared`).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { runInWorker } from '@app/core';
import type { DatasetFileMeta } from './types';
import { rowCountOf, tableName, type TableFormat, type TableInput } from './table';
import { runWriteTask, type WriteTask, type WrittenFile } from './write-task';
import type { XptWriteOptions } from './xpt';

export type { WrittenFile } from './write-task';

/** Rows (all tables together) from which writeTablesParallel uses several threads by default. */
export const PARALLEL_MIN_ROWS = 200_000;

const WRITE_TASK = join(__dirname, 'write-task');

/** Relative cost per row of writing one format (measured on the endpoint datasets). */
const COST: Record<TableFormat, number> = { csv: 1, json: 1.1, ndjson: 0.4, xpt: 0.9, dsjc: 4 };

/** One table's formats written in one pass. */
export interface WriteUnit {
  table: number;
  formats: TableFormat[];
  cost: number;
}

/**
 * The work (tables x formats) as units: a table's JSON, NDJSON and DSJC together, its CSV, its XPT;
 * biggest estimated cost first (the order the threads take them in).
 */
export function writeUnits(rows: number[], formats: TableFormat[]): WriteUnit[] {
  const uniq = [...new Set(formats)];
  const jsonish: TableFormat[] = uniq.filter((f) => f === 'json' || f === 'ndjson' || f === 'dsjc');
  const bundles: TableFormat[][] = [...(jsonish.length ? [jsonish] : []), ...uniq.filter((f) => !jsonish.includes(f)).map((f) => [f])];
  const units: WriteUnit[] = [];
  rows.forEach((r, table) => {
    for (const b of bundles) units.push({ table, formats: b, cost: (r + 1) * b.reduce((a, f) => a + COST[f], 0) });
  });
  return units.sort((a, b) => b.cost - a.cost || a.table - b.table);
}

export interface ParallelWriteOptions {
  /** Writing threads: 1 = the calling thread; more = that many worker threads. Default os.availableParallelism() from PARALLEL_MIN_ROWS rows on, else 1. */
  threads?: number;
  /** 'hash': sizes and sha256 only (the bytes are dropped); 'collect': also every file's bytes. */
  mode?: 'hash' | 'collect';
  xpt?: XptWriteOptions;
  /**
   * Each file (its bytes as `chunks`: blocks in order, never joined, so a big file is never held twice) as soon as
   * it is written, for the caller to store and let go: no file's bytes are
   * returned, and at most the files written but not yet handed over (or still being stored) are in memory, instead
   * of the whole cut (2.4 GB for a 10,000-subject trial with reads). Their promises are awaited before returning;
   * the first rejection fails the write.
   */
  onFile?: (file: WrittenFile & { chunks: Buffer[] }) => Promise<void> | void;
}

/**
 * Every table in every format, in parallel. Returns one WrittenFile per table and format, in the order
 * tables x formats given. Errors (bad values, lengths...) are the writers' InputErrors.
 */
export async function writeTablesParallel(tables: TableInput[], meta: DatasetFileMeta, formats: TableFormat[], opts: ParallelWriteOptions = {}): Promise<WrittenFile[]> {
  const mode = opts.onFile ? 'stream' : (opts.mode ?? 'hash');
  const rows = tables.map(rowCountOf);
  // by default small cuts stay in the calling thread: a worker costs a copy of the tables
  const threads = Math.max(1, opts.threads ?? (rows.reduce((a, b) => a + b, 0) >= PARALLEL_MIN_ROWS ? availableParallelism() : 1));
  const units = writeUnits(rows, formats);
  const workers = Math.min(threads, units.length);
  // the next unit to take, shared by every worker
  const next = new Int32Array(new SharedArrayBuffer(4));
  const task: WriteTask = { items: units.map((u) => ({ table: tables[u.table], formats: u.formats })), meta, xpt: opts.xpt, mode, next: workers > 1 ? next : undefined };
  // worker threads get no table up front (each would hold a copy of every table): each asks for the table of the item
  // it takes, and holds only that one
  const lazyItems = units.map((u) => ({ formats: u.formats }));
  const ports: MessagePort[] = [];
  const tablePort = (signal: Int32Array): MessagePort => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (i: number) => {
      port1.postMessage(tables[units[i]!.table]);
      Atomics.store(signal, 0, 1);
      Atomics.notify(signal, 0);
    });
    ports.push(port1);
    return port2;
  };
  const handOver = opts.onFile ? new FileHandOver(opts.onFile) : undefined;
  let results: WrittenFile[][];
  if (workers <= 1) {
    try {
      results = [runWriteTask({ ...task, sink: handOver ? (f) => handOver.take(f) : undefined })];
    } catch (e) {
      await handOver?.settle();
      throw e;
    }
  } else {
    const pending = Array.from({ length: workers }, () => {
      const signal = new Int32Array(new SharedArrayBuffer(4));
      const tablesPort = tablePort(signal);
      const lazy: WriteTask = { ...task, items: lazyItems, tables: { port: tablesPort, signal } };
      if (!handOver) return runInWorker<WrittenFile[]>(WRITE_TASK, lazy, [tablesPort]);
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (f: WrittenFile) => handOver.take(f));
      ports.push(port1);
      return runInWorker<WrittenFile[]>(WRITE_TASK, { ...lazy, port: port2 }, [port2, tablesPort]);
    });
    // a task that fails has stopped the others taking units (runWriteTask): wait for them all before failing
    const settled = await Promise.allSettled(pending);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    results = failed ? [] : settled.map((r) => (r as PromiseFulfilledResult<WrittenFile[]>).value);
    try {
      // a file's message may come after its task's result (two channels): wait for every file the tasks wrote
      if (handOver && !failed) await handOver.expect(results.flat());
    } finally {
      for (const p of ports) p.close();
    }
    if (failed) {
      await handOver?.settle();
      throw failed.reason;
    }
  }
  await handOver?.done();
  const byKey = new Map<string, WrittenFile>();
  for (const r of results) for (const f of r) byKey.set(`${f.table}\u0000${f.format}`, f.bytes && !Buffer.isBuffer(f.bytes) ? { ...f, bytes: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength) } : f);
  const out: WrittenFile[] = [];
  for (const t of tables) for (const f of [...new Set(formats)]) out.push(byKey.get(`${tableName(t)}\u0000${f}`)!);
  return out;
}

/** writeTablesParallel's onFile: each file handed to the caller once, its store promises collected. */
class FileHandOver {
  private readonly stores: Promise<void>[] = [];
  private readonly seen = new Set<string>();
  private waiting: { keys: Set<string>; resolve: () => void } | undefined;

  constructor(private readonly onFile: NonNullable<ParallelWriteOptions['onFile']>) {}

  take(f: WrittenFile): void {
    const key = `${f.table}\u0000${f.format}`;
    this.seen.add(key);
    // the file's blocks as Buffers over the memory moved here (no copy, never joined)
    const chunks = (f.chunks ?? []).map((c) => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
    const stored = (async () => this.onFile({ ...f, chunks }))();
    stored.catch(() => undefined); // seen by done()
    this.stores.push(stored);
    if (this.waiting?.keys.delete(key) && this.waiting.keys.size === 0) this.waiting.resolve();
  }

  /** Resolves once every one of these files has been handed over. */
  expect(files: WrittenFile[]): Promise<void> {
    const keys = new Set(files.map((f) => `${f.table}\u0000${f.format}`).filter((k) => !this.seen.has(k)));
    if (!keys.size) return Promise.resolve();
    return new Promise((resolve) => (this.waiting = { keys, resolve }));
  }

  /** Every store finished; the first failure is thrown. */
  async done(): Promise<void> {
    await Promise.all(this.stores);
  }

  /** Every store finished, failures ignored (the write itself failed). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.stores);
  }
}
