/**
 * summariseTimeToEvent: the per-parameter bundle a report uses. Its numbers are those of the functions
 * checked against R elsewhere (km, logrank, cox tests); here: that it assembles them faithfully, and that
 * every case the issue lists as bad input gives a null with a reason, never a throw or a NaN.
 */
import { coxPh, DAYS_PER_MONTH, kaplanMeier, logRankTest, medianSurvival, summariseTimeToEvent, survivalAt, timeToEventFromAdtte, type TimeToEvent } from '@app/analysis';
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';
import { exponentialTrial } from './r';

const noNaN = (x: unknown): void => expect(JSON.stringify(x, (_k, v) => (typeof v === 'number' && Number.isNaN(v) ? 'NaN!' : v))).not.toContain('NaN!');

describe('summariseTimeToEvent', () => {
  test('PFS of a simulated trial: per-arm medians, quartiles, 6/12-month rates, at-risk table, log-rank and HR as the parts compute them', () => {
    const study = simulateTrial({ subjects: 200, visits: 10, seed: 8 });
    const adtte = deriveEndpointDatasets(study, {}, { blinded: false }).datasets.find((d) => d.name === 'ADTTE')!;
    const recs = timeToEventFromAdtte(adtte, { paramcd: 'PFS' });
    const s = summariseTimeToEvent(recs, { reference: 'Placebo', confType: 'log-log' });
    expect(s.arms.map((a) => a.group)).toEqual(['Drug X 10 mg', 'Placebo']);
    const curves = kaplanMeier(recs, { confType: 'log-log' });
    expect(s.curves).toEqual(curves);
    s.arms.forEach((a, k) => {
      expect(a.median).toEqual(medianSurvival(curves[k]));
      expect(a.quartiles.map((q) => q.p)).toEqual([0.25, 0.75]);
      expect(a.landmarks).toEqual(survivalAt(curves[k], [6 * DAYS_PER_MONTH, 12 * DAYS_PER_MONTH]));
      expect(a.atRisk[0]).toEqual({ time: 0, nRisk: a.n });
      expect(a.atRisk[1].time).toBeCloseTo(3 * DAYS_PER_MONTH, 12);
    });
    expect(s.logRank).toEqual(logRankTest(recs));
    expect(s.cox).toEqual(coxPh(recs, { reference: 'Placebo' }));
    expect(s.cox!.terms[0].name).toBe('groupDrug X 10 mg');
    expect(s.notes).toEqual([]);
    noNaN(s);
  });

  test('a single arm (or a blinded cut without arms): curves and medians, log-rank and HR null with the reason', () => {
    const one = exponentialTrial({ n: 40, seed: 2 }).map((r) => ({ ...r, group: 'Drug' }));
    const s = summariseTimeToEvent(one);
    expect(s.arms).toHaveLength(1);
    expect(s.logRank).toBeNull();
    expect(s.cox).toBeNull();
    expect(s.notes.map((n) => n.code)).toEqual(['analysis.single-arm', 'analysis.single-arm']);
    expect(s.notes[1].message).toMatch(/hazard ratio: a hazard ratio needs two groups/);
    const blinded = summariseTimeToEvent(one.map(({ group: _g, ...r }) => r));
    expect(blinded.arms[0].group).toBeNull();
    expect(blinded.notes).toEqual([{ code: 'analysis.single-arm', message: expect.stringMatching(/blinded or single-arm/) }]);
    noNaN([s, blinded]);
  });

  test('zero events: medians not reached (null with reason), log-rank and HR null with analysis.no-events', () => {
    const none = exponentialTrial({ n: 30, seed: 3 }).map((r) => ({ ...r, event: false }));
    const s = summariseTimeToEvent(none);
    for (const a of s.arms) {
      expect(a.median).toMatchObject({ time: null, lower: null, upper: null });
      expect(a.median.notes[0]).toMatch(/median not reached/);
      expect(a.landmarks.every((l) => l.surv === 1 || l.surv === null)).toBe(true);
    }
    expect(s.logRank).toBeNull();
    expect(s.cox).toBeNull();
    expect(s.notes.map((n) => n.code)).toEqual(['analysis.no-events', 'analysis.no-events']);
    noNaN(s);
  });

  test('too few events for a median in one arm; a stratum without events', () => {
    const recs: TimeToEvent[] = [...exponentialTrial({ n: 100, seed: 4, strata: ['A', 'B'] }), ...[10, 20, 30, 40].map((t, i): TimeToEvent => ({ time: t, event: false, group: i % 2 ? 'Drug' : 'Control', stratum: 'C' }))];
    // Drug arm: only 2 events among 52 subjects, the median is not reached
    let drugEvents = 0;
    const few = recs.map((r) => (r.group === 'Drug' && r.event && drugEvents++ >= 2 ? { ...r, event: false } : r));
    const s = summariseTimeToEvent(few, { stratified: true });
    const drug = s.arms.find((a) => a.group === 'Drug')!;
    expect(drug.events).toBe(2);
    expect(drug.median.time).toBeNull();
    expect(drug.median.notes.join(' ')).toMatch(/median not reached/);
    expect(s.logRank).not.toBeNull();
    expect(s.cox).not.toBeNull();
    expect(s.notes).toEqual([
      { code: 'analysis.stratum-no-events', message: expect.stringMatching(/stratum C: no events, it contributes nothing to the log-rank test/) },
      { code: 'analysis.stratum-no-events', message: expect.stringMatching(/stratum C: no events, it contributes nothing to the Cox model/) },
    ]);
    noNaN(s);
  });
});
