/**
 * SDTM-shaped TU / TR / RS and ADaM-shaped ADTR / ADRS / ADTTE / ADQS / ADPATH datasets, built as generic
 * `Dataset` objects of `@app/datasets` (which writes them to CSV, Dataset-JSON and XPT).
 *
 * Provenance: every row derived from an assessment carries READID (the read / AI proposal id), READER
 * (pseudonymous reader id) and, when an AI model produced the value, MODELID, MODELVER and MODELSHA.
 * ADaM rows also carry SRCDOM / SRCVAR / SRCSEQ pointing at the SDTM record they come from
 * (e.g. ADRS OVR -> RS.RSSEQ; ADTTE PFS event -> RS.RSDTC / RSSEQ of the PD record).
 * Blinding: with `blinded: true` no ARM / ARMCD / TRT01P / TRT01A column exists at all.
 * Determinism: rows are sorted by USUBJID, PARAMCD, ADT (or VISITNUM), then a sequence key; string
 * lengths are computed from the data; nothing depends on the clock or input order.
 */
import { InputError, isInputError } from '@app/core';
import { TableBuilder, tableToDataset, type Column, type DataType, type Dataset, type Table, type Value } from '@app/datasets';
import type { Assessment, ProtocolSettings, SourceRef, StudyInput, SubjectInput, TargetMeasurement } from './types';
import { baselineOf, deriveVisitResponses, lesionValue, sortAssessments, targetSelectionWarnings, type VisitResponse } from './recist';
import { bestOverallResponse, confirmedBestOverallResponse, deriveDor, derivePfs, firstResponse, hasDiseaseControl, type Bor, type BorResult, type TteResult } from './subject';
import { QLQ_C30_SCALES, deriveTtd, qlqChangeFromBaseline, sortQuestionnaires, weeklySteps, type ScaleChange } from './pro';
import { isPcr, pdl1Cps, pdl1Tps, residualCancerBurden } from './pathology';
import { cmpStr, dayNumber, pctChange1dp, resolveSettings, studyDayOfDays, tenthsToMm } from './util';

type ColSpec = [name: string, label: string, type: DataType, opts?: Partial<Column>];

/** Columns of a dataset: item OIDs, key sequence, SAS name and label length checks. */
export function makeColumns(name: string, specs: ColSpec[], keys: string[] = []): Column[] {
  return specs.map(([n, l, t, o]) => {
    if (n.length > 8 || !/^[A-Z][A-Z0-9_]*$/.test(n)) throw new Error(`bug: column name ${n} is not a valid SAS name`);
    if (l.length > 40) throw new Error(`bug: label of ${n} longer than 40 characters`);
    const c: Column = { itemOID: `IT.${name}.${n}`, name: n, label: l, dataType: t, ...o };
    const k = keys.indexOf(n);
    if (k >= 0) c.keySequence = k + 1;
    return c;
  });
}

const ADATE: Partial<Column> = { targetDataType: 'integer', displayFormat: 'DATE9.' };

const PROV_SPECS: ColSpec[] = [
  ['READID', 'Source Read / Assessment Identifier', 'string'],
  ['READER', 'Source Reader Identifier', 'string'],
  ['MODELID', 'Source AI Model Identifier', 'string'],
  ['MODELVER', 'Source AI Model Version', 'string'],
  ['MODELSHA', 'Source AI Model SHA-256', 'string'],
];
const NO_PROV: Value[] = [null, null, null, null, null];
/** READID, READER, MODELID, MODELVER, MODELSHA of a source (a fresh small array: cheaper than a cache lookup). */
const prov = (s: SourceRef | undefined): Value[] => {
  if (!s) return NO_PROV;
  const m = s.model;
  return [s.readId ?? null, s.reader ?? null, m ? m.id ?? null : null, m ? m.version ?? null : null, m ? m.sha256 ?? null : null];
};

/** Sets columns at, at + 1, ... of the row a TableBuilder is building. */
function setAll(b: TableBuilder, at: number, values: Value[]): void {
  for (let i = 0; i < values.length; i++) b.set(at + i, values[i]);
}
/** Review provenance (StudyInput.reviewProvenance): who adjudicated and how the read was selected, after PROV_SPECS. */
const REVIEW_PROV_SPECS: ColSpec[] = [
  ['ADJUDID', 'Adjudicator Identifier', 'string'],
  ['BICRSEL', 'BICR Read Selection', 'string'],
];
/** --EVAL / --EVALID of an SDTM domain (StudyInput.reviewProvenance), before the provenance columns. */
const evalSpecs = (prefix: string): ColSpec[] => [
  [`${prefix}EVAL`, 'Evaluator', 'string'],
  [`${prefix}EVALID`, 'Evaluator Identifier', 'string'],
];

const ARM_SPECS: ColSpec[] = [
  ['ARM', 'Description of Planned Arm', 'string'],
  ['ARMCD', 'Planned Arm Code', 'string'],
  ['TRT01P', 'Planned Treatment for Period 01', 'string'],
  ['TRT01A', 'Actual Treatment for Period 01', 'string'],
];
const armVals = (s: SubjectInput): Value[] => [s.arm ?? null, s.armCd ?? null, s.arm ?? null, s.arm ?? null];

/** Concatenates three value arrays into one new row (cheaper than array spread in the hot path). */
function rowOf(a: Value[], b: Value[], c: Value[]): Value[] {
  const r: Value[] = new Array(a.length + b.length + c.length);
  let k = 0;
  for (let i = 0; i < a.length; i++) r[k++] = a[i];
  for (let i = 0; i < b.length; i++) r[k++] = b[i];
  for (let i = 0; i < c.length; i++) r[k++] = c[i];
  return r;
}

const cmpValue = (a: Value, b: Value): number => {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return cmpStr(String(a), String(b));
};

/**
 * Sorts one subject's rows (stable) by the given column indexes: numbers numerically, strings by code
 * unit, null first. Rows already in order (the usual case) are left as they are.
 */
function sortSubjectRows(rows: Value[][], idx: number[]): Value[][] {
  const by = (x: Value[], y: Value[]) => {
    for (const i of idx) {
      const c = cmpValue(x[i], y[i]);
      if (c) return c;
    }
    return 0;
  };
  for (let i = 1; i < rows.length; i++) if (by(rows[i - 1], rows[i]) > 0) return rows.sort(by);
  return rows;
}

