/** A coded concept (DICOM Code Sequence Macro, PS3.3 Table 8.8-1). */
export interface Code {
  /** Coding Scheme Designator, e.g. 'SCT', 'DCM', 'UCUM'. */
  scheme: string;
  /** Code Value. Values longer than 16 characters are written as Long Code Value (0008,0119). */
  code: string;
  /** Code Meaning (at most 64 characters). */
  meaning: string;
}

/** One slice of the source CT series, in volume order (index k of the label volume). */
export interface SourceSlice {
  sopInstanceUid: string;
  /** Image Position (Patient) of the slice, mm. */
  imagePositionPatient: [number, number, number];
}

/** Patient module values of the source series. They must already be de-identified. */
export interface PatientValues {
  /** Patient ID (0010,0020): the subject reading id. */
  patientId: string;
  /** Patient's Name (0010,0010), DICOM PN string (may be empty). */
  patientName: string;
  /** Patient's Sex (0010,0040): 'M' | 'F' | 'O' | '' (default ''). */
  patientSex?: string;
  /** Patient Identity Removed (0012,0062). */
  patientIdentityRemoved?: boolean;
  /** De-identification Method (0012,0063). */
  deidentificationMethod?: string;
}

/** Clinical Trial Subject / Study module values, copied from the source when present. */
export interface ClinicalTrialValues {
  sponsorName?: string;
  protocolId?: string;
  protocolName?: string;
  siteId?: string;
  siteName?: string;
  subjectId?: string;
  subjectReadingId?: string;
  /** Clinical Trial Time Point ID (0012,0050). */
  timePointId?: string;
  timePointDescription?: string;
}

/** Reference to the source (CT) series the objects are derived from. */
export interface SourceSeriesRef {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  frameOfReferenceUid: string;
  /** SOP Class UID of the slices (CT Image Storage 1.2.840.10008.5.1.4.1.1.2). */
  sopClassUid: string;
  /** Per z slice, in volume order (k = 0..slices-1). */
  slices: SourceSlice[];
  rows: number;
  columns: number;
  /** Pixel Spacing (0028,0030): [row spacing, column spacing] in mm. */
  pixelSpacing: [number, number];
  sliceThickness: number;
  /** Image Orientation (Patient): row direction cosines then column direction cosines. */
  imageOrientationPatient: [number, number, number, number, number, number];
  patient: PatientValues;
  /** Study Date (DA, YYYYMMDD, already date-shifted) or ''. */
  studyDate: string;
  /** Study Time (TM) or ''. */
  studyTime: string;
  studyId?: string;
  accessionNumber?: string;
  referringPhysicianName?: string;
  clinicalTrial?: ClinicalTrialValues;
}

/** Identity of the object being written: every value is supplied by the caller (deterministic, never random). */
export interface OutputIdentity {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  seriesNumber: number;
  instanceNumber: number;
  /** Content Date (DA, YYYYMMDD). */
  contentDate: string;
  /** Content Time (TM, HHMMSS[.FFFFFF]). */
  contentTime: string;
  seriesDescription?: string;
}

/** The AI algorithm that produced the proposals. */
export interface AlgorithmInfo {
  /** Model id, e.g. 'lesion-det-ct'. */
  name: string;
  version: string;
  /** sha256 (hex) of the model weights / build. */
  sha256: string;
  /** Algorithm Family (CID 7162). Default (123110, DCM, "Artificial Intelligence"). */
  family?: Code;
  /** Free-text algorithm parameters (Algorithm Parameters, LT / TEXT). */
  parameters?: string;
}

/** Equipment that wrote the object (General + Enhanced General Equipment modules). */
export interface EquipmentInfo {
  manufacturer: string;
  /** Default: algorithm name. */
  modelName?: string;
  /** Default: algorithm sha256. */
  deviceSerialNumber?: string;
  /** Default: algorithm version. */
  softwareVersions?: string;
}

