/**
 * Input types of the endpoint engine. Everything is a plain, JSON-serialisable object so the lead can
 * fill it from the database (AI proposals and signed reads) and store it with a data cut.
 *
 * Units: every length is an integer number of TENTHS OF A MILLIMETRE (`123` = 12.3 mm). Floating-point
 * millimetres are never used in threshold decisions (3.2 -> 8.2 mm must be exactly +5.0 mm).
 * Dates are ISO 8601 calendar dates `YYYY-MM-DD`.
 */

/** Who produced a measurement / assessment. Every derived row carries it (see README "Provenance"). */
export interface SourceRef {
  /** Read (assessment) id: the signed read or AI proposal the value comes from. */
  readId: string;
  /** Pseudonymous human reader id (e.g. 'RAD-01'), when a person read it. */
  reader?: string;
  /** AI model, when a model produced it. */
  model?: { id: string; version: string; sha256: string };
  /** SDTM --EVAL of the read (e.g. 'INDEPENDENT ASSESSOR'); written when the study input has `reviewProvenance`. */
  evaluator?: string;
  /** SDTM --EVALID (e.g. 'RADIOLOGIST 1'); written when the study input has `reviewProvenance`. */
  evaluatorId?: string;
  /** Who adjudicated (BICR rows of an adjudicated subject). */
  adjudicator?: string;
  /** How this read became the BICR result (e.g. 'ADJUDICATION: RADIOLOGIST 2 SELECTED'). */
  selection?: string;
}

/**
 * A target-lesion diameter: integer tenths of mm (longest diameter for non-nodal lesions, short axis for
 * nodal lesions), or one of the RECIST 1.1 special values:
 * - `'TOO_SMALL'`: present but too small to measure -> counts as 5 mm (50 tenths);
 * - `'DISAPPEARED'`: counts as 0;
 * - `'NOT_ASSESSED'`: not evaluated at this visit (makes the target response NE unless PD anyway).
 */
export type Diameter = number | 'TOO_SMALL' | 'NOT_ASSESSED' | 'DISAPPEARED';

export interface TargetMeasurement {
  lesionId: string;
  /** Organ / site (e.g. 'LIVER', 'LYMPH NODE'); used for the max-2-per-organ rule. */
  organ: string;
  /** Lymph node: the short axis is measured and < 10 mm counts as normal. */
  nodal: boolean;
  diameter: Diameter;
  /**
   * RECIST 1.1 split lesion: the diameters of the fragments (tenths of mm or special values). When present,
   * the lesion's value is the sum of the fragments' values and `diameter` is ignored.
   */
  fragments?: Diameter[];
  /**
   * RECIST 1.1 coalesced lesions: this lesion merged into `mergedInto` (another target lesion id), which
   * carries the diameter of the coalesced lesion; this one counts as 0 and `diameter` is ignored.
   */
  mergedInto?: string;
  source: SourceRef;
}

/** Non-target lesion status at one visit. */
export type NonTargetStatus = 'PRESENT' | 'ABSENT' | 'UNEQUIVOCAL_PROGRESSION' | 'NOT_ASSESSED';

export interface NonTargetAssessment {
  lesionId: string;
  organ?: string;
  /** Nodal non-target lesions: "ABSENT" also covers "normalised to < 10 mm short axis". */
  nodal?: boolean;
  status: NonTargetStatus;
  source: SourceRef;
}

export type NewLesions = 'YES' | 'NO' | 'EQUIVOCAL';

/** One imaging timepoint (baseline or follow-up) of one subject. */
export interface Assessment {
  /** Visit label ('BASELINE', 'WEEK 6'...). */
  visit: string;
  /** Visit number; the baseline assessment is the one with the smallest visitNum (or `baseline: true`). */
  visitNum: number;
  /** Date of the assessment (ISO date; for multi-day scans the earliest scan date, per RECIST 1.1). */
  date: string;
  baseline?: boolean;
  targets: TargetMeasurement[];
  nonTargets: NonTargetAssessment[];
  newLesions: NewLesions;
  /** iRECIST only: sum of measured new lesions (tenths of mm), used to confirm iCPD. */
  newLesionSum?: number;
  /** iRECIST only: number of new lesions, used to confirm iCPD. */
  newLesionCount?: number;
  /** Provenance of the overall time-point assessment (the read). */
  source: SourceRef;
}