/** Per-subject endpoint derivation result (what ADRS / ADTTE are built from). */
export interface SubjectEndpoints {
  usubjid: string;
  visits: VisitResponse[];
  bor: BorResult;
  cbor: BorResult;
  /** First CR / PR (RSP = Y; admiralonco derive_param_response), null when none. */
  rsp: VisitResponse | null;
  /** First confirmed CR / PR (CRSP = Y; admiralonco derive_param_confirmed_resp), null when none. */
  crsp: VisitResponse | null;
  pfs: TteResult;
  dor: TteResult | null;
  ttd: TteResult[];
  /** QLQ-C30 scale scores with change from baseline (ADQS source), up to the cut. */
  qlqChanges: ScaleChange[];
  /** Set when the QLQ-C30 data were rejected (bad answers); ADQS / TTD are then empty for the subject. */
  qlqError?: string;
}

/**
 * All subject-level RECIST / PFS / DOR / TTD derivations for one subject. Throws InputError on bad input
 * (e.g. an invalid baseline target selection).
 */
export function deriveSubjectEndpoints(subject: SubjectInput, s: ProtocolSettings, cutDate?: string, rsSeq?: Map<VisitResponse, number>): SubjectEndpoints {
  const irecist = s.criteria === 'iRECIST';
  const visits = deriveVisitResponses(subject, { irecist, cutDate, backdateEquivocal: s.backdateEquivocalNewLesions });
  return deriveSubjectEndpointsFrom(subject, visits, s, cutDate, rsSeq);
}

function deriveSubjectEndpointsFrom(subject: SubjectInput, visits: VisitResponse[], s: ProtocolSettings, cutDate?: string, rsSeq?: Map<VisitResponse, number>): SubjectEndpoints {
  const irecist = s.criteria === 'iRECIST';
  const bor = bestOverallResponse(visits, subject, s);
  const cbor = confirmedBestOverallResponse(visits, subject, s);
  // Every randomised subject gets PFS (ITT): no assessment and no death -> censored at randomisation.
  const pfs = derivePfs(visits, subject, s, { cutDate, rsSeq, irecist });
  const rsp = firstResponse(visits, subject, s, false);
  const crsp = firstResponse(visits, subject, s, true);
  // DoR: confirmed responders from the first confirmed CR / PR, or (dorStart 'firstResponse') every responder
  // from the first CR / PR
  const dor = deriveDor(visits, subject, s, (s.dorStart === 'firstResponse' ? rsp : crsp)?.date ?? null, { cutDate, rsSeq, irecist });
  const ttd: TteResult[] = [];
  let changes: ScaleChange[] = [];
  let qlqError: string | undefined;
  if (subject.qlqc30?.length) {
    // A bad questionnaire must not take the subject's tumour endpoints down with it: report and go on.
    try {
      const recs = subject.qlqc30.filter((r) => !cutDate || r.date <= cutDate);
      changes = recs.length ? qlqChangeFromBaseline(recs, subject.randDate) : [];
      for (const sc of QLQ_C30_SCALES) {
        const t = deriveTtd(subject, sc.code, s, cutDate, changes);
        if (t) ttd.push(t);
      }
    } catch (e) {
      if (!isInputError(e)) throw e;
      qlqError = `QLQ-C30: ${e.message}`;
      changes = [];
      ttd.length = 0;
    }
  }
  return { usubjid: subject.usubjid, visits, bor, cbor, rsp, crsp, pfs, dor, ttd, qlqChanges: changes, ...(qlqError ? { qlqError } : {}) };
}

const SCALE_BY_CODE = new Map(QLQ_C30_SCALES.map((x) => [x.code, { ...x, param: `QLQ-C30 ${x.label}` }]));
/** ADTTE PARAM of each TTD<scale> PARAMCD. */
const TTD_PARAM = new Map(QLQ_C30_SCALES.map((x) => [`TTD${x.code}`, `Time to Deterioration: ${x.code} (days)`]));
/** QLQ-C30 scale codes in ADQS PARAMCD order (code unit order, as sortSubjectRows compares). */
const QLQ_CODES_SORTED = QLQ_C30_SCALES.map((x) => x.code).sort(cmpStr);

/** Subjects after which deriveSortedTables sizes its tables for the rest (see TableBuilder.reserve). */
const SIZE_AFTER = 64;

const RESP_N: Record<Bor, number> = { CR: 1, PR: 2, SD: 3, 'NON-CR/NON-PD': 4, PD: 5, NE: 6, MISSING: 7 };

/** TRORRES text of each diameter up to 1 m, made once (the same string object is found faster too). */
const MM_TEXT: string[] = [];
const mmText = (tenths: number, mm: number): string => (Number.isInteger(tenths) && tenths >= 0 && tenths < 10_000 ? (MM_TEXT[tenths] ??= String(mm)) : String(mm));

function measurementText(t: TargetMeasurement): { orres: string | null; stresn: number | null; stat: string | null } {
  if (t.mergedInto !== undefined) return { orres: '0', stresn: 0, stat: null };
  const v = lesionValue(t);
  if (v === null) return { orres: null, stresn: null, stat: 'NOT DONE' };
  if (!t.fragments && t.diameter === 'TOO_SMALL') return { orres: 'TOO SMALL TO MEASURE', stresn: 5, stat: null };
  const mm = tenthsToMm(v);
  return { orres: mmText(v, mm), stresn: mm, stat: null };
}

const NT_TEXT: Record<string, string> = { PRESENT: 'PRESENT', ABSENT: 'ABSENT', UNEQUIVOCAL_PROGRESSION: 'UNEQUIVOCAL PROGRESSION', NOT_ASSESSED: 'NOT EVALUABLE' };

interface DatasetDef {
  name: string;
  label: string;
  standard: Dataset['standard'];
  columns: Column[];
  /**
   * Column indexes a subject's rows are sorted by (USUBJID first), for datasets whose rows are collected
   * per subject and sorted; null: the rows are made in key order and go straight into the builder.
   */
  sort: number[] | null;
}
const def = (name: string, label: string, standard: Dataset['standard'], specs: ColSpec[], sort: number[] | null, keys: string[]): DatasetDef => ({ name, label, standard, columns: makeColumns(name, specs, keys), sort });

