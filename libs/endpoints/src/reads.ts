/**
 * Several reads per subject in one study input (BICR: two independent radiologists, the AI-only read, and the
 * adjudicator's choice), and the two reader-level datasets a data cut carries for agreement statistics:
 *
 * - ADTRRDR (Tumor Measurements by Reader): one row per read x subject x visit x target lesion (and per AI proposal
 *   a reader rejected): the reader's value, the AI's proposal and the reader's decision on it.
 * - ADRSRDR (Response by Reader): per read x subject the time-point responses (OVR), BOR, confirmed BOR and the
 *   first PD date, each derived by the engine from that read alone; and per subject the BICR selection (which
 *   read became the BICR result, whether an adjudicator decided it, and who).
 *
 * The study's own `subjects` hold the BICR result (what the endpoint datasets are derived from); `reads` holds every
 * individual read. Both datasets never carry a treatment-assignment column (blinded and unblinded cuts alike).
 * Deterministic: rows sorted by USUBJID, evaluator, PARAMCD, visit, lesion.
 */
import { InputError } from '@app/core';
import type { Dataset, Value } from '@app/datasets';
import type { Assessment, Diameter, ProtocolSettings, StudyInput, SubjectInput } from './types';
import { deriveSubjectEndpoints, makeColumns } from './datasets';
import { cmpStr, tenthsToMm } from './util';

/** A reader's decision on one AI proposal (libs/review: accept / edit / reject; add = a lesion the AI did not propose). */
export type AiDecision = 'ACCEPT' | 'EDIT' | 'REJECT' | 'ADD';

export interface AiLesionDecision {
  visitNum: number;
  /** The lesion (same id across the reads of a subject: the tracking identity). */
  lesionId: string;
  organ?: string;
  nodal?: boolean;
  /** The AI's proposed value (tenths of mm or a special value); null for an added lesion. */
  ai: Diameter | null;
  decision: AiDecision;
}

/** One complete read of one subject by one evaluator. */
export interface SubjectRead {
  usubjid: string;
  /** SDTM --EVAL: 'INDEPENDENT ASSESSOR' (a radiologist) or 'AI' (the AI-only read). */
  evaluator: string;
  /** SDTM --EVALID: 'RADIOLOGIST 1', 'RADIOLOGIST 2' (the reading slot), 'AI'. */
  evaluatorId: string;
  /** Pseudonymous reader id (e.g. 'RAD-03'), or the model ('lesion-measure@1.4.0') for the AI read. */
  reader: string;
  readId: string;
  /** The read's timepoints (targets, non-targets, new lesions) exactly as the engine takes them. */
  assessments: Assessment[];
  /** Radiologist reads: the decision on each AI proposal (and each added lesion), per visit. */
  aiDecisions?: AiLesionDecision[];
}

/** How a subject's BICR result was chosen. */
export interface BicrSelection {
  usubjid: string;
  /** true: the two reads disagreed and an adjudicator chose one; false: they agreed (READ 1 is the result). */
  adjudicated: boolean;
  /** The evaluatorId of the read that became the BICR result. */
  selected: string;
  adjudicator?: string;
}

export interface StudyReads {
  /** Where the reads come from: 'SIMULATED' (simulateTrial readers option) or 'REVIEW' (signed reads of libs/review). */
  origin: 'SIMULATED' | 'REVIEW';
  reads: SubjectRead[];
  selections: BicrSelection[];
}

/** A study input that also carries every individual read (its `subjects` hold the BICR result). */
export type StudyInputWithReads = StudyInput & { reads?: StudyReads };

export const hasReads = (s: StudyInput): s is StudyInputWithReads & { reads: StudyReads } => {
  const r = (s as StudyInputWithReads).reads;
  return !!r && Array.isArray(r.reads) && r.reads.length > 0;
};

type ColSpec = Parameters<typeof makeColumns>[1][number];
const ADATE = { targetDataType: 'integer' as const, displayFormat: 'DATE9.' };

const READ_COLS: ColSpec[] = [
  ['STUDYID', 'Study Identifier', 'string'],
  ['USUBJID', 'Unique Subject Identifier', 'string'],
  ['EVAL', 'Evaluator', 'string'],
  ['EVALID', 'Evaluator Identifier', 'string'],
  ['READER', 'Source Reader Identifier', 'string'],
  ['READID', 'Source Read Identifier', 'string'],
];

