/**
 * Subject-level endpoints: BOR (admiralonco ranking), confirmation (RECIST 1.1 section 4.6), PFS with the
 * FDA 2018 censoring table, DOR, admiral TTE conventions.
 */
import {
  bestOverallResponse, combineTte, confirmedBestOverallResponse, deriveDor, derivePfs, deriveVisitResponses,
  firstResponseDate, hasDiseaseControl, isResponder, rate, resolveSettings, type SubjectInput,
} from '@app/endpoints';
import { iso, tl, visit } from './helpers';

const S = resolveSettings({});
/** Subject with one lesion; `plan` = [dayOffsetFromRand, sumTenths | 'NOT_ASSESSED'][]; baseline on day 0. */
function subj(plan: [number, number | 'NOT_ASSESSED'][], extra: Partial<SubjectInput> = {}): SubjectInput {
  const d0 = Date.UTC(2024, 0, 1) / 86400000;
  const at = (o: number) => new Date((d0 + o) * 86400000).toISOString().slice(0, 10);
  return { usubjid: 'S-1', randDate: '2024-01-01', assessments: plan.map(([o, v], i) => visit(i, at(o), [tl('T1', v)])), ...extra };
}
const day = (o: number) => new Date((Date.UTC(2024, 0, 1) / 86400000 + o) * 86400000).toISOString().slice(0, 10);

describe('best overall response', () => {
  test('ranking CR > PR > SD: best of PR, CR, SD is CR', () => {
    const s = subj([[0, 400], [42, 200], [84, 0], [126, 150]]);
    const r = deriveVisitResponses(s);
    expect(r.map((x) => x.overall)).toEqual(['PR', 'CR', 'PD']);
    expect(bestOverallResponse(r, s, S)).toEqual({ bor: 'CR', date: day(84), visit: 'V2' });
  });
  test('assessments after the first PD are ignored', () => {
    const s = subj([[0, 400], [42, 500], [84, 200]]);
    const r = deriveVisitResponses(s);
    expect(r.map((x) => x.overall)).toEqual(['PD', 'PR']);
    expect(bestOverallResponse(r, s, S).bor).toBe('PD');
  });
  test('assessments on/after new anticancer therapy are ignored', () => {
    const s = subj([[0, 400], [42, 380], [84, 200]], { newTherapyDate: day(60) });
    expect(bestOverallResponse(deriveVisitResponses(s), s, S).bor).toBe('SD');
  });
  test('SD needs the minimum time from the reference date (else NE); configurable', () => {
    const s = subj([[0, 400], [41, 380]]);
    const r = deriveVisitResponses(s);
    expect(bestOverallResponse(r, s, S).bor).toBe('NE');
    expect(bestOverallResponse(r, s, resolveSettings({ sdMinDays: 35 })).bor).toBe('SD');
    const s2 = subj([[0, 400], [42, 380]]);
    expect(bestOverallResponse(deriveVisitResponses(s2), s2, S).bor).toBe('SD');
  });
  test('no post-baseline assessment: MISSING', () => {
    const s = subj([[0, 400]]);
    expect(bestOverallResponse(deriveVisitResponses(s), s, S)).toEqual({ bor: 'MISSING', date: null, visit: null });
  });
  test('NE ranks above MISSING but below PD', () => {
    const s = subj([[0, 400], [42, 'NOT_ASSESSED']]);
    expect(bestOverallResponse(deriveVisitResponses(s), s, S).bor).toBe('NE');
  });
});

