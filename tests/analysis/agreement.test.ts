/**
 * Agreement statistics against R: psych 2.2.9 (Debian r-cran-psych) ICC(lmer = FALSE) and cohen.kappa, vcd 1.4-11
 * Kappa (weighted-kappa standard errors), R's own
 * qf / qt / pbeta, and for Bland-Altman the closed forms evaluated in R (mean, sd, qt, qnorm). Tolerance 1e-9
 * (the issue asks 1e-6). Plus hand-derivable cases: the Shrout & Fleiss (1979) Table 2 data (published ICC(2,1) =
 * 0.29, ICC(3,1) = 0.71), and a 2 x 2 kappa computed by hand.
 */
import { mulberry32 } from '@app/core';
import { agreementRate, blandAltman, cohenKappa, cohenKappaTable, icc, pbeta, qf, qt, pfUpper, quantilesType7Unsorted, quantileType7, withinTolerance, type KappaWeights } from '@app/analysis';
import { runR } from './r';

const PSYCH = 'suppressPackageStartupMessages(library(psych))\n';
const close = (ours: number | null, r: number | null | undefined, tol = 1e-9) => {
  expect(r).not.toBeNull();
  expect(ours).not.toBeNull();
  expect(Math.abs(ours! - r!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(r!)));
};

/** A seeded lesion-measurement matrix: true size x (1 + cv N(0,1)) per rater, with a rater bias. */
function measurements(n: number, k: number, seed: number, cv = 0.12): number[][] {
  const rnd = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rnd(), 1e-12))) * Math.cos(2 * Math.PI * rnd());
  return Array.from({ length: n }, () => {
    const truth = 10 + 50 * rnd();
    return Array.from({ length: k }, (_, j) => Math.round(truth * (1 + 0.03 * j) * (1 + cv * normal()) * 10) / 10);
  });
}

async function rIcc(m: number[][], alpha = 0.05) {
  const cols: Record<string, number[]> = {};
  m[0]!.forEach((_, j) => (cols[`r${j + 1}`] = m.map((r) => r[j]!)));
  return runR(`${PSYCH}x <- as.matrix(d)
res <- ICC(x, lmer = FALSE, alpha = ${alpha})$results
for (i in 2:3) { out(paste0("icc", i), res[i, 2]); out(paste0("lo", i), res[i, 7]); out(paste0("hi", i), res[i, 8]); out(paste0("F", i), res[i, 3]); out(paste0("p", i), res[i, 6]); out(paste0("df", i), c(res[i, 4], res[i, 5])) }`, cols);
}

describe('distributions against R', () => {
  test('pbeta, qf, qt (non-integer df included)', async () => {
    const cases: [number, number, number][] = [[0.3, 2.5, 7], [0.95, 0.5, 30.3], [1e-4, 4, 1.5], [0.5, 100, 120]];
    const qcases: [number, number, number][] = [[0.975, 5, 15], [0.975, 15, 5], [0.975, 3.37, 49], [0.975, 49, 3.37], [0.9, 1, 1000], [0.5, 2, 2]];
    const tcases: [number, number][] = [[0.975, 1], [0.975, 2], [0.975, 9], [0.975, 99], [0.995, 4.5], [0.025, 12]];
    const r = await runR(`out("pb", c(${cases.map(([x, a, b]) => `pbeta(${x}, ${a}, ${b})`).join(', ')}))
out("pbu", c(${cases.map(([x, a, b]) => `pbeta(${x}, ${a}, ${b}, lower.tail = FALSE)`).join(', ')}))
out("qf", c(${qcases.map(([p, a, b]) => `qf(${p}, ${a}, ${b})`).join(', ')}))
out("pf", c(${qcases.map(([p, a, b]) => `pf(${p * 3}, ${a}, ${b}, lower.tail = FALSE)`).join(', ')}))
out("qt", c(${tcases.map(([p, df]) => `qt(${p}, ${df})`).join(', ')}))`);
    cases.forEach(([x, a, b], i) => {
      close(pbeta(x, a, b), r.pb![i], 1e-12);
      close(pbeta(x, a, b, true), r.pbu![i], 1e-12);
    });
    qcases.forEach(([p, a, b], i) => {
      close(qf(p, a, b), r.qf![i], 1e-11);
      close(pfUpper(p * 3, a, b), r.pf![i], 1e-12);
    });
    tcases.forEach(([p, df], i) => close(qt(p, df), r.qt![i], 1e-11));
  });
});

