/**
 * The review API (libs/review, apps/api review.controller; routes in libs/review/README.md): the only module that
 * knows its paths and shapes. Every RECIST number shown comes from here (computed server-side by libs/endpoints).
 */
import { get, post, put } from './api';

export type Vec3 = [number, number, number];
export type Decision = 'accept' | 'edit' | 'reject' | 'add';
export type Classification = 'target' | 'non-target' | 'new';
export type NonTargetStatus = 'PRESENT' | 'ABSENT' | 'UNEQUIVOCAL_PROGRESSION' | 'NOT_ASSESSED';
export type TargetValue = 'TOO_SMALL' | 'DISAPPEARED' | 'NOT_ASSESSED';

export interface SignatureManifestation {
  signatureId: string;
  printedName: string;
  username: string;
  meaning: string;
  signedAt: string;
  contentSha256: string;
  entity: 'read' | 'adjudication';
}

export interface WorklistCase {
  caseId: string;
  studyId: string;
  readingId: string;
  order: number;
  status: 'not-started' | 'in-progress' | 'signed' | 'correction';
  timepoints: number;
  saved: number;
  revision: number | null;
  version: number | null;
  signedAt: string | null;
}
export interface WorklistAdjudication {
  adjudicationId?: string;
  id?: string;
  readingId: string;
  studyId?: string;
  status: string;
  [k: string]: unknown;
}

export interface AxisOut {
  p1Mm: Vec3;
  p2Mm: Vec3;
  p1Ijk?: Vec3;
  p2Ijk?: Vec3;
  lengthMm?: number;
  k?: number;
}

export interface ProposalValues {
  trackingId: string;
  trackingUid: string;
  present: boolean;
  organ: string;
  nodal: boolean;
  status: string;
  longAxisMm: number | null;
  shortAxisMm: number | null;
  measurable: boolean;
  longAxis: AxisOut | null;
  shortAxis: AxisOut | null;
  [k: string]: unknown;
}

export interface Proposal {
  proposalId: string;
  lesionKey: string;
  trackingUid: string | null;
  trackingId: string | null;
  values: ProposalValues;
}

export interface ReaderValue {
  value: string | null;
  longAxisMm: number | null;
  shortAxisMm: number | null;
  diameterMm: number | null;
  status: NonTargetStatus | null;
  equivocal: boolean;
  longAxis: AxisOut | null;
  shortAxis: AxisOut | null;
  volumeId: string | null;
  from: 'ai' | 'reader' | 'none';
}

export interface StoredLesion {
  lesionKey: string;
  label: string;
  proposalId: string | null;
  decision: Decision;
  reason: string | null;
  classification: Classification | null;
  organ: string;
  nodal: boolean;
  ai: (Partial<ProposalValues> & { proposalId: string; longAxisMm: number | null; shortAxisMm: number | null }) | null;
  reader: ReaderValue | null;
}

export interface Assessment {
  timePointId: string;
  ordinal: number;
  visit: string;
  date: string;
  lesions: StoredLesion[];
  newLesions: string;
  nonTargetResponse: string | null;
  overallResponse: string | null;
  comment: string | null;
}

export interface Volume {
  volumeId: string;
  seriesInstanceUid: string;
  dims: number[];
  spacing: number[];
  affine: number[];
  selected?: boolean | null;
}

export interface Timepoint {
  timePointId: string;
  ordinal: number;
  visit: string;
  date: string | null;
  dayFromBaseline: number | null;
  state?: 'saved' | 'next' | 'locked';
  studies: { studyInstanceUid: string; series: { seriesInstanceUid: string; modality: string | null; seriesNumber: number | null; selected: boolean | null; instances: number }[] }[];
  volumes: Volume[];
  proposals?: Proposal[];
  assessment?: Assessment | null;
}

export interface BaselineLesion {
  lesionKey: string;
  label: string;
  classification: 'target' | 'non-target';
  organ: string;
  nodal: boolean;
}

export interface RecistRow {
  timePointId: string;
  visit: string;
  date: string;
  dayFromBaseline: number;
  sumMm: number | null;
  baselineSumMm: number | null;
  nadirMm: number | null;
  changeFromBaselinePct: number | null;
  changeFromNadirPct: number | null;
  targetResponse: string | null;
  nonTargetResponse: string | null;
  newLesions: string;
  overallResponse: string | null;
  runningBor: string | null;
  runningConfirmedBor: string | null;
  readerOverallResponse: string | null;
  readerNonTargetResponse: string | null;
  notes: string[];
}
export interface RecistTable {
  criteria: string;
  rows: RecistRow[];
  bor: string | null;
  confirmedBor: string | null;
  pdDate: string | null;
  pdTimePointId: string | null;
}