const ADTRRDR_COLS: ColSpec[] = [
  ...READ_COLS,
  ['PARAMCD', 'Parameter Code', 'string'],
  ['PARAM', 'Parameter', 'string'],
  ['LESIONID', 'Lesion Identifier', 'string'],
  ['TULOC', 'Location of the Tumor/Lesion', 'string'],
  ['NODALFL', 'Nodal Lesion Flag', 'string'],
  ['AVISIT', 'Analysis Visit', 'string'],
  ['AVISITN', 'Analysis Visit (N)', 'float'],
  ['ADT', 'Analysis Date', 'date', ADATE],
  ['AVAL', 'Analysis Value (mm)', 'decimal'],
  ['AVALC', 'Analysis Value (C)', 'string'],
  ['AIVAL', 'AI Proposed Value (mm)', 'decimal'],
  ['AIVALC', 'AI Proposed Value (C)', 'string'],
  ['AIDECN', 'Reader Decision on AI Proposal', 'string'],
  ['READSRC', 'Origin of the Reads', 'string'],
];

const ADRSRDR_COLS: ColSpec[] = [
  ...READ_COLS,
  ['PARAMCD', 'Parameter Code', 'string'],
  ['PARAM', 'Parameter', 'string'],
  ['AVALC', 'Analysis Value (C)', 'string'],
  ['ADT', 'Analysis Date', 'date', ADATE],
  ['AVISIT', 'Analysis Visit', 'string'],
  ['AVISITN', 'Analysis Visit (N)', 'float'],
  ['ADJFL', 'Adjudicated Flag', 'string'],
  ['ADJUDID', 'Adjudicator Identifier', 'string'],
  ['READSRC', 'Origin of the Reads', 'string'],
];

const SPECIAL_C: Record<Exclude<Diameter, number>, string> = { TOO_SMALL: 'TOO SMALL TO MEASURE', DISAPPEARED: 'DISAPPEARED', NOT_ASSESSED: 'NOT ASSESSED' };
/** A diameter as (mm, text): numbers in mm; TOO_SMALL counts as 5 mm, DISAPPEARED as 0 (RECIST 1.1); NOT_ASSESSED has no value. */
function diameterValue(d: Diameter | null | undefined): [number | null, string | null] {
  if (d === null || d === undefined) return [null, null];
  if (typeof d === 'number') return [tenthsToMm(d), String(tenthsToMm(d))];
  return [d === 'TOO_SMALL' ? 5 : d === 'DISAPPEARED' ? 0 : null, SPECIAL_C[d]];
}

/** Evaluators in a fixed order: radiologists by id, then AI, then anything else. */
const evalRank = (id: string) => (id.startsWith('RADIOLOGIST') ? 0 : id === 'AI' ? 1 : 2);
const cmpRead = (a: SubjectRead, b: SubjectRead) => cmpStr(a.usubjid, b.usubjid) || evalRank(a.evaluatorId) - evalRank(b.evaluatorId) || cmpStr(a.evaluatorId, b.evaluatorId);

/**
 * ADTRRDR and ADRSRDR of a study's reads (see the header). Each read is derived by the engine with the subject's own
 * facts (randomisation, death, new therapy) from `study.subjects` and the read's assessments; reads of subjects the
 * study does not know, or reads the engine refuses, are reported in `issues` and left out.
 */
