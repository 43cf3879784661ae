/** qnorm and the chi-squared upper tail against R's qnorm / pchisq. */
import { pchisqUpper, pnorm, qnorm, zCritical } from '@app/analysis';
import { expectSame } from './compare';
import { runR, type RValues } from './r';

describe('distributions agree with R', () => {
  const ps = [1e-300, 1e-20, 1e-10, 1e-5, 0.001, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4249, 0.425, 0.5, 0.6, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-10];
  const xs = [1e-8, 0.01, 0.5, 1, 2, 3.841458820694124, 5, 10, 30, 80, 200, 700];
  const dfs = [1, 2, 3, 4, 5, 10];
  const zs = [-40, -8, -5.7, -3, -1.96, -0.6744, -0.5, 0, 0.3, 0.67449, 1, 2.5, 5.65, 6, 10, 38];
  let r: RValues;
  beforeAll(async () => {
    r = await runR(`
out("qnorm", qnorm(c(${ps.join(',')})))
for (df in c(${dfs.join(',')})) out(paste0("pchisq", df), pchisq(c(${xs.join(',')}), df, lower.tail = FALSE))
out("pnorm", pnorm(c(${zs.join(',')})))
`);
  });

  test('qnorm (AS 241) to 1e-14 relative', () => {
    expectSame('qnorm', ps.map(qnorm), r.qnorm, 1e-14);
    expect(zCritical(0.95)).toBe(qnorm(0.975));
    expect(qnorm(0)).toBe(-Infinity);
    expect(qnorm(1)).toBe(Infinity);
  });

  test('pnorm (Cody) to 1e-13 relative, far tails included', () => {
    const ours = zs.map(pnorm);
    for (let i = 0; i < zs.length; i++) {
      const b = r.pnorm[i]!;
      expect(Math.abs(ours[i] - b)).toBeLessThanOrEqual(1e-13 * Math.max(b, 1e-300));
    }
  });

  test('pchisq upper tail to 1e-12 relative (p-values down to 1e-150)', () => {
    for (const df of dfs) {
      const ours = xs.map((x) => pchisqUpper(x, df));
      const theirs = r[`pchisq${df}`];
      for (let i = 0; i < xs.length; i++) {
        const b = theirs[i]!;
        expect({ df, x: xs[i], rel: Math.abs(ours[i] - b) / b < 1e-12 }).toEqual({ df, x: xs[i], rel: true });
      }
    }
    expect(pchisqUpper(0, 1)).toBe(1);
  });
});
