/**
 * RECIST 1.1 worked cases (Eisenhauer et al., Eur J Cancer 2009; sections 3.3, 4.2, 4.3, tables 1-2).
 */
import { isInputError } from '@app/core';
import {
  deriveVisitResponses, meetsPd, meetsPr, nonTargetResponse, overallResponse, sumOfDiameters, targetResponse,
  targetsInCr, targetSelectionWarnings, validateTargetSelection, lesionValue, mmToTenths, type NewLesions, type SubjectInput,
} from '@app/endpoints';
import { subjectWithSums, tl, visit } from './helpers';

const responses = (s: SubjectInput) => deriveVisitResponses(s).map((r) => r.overall);

describe('threshold arithmetic in integer tenths of mm', () => {
  test('floating point really does get these wrong (the trap we avoid)', () => {
    expect(8.2 - 3.2).toBeLessThan(5);
    expect((30.6 / 25.5 - 1) * 100).toBeLessThan(20);
  });
  test('3.2 -> 8.2 mm is exactly +5.0 mm: PD from a 3.2 mm nadir (and +156 %)', () => {
    // baseline 20 mm, PR to 3.2 mm (nadir), then 8.2 mm
    const s = subjectWithSums([200, 32, 82]);
    expect(responses(s)).toEqual(['PR', 'PD']);
    expect(meetsPd(mmToTenths('8.2'), mmToTenths('3.2'))).toBe(true);
  });
  test('3.2 -> 8.1 mm is +4.9 mm: not PD despite +153 % (the 5 mm rule)', () => {
    expect(responses(subjectWithSums([200, 32, 81]))).toEqual(['PR', 'PR']);
  });
  test('25.5 -> 30.6 mm is exactly +20 % (+5.1 mm): PD', () => {
    expect(responses(subjectWithSums([255, 306]))).toEqual(['PD']);
    expect(responses(subjectWithSums([255, 305]))).toEqual(['SD']);
  });
  test('exactly -30 % from baseline is PR; -29.9 % is SD', () => {
    expect(responses(subjectWithSums([600, 420]))).toEqual(['PR']);
    expect(meetsPr(701, 1000)).toBe(false);
    expect(meetsPr(700, 1000)).toBe(true);
  });
  test('mmToTenths parses decimal strings without binary rounding', () => {
    expect(mmToTenths('3.2')).toBe(32);
    expect(mmToTenths('33.6128')).toBe(336);
    expect(mmToTenths('7.25')).toBe(73);
    expect(mmToTenths(21)).toBe(210);
    expect(() => mmToTenths('-1')).toThrow();
  });
});

describe('PR judged from baseline, PD from nadir', () => {
  test('100 -> 60 -> 75 mm: +25 % and +15 mm over the nadir is PD although still -25 % from baseline', () => {
    expect(responses(subjectWithSums([1000, 600, 750]))).toEqual(['PR', 'PD']);
  });
  test('100 -> 60 -> 70 mm: -30 % from baseline still PR (only +16.7 % over nadir)', () => {
    expect(responses(subjectWithSums([1000, 600, 700]))).toEqual(['PR', 'PR']);
  });
  test('100 -> 90 -> 85 -> 103: SD, SD, then PD against the 85 nadir (+21 %, +18 mm)', () => {
    expect(responses(subjectWithSums([1000, 900, 850, 1030]))).toEqual(['SD', 'SD', 'PD']);
  });
  test('an incomplete (NE) visit never becomes the nadir', () => {
    // visit 2: two lesions, one not assessed -> partial sum 30 mm must not lower the nadir
    const s: SubjectInput = {
      usubjid: 'S', randDate: '2024-01-01',
      assessments: [
        visit(0, '2024-01-01', [tl('T1', 400), tl('T2', 400)]),
        visit(1, '2024-02-12', [tl('T1', 300), tl('T2', 'NOT_ASSESSED')]),
        visit(2, '2024-03-25', [tl('T1', 350), tl('T2', 400)]),
      ],
    };
    const r = deriveVisitResponses(s);
    expect(r.map((x) => x.overall)).toEqual(['NE', 'SD']);
    expect(r[1].nadir).toBe(800);
  });
});

