/**
 * Best overall response and confirmation exactly as admiralonco defines them.
 *
 * Sources (pharmaverse/admiralonco on GitHub):
 * - R/derive_param_confirmed_bor.R, roxygen "Details" (the rules) and "Examples";
 * - R/events.R (`cbor_cr`, `cbor_pr`, `crsp_y_cr`, `crsp_y_pr`: the same conditions as event_joined objects);
 * - tests/testthat/test-derive_param_confirmed_bor.R, Tests 1 and 2 (expected CBOR per subject);
 * - tests/testthat/test-derive_param_confirmed_resp.R, Tests 1 and 2 (expected CRSP per subject).
 * The ported tests use the package's own data and its expected outputs; the rule tests use small sequences
 * whose expected value follows from the documented rule (derivation in each comment).
 */
import {
  confirmationCandidate, confirmationFailure, confirmedBestOverallResponse, confirmedBor, bestOverallResponse, firstResponseDate,
  isConfirmedResponse, resolveSettings, unconfirmedBor,
  type OverallResponse, type ProtocolSettings, type ResponseAssessment, type SubjectInput, type VisitResponse,
} from '@app/endpoints';

/** An overall-response record as admiralonco's ADRS OVR (ADT, AVALC), shaped as our VisitResponse. */
const ovr = (date: string, overall: OverallResponse, i: number): VisitResponse =>
  ({ visit: `V${i + 1}`, visitNum: i + 1, date, overall, sum: null, sumComplete: true, baselineSum: null, nadir: null, pctFromBaseline: null, pctFromNadir: null, target: 'NA', nonTarget: 'NA', newLesions: 'NO', source: { readId: 'x' }, notes: [] }) as unknown as VisitResponse;

// ---------------------------------------------------------------------------------------------------------
// Port of tests/testthat/test-derive_param_confirmed_bor.R and test-derive_param_confirmed_resp.R

const ADSL: Record<string, string> = {
  '1': '2020-01-01', '2': '2019-12-12', '3': '2019-11-11', '4': '2019-12-30', '5': '2020-01-01',
  '6': '2020-02-02', '7': '2020-02-02', '8': '2020-04-01', '9': '2020-02-01',
};
const ADRS: [string, string, OverallResponse][] = [
  ['1', '2020-01-01', 'PR'], ['1', '2020-02-01', 'CR'], ['1', '2020-02-16', 'NE'], ['1', '2020-03-01', 'CR'], ['1', '2020-04-01', 'SD'],
  ['2', '2020-01-01', 'SD'], ['2', '2020-02-01', 'PR'], ['2', '2020-03-01', 'SD'], ['2', '2020-03-13', 'CR'],
  ['3', '2019-11-12', 'CR'], ['3', '2019-12-02', 'CR'], ['3', '2020-01-01', 'SD'],
  ['4', '2020-01-01', 'PR'], ['4', '2020-03-01', 'SD'], ['4', '2020-04-01', 'SD'], ['4', '2020-05-01', 'PR'], ['4', '2020-05-15', 'NON-CR/NON-PD'],
  ['5', '2020-01-01', 'PR'], ['5', '2020-01-10', 'SD'], ['5', '2020-01-20', 'PR'], ['5', '2020-05-15', 'NON-CR/NON-PD'],
  ['6', '2020-02-06', 'PR'], ['6', '2020-02-16', 'CR'], ['6', '2020-03-30', 'PR'],
  ['7', '2020-02-06', 'PR'], ['7', '2020-02-16', 'CR'], ['7', '2020-04-01', 'NE'],
  // subject 9: PD on 2020-02-16 is also the `source_pd` date (PARAMCD PD); the SD after it is left out
  ['9', '2020-02-16', 'PD'], ['9', '2020-03-06', 'SD'],
];
/** Subject u of the admiralonco test data: TRTSDT is the reference date (reference_date = TRTSDT). */
function adm(u: string): { subject: SubjectInput; rows: VisitResponse[] } {
  const rows = ADRS.filter((r) => r[0] === u).map(([, d, o], i) => ovr(d, o, i));
  return { subject: { usubjid: u, randDate: ADSL[u], trtStartDate: ADSL[u], assessments: [] }, rows };
}
/** The admiralonco test arguments as protocol settings (ref_start_window 28 days from TRTSDT). */
const admSettings = (x: Partial<ProtocolSettings>) => resolveSettings({ sdReference: 'treatmentStart', sdMinDays: 28, ...x });