export function readDatasets(study: StudyInputWithReads, settings: ProtocolSettings): { datasets: Dataset[]; issues: string[] } {
  const reads = study.reads;
  if (!reads || !Array.isArray(reads.reads)) throw new InputError('endpoints.bad-input', 'readDatasets: the study input has no reads');
  const cut = study.dataCutDate;
  const bySubject = new Map(study.subjects.map((s) => [s.usubjid, s]));
  const tr: Value[][] = [];
  const rs: Value[][] = [];
  const issues: string[] = [];
  const origin = reads.origin;
  for (const read of [...reads.reads].sort(cmpRead)) {
    const subj = bySubject.get(read.usubjid);
    if (!subj) {
      issues.push(`${read.usubjid}: read ${read.readId} (${read.evaluatorId}) of a subject the study input does not have; left out`);
      continue;
    }
    const head: Value[] = [study.studyId, read.usubjid, read.evaluator, read.evaluatorId, read.reader, read.readId];
    const assessments = read.assessments.filter((a) => !cut || a.date <= cut).sort((a, b) => a.visitNum - b.visitNum);
    // lesion rows: the read's targets, then AI proposals the reader rejected (no value of the reader)
    const lesionRows: Value[][] = [];
    const decisions = new Map<string, AiLesionDecision>();
    for (const d of read.aiDecisions ?? []) decisions.set(`${d.visitNum}\u0000${d.lesionId}`, d);
    for (const a of assessments) {
      for (const t of a.targets) {
        const d = decisions.get(`${a.visitNum}\u0000${t.lesionId}`);
        const value: Diameter = t.fragments ? t.fragments.reduce<number>((s, f) => s + (typeof f === 'number' ? f : f === 'TOO_SMALL' ? 50 : 0), 0) : t.mergedInto ? 'DISAPPEARED' : t.diameter;
        const [mm, c] = diameterValue(value);
        const [aiMm, aiC] = diameterValue(d ? d.ai : null);
        lesionRows.push([...head, t.nodal ? 'SAXIS' : 'LDIAM', t.nodal ? 'Short Axis (mm)' : 'Longest Diameter (mm)', t.lesionId, t.organ, t.nodal ? 'Y' : 'N', a.visit, a.visitNum, a.date, mm, c, aiMm, aiC, d ? d.decision : null, origin]);
      }
      const own = new Set(a.targets.map((t) => t.lesionId));
      for (const d of read.aiDecisions ?? []) {
        if (d.visitNum !== a.visitNum || d.decision !== 'REJECT' || own.has(d.lesionId)) continue;
        const [aiMm, aiC] = diameterValue(d.ai);
        lesionRows.push([...head, d.nodal ? 'SAXIS' : 'LDIAM', d.nodal ? 'Short Axis (mm)' : 'Longest Diameter (mm)', d.lesionId, d.organ ?? null, d.nodal === undefined ? null : d.nodal ? 'Y' : 'N', a.visit, a.visitNum, a.date, null, null, aiMm, aiC, 'REJECT', origin]);
      }
    }
    lesionRows.sort((x, y) => cmpStr(String(x[6]), String(y[6])) || (x[12] as number) - (y[12] as number) || cmpStr(String(x[8]), String(y[8])));
    tr.push(...lesionRows);
    // responses by the engine, from this read alone
    const subject: SubjectInput = { ...subj, assessments, qlqc30: [], steps: [], pathology: [] };
    let ep: ReturnType<typeof deriveSubjectEndpoints>;
    try {
      ep = deriveSubjectEndpoints(subject, settings, cut);
    } catch (e) {
      if (e instanceof InputError) {
        issues.push(`${read.usubjid}: read ${read.readId} (${read.evaluatorId}) refused by the engine: ${e.message}`);
        continue;
      }
      throw e;
    }
    const pd = ep.visits.find((v) => v.overall === 'PD');
    const visitNumOn = (date: string | null) => (date === null ? null : ep.visits.find((v) => v.date === date)?.visitNum ?? null);
    const rows: Value[][] = [];
    rows.push([...head, 'BOR', 'Best Overall Response', ep.bor.bor, ep.bor.date, ep.bor.visit, visitNumOn(ep.bor.date), null, null, origin]);
    rows.push([...head, 'CBOR', 'Confirmed Best Overall Response', ep.cbor.bor, ep.cbor.date, ep.cbor.visit, visitNumOn(ep.cbor.date), null, null, origin]);
    for (const v of ep.visits) rows.push([...head, 'OVR', 'Overall Response by Time Point', v.overall, v.date, v.visit, v.visitNum, null, null, origin]);
    rows.push([...head, 'PD', 'Disease Progression (First PD Date)', pd ? 'Y' : 'N', pd ? pd.date : null, pd ? pd.visit : null, pd ? pd.visitNum : null, null, null, origin]);
    rows.sort((x, y) => cmpStr(String(x[6]), String(y[6])) || ((x[11] as number | null) ?? -1) - ((y[11] as number | null) ?? -1));
    rs.push(...rows);
  }
  for (const s of [...reads.selections].sort((a, b) => cmpStr(a.usubjid, b.usubjid))) {
    if (!bySubject.has(s.usubjid)) continue;
    const chosen = reads.reads.find((r) => r.usubjid === s.usubjid && r.evaluatorId === s.selected);
    rs.push([study.studyId, s.usubjid, 'ADJUDICATOR', 'BICR', chosen?.reader ?? null, chosen?.readId ?? null, 'BICRSEL', 'BICR Read Selected', s.selected, null, null, null, s.adjudicated ? 'Y' : 'N', s.adjudicator ?? null, origin]);
  }
  // one order for both: subject, then evaluator as the reads were sorted (stable sort keeps it), selections last per subject
  const bySubj = (x: Value[], y: Value[]) => cmpStr(String(x[1]), String(y[1]));
  const trDs: Dataset = { name: 'ADTRRDR', label: 'Tumor Measurements by Reader', itemGroupOID: 'IG.ADTRRDR', standard: 'ADaM', columns: makeColumns('ADTRRDR', ADTRRDR_COLS, ['STUDYID', 'USUBJID', 'EVALID', 'PARAMCD', 'AVISITN', 'LESIONID']), rows: tr.sort(bySubj) };
  const rsDs: Dataset = { name: 'ADRSRDR', label: 'Response by Reader', itemGroupOID: 'IG.ADRSRDR', standard: 'ADaM', columns: makeColumns('ADRSRDR', ADRSRDR_COLS, ['STUDYID', 'USUBJID', 'EVALID', 'PARAMCD', 'AVISITN']), rows: rs.sort(bySubj) };
  return { datasets: [trDs, rsDs], issues };
}