export interface CaseView {
  caseId: string;
  studyId: string;
  readingId: string;
  order: number;
  read: { readId: string; revision: number; version: number; status: 'draft' | 'signed'; correctionReason: string | null; signature: SignatureManifestation | null; history: SignatureManifestation[] };
  signing: { meaning: string; printedName: string };
  ai: { runId: string; model: { id: string; version: string; sha256: string } } | null;
  timepoints: Timepoint[];
  baselineLesions: BaselineLesion[];
  recist: RecistTable | null;
  /** The subject's slides with the newest AI metrics proposal of each and this read's saved assessment. */
  slides?: CaseSlide[];
}

export type SlideDecision = 'accept' | 'override' | 'not-evaluable';
export interface CaseSlide {
  slideId: string;
  ai: { proposalId: string; runId: string; model: { id: string; version: string; sha256: string }; values: Record<string, number | null> } | null;
  assessment: { metrics: { metric: string; decision: SlideDecision; ai: number | null; reader: number | null; reason: string | null }[]; comment: string | null } | null;
}

export interface AxisInput {
  p1: { mm: Vec3 };
  p2: { mm: Vec3 };
}
export interface LesionInput {
  proposalId?: string;
  lesionKey?: string;
  decision: Decision;
  reason?: string;
  classification?: Classification;
  organ?: string;
  nodal?: boolean;
  longAxis?: AxisInput;
  shortAxis?: AxisInput;
  volumeId?: string;
  value?: TargetValue;
  status?: NonTargetStatus;
  equivocal?: boolean;
}
export interface TimepointInput {
  version: number;
  requestId: string;
  lesions: LesionInput[];
  newLesions?: 'YES' | 'NO' | 'EQUIVOCAL';
  comment?: string;
}

export interface AdjudicationRead {
  read: 1 | 2;
  label: string;
  readId: string;
  revision: number;
  signature: SignatureManifestation | null;
  timepoints: Assessment[];
  recist: RecistTable;
}
export interface AdjudicationView {
  adjudicationId: string;
  studyId: string;
  readingId: string;
  status: string;
  version: number;
  comparison: { rules: unknown; disagreements?: { rule: string; read1: string | null; read2: string | null }[]; [k: string]: unknown };
  timepoints: Timepoint[];
  reads: AdjudicationRead[];
  signing: { meaning: string };
  decision: { selectedRead: number; reason: string; decidedAt: string; signature: SignatureManifestation | null } | null;
}

export const requestId = () => crypto.randomUUID();

export const review = {
  worklist: () => get<{ cases: WorklistCase[]; adjudications: WorklistAdjudication[] }>('/v1/review/worklist'),
  openCase: (caseId: string) => get<CaseView>(`/v1/review/cases/${encodeURIComponent(caseId)}`),
  recist: (caseId: string) => get<RecistTable>(`/v1/review/cases/${encodeURIComponent(caseId)}/recist`),
  saveTimepoint: (caseId: string, timePointId: string, body: TimepointInput) =>
    put<{ caseId: string; readId: string; version: number; timepoint: Assessment; recist: RecistTable; replayed?: boolean }>(`/v1/review/cases/${encodeURIComponent(caseId)}/timepoints/${encodeURIComponent(timePointId)}`, body),
  sign: (caseId: string, body: { version: number; password: string; meaning: string; requestId: string }) =>
    post<{ readId: string; version: number; status: 'signed'; signature: SignatureManifestation }>(`/v1/review/cases/${encodeURIComponent(caseId)}/sign`, body),
  correction: (caseId: string, body: { version: number; reason: string; requestId: string }) => post<{ readId: string; revision: number; version: number; status: 'draft' }>(`/v1/review/cases/${encodeURIComponent(caseId)}/corrections`, body),
  openAdjudication: (id: string) => get<AdjudicationView>(`/v1/review/adjudications/${encodeURIComponent(id)}`),
  signAdjudication: (id: string, body: { version: number; selectedRead: 1 | 2; reason: string; password: string; meaning: string; requestId: string }) =>
    post<{ adjudicationId: string; status: 'decided'; selectedRead: number; reason: string; signature: SignatureManifestation }>(`/v1/review/adjudications/${encodeURIComponent(id)}/sign`, body),
};
