/**
 * Cox model against R survival's coxph: coefficients, variance matrix, HR and Wald interval, per-term
 * p, partial log-likelihoods, the likelihood-ratio / Wald / score tests and the number of Newton
 * iterations, for Efron and Breslow ties, with and without strata and a numeric covariate; refusals.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coxPh, sortedLevels, timeToEventFromAdtte, type CoxOptions, type TimeToEvent } from '@app/analysis';
import { readDatasetJson } from '@app/datasets';
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';
import { expectInputError } from '../support/assertions';
import { expectSame } from './compare';
import { exponentialTrial, recordColumns, rStrings, runR } from './r';

/** Fits each option set here and in R (one Rscript run) and compares everything; returns the worst relative difference. */
async function compareWithR(recs: readonly TimeToEvent[], fits: CoxOptions[]): Promise<number> {
  const groups = sortedLevels(recs.map((r) => r.group!));
  const rFits = fits.map((o, k) => {
    const ref = o.reference ?? groups[0];
    const lv = [ref, ...groups.filter((g) => g !== ref)];
    const rhs = ['g', ...(o.covariates ?? []), ...(o.stratified ? ['strata(strat)'] : [])].join(' + ');
    return `
d$g <- factor(d$grp, levels = ${rStrings(lv)})
f <- coxph(Surv(time, status) ~ ${rhs}, data = d, ties = "${o.ties ?? 'efron'}")
s <- summary(f, conf.int = ${o.confLevel ?? 0.95})
p <- "${k}:"
out(paste0(p, "coef"), coef(f)); out(paste0(p, "var"), f$var); out(paste0(p, "loglik"), f$loglik)
out(paste0(p, "se"), s$coefficients[, "se(coef)"]); out(paste0(p, "z"), s$coefficients[, "z"]); out(paste0(p, "p"), s$coefficients[, "Pr(>|z|)"])
out(paste0(p, "hr"), s$conf.int[, 1]); out(paste0(p, "lower"), s$conf.int[, 3]); out(paste0(p, "upper"), s$conf.int[, 4])
out(paste0(p, "lr"), s$logtest); out(paste0(p, "wald"), c(f$wald.test, s$waldtest[2:3])); out(paste0(p, "score"), s$sctest) # summary rounds the Wald statistic to 2 decimals
out(paste0(p, "iter"), f$iter); out(paste0(p, "n"), c(f$n, f$nevent))
`;
  });
  const r = await runR(rFits.join('\n'), recordColumns(recs));
  let worst = 0;
  fits.forEach((o, k) => {
    const p = `${k}:`;
    const fit = coxPh(recs, o);
    const label = JSON.stringify(o);
    const w = (name: string, ours: number[], theirs: (number | null)[]) => (worst = Math.max(worst, expectSame(`${label} ${name}`, ours, theirs)));
    w('coef', fit.terms.map((t) => t.coef), r[`${p}coef`]);
    w('var', fit.variance.flat(), r[`${p}var`]);
    w('loglik', fit.loglik, r[`${p}loglik`]);
    w('se', fit.terms.map((t) => t.se), r[`${p}se`]);
    w('z', fit.terms.map((t) => t.z), r[`${p}z`]);
    w('p', fit.terms.map((t) => t.p), r[`${p}p`]);
    w('hr', fit.terms.map((t) => t.hr), r[`${p}hr`]);
    w('lower', fit.terms.map((t) => t.lower), r[`${p}lower`]);
    w('upper', fit.terms.map((t) => t.upper), r[`${p}upper`]);
    for (const [name, test] of [['lr', fit.likelihoodRatio], ['wald', fit.wald], ['score', fit.score]] as const) w(name, [test.statistic, test.df, test.p], r[`${p}${name}`]);
    expect({ label, iter: [fit.iterations], n: [fit.n, fit.events] }).toEqual({ label, iter: r[`${p}iter`], n: r[`${p}n`] });
    expect(fit.converged).toBe(true);
  });
  return worst;
}

const ALL: CoxOptions[] = [{ ties: 'efron' }, { ties: 'breslow' }];

