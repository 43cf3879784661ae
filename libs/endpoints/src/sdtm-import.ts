/**
 * Import of a sponsor's SDTM TU / TR (/ RS) as an alternative source of assessments, and comparison of our
 * per-visit overall response with the RS records (SDTMIG v3.x oncology domains; pharmaversesdtm layout).
 *
 * Mapping (documented in README "SDTM import"):
 * - TU rows (TUTESTCD TUMIDENT) give the lesions: TUORRES TARGET / NON-TARGET / NEW, TULOC = organ,
 *   nodal when TULOC contains "LYMPH NODE" / "NODE".
 * - TR target rows: the RECIST diameter is TRTESTCD DIAMETER when present, else SAXIS / LPERP (short axis)
 *   for nodal and LDIAM for non-nodal lesions; TRSTAT NOT DONE or an empty result = NOT_ASSESSED;
 *   "TOO SMALL TO MEASURE" = TOO_SMALL. Values in mm are converted exactly to tenths (decimal rounding).
 * - TR non-target rows (TUMSTATE): PRESENT / ABSENT / UNEQUIVOCAL [PROGRESSION] / EQUIVOCAL (= PRESENT,
 *   equivocal progression is not PD) / empty or NOT EVALUABLE (= NOT_ASSESSED).
 * - New lesions: TU rows TUORRES NEW or TR rows TRGRPID NEW at a visit -> YES; TUORRES EQUIVOCAL NEW or TR
 *   TUMSTATE EQUIVOCAL -> EQUIVOCAL (when there is no definite new lesion).
 * - Only the chosen evaluator's rows (TUEVAL / TREVAL / RSEVAL; default INVESTIGATOR); for the independent
 *   assessor, only accepted reads (TRACPTFL / RSACPTFL = Y) when that flag is used.
 * - Partial dates (YYYY-MM) are imputed to the first of the month and reported as issues.
 * - Subject dates from DM when it is given (`opts.dm`): RFSTDTC = the reference start date, used as the
 *   randomisation date (PFS / TTD origin); RFXSTDTC = first study treatment (ADY reference); DTHDTC = death
 *   (a PFS event); ARM / ARMCD = the arm (never written to blinded datasets). SDTM has no randomisation
 *   date variable (admiral derives RANDDT from DS, not imported); RFSTDTC is the sponsor's reference start.
 *   Partial DM dates are not imputed (reported). `randDates` (explicit) wins over DM.
 * - Randomisation date, without DM or `randDates`: the baseline date (reported).
 * - Intention to treat (ITT): with DM, every randomised DM subject becomes a subject of the study, with or
 *   without tumour assessments (a subject without any gets BOR MISSING / NE, RSP / CRSP N and a PFS row).
 *   Randomised = DM ARMNRS is not SCREEN FAILURE / NOT ASSIGNED, and ARM / ARMCD (when either is filled) is
 *   not 'Screen Failure' / 'Not Assigned' (ARMCD SCRNFAIL / NOTASSGN); a DM record with neither ARM nor ARMCD
 *   counts as randomised when it has a randomisation date (`randDates` or RFSTDTC). "ASSIGNED, NOT TREATED"
 *   subjects are randomised. A randomised subject without any randomisation date is reported and left out (no
 *   time origin). Subjects with tumour data that DM says were not randomised are kept with `randomised: false`
 *   (ITTFL = N) and reported. Without DM, every subject with tumour data is taken as randomised.
 * - Separate PD date (admiralonco `source_pd`, used when settings.pdSource = 'pdDate'): with RS, the date
 *   (RSDTC) of the chosen evaluator's first OVRLRESP = PD becomes the subject's `pdDate`.
 */
import type { Dataset, Value } from '@app/datasets';
import type { Assessment, NonTargetStatus, ProtocolSettings, SourceRef, StudyInput, SubjectInput, TargetMeasurement, Diameter } from './types';
import { DEFAULT_SETTINGS } from './types';
import { baselineOf, deriveVisitResponses, meetsPd, targetSelectionWarnings, type VisitResponse } from './recist';
import { cmpStr, isIsoDate, mmToTenths } from './util';
import { isInputError } from '@app/core';

export interface ImportIssue {
  dataset: string;
  /** 1-based row index in the dataset (0 for subject-level issues). */
  row: number;
  usubjid?: string;
  message: string;
}

