/**
 * ORR difference with score intervals.
 *
 * R has no Debian package with the Miettinen-Nurminen or Newcombe difference intervals (exact2x2,
 * PropCIs, ratesci, DescTools are not packaged; r-cran-epi would pull ~590 packages), so:
 * - both are checked against the published worked examples of Newcombe RG, "Interval estimation for
 *   the difference between independent proportions: comparison of eleven methods", Stat Med
 *   1998;17:873-890, Table II: method 10 (score, no continuity correction = the hybrid score interval)
 *   for all eight examples (a)-(h), method 6 (Miettinen-Nurminen) for (a), (b), (d) and (g), to the 4
 *   decimals printed;
 * - Newcombe's building blocks, the Wilson intervals, against R's prop.test(correct = FALSE) to 1e-12;
 * - the MN bounds (plain and stratified) independently in R: at our bounds, the MN score statistic with
 *   the constrained maximum-likelihood proportions found by numerical maximisation (optimize on the
 *   binomial log-likelihood, not the closed-form cubic we use) must equal the normal critical value.
 */
import { rateDifference, timeToEventFromAdtte, riskDifferenceMN, riskDifferenceNewcombe, stratifiedRiskDifferenceMN, wilsonInterval, type StratumCounts } from '@app/analysis';
import { mulberry32 } from '@app/core';
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';
import { expectInputError } from '../support/assertions';
import { expectSame } from './compare';
import { runR } from './r';

// Newcombe 1998 Table II examples: [x1, n1, x2, n2]
const EXAMPLES: Record<string, [number, number, number, number]> = {
  a: [56, 70, 48, 80],
  b: [9, 10, 3, 10],
  c: [6, 7, 2, 7],
  d: [5, 56, 0, 29],
  e: [0, 10, 0, 20],
  f: [0, 10, 0, 10],
  g: [10, 10, 0, 20],
  h: [10, 10, 0, 10],
};
const METHOD_10: Record<string, [number, number]> = {
  a: [0.0524, 0.3339],
  b: [0.1705, 0.809],
  c: [0.0582, 0.8062],
  d: [-0.0381, 0.1926],
  e: [-0.1611, 0.2775],
  f: [-0.2775, 0.2775],
  g: [0.6791, 1.0],
  h: [0.6075, 1.0],
};
const METHOD_6: Record<string, [number, number]> = {
  a: [0.0528, 0.3382],
  b: [0.17, 0.8406],
  d: [-0.0326, 0.1933],
  g: [0.7156, 1.0],
};
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** R: the MN statistic at delta for each stratum set, constrained MLE by optimize (CMH weights when several strata). */
const R_MN = `
mnz <- function(x1, n1, x2, n2, delta) {
  w <- n1 * n2 / (n1 + n2); w <- w / sum(w)
  num <- 0; v <- 0
  for (h in seq_along(x1)) {
    ll <- function(p2) { p1 <- p2 + delta
      (if (x1[h] > 0) x1[h] * log(p1) else 0) + (if (x1[h] < n1[h]) (n1[h] - x1[h]) * log(1 - p1) else 0) +
      (if (x2[h] > 0) x2[h] * log(p2) else 0) + (if (x2[h] < n2[h]) (n2[h] - x2[h]) * log(1 - p2) else 0) }
    lo <- max(0, -delta); hi <- min(1, 1 - delta)
    p2 <- optimize(ll, c(lo, hi), maximum = TRUE, tol = 1e-13)$maximum
    for (cand in c(lo, hi)) if (ll(cand) > ll(p2)) p2 <- cand
    p1 <- p2 + delta; N <- n1[h] + n2[h]
    num <- num + w[h] * (x1[h] / n1[h] - x2[h] / n2[h] - delta)
    v <- v + w[h]^2 * (p1 * (1 - p1) / n1[h] + p2 * (1 - p2) / n2[h]) * N / (N - 1)
  }
  num / sqrt(v)
}
`;