describe('ICC(2,1) and ICC(3,1) against psych::ICC', () => {
  test('Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges (published ICC(2,1) = .29, ICC(3,1) = .71)', async () => {
    const sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]];
    const ours = icc(sf);
    expect(ours.icc21.value.toFixed(2)).toBe('0.29');
    expect(ours.icc31.value.toFixed(2)).toBe('0.71');
    const r = await rIcc(sf);
    for (const [e, i] of [[ours.icc21, 2], [ours.icc31, 3]] as const) {
      close(e.value, r[`icc${i}`]![0]);
      close(e.lower, r[`lo${i}`]![0]);
      close(e.upper, r[`hi${i}`]![0]);
      close(e.f, r[`F${i}`]![0]);
      close(e.p, r[`p${i}`]![0]);
      expect([e.df1, e.df2]).toEqual(r[`df${i}`]);
    }
  });

  test.each([
    [40, 2, 1, 0.95],
    [250, 2, 2, 0.95],
    [60, 3, 3, 0.9],
    [12, 5, 4, 0.99],
  ])('seeded lesion measurements: n = %i, k = %i (seed %i, level %f)', async (n, k, seed, level) => {
    const m = measurements(n, k, seed);
    const ours = icc(m, { confLevel: level });
    const r = await rIcc(m, 1 - level);
    for (const [e, i] of [[ours.icc21, 2], [ours.icc31, 3]] as const) {
      close(e.value, r[`icc${i}`]![0]);
      close(e.lower, r[`lo${i}`]![0]);
      close(e.upper, r[`hi${i}`]![0]);
      close(e.p, r[`p${i}`]![0], 1e-9);
    }
  });

  test('bad input: too few, ragged, missing, zero variance; zero error variance gives the value and no interval', () => {
    expect(() => icc([[1, 2]])).toThrow(expect.objectContaining({ code: 'analysis.too-few' }));
    expect(() => icc([[1, 2], [3]])).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
    expect(() => icc([[1, NaN], [3, 4]])).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
    expect(() => icc([[7, 7], [7, 7], [7, 7]])).toThrow(expect.objectContaining({ code: 'analysis.zero-variance' }));
    const shifted = icc([[1, 2], [3, 4], [8, 9]]);
    expect(shifted.icc31.value).toBe(1);
    expect(shifted.icc31.lower).toBeNull();
    expect(shifted.notes[0]!.code).toBe('analysis.zero-error-variance');
    expect(JSON.stringify(shifted)).not.toMatch(/NaN|Infinity/);
    // ICC(2,1) by hand: grand mean 4.5, row means 1.5 / 3.5 / 8.5 -> MSR = 2 (9 + 1 + 16) / 2 = 26; column means 4, 5 -> MSC = 3 x 0.5 = 1.5;
    // MSE = 0: ICC(2,1) = MSR / (MSR + k MSC / n) = 26 / 27
    const msr = 26;
    const msc = 1.5;
    expect(shifted.icc21.value).toBeCloseTo(msr / (msr + (2 * msc) / 3), 12);
  });
});