export interface SdtmImportResult {
  study: StudyInput;
  issues: ImportIssue[];
}

type Rec = Record<string, Value>;
const records = (ds: Dataset): Rec[] => ds.rows.map((r) => Object.fromEntries(ds.columns.map((c, i) => [c.name.toUpperCase(), r[i] ?? null])));
const str = (v: Value | undefined): string => (v === null || v === undefined ? '' : String(v)).trim();

function evaluatorFilter(rs: Rec[], prefix: string, evaluator: string): Rec[] {
  const ev = `${prefix}EVAL`;
  const hasEval = rs.some((r) => str(r[ev]) !== '');
  let out = hasEval ? rs.filter((r) => str(r[ev]).toUpperCase() === evaluator.toUpperCase()) : rs;
  const acc = `${prefix}ACPTFL`;
  if (out.some((r) => str(r[acc]) === 'Y')) out = out.filter((r) => str(r[acc]) === 'Y');
  return out;
}

const isNodal = (loc: string) => /LYMPH NODE|\bNODE\b|NODAL/i.test(loc);

function imputeDate(d: string, push: (m: string) => void, ctx: string): string | null {
  if (isIsoDate(d)) return d;
  const dt = String(d).slice(0, 10);
  if (isIsoDate(dt)) return dt;
  const m = /^(\d{4})-(\d{2})$/.exec(d);
  if (m) {
    push(`${ctx}: partial date ${d} imputed to ${d}-01 (first day of month)`);
    return `${d}-01`;
  }
  push(`${ctx}: unusable date ${JSON.stringify(d)}`);
  return null;
}

/**
 * Builds a StudyInput from SDTM TU and TR (RS is not needed for the derivation; pass it to `compareWithRs`).
 * Per-row problems are returned as `issues`, never dropped silently.
 */
/** Dates and arm of one subject from SDTM DM. */
export interface DmSubject {
  /** Randomised per DM (see the module comment for the rule). */
  randomised: boolean;
  /** Why not randomised (for the issue), e.g. 'ARM Screen Failure'. */
  notRandomisedBecause?: string;
  randDate?: string;
  trtStartDate?: string;
  deathDate?: string;
  arm?: string;
  armCd?: string;
}

/**
 * Subject-level dates and arms from SDTM DM (see the module comment for the mapping). Date-times keep
 * their date part; partial or unusable dates are left out and reported.
 */
const NOT_RANDOMISED_ARMNRS = new Set(['SCREEN FAILURE', 'NOT ASSIGNED']);
const NOT_RANDOMISED_ARM = new Set(['SCREEN FAILURE', 'NOT ASSIGNED']);
const NOT_RANDOMISED_ARMCD = new Set(['SCRNFAIL', 'NOTASSGN']);

export function subjectsFromDm(dm: Dataset, issues: ImportIssue[] = [], randDates?: Map<string, string>): Map<string, DmSubject> {
  const out = new Map<string, DmSubject>();
  records(dm).forEach((r, i) => {
    const u = str(r.USUBJID);
    if (!u) {
      issues.push({ dataset: 'DM', row: i + 1, message: 'missing USUBJID' });
      return;
    }
    const date = (v: string, what: string): string | undefined => {
      const s = str(r[v]);
      if (!s) return undefined;
      const d = s.slice(0, 10);
      if (isIsoDate(d)) return d;
      issues.push({ dataset: 'DM', row: i + 1, usubjid: u, message: `${v} ${JSON.stringify(s)} is not a complete date: no ${what} taken from DM` });
      return undefined;
    };
    const x: DmSubject = { randomised: true };
    const rand = date('RFSTDTC', 'reference start (randomisation) date');
    const trt = date('RFXSTDTC', 'first treatment date');
    const death = date('DTHDTC', 'death date');
    if (rand) x.randDate = rand;
    if (trt) x.trtStartDate = trt;
    if (death) x.deathDate = death;
    if (str(r.ARM)) x.arm = str(r.ARM);
    if (str(r.ARMCD)) x.armCd = str(r.ARMCD);
    const nrs = str(r.ARMNRS).toUpperCase();
    if (NOT_RANDOMISED_ARMNRS.has(nrs)) x.notRandomisedBecause = `ARMNRS ${str(r.ARMNRS)}`;
    else if (x.arm && NOT_RANDOMISED_ARM.has(x.arm.toUpperCase())) x.notRandomisedBecause = `ARM ${x.arm}`;
    else if (x.armCd && NOT_RANDOMISED_ARMCD.has(x.armCd.toUpperCase())) x.notRandomisedBecause = `ARMCD ${x.armCd}`;
    else if (!x.arm && !x.armCd && !rand && !randDates?.has(u)) x.notRandomisedBecause = 'no ARM / ARMCD and no randomisation date';
    if (x.notRandomisedBecause) x.randomised = false;
    if (out.has(u)) issues.push({ dataset: 'DM', row: i + 1, usubjid: u, message: 'subject appears twice in DM: the first record is used' });
    else out.set(u, x);
  });
  return out;
}

