import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T = unknown> = ColumnType<T, T | string, T | string>;

export type ObjectKind = 'dicom' | 'tiff' | 'bigtiff' | 'epro-csv' | 'epro-json' | 'unknown';
/**
 * received -> ingesting -> (quarantined | no-processor | queued) ; queued -> processing -> (processed | quarantined | failed)
 */
export type ObjectStatus = 'received' | 'ingesting' | 'no-processor' | 'queued' | 'processing' | 'processed' | 'quarantined' | 'failed';

export interface ObjectsTable {
  id: Generated<string>;
  bucket: string;
  key: string;
  version_id: string | null;
  etag: string;
  /** bucket + key + (version id or etag): one row per distinct upload. */
  idempotency_key: string;
  size: ColumnType<string, number | string, number | string>;
  sha256: string | null;
  kind: ObjectKind | null;
  status: ObjectStatus;
  /** Why it is quarantined / failed / waiting: a sentence a human can act on. */
  reason: string | null;
  reason_code: string | null;
  detail: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  processed_at: Timestamp | null;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'enqueue-failed';
/** The job ledger: every job ever enqueued, keyed by idempotency key; source of truth for "done once". */
export interface JobsTable {
  id: Generated<string>;
  idempotency_key: string;
  name: string;
  payload: Json<unknown>;
  status: JobStatus;
  attempts: Generated<number>;
  max_attempts: number;
  progress: Generated<number>;
  error: string | null;
  result: Json<unknown> | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  finished_at: Timestamp | null;
}

export interface Database {
  objects: ObjectsTable;
  jobs: JobsTable;
}

export type ObjectRow = Selectable<ObjectsTable>;
export type NewObject = Insertable<ObjectsTable>;
export type ObjectUpdate = Updateable<ObjectsTable>;
export type JobRow = Selectable<JobsTable>;
