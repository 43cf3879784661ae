/**
 * Worker-thread task of deriveEndpointTablesParallel: derives the tables of one shard of subjects. The
 * subjects come over a MessagePort in batches, each subject as its own JSON (the form study inputs are
 * stored in), and are parsed and derived as they arrive (the worker starts before the caller has
 * serialised the whole shard, and never holds the shard as a whole); `null` ends the shard. The tables'
 * id arrays (SharedArrayBuffers) go back uncopied.
 */
import type { MessagePort } from 'node:worker_threads';
import { moveResult } from '@app/core';
import type { Table } from '@app/datasets';
import { tableDeriver } from './datasets';
import type { ProtocolSettings, StudyInput, SubjectInput } from './types';
import { resolveSettings } from './util';

export interface DeriveTask {
  study: Pick<StudyInput, 'studyId' | 'dataCutDate' | 'reviewProvenance'>;
  /** Subjects of the shard (sizes the tables). */
  count: number;
  /** Sends batches of subject JSON (the shard's subjects in USUBJID order, no duplicates: the caller checked), then null. */
  port: MessagePort;
  settings: Partial<ProtocolSettings>;
  blinded: boolean;
}
export interface DeriveTaskResult {
  tables: Table[];
  issues: string[];
}

export default function deriveTask(task: DeriveTask): Promise<DeriveTaskResult> {
  const { port } = task;
  const d = tableDeriver(task.study, resolveSettings(task.settings), task.blinded, task.count);
  return new Promise((resolve, reject) => {
    let done = false;
    // the caller closes its end only after the shard's end (null): a close before it means the shard
    // will never be complete (settling on it keeps this pool thread from waiting forever)
    port.on('close', () => {
      if (!done) reject(new Error('derive-task: the port closed before the end of the shard'));
    });
    port.on('message', (batch: string[] | null) => {
      try {
        if (batch !== null) {
          for (const json of batch) d.add(JSON.parse(json) as SubjectInput);
          return;
        }
        done = true;
        port.close();
        const { tables, issues } = d.finish();
        // shared id arrays (tableDeriver's) go back as they are; any others are moved, not copied
        const own = tables.flatMap((t) => t.data.map((x) => x.ids.buffer)).filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
        resolve(moveResult({ tables, issues }, own));
      } catch (e) {
        done = true;
        port.close();
        reject(e);
      }
    });
  });
}
