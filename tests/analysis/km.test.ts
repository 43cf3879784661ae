/**
 * Kaplan-Meier, Greenwood, pointwise intervals (log, log-log, plain), quantiles with Brookmeyer-Crowley
 * intervals, landmark rates and numbers at risk, against R survival (survfit, quantile.survfit,
 * print.survfit's table, summary.survfit) on: hand-made edge cases, seeded exponential trials with ties,
 * a simulated trial's ADTTE (PFS, DOR) from the endpoint engine, and the CDISC pilot ADTTE fixture.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DAYS_PER_MONTH, kaplanMeier, medianSurvival, survivalAt, survivalQuantiles, timeToEventFromAdtte, type TimeToEvent } from '@app/analysis';
import { readDatasetJson } from '@app/datasets';
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';
import { expectInputError } from '../support/assertions';
import { compareKmWithR } from './km-check';
import { exponentialTrial, recordColumns, runR } from './r';

const LANDMARKS = [6 * DAYS_PER_MONTH, 12 * DAYS_PER_MONTH];
const rec = (time: number, event: boolean, group?: string): TimeToEvent => ({ time, event, ...(group ? { group } : {}) });

describe('Kaplan-Meier against R survival', () => {
  test('hand-made edge cases: ties of events, censoring at event times, a flat stretch at exactly S = 0.5, a curve ending at 0.5, a curve dropping to 0', async () => {
    const recs: TimeToEvent[] = [
      // A: tied events at 1 and 2, a censoring tied with the events at 2 and at 4; S = 0.75 exactly on [1, 2), S = 0.5
      // exactly on [2, 4) (quantiles are the midpoints 1.5 and 3); the last subject has the event (S = 0, std.err Inf)
      ...[[1, 1], [1, 1], [2, 1], [2, 1], [2, 0], [4, 1], [4, 0], [6, 1]].map(([t, e]) => rec(t, e === 1, 'A')),
      // C: no event at all (median and every bound not reached); D: censored before the first event (log-log NA at S = 1)
      ...[[3, 0], [5, 0], [9, 0]].map(([t, e]) => rec(t, e === 1, 'C')),
      ...[[0.5, 0], [1.5, 0], [2.5, 1], [2.5, 1], [3.5, 1], [4.5, 0], [6, 1], [6, 1]].map(([t, e]) => rec(t, e === 1, 'D')),
      // E: flat stretch at exactly 0.75 and 0.25 (quartiles as midpoints), event at time 0
      ...[[0, 1], [2, 1], [3, 1], [3, 0], [8, 0], [9, 1], [9, 1], [10, 1], [11, 1]].map(([t, e]) => rec(t, e === 1, 'E')),
    ];
    await compareKmWithR(recs, [0, 2, 4, 5.5, 6, 100], [0, 1, 2, 4.5, 6, 12]);
    const [a, c] = kaplanMeier(recs);
    expect(a.surv[a.surv.length - 1]).toBe(0);
    expect(a.stdErr[a.stdErr.length - 1]).toBe(Infinity);
    expect(survivalQuantiles(a, [0.25, 0.5]).map((q) => q.time)).toEqual([1.5, 3]);
    expect(medianSurvival(c)).toMatchObject({ time: null, lower: null, upper: null });
    expect(medianSurvival(c).notes[0]).toMatch(/median not reached/);
  });

  test('a curve that ends exactly at S = 0.5: quantile.survfit takes the midpoint of that time and the last follow-up, print.survfit the first time', async () => {
    const recs = [[1, 1], [2, 1], [3, 0], [4, 0]].map(([t, e]) => rec(t, e === 1));
    const r = await runR(`f <- survfit(Surv(time, status) ~ 1, data = d); out("q", quantile(f, 0.5)$quantile); out("print", summary(f)$table["median"])`, recordColumns(recs));
    const m = medianSurvival(kaplanMeier(recs)[0]);
    expect([m.time]).toEqual(r.q);
    expect(m.time).toBe((2 + 4) / 2);
    expect(r.print).toEqual([2]); // the one place the two R functions differ; we follow quantile.survfit (README)
  });

  test('seeded exponential trials with ties (two and three arms), 90% and 95% intervals', async () => {
    let worst = 0;
    for (const [seed, n, arms] of [[1, 80, 2], [2, 300, 2], [3, 240, 3]] as const) {
      const recs = exponentialTrial({ n, seed, arms: ['Control', 'Drug A', 'Drug B'].slice(0, arms), hr: [1, 0.6, 0.8] });
      const tied = new Set<number>();
      const seen = new Set<number>();
      for (const r of recs) (seen.has(r.time) ? tied : seen).add(r.time);
      expect(tied.size).toBeGreaterThan(2);
      worst = Math.max(worst, await compareKmWithR(recs, LANDMARKS, [0, 90, 180, 365, 730]));
    }
    worst = Math.max(worst, await compareKmWithR(exponentialTrial({ n: 150, seed: 9 }), LANDMARKS, [0, 100, 1000], 0.9));
    expect(worst).toBeLessThan(1e-9);
  });

  test('a simulated trial: PFS, DOR (responders) and time to QLQ-C30 deterioration from the endpoint engine ADTTE', async () => {
    const study = simulateTrial({ subjects: 240, visits: 10, seed: 13 });
    const adtte = deriveEndpointDatasets(study, {}, { blinded: false }).datasets.find((d) => d.name === 'ADTTE')!;
    for (const [paramcd, minEvents] of [['PFS', 50], ['DOR', 1], ['TTDPF2', 10]] as const) {
      const recs = timeToEventFromAdtte(adtte, { paramcd });
      expect(new Set(recs.map((r) => r.group)).size).toBe(2);
      expect(recs.filter((r) => r.event).length).toBeGreaterThanOrEqual(minEvents);
      await compareKmWithR(recs, LANDMARKS, [0, 42, 84, 168, 336]);
    }
  });

  test('the CDISC pilot ADTTE (time to first dermatologic event, three arms)', async () => {
    const adtte = readDatasetJson(readFileSync(join(__dirname, '..', 'fixtures', 'cdisc', 'dataset-json', 'adtte.json')));
    const recs = timeToEventFromAdtte(adtte, { paramcd: 'TTDE', group: 'TRTA' });
    expect(recs).toHaveLength(254);
    await compareKmWithR(recs, [7, 30, 90, 180], [0, 30, 60, 90, 120, 150, 180]);
  });

  test('refuses bad input with a typed error', () => {
    expectInputError(() => kaplanMeier([]), 'analysis.no-subjects');
    expectInputError(() => kaplanMeier([rec(-1, true)]), 'analysis.bad-input', /time -1/);
    expectInputError(() => kaplanMeier([rec(NaN, true)]), 'analysis.bad-input');
    expectInputError(() => kaplanMeier([rec(1, true, 'A'), rec(2, true)]), 'analysis.bad-input', /some records have a group/);
    expectInputError(() => kaplanMeier([rec(1, true)], { confType: 'logit' as never }), 'analysis.bad-input');
    expectInputError(() => survivalAt(kaplanMeier([rec(1, true)])[0], [-1]), 'analysis.bad-input');
    expectInputError(() => survivalQuantiles(kaplanMeier([rec(1, true)])[0], [1.5]), 'analysis.bad-input');
  });
});
