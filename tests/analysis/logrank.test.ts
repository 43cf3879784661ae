/**
 * Log-rank test (unstratified and stratified) against R survival's survdiff: observed and expected
 * counts, the variance matrix, chi-square and p-value; and the refusals (one arm, no events) and notes
 * (a stratum without events).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { logRankTest, sortedLevels, timeToEventFromAdtte, type TimeToEvent } from '@app/analysis';
import { readDatasetJson } from '@app/datasets';
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';
import { expectInputError } from '../support/assertions';
import { expectCounts, expectSame } from './compare';
import { exponentialTrial, recordColumns, rStrings, runR } from './r';

async function compareWithR(recs: readonly TimeToEvent[], stratified: boolean): Promise<void> {
  const groups = sortedLevels(recs.map((r) => r.group!));
  const r = await runR(
    `
d$g <- factor(d$grp, levels = ${rStrings(groups)})
f <- survdiff(Surv(time, status) ~ g${stratified ? ' + strata(strat)' : ''}, data = d)
o <- f$obs; e <- f$exp
if (is.matrix(o)) { o <- rowSums(o); e <- rowSums(e) }
out("obs", o); out("exp", e); out("var", f$var); out("chisq", f$chisq); out("p", f$pvalue); out("df", sum(e > 0) - 1)
`,
    recordColumns(recs),
  );
  const ours = logRankTest(recs, { stratified });
  expect(ours.groups).toEqual(groups);
  expectCounts('observed', ours.observed, r.obs);
  expectSame('expected', ours.expected, r.exp, 1e-9);
  expectSame('variance', ours.variance.flat(), r.var, 1e-9); // symmetric, so row/column order does not matter
  expectSame('chisq', [ours.chisq], r.chisq, 1e-9);
  expect([ours.df]).toEqual(r.df);
  expectSame('p', [ours.p], r.p, 1e-9);
}

describe('log-rank test against R survdiff', () => {
  test('seeded two- and three-arm trials with tied times, unstratified and stratified', async () => {
    await compareWithR(exponentialTrial({ n: 200, seed: 21 }), false);
    await compareWithR(exponentialTrial({ n: 200, seed: 21, strata: ['ECOG 0', 'ECOG 1', 'ECOG 2'] }), true);
    await compareWithR(exponentialTrial({ n: 240, seed: 22, arms: ['A', 'B', 'C'], hr: [1, 0.5, 0.8] }), false);
    await compareWithR(exponentialTrial({ n: 240, seed: 22, arms: ['A', 'B', 'C'], hr: [1, 0.5, 0.8], strata: ['<65', '>=65'] }), true);
  });

  test('a simulated trial ADTTE (PFS) and the CDISC pilot ADTTE (three arms, stratified by age group)', async () => {
    const study = simulateTrial({ subjects: 200, visits: 10, seed: 5 });
    const adtte = deriveEndpointDatasets(study, {}, { blinded: false }).datasets.find((d) => d.name === 'ADTTE')!;
    await compareWithR(timeToEventFromAdtte(adtte, { paramcd: 'PFS' }), false);
    const pilot = readDatasetJson(readFileSync(join(__dirname, '..', 'fixtures', 'cdisc', 'dataset-json', 'adtte.json')));
    await compareWithR(timeToEventFromAdtte(pilot, { paramcd: 'TTDE', group: 'TRTA' }), false);
    await compareWithR(timeToEventFromAdtte(pilot, { paramcd: 'TTDE', group: 'TRTA', strata: ['AGEGR1', 'SEX'] }), true);
  });

  test('a stratum without events is listed in notes and contributes nothing (R agrees)', async () => {
    const recs = [...exponentialTrial({ n: 120, seed: 3, strata: ['S1', 'S2'] }), ...[5, 9, 12, 15].map((t, i): TimeToEvent => ({ time: t, event: false, group: i % 2 ? 'Drug' : 'Control', stratum: 'S3' }))];
    await compareWithR(recs, true);
    expect(logRankTest(recs, { stratified: true }).notes).toEqual([{ code: 'analysis.stratum-no-events', message: expect.stringMatching(/stratum S3: no events/) }]);
  });

  test('refuses a single arm, zero events, and a stratified test without strata', () => {
    const one = exponentialTrial({ n: 30, seed: 1 }).map((r) => ({ ...r, group: 'Drug' }));
    expectInputError(() => logRankTest(one), 'analysis.single-arm', /at least two groups/);
    const none = exponentialTrial({ n: 30, seed: 1 }).map((r) => ({ ...r, event: false }));
    expectInputError(() => logRankTest(none), 'analysis.no-events');
    expectInputError(() => logRankTest(exponentialTrial({ n: 30, seed: 1 }), { stratified: true }), 'analysis.bad-input', /no stratum/);
  });
});
