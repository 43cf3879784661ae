/**
 * deriveEndpointTables on several threads: the subjects (sorted by USUBJID) are cut into contiguous
 * shards; the calling thread derives the first shard while worker threads (piscina) derive the others
 * from their subjects' JSON (one string per subject), sent over a MessagePort in batches and parsed
 * subject by subject as they arrive. Each dataset comes back as its shards' tables, consecutive parts of
 * one table (a TableInput: the writers take parts as they are, no merge). Every derivation is per
 * subject, so the result is exactly deriveEndpointTables' (tests/endpoints/parallel.test.ts).
 * Meant for big cuts: a worker costs its start-up plus serialising its shard to JSON.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { InputError, runInWorker } from '@app/core';
import type { Table, TableInput } from '@app/datasets';
import { deriveEndpointTables, deriveSortedTables, sortedSubjects } from './datasets';
import type { DeriveTask, DeriveTaskResult } from './derive-task';
import type { ProtocolSettings, StudyInput } from './types';
import { resolveSettings } from './util';

/** Subjects per thread below which deriveEndpointTablesParallel stays in fewer threads by default. */
export const SUBJECTS_PER_THREAD = 1000;

export interface ParallelDeriveOptions {
  /** Threads including the calling one; default: one per SUBJECTS_PER_THREAD subjects, at most the cores. 1 = deriveEndpointTables. */
  threads?: number;
  /**
   * Share of the subjects the calling thread derives itself when threads = 2 (default 0.55: the worker
   * also parses its subjects' JSON). With more threads the rest is split evenly.
   */
  callerShare?: number;
  /** Subjects sent to a worker per message (default 250): the worker starts on its first batch. */
  sendBatch?: number;
}

export async function deriveEndpointTablesParallel(
  input: StudyInput,
  settingsIn: Partial<ProtocolSettings>,
  opts: { blinded: boolean },
  popts: ParallelDeriveOptions = {},
): Promise<{ tables: TableInput[]; settings: ProtocolSettings; issues: string[] }> {
  // by default one thread per SUBJECTS_PER_THREAD subjects, up to the cores: a worker costs its start-up
  const threads = Math.max(1, Math.floor(popts.threads ?? Math.min(availableParallelism(), Math.floor((input?.subjects?.length ?? 0) / SUBJECTS_PER_THREAD))));
  if (!input || !Array.isArray(input.subjects)) throw new InputError('endpoints.bad-input', 'StudyInput.subjects must be an array');
  if (threads === 1 || input.subjects.length < 2 * threads) return deriveEndpointTables(input, settingsIn, opts);
  const settings = resolveSettings(settingsIn); // bad settings fail here, before any thread starts
  if (typeof opts?.blinded !== 'boolean') throw new InputError('endpoints.bad-input', 'opts.blinded must be true or false (no default: blinding must be explicit)');
  const subjects = sortedSubjects(input.subjects);
  const n = subjects.length;
  const callerN = Math.round(n * (threads === 2 ? popts.callerShare ?? 0.55 : 1 / threads));
  const bounds = [0, callerN];
  for (let k = 1; k < threads; k++) bounds.push(callerN + Math.round(((n - callerN) * k) / (threads - 1)));
  const study = { studyId: input.studyId, dataCutDate: input.dataCutDate, ...(input.reviewProvenance ? { reviewProvenance: true } : {}) };
  // each worker's shard goes over its own MessagePort in batches of subject JSON, round robin: a worker
  // starts deriving with its first batch, not after the caller has serialised its whole shard
  const pending: Promise<DeriveTaskResult>[] = [];
  const ports: MessagePort[] = [];
  for (let k = 1; k < threads; k++) {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    const task: DeriveTask = { study, count: bounds[k + 1] - bounds[k], port: port2, settings: settingsIn, blinded: opts.blinded };
    pending.push(runInWorker<DeriveTaskResult>(join(__dirname, 'derive-task'), task, [port2]));
  }
  const batch = Math.max(1, Math.floor(popts.sendBatch ?? 250));
  for (let at = 0; ports.some((_p, w) => bounds[w + 1] + at < bounds[w + 2]); at += batch) {
    ports.forEach((p, w) => {
      const from = bounds[w + 1] + at;
      const to = Math.min(from + batch, bounds[w + 2]);
      if (from < to) p.postMessage(subjects.slice(from, to).map((x) => JSON.stringify(x)));
    });
  }
  for (const p of ports) p.postMessage(null);
  // the calling thread derives its shard meanwhile (its result is needed anyway: errors surface after);
  // our ends of the ports stay open until every worker is done (the workers close theirs)
  let mine: { tables: Table[]; issues: string[] } | undefined;
  let failure: { error: unknown } | undefined;
  try {
    mine = deriveSortedTables(study, bounds[1], (i) => subjects[i], settings, opts.blinded);
  } catch (error) {
    failure = { error };
  }
  const theirs = await Promise.allSettled(pending);
  for (const p of ports) p.close();
  if (failure) throw failure.error;
  const failed = theirs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const parts = [mine!, ...theirs.map((r) => (r as PromiseFulfilledResult<DeriveTaskResult>).value)];
  // shards follow each other in USUBJID order: each dataset is its shards' tables as consecutive parts
  const tables = parts[0].tables.map((_t, i) => parts.map((p) => p.tables[i]));
  return { tables, settings, issues: parts.flatMap((p) => p.issues) };
}