/** A pathology record (surgical specimen after neoadjuvant therapy, or biopsy). */
export interface PathologyRecord {
  recordId: string;
  date: string;
  /** ypT category, e.g. 'ypT0', 'ypTis', 'ypT1c'. */
  ypT?: string;
  /** ypN category, e.g. 'ypN0', 'ypN1a'. */
  ypN?: string;
  /** RCB inputs (Symmans 2007). */
  rcb?: {
    /** Primary tumour bed dimensions in mm (d1, d2). */
    d1Mm: number;
    d2Mm: number;
    /** % of the tumour bed that is carcinoma (invasive + in situ), 0..100. */
    percentCancer: number;
    /** % of the carcinoma that is in situ, 0..100. */
    percentInSitu: number;
    /** Number of positive lymph nodes. */
    positiveNodes: number;
    /** Diameter of the largest nodal metastasis in mm. */
    largestNodeMetMm: number;
  };
  /** Stromal TILs, % of stromal area (0..100), per the International TILs Working Group. */
  stromalTilPercent?: number;
  /** PD-L1 counts: viable tumour cells, PD-L1-positive tumour cells, PD-L1-positive immune cells. */
  pdl1?: { viableTumourCells: number; positiveTumourCells: number; positiveImmuneCells: number };
  source: SourceRef;
}

/** One QLQ-C30 questionnaire: item answers q1..q30 (1..4 for q1-q28, 1..7 for q29-q30), null = missing. */
export interface QlqC30Record {
  visit: string;
  date: string;
  /** Index 0 = item 1 ... index 29 = item 30. Length 30. */
  items: (number | null)[];
  source?: SourceRef;
}

/** One day of wearable data. */
export interface StepDay {
  date: string;
  steps: number;
  wearMinutes: number;
  source?: SourceRef;
}

export interface SubjectInput {
  usubjid: string;
  /** Planned / actual arm. Never written to blinded datasets. */
  arm?: string;
  armCd?: string;
  /** Randomisation date: the start date (STARTDT) of PFS, TTD; reference for the SD minimum duration. */
  randDate: string;
  /** Treatment start date (TRTSDT), optional. */
  trtStartDate?: string;
  deathDate?: string;
  /** Start of the first new anticancer therapy. */
  newTherapyDate?: string;
  lastKnownAliveDate?: string;
  /**
   * false: not randomised (e.g. a screen failure that still has tumour data): kept in the datasets with
   * ITTFL = N and left out of every ITT rate. Default (absent / true): randomised, in the ITT population.
   */
  randomised?: boolean;
  /**
   * Date of first progression from a separate source (admiralonco `source_pd`, e.g. the sponsor's RS first PD
   * or a PD CRF page); used instead of the overall responses when settings.pdSource = 'pdDate'.
   */
  pdDate?: string;
  assessments: Assessment[];
  pathology?: PathologyRecord[];
  qlqc30?: QlqC30Record[];
  steps?: StepDay[];
}

export interface StudyInput {
  studyId: string;
  /** Data cut-off date: anything after it is ignored. */
  dataCutDate?: string;
  /**
   * Reads from the blinded independent central review (libs/review): TU / TR / RS then carry the evaluator
   * (TUEVAL/TUEVALID, TREVAL/TREVALID, RSEVAL/RSEVALID) and every dataset with provenance columns also carries
   * ADJUDID (adjudicator) and BICRSEL (how the read was selected). Without it the datasets are exactly as before.
   */
  reviewProvenance?: boolean;
  subjects: SubjectInput[];
}

