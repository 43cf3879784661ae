/**
 * Worker-thread task of deriveEndpointTablesParallel: derives the tables of one shard of subjects
 * (given as JSON, the form study inputs are stored in) and moves the tables' id arrays back.
 */
import { Piscina } from 'piscina';
import { isInputError } from '@app/core';
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
export interface DeriveTaskError {
  error: { code: string; message: string; detail?: unknown };
}

export default function deriveTask(task: DeriveTask): unknown {
  let r: DeriveTaskResult;
  try {
    const input = JSON.parse(task.json) as StudyInput;
    const { tables, issues } = deriveEndpointTables(input, task.settings, { blinded: task.blinded });
    r = { tables, issues };
  } catch (e) {
    if (isInputError(e)) return { error: { code: e.code, message: e.message, detail: e.detail } } satisfies DeriveTaskError;
    throw e;
  }
  const buffers = new Set<ArrayBuffer>();
  for (const t of r.tables) for (const d of t.data) buffers.add(d.ids.buffer as ArrayBuffer);
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return [...buffers];
    },
    get [Piscina.valueSymbol]() {
      return r;
    },
  } as unknown as ArrayBuffer);
}
