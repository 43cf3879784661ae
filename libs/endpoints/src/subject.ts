/**
 * Subject-level endpoints: best overall response (unconfirmed / confirmed), response and disease-control
 * flags, PFS and duration of response with FDA-guidance censoring, built on admiral's time-to-event
 * conventions (earliest event wins; latest censoring wins; ties by declared order; AVAL = ADT - STARTDT + 1).
 */
import type { ProtocolSettings, SubjectInput } from './types';
import type { OverallResponse, VisitResponse } from './recist';
import { cmpStr, dayNumber } from './util';
import { confirmedBor, firstResponseIndex, unconfirmedBor, type BorPick, type BorRules } from './confirmation';

export type Bor = OverallResponse | 'MISSING';

/** BOR ranking (admiralonco): CR > PR > SD > NON-CR/NON-PD > PD > NE > MISSING. Lower = better. */
export const BOR_RANK: Record<Bor, number> = { CR: 0, PR: 1, SD: 2, 'NON-CR/NON-PD': 3, PD: 4, NE: 5, MISSING: 6 };

export interface BorResult {
  /** Best overall response. */
  bor: Bor;
  /** Date of the assessment giving the BOR (null when MISSING). */
  date: string | null;
  visit: string | null;
}

/** Reference date of the SD minimum-duration rule. */
export function sdReferenceDate(subject: SubjectInput, settings: ProtocolSettings): string {
  return settings.sdReference === 'treatmentStart' && subject.trtStartDate ? subject.trtStartDate : subject.randDate;
}

/**
 * Assessments that count for the BOR (admiralonco `filter_source` + `source_pd`): on or before the data cut
 * (the rows given), strictly before new anticancer therapy, and up to and including the first PD: the first
 * overall response PD, or with `pdSource: 'pdDate'` the subject's separate `pdDate` (admiralonco `source_pd`:
 * every assessment on or before that date, all of them when the subject has none).
 */
export function responsesForBor(rows: VisitResponse[], subject: SubjectInput, s?: Pick<ProtocolSettings, 'pdSource'>): VisitResponse[] {
  const sorted = [...rows].sort((a, b) => cmpStr(a.date, b.date) || a.visitNum - b.visitNum);
  const nt = subject.newTherapyDate ? dayNumber(subject.newTherapyDate) : Infinity;
  const sourcePd = s?.pdSource === 'pdDate';
  const pdDay = sourcePd && subject.pdDate ? dayNumber(subject.pdDate, 'pdDate') : Infinity;
  const out: VisitResponse[] = [];
  for (const r of sorted) {
    const d = dayNumber(r.date);
    if (d >= nt || d > pdDay) break;
    out.push(r);
    if (!sourcePd && r.overall === 'PD') break;
  }
  return out;
}

function pickOf(rs: VisitResponse[], p: BorPick): BorResult {
  const r = p.index >= 0 ? rs[p.index] : null;
  return { bor: p.bor, date: r?.date ?? null, visit: r?.visit ?? null };
}

const borRules = (subject: SubjectInput, settings: ProtocolSettings): BorRules => ({
  refDate: sdReferenceDate(subject, settings),
  sdMinDays: settings.sdMinDays,
  missingAsNe: settings.missingAsNe,
});

/**
 * Unconfirmed best overall response (RECIST 1.1 section 4.4; admiralonco `derive_param_bor`, see
 * confirmation.ts): the best response by rank among `responsesForBor`, SD / NON-CR/NON-PD only after
 * `sdMinDays` from the reference date (else NE); ties on rank: the earliest assessment; no assessment:
 * MISSING (NE when `missingAsNe`).
 */
export function bestOverallResponse(rows: VisitResponse[], subject: SubjectInput, settings: ProtocolSettings): BorResult {
  const rs = responsesForBor(rows, subject, settings);
  return pickOf(rs, unconfirmedBor(rs, borRules(subject, settings)));
}