/**
 * Top-level derivation: every dataset for a study, as columnar Tables (@app/datasets), built subject by
 * subject so that no row outlives its subject.
 * - TU, TR, RS (SDTM-shaped) from the assessments and derived time-point responses;
 * - ADTR (sum of diameters), ADRS (OVR, BOR, CBOR, RSP, CRSP, DCR [, IOVR]), ADTTE (PFS, DOR, TTD<scale>),
 *   ADQS (QLQ-C30 scale scores, weekly steps), ADPATH (pCR, RCB, TILs, PD-L1).
 * Bad subjects (InputError, e.g. > 2 target lesions in an organ) are reported in `issues` as
 * `USUBJID: message` and left out of the response-derived datasets - never silently.
 * `settings` is returned resolved (with defaults) so it can be stored in the cut manifest.
 */
export function deriveEndpointTables(input: StudyInput, settingsIn: Partial<ProtocolSettings>, opts: { blinded: boolean }): { tables: Table[]; settings: ProtocolSettings; issues: string[] } {
  const s = resolveSettings(settingsIn);
  if (!input || !Array.isArray(input.subjects)) throw new InputError('endpoints.bad-input', 'StudyInput.subjects must be an array');
  if (typeof opts?.blinded !== 'boolean') throw new InputError('endpoints.bad-input', 'opts.blinded must be true or false (no default: blinding must be explicit)');
  const subjects = sortedSubjects(input.subjects);
  const { tables, issues } = deriveSortedTables(input, subjects.length, (i) => subjects[i], s, opts.blinded);
  return { tables, settings: s, issues };
}

/** Subjects sorted by USUBJID (a copy); a USUBJID given twice is refused. */
export function sortedSubjects(subjects: readonly SubjectInput[]): SubjectInput[] {
  const sorted = [...subjects].sort((a, b) => cmpStr(a.usubjid, b.usubjid));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].usubjid === sorted[i - 1].usubjid) throw new InputError('endpoints.duplicate-subject', `subject ${sorted[i].usubjid} appears twice in StudyInput`);
  }
  return sorted;
}

/** Derives the endpoint tables subject by subject (see tableDeriver). */
export interface TableDeriver {
  /** Adds the rows of the next subject (USUBJID order, no duplicates: the caller's job). */
  add(sub: SubjectInput): void;
  /** The finished tables (column lengths from the data) and the issues met. */
  finish(): { tables: Table[]; issues: string[] };
}

/**
 * deriveEndpointTables' work one subject at a time: subjects are added in USUBJID order (free of
 * duplicates), each when its turn comes (a worker thread parses each subject's JSON only then, as it
 * arrives, so a shard never has to exist as a whole in its heap). `expected`: how many subjects will
 * come (sizes the tables once; a wrong figure only costs a regrowth).
 */