describe('admiralonco derive_param_confirmed_bor tests, ported', () => {
  test('Test 1: default confirmed BOR (ref_confirm 28, max_nr_ne 1, accept_sd FALSE)', () => {
    const s = admSettings({ confirmationDays: 28, confirmationMaxNe: 1, confirmationAcceptSd: false, missingAsNe: false });
    // expected tribble of Test 1: USUBJID, ADTC, AVALC
    const expected: [string, string | null, string][] = [
      ['1', '2020-02-01', 'CR'], ['2', '2020-02-01', 'SD'], ['3', '2020-01-01', 'SD'], ['4', '2020-03-01', 'SD'],
      ['5', '2020-05-15', 'NON-CR/NON-PD'], ['6', '2020-03-30', 'SD'], ['7', '2020-02-06', 'NE'], ['8', null, 'MISSING'], ['9', '2020-02-16', 'PD'],
    ];
    for (const [u, date, bor] of expected) {
      const { subject, rows } = adm(u);
      expect([u, confirmedBestOverallResponse(rows, subject, s)]).toEqual([u, expect.objectContaining({ bor, date })]);
    }
  });

  test('Test 2: ref_confirm 14, max_nr_ne 0, accept_sd TRUE, missing_as_ne TRUE', () => {
    const s = admSettings({ confirmationDays: 14, confirmationMaxNe: 0, confirmationAcceptSd: true, missingAsNe: true });
    // expected tribble of Test 2 (subject 7 there has a single "ND" record; ND is not a response category
    // our reads produce, so it is not ported)
    const expected: [string, string | null, string][] = [
      ['1', '2020-01-01', 'PR'], ['2', '2020-02-01', 'PR'], ['3', '2019-11-12', 'CR'], ['4', '2020-03-01', 'SD'],
      ['5', '2020-01-01', 'PR'], ['6', '2020-03-30', 'SD'], ['8', null, 'NE'], ['9', '2020-02-16', 'PD'],
    ];
    for (const [u, date, bor] of expected) {
      const { subject, rows } = adm(u);
      expect([u, confirmedBestOverallResponse(rows, subject, s)]).toEqual([u, expect.objectContaining({ bor, date })]);
    }
  });
});

describe('admiralonco derive_param_confirmed_resp tests, ported', () => {
  const crsp = (u: string, s: ProtocolSettings) => {
    const { subject, rows } = adm(u);
    const d = firstResponseDate(rows, subject, s, true);
    return d === null ? ['N', null] : ['Y', d];
  };
  test('Test 1: default confirmed response: only subject 1 (Y at its PR of 2020-01-01)', () => {
    const s = admSettings({ confirmationDays: 28 });
    expect(Object.keys(ADSL).map((u) => [u, ...crsp(u, s)])).toEqual([
      ['1', 'Y', '2020-01-01'], ['2', 'N', null], ['3', 'N', null], ['4', 'N', null], ['5', 'N', null],
      ['6', 'N', null], ['7', 'N', null], ['8', 'N', null], ['9', 'N', null],
    ]);
  });
  test('Test 2: accept SD, ref_confirm 14, max_nr_ne 0', () => {
    const s = admSettings({ confirmationDays: 14, confirmationMaxNe: 0, confirmationAcceptSd: true });
    // subject 7 is ND-only there (N); with its original records it is N as well (no later CR/PR >= 14 days)
    expect(Object.keys(ADSL).map((u) => [u, ...crsp(u, s)])).toEqual([
      ['1', 'Y', '2020-01-01'], ['2', 'Y', '2020-02-01'], ['3', 'Y', '2019-11-12'], ['4', 'N', null], ['5', 'Y', '2020-01-01'],
      ['6', 'N', null], ['7', 'N', null], ['8', 'N', null], ['9', 'N', null],
    ]);
  });
});