describe('special lesion values, split and merge', () => {
  test('TOO_SMALL counts as 5 mm, DISAPPEARED as 0', () => {
    expect(lesionValue(tl('a', 'TOO_SMALL'))).toBe(50);
    expect(lesionValue(tl('a', 'DISAPPEARED'))).toBe(0);
    expect(lesionValue(tl('a', 'NOT_ASSESSED'))).toBeNull();
    // 20 mm -> too small (5 mm): -75 % PR, not CR (a non-nodal lesion is still present)
    expect(responses(subjectWithSums([200, 'TOO_SMALL' as never]))).toEqual(['PR']);
  });
  test('too small lesion reappearing: 0 nadir -> 5 mm is +5 mm: PD', () => {
    const s = subjectWithSums([200, 0, 50]);
    expect(responses(s)).toEqual(['CR', 'PD']);
  });
  test('split lesion = sum of the fragments; merged lesion = 0 and the coalesced lesion carries the diameter', () => {
    const b = [tl('T1', 300, 'LIVER'), tl('T2', 200, 'LUNG'), tl('T3', 200, 'LUNG')];
    const f = [tl('T1', 0, 'LIVER', false, { fragments: [120, 100] }), tl('T2', 260, 'LUNG'), tl('T3', 0, 'LUNG', false, { mergedInto: 'T2' })];
    const ids = ['T1', 'T2', 'T3'];
    expect(sumOfDiameters(b, ids).sum).toBe(700);
    expect(sumOfDiameters(f, ids)).toEqual({ sum: 480, complete: true, missing: [] });
    const fNa = [tl('T1', 0, 'LIVER', false, { fragments: [120, 'NOT_ASSESSED'] }), ...f.slice(1)];
    expect(sumOfDiameters(fNa, ids).complete).toBe(false);
  });
});

describe('CR with lymph nodes', () => {
  const base = [tl('N1', 200, 'LYMPH NODE', true), tl('L1', 300, 'LIVER')];
  test('node shrinking to < 10 mm short axis and other lesions gone = CR although the sum is 9.9 mm', () => {
    const s: SubjectInput = { usubjid: 'S', randDate: '2024-01-01', assessments: [visit(0, '2024-01-01', base), visit(1, '2024-02-12', [tl('N1', 99, 'LYMPH NODE', true), tl('L1', 'DISAPPEARED', 'LIVER')])] };
    const r = deriveVisitResponses(s)[0];
    expect(r.overall).toBe('CR');
    expect(r.sum).toBe(99);
  });
  test('node at exactly 10.0 mm is not normal: PR, not CR', () => {
    const s: SubjectInput = { usubjid: 'S', randDate: '2024-01-01', assessments: [visit(0, '2024-01-01', base), visit(1, '2024-02-12', [tl('N1', 100, 'LYMPH NODE', true), tl('L1', 0, 'LIVER')])] };
    expect(deriveVisitResponses(s)[0].overall).toBe('PR');
  });
  test('targetsInCr needs every lesion assessed', () => {
    expect(targetsInCr([tl('N1', 50, 'LYMPH NODE', true)], ['N1', 'L1'])).toBe(false);
  });
});

describe('NE visits', () => {
  test('a target not assessed makes the target response NE', () => {
    const t = sumOfDiameters([tl('T1', 100)], ['T1', 'T2']);
    expect(targetResponse(t, 400, 400, false)).toBe('NE');
  });
  test('unless the visit is PD anyway (assessed lesions already +20 % and +5 mm over the nadir)', () => {
    const t = sumOfDiameters([tl('T1', 500)], ['T1', 'T2']);
    expect(targetResponse(t, 400, 400, false)).toBe('PD');
  });
  test('a baseline lesion absent from the follow-up record counts as not assessed', () => {
    const s: SubjectInput = { usubjid: 'S', randDate: '2024-01-01', assessments: [visit(0, '2024-01-01', [tl('T1', 300), tl('T2', 300)]), visit(1, '2024-02-12', [tl('T1', 200)])] };
    const r = deriveVisitResponses(s)[0];
    expect(r.overall).toBe('NE');
    expect(r.notes.join()).toMatch(/T2/);
  });
});

