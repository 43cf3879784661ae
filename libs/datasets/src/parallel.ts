/**
 * Writes tables in several formats on several threads. The work is cut into units, one per table and
 * format (JSON, NDJSON and DSJC of a table are one unit: they share a pass), costed by rows x format,
 * and spread over the threads longest-first; the calling thread takes one group itself (no copy of its
 * tables), the shared worker pool (@app/core workerPool) the others. Every file is streamed through
 * writeTable, so the bytes are exactly writeTable's in one thread (tests/datasets/parallel.test.ts).
 * A worker gets a copy of the tables of its units (ids arrays + dictionaries: a few bytes per row and
 * column).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
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
 * Splits the work (tables x formats) into at most n groups of about equal cost: units (a table's JSON,
 * NDJSON and DSJC together, its CSV, its XPT) assigned longest first to the cheapest group so far.
 */
export function planWrites(rows: number[], formats: TableFormat[], n: number): WriteUnit[][] {
  const uniq = [...new Set(formats)];
  const jsonish: TableFormat[] = uniq.filter((f) => f === 'json' || f === 'ndjson' || f === 'dsjc');
  const bundles: TableFormat[][] = [...(jsonish.length ? [jsonish] : []), ...uniq.filter((f) => !jsonish.includes(f)).map((f) => [f])];
  const units: WriteUnit[] = [];
  rows.forEach((r, table) => {
    for (const b of bundles) units.push({ table, formats: b, cost: (r + 1) * b.reduce((a, f) => a + COST[f], 0) });
  });
  units.sort((a, b) => b.cost - a.cost || a.table - b.table);
  const groups: WriteUnit[][] = Array.from({ length: Math.max(1, Math.min(n, units.length)) }, () => []);
  const load = groups.map(() => 0);
  for (const u of units) {
    let best = 0;
    for (let g = 1; g < groups.length; g++) if (load[g] < load[best]) best = g;
    groups[best].push(u);
    load[best] += u.cost;
  }
  return groups.filter((g) => g.length);
}

export interface ParallelWriteOptions {
  /** Threads, the calling one included; default os.availableParallelism() from PARALLEL_MIN_ROWS rows on, else 1. */
  threads?: number;
  /** 'hash': sizes and sha256 only (the bytes are dropped); 'collect': also every file's bytes. */
  mode?: 'hash' | 'collect';
  xpt?: XptWriteOptions;
}

/**
 * Every table in every format, in parallel. Returns one WrittenFile per table and format, in the order
 * tables x formats given. Errors (bad values, lengths...) are the writers' InputErrors.
 */
export async function writeTablesParallel(tables: TableInput[], meta: DatasetFileMeta, formats: TableFormat[], opts: ParallelWriteOptions = {}): Promise<WrittenFile[]> {
  const mode = opts.mode ?? 'hash';
  const rows = tables.map(rowCountOf);
  // by default small cuts stay in the calling thread: a worker costs a copy of the tables
  const threads = Math.max(1, opts.threads ?? (rows.reduce((a, b) => a + b, 0) >= PARALLEL_MIN_ROWS ? availableParallelism() : 1));
  const groups = planWrites(rows, formats, threads);
  const task = (g: WriteUnit[]): WriteTask => ({ items: g.map((u) => ({ table: tables[u.table], formats: u.formats })), meta, xpt: opts.xpt, mode });
  // workers first (they start at once), then the calling thread's own group
  const pending = groups.slice(1).map((g) => runInWorker<WrittenFile[]>(WRITE_TASK, task(g)));
  let mine: WrittenFile[];
  try {
    mine = runWriteTask(task(groups[0]));
  } catch (e) {
    await Promise.allSettled(pending);
    throw e;
  }
  const results = [mine, ...(await Promise.all(pending))];
  const byKey = new Map<string, WrittenFile>();
  for (const r of results) for (const f of r) byKey.set(`${f.table}\u0000${f.format}`, f.bytes && !Buffer.isBuffer(f.bytes) ? { ...f, bytes: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength) } : f);
  const out: WrittenFile[] = [];
  for (const t of tables) for (const f of [...new Set(formats)]) out.push(byKey.get(`${tableName(t)}\u0000${f}`)!);
  return out;
}
