/**
 * EORTC QLQ-C30 scoring (Scoring Manual 3rd ed.), change from baseline, time to deterioration, wearables.
 */
import { deriveTtd, isDeterioration, qlqChangeFromBaseline, QLQ_C30_SCALES, resolveSettings, scoreQlqC30, scoreQlqScale, weeklySteps, type StepDay, type SubjectInput } from '@app/endpoints';

const S = resolveSettings({});
const scale = (c: string) => QLQ_C30_SCALES.find((s) => s.code === c)!;
/** 30 answers, all 1 (best function / no symptom) except those given; QL2 items 29-30 default 7. */
function items(over: Record<number, number | null> = {}): (number | null)[] {
  const a: (number | null)[] = Array.from({ length: 30 }, (_, i) => (i >= 28 ? 7 : 1));
  for (const [k, v] of Object.entries(over)) a[Number(k) - 1] = v;
  return a;
}

describe('QLQ-C30 scoring manual', () => {
  test('physical functioning: items 1-5 = 1,1,2,2,1 -> RS 1.4 -> (1 - 0.4/3) x 100 = 86.67', () => {
    const s = scoreQlqScale(scale('PF2'), items({ 3: 2, 4: 2 }))!;
    expect(s.value).toBeCloseTo(100 * (1 - 0.4 / 3), 10);
  });
  test('global health status: items 29, 30 = 5, 6 -> RS 5.5 -> (4.5 / 6) x 100 = 75', () => {
    expect(scoreQlqScale(scale('QL2'), items({ 29: 5, 30: 6 }))!.value).toBe(75);
  });
  test('fatigue (symptom): items 10, 12, 18 = 2, 3, 4 -> RS 3 -> (2/3) x 100 = 66.67', () => {
    expect(scoreQlqScale(scale('FA'), items({ 10: 2, 12: 3, 18: 4 }))!.value).toBeCloseTo(200 / 3, 10);
  });
  test('all best answers: functional 100, symptom 0, QL 100', () => {
    const r = scoreQlqC30({ visit: 'B', date: '2024-01-01', items: items() });
    expect(r.scores.PF2!.value).toBe(100);
    expect(r.scores.FA!.value).toBe(0);
    expect(r.scores.QL2!.value).toBe(100);
    expect(Object.keys(r.scores)).toHaveLength(15);
  });
  test('half-items rule: a scale is scored when at least half of its items are answered', () => {
    // EF (4 items): 2 answered -> scored from those 2; 1 answered -> missing
    expect(scoreQlqScale(scale('EF'), items({ 21: null, 22: null, 23: 4, 24: 4 }))!.value).toBe(0);
    expect(scoreQlqScale(scale('EF'), items({ 21: null, 22: null, 23: null }))).toBeNull();
    // PF2 (5 items): 3 needed
    expect(scoreQlqScale(scale('PF2'), items({ 1: null, 2: null }))).not.toBeNull();
    expect(scoreQlqScale(scale('PF2'), items({ 1: null, 2: null, 3: null }))).toBeNull();
    // FA (3 items): 2 needed
    expect(scoreQlqScale(scale('FA'), items({ 10: null }))).not.toBeNull();
    expect(scoreQlqScale(scale('FA'), items({ 10: null, 12: null }))).toBeNull();
    // single-item scale needs its item; 2-item scales need 1
    expect(scoreQlqScale(scale('DY'), items({ 8: null }))).toBeNull();
    expect(scoreQlqScale(scale('QL2'), items({ 29: null, 30: 4 }))!.value).toBe(50);
  });
  test('out-of-range answers are InputErrors', () => {
    expect(() => scoreQlqScale(scale('PF2'), items({ 1: 5 }))).toThrow(/item 1 must be an integer in 1..4/);
    expect(() => scoreQlqScale(scale('QL2'), items({ 29: 8 }))).toThrow(/1..7/);
    expect(() => scoreQlqC30({ visit: 'x', date: '2024-01-01', items: [1, 2] })).toThrow(/30 item answers/);
  });
});