describe('non-target, new lesions, overall response tables', () => {
  test('non-target response', () => {
    const nt = (st: string[]) => st.map((status, i) => ({ lesionId: `N${i}`, status: status as never, source: { readId: 'x' } }));
    const ids = ['N0', 'N1'];
    expect(nonTargetResponse(nt(['ABSENT', 'ABSENT']), ids)).toBe('CR');
    expect(nonTargetResponse(nt(['ABSENT', 'PRESENT']), ids)).toBe('NON-CR/NON-PD');
    expect(nonTargetResponse(nt(['NOT_ASSESSED', 'PRESENT']), ids)).toBe('NE');
    expect(nonTargetResponse(nt(['NOT_ASSESSED', 'UNEQUIVOCAL_PROGRESSION']), ids)).toBe('PD');
    expect(nonTargetResponse([], [])).toBe('NA');
  });
  test('RECIST 1.1 table 1 (target disease), every row', () => {
    expect(overallResponse('CR', 'CR', 'NO')).toBe('CR');
    expect(overallResponse('CR', 'NA', 'NO')).toBe('CR');
    expect(overallResponse('CR', 'NON-CR/NON-PD', 'NO')).toBe('PR');
    expect(overallResponse('CR', 'NE', 'NO')).toBe('PR');
    expect(overallResponse('PR', 'NON-CR/NON-PD', 'NO')).toBe('PR');
    expect(overallResponse('PR', 'NE', 'NO')).toBe('PR');
    expect(overallResponse('SD', 'NE', 'NO')).toBe('SD');
    expect(overallResponse('NE', 'NON-CR/NON-PD', 'NO')).toBe('NE');
    expect(overallResponse('PD', 'CR', 'NO')).toBe('PD');
    expect(overallResponse('SD', 'PD', 'NO')).toBe('PD');
    expect(overallResponse('CR', 'CR', 'YES')).toBe('PD');
    expect(overallResponse('PR', 'CR', 'EQUIVOCAL')).toBe('PR');
  });
  test('RECIST 1.1 table 2 (non-target disease only)', () => {
    expect(overallResponse('NA', 'CR', 'NO')).toBe('CR');
    expect(overallResponse('NA', 'NON-CR/NON-PD', 'NO')).toBe('NON-CR/NON-PD');
    expect(overallResponse('NA', 'NE', 'NO')).toBe('NE');
    expect(overallResponse('NA', 'PD', 'NO')).toBe('PD');
    expect(overallResponse('NA', 'CR', 'YES')).toBe('PD');
  });
  test('a non-target-only subject is derived with table 2', () => {
    const s: SubjectInput = {
      usubjid: 'S', randDate: '2024-01-01',
      assessments: [visit(0, '2024-01-01', [], { nt: ['PRESENT', 'PRESENT'] }), visit(1, '2024-02-12', [], { nt: ['ABSENT', 'PRESENT'] }), visit(2, '2024-03-25', [], { nt: ['ABSENT', 'ABSENT'] })],
    };
    expect(responses(s)).toEqual(['NON-CR/NON-PD', 'CR']);
  });
});

describe('equivocal new lesions (RECIST 1.1 section 4.3.2)', () => {
  const mk = (newL: NewLesions[]): SubjectInput => ({
    usubjid: 'S', randDate: '2024-01-01',
    assessments: [visit(0, '2024-01-01', [tl('T1', 400)]), ...newL.map((n, i) => visit(i + 1, ['2024-02-12', '2024-03-25', '2024-05-06'][i], [tl('T1', 380)], { newL: n }))],
  });
  test('equivocal then confirmed: PD dated at the first (equivocal) scan', () => {
    const r = deriveVisitResponses(mk(['EQUIVOCAL', 'YES']));
    expect(r.map((x) => x.overall)).toEqual(['PD', 'PD']);
    expect(r[0].notes.join()).toMatch(/backdated/);
  });
  test('equivocal that resolves is not PD; backdating can be switched off', () => {
    expect(deriveVisitResponses(mk(['EQUIVOCAL', 'NO', 'YES'])).map((x) => x.overall)).toEqual(['SD', 'SD', 'PD']);
    expect(deriveVisitResponses(mk(['EQUIVOCAL', 'YES']), { backdateEquivocal: false }).map((x) => x.overall)).toEqual(['SD', 'PD']);
  });
});