/** Derivation choices. Stored with every dataset (serialisable into the cut manifest). */
export interface ProtocolSettings {
  /** 'RECIST 1.1' or 'iRECIST' (adds iUPD/iCPD handling). */
  criteria: 'RECIST 1.1' | 'iRECIST';
  /** Confirmation of CR/PR: the confirming assessment must be >= this many days later (RECIST 1.1: 28). */
  confirmationDays: number;
  /** Max number of NE assessments allowed between a response and its confirmation (admiralonco max_nr_ne). */
  confirmationMaxNe: number;
  /** Whether an SD between a PR and its confirming PR is accepted (admiralonco accept_sd). */
  confirmationAcceptSd: boolean;
  /** SD (and NON-CR/NON-PD) counts only if assessed >= this many days after the reference date. */
  sdMinDays: number;
  /** Reference date for the SD minimum duration. */
  sdReference: 'randomisation' | 'treatmentStart';
  /** RECIST 1.1 4.3.2: an equivocal new lesion later confirmed makes PD at the first (equivocal) scan. */
  backdateEquivocalNewLesions: boolean;
  /** Planned assessment interval in days (q6w = 42, q8w = 56); used for the missed-assessment rule. */
  assessmentIntervalDays: number;
  /** Visit window in days added to the missed-assessment gap. */
  assessmentWindowDays: number;
  /** An event after >= this many missed assessments is censored (FDA 2018: 2). 0 disables the rule. */
  missedAssessmentsForCensoring: number;
  /** Censor at the last adequate assessment before new anticancer therapy. */
  censorAtNewTherapy: boolean;
  /** Deaths count as PFS events. */
  deathIsEvent: boolean;
  /** Whether NON-CR/NON-PD counts toward disease control. */
  dcrIncludesNonCrNonPd: boolean;
  /** QLQ-C30 deterioration threshold in points (>= this change is deterioration). */
  ttdThreshold: number;
  /** Time to deterioration requires confirmation at the next assessment. */
  ttdConfirmation: boolean;
  /** Wearables: a valid day needs at least this many minutes of wear (10 h = 600). */
  wearMinMinutesPerDay: number;
  /** Wearables: a week needs at least this many valid days for a weekly mean. */
  wearMinValidDaysPerWeek: number;
  /** Which evaluator's reads to use when importing SDTM. */
  sdtmEvaluator: string;
  /**
   * BOR / CBOR of a subject without any (post-baseline) assessment: 'MISSING' (false, admiralonco default) or
   * 'NE' (true, admiralonco missing_as_ne = TRUE; common in SAPs).
   */
  missingAsNe: boolean;
  /**
   * A death after >= `missedAssessmentsForCensoring` missed assessments (a death without any adequate
   * assessment included, counted from randomisation): 'censor' = FDA 2018 censoring table (censored at the
   * last adequate assessment, or at randomisation when there is none); 'event' = counted as a PFS / DoR event
   * whenever it happens, as in the admiral / admiralonco ADTTE template (death_event). A progression after
   * missed assessments follows `missedAssessmentsForCensoring` either way (0 disables that rule).
   */
  pfsDeathAfterMissedAssessments: 'censor' | 'event';
  /**
   * Duration of response: 'confirmedResponse' = for confirmed responders (CRSP = Y), from the first confirmed
   * CR / PR; 'firstResponse' = for every responder (RSP = Y), from the first CR / PR, confirmed or not
   * (the admiralonco ADTTE template's TEMP_RESPDT from RSP).
   */
  dorStart: 'confirmedResponse' | 'firstResponse';
  /**
   * Date of first progression: 'overallResponse' = the first overall response PD (BOR uses the assessments
   * up to and including it); 'pdDate' = each subject's `pdDate`, a separate PD source (admiralonco
   * `source_pd`): BOR / confirmation use the assessments on or before it (all of them when the subject has
   * none) and PFS / DoR take it as the progression date.
   */
  pdSource: 'overallResponse' | 'pdDate';
}

export const DEFAULT_SETTINGS: Readonly<ProtocolSettings> = Object.freeze({
  criteria: 'RECIST 1.1',
  confirmationDays: 28,
  confirmationMaxNe: 1,
  confirmationAcceptSd: false,
  sdMinDays: 42,
  sdReference: 'randomisation',
  backdateEquivocalNewLesions: true,
  assessmentIntervalDays: 42,
  assessmentWindowDays: 7,
  missedAssessmentsForCensoring: 2,
  censorAtNewTherapy: true,
  deathIsEvent: true,
  dcrIncludesNonCrNonPd: true,
  ttdThreshold: 10,
  ttdConfirmation: false,
  wearMinMinutesPerDay: 600,
  wearMinValidDaysPerWeek: 4,
  sdtmEvaluator: 'INVESTIGATOR',
  missingAsNe: false,
  pfsDeathAfterMissedAssessments: 'censor',
  dorStart: 'confirmedResponse',
  pdSource: 'overallResponse',
});

/** Fills defaults and validates a partial settings object (throws InputError on bad values). */
export type PartialSettings = Partial<ProtocolSettings>;