export function importSdtmAssessments(tu: Dataset, tr: Dataset, rs?: Dataset, opts: { evaluator?: string; randDates?: Map<string, string>; studyId?: string; dm?: Dataset } = {}): SdtmImportResult {
  const evaluator = opts.evaluator ?? DEFAULT_SETTINGS.sdtmEvaluator;
  const issues: ImportIssue[] = [];
  const dm = opts.dm ? subjectsFromDm(opts.dm, issues, opts.randDates) : undefined;
  const tuAll = records(tu);
  const trAll = records(tr);
  const tuRows = evaluatorFilter(tuAll, 'TU', evaluator);
  const trRows = evaluatorFilter(trAll, 'TR', evaluator);
  const rowNo = new Map<Rec, number>();
  tuAll.forEach((r, i) => rowNo.set(r, i + 1));
  trAll.forEach((r, i) => rowNo.set(r, i + 1));

  interface Lesion { id: string; kind: string; organ: string; nodal: boolean }
  const lesions = new Map<string, Map<string, Lesion>>();
  const tuNew = new Map<string, Set<number>>();
  const tuEquivocal = new Map<string, Set<number>>();
  let studyId = opts.studyId ?? '';
  for (const r of tuRows) {
    const u = str(r.USUBJID);
    studyId ||= str(r.STUDYID);
    const id = str(r.TULNKID);
    const kind = str(r.TUORRES || r.TUSTRESC).toUpperCase();
    if (!u || !id) {
      issues.push({ dataset: 'TU', row: rowNo.get(r)!, usubjid: u, message: 'missing USUBJID or TULNKID' });
      continue;
    }
    if (kind === 'NEW' || kind === 'EQUIVOCAL NEW') {
      const m = kind === 'NEW' ? tuNew : tuEquivocal;
      const s = m.get(u) ?? new Set<number>();
      s.add(Number(r.VISITNUM));
      m.set(u, s);
      continue;
    }
    if (kind !== 'TARGET' && kind !== 'NON-TARGET') {
      issues.push({ dataset: 'TU', row: rowNo.get(r)!, usubjid: u, message: `TUORRES ${JSON.stringify(kind)} is not TARGET, NON-TARGET or NEW` });
      continue;
    }
    const loc = str(r.TULOC);
    const m = lesions.get(u) ?? new Map<string, Lesion>();
    if (!m.has(id)) m.set(id, { id, kind, organ: loc, nodal: isNodal(loc) });
    lesions.set(u, m);
  }

  // Group TR by subject / visit.
  interface VisitAcc { visitNum: number; visit: string; date: string | null; rows: Rec[] }
  const visits = new Map<string, Map<number, VisitAcc>>();
  for (const r of trRows) {
    const u = str(r.USUBJID);
    const vn = Number(r.VISITNUM);
    if (!u || !Number.isFinite(vn)) {
      issues.push({ dataset: 'TR', row: rowNo.get(r)!, usubjid: u, message: 'missing USUBJID or VISITNUM' });
      continue;
    }
    const m = visits.get(u) ?? new Map<number, VisitAcc>();
    const acc = m.get(vn) ?? { visitNum: vn, visit: str(r.VISIT), date: null, rows: [] };
    acc.rows.push(r);
    m.set(vn, acc);
    visits.set(u, m);
  }

  const subjects: SubjectInput[] = [];
  for (const u of [...new Set([...lesions.keys(), ...visits.keys()])].sort(cmpStr)) {
    const les = lesions.get(u) ?? new Map<string, Lesion>();
    const vmap = visits.get(u) ?? new Map<number, VisitAcc>();
    const vnums = [...vmap.keys()].sort((a, b) => a - b);
    const assessments: Assessment[] = [];
    for (const vn of vnums) {
      const acc = vmap.get(vn)!;
      // date: the earliest full (or imputed) TRDTC of the visit
      const dates: string[] = [];
      for (const r of acc.rows) {
        const d = imputeDate(str(r.TRDTC), (m) => issues.push({ dataset: 'TR', row: rowNo.get(r)!, usubjid: u, message: m }), `TRDTC`);
        if (d) dates.push(d);
      }
      // report each imputation only once per visit
      dedupeIssues(issues);
      if (!dates.length) {
        issues.push({ dataset: 'TR', row: 0, usubjid: u, message: `visit ${acc.visit} (${vn}) has no usable TRDTC; visit skipped` });
        continue;
      }
      const date = dates.sort(cmpStr)[0];
      const evalId = str(acc.rows[0].TREVALID);
      const source: SourceRef = { readId: `SDTM:${studyId}:${u}:TR:VISITNUM=${vn}:${evaluator}${evalId ? `:${evalId}` : ''}`, reader: evalId || evaluator };
      const byLesion = new Map<string, Map<string, Rec>>();
      let newYes = false;
      let newEq = false;
      for (const r of acc.rows) {
        const grp = str(r.TRGRPID).toUpperCase();
        const id = str(r.TRLNKID);
        if (grp === 'NEW') {
          const st = str(r.TRORRES || r.TRSTRESC).toUpperCase();
          if (st === 'EQUIVOCAL') newEq = true;
          else if (st !== 'ABSENT' && st !== '') newYes = true;
          continue;
        }
        if (!id) continue; // e.g. SUMDIAM rows: we recompute the sum
        const m = byLesion.get(id) ?? new Map<string, Rec>();
        const tc = str(r.TRTESTCD).toUpperCase();
        const prev = m.get(tc);
        if (prev && str(prev.TRSTRESC) !== str(r.TRSTRESC))
          issues.push({ dataset: 'TR', row: rowNo.get(r)!, usubjid: u, message: `conflicting duplicate ${tc} for lesion ${id} at visit ${acc.visit}: ${str(prev.TRSTRESC)} vs ${str(r.TRSTRESC)}; first kept` });
        if (!prev) m.set(tc, r);
        byLesion.set(id, m);
      }
      if (tuNew.get(u)?.has(vn)) newYes = true;
      if (tuEquivocal.get(u)?.has(vn)) newEq = true;
      const targets: TargetMeasurement[] = [];
      const nonTargets: Assessment['nonTargets'] = [];
      for (const [id, tests] of [...byLesion].sort((a, b) => cmpStr(a[0], b[0]))) {
        const l = les.get(id);
        const anyRow = [...tests.values()][0];
        const grp = str(anyRow.TRGRPID).toUpperCase();
        if (!l) {
          issues.push({ dataset: 'TR', row: rowNo.get(anyRow)!, usubjid: u, message: `lesion ${id} has TR results but no TU identification record; ignored` });
          continue;
        }
        if (grp === 'NON-TARGET' || l.kind === 'NON-TARGET') {
          const r = tests.get('TUMSTATE');
          const st = str(r?.TRSTRESC || r?.TRORRES).toUpperCase();
          let status: NonTargetStatus;
          if (st === 'PRESENT' || st === 'EQUIVOCAL') status = 'PRESENT';
          else if (st === 'ABSENT') status = 'ABSENT';
          else if (st.startsWith('UNEQUIVOCAL')) status = 'UNEQUIVOCAL_PROGRESSION';
          else status = 'NOT_ASSESSED';
          nonTargets.push({ lesionId: id, organ: l.organ, nodal: l.nodal, status, source });
          continue;
        }
        const r = tests.get('DIAMETER') ?? (l.nodal ? tests.get('SAXIS') ?? tests.get('LPERP') : tests.get('LDIAM'));
        let diameter: Diameter = 'NOT_ASSESSED';
        if (r && str(r.TRSTAT).toUpperCase() !== 'NOT DONE') {
          const res = str(r.TRSTRESC || r.TRORRES);
          if (/TOO SMALL/i.test(res)) diameter = 'TOO_SMALL';
          else if (res !== '') {
            try {
              diameter = mmToTenths(res);
            } catch (e) {
              if (!isInputError(e)) throw e;
              issues.push({ dataset: 'TR', row: rowNo.get(r)!, usubjid: u, message: `lesion ${id} visit ${acc.visit}: ${e.message}; treated as not assessed` });
            }
          }
        }
        targets.push({ lesionId: id, organ: l.organ, nodal: l.nodal, diameter, source });
      }
      assessments.push({ visit: acc.visit, visitNum: vn, date, targets, nonTargets, newLesions: newYes ? 'YES' : newEq ? 'EQUIVOCAL' : 'NO', source });
    }
    if (!assessments.length) continue;
    const first = assessments[0];
    first.baseline = true;
    // lesions identified in TU but absent from the baseline TR
    for (const l of les.values()) {
      const inBase = l.kind === 'TARGET' ? first.targets.some((t) => t.lesionId === l.id) : first.nonTargets.some((n) => n.lesionId === l.id);
      if (!inBase) issues.push({ dataset: 'TU', row: 0, usubjid: u, message: `${l.kind} lesion ${l.id} identified in TU has no baseline result in TR` });
    }
    const d = dm?.get(u);
    if (dm && !d) issues.push({ dataset: 'DM', row: 0, usubjid: u, message: 'subject has tumour assessments but no DM record' });
    let randDate = opts.randDates?.get(u) ?? d?.randDate;
    if (!randDate) {
      randDate = first.date;
      issues.push({ dataset: 'TR', row: 0, usubjid: u, message: `no randomisation date given: baseline assessment date ${first.date} used as reference date` });
    }
    const subject: SubjectInput = { usubjid: u, randDate, assessments };
    addDmFields(subject, d);
    if (d && !d.randomised) issues.push({ dataset: 'DM', row: 0, usubjid: u, message: `not randomised (${d.notRandomisedBecause}): kept with ITTFL = N, left out of the ITT population` });
    subjects.push(subject);
  }
  // ITT: every randomised DM subject, with or without tumour assessments
  if (dm) {
    const have = new Set(subjects.map((x) => x.usubjid));
    for (const [u, d] of dm) {
      if (have.has(u) || !d.randomised) continue;
      const randDate = opts.randDates?.get(u) ?? d.randDate;
      if (!randDate) {
        issues.push({ dataset: 'DM', row: 0, usubjid: u, message: 'randomised subject without a randomisation date (no RFSTDTC, no randDates entry): left out, no time origin for PFS' });
        continue;
      }
      const subject: SubjectInput = { usubjid: u, randDate, assessments: [] };
      addDmFields(subject, d);
      subjects.push(subject);
    }
    subjects.sort((a, b) => cmpStr(a.usubjid, b.usubjid));
  }
  if (rs) {
    const pd = firstPdDates(rs, evaluator, issues);
    for (const x of subjects) {
      const d = pd.get(x.usubjid);
      if (d) x.pdDate = d;
    }
  }
  return { study: { studyId, subjects }, issues };
}