describe('Bland-Altman against closed forms in R', () => {
  test.each([[30, 5], [200, 6], [3, 7]])('n = %i (seed %i)', async (n, seed) => {
    const m = measurements(n, 2, seed);
    const a = m.map((r) => r[0]!);
    const b = m.map((r) => r[1]!);
    const ours = blandAltman(a, b);
    const r = await runR(`dd <- d$a - d$b; n <- length(dd); s <- sd(dd); z <- qnorm(0.975); t <- qt(0.975, n - 1)
out("bias", mean(dd)); out("sd", s); out("loa", mean(dd) + c(-1, 1) * z * s)
out("biasci", t.test(d$a, d$b, paired = TRUE)$conf.int)
se <- s * sqrt(1 / n + z^2 / (2 * (n - 1)))
out("lloa", mean(dd) - z * s + c(-1, 1) * t * se); out("uloa", mean(dd) + z * s + c(-1, 1) * t * se)`, { a, b });
    close(ours.bias, r.bias![0]);
    close(ours.sd, r.sd![0]);
    close(ours.lowerLoa, r.loa![0]);
    close(ours.upperLoa, r.loa![1]);
    close(ours.biasCi[0], r.biasci![0]);
    close(ours.biasCi[1], r.biasci![1]);
    close(ours.lowerLoaCi[0], r.lloa![0]);
    close(ours.lowerLoaCi[1], r.lloa![1]);
    close(ours.upperLoaCi[0], r.uloa![0]);
    close(ours.upperLoaCi[1], r.uloa![1]);
  });

  test('identical differences: limits = bias, a note, no NaN; fewer than 2 pairs refused', () => {
    const r = blandAltman([10, 20, 30], [9, 19, 29]);
    expect([r.bias, r.sd, r.lowerLoa, r.upperLoa]).toEqual([1, 0, 1, 1]);
    expect(r.notes[0]!.code).toBe('analysis.zero-variance');
    expect(JSON.stringify(r)).not.toMatch(/NaN|Infinity/);
    expect(() => blandAltman([1], [2])).toThrow(expect.objectContaining({ code: 'analysis.too-few' }));
  });

  test('within 2 mm and within 10 % by hand (boundaries included)', async () => {
    // |d| = 2.0 (within 2 mm; 2 <= 0.1 x 21 = 2.1 within 10 %), 2.5 (neither; 2.5 <= 0.1 x 31.25: within 10 %), 0, 5 (neither)
    const t = withinTolerance([22, 32.5, 7, 10], [20, 30, 7, 5]);
    expect(t.withinAbs.count).toBe(2);
    expect(t.withinRel.count).toBe(3);
    expect(t.withinAbs.share).toBe(0.5);
    const r = await runR('out("w", prop.test(2, 4, correct = FALSE)$conf.int)');
    close(t.withinAbs.ci[0], r.w![0]);
    close(t.withinAbs.ci[1], r.w![1]);
  });
});

/**
 * Kappa estimates against psych::cohen.kappa; standard errors against vcd::Kappa. psych's weighted-kappa variance
 * multiplies the row marginal of the same row into the weight sums (rowSums(w * rs)) where Fleiss, Cohen & Everitt
 * (1969) weight by the marginals over the other index; for identity weights both agree (tested), for linear and
 * quadratic weights we follow the published formula, which vcd (and SAS PROC FREQ) implement.
 */
