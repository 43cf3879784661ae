/**
 * Best overall response and confirmation of response exactly as admiralonco defines them
 * (`derive_param_bor`, `derive_param_confirmed_bor`, `derive_param_confirmed_resp`, `derive_param_response`,
 * and the `event_joined` objects `cbor_cr`, `cbor_pr`, `crsp_y_cr`, `crsp_y_pr` used with
 * `admiral::derive_extreme_event()`; pharmaverse/admiralonco R/derive_param_confirmed_bor.R "Details",
 * R/events.R). Pure functions on one subject's overall responses (ADRS PARAMCD OVR: ADT, AVALC), sorted by
 * date; the caller restricts them first (assessments after the first PD / the `source_pd` date and on or
 * after new anticancer therapy are not passed in).
 *
 * Rules (d(x) = the assessment's date as a day number, "join" = every assessment after the one tested up to
 * and including its confirmatory assessment):
 * - The confirmatory assessment of a CR is the FIRST later CR with d >= d(CR) + confirmationDays; of a PR the
 *   FIRST later CR or PR with d >= d(PR) + confirmationDays (admiral `filter_joined` / `event_joined`
 *   `first_cond`). Only that first candidate is examined: if it fails the conditions below, a later one is
 *   not tried ("the first qualifying confirmation decides").
 * - CR confirmed: every assessment of the join is CR or NE, at most confirmationMaxNe of them NE.
 * - PR confirmed: every assessment of the join is CR, PR, SD or NE (so PD and NON-CR/NON-PD break it); at
 *   most confirmationMaxNe NE; at most one SD when confirmationAcceptSd, else none; and no PR after a CR
 *   within the join (the earliest CR of the join is later than its latest PR, or the join has no CR or no PR).
 * - Confirmed BOR, best first (ties: the earliest assessment): CR (confirmed CR), PR (confirmed PR),
 *   SD (CR, PR or SD at least sdMinDays after the reference date), NON-CR/NON-PD (at least sdMinDays after
 *   the reference date), PD, NE (NE, or CR / PR / SD / NON-CR/NON-PD earlier than sdMinDays), MISSING
 *   (no assessment at all; NE when missingAsNe).
 * - Unconfirmed BOR (`derive_param_bor`): CR, PR, SD (>= sdMinDays), NON-CR/NON-PD (>= sdMinDays), PD, NE
 *   (NE, or SD / NON-CR/NON-PD earlier than sdMinDays), MISSING (or NE when missingAsNe).
 * - Response (RSP, `derive_param_response`): Y at the first CR or PR; confirmed response (CRSP,
 *   `derive_param_confirmed_resp`): Y at the first confirmed CR or PR; N (no date) otherwise.
 */
import type { OverallResponse } from './recist';
import { dayNumber } from './util';

/** One overall-response assessment (admiralonco ADRS OVR record: ADT, AVALC). */
export interface ResponseAssessment {
  date: string;
  overall: OverallResponse;
  visit?: string;
  visitNum?: number;
}

export type BorValue = OverallResponse | 'MISSING';

/** admiralonco `aval_resp` order: CR 1, PR 2, SD 3, NON-CR/NON-PD 4, PD 5, NE 6, MISSING 7 (lower = better). */
export const AVAL_RESP: Record<BorValue, number> = { CR: 1, PR: 2, SD: 3, 'NON-CR/NON-PD': 4, PD: 5, NE: 6, MISSING: 7 };

/** The admiralonco confirmation arguments (ref_confirm, max_nr_ne, accept_sd). */
export interface ConfirmationRules {
  /** ref_confirm: minimum days between a response and its confirmatory assessment (RECIST 1.1: 28). */
  confirmationDays: number;
  /** max_nr_ne: NE assessments accepted between a response and its confirmatory assessment (default 1). */
  confirmationMaxNe: number;
  /** accept_sd: one SD accepted between a PR and its confirmatory assessment (default false). */
  confirmationAcceptSd: boolean;
}

/** The BOR arguments (reference_date, ref_start_window, missing_as_ne). */
export interface BorRules {
  /** reference_date (RANDDT or TRTSDT), ISO date. */
  refDate: string;
  /** ref_start_window: SD / NON-CR/NON-PD count only at least this many days after refDate. */
  sdMinDays: number;
  /** missing_as_ne: a subject without any assessment gets NE instead of MISSING. */
  missingAsNe: boolean;
}

export interface BorPick {
  bor: BorValue;
  /** Index (in the rows given) of the assessment giving the BOR; -1 when MISSING / NE without assessment. */
  index: number;
}

/**
 * Index of the confirmatory-assessment candidate of rows[i] (a CR or PR): the first later assessment
 * that is a CR (for a CR) or a CR / PR (for a PR) at least confirmationDays later; -1 when there is none
 * or rows[i] is not a CR / PR. Rows must be sorted by date.
 */
export function confirmationCandidate(rows: readonly ResponseAssessment[], i: number, rules: Pick<ConfirmationRules, 'confirmationDays'>): number {
  const r = rows[i];
  if (r.overall !== 'CR' && r.overall !== 'PR') return -1;
  const due = dayNumber(r.date) + rules.confirmationDays;
  for (let j = i + 1; j < rows.length; j++) {
    const c = rows[j].overall;
    const fits = r.overall === 'CR' ? c === 'CR' : c === 'CR' || c === 'PR';
    if (fits && dayNumber(rows[j].date) >= due) return j;
  }
  return -1;
}