export function tableDeriver(study: Pick<StudyInput, 'studyId' | 'dataCutDate' | 'reviewProvenance'>, s: ProtocolSettings, blinded: boolean, expected = 0): TableDeriver {
  const studyId = study.studyId;
  const cut = study.dataCutDate;
  const issues: string[] = [];
  const armSpecs = blinded ? [] : ARM_SPECS;
  // review reads: --EVAL/--EVALID in TU/TR/RS and ADJUDID/BICRSEL after the provenance columns (else: as before)
  const R = study.reviewProvenance === true;
  const provSpecs = R ? [...PROV_SPECS, ...REVIEW_PROV_SPECS] : PROV_SPECS;
  const PN = provSpecs.length;
  /** Ids kept per questionnaire for its ADQS rows: ADT, ADY, AVISIT and the provenance columns. */
  const QW = 3 + PN;
  const E = R ? 2 : 0;
  const evalCols = (d: string): ColSpec[] => (R ? evalSpecs(d) : []);
  const provOf = R ? (x: SourceRef | undefined): Value[] => [...prov(x), x?.adjudicator ?? null, x?.selection ?? null] : prov;
  const evalOf = (x: SourceRef | undefined): Value[] => (R ? [x?.evaluator ?? null, x?.evaluatorId ?? null] : []);
  /** The current subject's read (its baseline's source): review rows without a source record of their own name it. */
  let subjectRead: SourceRef | undefined;
  const setP = (b: TableBuilder, at: number, x: SourceRef | undefined): void => setAll(b, at, provOf(x ?? (R ? subjectRead : undefined)));
  const arm = (sub: SubjectInput): Value[] => (blinded ? [] : armVals(sub));

  const A = armSpecs.length;
  const defs: DatasetDef[] = [
    def('TU', 'Tumor/Lesion Identification', 'SDTM', [
      ['STUDYID', 'Study Identifier', 'string'], ['DOMAIN', 'Domain Abbreviation', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'],
      ['TUSEQ', 'Sequence Number', 'integer'], ['TULNKID', 'Link ID', 'string'], ['TUTESTCD', 'Tumor/Lesion ID Short Name', 'string'],
      ['TUTEST', 'Tumor/Lesion ID Test Name', 'string'], ['TUORRES', 'Tumor/Lesion ID Result', 'string'], ['TUSTRESC', 'Tumor/Lesion ID Result Std. Format', 'string'],
      ['TULOC', 'Location of the Tumor/Lesion', 'string'], ['VISITNUM', 'Visit Number', 'float'], ['VISIT', 'Visit Name', 'string'], ['TUDTC', 'Date/Time of Tumor/Lesion Identification', 'string'],
      ...evalCols('TU'),
      ...provSpecs,
    ], [2, 3], ['STUDYID', 'USUBJID', 'TUSEQ']),
    def('TR', 'Tumor/Lesion Results', 'SDTM', [
      ['STUDYID', 'Study Identifier', 'string'], ['DOMAIN', 'Domain Abbreviation', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'],
      ['TRSEQ', 'Sequence Number', 'integer'], ['TRGRPID', 'Group ID', 'string'], ['TRLNKID', 'Link ID', 'string'], ['TRTESTCD', 'Tumor/Lesion Assessment Short Name', 'string'],
      ['TRTEST', 'Tumor/Lesion Assessment Test Name', 'string'], ['TRORRES', 'Result or Finding in Original Units', 'string'], ['TRORRESU', 'Original Units', 'string'],
      ['TRSTRESC', 'Character Result/Finding in Std Format', 'string'], ['TRSTRESN', 'Numeric Result/Finding in Standard Units', 'decimal'], ['TRSTRESU', 'Standard Units', 'string'],
      ['TRSTAT', 'Completion Status', 'string'], ['TRMRGTO', 'Merged Into Lesion (Link ID)', 'string'], ['TRNFRAG', 'Number of Fragments of Split Lesion', 'integer'],
      ['VISITNUM', 'Visit Number', 'float'], ['VISIT', 'Visit Name', 'string'], ['TRDTC', 'Date/Time of Tumor/Lesion Measurement', 'string'],
      ...evalCols('TR'),
      ...provSpecs,
    ], null, ['STUDYID', 'USUBJID', 'TRSEQ']),
    def('RS', 'Disease Response and Clin Classification', 'SDTM', [
      ['STUDYID', 'Study Identifier', 'string'], ['DOMAIN', 'Domain Abbreviation', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'],
      ['RSSEQ', 'Sequence Number', 'integer'], ['RSTESTCD', 'Assessment Short Name', 'string'], ['RSTEST', 'Assessment Name', 'string'], ['RSCAT', 'Category for Assessment', 'string'],
      ['RSORRES', 'Result or Finding in Original Units', 'string'], ['RSSTRESC', 'Character Result/Finding in Std Format', 'string'],
      ['VISITNUM', 'Visit Number', 'float'], ['VISIT', 'Visit Name', 'string'], ['RSDTC', 'Date/Time of Assessment', 'string'],
      ...evalCols('RS'),
      ...provSpecs,
    ], null, ['STUDYID', 'USUBJID', 'RSSEQ']),
    def('ADTR', 'Tumor Results Analysis Dataset', 'ADaM', [
      ['STUDYID', 'Study Identifier', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'], ...armSpecs,
      ['PARAMCD', 'Parameter Code', 'string'], ['PARAM', 'Parameter', 'string'], ['AVAL', 'Analysis Value', 'decimal'], ['BASE', 'Baseline Value', 'decimal'],
      ['CHG', 'Change from Baseline', 'decimal'], ['PCHG', 'Percent Change from Baseline', 'decimal'], ['NADIR', 'Nadir Sum Before This Visit (mm)', 'decimal'],
      ['PCHGNAD', 'Percent Change from Nadir', 'decimal'], ['ABLFL', 'Baseline Record Flag', 'string'], ['ANL01FL', 'Analysis Flag 01: All Targets Assessed', 'string'],
      ['ADT', 'Analysis Date', 'date', ADATE], ['ADY', 'Analysis Relative Day', 'integer'], ['AVISIT', 'Analysis Visit', 'string'], ['AVISITN', 'Analysis Visit (N)', 'float'],
      ['SRCDOM', 'Source Data', 'string'], ['SRCVAR', 'Source Variable', 'string'], ['SRCSEQ', 'Source Sequence Number', 'integer'],
      ...provSpecs,
    ], null, ['STUDYID', 'USUBJID', 'PARAMCD', 'ADT']),
    def('ADRS', 'Response Analysis Dataset', 'ADaM', [
      ['STUDYID', 'Study Identifier', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'], ...armSpecs,
      ['PARAMCD', 'Parameter Code', 'string'], ['PARAM', 'Parameter', 'string'], ['PARCAT1', 'Parameter Category 1', 'string'],
      ['AVALC', 'Analysis Value (C)', 'string'], ['AVAL', 'Analysis Value', 'integer'], ['ADT', 'Analysis Date', 'date', ADATE], ['ADY', 'Analysis Relative Day', 'integer'],
      ['AVISIT', 'Analysis Visit', 'string'], ['AVISITN', 'Analysis Visit (N)', 'float'],
      ['SRCDOM', 'Source Data', 'string'], ['SRCVAR', 'Source Variable', 'string'], ['SRCSEQ', 'Source Sequence Number', 'integer'],
      ...provSpecs,
      ['ITTFL', 'Intent-To-Treat Population Flag', 'string'],
    ], null, ['STUDYID', 'USUBJID', 'PARAMCD', 'ADT']),
    def('ADTTE', 'Time to Event Analysis Dataset', 'ADaM', [
      ['STUDYID', 'Study Identifier', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'], ...armSpecs,
      ['PARAMCD', 'Parameter Code', 'string'], ['PARAM', 'Parameter', 'string'], ['AVAL', 'Analysis Value', 'integer'],
      ['STARTDT', 'Time to Event Origin Date for Subject', 'date', ADATE], ['ADT', 'Analysis Date', 'date', ADATE],
      ['CNSR', 'Censor', 'integer'], ['EVNTDESC', 'Event or Censoring Description', 'string'],
      ['SRCDOM', 'Source Data', 'string'], ['SRCVAR', 'Source Variable', 'string'], ['SRCSEQ', 'Source Sequence Number', 'integer'],
      // review reads: the subject's read (one read per subject) names the reader, adjudicator and selection here too
      ...(R ? provSpecs : []),
      ['ITTFL', 'Intent-To-Treat Population Flag', 'string'],
    ], null, ['STUDYID', 'USUBJID', 'PARAMCD']),
    def('ADQS', 'Questionnaire Analysis Dataset', 'ADaM', [
      ['STUDYID', 'Study Identifier', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'], ...armSpecs,
      ['PARAMCD', 'Parameter Code', 'string'], ['PARAM', 'Parameter', 'string'], ['PARCAT1', 'Parameter Category 1', 'string'],
      ['AVAL', 'Analysis Value', 'decimal'], ['BASE', 'Baseline Value', 'decimal'], ['CHG', 'Change from Baseline', 'decimal'], ['PCHG', 'Percent Change from Baseline', 'decimal'],
      ['ABLFL', 'Baseline Record Flag', 'string'], ['ADT', 'Analysis Date', 'date', ADATE], ['ADY', 'Analysis Relative Day', 'integer'], ['AVISIT', 'Analysis Visit', 'string'],
      ['SRCDOM', 'Source Data', 'string'], ['SRCVAR', 'Source Variable', 'string'],
      ...provSpecs,
    ], null, ['STUDYID', 'USUBJID', 'PARAMCD', 'ADT']),
    def('ADPATH', 'Pathology Endpoints Analysis Dataset', 'ADaM', [
      ['STUDYID', 'Study Identifier', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'], ...armSpecs,
      ['PARAMCD', 'Parameter Code', 'string'], ['PARAM', 'Parameter', 'string'], ['AVALC', 'Analysis Value (C)', 'string'], ['AVAL', 'Analysis Value', 'decimal'],
      ['ADT', 'Analysis Date', 'date', ADATE], ['ADY', 'Analysis Relative Day', 'integer'], ['SRCID', 'Source Pathology Record Identifier', 'string'],
      ...provSpecs,
    ], [1, 2 + A, 6 + A, 8 + A], ['STUDYID', 'USUBJID', 'PARAMCD', 'ADT']),
    // ITT (issue 13): one row per subject of the study, assessed or not; ITTFL = Y for randomised subjects
    def('ADSL', 'Subject-Level Analysis Dataset', 'ADaM', [
      ['STUDYID', 'Study Identifier', 'string'], ['USUBJID', 'Unique Subject Identifier', 'string'], ...armSpecs,
      ['ITTFL', 'Intent-To-Treat Population Flag', 'string'], ['RANDDT', 'Date of Randomization', 'date', ADATE],
      ['TRTSDT', 'Date of First Exposure to Treatment', 'date', ADATE], ['DTHFL', 'Subject Death Flag', 'string'],
      ['DTHDT', 'Date of Death', 'date', ADATE], ['LSTALVDT', 'Date Last Known Alive', 'date', ADATE],
      ['NACTDT', 'Date of New Anti-Cancer Therapy', 'date', ADATE], ['PDDT', 'Date of First PD (Separate Source)', 'date', ADATE],
      ['TUMASFL', 'Post-Baseline Tumour Assessment Flag', 'string'],
    ], null, ['STUDYID', 'USUBJID']),
  ];
  // a subject's USUBJID and read ids (nearly) never come back in a later subject: their lookups stay
  // per subject (a value that does come back just gets a second id: same rows, same bytes)
  const scoped = ['USUBJID', 'READID'];
  // ids in SharedArrayBuffers: a big cut's tables cross threads (derivation shards, writers) uncopied
  const builders = defs.map((d) => new TableBuilder({ name: d.name, label: d.label, itemGroupOID: `IG.${d.name}`, standard: d.standard }, d.columns, 4096, { scoped, shared: true }));
  // sort keys after USUBJID (constant within a subject: subjects are processed in USUBJID order)
  const rest = defs.map((d) => d.sort?.slice(1) ?? []);

  const [, trB, rsB, adtrB, adrsB, adtteB, adqsB] = builders;
  const adslB = builders[defs.length - 1];
  const ITT_ADRS = defs[4].columns.length - 1;
  const ITT_ADTTE = defs[5].columns.length - 1;
  /** A date of the subject known by the cut-off (ADSL), else null. */
  const byCut = (d: string | undefined): string | null => (d && (!cut || d <= cut) ? d : null);
  const P = 2 + A; // PARAMCD of the ADaM datasets
  /** ADY (admiral derive_vars_dy, studyDay) of date d; refDay: the subject's reference date as a day number. */
  const adyOf = (d: string, refDay: number): number => studyDayOfDays(dayNumber(d), refDay);
  // One function per dataset (not one big one per subject): a big function is costly for the JIT to
  // optimise, and each of its deoptimisations (new object shapes as subjects come) made it do so again.

  /** TU: one row per baseline lesion, plus one per visit with new lesions (rows sorted by the caller). */
  const tuRows = (u: string, base: Assessment | undefined, assessments: Assessment[], tu: Value[][]): void => {
    let tuseq = 0;
    if (base) {
      // a plain loop, not a spread of two map()s: those arrays' element kinds vary between subjects and
      // made the optimised code deoptimise
      const lesions: { id: string; organ: string | null; kind: string; src: SourceRef }[] = [];
      for (const t of base.targets) lesions.push({ id: t.lesionId, organ: t.organ, kind: 'TARGET', src: t.source });
      for (const n of base.nonTargets) lesions.push({ id: n.lesionId, organ: n.organ ?? null, kind: 'NON-TARGET', src: n.source });
      lesions.sort((a, b) => cmpStr(a.kind, b.kind) || cmpStr(a.id, b.id));
      for (const l of lesions) tu.push([studyId, 'TU', u, ++tuseq, l.id, 'TUMIDENT', 'Tumor Identification', l.kind, l.kind, l.organ, base.visitNum, base.visit, base.date, ...evalOf(l.src), ...provOf(l.src)]);
    }
    for (const a of assessments)
      if (a !== base && a.newLesions !== 'NO')
        tu.push([studyId, 'TU', u, ++tuseq, `NEW${a.visitNum}`, 'TUMIDENT', 'Tumor Identification', a.newLesions === 'YES' ? 'NEW' : 'EQUIVOCAL NEW', a.newLesions === 'YES' ? 'NEW' : 'EQUIVOCAL NEW', null, a.visitNum, a.visit, a.date, ...evalOf(a.source), ...provOf(a.source)]);
  };

  /** TR, in TRSEQ order. */
  const trRows = (assessments: Assessment[]): void => {
    let trseq = 0;
    for (const a of assessments) {
      trB.set(16, a.visitNum);
      trB.set(17, a.visit);
      trB.set(18, a.date);
      for (const t of [...a.targets].sort((x, y) => cmpStr(x.lesionId, y.lesionId))) {
        const m = measurementText(t);
        const mm = m.orres === null ? null : 'mm';
        setAll(trB, 3, [++trseq, 'TARGET', t.lesionId, t.nodal ? 'SAXIS' : 'LDIAM', t.nodal ? 'Short Axis' : 'Longest Diameter', m.orres, mm, m.orres, m.stresn, m.stresn === null ? null : 'mm', m.stat, t.mergedInto ?? null, t.fragments ? t.fragments.length : null]);
        if (R) setAll(trB, 19, evalOf(t.source));
        setP(trB, 19 + E, t.source);
        trB.commit();
      }
      for (const n of [...a.nonTargets].sort((x, y) => cmpStr(x.lesionId, y.lesionId))) {
        const text = NT_TEXT[n.status];
        setAll(trB, 3, [++trseq, 'NON-TARGET', n.lesionId, 'TUMSTATE', 'Tumor State', text, null, text, null, null, n.status === 'NOT_ASSESSED' ? 'NOT DONE' : null, null, null]);
        if (R) setAll(trB, 19, evalOf(n.source));
        setP(trB, 19 + E, n.source);
        trB.commit();
      }
    }
  };

  /** RS: one row per response test per visit; returns the RSSEQ of each visit's OVRLRESP row. */
  const rsRows = (visits: VisitResponse[]): Map<VisitResponse, number> => {
    let rsseq = 0;
    const rsSeq = new Map<VisitResponse, number>();
    for (const v of visits) {
      const tests: [string, string, string | null][] = [
        ['TRGRESP', 'Target Response', v.target === 'NA' ? null : v.target],
        ['NTRGRESP', 'Non-target Response', v.nonTarget === 'NA' ? null : v.nonTarget],
        ['NEWLIND', 'New Lesion Indicator', v.newLesions === 'YES' ? 'Y' : v.newLesions === 'NO' ? 'N' : 'EQUIVOCAL'],
        ['OVRLRESP', 'Overall Response', v.overall],
      ];
      if (v.iOverall) tests.push(['IOVRLRSP', 'iRECIST Overall Response', v.iOverall]);
      rsB.set(9, v.visitNum);
      rsB.set(10, v.visit);
      rsB.set(11, v.date);
      if (R) setAll(rsB, 12, evalOf(v.source));
      setP(rsB, 12 + E, v.source);
      for (const [cd, test, res] of tests) {
        if (res === null) continue;
        setAll(rsB, 3, [++rsseq, cd, test, s.criteria === 'iRECIST' && cd === 'IOVRLRSP' ? 'iRECIST' : 'RECIST 1.1', res, res]);
        rsB.commit();
        if (cd === 'OVRLRESP') rsSeq.set(v, rsseq);
      }
    }
    return rsSeq;
  };

  /**
   * ADTR: sum of diameters at baseline and each visit, in key order (visits come by date, then visit
   * number, none before the baseline date: the baseline row goes before the first visit not on its date
   * with a negative visit number).
   */
  const adtrRows = (base: Assessment, visits: VisitResponse[], refDay: number): void => {
    const bsum = visits[0]?.baselineSum ?? base.targets.reduce((acc, t) => acc + (lesionValue(t) ?? 0), 0);
    const bmm = tenthsToMm(bsum);
    let baseDone = false;
    const baseRow = () => {
      setAll(adtrB, P, ['SDIAM', 'Target Lesions Sum of Diameters (mm)', bmm, bmm, 0, 0, bmm, null, 'Y', 'Y', base.date, adyOf(base.date, refDay), 'BASELINE', 0, 'TR', 'TRSTRESN', null]);
      setP(adtrB, P + 17, base.source);
      adtrB.commit();
      baseDone = true;
    };
    for (const v of visits) {
      if (v.sum === null) continue;
      if (!baseDone && !(v.date === base.date && v.visitNum < 0)) baseRow();
      setAll(adtrB, P, ['SDIAM', 'Target Lesions Sum of Diameters (mm)', tenthsToMm(v.sum), bmm, tenthsToMm(v.sum - bsum), pctChange1dp(v.sum, bsum), v.nadir === null ? null : tenthsToMm(v.nadir), v.pctFromNadir, null, v.sumComplete ? 'Y' : null, v.date, adyOf(v.date, refDay), v.visit, v.visitNum, 'TR', 'TRSTRESN', null]);
      setP(adtrB, P + 17, v.source);
      adtrB.commit();
    }
    if (!baseDone) baseRow();
  };

  /** ADRS: BOR, CBOR, CRSP, DCR, IOVR (by visit), OVR (by visit), RSP, in key order. */
  const adrsRows = (ep: SubjectEndpoints, visits: VisitResponse[], rsSeq: Map<VisitResponse, number>, refDay: number): void => {
    const cat = s.criteria;
    const subjRow = (cd: string, param: string, avalc: string, aval: number | null, b: BorResult) => {
      const v = visits.find((x) => x.date === b.date && x.visit === b.visit);
      setAll(adrsB, P, [cd, param, cat, avalc, aval, b.date, b.date ? adyOf(b.date, refDay) : null, null, null, v ? 'RS' : null, v ? 'RSSTRESC' : null, v ? rsSeq.get(v) ?? null : null]);
      setP(adrsB, P + 12, v?.source);
      adrsB.commit();
    };
    const visitRow = (v: VisitResponse, iOverall: boolean) => {
      if (iOverall) setAll(adrsB, P, ['IOVR', 'iRECIST Overall Response', 'iRECIST', v.iOverall!, null, v.date, adyOf(v.date, refDay), v.visit, v.visitNum, 'RS', 'RSSTRESC', null]);
      else setAll(adrsB, P, ['OVR', 'Overall Response by Investigator', cat, v.overall, RESP_N[v.overall], v.date, adyOf(v.date, refDay), v.visit, v.visitNum, 'RS', 'RSSTRESC', rsSeq.get(v) ?? null]);
      setP(adrsB, P + 12, v.source);
      adrsB.commit();
    };
    subjRow('BOR', 'Best Overall Response', ep.bor.bor, RESP_N[ep.bor.bor], ep.bor);
    subjRow('CBOR', 'Best Confirmed Overall Response', ep.cbor.bor, RESP_N[ep.cbor.bor], ep.cbor);
    // admiralonco derive_param_confirmed_resp / derive_param_response: ADT = the first (confirmed) response, none for N
    const firstOf = (v: VisitResponse | null): BorResult => ({ bor: v ? v.overall : 'MISSING', date: v?.date ?? null, visit: v?.visit ?? null });
    subjRow('CRSP', 'Confirmed Responder (CR or PR)', ep.crsp ? 'Y' : 'N', ep.crsp ? 1 : 0, firstOf(ep.crsp));
    subjRow('DCR', 'Disease Control (confirmed BOR)', hasDiseaseControl(ep.cbor.bor, s) ? 'Y' : 'N', hasDiseaseControl(ep.cbor.bor, s) ? 1 : 0, ep.cbor);
    for (const v of visits) if (v.iOverall) visitRow(v, true);
    for (const v of visits) visitRow(v, false);
    subjRow('RSP', 'Responder (unconfirmed CR or PR)', ep.rsp ? 'Y' : 'N', ep.rsp ? 1 : 0, firstOf(ep.rsp));
  };

  /** ADTTE: DOR, PFS, TTD<scale> by scale code. */
  const adtteRows = (ep: SubjectEndpoints, read: SourceRef | undefined): void => {
    const tteRow = (t: TteResult, param: string) => {
      setAll(adtteB, P, [t.paramcd, param, t.aval, t.startdt, t.adt, t.cnsr, t.evntdesc, t.srcdom, t.srcvar, t.srcseq]);
      if (R) setP(adtteB, P + 10, read);
      adtteB.commit();
    };
    if (ep.dor) tteRow(ep.dor, s.dorStart === 'firstResponse' ? 'Duration of Response (days)' : 'Duration of Confirmed Response (days)');
    tteRow(ep.pfs, 'Progression-Free Survival (days)');
    for (const t of [...ep.ttd].sort((a, b) => cmpStr(a.paramcd, b.paramcd))) tteRow(t, TTD_PARAM.get(t.paramcd)!);
  };

  /**
   * ADQS QLQ-C30 rows: scale scores with change from baseline (key order: scale codes alphabetically,
   * each scale's changes by date and visit).
   */
  const adqsQlqRows = (sub: SubjectInput, changes: ScaleChange[], refDay: number): void => {
    const u = sub.usubjid;
    // each questionnaire's ADT, ADY, AVISIT and source ids, once (its scale rows repeat them), in the
    // order of the changes (date, visit); a repeated date + visit takes the first record's source
    const recs = sortQuestionnaires((sub.qlqc30 ?? []).filter((r) => !cut || r.date <= cut));
    // flat (QW ids per questionnaire): an array of arrays here had changing element kinds, and the
    // optimised code was thrown away at that load again and again (a deopt loop)
    const qids = new Int32Array(recs.length * QW);
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i];
      const o = i * QW;
      qids[o] = adqsB.idOf(P + 8, r.date);
      qids[o + 1] = adqsB.idOf(P + 9, adyOf(r.date, refDay));
      qids[o + 2] = adqsB.idOf(P + 10, r.visit);
      const pv = provOf(r.source);
      for (let k = 0; k < PN; k++) qids[o + 3 + k] = adqsB.idOf(P + 13 + k, pv[k]);
    }
    const r4 = (x: number) => Math.round(x * 10000) / 10000;
    const byCode = new Map<string, ScaleChange[]>();
    for (const c of changes) {
      let g = byCode.get(c.code);
      if (!g) byCode.set(c.code, (g = []));
      g.push(c);
    }
    setAll(adqsB, P + 2, ['EORTC QLQ-C30 V3.0']);
    setAll(adqsB, P + 6, [null]);
    setAll(adqsB, P + 11, ['QS', 'QSSTRESN']);
    for (const code of QLQ_CODES_SORTED) {
      const g = byCode.get(code);
      if (!g) continue;
      adqsB.set(P, code);
      adqsB.set(P + 1, SCALE_BY_CODE.get(code)!.param);
      let j = 0;
      for (const c of g) {
        // the questionnaire of this change: the next one (in the same order) with its date and visit
        while (j < recs.length && !(recs[j].date === c.date && recs[j].visit === c.visit)) j++;
        if (j === recs.length) throw new Error(`bug: ADQS change of ${u} ${c.date} ${c.visit} has no questionnaire`);
        const isBase = c.baseline === c.score && c.change === null && c.date <= sub.randDate;
        setAll(adqsB, P + 3, [r4(c.score.value), c.baseline ? r4(c.baseline.value) : null, c.change ? r4(c.change.value) : null]);
        adqsB.set(P + 7, isBase ? 'Y' : null);
        for (let k = 0, o = j * QW; k < QW; k++) adqsB.setId(P + 8 + (k < 3 ? k : k + 2), qids[o + k]);
        adqsB.commit();
      }
    }
  };

  /** ADQS weekly step rows (STEPSWK sorts after every QLQ-C30 code). */
  const adqsStepRows = (sub: SubjectInput, steps: NonNullable<SubjectInput['steps']>, refDay: number): void => {
    const days = steps.filter((d) => !cut || d.date <= cut);
    const wk = weeklySteps(days, sub.randDate, s);
    const base0 = wk.find((w) => w.week === 0)?.mean ?? null;
    setAll(adqsB, P, ['STEPSWK', 'Mean Daily Steps over Valid Days in Week', 'WEARABLE DAILY STEPS']);
    setAll(adqsB, P + 11, ['DV', 'STEPS', null, null, null, null, null]);
    for (const w of wk) {
      setAll(adqsB, P + 3, [w.mean, base0, w.mean !== null && base0 !== null && w.week > 0 ? Math.round((w.mean - base0) * 100) / 100 : null, w.pctChange, w.week === 0 ? 'Y' : null, w.endDate, adyOf(w.endDate, refDay), w.week === 0 ? 'BASELINE' : `WEEK ${w.week}`]);
      adqsB.commit();
    }
  };

  /** ADPATH rows (sorted by the caller); a bad record is reported and skipped. */
  const adpathRows = (sub: SubjectInput, head: Value[], refDay: number, adpath: Value[][]): void => {
    const u = sub.usubjid;
    for (const p of [...(sub.pathology ?? [])].sort((a, b) => cmpStr(a.date, b.date) || cmpStr(a.recordId, b.recordId))) {
      const row = (cd: string, param: string, avalc: string | null, aval: number | null) =>
        adpath.push(rowOf(head, [cd, param, avalc, aval, p.date, adyOf(p.date, refDay), p.recordId], provOf(p.source)));
      try {
        if (p.ypT && p.ypN) {
          const pcr = isPcr(p.ypT, p.ypN);
          row('PCR', 'Pathological Complete Response ypT0/is ypN0', pcr ? 'Y' : 'N', pcr ? 1 : 0);
        }
        if (p.rcb) {
          const r = residualCancerBurden(p.rcb);
          row('RCB', 'Residual Cancer Burden Index', null, Math.round(r.index * 1000) / 1000);
          row('RCBCLS', 'Residual Cancer Burden Class', r.rcbClass, null);
        }
        if (p.stromalTilPercent !== undefined) row('STIL', 'Stromal TILs (% of Stromal Area)', null, p.stromalTilPercent);
        if (p.pdl1) {
          row('TPS', 'PD-L1 Tumour Proportion Score', null, Math.round(pdl1Tps(p.pdl1.viableTumourCells, p.pdl1.positiveTumourCells) * 10) / 10);
          row('CPS', 'PD-L1 Combined Positive Score', null, Math.round(pdl1Cps(p.pdl1.viableTumourCells, p.pdl1.positiveTumourCells, p.pdl1.positiveImmuneCells) * 10) / 10);
        }
      } catch (e) {
        if (!isInputError(e)) throw e;
        issues.push(`${u}: pathology record ${p.recordId}: ${e.message}`);
      }
    }
  };

  /**
   * Every row of one subject. TR, RS, ADTR, ADRS, ADTTE and ADQS rows are made in their key order and go
   * straight into their builders (set / commit: no row arrays; they are nearly all the rows); TU and
   * ADPATH rows go into per-dataset arrays, sorted and added by the caller.
   */
  const subjectRows = (sub: SubjectInput, tu: Value[][], adpath: Value[][]): void => {
    const u = sub.usubjid;
    const head: Value[] = [studyId, u, ...arm(sub)];
    setAll(trB, 0, [studyId, 'TR', u]);
    setAll(rsB, 0, [studyId, 'RS', u]);
    for (const b of [adtrB, adrsB, adtteB, adqsB]) setAll(b, 0, head);
    // ITT: randomised (not flagged otherwise) by the cut-off
    const itt = sub.randomised !== false && byCut(sub.randDate) !== null ? 'Y' : 'N';
    adrsB.set(ITT_ADRS, itt);
    adtteB.set(ITT_ADTTE, itt);
    const death = byCut(sub.deathDate);
    const assessed = sub.assessments.filter((a) => !cut || a.date <= cut).length > 1;
    adslB.add([...head, itt, sub.randDate, sub.trtStartDate ?? null, death ? 'Y' : null, death, byCut(sub.lastKnownAliveDate), byCut(sub.newTherapyDate), byCut(sub.pdDate), assessed ? 'Y' : 'N']);
    const refDay = dayNumber(sub.trtStartDate ?? sub.randDate);
    let visits: VisitResponse[];
    let base: Assessment | undefined;
    try {
      visits = deriveVisitResponses(sub, { irecist: s.criteria === 'iRECIST', cutDate: cut, backdateEquivocal: s.backdateEquivocalNewLesions });
      base = baselineOf(sub.assessments.filter((a) => !cut || a.date <= cut));
    } catch (e) {
      if (!isInputError(e)) throw e;
      issues.push(`${u}: ${e.message}`);
      return;
    }
    subjectRead = base?.source;
    if (base) for (const w of targetSelectionWarnings(base, u)) issues.push(`${u}: warning: ${w}`);
    const assessments = sortAssessments(sub.assessments.filter((a) => !cut || a.date <= cut));
    tuRows(u, base, assessments, tu);
    trRows(assessments);
    const rsSeq = rsRows(visits);
    let ep: SubjectEndpoints;
    try {
      ep = deriveSubjectEndpointsFrom(sub, visits, s, cut, rsSeq);
    } catch (e) {
      if (!isInputError(e)) throw e;
      issues.push(`${u}: ${e.message}`);
      return;
    }
    if (base && base.targets.length) adtrRows(base, visits, refDay);
    adrsRows(ep, visits, rsSeq, refDay);
    adtteRows(ep, base?.source);
    if (ep.qlqError) issues.push(`${u}: ${ep.qlqError}`);
    if (ep.qlqChanges.length) adqsQlqRows(sub, ep.qlqChanges, refDay);
    if (sub.steps?.length) adqsStepRows(sub, sub.steps, refDay);
    adpathRows(sub, head, refDay, adpath);
  };

  const arrayed = defs.flatMap((d, k) => (d.sort ? [k] : [])); // TU, ADPATH: rows sorted per subject
  let added = 0;
  return {
    add(sub: SubjectInput): void {
      // after the first subjects, room for the whole table at their rows per subject (+5 %): no doubling
      if (added === SIZE_AFTER && expected > 2 * SIZE_AFTER) for (const b of builders) b.reserve((b.rowCount / added) * expected * 1.05 + 64);
      added++;
      for (const b of builders) b.newScope();
      const rows: Value[][][] = arrayed.map(() => []);
      subjectRows(sub, rows[0], rows[1]);
      arrayed.forEach((k, i) => {
        const b = builders[k];
        for (const r of sortSubjectRows(rows[i], rest[k])) b.add(r);
      });
    },
    finish: () => ({ tables: builders.map((b) => b.finish({ lengthsFromData: true })), issues }),
  };
}

/**
 * deriveEndpointTables' work on `count` subjects already sorted by USUBJID and free of duplicates,
 * subject i given by `subject(i)` (tableDeriver over them).
 */
export function deriveSortedTables(study: Pick<StudyInput, 'studyId' | 'dataCutDate' | 'reviewProvenance'>, count: number, subject: (i: number) => SubjectInput, s: ProtocolSettings, blinded: boolean): { tables: Table[]; issues: string[] } {
  const d = tableDeriver(study, s, blinded, count);
  for (let i = 0; i < count; i++) d.add(subject(i));
  return d.finish();
}

/** Every endpoint dataset of a study as row-major Datasets (deriveEndpointTables, materialised). */
export function deriveEndpointDatasets(input: StudyInput, settingsIn: Partial<ProtocolSettings>, opts: { blinded: boolean }): { datasets: Dataset[]; settings: ProtocolSettings; issues: string[] } {
  const { tables, settings, issues } = deriveEndpointTables(input, settingsIn, opts);
  return { datasets: tables.map(tableToDataset), settings, issues };
}
