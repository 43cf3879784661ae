/** How a subject's lesions evolve over visits. Scale factors multiply every lesion semi-axis. */
export type TrajectoryName = 'responder' | 'progressor' | 'stable' | 'late-responder';
export type Trajectory = TrajectoryName | { name?: string; scales: number[]; newLesionAtVisit?: number };

export interface PhantomOptions {
  /** Output folder (created). */
  outDir: string;
  /** Number of subjects (default 2). */
  subjects?: number;
  /** Timepoints per subject including baseline (default 3). */
  visits?: number;
  /** Image matrix (default 256 x 256). */
  rows?: number;
  cols?: number;
  /** Axial slices per series (default 40). */
  slices?: number;
  /** Slice thickness and spacing between slice centres, mm (default 2.5 / 2.5). */
  sliceThickness?: number;
  sliceSpacing?: number;
  /** In-plane pixel spacing, mm (default 360 / cols, i.e. a 360 mm field of view). */
  pixelSpacing?: number;
  /** PRNG seed (default 1). Same seed + options => byte-identical files. */
  seed?: number;
  /** Per-subject trajectories, cycled (default responder, progressor, stable, late-responder). */
  trajectories?: Trajectory[];
  /** Plant realistic fake PHI (names, addresses, private tags, nested sequences...) for de-id tests. */
  withPhi?: boolean;
  /** Gaussian noise standard deviation in HU (default 10; 0 = noise free). */
  noiseSigma?: number;
  /** BitsStored 12 (unsigned, default) or 16 (signed). Always RescaleSlope 1, RescaleIntercept -1024. */
  bitsStored?: 12 | 16;
  /** Subject id prefix (default 'SUBJ'); ids are `${prefix}-001`, ... */
  subjectPrefix?: string;
  /** Baseline date of the first subject (default 2024-01-15); later subjects start 9 days apart. */
  baselineDate?: string;
  /**
   * 'basic' (default): the original simple phantom, byte-identical to earlier releases. 'hard': heterogeneous,
   * partial-volume, low-contrast lesions, distractors, per-visit noise and patient motion (see README).
   */
  realism?: 'basic' | 'hard';
  /** Hard realism only: also write `<outDir>/<subject>/<visit>/labels.nrrd` (uint8 lesion labels, DICOM grid). */
  writeLabels?: boolean;
  /** Hard realism only: extra lesions per subject besides T01/T02/T03/NEW01 (default seeded 2-5). */
  extraLesions?: number;
}

export interface PhantomFile {
  path: string;
  subjectId: string;
  visit: string;
  visitIndex: number;
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  instanceNumber: number;
}

export type Organ = 'liver' | 'lung' | 'lymph node';

/** One lesion at one visit. All lengths in mm, LPS patient coordinates. */
export interface GroundTruthRow {
  subjectId: string;
  visit: string;
  visitIndex: number;
  /** ISO date (YYYY-MM-DD) of the visit's acquisition (the StudyDate). */
  visitDate: string;
  studyUid: string;
  seriesUid: string;
  trajectory: string;
  lesionId: string;
  organ: Organ;
  nodal: boolean;
  /** false when the lesion has disappeared (scale 0) or has not yet appeared. */
  present: boolean;
  /** true for a lesion absent at baseline (new lesion: progression). */
  isNew: boolean;
  centerX: number;
  centerY: number;
  centerZ: number;
  /** Ellipsoid semi-axes: a, b in the axial plane (a >= b), c along z. */
  semiA: number;
  semiB: number;
  semiC: number;
  /** In-plane rotation of the a axis from +x (patient left), degrees. */
  rotationDeg: number;
  /** Longest diameter in the axial plane = 2a (the largest axial section is at centerZ, a slice centre). */
  longestDiameterMm: number;
  /** Short axis: longest diameter perpendicular to the LD in the same plane = 2b. */
  shortAxisMm: number;
  /** 4/3 pi a b c. */
  volumeMm3: number;
  /** Attenuation inside the lesion (HU) before noise (hard: the main body of the lesion, between core and rim). */
  hu: number;
  /** Hard realism only (absent in basic rows). */
  realism?: 'hard';
  /** Hard: liver lesion within 30 HU of the liver parenchyma. */
  lowContrast?: boolean;
  /** Hard: has a necrotic low-density core. */
  necroticCore?: boolean;
  /**
   * Hard: the visit's rigid patient motion, 4x4 row-major, baseline patient mm -> this visit's patient mm
   * (identity at baseline). centerX/Y/Z are already in this visit's coordinates.
   */
  patientTransform?: number[];
}

export interface PhantomResult {
  files: PhantomFile[];
  groundTruth: GroundTruthRow[];
  /** Paths of the ground-truth tables written beside the files. */
  groundTruthCsv: string;
  groundTruthJson: string;
}
