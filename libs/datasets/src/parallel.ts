/**
 * Writes tables in several formats on worker threads (piscina): the formats are split into groups of
 * about equal cost, one group per thread, and every thread streams its files through writeTable. The
 * result is the same bytes as writeTable in the calling thread (tests/datasets/parallel.test.ts).
 * Tables (or their parts) are copied to each thread once (ids arrays + dictionaries: a few bytes per row
 * and column).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { InputError, runInWorker } from '@app/core';
import type { DatasetFileMeta } from './types';
import { rowCountOf, tableName, type TableFormat, type TableInput } from './table';
import { runWriteTask, type WriteTask, type WriteTaskError, type WrittenFile } from './write-task';
import type { XptWriteOptions } from './xpt';

export type { WrittenFile } from './write-task';

/** Rows (all tables together) from which writeTablesParallel uses worker threads by default. */
export const PARALLEL_MIN_ROWS = 200_000;

const WRITE_TASK = join(__dirname, 'write-task');

/** Relative cost of writing one format (measured on the endpoint datasets); JSON + NDJSON share a pass. */
const COST: Record<TableFormat, number> = { csv: 1, json: 1.2, ndjson: 0.6, xpt: 0.8, dsjc: 4 };

/** Splits formats into at most n groups of about equal cost (json and ndjson/dsjc stay together). */
export function formatGroups(formats: TableFormat[], n: number): TableFormat[][] {
  const uniq = [...new Set(formats)];
  const jsonish: TableFormat[] = uniq.filter((f) => f === 'json' || f === 'ndjson' || f === 'dsjc');
  const units: TableFormat[][] = [...(jsonish.length ? [jsonish] : []), ...uniq.filter((f) => !jsonish.includes(f)).map((f) => [f])];
  const cost = (u: TableFormat[]) => u.reduce((a, f) => a + COST[f], 0);
  units.sort((a, b) => cost(b) - cost(a));
  const groups: TableFormat[][] = Array.from({ length: Math.max(1, Math.min(n, units.length)) }, () => []);
  for (const u of units) {
    // longest processing time first: each unit to the currently cheapest group
    let best = 0;
    for (let g = 1; g < groups.length; g++) if (cost(groups[g]) < cost(groups[best])) best = g;
    groups[best].push(...u);
  }
  return groups.filter((g) => g.length);
}

export interface ParallelWriteOptions {
  /** Worker threads; default os.availableParallelism() from PARALLEL_MIN_ROWS rows on, else 1 (= the calling thread). */
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
  // by default small cuts stay in the calling thread: a worker costs its start-up and a copy of the tables
  const rows = tables.reduce((a, t) => a + rowCountOf(t), 0);
  const threads = Math.max(1, opts.threads ?? (rows >= PARALLEL_MIN_ROWS ? availableParallelism() : 1));
  const groups = formatGroups(formats, threads);
  const tasks: WriteTask[] = groups.map((g) => ({ tables, meta, formats: g, xpt: opts.xpt, mode }));
  let results: WrittenFile[][];
  if (groups.length === 1) results = [runWriteTask(tasks[0])];
  else {
    const raw = await Promise.all(tasks.map((t) => runInWorker<WrittenFile[] | WriteTaskError>(WRITE_TASK, t)));
    results = raw.map((r) => {
      if (!Array.isArray(r)) throw new InputError(r.error.code, r.error.message, r.error.detail as Record<string, unknown> | undefined);
      return r;
    });
  }
  const byKey = new Map<string, WrittenFile>();
  for (const r of results) for (const f of r) byKey.set(`${f.table}\u0000${f.format}`, f.bytes ? { ...f, bytes: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength) } : f);
  const out: WrittenFile[] = [];
  for (const t of tables) for (const f of [...new Set(formats)]) out.push(byKey.get(`${tableName(t)}\u0000${f}`)!);
  return out;
}