export interface SegmentSpec {
  /** Segment Number (1..65535); voxels with this label value belong to the segment. */
  number: number;
  /** Segment Label, e.g. 'T01 liver'. */
  label: string;
  /** Tracking ID (0062,0020), e.g. 'T01 liver'. */
  trackingId: string;
  /** Tracking UID (0062,0021): the same for the lesion at every time point; supplied by the caller. */
  trackingUid: string;
  /** Segmented Property Category (CID 7150), e.g. (49755003, SCT, "Morphologically Abnormal Structure"). */
  category: Code;
  /** Segmented Property Type, e.g. (108369006, SCT, "Neoplasm"). */
  type: Code;
  anatomicRegion?: Code;
  /** Segment Algorithm Type; AI proposals are 'AUTOMATIC'. */
  algorithmType: 'AUTOMATIC' | 'SEMIAUTOMATIC' | 'MANUAL';
  /** Recommended Display CIELab Value (0062,000D), 3 unsigned 16-bit values. */
  recommendedDisplayCIELab?: [number, number, number];
}

export interface SegInput {
  source: SourceSeriesRef;
  output: OutputIdentity;
  algorithm: AlgorithmInfo;
  equipment: EquipmentInfo;
  /** Label volume on the source grid: voxel (i=col, j=row, k=slice) at [i + j*cols + k*cols*rows]; value n = segment n, 0 = background. */
  labels: Uint8Array | Uint16Array | Int32Array;
  segments: SegmentSpec[];
  /** Content Label (CS, ≤16 chars, [A-Z0-9_ ]). Default 'AI_LESIONS'. */
  contentLabel?: string;
  contentDescription?: string;
  /** Content Creator's Name (PN). Default: algorithm name. */
  contentCreatorName?: string;
}

/** A 2-point caliper on one source image. */
export interface AxisMeasurement {
  /** Length in mm. */
  mm: number;
  /** SOP Instance UID of the source slice the points lie on (must be one of source.slices). */
  referencedSopInstanceUid: string;
  /** Two points in image coordinates [column, row] (pixel units, float; stored as FL, i.e. float32). */
  points: [[number, number], [number, number]];
}

export interface LesionMeasurement {
  /** Tracking Identifier (112039, DCM), e.g. 'T01 liver'. */
  trackingId: string;
  /** Tracking Unique Identifier (112040, DCM): supplied by the caller, identical at every time point. */
  trackingUid: string;
  findingSite: Code;
  finding: Code;
  /** Segment number in the referenced SEG. */
  segmentNumber: number;
  longAxis: AxisMeasurement;
  shortAxis?: AxisMeasurement;
  /** Volume in mm³. */
  volumeMm3?: number;
}

export interface SegReference {
  sopInstanceUid: string;
  seriesInstanceUid: string;
  /** Default Segmentation Storage. */
  sopClassUid?: string;
}

export interface TimePoint {
  /** Subject Time Point Identifier (126070, DCM), e.g. 'BL', 'FU1'. */
  id: string;
  /** Time Point (C2348792, UMLS) text; default = id. */
  label?: string;
  /** Protocol Time Point Identifier (126071, DCM). */
  protocolId?: string;
}

export interface SrInput {
  source: SourceSeriesRef;
  output: OutputIdentity;
  algorithm: AlgorithmInfo;
  equipment: EquipmentInfo;
  timepoint: TimePoint;
  seg: SegReference;
  lesions: LesionMeasurement[];
  /** Device Observer UID; default derived: uidFrom('device', algorithm.name, algorithm.version, algorithm.sha256). */
  deviceObserverUid?: string;
  /** Procedure reported (121058, DCM). Default (77477000, SCT, "Computerized axial tomography"). */
  procedureReported?: Code;
  /** Measurement Method (370129005, SCT). Default (126081, DCM, "RECIST 1.1"). */
  measurementMethod?: Code;
  /** Completion Flag; default 'COMPLETE'. */
  completionFlag?: 'COMPLETE' | 'PARTIAL';
  /** Preliminary Flag (0040,A496) if set. */
  preliminaryFlag?: 'PRELIMINARY' | 'FINAL';
}

export interface SrLesionReadback {
  trackingId: string;
  trackingUid: string;
  longAxisMm: number | null;
  shortAxisMm: number | null;
  volumeMm3: number | null;
  segmentNumber: number | null;
  timePointId: string | null;
}

export interface SegSegmentReadback {
  number: number;
  label: string;
  trackingId: string;
  trackingUid: string;
  algorithmType: string;
}

export interface SegReadback {
  sopClassUid: string;
  numberOfFrames: number;
  rows: number;
  columns: number;
  segments: SegSegmentReadback[];
  /** Per frame: referenced segment number, Image Position (Patient), referenced source SOP Instance UID. */
  frames: { segmentNumber: number; imagePositionPatient: number[]; sourceSopInstanceUid: string }[];
}