describe('admiralonco derive_param_bor tests, ported (tests/testthat/test-derive_param_bor.R; same data without subject 9)', () => {
  const bor = (u: string, rows: VisitResponse[], x: Partial<ProtocolSettings> = {}, extra: Partial<SubjectInput> = {}) => {
    const r = bestOverallResponse(rows, { ...adm(u).subject, ...extra }, admSettings(x));
    return [u, r.bor, r.date];
  };
  test('Test 1: no source_pd (expected_01)', () => {
    expect(['1', '2', '3', '4', '5', '6', '7', '8'].map((u) => bor(u, adm(u).rows))).toEqual([
      ['1', 'CR', '2020-02-01'], ['2', 'CR', '2020-03-13'], ['3', 'CR', '2019-11-12'], ['4', 'PR', '2020-01-01'],
      ['5', 'PR', '2020-01-01'], ['6', 'CR', '2020-02-16'], ['7', 'CR', '2020-02-16'], ['8', 'MISSING', null],
    ]);
  });
  test('Test 1: subject 7 only before the reference date: PR / CR still count (expected_02); SD becomes NE (expected_03)', () => {
    const dates = ['2020-01-01', '2020-01-02', '2020-01-03'];
    const early = adm('7').rows.map((r, i) => ({ ...r, date: dates[i] }));
    expect(bor('7', early)).toEqual(['7', 'CR', '2020-01-02']);
    expect(bor('7', early.map((r) => ({ ...r, overall: 'SD' as OverallResponse })))).toEqual(['7', 'NE', '2020-01-01']);
  });
  test('Test 2: with source_pd (subject 2 PD 2020-03-01: PR; subject 6 PD 2020-02-05, before every record: MISSING)', () => {
    const s = { pdSource: 'pdDate' as const };
    expect(bor('2', adm('2').rows, s, { pdDate: '2020-03-01' })).toEqual(['2', 'PR', '2020-02-01']);
    expect(bor('6', adm('6').rows, s, { pdDate: '2020-02-05' })).toEqual(['6', 'MISSING', null]);
    expect(bor('1', adm('1').rows, s)).toEqual(['1', 'CR', '2020-02-01']); // no PD date: every record counts
  });
});

describe('admiralonco derive_param_confirmed_bor roxygen example (expected values derived by hand from its Details)', () => {
  // Example data: subject 9 (TRTSDT 2020-03-01) CR, NE, NE, CR. The first CR >= 28 days after the CR of
  // 03-16 is 05-01; the join (NE, NE, CR) has 2 NE > max_nr_ne = 1: not confirmed. 03-16 is 15 days after
  // TRTSDT (< ref_start_window 28): NE; the CR of 05-01 has no confirmation but is 61 days after: SD.
  const subject: SubjectInput = { usubjid: '9', randDate: '2020-03-01', trtStartDate: '2020-03-01', assessments: [] };
  const rows = [ovr('2020-03-16', 'CR', 0), ovr('2020-04-01', 'NE', 1), ovr('2020-04-16', 'NE', 2), ovr('2020-05-01', 'CR', 3)];
  test('default: SD at 2020-05-01', () => {
    expect(confirmedBestOverallResponse(rows, subject, admSettings({}))).toMatchObject({ bor: 'SD', date: '2020-05-01' });
  });
  test('max_nr_ne = 2 (the second example call): CR at 2020-03-16', () => {
    expect(confirmedBestOverallResponse(rows, subject, admSettings({ confirmationMaxNe: 2, confirmationAcceptSd: true, missingAsNe: true }))).toMatchObject({ bor: 'CR', date: '2020-03-16' });
  });
  test('subject 6 of the example: PR, CR, PR, PD, CR, CR with source_pd = the PD date: SD; without the PD cut-off the later CRs would confirm', () => {
    const s6: SubjectInput = { usubjid: '6', randDate: '2020-02-02', trtStartDate: '2020-02-02', assessments: [] };
    const r6 = (['PR', 'CR', 'PR', 'PD', 'CR', 'CR'] as OverallResponse[]).map((o, i) => ovr(['2020-02-06', '2020-02-16', '2020-03-30', '2020-04-12', '2020-05-01', '2020-06-01'][i], o, i));
    // PR 02-06: first CR/PR >= 28 days later is the PR of 03-30; the join (CR 02-16, PR 03-30) has a PR after
    // a CR: not confirmed. CR 02-16: no CR >= 28 days later up to the PD. 03-30 is the first CR/PR/SD >= 28 days
    // after TRTSDT: SD. Assessments after the PD (source_pd) do not count.
    expect(confirmedBestOverallResponse(r6, s6, admSettings({}))).toMatchObject({ bor: 'SD', date: '2020-03-30' });
    const noPd = r6.filter((r) => r.overall !== 'PD');
    expect(confirmedBor(noPd, { ...admSettings({}), refDate: '2020-02-02', missingAsNe: false })).toEqual({ bor: 'CR', index: 3 });
  });
});