describe('ORR difference: Newcombe hybrid score and Miettinen-Nurminen intervals', () => {
  test('Newcombe (method 10) reproduces all eight examples of Newcombe 1998 Table II', () => {
    for (const [k, [x1, n1, x2, n2]] of Object.entries(EXAMPLES)) {
      const r = riskDifferenceNewcombe({ x: x1, n: n1 }, { x: x2, n: n2 });
      expect({ k, ci: [round4(r.lower), round4(r.upper)] }).toEqual({ k, ci: METHOD_10[k] });
      expect(r.estimate).toBe(x1 / n1 - x2 / n2);
    }
  });

  test('Miettinen-Nurminen (method 6) reproduces Newcombe 1998 Table II examples (a), (b), (d), (g)', () => {
    for (const [k, ci] of Object.entries(METHOD_6)) {
      const [x1, n1, x2, n2] = EXAMPLES[k];
      const r = riskDifferenceMN({ x: x1, n: n1 }, { x: x2, n: n2 });
      expect({ k, ci: [round4(r.lower), round4(r.upper)] }).toEqual({ k, ci });
    }
  });

  const rnd = mulberry32(77);
  const cases: [number, number, number, number][] = [...Object.values(EXAMPLES), [0, 25, 25, 25], [25, 25, 0, 25], [1, 3, 2, 2], [48, 120, 30, 118], [200, 400, 150, 410]];
  for (let i = 0; i < 12; i++) {
    const n1 = 5 + Math.floor(rnd() * 150);
    const n2 = 5 + Math.floor(rnd() * 150);
    cases.push([Math.floor(rnd() * (n1 + 1)), n1, Math.floor(rnd() * (n2 + 1)), n2]);
  }

  test('Wilson intervals equal R prop.test(correct = FALSE); Newcombe bounds follow from them', async () => {
    const singles = cases.flatMap(([x1, n1, x2, n2]) => [[x1, n1], [x2, n2]]);
    const r = await runR(`for (lv in c(0.95, 0.9)) { ci <- sapply(list(${singles.map(([x, n]) => `c(${x}, ${n})`).join(', ')}), function(c) suppressWarnings(prop.test(c[1], c[2], correct = FALSE, conf.level = lv))$conf.int); out(paste0("w", lv), ci) }`);
    for (const level of [0.95, 0.9]) {
      expectSame(`wilson ${level}`, singles.flatMap(([x, n]) => wilsonInterval(x, n, level)), r[`w${level}`], 1e-12);
    }
    for (const [x1, n1, x2, n2] of cases) {
      const [l1, u1] = wilsonInterval(x1, n1);
      const [l2, u2] = wilsonInterval(x2, n2);
      const nc = riskDifferenceNewcombe({ x: x1, n: n1 }, { x: x2, n: n2 });
      const d = x1 / n1 - x2 / n2;
      expect(nc.lower).toBeCloseTo(d - Math.hypot(x1 / n1 - l1, u2 - x2 / n2), 14);
      expect(nc.upper).toBeCloseTo(d + Math.hypot(u1 - x1 / n1, x2 / n2 - l2), 14);
    }
  });

  test('MN bounds: R finds the score statistic equal to -/+ z(0.975) (or z(0.95)) at each bound that is inside (-1, 1)', async () => {
    const checks: { label: string; strata: [number, number, number, number][]; delta: number; target: number }[] = [];
    for (const level of [0.95, 0.9]) {
      const zc = level === 0.95 ? 1.959963984540054 : 1.6448536269514722;
      for (const [x1, n1, x2, n2] of cases) {
        const r = riskDifferenceMN({ x: x1, n: n1 }, { x: x2, n: n2 }, level);
        expect(r.lower).toBeLessThanOrEqual(r.estimate);
        expect(r.upper).toBeGreaterThanOrEqual(r.estimate);
        if (r.lower > -1) checks.push({ label: `${x1}/${n1} - ${x2}/${n2} lower ${level}`, strata: [[x1, n1, x2, n2]], delta: r.lower, target: zc });
        else expect(x1 === 0 && x2 === n2).toBe(true);
        if (r.upper < 1) checks.push({ label: `${x1}/${n1} - ${x2}/${n2} upper ${level}`, strata: [[x1, n1, x2, n2]], delta: r.upper, target: -zc });
        else expect(x1 === n1 && x2 === 0).toBe(true);
      }
    }
    const strata: StratumCounts[] = [
      { stratum: 'ECOG 0', treatment: { x: 18, n: 40 }, control: { x: 9, n: 38 } },
      { stratum: 'ECOG 1', treatment: { x: 11, n: 35 }, control: { x: 8, n: 37 } },
      { stratum: 'ECOG 2', treatment: { x: 2, n: 9 }, control: { x: 0, n: 11 } },
    ];
    const s = stratifiedRiskDifferenceMN(strata);
    const st = strata.map((h) => [h.treatment.x, h.treatment.n, h.control.x, h.control.n] as [number, number, number, number]);
    checks.push({ label: 'stratified lower', strata: st, delta: s.lower, target: 1.959963984540054 }, { label: 'stratified upper', strata: st, delta: s.upper, target: -1.959963984540054 });
    const col = (j: number) => checks.map((c) => `c(${c.strata.map((h) => h[j]).join(',')})`).join(', ');
    const r = await runR(`${R_MN}
x1 <- list(${col(0)}); n1 <- list(${col(1)}); x2 <- list(${col(2)}); n2 <- list(${col(3)}); delta <- c(${checks.map((c) => c.delta).join(',')})
out("z", sapply(seq_along(delta), function(i) mnz(x1[[i]], n1[[i]], x2[[i]], n2[[i]], delta[i])))
out("mh", sum(c(${st.map((h) => h[1] * h[3] / (h[1] + h[3])).join(',')}) * c(${st.map((h) => h[0] / h[1] - h[2] / h[3]).join(',')})) / sum(c(${st.map((h) => h[1] * h[3] / (h[1] + h[3])).join(',')})))
`);
    checks.forEach((c, i) => expect({ label: c.label, z: Math.abs(r.z[i]! - c.target) < 1e-6 }).toEqual({ label: c.label, z: true }));
    expectSame('Mantel-Haenszel estimate', [s.estimate], r.mh, 1e-12);
    expect(s.strata.map((h) => h.weight).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
  });

  test('a single stratum gives the unstratified MN interval; an arm missing from a stratum is noted', () => {
    const one = stratifiedRiskDifferenceMN([{ stratum: 'all', treatment: { x: 30, n: 80 }, control: { x: 18, n: 79 } }]);
    const plain = riskDifferenceMN({ x: 30, n: 80 }, { x: 18, n: 79 });
    expect(one.lower).toBeCloseTo(plain.lower, 14);
    expect(one.upper).toBeCloseTo(plain.upper, 14);
    const s = stratifiedRiskDifferenceMN([
      { stratum: 'A', treatment: { x: 30, n: 80 }, control: { x: 18, n: 79 } },
      { stratum: 'B', treatment: { x: 3, n: 5 }, control: { x: 0, n: 0 } },
    ]);
    expect(s.notes).toEqual([{ code: 'analysis.stratum-single-arm', message: expect.stringMatching(/stratum B: no control/) }]);
    expect(s.lower).toBeCloseTo(plain.lower, 14);
  });

  test('ORR difference from a simulated trial ADRS, unstratified and stratified; blinded ADRS and unknown arms refused', () => {
    const study = simulateTrial({ subjects: 160, visits: 8, seed: 11 });
    const adrs = deriveEndpointDatasets(study, {}, { blinded: false }).datasets.find((d) => d.name === 'ADRS')!;
    const [treatment, control] = ['Drug X 10 mg', 'Placebo'];
    const mn = rateDifference(adrs, { treatment, control });
    const nc = rateDifference(adrs, { treatment, control, method: 'newcombe' });
    // the counts are ADRS's CRSP rows by ARM
    const col = (n: string) => adrs.columns.findIndex((c) => c.name === n);
    const rows = adrs.rows.filter((r) => r[col('PARAMCD')] === 'CRSP');
    const count = (arm: string) => ({ x: rows.filter((r) => r[col('ARM')] === arm && r[col('AVALC')] === 'Y').length, n: rows.filter((r) => r[col('ARM')] === arm).length });
    expect(mn.treatment).toMatchObject(count(treatment));
    expect(mn.control).toMatchObject(count(control));
    expect(mn.treatment.n + mn.control.n).toBe(160);
    expect(mn).toEqual(riskDifferenceMN(count(treatment), count(control)));
    expect(nc).toEqual(riskDifferenceNewcombe(count(treatment), count(control)));
    // stratified by a randomisation factor given per subject (ADRS carries none): three strata by subject number
    const subjects = [...new Set(rows.map((r) => String(r[col('USUBJID')])))];
    const stratumOf = new Map(subjects.map((s, i) => [s, `S${i % 3}`]));
    const strat = rateDifference(adrs, { treatment, control, paramcd: 'DCR', stratumOf });
    const dcr = adrs.rows.filter((r) => r[col('PARAMCD')] === 'DCR');
    const cell = (arm: string, s: string) => {
      const rs = dcr.filter((r) => r[col('ARM')] === arm && stratumOf.get(String(r[col('USUBJID')])) === s);
      return { x: rs.filter((r) => r[col('AVALC')] === 'Y').length, n: rs.length };
    };
    expect(strat).toEqual(stratifiedRiskDifferenceMN(['S0', 'S1', 'S2'].map((s) => ({ stratum: s, treatment: cell(treatment, s), control: cell(control, s) }))));
    expect(strat.method).toMatch(/stratified/);
    expectInputError(() => rateDifference(adrs, { treatment, control, stratumOf: new Map() }), 'analysis.bad-input', /no stratum given/);
    const blinded = deriveEndpointDatasets(study, {}, { blinded: true }).datasets.find((d) => d.name === 'ADRS')!;
    expectInputError(() => rateDifference(blinded, { treatment, control }), 'analysis.blinded');
    expectInputError(() => rateDifference(adrs, { treatment: 'Nope', control }), 'analysis.single-arm', /no subject in arm Nope/);
  });

  test('only the analysis population: ITTFL = N rows are left out of ORR and PFS (population: null keeps them; a missing named flag is refused)', () => {
    const study = simulateTrial({ subjects: 60, visits: 6, seed: 77 });
    const ds = deriveEndpointDatasets(study, {}, { blinded: false }).datasets;
    const adrs = ds.find((d) => d.name === 'ADRS')!;
    const adtte = ds.find((d) => d.name === 'ADTTE')!;
    const ci = (d: typeof adrs, n: string) => d.columns.findIndex((c) => c.name === n);
    expect(ci(adrs, 'ITTFL')).toBeGreaterThanOrEqual(0);
    // flag a third of the subjects out of the population (as a non-randomised subject would be)
    const out = new Set([...new Set(adrs.rows.map((r) => String(r[ci(adrs, 'USUBJID')])))].filter((_, i) => i % 3 === 0));
    const flag = (d: typeof adrs) => ({ ...d, rows: d.rows.map((r) => r.map((v, j) => (j === ci(d, 'ITTFL') && out.has(String(r[ci(d, 'USUBJID')])) ? 'N' : v))) });
    const [fAdrs, fAdtte] = [flag(adrs), flag(adtte)];
    const arms = [...new Set(adrs.rows.map((r) => String(r[ci(adrs, 'ARM')])))].sort();
    const [control, treatment] = [arms.find((a) => /placebo/i.test(a))!, arms.find((a) => !/placebo/i.test(a))!];
    const inPop = (d: typeof adrs, arm: string) => d.rows.filter((r) => r[ci(d, 'PARAMCD')] === 'CRSP' && r[ci(d, 'ARM')] === arm && !out.has(String(r[ci(d, 'USUBJID')])));
    const rd = rateDifference(fAdrs, { treatment, control });
    for (const [arm, side] of [[treatment, rd.treatment], [control, rd.control]] as const) {
      const rows = inPop(fAdrs, arm);
      expect(side).toMatchObject({ n: rows.length, x: rows.filter((r) => r[ci(fAdrs, 'AVALC')] === 'Y').length });
    }
    const all = rateDifference(fAdrs, { treatment, control, population: null });
    expect(all.treatment.n + all.control.n).toBe(60);
    expect(rd.treatment.n + rd.control.n).toBe(60 - out.size);
    const pfs = timeToEventFromAdtte(fAdtte, { paramcd: 'PFS' });
    expect(pfs.map((r) => r.id).sort()).toEqual(fAdtte.rows.filter((r) => r[ci(fAdtte, 'PARAMCD')] === 'PFS' && !out.has(String(r[ci(fAdtte, 'USUBJID')]))).map((r) => String(r[ci(fAdtte, 'USUBJID')])).sort());
    expect(timeToEventFromAdtte(fAdtte, { paramcd: 'PFS', population: null })).toHaveLength(60);
    expectInputError(() => rateDifference(fAdrs, { treatment, control, population: 'SAFFL' }), 'analysis.bad-input', /no SAFFL column/);
  });

  test('refuses impossible counts and levels', () => {
    expectInputError(() => riskDifferenceMN({ x: 5, n: 4 }, { x: 1, n: 4 }), 'analysis.bad-input');
    expectInputError(() => riskDifferenceNewcombe({ x: 1, n: 0 }, { x: 1, n: 4 }), 'analysis.bad-input');
    expectInputError(() => riskDifferenceMN({ x: 1, n: 4 }, { x: 1, n: 4 }, 1.2), 'analysis.bad-input');
    expectInputError(() => stratifiedRiskDifferenceMN([{ stratum: 'A', treatment: { x: 0, n: 0 }, control: { x: 1, n: 3 } }]), 'analysis.single-arm');
  });
});