/**
 * Why rows[i] is or is not a confirmed response (null = confirmed). Useful for review screens and tests.
 */
export function confirmationFailure(rows: readonly ResponseAssessment[], i: number, rules: ConfirmationRules): string | null {
  const r = rows[i];
  if (r.overall !== 'CR' && r.overall !== 'PR') return `${r.overall} is not a response`;
  const j = confirmationCandidate(rows, i, rules);
  if (j < 0) return `no later ${r.overall === 'CR' ? 'CR' : 'CR or PR'} at least ${rules.confirmationDays} days later`;
  const join = rows.slice(i + 1, j + 1);
  const count = (v: OverallResponse) => join.filter((x) => x.overall === v).length;
  const ne = count('NE');
  if (r.overall === 'CR') {
    const bad = join.find((x) => x.overall !== 'CR' && x.overall !== 'NE');
    if (bad) return `${bad.overall} on ${bad.date} between the CR and its confirmation (only CR or NE may occur)`;
    if (ne > rules.confirmationMaxNe) return `${ne} NE between the CR and its confirmation (at most ${rules.confirmationMaxNe})`;
    return null;
  }
  const bad = join.find((x) => x.overall !== 'CR' && x.overall !== 'PR' && x.overall !== 'SD' && x.overall !== 'NE');
  if (bad) return `${bad.overall} on ${bad.date} between the PR and its confirmation (only CR, PR, SD or NE may occur)`;
  if (ne > rules.confirmationMaxNe) return `${ne} NE between the PR and its confirmation (at most ${rules.confirmationMaxNe})`;
  const sd = count('SD');
  const maxSd = rules.confirmationAcceptSd ? 1 : 0;
  if (sd > maxSd) return `${sd} SD between the PR and its confirmation (at most ${maxSd})`;
  let firstCr = Infinity;
  let lastPr = -Infinity;
  for (const x of join) {
    const d = dayNumber(x.date);
    if (x.overall === 'CR' && d < firstCr) firstCr = d;
    if (x.overall === 'PR' && d > lastPr) lastPr = d;
  }
  if (firstCr !== Infinity && lastPr !== -Infinity && !(firstCr > lastPr)) return 'a PR follows a CR within the confirmation period';
  return null;
}

/** Whether rows[i] (a CR or PR) is confirmed (see the module comment). Rows sorted by date. */
export const isConfirmedResponse = (rows: readonly ResponseAssessment[], i: number, rules: ConfirmationRules): boolean => confirmationFailure(rows, i, rules) === null;

/** Best of the candidates (lowest AVAL_RESP; ties: the earliest, i.e. the first given). */
function best(cands: BorValue[], rules: BorRules): BorPick {
  let pick: BorPick = { bor: 'MISSING', index: -1 };
  cands.forEach((c, i) => {
    if (AVAL_RESP[c] < AVAL_RESP[pick.bor]) pick = { bor: c, index: i };
  });
  // no assessment at all: MISSING, or NE with missing_as_ne
  if (pick.index < 0 && rules.missingAsNe) pick = { bor: 'NE', index: -1 };
  return pick;
}

const lateEnough = (r: ResponseAssessment, rules: BorRules): boolean => dayNumber(r.date) - dayNumber(rules.refDate) >= rules.sdMinDays;

/** Unconfirmed best overall response (admiralonco `derive_param_bor`). Rows sorted by date. */
export function unconfirmedBor(rows: readonly ResponseAssessment[], rules: BorRules): BorPick {
  return best(
    rows.map((r): BorValue => ((r.overall === 'SD' || r.overall === 'NON-CR/NON-PD') && !lateEnough(r, rules) ? 'NE' : r.overall)),
    rules,
  );
}

/** Confirmed best overall response (admiralonco `derive_param_confirmed_bor`). Rows sorted by date. */
export function confirmedBor(rows: readonly ResponseAssessment[], rules: BorRules & ConfirmationRules): BorPick {
  return best(
    rows.map((r, i): BorValue => {
      const late = lateEnough(r, rules);
      switch (r.overall) {
        case 'CR':
        case 'PR':
          return isConfirmedResponse(rows, i, rules) ? r.overall : late ? 'SD' : 'NE';
        case 'SD':
        case 'NON-CR/NON-PD':
          return late ? r.overall : 'NE';
        default:
          return r.overall;
      }
    }),
    rules,
  );
}

/**
 * Index of the first response (CR or PR; admiralonco `derive_param_response`, RSP) or, when `confirmed`, of
 * the first confirmed response (`derive_param_confirmed_resp`, CRSP); -1 when there is none.
 */
export function firstResponseIndex(rows: readonly ResponseAssessment[], confirmed: false | ConfirmationRules): number {
  for (let i = 0; i < rows.length; i++) {
    const o = rows[i].overall;
    if ((o === 'CR' || o === 'PR') && (!confirmed || isConfirmedResponse(rows, i, confirmed))) return i;
  }
  return -1;
}