describe('confirmed best overall response', () => {
  test('PR confirmed by a PR >= 28 days later; 27 days is not enough', () => {
    const ok = subj([[0, 400], [42, 250], [70, 240]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(ok), ok, S).bor).toBe('PR');
    const tooEarly = subj([[0, 400], [42, 250], [69, 240]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(tooEarly), tooEarly, S).bor).toBe('SD');
    expect(bestOverallResponse(deriveVisitResponses(tooEarly), tooEarly, S).bor).toBe('PR');
  });
  test('confirmation window is a protocol setting', () => {
    const s = subj([[0, 400], [42, 250], [70, 240]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(s), s, resolveSettings({ confirmationDays: 56 })).bor).toBe('SD');
  });
  test('CR needs a later CR >= 28 days later; CR then PD = unconfirmed CR, which counts as SD', () => {
    const s = subj([[0, 400], [42, 0], [84, 150]]);
    const r = deriveVisitResponses(s);
    expect(r.map((x) => x.overall)).toEqual(['CR', 'PD']);
    expect(confirmedBestOverallResponse(r, s, S).bor).toBe('SD');
    const s2 = subj([[0, 400], [42, 0], [84, 0]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(s2), s2, S)).toMatchObject({ bor: 'CR', date: day(42) });
  });
  test('PR then CR confirms the PR', () => {
    const s = subj([[0, 400], [42, 200], [84, 0]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(s), s, S).bor).toBe('PR');
  });
  test('one NE in between is allowed (confirmationMaxNe = 1), two are not', () => {
    const one = subj([[0, 400], [42, 200], [84, 'NOT_ASSESSED'], [126, 200]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(one), one, S).bor).toBe('PR');
    const two = subj([[0, 400], [42, 200], [84, 'NOT_ASSESSED'], [126, 'NOT_ASSESSED'], [168, 200]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(two), two, S).bor).toBe('SD');
  });
  test('PR - SD - PR: not confirmed unless confirmationAcceptSd', () => {
    const s = subj([[0, 400], [42, 270], [84, 300], [126, 260]]);
    const r = deriveVisitResponses(s);
    expect(r.map((x) => x.overall)).toEqual(['PR', 'SD', 'PR']);
    expect(confirmedBestOverallResponse(r, s, S).bor).toBe('SD');
    expect(confirmedBestOverallResponse(r, s, resolveSettings({ confirmationAcceptSd: true })).bor).toBe('PR');
  });
  test('ORR / DCR flags and rates', () => {
    expect(isResponder('PR')).toBe(true);
    expect(isResponder('SD')).toBe(false);
    expect(hasDiseaseControl('NON-CR/NON-PD', S)).toBe(true);
    expect(hasDiseaseControl('NON-CR/NON-PD', resolveSettings({ dcrIncludesNonCrNonPd: false }))).toBe(false);
    expect(rate([true, false, false])).toEqual({ n: 3, responders: 1, percent: 33.3 });
  });
});

describe('admiral time-to-event conventions', () => {
  const src = (kind: 'event' | 'censor', date: string, order: number, d: string) => ({ kind, date, order, evntdesc: d, srcdom: 'X', srcvar: 'Y', srcseq: null });
  test('earliest event wins; ties broken by declared order; AVAL = ADT - STARTDT + 1', () => {
    const r = combineTte('PFS', '2024-01-01', [src('event', '2024-03-01', 2, 'DEATH'), src('event', '2024-03-01', 1, 'PD'), src('event', '2024-04-01', 0, 'LATER'), src('censor', '2024-05-01', 3, 'C')]);
    expect(r).toMatchObject({ adt: '2024-03-01', cnsr: 0, evntdesc: 'PD', aval: 31 + 29 + 1 });
  });
  test('no event: latest censoring date wins', () => {
    const r = combineTte('X', '2024-01-01', [src('censor', '2024-02-01', 1, 'A'), src('censor', '2024-03-01', 2, 'B')]);
    expect(r).toMatchObject({ adt: '2024-03-01', cnsr: 1, evntdesc: 'B', aval: 61 });
  });
  test('same-day event: AVAL = 1', () => {
    expect(combineTte('X', '2024-01-01', [src('event', '2024-01-01', 1, 'E')])!.aval).toBe(1);
  });
});

