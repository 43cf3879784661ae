/**
 * ORR / DCR with Clopper-Pearson intervals. The bounds are checked against closed forms (x = 0, x = n),
 * a published value, and an independent exact computation: Python's fractions.Fraction evaluates the
 * binomial tails at our bounds with no rounding, and they must equal alpha / 2.
 */
import { execFileSync } from 'node:child_process';
import { clopperPearson, deriveEndpointDatasets, deriveSubjectEndpoints, isResponder, resolveSettings, responseRates, simulateTrial } from '@app/endpoints';
import { runR } from '../analysis/r';
import { PYTHON } from '../datasets/helpers';

/** Exact binomial tails P(X >= x | p_lo) and P(X <= x | p_hi), in Python with rationals. */
function exactTails(cases: { x: number; n: number; lo: number; hi: number }[]): { upper: number; lower: number }[] {
  const code = `
import json, sys
from fractions import Fraction
from math import comb
out = []
for c in json.loads(sys.argv[1]):
    x, n = c['x'], c['n']
    lo, hi = Fraction(c['lo']), Fraction(c['hi'])
    upper = sum(comb(n, k) * lo**k * (1 - lo)**(n - k) for k in range(x, n + 1)) if x > 0 else None
    lower = sum(comb(n, k) * hi**k * (1 - hi)**(n - k) for k in range(0, x + 1)) if x < n else None
    out.append({'upper': None if upper is None else float(upper), 'lower': None if lower is None else float(lower)})
print(json.dumps(out))
`;
  return JSON.parse(execFileSync(PYTHON, ['-c', code, JSON.stringify(cases)]).toString());
}

describe('clopperPearson', () => {
  it('has the closed forms at x = 0 and x = n', () => {
    for (const n of [1, 7, 60, 1000]) {
      expect(clopperPearson(0, n)[0]).toBe(0);
      expect(clopperPearson(0, n)[1]).toBeCloseTo(1 - 0.025 ** (1 / n), 12);
      expect(clopperPearson(n, n)[0]).toBeCloseTo(0.025 ** (1 / n), 12);
      expect(clopperPearson(n, n)[1]).toBe(1);
    }
    expect(clopperPearson(0, 10, 0.9)[1]).toBeCloseTo(1 - 0.05 ** (1 / 10), 12);
  });

  it('gives the published 5/10 interval (0.1871, 0.8129) and is symmetric in x <-> n - x', () => {
    const [lo, hi] = clopperPearson(5, 10);
    expect(lo).toBeCloseTo(0.187086, 5);
    expect(hi).toBeCloseTo(0.812914, 5);
    for (const [x, n] of [[3, 17], [21, 60], [1, 200]]) {
      const a = clopperPearson(x, n);
      const b = clopperPearson(n - x, n);
      expect(a[0]).toBeCloseTo(1 - b[1], 12);
      expect(a[1]).toBeCloseTo(1 - b[0], 12);
    }
  });

  it('puts alpha/2 in each tail exactly (independent rational arithmetic in Python)', () => {
    const cases = [[1, 10], [5, 10], [21, 60], [17, 50], [99, 200], [3, 150]].map(([x, n]) => {
      const [lo, hi] = clopperPearson(x, n);
      expect(lo).toBeLessThan(x / n);
      expect(hi).toBeGreaterThan(x / n);
      return { x, n, lo, hi };
    });
    for (const t of exactTails(cases)) {
      expect(Math.abs(t.upper - 0.025)).toBeLessThan(1e-9);
      expect(Math.abs(t.lower - 0.025)).toBeLessThan(1e-9);
    }
  });

  it("equals R's binom.test interval, including report-sized arms (n up to 10,000) and other levels", async () => {
    const cases: [number, number, number][] = [[5, 10, 0.95], [1, 200, 0.95], [199, 200, 0.95], [44, 100, 0.95], [2203, 5000, 0.95], [4417, 5000, 0.95], [1402, 5000, 0.9], [8100, 10000, 0.99], [0, 37, 0.95], [37, 37, 0.95]];
    const r = await runR(cases.map(([x, n, l], i) => `out("c${i}", binom.test(${x}, ${n}, conf.level = ${l})$conf.int)`).join('\n'));
    cases.forEach(([x, n, l], i) => {
      const [lo, hi] = clopperPearson(x, n, l);
      const [rl, rh] = r[`c${i}`] as [number, number];
      expect(Math.abs(lo - rl)).toBeLessThanOrEqual(1e-12 * Math.max(rl, 1e-300) + (rl === 0 ? 0 : 1e-15));
      expect(Math.abs(hi - rh)).toBeLessThanOrEqual(1e-12 * rh);
    });
  });

  it('refuses impossible counts and levels', () => {
    for (const [x, n] of [[-1, 5], [6, 5], [1.5, 5], [0, 0]]) expect(() => clopperPearson(x, n)).toThrow(expect.objectContaining({ code: 'endpoints.bad-input' }));
    expect(() => clopperPearson(1, 5, 1)).toThrow(/level/);
  });
});

describe('responseRates (ORR, DCR from ADRS)', () => {
  const study = simulateTrial({ subjects: 80, visits: 8, seed: 4242 });
  const settings = resolveSettings({});
  const adrs = (blinded: boolean) => deriveEndpointDatasets(study, {}, { blinded }).datasets.find((d) => d.name === 'ADRS')!;

  it('counts responders over all subjects, overall and by arm, as the subject derivations say', () => {
    const cbor = study.subjects.map((s) => ({ arm: s.arm!, bor: deriveSubjectEndpoints(s, settings).cbor.bor }));
    const want = cbor.filter((c) => isResponder(c.bor)).length;
    const [all] = responseRates(adrs(true), 'CRSP');
    expect(all).toMatchObject({ paramcd: 'CRSP', arm: null, n: study.subjects.length, responders: want, level: 0.95, method: 'Clopper-Pearson exact' });
    expect(all.rate).toBe(want / study.subjects.length);
    expect(all.ci).toEqual(clopperPearson(want, study.subjects.length));
    const byArm = responseRates(adrs(false), 'CRSP', { byArm: true });
    const arms = [...new Set(cbor.map((c) => c.arm))].sort();
    expect(byArm.map((r) => r.arm)).toEqual(arms);
    for (const r of byArm) expect(r.responders).toBe(cbor.filter((c) => c.arm === r.arm && isResponder(c.bor)).length);
    expect(byArm.reduce((a, r) => a + r.n, 0)).toBe(all.n);
    const dcr = responseRates(adrs(true), 'DCR')[0];
    expect(dcr.responders).toBe(cbor.filter((c) => ['CR', 'PR', 'SD', 'NON-CR/NON-PD'].includes(c.bor)).length);
    expect(dcr.responders).toBeGreaterThanOrEqual(all.responders);
  });

  it('refuses rates by arm on a blinded ADRS, a dataset that is not ADRS, and duplicate subject records', () => {
    expect(() => responseRates(adrs(true), 'CRSP', { byArm: true })).toThrow(/blinded/);
    expect(() => responseRates({ ...adrs(true), columns: [] , rows: [] }, 'RSP')).toThrow(/is it ADRS/);
    const a = adrs(true);
    const crsp = a.rows.find((r) => r[a.columns.findIndex((c) => c.name === 'PARAMCD')] === 'CRSP')!;
    expect(() => responseRates({ ...a, rows: [...a.rows, crsp] }, 'CRSP')).toThrow(/more than one CRSP/);
  });
});