describe("Cohen's kappa against psych::cohen.kappa and vcd::Kappa", () => {
  const LEVELS = ['CR', 'PR', 'SD', 'PD'];
  /** psych and vcd on the same pairs, for all three weightings in one R run (R and vcd start once, not three times). */
  const rKappas = async (a: string[], b: string[], levels: string[], alpha = 0.05) => {
    const L = levels.length;
    const r = await runR(`${PSYCH}L <- ${L}; lev <- c(${levels.map((l) => JSON.stringify(l)).join(',')})
suppressPackageStartupMessages(library(vcd))
z <- qnorm(1 - ${alpha} / 2)
weights <- list(unweighted = diag(L), linear = 1 - abs(outer(1:L, 1:L, "-")) / (L - 1), quadratic = 1 - outer(1:L, 1:L, "-")^2 / (L - 1)^2)
for (w in names(weights)) {
  W <- weights[[w]]
  ck <- cohen.kappa(data.frame(a = factor(d$a, levels = lev), b = factor(d$b, levels = lev)), w = W, levels = lev, alpha = ${alpha})
  vk <- Kappa(table(factor(d$a, levels = lev), factor(d$b, levels = lev)), weights = W)
  out(paste0(w, ".k"), ck$weighted.kappa); out(paste0(w, ".vk"), vk$Weighted)
  out(paste0(w, ".ci"), pmin(1, pmax(-1, vk$Weighted[1] + c(-1, 1) * z * vk$Weighted[2])))
  out(paste0(w, ".uk"), ck$kappa); out(paste0(w, ".uv"), ck$var.kappa); out(paste0(w, ".uci"), ck$confid[1, c(1, 3)])
}`, { a, b });
    return (w: KappaWeights) => ({ k: r[`${w}.k`], vk: r[`${w}.vk`], ci: r[`${w}.ci`], uk: r[`${w}.uk`], uv: r[`${w}.uv`], uci: r[`${w}.uci`] });
  };
  /** Two readers' time-point responses: the second agrees with probability pAgree, else moves one category. */
  function responses(n: number, seed: number, pAgree: number) {
    const rnd = mulberry32(seed);
    const a: string[] = [];
    const b: string[] = [];
    for (let i = 0; i < n; i++) {
      const x = Math.min(3, Math.floor(rnd() * 4.4));
      const y = rnd() < pAgree ? x : Math.min(3, Math.max(0, x + (rnd() < 0.5 ? -1 : 1)));
      a.push(LEVELS[x]!);
      b.push(LEVELS[y]!);
    }
    return { a, b };
  }

  test.each([
    [80, 1, 0.7],
    [500, 2, 0.85],
    [25, 3, 0.5],
  ])('n = %i (seed %i, agreement %f): unweighted, linear and quadratic', async (n, seed, p) => {
    const { a, b } = responses(n, seed, p);
    const rOf = await rKappas(a, b, LEVELS);
    for (const w of ['unweighted', 'linear', 'quadratic'] as const) {
      const ours = cohenKappa(a, b, { levels: LEVELS, weights: w });
      const r = rOf(w);
      // estimate: psych; SE and interval: vcd::Kappa (Fleiss, Cohen & Everitt 1969, as SAS PROC FREQ)
      close(ours.kappa, r.k![0]);
      close(ours.kappa, r.vk![0]);
      close(ours.se, r.vk![1]);
      close(ours.lower, r.ci![0]);
      close(ours.upper, r.ci![1]);
      if (w === 'unweighted') {
        // psych's unweighted variance is the same formula
        close(ours.kappa, r.uk![0]);
        close(ours.se ** 2, r.uv![0]);
        close(ours.lower, r.uci![0]);
        close(ours.upper, r.uci![1]);
      }
    }
  });

  test('2 x 2 by hand: 20 pairs, 15 agree; and the not-estimable case', () => {
    // table [[8, 2], [3, 7]]: po = 15/20, rows 10/20, 10/20, cols 11/20, 9/20: pe = .5 x .55 + .5 x .45 = .5, kappa = .5
    const a = [...Array(10).fill('Y'), ...Array(10).fill('N')];
    const b = [...Array(8).fill('Y'), ...Array(2).fill('N'), ...Array(3).fill('Y'), ...Array(7).fill('N')];
    const k = cohenKappa(a, b, { levels: ['Y', 'N'] });
    expect(k.table).toEqual([[8, 2], [3, 7]]);
    expect(k.kappa).toBeCloseTo(0.5, 14);
    expect(() => cohenKappa(['PD', 'PD'], ['PD', 'PD'], { levels: ['PD', 'SD'] })).toThrow(expect.objectContaining({ code: 'analysis.kappa-not-estimable' }));
    expect(() => cohenKappa(['PD'], ['XX'], { levels: ['PD', 'SD'] })).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
    expect(() => cohenKappa([], [])).toThrow(expect.objectContaining({ code: 'analysis.too-few' }));
  });

  test('cohenKappaTable: from the counts, the same result as from the pairs; bad tables refused', () => {
    const rnd = mulberry32(17);
    const levels = ['CR', 'PR', 'SD', 'PD'];
    for (let t = 0; t < 40; t++) {
      const n = 5 + Math.floor(rnd() * 200);
      const a = Array.from({ length: n }, () => levels[Math.floor(rnd() * 4)]!);
      const b = a.map((x) => (rnd() < 0.7 ? x : levels[Math.floor(rnd() * 4)]!));
      for (const weights of ['unweighted', 'linear', 'quadratic'] as KappaWeights[]) {
        const fromPairs = cohenKappa(a, b, { levels, weights });
        expect(cohenKappaTable(fromPairs.table, { levels, weights })).toEqual(fromPairs);
      }
    }
    expect(() => cohenKappaTable([[1, 2]], { levels: ['A', 'B'] })).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
    expect(() => cohenKappaTable([[1, 0.5], [0, 1]], { levels: ['A', 'B'] })).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
    expect(() => cohenKappaTable([[0, 0], [0, 0]], { levels: ['A', 'B'] })).toThrow(expect.objectContaining({ code: 'analysis.too-few' }));
    expect(() => cohenKappaTable([[3, 0], [0, 0]], { levels: ['A', 'B'] })).toThrow(expect.objectContaining({ code: 'analysis.kappa-not-estimable' }));
  });

  test('quantilesType7Unsorted: the sorted values\' type-7 quantiles, ties and all, and R quantile(type = 7)', async () => {
    const rnd = mulberry32(5);
    for (let t = 0; t < 2000; t++) {
      const n = 1 + Math.floor(rnd() * 80);
      const distinct = 1 + Math.floor(rnd() * 12);
      const xs = Float64Array.from({ length: n }, () => Math.floor(rnd() * distinct) / (t % 2 ? 10 : 1));
      const ps = [0.5, 0.25, 0.75, 0, 1, rnd()];
      const sorted = xs.slice().sort();
      expect(quantilesType7Unsorted(xs.slice(), ps)).toEqual(ps.map((p) => quantileType7(sorted, p)));
    }
    const xs = [3.2, 1.1, 4.5, 1.1, 9.8, 2.6, 5.0, 3.2];
    const ref = await runR(`out("q", quantile(c(${xs.join(', ')}), c(0.25, 0.5, 0.75), type = 7, names = FALSE))`);
    quantilesType7Unsorted(Float64Array.from(xs), [0.25, 0.5, 0.75]).forEach((q, i) => close(q, ref.q![i]));
    expect(() => quantilesType7Unsorted(new Float64Array(0), [0.5])).toThrow(expect.objectContaining({ code: 'analysis.too-few' }));
    expect(() => quantilesType7Unsorted(Float64Array.of(1, NaN), [0.5])).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
    expect(() => quantilesType7Unsorted(Float64Array.of(1, 2), [1.5])).toThrow(expect.objectContaining({ code: 'analysis.bad-input' }));
  });

  test('agreement rate with its Wilson interval (prop.test)', async () => {
    const r = agreementRate([['PR', 'PR'], ['SD', 'PR'], ['PD', 'PD'], ['CR', 'CR'], ['SD', 'SD']] as const);
    expect([r.count, r.n, r.share]).toEqual([4, 5, 0.8]);
    const ref = await runR('out("w", prop.test(4, 5, correct = FALSE)$conf.int)');
    close(r.ci[0], ref.w![0]);
    close(r.ci[1], ref.w![1]);
  });
});
