/**
 * Worker-thread task of deriveEndpointTablesParallel: derives the tables of one shard of subjects
 * (given as JSON, the form study inputs are stored in) and moves the tables' id arrays back.
 */
import { moveResult } from '@app/core';
import type { Table } from '@app/datasets';
import { deriveEndpointTables } from './datasets';
import type { ProtocolSettings, StudyInput } from './types';

export interface DeriveTask {
  /** JSON of a StudyInput holding this shard's subjects. */
  json: string;
  settings: Partial<ProtocolSettings>;
  blinded: boolean;
}
export interface DeriveTaskResult {
  tables: Table[];
  issues: string[];
}
export default function deriveTask(task: DeriveTask): DeriveTaskResult {
  const input = JSON.parse(task.json) as StudyInput;
  const { tables, issues } = deriveEndpointTables(input, task.settings, { blinded: task.blinded });
  return moveResult({ tables, issues }, tables.flatMap((t) => t.data.map((d) => d.ids.buffer)));
}
