/**
 * Task of writeTablesParallel (a worker thread's or the calling thread's share): writes some tables in
 * some formats and returns, per file,
 * its size and sha256 and (mode 'collect') its bytes, moved to the caller without a copy.
 */
import { createHash } from 'node:crypto';
import { Piscina } from 'piscina';
import { isInputError } from '@app/core';
import type { DatasetFileMeta } from './types';
import { tableName, writeTable, type TableFormat, type TableInput } from './table';
import type { XptWriteOptions } from './xpt';

export interface WriteTask {
  /** Each table with the formats to write it in. */
  items: { table: TableInput; formats: TableFormat[] }[];
  meta: DatasetFileMeta;
  xpt?: XptWriteOptions;
  mode: 'hash' | 'collect';
}

export interface WrittenFile {
  table: string;
  format: TableFormat;
  size: number;
  sha256: string;
  bytes?: Uint8Array;
}

/** Runs in the calling thread too (the parallel writer's fallback); errors propagate as thrown. */
export function runWriteTask(task: WriteTask): WrittenFile[] {
  const out: WrittenFile[] = [];
  for (const { table: t, formats } of task.items) {
    const files = new Map<TableFormat, { h: ReturnType<typeof createHash>; size: number; parts: Buffer[] }>();
    for (const f of formats) files.set(f, { h: createHash('sha256'), size: 0, parts: [] });
    writeTable(t, task.meta, formats, (f, chunk) => {
      const file = files.get(f)!;
      file.h.update(chunk);
      file.size += chunk.length;
      if (task.mode === 'collect') file.parts.push(Buffer.from(chunk));
    }, task.xpt ?? {});
    for (const [format, file] of files) {
      let bytes: Uint8Array | undefined;
      if (task.mode === 'collect') {
        // its own ArrayBuffer (never Node's shared pool): it is transferred back to the caller
        bytes = new Uint8Array(file.size);
        let o = 0;
        for (const p of file.parts) {
          bytes.set(p, o);
          o += p.length;
        }
      }
      out.push({ table: tableName(t), format, size: file.size, sha256: file.h.digest('hex'), ...(bytes ? { bytes } : {}) });
    }
  }
  return out;
}

/** An InputError raised in a worker, sent back as data (an Error crossing threads loses its code). */
export interface WriteTaskError {
  error: { code: string; message: string; detail?: unknown };
}

export default function writeTask(task: WriteTask): unknown {
  let files: WrittenFile[];
  try {
    files = runWriteTask(task);
  } catch (e) {
    if (isInputError(e)) return { error: { code: e.code, message: e.message, detail: e.detail } } satisfies WriteTaskError;
    throw e;
  }
  if (task.mode !== 'collect') return files;
  // the file bytes go back moved (transferred), not copied
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return files.map((f) => f.bytes!.buffer);
    },
    get [Piscina.valueSymbol]() {
      return files;
    },
  } as unknown as ArrayBuffer);
}