// ---------------------------------------------------------------------------------------------------------
// Each documented rule on hand-built sequences (day offsets from 2024-01-01; reference date 60 days before
// the first assessment so the SD window never interferes unless a test says so)

const D0 = Date.UTC(2024, 0, 1) / 86_400_000;
const day = (o: number) => new Date((D0 + o) * 86_400_000).toISOString().slice(0, 10);
/** rows from [dayOffset, response][] */
const seq = (...xs: [number, OverallResponse][]): ResponseAssessment[] => xs.map(([o, r]) => ({ date: day(o), overall: r }));
const RULES = { confirmationDays: 28, confirmationMaxNe: 1, confirmationAcceptSd: false, refDate: day(-60), sdMinDays: 42, missingAsNe: false };
const cbor = (rows: ResponseAssessment[], x: Partial<typeof RULES> = {}) => confirmedBor(rows, { ...RULES, ...x });

describe('confirmation rules (derive_param_confirmed_bor Details)', () => {
  test('ref_confirm: the confirmatory assessment must be >= 28 days later (27 is not enough); configurable', () => {
    expect(isConfirmedResponse(seq([0, 'PR'], [28, 'PR']), 0, RULES)).toBe(true);
    expect(isConfirmedResponse(seq([0, 'PR'], [27, 'PR']), 0, RULES)).toBe(false);
    expect(isConfirmedResponse(seq([0, 'CR'], [28, 'CR']), 0, RULES)).toBe(true);
    expect(isConfirmedResponse(seq([0, 'PR'], [28, 'PR']), 0, { ...RULES, confirmationDays: 29 })).toBe(false);
    expect(isConfirmedResponse(seq([0, 'PR'], [14, 'PR']), 0, { ...RULES, confirmationDays: 14 })).toBe(true);
  });

  test('a CR is confirmed only by a CR; a PR by a CR or a PR', () => {
    expect(isConfirmedResponse(seq([0, 'CR'], [42, 'PR']), 0, RULES)).toBe(false);
    expect(isConfirmedResponse(seq([0, 'PR'], [42, 'CR']), 0, RULES)).toBe(true);
    expect(cbor(seq([0, 'CR'], [42, 'PR']))).toEqual({ bor: 'SD', index: 0 }); // unconfirmed CR counts as SD
  });

  test('between two CRs only CR or NE may occur', () => {
    expect(confirmationFailure(seq([0, 'CR'], [14, 'SD'], [42, 'CR']), 0, RULES)).toMatch(/^SD on .*only CR or NE may occur/);
    expect(isConfirmedResponse(seq([0, 'CR'], [14, 'PR'], [42, 'CR']), 0, RULES)).toBe(false);
    expect(isConfirmedResponse(seq([0, 'CR'], [14, 'NON-CR/NON-PD'], [42, 'CR']), 0, RULES)).toBe(false);
    expect(isConfirmedResponse(seq([0, 'CR'], [14, 'NE'], [42, 'CR']), 0, RULES)).toBe(true);
    expect(isConfirmedResponse(seq([0, 'CR'], [14, 'CR'], [42, 'CR']), 0, RULES)).toBe(true);
    // accept_sd is for PR only: an SD still breaks a CR's confirmation
    expect(isConfirmedResponse(seq([0, 'CR'], [14, 'SD'], [42, 'CR']), 0, { ...RULES, confirmationAcceptSd: true })).toBe(false);
  });

  test('max_nr_ne: at most that many NE in the confirmation period (default 1); 0 allows none', () => {
    const two = seq([0, 'CR'], [14, 'NE'], [28, 'NE'], [42, 'CR']);
    expect(confirmationFailure(two, 0, RULES)).toMatch(/2 NE/);
    expect(isConfirmedResponse(two, 0, { ...RULES, confirmationMaxNe: 2 })).toBe(true);
    expect(isConfirmedResponse(seq([0, 'PR'], [14, 'NE'], [42, 'PR']), 0, RULES)).toBe(true);
    expect(isConfirmedResponse(seq([0, 'PR'], [14, 'NE'], [42, 'PR']), 0, { ...RULES, confirmationMaxNe: 0 })).toBe(false);
  });

  test('no PR after a CR within the confirmation period: a later CR does not confirm a PR when a PR follows a CR', () => {
    // PR d0: the first CR/PR >= d28 is the CR of d40; the join CR d10, PR d20, CR d40 has a PR after a CR
    const rows = seq([0, 'PR'], [10, 'CR'], [20, 'PR'], [40, 'CR']);
    expect(confirmationFailure(rows, 0, RULES)).toMatch(/PR follows a CR/);
    // the CR of d10 is not confirmed either (a PR between it and the CR of d40); PR d20, CR d40: nothing later
    expect(cbor(rows)).toEqual({ bor: 'SD', index: 0 });
    // without the PR of d20 the PR is confirmed by the CR of d40, and the CR of d10 by it: CR
    expect(cbor(seq([0, 'PR'], [10, 'CR'], [40, 'CR']))).toEqual({ bor: 'CR', index: 1 });
    // PR, PR, CR: CR after the last PR is fine
    expect(isConfirmedResponse(seq([0, 'PR'], [10, 'PR'], [40, 'CR']), 0, RULES)).toBe(true);
  });

  test('accept_sd: one SD between a PR and its confirmation, never two; without it none', () => {
    const one = seq([0, 'PR'], [14, 'SD'], [42, 'PR']);
    expect(isConfirmedResponse(one, 0, RULES)).toBe(false);
    expect(isConfirmedResponse(one, 0, { ...RULES, confirmationAcceptSd: true })).toBe(true);
    const two = seq([0, 'PR'], [14, 'SD'], [28, 'SD'], [42, 'PR']);
    expect(confirmationFailure(two, 0, { ...RULES, confirmationAcceptSd: true })).toMatch(/^2 SD .*at most 1/);
  });

  test('NON-CR/NON-PD or PD inside a PR confirmation period breaks it (even with accept_sd)', () => {
    expect(confirmationFailure(seq([0, 'PR'], [14, 'NON-CR/NON-PD'], [42, 'PR']), 0, { ...RULES, confirmationAcceptSd: true })).toMatch(/NON-CR\/NON-PD/);
    expect(isConfirmedResponse(seq([0, 'PR'], [14, 'PD'], [42, 'PR']), 0, { ...RULES, confirmationAcceptSd: true, confirmationMaxNe: 5 })).toBe(false);
  });

  test('the first confirmatory candidate decides: later candidates are not tried', () => {
    // PR d0: candidates are the CR/PR >= d28: d30 (first) and d70. The join up to d30 holds two NE.
    const rows = seq([0, 'PR'], [10, 'NE'], [20, 'NE'], [30, 'PR'], [70, 'PR']);
    expect(confirmationCandidate(rows, 0, RULES)).toBe(3);
    expect(isConfirmedResponse(rows, 0, RULES)).toBe(false);
    // the PR of d30 is confirmed by d70: the first CONFIRMED response (CRSP date, DoR start) is d30
    expect(cbor(rows)).toEqual({ bor: 'PR', index: 3 });
    // a PR 27 days after is no candidate: the candidate is the CR of d40, and the join (PR d27, CR d40) is fine
    expect(confirmationCandidate(seq([0, 'PR'], [27, 'PR'], [40, 'CR']), 0, RULES)).toBe(2);
  });

  test('BOR ranking CR > PR > SD > NON-CR/NON-PD > PD > NE > MISSING; ties: the earliest', () => {
    expect(cbor(seq([0, 'SD'], [42, 'SD']))).toEqual({ bor: 'SD', index: 0 });
    expect(cbor(seq([0, 'NE'], [42, 'PD']))).toEqual({ bor: 'PD', index: 1 });
    expect(cbor(seq([0, 'NON-CR/NON-PD'], [42, 'PD']))).toEqual({ bor: 'NON-CR/NON-PD', index: 0 });
    expect(cbor(seq([0, 'NE']))).toEqual({ bor: 'NE', index: 0 });
    expect(cbor([])).toEqual({ bor: 'MISSING', index: -1 });
    expect(cbor([], { missingAsNe: true })).toEqual({ bor: 'NE', index: -1 });
  });

  test('ref_start_window: SD / NON-CR/NON-PD / unconfirmed CR or PR before it are NE; at it they count', () => {
    const r = { ...RULES, refDate: day(0), sdMinDays: 42 };
    expect(confirmedBor(seq([41, 'SD']), r)).toEqual({ bor: 'NE', index: 0 });
    expect(confirmedBor(seq([42, 'SD']), r)).toEqual({ bor: 'SD', index: 0 });
    expect(confirmedBor(seq([41, 'NON-CR/NON-PD']), r)).toEqual({ bor: 'NE', index: 0 });
    expect(confirmedBor(seq([20, 'PR'], [41, 'PD']), r)).toEqual({ bor: 'PD', index: 1 }); // unconfirmed PR before the window: NE < PD
    expect(confirmedBor(seq([42, 'CR'], [60, 'PD']), r)).toEqual({ bor: 'SD', index: 0 });
    // unconfirmed BOR (derive_param_bor): CR / PR count as such at any time, SD needs the window
    expect(unconfirmedBor(seq([20, 'PR'], [41, 'PD']), r)).toEqual({ bor: 'PR', index: 0 });
    expect(unconfirmedBor(seq([41, 'SD']), r)).toEqual({ bor: 'NE', index: 0 });
    expect(unconfirmedBor([], { ...r, missingAsNe: true })).toEqual({ bor: 'NE', index: -1 });
  });
});