describe('PFS (FDA 2018 censoring)', () => {
  const pfs = (s: SubjectInput, st = S) => derivePfs(deriveVisitResponses(s), s, st);
  test('event at the first PD', () => {
    expect(pfs(subj([[0, 400], [42, 380], [84, 500], [126, 600]]))).toMatchObject({ adt: day(84), cnsr: 0, evntdesc: 'DISEASE PROGRESSION', aval: 85 });
  });
  test('event at death when earlier than PD', () => {
    expect(pfs(subj([[0, 400], [42, 380]], { deathDate: day(60) }))).toMatchObject({ adt: day(60), cnsr: 0, evntdesc: 'DEATH', aval: 61 });
  });
  test('no event: censored at the last adequate assessment (NE visits are not adequate)', () => {
    expect(pfs(subj([[0, 400], [42, 380], [84, 'NOT_ASSESSED']]))).toMatchObject({ adt: day(42), cnsr: 1, evntdesc: 'LAST ADEQUATE ASSESSMENT' });
  });
  test('no post-baseline assessment and no death: censored at randomisation, AVAL 1', () => {
    expect(pfs(subj([[0, 400]]))).toMatchObject({ adt: '2024-01-01', cnsr: 1, aval: 1 });
  });
  test('new anticancer therapy before PD: censored at the last adequate assessment before it', () => {
    expect(pfs(subj([[0, 400], [42, 380], [84, 390], [126, 600]], { newTherapyDate: day(100) }))).toMatchObject({ adt: day(84), cnsr: 1, evntdesc: 'NEW ANTICANCER THERAPY' });
  });
  test('PD after two missed assessments: censored at the last adequate assessment before the gap', () => {
    // q6w: visits planned at 42, 84, 126; 84 and 126 missed; PD at 168
    expect(pfs(subj([[0, 400], [42, 380], [168, 600]]))).toMatchObject({ adt: day(42), cnsr: 1, evntdesc: expect.stringMatching(/AFTER 2 OR MORE MISSED/) });
  });
  test('PD after one missed assessment is still an event', () => {
    expect(pfs(subj([[0, 400], [42, 380], [126, 600]]))).toMatchObject({ adt: day(126), cnsr: 0 });
  });
  test('death after two missed assessments is censored too; the rule can be disabled', () => {
    const s = subj([[0, 400], [42, 380]], { deathDate: day(200) });
    expect(pfs(s)).toMatchObject({ adt: day(42), cnsr: 1 });
    expect(pfs(s, resolveSettings({ missedAssessmentsForCensoring: 0 }))).toMatchObject({ adt: day(200), cnsr: 0, evntdesc: 'DEATH' });
  });
  test('data cut: events after the cut are ignored', () => {
    const s = subj([[0, 400], [42, 380], [84, 600]]);
    expect(derivePfs(deriveVisitResponses(s, { cutDate: day(60) }), s, S, { cutDate: day(60) })).toMatchObject({ adt: day(42), cnsr: 1 });
  });
});

describe('iRECIST PFS (iPFS)', () => {
  const I = resolveSettings({ criteria: 'iRECIST' });
  const ipfs = (s: SubjectInput) => derivePfs(deriveVisitResponses(s, { irecist: true }), s, I, { irecist: true });
  test('iUPD confirmed as iCPD: the event is dated at the iUPD', () => {
    expect(ipfs(subj([[0, 400], [42, 500], [84, 560]]))).toMatchObject({ adt: day(42), cnsr: 0 });
  });
  test('iUPD that resets (pseudo-progression) is not an event', () => {
    expect(ipfs(subj([[0, 400], [42, 500], [84, 380]]))).toMatchObject({ adt: day(84), cnsr: 1 });
  });
  test('iUPD with no further assessment counts as progression', () => {
    expect(ipfs(subj([[0, 400], [42, 380], [84, 500]]))).toMatchObject({ adt: day(84), cnsr: 0 });
  });
});

describe('duration of response', () => {
  test('from the first confirmed response to PD; null for non-responders', () => {
    const s = subj([[0, 400], [42, 200], [84, 180], [126, 300]]);
    const r = deriveVisitResponses(s);
    const first = firstResponseDate(r, s, S, true);
    expect(first).toBe(day(42));
    expect(deriveDor(r, s, S, first)).toMatchObject({ startdt: day(42), adt: day(126), cnsr: 0, aval: 85 });
    const nr = subj([[0, 400], [42, 380]]);
    expect(deriveDor(deriveVisitResponses(nr), nr, S, firstResponseDate(deriveVisitResponses(nr), nr, S, true))).toBeNull();
  });
  test('responder without progression is censored at the last adequate assessment', () => {
    const s = subj([[0, 400], [42, 200], [84, 180]]);
    const r = deriveVisitResponses(s);
    expect(deriveDor(r, s, S, firstResponseDate(r, s, S, true))).toMatchObject({ adt: day(84), cnsr: 1, aval: 43 });
  });
  test('iso helper sanity', () => expect(iso(2024, 2, 29)).toBe('2024-02-29'));
});