describe('baseline target selection', () => {
  const expectCode = (f: () => void, code: string, msg: RegExp) => {
    try {
      f();
    } catch (e) {
      expect(isInputError(e)).toBe(true);
      expect((e as { code: string }).code).toBe(code);
      expect((e as Error).message).toMatch(msg);
      return;
    }
    throw new Error('expected an InputError');
  };
  test('more than 5 target lesions', () => {
    const b = visit(0, '2024-01-01', [1, 2, 3, 4, 5, 6].map((i) => tl(`T${i}`, 200)));
    expectCode(() => validateTargetSelection(b, 'S-9'), 'recist.bad-target-selection', /6 target lesions.*at most 5/);
  });
  test('more than 2 per organ', () => {
    const b = visit(0, '2024-01-01', [tl('T1', 200, 'Liver'), tl('T2', 200, 'LIVER'), tl('T3', 200, 'liver ')]);
    expectCode(() => validateTargetSelection(b, 'S-9'), 'recist.bad-target-selection', /3 target lesions in organ LIVER \(T1, T2, T3\)/);
  });
  test('a target without a measured baseline diameter is an error; under-size targets are warnings', () => {
    expectCode(() => validateTargetSelection(visit(0, '2024-01-01', [tl('T1', 'TOO_SMALL')])), 'recist.bad-target-selection', /measured diameter/);
    expect(() => validateTargetSelection(visit(0, '2024-01-01', [tl('T1', 99)]))).not.toThrow();
    expect(targetSelectionWarnings(visit(0, '2024-01-01', [tl('T1', 99), tl('T2', 100)]), 'S')).toEqual([expect.stringMatching(/T1 measures 9.9 mm.*>= 10 mm/)]);
    expect(targetSelectionWarnings(visit(0, '2024-01-01', [tl('N1', 149, 'LYMPH NODE', true), tl('N2', 150, 'LYMPH NODE', true)]))).toEqual([expect.stringMatching(/N1 .*short axis >= 15 mm/)]);
  });
  test('5 lesions, 2 per organ is accepted; derivation throws on bad selection', () => {
    const ok = visit(0, '2024-01-01', [tl('T1', 200, 'A'), tl('T2', 200, 'A'), tl('T3', 200, 'B'), tl('T4', 200, 'B'), tl('T5', 200, 'C')]);
    expect(() => validateTargetSelection(ok)).not.toThrow();
    const bad: SubjectInput = { usubjid: 'S', randDate: '2024-01-01', assessments: [visit(0, '2024-01-01', [tl('T1', 200, 'A'), tl('T2', 200, 'A'), tl('T3', 200, 'A')])] };
    expect(() => deriveVisitResponses(bad)).toThrow(/organ A/);
  });
  test('bad measurement values are InputErrors', () => {
    expect(() => lesionValue(tl('T1', 12.5))).toThrow(/integer number of tenths/);
    expect(() => lesionValue(tl('T1', -1))).toThrow();
  });
});

describe('iRECIST', () => {
  test('iUPD confirmed as iCPD by a further >= 5 mm increase', () => {
    const s = subjectWithSums([400, 500, 560]);
    const r = deriveVisitResponses(s, { irecist: true });
    expect(r.map((x) => x.iOverall)).toEqual(['iUPD', 'iCPD']);
  });
  test('iUPD followed by shrinkage resets (pseudo-progression), a later PD is a new iUPD', () => {
    const s = subjectWithSums([400, 500, 380, 300, 400]);
    const r = deriveVisitResponses(s, { irecist: true });
    expect(r.map((x) => x.overall)).toEqual(['PD', 'SD', 'SD', 'PD']);
    expect(r.map((x) => x.iOverall)).toEqual(['iUPD', 'iSD', 'iSD', 'iUPD']);
  });
  test('iUPD still PD without further increase stays iUPD', () => {
    const r = deriveVisitResponses(subjectWithSums([400, 500, 520]), { irecist: true });
    expect(r.map((x) => x.iOverall)).toEqual(['iUPD', 'iUPD']);
  });
});