describe('change from baseline and time to deterioration', () => {
  test('a change of exactly -10 points from mixed item counts is a deterioration (exact rationals)', () => {
    // PF2 baseline with 4 answered items summing to 6 (T - n = 2): 100 x (1 - 2/12) = 83.33
    // follow-up with 5 items summing to 9 (T - n = 4): 100 x (1 - 4/15) = 73.33 -> change exactly -10
    const base = scoreQlqScale(scale('PF2'), items({ 1: 2, 2: 2, 3: 1, 4: 1, 5: null }))!;
    const fu = scoreQlqScale(scale('PF2'), items({ 1: 2, 2: 2, 3: 2, 4: 2, 5: 1 }))!;
    const ch = { num: fu.num * base.den - base.num * fu.den, den: fu.den * base.den, value: fu.value - base.value };
    expect(isDeterioration('functional', ch, 10)).toBe(true);
    expect(isDeterioration('symptom', ch, 10)).toBe(false);
  });
  const subj = (answers: Record<number, number | null>[], extra: Partial<SubjectInput> = {}): SubjectInput => ({
    usubjid: 'S', randDate: '2024-01-01', assessments: [],
    qlqc30: answers.map((a, i) => ({ visit: i === 0 ? 'BASELINE' : `W${6 * i}`, date: new Date(Date.UTC(2024, 0, 1) + i * 42 * 86400000).toISOString().slice(0, 10), items: items(a) })),
    ...extra,
  });
  test('change from baseline: baseline = last score on/before randomisation', () => {
    const c = qlqChangeFromBaseline(subj([{ 29: 6, 30: 6 }, { 29: 5, 30: 5 }]).qlqc30!, '2024-01-01').filter((x) => x.code === 'QL2');
    expect(c[0].change).toBeNull();
    expect(c[1].change!.value).toBeCloseTo(-100 / 6, 10);
  });
  test('functional scale: a decrease >= 10 is deterioration; symptom scale: an increase', () => {
    // QL2: 7,7 (100) -> 6,6 (83.3): -16.7 => event at visit 1
    const s = subj([{}, { 29: 6, 30: 6 }]);
    expect(deriveTtd(s, 'QL2', S)).toMatchObject({ cnsr: 0, adt: '2024-02-12', aval: 43 });
    // Fatigue from 0 to 11.1 (one item 1 -> 2): +11.1 => event
    const f = subj([{}, { 10: 2 }]);
    expect(deriveTtd(f, 'FA', S)).toMatchObject({ cnsr: 0, adt: '2024-02-12' });
    // Fatigue improving cannot deteriorate: censored at last questionnaire
    const g = subj([{ 10: 3 }, { 10: 1 }]);
    expect(deriveTtd(g, 'FA', S)).toMatchObject({ cnsr: 1, adt: '2024-02-12' });
  });
  test('with confirmation: a deterioration that recovers at the next questionnaire is not an event', () => {
    const s = subj([{}, { 29: 5, 30: 5 }, { 29: 7, 30: 7 }, { 29: 5, 30: 5 }, { 29: 5, 30: 6 }]);
    expect(deriveTtd(s, 'QL2', S)).toMatchObject({ cnsr: 0, adt: '2024-02-12' });
    expect(deriveTtd(s, 'QL2', resolveSettings({ ttdConfirmation: true }))).toMatchObject({ cnsr: 0, adt: '2024-05-06' }); // visit 3 = day 126
  });
  test('no post-baseline questionnaire: censored at randomisation', () => {
    expect(deriveTtd(subj([{}]), 'QL2', S)).toMatchObject({ cnsr: 1, adt: '2024-01-01', aval: 1 });
  });
});

describe('wearable steps', () => {
  const day = (o: number) => new Date(Date.UTC(2024, 0, 1) + o * 86400000).toISOString().slice(0, 10);
  test('valid days (>= 600 min wear), weekly means over valid days, % change from baseline week', () => {
    const days: StepDay[] = [];
    for (let o = -7; o < 0; o++) days.push({ date: day(o), steps: 4000, wearMinutes: 700 });
    for (let o = 0; o < 7; o++) days.push({ date: day(o), steps: o === 0 ? 99999 : 5000, wearMinutes: o === 0 ? 599 : 600 });
    for (let o = 7; o < 14; o++) days.push({ date: day(o), steps: 3000, wearMinutes: o < 11 ? 100 : 800 }); // 3 valid days only
    const w = weeklySteps(days, '2024-01-01', S);
    expect(w.map((x) => [x.week, x.validDays, x.mean, x.pctChange])).toEqual([
      [0, 7, 4000, null],
      [1, 6, 5000, 25],
      [2, 3, null, null],
    ]);
    expect(w[1].endDate).toBe('2024-01-07');
    // with a 3-valid-day rule week 2 counts: 3000 vs 4000 = -25 %
    expect(weeklySteps(days, '2024-01-01', resolveSettings({ wearMinValidDaysPerWeek: 3 }))[2].pctChange).toBe(-25);
  });
});