/**
 * Confirmed best overall response (RECIST 1.1 section 4.6; admiralonco `derive_param_confirmed_bor` with
 * ref_confirm = `confirmationDays`, max_nr_ne = `confirmationMaxNe`, accept_sd = `confirmationAcceptSd`,
 * ref_start_window = `sdMinDays`, missing_as_ne = `missingAsNe`; every rule in confirmation.ts):
 * a CR / PR counts only when its first confirmatory candidate confirms it; an unconfirmed CR / PR counts as
 * SD (NE before `sdMinDays`).
 */
export function confirmedBestOverallResponse(rows: VisitResponse[], subject: SubjectInput, settings: ProtocolSettings): BorResult {
  const rs = responsesForBor(rows, subject, settings);
  return pickOf(rs, confirmedBor(rs, { ...settings, ...borRules(subject, settings) }));
}

/** Objective response flag (ORR numerator): BOR in CR or PR. */
export const isResponder = (bor: Bor): boolean => bor === 'CR' || bor === 'PR';

/** Disease control flag (DCR numerator): CR, PR, SD (and NON-CR/NON-PD when the protocol says so). */
export const hasDiseaseControl = (bor: Bor, s: ProtocolSettings): boolean =>
  bor === 'CR' || bor === 'PR' || bor === 'SD' || (s.dcrIncludesNonCrNonPd && bor === 'NON-CR/NON-PD');

/** Rate with exact numerator/denominator (no float thresholding). */
export function rate(flags: boolean[]): { n: number; responders: number; percent: number | null } {
  const responders = flags.filter(Boolean).length;
  return { n: flags.length, responders, percent: flags.length ? Math.round((responders * 1000) / flags.length) / 10 : null };
}

// ---------------------------------------------------------------------------------------------------------
// Time to event (admiral `derive_param_tte` conventions)

/** A candidate event or censoring date (admiral `event_source` / `censor_source`). */
export interface TteSource {
  kind: 'event' | 'censor';
  date: string;
  /** Declared order: lower wins on ties (admiral `order`). */
  order: number;
  evntdesc: string;
  srcdom: string;
  srcvar: string;
  srcseq: number | null;
}

export interface TteResult {
  paramcd: string;
  startdt: string;
  adt: string;
  /** ADT - STARTDT + 1 (days). */
  aval: number;
  /** 0 = event, 1 = censored (ADaM convention). */
  cnsr: 0 | 1;
  evntdesc: string;
  srcdom: string;
  srcvar: string;
  srcseq: number | null;
}

/**
 * Combines event and censoring candidates like admiral `derive_param_tte`: the earliest event wins
 * (ties: lowest `order`); if there is no event the latest censoring date wins (ties: lowest `order`).
 * AVAL = ADT - STARTDT + 1.
 */
export function combineTte(paramcd: string, startdt: string, sources: TteSource[]): TteResult | null {
  const events = sources.filter((s) => s.kind === 'event');
  const cens = sources.filter((s) => s.kind === 'censor');
  let pick: TteSource | undefined;
  if (events.length) pick = [...events].sort((a, b) => dayNumber(a.date) - dayNumber(b.date) || a.order - b.order)[0];
  else if (cens.length) pick = [...cens].sort((a, b) => dayNumber(b.date) - dayNumber(a.date) || a.order - b.order)[0];
  if (!pick) return null;
  return {
    paramcd,
    startdt,
    adt: pick.date,
    aval: dayNumber(pick.date) - dayNumber(startdt) + 1,
    cnsr: pick.kind === 'event' ? 0 : 1,
    evntdesc: pick.evntdesc,
    srcdom: pick.srcdom,
    srcvar: pick.srcvar,
    srcseq: pick.srcseq,
  };
}

/** An assessment is "adequate" (admiralonco / FDA) when its response is not NE. */
export const isAdequate = (r: VisitResponse): boolean => r.overall !== 'NE';

