/**
 * Task of writeTablesParallel (a worker thread's or the calling thread's share): writes tables in some
 * formats (every item, or the items it takes from a counter shared with other threads) and returns, per file,
 * its size and sha256 and (mode 'collect') its bytes, moved to the caller without a copy; mode 'stream' sends
 * each file's bytes on as soon as the file is done (a port to the caller, moved, in blocks never joined into one
 * buffer) instead of returning them.
 */
import { createHash } from 'node:crypto';
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { moveResult } from '@app/core';
import type { DatasetFileMeta } from './types';
import { tableName, writeTable, type TableFormat, type TableInput } from './table';
import type { XptWriteOptions } from './xpt';

export interface WriteTask {
  /** Each table with the formats to write it in (`table` absent: asked for through `tables` when the item is taken). */
  items: { table?: TableInput; formats: TableFormat[] }[];
  /**
   * On a worker thread: the tables are not in `items` (a copy of every table in every worker) but asked for one at a
   * time as items are taken: the item's index posted on `port`, the caller posts the table back and then sets
   * `signal` to 1. A worker holds only the table it is writing (a 10,000-subject cut: 1.5 GB less at its peak).
   */
  tables?: { port: MessagePort; signal: Int32Array };
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
  /** Mode 'collect': the file's bytes. */
  bytes?: Uint8Array;
  /** Mode 'stream': the file's bytes in order, as blocks of up to STREAM_BLOCK bytes (never joined: no second copy of a big file). */
  chunks?: Uint8Array[];
}

/** Block size of a streamed file: the writers' small chunks are gathered into blocks this big (each its own ArrayBuffer, moved to the caller). */
export const STREAM_BLOCK = 16 << 20;

/** A file's bytes gathered into blocks of their own (moved to the caller as they are, never joined). */
export class Blocks {
  readonly done: Uint8Array[] = [];
  private cur: Uint8Array | undefined;
  private pos = 0;
  constructor(private readonly size = STREAM_BLOCK) {}
  add(chunk: Uint8Array): void {
    let o = 0;
    while (o < chunk.length) {
      if (!this.cur || this.pos === this.cur.length) {
        if (this.cur) this.done.push(this.cur);
        this.cur = new Uint8Array(this.size);
        this.pos = 0;
      }
      const n = Math.min(chunk.length - o, this.cur.length - this.pos);
      this.cur.set(chunk.subarray(o, o + n), this.pos);
      this.pos += n;
      o += n;
    }
  }
  /** The blocks, the last one cut to its bytes (copied when it is mostly empty, so that no block is moved half unused). */
  finish(): Uint8Array[] {
    if (this.cur && this.pos) this.done.push(this.pos < this.cur.length >> 1 ? this.cur.slice(0, this.pos) : this.cur.subarray(0, this.pos));
    this.cur = undefined;
    return this.done;
  }
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

/** The table of item i: in the task, or asked for from the caller (task.tables) and waited for. */
function tableOf(task: WriteTask, i: number): TableInput {
  const own = task.items[i]!.table;
  if (own) return own;
  if (!task.tables) throw new Error(`write task: item ${i} has no table and no port to ask for it`);
  const { port, signal } = task.tables;
  Atomics.store(signal, 0, 0);
  port.postMessage(i);
  // the caller answers from its event loop (it is waiting for this task, never blocked)
  while (Atomics.wait(signal, 0, 0, 60_000) === 'timed-out') {
    /* a busy caller: keep waiting (the task itself fails if the caller is gone) */
  }
  const m = receiveMessageOnPort(port);
  if (!m) throw new Error(`write task: the table of item ${i} was signalled but not received`);
  return m.message as TableInput;
}

function writeItems(task: WriteTask): WrittenFile[] {
  const out: WrittenFile[] = [];
  for (let k = 0; ; k++) {
    const i = task.next ? Atomics.add(task.next, 0, 1) : k;
    if (i >= task.items.length) break;
    const { formats } = task.items[i];
    const t = tableOf(task, i);
    const files = new Map<TableFormat, { h: ReturnType<typeof createHash>; size: number; parts: Buffer[]; blocks: Blocks }>();
    for (const f of formats) files.set(f, { h: createHash('sha256'), size: 0, parts: [], blocks: new Blocks() });
    writeTable(t, task.meta, formats, (f, chunk) => {
      const file = files.get(f)!;
      file.h.update(chunk);
      file.size += chunk.length;
      if (task.mode === 'stream') file.blocks.add(chunk);
      else if (task.mode !== 'hash') file.parts.push(Buffer.from(chunk));
    }, task.xpt ?? {});
    for (const [format, file] of files) {
      if (task.mode === 'stream') {
        // sent on now, as its blocks (moved, not joined), so that a big cut's files are stored (and freed) while the
        // next ones are written, and no file is ever held twice
        const written: WrittenFile = { table: tableName(t), format, size: file.size, sha256: file.h.digest('hex') };
        const chunks = file.blocks.finish();
        if (task.port) task.port.postMessage({ ...written, chunks }, chunks.map((c) => c.buffer as ArrayBuffer));
        else task.sink?.({ ...written, chunks });
        out.push(written);
        continue;
      }
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
      out.push(bytes ? { ...written, bytes } : written);
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