function addDmFields(subject: SubjectInput, d: DmSubject | undefined): void {
  if (!d) return;
  if (d.trtStartDate) subject.trtStartDate = d.trtStartDate;
  if (d.deathDate) subject.deathDate = d.deathDate;
  if (d.arm) subject.arm = d.arm;
  if (d.armCd) subject.armCd = d.armCd;
  if (!d.randomised) subject.randomised = false;
}

/**
 * Each subject's first progression date in RS (admiralonco's PD parameter: the first OVRLRESP = PD of the
 * chosen evaluator, by RSDTC; partial dates imputed to the first of the month and reported).
 */
export function firstPdDates(rs: Dataset, evaluator: string, issues: ImportIssue[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const all = records(rs);
  const rowNo = new Map(all.map((r, i) => [r, i + 1]));
  for (const r of evaluatorFilter(all, 'RS', evaluator)) {
    if (str(r.RSTESTCD).toUpperCase() !== 'OVRLRESP' || str(r.RSSTRESC || r.RSORRES).toUpperCase() !== 'PD') continue;
    const u = str(r.USUBJID);
    const d = imputeDate(str(r.RSDTC), (m) => issues.push({ dataset: 'RS', row: rowNo.get(r)!, usubjid: u, message: m }), 'RSDTC');
    if (!u || !d) continue;
    const prev = out.get(u);
    if (!prev || cmpStr(d, prev) < 0) out.set(u, d);
  }
  return out;
}

function dedupeIssues(issues: ImportIssue[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < issues.length; i++) {
    const k = `${issues[i].dataset}|${issues[i].usubjid}|${issues[i].message}`;
    if (seen.has(k)) issues.splice(i--, 1);
    else seen.add(k);
  }
}

export interface RsDisagreement {
  usubjid: string;
  visit: string;
  visitNum: number;
  ours: string;
  theirs: string;
  explanation: string;
}

/**
 * Compares our per-visit RECIST 1.1 overall response (derived from TU/TR) with the RS records
 * (RSTESTCD OVRLRESP, chosen evaluator). Every disagreement carries a programmatic explanation built from
 * what TU/TR do and do not contain (e.g. missing non-target status, new lesions only in RS, lesions not
 * measured, threshold arithmetic).
 */
export function compareWithRs(study: StudyInput, rs: Dataset, opts: { evaluator?: string; settings?: ProtocolSettings } = {}): { agree: number; disagree: RsDisagreement[]; compared: number } {
  const evaluator = opts.evaluator ?? opts.settings?.sdtmEvaluator ?? DEFAULT_SETTINGS.sdtmEvaluator;
  const rsRows = evaluatorFilter(records(rs), 'RS', evaluator).filter((r) => str(r.RSTESTCD).toUpperCase() === 'OVRLRESP');
  const bySubject = new Map(study.subjects.map((s) => [s.usubjid, s]));
  const derived = new Map<string, { rows: VisitResponse[]; error?: string }>();
  const rsComp = new Map<string, Map<number, Map<string, string>>>();
  for (const r of records(rs)) {
    const u = str(r.USUBJID);
    const m = rsComp.get(u) ?? new Map<number, Map<string, string>>();
    const v = m.get(Number(r.VISITNUM)) ?? new Map<string, string>();
    if (str(r.RSEVAL).toUpperCase() === evaluator.toUpperCase() || !str(r.RSEVAL)) v.set(str(r.RSTESTCD).toUpperCase(), str(r.RSSTRESC || r.RSORRES).toUpperCase());
    m.set(Number(r.VISITNUM), v);
    rsComp.set(u, m);
  }
  let agree = 0;
  const disagree: RsDisagreement[] = [];
  const sorted = [...rsRows].sort((a, b) => cmpStr(str(a.USUBJID), str(b.USUBJID)) || Number(a.VISITNUM) - Number(b.VISITNUM));
  for (const r of sorted) {
    const u = str(r.USUBJID);
    const vn = Number(r.VISITNUM);
    const theirs = str(r.RSSTRESC || r.RSORRES).toUpperCase();
    const sub = bySubject.get(u);
    const d = (ours: string, explanation: string) => disagree.push({ usubjid: u, visit: str(r.VISIT), visitNum: vn, ours, theirs, explanation });
    if (!sub) {
      d('MISSING', 'subject has no TU/TR records for this evaluator');
      continue;
    }
    if (!derived.has(u)) {
      try {
        derived.set(u, { rows: deriveVisitResponses(sub) });
      } catch (e) {
        if (!isInputError(e)) throw e;
        derived.set(u, { rows: [], error: e.message });
      }
    }
    const dv = derived.get(u)!;
    if (dv.error) {
      d('NOT DERIVED', `our derivation rejected the subject's TU/TR data: ${dv.error}`);
      continue;
    }
    const ours = dv.rows.find((x) => x.visitNum === vn);
    if (!ours) {
      d('MISSING', sub.assessments.some((a) => a.visitNum === vn) ? 'visit is the baseline in TR' : 'no TR records for this visit');
      continue;
    }
    if (ours.overall === theirs) {
      agree++;
      continue;
    }
    d(ours.overall, explain(ours, theirs, rsComp.get(u)?.get(vn), sub, vn));
  }
  return { agree, disagree, compared: rsRows.length };
}

function explain(ours: VisitResponse, theirs: string, comp: Map<string, string> | undefined, sub: SubjectInput, vn: number): string {
  const parts: string[] = [];
  const a = sub.assessments.find((x) => x.visitNum === vn)!;
  const base = baselineOf(sub.assessments);
  const warn = base ? targetSelectionWarnings(base, sub.usubjid) : [];
  const pct = (p: number | null) => (p === null ? 'n/a (0 mm nadir)' : `${p}%`);
  const sumTxt = ours.sum === null ? 'no target disease' : `target sum ${ours.sum / 10} mm (baseline ${ours.baselineSum! / 10}, nadir ${ours.nadir! / 10}; ${pct(ours.pctFromBaseline)} from baseline, ${pct(ours.pctFromNadir)} from nadir)`;
  parts.push(`ours from TU/TR: target ${ours.target}, non-target ${ours.nonTarget}, new lesions ${ours.newLesions}; ${sumTxt}`);
  const rTrg = comp?.get('TRGRESP');
  const rNtr = comp?.get('NTRGRESP');
  const rNew = comp?.get('NEWLPROG') ?? comp?.get('NEWLIND');
  if (rTrg || rNtr || rNew) parts.push(`RS components: target ${rTrg ?? '-'}, non-target ${rNtr ?? '-'}, new lesions ${rNew ?? '-'}`);
  const reasons: string[] = [];
  if (theirs === 'PD' && ours.overall !== 'PD') {
    if (ours.nonTarget !== 'PD' && (rNtr === 'PD' || (!rTrg && !rNtr))) reasons.push(a.nonTargets.length ? 'non-target progression in RS is not recorded in TR (TR non-target statuses show no unequivocal progression)' : 'non-target status not in TR');
    if (ours.newLesions !== 'YES' && (rNew === 'UNEQUIVOCAL' || rNew === 'Y' || (!rTrg && !rNew))) reasons.push('new lesion not recorded in TU/TR at this visit');
    if (rTrg === 'PD' && ours.target !== 'PD') reasons.push(`RS target response PD but TR measurements do not meet +20 % and +5 mm over the nadir`);
  } else if (ours.overall === 'PD' && theirs !== 'PD') {
    if (ours.target === 'PD' && ours.sum !== null && ours.baselineSum !== null && !meetsPd(ours.sum, ours.baselineSum) && (rTrg === 'PR' || rTrg === 'SD' || rTrg === 'CR'))
      reasons.push(`the RS target response ${rTrg} matches a comparison with the baseline sum (${pct(ours.pctFromBaseline)}), not with the nadir; RECIST 1.1 measures progression from the nadir`);
    if (ours.target === 'PD') reasons.push(`TR measurements meet RECIST PD (${pct(ours.pctFromNadir)} and +${(ours.sum! - ours.nadir!) / 10} mm over the nadir); the evaluator did not call PD (different nadir or rounding of the recorded diameters)`);
    if (ours.nonTarget === 'PD') reasons.push('TR records unequivocal non-target progression but the evaluator did not call PD');
    if (ours.newLesions === 'YES') reasons.push('TU/TR record a new lesion but the evaluator did not call PD');
  } else if (ours.overall === 'NE') {
    reasons.push(ours.notes.length ? `${ours.notes.join('; ')}: RECIST makes the visit NE, the evaluator assessed it as ${theirs}` : `a lesion is not evaluable in TR; the evaluator assessed ${theirs}`);
  } else if (theirs === 'NE') {
    reasons.push('RS is NE although every baseline lesion has a result in TR (RS NE reason not in TR)');
  } else if (theirs === 'CHECK' || !['CR', 'PR', 'SD', 'PD', 'NE', 'NON-CR/NON-PD'].includes(theirs)) {
    reasons.push(`RS value ${theirs} is not a RECIST 1.1 response category`);
  } else if (rTrg && rTrg !== ours.target) {
    reasons.push(`target response differs (RS ${rTrg}, ours ${ours.target}): RS components disagree with the recorded diameters (e.g. a different baseline / nadir sum or rounded values)`);
  } else if (rNtr && rNtr !== ours.nonTarget) {
    reasons.push(`non-target response differs (RS ${rNtr}, ours ${ours.nonTarget}): TR non-target statuses do not support the RS value`);
  } else {
    reasons.push('response categories differ although the components agree: the RS overall response does not follow RECIST 1.1 table 1/2 for its own components');
  }
  if (!reasons.length) reasons.push('no TR evidence for the RS response');
  if (warn.length) parts.push(`baseline selection warnings (sponsor may have applied different measurability rules): ${warn.join('; ')}`);
  return `${reasons.join('; ')}. ${parts.join('. ')}`;
}