/**
 * Progression-free survival with the FDA 2018 guidance censoring table
 * ("Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics", table of PFS censoring):
 * - event: first PD (date of the assessment showing it) or death, whichever is earlier;
 * - no event: censored at the last adequate assessment (or at randomisation when none);
 * - new anticancer therapy before the event: censored at the last adequate assessment on or before its start;
 * - event after >= `missedAssessmentsForCensoring` missed assessments (gap from the last adequate assessment
 *   > n * interval + window): censored at the last adequate assessment before the gap.
 * With iRECIST, the progression date is the first iUPD that was later confirmed as iCPD (or not followed
 * by any assessment).
 * `rows` carries SRCSEQ via the index in `rsSeq` (RS sequence numbers, optional).
 */
export function derivePfs(rows: VisitResponse[], subject: SubjectInput, s: ProtocolSettings, opts: { cutDate?: string; rsSeq?: Map<VisitResponse, number>; irecist?: boolean } = {}): TteResult {
  return deriveProgressionTte('PFS', subject.randDate, rows, subject, s, opts) as TteResult;
}

/**
 * Duration of response (RECIST 1.1 section 4.4 / admiralonco DOR): from the first CR/PR (confirmed when
 * `confirmed`) to PD or death, with the same censoring rules as PFS. Null for non-responders.
 */
export function deriveDor(rows: VisitResponse[], subject: SubjectInput, s: ProtocolSettings, firstResponseDate: string | null, opts: { cutDate?: string; rsSeq?: Map<VisitResponse, number>; irecist?: boolean } = {}): TteResult | null {
  if (!firstResponseDate) return null;
  const later = rows.filter((r) => dayNumber(r.date) >= dayNumber(firstResponseDate));
  return deriveProgressionTte('DOR', firstResponseDate, later, subject, s, opts);
}

/**
 * First response date among the BOR-eligible assessments: the first CR / PR (admiralonco RSP,
 * `derive_param_response`) or, when `confirmed`, the first confirmed CR / PR (CRSP,
 * `derive_param_confirmed_resp`); null when there is none.
 */
export function firstResponseDate(rows: VisitResponse[], subject: SubjectInput, s: ProtocolSettings, confirmed: boolean): string | null {
  return firstResponse(rows, subject, s, confirmed)?.date ?? null;
}

/** The assessment of `firstResponseDate` (RSP / CRSP = Y at it), null when there is none. */
export function firstResponse(rows: VisitResponse[], subject: SubjectInput, s: ProtocolSettings, confirmed: boolean): VisitResponse | null {
  const rs = responsesForBor(rows, subject, s);
  const i = firstResponseIndex(rs, confirmed ? s : false);
  return i >= 0 ? rs[i] : null;
}

