/**
 * Worker-thread task of deriveEndpointTablesParallel: derives the tables of one shard of subjects, each
 * subject given as its own JSON (the form study inputs are stored in) and parsed only when its turn
 * comes, and moves the tables' id arrays back.
 */
import { moveResult } from '@app/core';
import type { Table } from '@app/datasets';
import { deriveSortedTables } from './datasets';
import type { ProtocolSettings, StudyInput, SubjectInput } from './types';
import { resolveSettings } from './util';

export interface DeriveTask {
  study: Pick<StudyInput, 'studyId' | 'dataCutDate'>;
  /** JSON of each subject of the shard, sorted by USUBJID, no duplicates (the caller checked). */
  subjects: string[];
  settings: Partial<ProtocolSettings>;
  blinded: boolean;
}
export interface DeriveTaskResult {
  tables: Table[];
  issues: string[];
}
export default function deriveTask(task: DeriveTask): DeriveTaskResult {
  const json = task.subjects;
  const { tables, issues } = deriveSortedTables(task.study, json.length, (i) => JSON.parse(json[i]) as SubjectInput, resolveSettings(task.settings), task.blinded);
  return moveResult({ tables, issues }, tables.flatMap((t) => t.data.map((d) => d.ids.buffer)));
}