describe('Cox model against R coxph', () => {
  test('seeded two-arm trials with tied event times: Efron and Breslow, stratified, with a numeric covariate, 90% intervals, the other reference', async () => {
    const recs = exponentialTrial({ n: 300, seed: 31, strata: ['ECOG 0', 'ECOG 1'], covariate: true });
    const worst = await compareWithR(recs, [
      ...ALL,
      { ties: 'efron', stratified: true },
      { ties: 'breslow', stratified: true },
      { ties: 'efron', covariates: ['AGE'] },
      { ties: 'breslow', covariates: ['AGE'], stratified: true },
      { ties: 'efron', confLevel: 0.9, reference: 'Drug' },
    ]);
    expect(worst).toBeLessThan(1e-8);
  });

  test('a three-arm trial (two hazard ratios against the reference)', async () => {
    await compareWithR(exponentialTrial({ n: 240, seed: 32, arms: ['A', 'B', 'C'], hr: [1, 0.5, 0.8], covariate: true }), [...ALL, { covariates: ['AGE'] }, { reference: 'C' }]);
  });

  test('heavy ties (times in 6-week visit units) where Efron and Breslow differ', async () => {
    const recs = exponentialTrial({ n: 200, seed: 33 }).map((r) => ({ ...r, time: Math.ceil(r.time / 42) }));
    await compareWithR(recs, ALL);
    const [e, b] = ALL.map((o) => coxPh(recs, o).terms[0].coef);
    expect(Math.abs(e - b)).toBeGreaterThan(1e-3);
  });

  test('a simulated trial ADTTE (PFS) and the CDISC pilot ADTTE (three arms, stratified by sex, age covariate)', async () => {
    const study = simulateTrial({ subjects: 200, visits: 10, seed: 5 });
    const adtte = deriveEndpointDatasets(study, {}, { blinded: false }).datasets.find((d) => d.name === 'ADTTE')!;
    await compareWithR(timeToEventFromAdtte(adtte, { paramcd: 'PFS' }), [...ALL, { reference: 'Placebo' }]);
    const pilot = readDatasetJson(readFileSync(join(__dirname, '..', 'fixtures', 'cdisc', 'dataset-json', 'adtte.json')));
    const recs = timeToEventFromAdtte(pilot, { paramcd: 'TTDE', group: 'TRTA', strata: ['SEX'], covariates: ['AGE'] });
    await compareWithR(recs, [...ALL, { reference: 'Placebo', covariates: ['AGE'], stratified: true }]);
  });

  test('an arm without events: R warns that the coefficient may be infinite; we note it', async () => {
    const recs = exponentialTrial({ n: 60, seed: 34 }).map((r) => (r.group === 'Drug' ? { ...r, event: false } : r));
    const fit = coxPh(recs);
    expect(fit.notes.map((n) => n.code)).toContain('analysis.cox-infinite-coefficient');
    expect(fit.terms[0].hr).toBeLessThan(1e-3);
    const r = await runR(`f <- withCallingHandlers(coxph(Surv(time, status) ~ factor(grp), data = d), warning = function(w) { out("warned", 1); invokeRestart("muffleWarning") }); out("coef", coef(f)); out("iter", f$iter)`, recordColumns(recs));
    expect(r.warned).toEqual([1]);
    expectSame('coef', [fit.terms[0].coef], r.coef);
    expect([fit.iterations]).toEqual(r.iter);
  });

  test('refuses a single arm, zero events, a singular design, and unknown options', () => {
    const recs = exponentialTrial({ n: 40, seed: 35, covariate: true });
    expectInputError(() => coxPh(recs.map((r) => ({ ...r, group: 'Drug' }))), 'analysis.single-arm', /two groups/);
    expectInputError(() => coxPh(recs.map((r) => ({ ...r, event: false }))), 'analysis.no-events');
    expectInputError(() => coxPh(recs.map((r) => ({ ...r, covariates: { AGE: r.group === 'Drug' ? 1 : 0 } })), { covariates: ['AGE'] }), 'analysis.cox-singular');
    expectInputError(() => coxPh(recs, { covariates: ['WEIGHT'] }), 'analysis.bad-input', /WEIGHT/);
    expectInputError(() => coxPh(recs, { reference: 'Nope' }), 'analysis.bad-input');
    expectInputError(() => coxPh(recs, { ties: 'exact' as never }), 'analysis.bad-input');
    expectInputError(() => coxPh(recs, { stratified: true }), 'analysis.bad-input', /no stratum/);
  });

  test('a stratum without events is noted', async () => {
    const recs = [...exponentialTrial({ n: 80, seed: 36, strata: ['S1', 'S2'] }), ...[4, 8].map((t, i): TimeToEvent => ({ time: t, event: false, group: i ? 'Drug' : 'Control', stratum: 'S3' }))];
    await compareWithR(recs, [{ stratified: true }]);
    expect(coxPh(recs, { stratified: true }).notes).toEqual([{ code: 'analysis.stratum-no-events', message: expect.stringMatching(/stratum S3/) }]);
  });
});