function deriveProgressionTte(paramcd: string, startdt: string, rowsIn: VisitResponse[], subject: SubjectInput, s: ProtocolSettings, opts: { cutDate?: string; rsSeq?: Map<VisitResponse, number>; irecist?: boolean }): TteResult | null {
  const cut = opts.cutDate ? dayNumber(opts.cutDate) : Infinity;
  const rows = [...rowsIn].filter((r) => dayNumber(r.date) <= cut).sort((a, b) => cmpStr(a.date, b.date) || a.visitNum - b.visitNum);
  const seq = (r: VisitResponse) => opts.rsSeq?.get(r) ?? null;
  // Progression date: a separate source (pdSource 'pdDate', admiralonco source_pd), iRECIST iUPD later
  // confirmed, or the first overall response PD.
  let pd: VisitResponse | undefined;
  let pdSeparate: TteSource | undefined;
  if (s.pdSource === 'pdDate') {
    const d = subject.pdDate;
    if (d && dayNumber(d, 'pdDate') <= cut && dayNumber(d) >= dayNumber(startdt)) {
      const at = rows.find((r) => r.date === d);
      pdSeparate = at
        ? { kind: 'event', date: d, order: 1, evntdesc: 'DISEASE PROGRESSION', srcdom: 'RS', srcvar: 'RSDTC', srcseq: seq(at) }
        : { kind: 'event', date: d, order: 1, evntdesc: 'DISEASE PROGRESSION', srcdom: 'ADSL', srcvar: 'PDDT', srcseq: null };
    }
  } else if (opts.irecist) {
    for (let i = 0; i < rows.length; i++) {
      if (rows[i].iOverall === 'iUPD') {
        const next = rows[i + 1];
        // confirmed later (iCPD without reset) or never re-assessed
        let confirmed = !next;
        for (let j = i + 1; j < rows.length; j++) {
          if (rows[j].iOverall === 'iCPD') { confirmed = true; break; }
          if (rows[j].iOverall !== 'iUPD') break;
        }
        if (confirmed) { pd = rows[i]; break; }
      }
    }
  } else pd = rows.find((r) => r.overall === 'PD');
  const death = subject.deathDate && dayNumber(subject.deathDate) <= cut && s.deathIsEvent ? subject.deathDate : undefined;
  const sources: TteSource[] = [];
  if (pd) sources.push({ kind: 'event', date: pd.date, order: 1, evntdesc: 'DISEASE PROGRESSION', srcdom: 'RS', srcvar: 'RSDTC', srcseq: seq(pd) });
  if (pdSeparate) sources.push(pdSeparate);
  if (death) sources.push({ kind: 'event', date: death, order: 2, evntdesc: 'DEATH', srcdom: 'ADSL', srcvar: 'DTHDT', srcseq: null });
  const adequate = rows.filter(isAdequate);
  const lastAdequateOnOrBefore = (day: number): VisitResponse | undefined => {
    let last: VisitResponse | undefined;
    for (const r of adequate) if (dayNumber(r.date) <= day) last = r;
    return last;
  };
  const censorAt = (r: VisitResponse | undefined, desc: string): TteSource =>
    r
      ? { kind: 'censor', date: r.date, order: 3, evntdesc: desc, srcdom: 'RS', srcvar: 'RSDTC', srcseq: seq(r) }
      : { kind: 'censor', date: startdt, order: 4, evntdesc: `${desc} (NO ADEQUATE ASSESSMENT: CENSORED AT START)`, srcdom: 'ADSL', srcvar: paramcd === 'PFS' ? 'RANDDT' : 'STARTDT', srcseq: null };

  const ev = combineTte(paramcd, startdt, sources);
  if (ev && ev.cnsr === 0) {
    const evDay = dayNumber(ev.adt);
    // New anticancer therapy before the event.
    if (s.censorAtNewTherapy && subject.newTherapyDate && dayNumber(subject.newTherapyDate) < evDay) {
      return combineTte(paramcd, startdt, [censorAt(lastAdequateOnOrBefore(dayNumber(subject.newTherapyDate)), 'NEW ANTICANCER THERAPY')]);
    }
    // Event after >= n missed assessments (FDA table; a death too unless pfsDeathAfterMissedAssessments = 'event',
    // the admiral template, where every death is an event).
    const deathCounts = ev.evntdesc === 'DEATH' && s.pfsDeathAfterMissedAssessments === 'event';
    if (s.missedAssessmentsForCensoring > 0 && !deathCounts) {
      const last = lastAdequateOnOrBefore(evDay - 1);
      const fromDay = last ? dayNumber(last.date) : dayNumber(startdt);
      const maxGap = s.missedAssessmentsForCensoring * s.assessmentIntervalDays + s.assessmentWindowDays;
      if (evDay - fromDay > maxGap)
        return combineTte(paramcd, startdt, [censorAt(last, `${ev.evntdesc} AFTER ${s.missedAssessmentsForCensoring} OR MORE MISSED ASSESSMENTS`)]);
    }
    return ev;
  }
  // No event.
  let limit = Infinity;
  let desc = 'LAST ADEQUATE ASSESSMENT';
  if (s.censorAtNewTherapy && subject.newTherapyDate) {
    limit = dayNumber(subject.newTherapyDate);
    if (adequate.some((r) => dayNumber(r.date) > limit)) desc = 'NEW ANTICANCER THERAPY';
  }
  return combineTte(paramcd, startdt, [censorAt(lastAdequateOnOrBefore(limit), desc)]);
}
