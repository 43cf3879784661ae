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

export interface SubjectsTable {
  id: Generated<string>;
  protocol_id: string;
  /** Trial subject ID (ClinicalTrialSubjectID, or a keyed pseudonym of PatientID when absent). */
  subject_id: string;
  /** Subject Reading ID: the only identity a reader sees. */
  reading_id: string;
  date_shift_days: number;
  created_at: Generated<Date>;
}
/** Admin-only: the link from a subject back to the PatientID it came with. */
export interface RestrictedPseudonymsTable {
  id: Generated<string>;
  subject_uuid: string;
  original_patient_id: string;
  created_at: Generated<Date>;
}
/** Admin-only: original UID -> replacement UID. */
export interface RestrictedUidMapTable {
  original_uid: string;
  replacement_uid: string;
  subject_uuid: string;
  created_at: Generated<Date>;
}
export interface StudiesTable {
  id: Generated<string>;
  subject_uuid: string;
  /** De-identified Study Instance UID. */
  study_uid: string;
  /** Shifted study date (YYYYMMDD). */
  study_date: string | null;
  time_point_id: string;
  created_at: Generated<Date>;
}
export type SeriesStatus = 'collecting' | 'volume-built' | 'volume-failed' | 'no-volume';
export interface SeriesTable {
  id: Generated<string>;
  study_id: string;
  series_uid: string;
  modality: string | null;
  series_number: number | null;
  summary: ColumnType<Record<string, unknown>, string | undefined, string>;
  instance_count: Generated<number>;
  last_instance_at: Generated<Date>;
  status: ColumnType<SeriesStatus, SeriesStatus | undefined, SeriesStatus>;
  selected: boolean | null;
  selection_reasons: ColumnType<string[], string | undefined, string>;
  flags: ColumnType<string[], string | undefined, string>;
  error: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export interface InstancesTable {
  id: Generated<string>;
  series_id: string;
  object_id: string;
  sop_instance_uid: string;
  sop_class_uid: string;
  instance_number: number | null;
  transfer_syntax_uid: string;
  frames: number;
  /** The de-identified header (JSON). */
  header: ColumnType<Record<string, unknown>, string, string>;
  deid_key: string;
  deid_sha256: string;
  created_at: Generated<Date>;
}
export interface VolumesTable {
  id: Generated<string>;
  series_id: string;
  instance_set_sha256: string;
  dims: ColumnType<number[], string, string>;
  spacing: ColumnType<number[], string, string>;
  affine: ColumnType<number[], string, string>;
  flags: ColumnType<string[], string, string>;
  data_key: string;
  data_sha256: string;
  provenance: ColumnType<Record<string, unknown>, string, string>;
  created_at: Generated<Date>;
}

type JsonCol<T> = ColumnType<T, string, string>;
export interface SlidesTable {
  id: Generated<string>;
  object_id: string;
  subject_uuid: string | null;
  format: string;
  width: number;
  height: number;
  mpp_x: number | null;
  mpp_y: number | null;
  objective_power: number | null;
  levels: JsonCol<unknown[]>;
  properties: JsonCol<Record<string, string>>;
  blinding: JsonCol<Record<string, unknown>>;
  blinded_key: string;
  blinded_sha256: string;
  dzi_key: string;
  thumbnail_key: string;
  tissue_key: string;
  tissue: JsonCol<Record<string, unknown>>;
  patches: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  provenance: JsonCol<Record<string, unknown>>;
  created_at: Generated<Date>;
}

export interface StudyInputsTable {
  id: Generated<string>;
  study_id: string;
  /** 'sdtm-import' | 'simulated' | 'reads' ... */
  source: string;
  input: JsonCol<unknown>;
  input_sha256: string;
  issues: ColumnType<unknown[], string | undefined, string>;
  created_by: string;
  created_at: Generated<Date>;
}
export interface EproUploadsTable {
  id: Generated<string>;
  object_id: string;
  kind: string;
  object_sha256: string;
  row_count: number;
  parsed: JsonCol<unknown>;
  created_at: Generated<Date>;
}
export interface DataCutsTable {
  id: Generated<string>;
  cut_id: string;
  study_id: string;
  cutoff_date: string;
  blinded: boolean;
  /** What went in: study input id + sha256, ePRO upload ids + object sha256s. */
  inputs: JsonCol<Record<string, unknown>>;
  settings: JsonCol<Record<string, unknown>>;
  issues: JsonCol<string[]>;
  manifest: JsonCol<Record<string, unknown>>;
  manifest_sha256: string;
  /** Object-store prefix holding the files (never overwritten). */
  prefix: string;
  created_by: string;
  created_at: Generated<Date>;
}

/** One AI model run (see migration 0005_ai): unique per run_key = job type + input sha256 + model sha256. */
export interface AiRunsTable {
  id: Generated<string>;
  run_key: string;
  /** 'ct' (segmentation + measurement of one volume) | 'track' (one subject's timepoints) | 'slide'. */
  kind: string;
  subject_uuid: string | null;
  volume_id: string | null;
  slide_id: string | null;
  time_point_id: string | null;
  input_sha256: string;
  model: JsonCol<{ id: string; version: string; sha256: string }>;
  outputs: JsonCol<Record<string, unknown>>;
  summary: JsonCol<Record<string, unknown>>;
  provenance: JsonCol<Record<string, unknown>>;
  created_at: Generated<Date>;
}
/** One immutable AI proposal (the database refuses UPDATE/DELETE): a lesion at a timepoint, or a slide's metrics. */
export interface AiProposalsTable {
  id: Generated<string>;
  run_id: string;
  /** 'lesion' | 'slide'. */
  kind: string;
  subject_uuid: string | null;
  time_point_id: string | null;
  study_date: string | null;
  volume_id: string | null;
  slide_id: string | null;
  tracking_uid: string | null;
  tracking_id: string | null;
  /** Order within the run (stable). */
  ordinal: number;
  values: JsonCol<Record<string, unknown>>;
  mask_ref: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  model: JsonCol<{ id: string; version: string; sha256: string }>;
  provenance: JsonCol<Record<string, unknown>>;
  created_at: Generated<Date>;
}

/** The hash-chained, append-only audit trail (migration 0006_audit; chain rules in libs/audit). */
export interface AuditLogTable {
  seq: ColumnType<string, never, never>;
  at: ColumnType<Date, string, never>;
  actor: string;
  actor_roles: ColumnType<string[], string[], never>;
  action: string;
  entity_type: string;
  entity_id: string;
  before: ColumnType<unknown, string | null, never>;
  after: ColumnType<unknown, string | null, never>;
  detail: ColumnType<unknown, string | null, never>;
  prev_hash: string;
  hash: string;
}

/** Users (migration 0007_auth). roles: reader | adjudicator | biostatistician | pipeline | admin; grants e.g. 'unblinding'. */
export interface UsersTable {
  id: Generated<string>;
  username: string;
  display_name: string;
  password_hash: string;
  roles: ColumnType<string[], string[], string[]>;
  grants: ColumnType<string[], string[] | undefined, string[]>;
  failed_logins: Generated<number>;
  locked_until: Timestamp | null;
  disabled: Generated<boolean>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  last_login_at: Timestamp | null;
}
/** One row per issued token (id = the token's jti): revocable before expiry. */
export interface SessionsTable {
  id: string;
  user_id: string;
  created_at: Generated<Date>;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
  ip: string | null;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  ai_runs: AiRunsTable;
  ai_proposals: AiProposalsTable;
  study_inputs: StudyInputsTable;
  epro_uploads: EproUploadsTable;
  data_cuts: DataCutsTable;
  slides: SlidesTable;
  objects: ObjectsTable;
  jobs: JobsTable;
  subjects: SubjectsTable;
  restricted_pseudonyms: RestrictedPseudonymsTable;
  restricted_uid_map: RestrictedUidMapTable;
  studies: StudiesTable;
  series: SeriesTable;
  instances: InstancesTable;
  volumes: VolumesTable;
}

export type ObjectRow = Selectable<ObjectsTable>;
export type NewObject = Insertable<ObjectsTable>;
export type ObjectUpdate = Updateable<ObjectsTable>;
export type JobRow = Selectable<JobsTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
export type UserRow = Selectable<UsersTable>;
