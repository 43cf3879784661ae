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
  /** Worker (host:pid:random) running the current attempt (0011). */
  owner: string | null;
  /** Renewed while the owner lives; a running row past it is stuck (0011). */
  lease_until: Timestamp | null;
  /** A queued row waits until then (delay / retry backoff) (0011). */
  not_before: Timestamp | null;
  /** Bull job id of the current transport job (0011). */
  transport_id: string | null;
  started_at: Timestamp | null;
  recoveries: Generated<number>;
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
  /** The document, less the arrays named in `parts` (older rows, `parts` null: the whole document). */
  input: JsonCol<unknown>;
  input_sha256: string;
  /** The paths of the arrays stored item by item in study_input_parts (migration 0012); null on older rows. */
  parts: ColumnType<string[] | null, string | null | undefined, string | null>;
  issues: ColumnType<unknown[], string | undefined, string>;
  created_by: string;
  created_at: Generated<Date>;
}
/** One item of a study input's large array (its subjects, its reads), in order: see EndpointsRepository.addStudyInput. */
export interface StudyInputPartsTable {
  input_id: string;
  /** The array's path in the document ('subjects', 'reads.reads'). */
  path: string;
  seq: number;
  /** The item's usubjid, when it has one (lists a study's subjects without reading the items). */
  usubjid: string | null;
  item: JsonCol<unknown>;
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

/** Review settings of one study (migration 0008_review): adjudication rules, adjudicators, endpoint settings. */
export interface ReviewStudiesTable {
  study_id: string;
  rules: JsonCol<Record<string, unknown>>;
  adjudicators: ColumnType<string[], string[] | undefined, string[]>;
  readers_per_subject: Generated<number>;
  endpoint_settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
/** One assignment or reassignment with its seed and outcome. */
export interface ReviewAssignmentRunsTable {
  id: Generated<string>;
  study_id: string;
  kind: 'assign' | 'reassign';
  seed: ColumnType<string, number | string, number | string>;
  readers: ColumnType<string[], string[], string[]>;
  capacity: number;
  readers_per_subject: number;
  algorithm: string;
  reason: string | null;
  result: JsonCol<Record<string, unknown>>;
  created_by: string;
  created_at: Generated<Date>;
}
/** One reader x one subject. */
export interface ReviewCasesTable {
  id: Generated<string>;
  study_id: string;
  subject_uuid: string;
  reading_id: string;
  reader_id: string;
  slot: number;
  order_index: number;
  status: ColumnType<'active' | 'withdrawn', 'active' | 'withdrawn' | undefined, 'active' | 'withdrawn'>;
  assignment_run_id: string;
  replaces: string | null;
  replaced_by: string | null;
  withdrawn_at: Timestamp | null;
  withdrawn_reason: string | null;
  withdrawn_by: string | null;
  created_at: Generated<Date>;
}
/** A revision of a case's read: draft (changing, `version` counts changes) or signed (frozen). */
export interface ReviewReadsTable {
  id: Generated<string>;
  case_id: string;
  revision: number;
  version: number;
  status: ColumnType<'draft' | 'signed', 'draft' | 'signed' | undefined, 'draft' | 'signed'>;
  ai_run_id: string | null;
  correction_reason: string | null;
  supersedes: string | null;
  signature_id: string | null;
  content_sha256: string | null;
  signed_at: Timestamp | null;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export interface ReviewTimepointsTable {
  id: Generated<string>;
  read_id: string;
  time_point_id: string;
  ordinal: number;
  assessment: JsonCol<Record<string, unknown>>;
  saved_by: string;
  saved_at: Generated<Date>;
}
/** Migration 0009: the reader's decision on a slide's AI pathology metrics, per read revision. */
export interface ReviewSlideAssessmentsTable {
  id: Generated<string>;
  read_id: string;
  slide_id: string;
  ai_proposal_id: string | null;
  assessment: JsonCol<Record<string, unknown>>;
  saved_by: string;
  saved_at: Generated<Date>;
}
export interface ReviewSignaturesTable {
  id: Generated<string>;
  entity_type: 'read' | 'adjudication';
  entity_id: string;
  signer_id: string;
  signer_username: string;
  printed_name: string;
  meaning: string;
  signed_at: Timestamp;
  content_sha256: string;
  content: JsonCol<Record<string, unknown>>;
}
export interface ReviewComparisonsTable {
  id: Generated<string>;
  study_id: string;
  subject_uuid: string;
  read1_id: string;
  read2_id: string;
  agree: boolean;
  rules: JsonCol<Record<string, unknown>>;
  detail: JsonCol<Record<string, unknown>>;
  created_at: Generated<Date>;
}
export interface ReviewAdjudicationsTable {
  id: Generated<string>;
  study_id: string;
  subject_uuid: string;
  reading_id: string;
  comparison_id: string;
  status: ColumnType<'open' | 'decided' | 'cancelled', 'open' | 'decided' | 'cancelled' | undefined, 'open' | 'decided' | 'cancelled'>;
  version: Generated<number>;
  adjudicator_id: string | null;
  selected_read_id: string | null;
  selected_slot: number | null;
  reason: string | null;
  signature_id: string | null;
  decided_at: Timestamp | null;
  cancelled_reason: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}
export interface ReviewProposalViewsTable {
  read_id: string;
  proposal_id: string;
  first_shown_at: Generated<Date>;
}
export interface ReviewRequestsTable {
  user_id: string;
  request_id: string;
  route: string;
  body_sha256: string;
  response: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Generated<Date>;
}

export interface Database {
  review_studies: ReviewStudiesTable;
  review_assignment_runs: ReviewAssignmentRunsTable;
  review_cases: ReviewCasesTable;
  review_reads: ReviewReadsTable;
  review_timepoints: ReviewTimepointsTable;
  review_slide_assessments: ReviewSlideAssessmentsTable;
  review_signatures: ReviewSignaturesTable;
  review_comparisons: ReviewComparisonsTable;
  review_adjudications: ReviewAdjudicationsTable;
  review_proposal_views: ReviewProposalViewsTable;
  review_requests: ReviewRequestsTable;
  users: UsersTable;
  sessions: SessionsTable;
  audit_log: AuditLogTable;
  ai_runs: AiRunsTable;
  ai_proposals: AiProposalsTable;
  study_inputs: StudyInputsTable;
  study_input_parts: StudyInputPartsTable;
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
