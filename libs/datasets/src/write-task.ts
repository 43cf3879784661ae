/**
 * Task of writeTablesParallel (a worker thread's or the calling thread's share): writes tables in some
 * formats (every item, or the items it takes from a counter shared with other threads) and returns, per file,
 * its size and sha256 and (mode 'collect') its bytes, moved to the caller without a copy; mode 'stream' sends
 * each file's bytes on as soon as the file is done (a port to the caller, moved) instead of returning them.
 */
import { createHash } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
import { moveResult } from '@app/core';
import type { DatasetFileMeta } from './types';
import { tableName, writeTable, type TableFormat, type TableInput } from './table';
import type { XptWriteOptions } from './xpt';

export interface WriteTask {
  /** Each table with the formats to write it in. */
  items: { table: TableInput; formats: TableFormat[] }[];
  meta: DatasetFileMeta;
  xpt?: XptWriteOptions;
  /** 'hash': sizes and sha256 only; 'collect': each file's bytes too, returned; 'stream': each file's bytes sent on as it is done (`port` / `sink`), not returned. */
  mode: 'hash' | 'collect' | 'stream';
  /** 'stream' on a worker thread: each finished file is posted here (its bytes moved). */
  port?: MessagePort;
  /** 'stream' on the calling thread: called with each finished file. */
  sink?: (file: WrittenFile) => void;
  /**
   * Shared by the threads writing the same items (writeTablesParallel): each takes the next item index
   * from it (Atomics.add) until none is left. Absent: this thread writes every item.
   */
  next?: Int32Array;
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
  try {
    return writeItems(task);
  } catch (e) {
    if (task.next) Atomics.store(task.next, 0, task.items.length); // the other threads take no further item
    throw e;
  }
}

function writeItems(task: WriteTask): WrittenFile[] {
  const out: WrittenFile[] = [];
  for (let k = 0; ; k++) {
    const i = task.next ? Atomics.add(task.next, 0, 1) : k;
    if (i >= task.items.length) break;
    const { table: t, formats } = task.items[i];
    const files = new Map<TableFormat, { h: ReturnType<typeof createHash>; size: number; parts: Buffer[] }>();
    for (const f of formats) files.set(f, { h: createHash('sha256'), size: 0, parts: [] });
    writeTable(t, task.meta, formats, (f, chunk) => {
      const file = files.get(f)!;
      file.h.update(chunk);
      file.size += chunk.length;
      if (task.mode !== 'hash') file.parts.push(Buffer.from(chunk));
    }, task.xpt ?? {});
    for (const [format, file] of files) {
      let bytes: Uint8Array | undefined;
      if (task.mode !== 'hash') {
        // its own ArrayBuffer (never Node's shared pool): it is transferred back to the caller
        bytes = new Uint8Array(file.size);
        let o = 0;
        for (const p of file.parts) {
          bytes.set(p, o);
          o += p.length;
        }
      }
      const written: WrittenFile = { table: tableName(t), format, size: file.size, sha256: file.h.digest('hex') };
      file.parts.length = 0;
      if (task.mode === 'stream') {
        // sent on now, so that a big cut's files are stored (and freed) while the next ones are written
        if (task.port) task.port.postMessage({ ...written, bytes }, [bytes!.buffer as ArrayBuffer]);
        else task.sink?.({ ...written, bytes });
        out.push(written);
      } else out.push(bytes ? { ...written, bytes } : written);
    }
  }
  return out;
}

export default function writeTask(task: WriteTask): WrittenFile[] {
  // (its port is closed by the caller once every file has arrived: closing it here could race the last message)
  const files = runWriteTask(task);
  // the file bytes (mode 'collect') go back moved (transferred), not copied
  return task.mode === 'collect' ? moveResult(files, files.map((f) => f.bytes!.buffer)) : files;
}