describe('subject level: settings reach the rules; assessments after the first PD and on/after new therapy are left out', () => {
  const subject: SubjectInput = { usubjid: 'S', randDate: day(-60), assessments: [] };
  const rows = (xs: [number, OverallResponse][]) => xs.map(([o, r], i) => ovr(day(o), r, i));
  test('accept_sd and max_nr_ne from the protocol settings', () => {
    const r = rows([[0, 'PR'], [14, 'SD'], [42, 'PR']]);
    expect(confirmedBestOverallResponse(r, subject, resolveSettings({})).bor).toBe('SD');
    expect(confirmedBestOverallResponse(r, subject, resolveSettings({ confirmationAcceptSd: true })).bor).toBe('PR');
    expect(bestOverallResponse(r, subject, resolveSettings({})).bor).toBe('PR');
  });
  test('a confirmation after the first PD does not count', () => {
    const r = rows([[0, 'PR'], [14, 'PD'], [42, 'PR']]);
    expect(confirmedBestOverallResponse(r, subject, resolveSettings({})).bor).toBe('SD');
    expect(firstResponseDate(r, subject, resolveSettings({}), true)).toBeNull();
  });
  test('a confirmation on the day new anticancer therapy starts does not count', () => {
    const r = rows([[0, 'PR'], [42, 'PR']]);
    expect(confirmedBestOverallResponse(r, { ...subject, newTherapyDate: day(42) }, resolveSettings({})).bor).toBe('SD');
    expect(confirmedBestOverallResponse(r, { ...subject, newTherapyDate: day(43) }, resolveSettings({})).bor).toBe('PR');
  });
  test('bad settings are refused with the setting named', () => {
    expect(() => resolveSettings({ missingAsNe: 'yes' as unknown as boolean })).toThrow(/missingAsNe/);
  });
});
