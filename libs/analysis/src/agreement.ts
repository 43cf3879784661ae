/**
 * Reader agreement statistics a BICR charter reports: intraclass correlation (ICC(2,1), ICC(3,1)) with F-based
 * intervals, Bland-Altman bias and limits of agreement, the share of measurement pairs within an absolute / relative
 * tolerance, Cohen's kappa (unweighted, linear and quadratic weights) with its asymptotic standard error, and simple
 * agreement rates with Wilson intervals. Plain functions on plain arrays; the dataset-level summary is in
 * agreement-summary.ts.
 *
 * References: Shrout & Fleiss (1979) Psychol Bull 86:420; McGraw & Wong (1996) Psychol Methods 1:30 (ICC(A,1)
 * interval with Satterthwaite df); Bland & Altman (1986) Lancet i:307 and (1999) Stat Methods Med Res 8:135 (LoA
 * intervals); Cohen (1960, 1968); Fleiss, Cohen & Everitt (1969) Psychol Bull 72:323 (large-sample variance of
 * kappa). Every estimate and bound is checked against R `psych` 2.2.9 (`ICC(lmer = FALSE)`, `cohen.kappa`), `vcd`
 * (`Kappa`: the weighted-kappa standard error; psych computes that one differently, see the test) or,
 * for Bland-Altman, against R's `t.test` / `qt` closed forms (tests/analysis/agreement.test.ts), to 1e-9.
 */
import { qnorm } from './distributions';
import { pfUpper, qf, qt } from './agreement-distributions';
import { AnalysisError, type NotEstimable } from './errors';
import { wilsonInterval } from './response';

const alphaOf = (confLevel: number) => {
  if (!(confLevel > 0 && confLevel < 1)) throw new AnalysisError('analysis.bad-input', `confidence level must be in (0, 1), got ${confLevel}`);
  return 1 - confLevel;
};

// ---------------------------------------------------------------------------------------------------------------
// ICC

export interface IccEstimate {
  /** 'ICC(2,1)': two-way random effects, absolute agreement, single rater (McGraw-Wong ICC(A,1)); 'ICC(3,1)': two-way mixed, consistency, single rater (ICC(C,1)). */
  model: 'ICC(2,1)' | 'ICC(3,1)';
  value: number;
  /** Interval bounds; null when not estimable (zero error variance), with a note. */
  lower: number | null;
  upper: number | null;
  /** F test of ICC = 0: F = MSR / MSE on (n - 1, (n - 1)(k - 1)) df (as psych::ICC for both models); null when MSE = 0. */
  f: number | null;
  df1: number;
  df2: number;
  p: number | null;
  /** ICC(2,1) only: the Satterthwaite df of the interval (McGraw-Wong eq. / psych `v`). */
  dfSatterthwaite?: number;
}

export interface IccResult {
  /** Rated targets (rows) and raters (columns). */
  n: number;
  k: number;
  /** Mean squares of the two-way ANOVA without interaction: rows (targets), columns (raters), residual. */
  msr: number;
  msc: number;
  mse: number;
  icc21: IccEstimate;
  icc31: IccEstimate;
  confLevel: number;
  notes: NotEstimable[];
}

/**
 * ICC(2,1) and ICC(3,1) of a complete n x k matrix (rows: rated targets, columns: raters), as psych::ICC(x, lmer =
 * FALSE): two-way ANOVA, ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n), ICC(3,1) = (MSR - MSE) /
 * (MSR + (k-1) MSE). Intervals: ICC(3,1) from F = MSR/MSE and its F quantiles (Shrout-Fleiss); ICC(2,1) with the
 * Satterthwaite df v of McGraw & Wong (1996). Throws AnalysisError: fewer than 2 rows or columns, a missing or
 * non-finite rating, or no variance at all (`analysis.zero-variance`).
 */
export function icc(ratings: readonly (readonly number[])[], o: { confLevel?: number } = {}): IccResult {
  const n = ratings.length;
  const k = n ? ratings[0]!.length : 0;
  for (let i = 0; i < n; i++) if (ratings[i]!.length !== k) throw new AnalysisError('analysis.bad-input', `ICC: row ${i + 1} has ${ratings[i]!.length} ratings, expected ${k}`);
  return iccOf(n, k, Array.from({ length: k }, (_, j) => Array.from({ length: n }, (_, i) => ratings[i]![j]!)), o);
}

/**
 * icc() of a matrix given by its columns (one array per rater, all of the same length): the same result without
 * building one array per rated target (the report's hundreds of thousands of lesion x visit pairs).
 */
export function iccColumns(columns: readonly ArrayLike<number>[], o: { confLevel?: number } = {}): IccResult {
  const k = columns.length;
  const n = k ? columns[0]!.length : 0;
  for (let j = 0; j < k; j++) if (columns[j]!.length !== n) throw new AnalysisError('analysis.bad-input', `ICC: rater ${j + 1} has ${columns[j]!.length} ratings, expected ${n}`);
  return iccOf(n, k, columns, o);
}

/** The ICC of n targets x k raters, rater j's ratings in columns[j] (read directly: no accessor call per rating). */
function iccOf(n: number, k: number, columns: readonly ArrayLike<number>[], o: { confLevel?: number }): IccResult {
  const confLevel = o.confLevel ?? 0.95;
  const alpha = alphaOf(confLevel);
  if (n < 2 || k < 2) throw new AnalysisError('analysis.too-few', `ICC needs at least 2 rated targets and 2 raters, got ${n} x ${k}`);
  // every rating must be a finite number: checked one by one unless the column is a Float64Array (numbers by type;
  // a NaN or infinity there shows in its column sum, and is then looked for)
  const isBad = (v: unknown) => typeof v !== 'number' || !Number.isFinite(v);
  /** Throws for the first bad rating in row order, if there is one. */
  const checkAll = () => {
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) {
      const v = columns[j]![i];
      if (isBad(v)) throw new AnalysisError('analysis.bad-input', `ICC: rating [${i + 1}, ${j + 1}] is ${String(v)}; every target needs a rating from every rater`);
    }
  };
  const colMean = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const c = columns[j]!;
    let sum = 0;
    if (c instanceof Float64Array) {
      for (let i = 0; i < n; i++) sum += c[i]!;
      if (!Number.isFinite(sum)) checkAll();
    } else {
      for (let i = 0; i < n; i++) {
        const v = c[i];
        if (isBad(v)) checkAll();
        sum += v!;
      }
    }
    colMean[j] = sum / n;
  }
  let grand = 0;
  for (let j = 0; j < k; j++) grand += colMean[j]!;
  grand /= k;
  let ssr = 0;
  let ssc = 0;
  let sse = 0;
  let ss0 = 0;
  for (let j = 0; j < k; j++) ssc += n * (colMean[j]! - grand) ** 2;
  const invK = 1 / k;
  const dev = colMean.map((m) => m - grand);
  // the row means are not kept (n is every lesion x visit pair of a cut): each row is summed where it is used
  for (let i = 0; i < n; i++) {
    let rs = 0;
    for (let j = 0; j < k; j++) rs += columns[j]![i]!;
    const ri = rs * invK;
    const dr = ri - grand;
    ssr += dr * dr;
    for (let j = 0; j < k; j++) {
      const x = columns[j]![i]!;
      const e = x - ri - dev[j]!;
      sse += e * e; // directly: no cancellation of sst - ssr - ssc
      ss0 += x * x;
    }
  }
  ssr *= k;
  const df1 = n - 1;
  const dfc = k - 1;
  const df2 = (n - 1) * (k - 1);
  const msr = ssr / df1;
  const msc = ssc / dfc;
  const mse = sse / df2;
  // relative to the data's magnitude: sums of squares below this are rounding noise (errors are ~ eps^2 x sum x^2)
  const tiny = 1e-20 * Math.max(ss0, 1e-300);
  if (ssr <= tiny && sse <= tiny) {
    throw new AnalysisError('analysis.zero-variance', `ICC: the ${n} targets do not vary (every rating of every target is the same value): between-target variance is zero, the ICC is undefined`);
  }
  const notes: NotEstimable[] = [];
  const icc2v = (msr - mse) / (msr + (k - 1) * mse + (k * (msc - mse)) / n);
  const icc3v = (msr - mse) / (msr + (k - 1) * mse);
  if (sse <= tiny) {
    notes.push({ code: 'analysis.zero-error-variance', message: `ICC: the raters agree exactly up to a constant shift on all ${n} targets (residual variance 0): intervals and F test not estimable` });
    return {
      n, k, msr, msc, mse: 0, confLevel, notes,
      icc21: { model: 'ICC(2,1)', value: icc2v, lower: null, upper: null, f: null, df1, df2, p: null },
      icc31: { model: 'ICC(3,1)', value: 1, lower: null, upper: null, f: null, df1, df2, p: null },
    };
  }
  const F = msr / mse;
  const p = pfUpper(F, df1, df2);
  // ICC(3,1): Shrout-Fleiss
  const fl = F / qf(1 - alpha / 2, df1, df2);
  const fu = F * qf(1 - alpha / 2, df2, df1);
  const icc31: IccEstimate = { model: 'ICC(3,1)', value: icc3v, lower: (fl - 1) / (fl + k - 1), upper: (fu - 1) / (fu + k - 1), f: F, df1, df2, p };
  // ICC(2,1): McGraw-Wong with Satterthwaite df (psych::ICC)
  const fj = msc / mse;
  const a = k * icc2v * fj + n * (1 + (k - 1) * icc2v) - k * icc2v;
  const vn = (k - 1) * (n - 1) * a * a;
  const vd = (n - 1) * k * k * icc2v * icc2v * fj * fj + (n * (1 + (k - 1) * icc2v) - k * icc2v) ** 2;
  const v = vn / vd;
  const f3u = qf(1 - alpha / 2, n - 1, v);
  const f3l = qf(1 - alpha / 2, v, n - 1);
  const denomBase = k * msc + (k * n - k - n) * mse;
  const lower2 = (n * (msr - f3u * mse)) / (f3u * denomBase + n * msr);
  const upper2 = (n * (f3l * msr - mse)) / (denomBase + n * f3l * msr);
  const icc21: IccEstimate = { model: 'ICC(2,1)', value: icc2v, lower: lower2, upper: upper2, f: F, df1, df2, p, dfSatterthwaite: v };
  return { n, k, msr, msc, mse, icc21, icc31, confLevel, notes };
}

// ---------------------------------------------------------------------------------------------------------------
// Bland-Altman

export interface BlandAltmanResult {
  n: number;
  /** Mean of a - b. */
  bias: number;
  /** SD of a - b (n - 1 denominator). */
  sd: number;
  /** bias -/+ z sd (z = qnorm(1 - alpha/2): 1.959964 for 95 %). */
  lowerLoa: number;
  upperLoa: number;
  /** bias -/+ t(n-1) sd / sqrt(n). */
  biasCi: [number, number];
  /** LoA -/+ t(n-1) sd sqrt(1/n + z^2 / (2 (n - 1))) (Bland & Altman 1999, section 5.2). */
  lowerLoaCi: [number, number];
  upperLoaCi: [number, number];
  /** Mean of (a + b) / 2: where the measurements lie. */
  meanOfMeans: number;
  confLevel: number;
  notes: NotEstimable[];
}

/**
 * Bland-Altman analysis of paired measurements a, b (difference a - b). Throws AnalysisError with fewer than 2 pairs
 * or a non-finite value. Identical differences (SD 0) are not an error: the limits equal the bias, with a note.
 */
export function blandAltman(a: ArrayLike<number>, b: ArrayLike<number>, o: { confLevel?: number } = {}): BlandAltmanResult {
  const confLevel = o.confLevel ?? 0.95;
  const alpha = alphaOf(confLevel);
  if (a.length !== b.length) throw new AnalysisError('analysis.bad-input', `Bland-Altman: ${a.length} vs ${b.length} measurements; they must be paired`);
  const n = a.length;
  if (n < 2) throw new AnalysisError('analysis.too-few', `Bland-Altman needs at least 2 paired measurements, got ${n}`);
  let s = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) throw new AnalysisError('analysis.bad-input', `Bland-Altman: pair ${i + 1} is (${a[i]}, ${b[i]})`);
    s += a[i]! - b[i]!;
    m += (a[i]! + b[i]!) / 2;
  }
  const bias = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i]! - b[i]! - bias) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  const z = qnorm(1 - alpha / 2);
  const t = qt(1 - alpha / 2, n - 1);
  const seBias = sd / Math.sqrt(n);
  const seLoa = sd * Math.sqrt(1 / n + (z * z) / (2 * (n - 1)));
  const lowerLoa = bias - z * sd;
  const upperLoa = bias + z * sd;
  const notes: NotEstimable[] = [];
  if (sd === 0) notes.push({ code: 'analysis.zero-variance', message: `Bland-Altman: all ${n} differences are ${bias}: the limits of agreement equal the bias` });
  return {
    n, bias, sd, lowerLoa, upperLoa,
    biasCi: [bias - t * seBias, bias + t * seBias],
    lowerLoaCi: [lowerLoa - t * seLoa, lowerLoa + t * seLoa],
    upperLoaCi: [upperLoa - t * seLoa, upperLoa + t * seLoa],
    meanOfMeans: m / n,
    confLevel,
    notes,
  };
}

export interface Share {
  count: number;
  n: number;
  share: number;
  /** Wilson score interval (R prop.test(correct = FALSE)). */
  ci: [number, number];
}

/** count / n with its Wilson interval (R prop.test(correct = FALSE)); throws AnalysisError when n = 0. */
export function proportion(count: number, n: number, confLevel = 0.95): Share {
  if (!(n > 0)) throw new AnalysisError('analysis.too-few', 'a proportion of no subjects');
  const [lo, hi] = wilsonInterval(count, n, confLevel);
  return { count, n, share: count / n, ci: [lo, hi] };
}
const shareOf = proportion;

/**
 * Share of pairs with |a - b| <= absTol (default 2 mm) and with |a - b| <= relTol x (a + b) / 2 (default 10 % of the
 * pair's mean; a pair of zeros is within). Throws AnalysisError without pairs.
 */
export function withinTolerance(a: ArrayLike<number>, b: ArrayLike<number>, o: { absTol?: number; relTol?: number; confLevel?: number } = {}): { absTol: number; relTol: number; withinAbs: Share; withinRel: Share } {
  const absTol = o.absTol ?? 2;
  const relTol = o.relTol ?? 0.1;
  const confLevel = o.confLevel ?? 0.95;
  if (a.length !== b.length) throw new AnalysisError('analysis.bad-input', `tolerance: ${a.length} vs ${b.length} measurements; they must be paired`);
  if (a.length === 0) throw new AnalysisError('analysis.too-few', 'tolerance: no paired measurements');
  let inAbs = 0;
  let inRel = 0;
  // compare in a scale that keeps exact decimals exact: 2 mm vs a 2.0 mm difference must count as within
  const eps = 1e-9;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d <= absTol + eps) inAbs++;
    if (d <= relTol * ((a[i]! + b[i]!) / 2) + eps) inRel++;
  }
  return { absTol, relTol, withinAbs: shareOf(inAbs, a.length, confLevel), withinRel: shareOf(inRel, a.length, confLevel) };
}

// ---------------------------------------------------------------------------------------------------------------
// Cohen's kappa

export type KappaWeights = 'unweighted' | 'linear' | 'quadratic';

export interface KappaResult {
  weights: KappaWeights;
  n: number;
  levels: string[];
  /** Counts, rows = rater 1, columns = rater 2, in `levels` order. */
  table: number[][];
  /** Observed and chance-expected (weighted) agreement. */
  po: number;
  pe: number;
  kappa: number;
  /** Large-sample SE (Fleiss, Cohen & Everitt 1969; psych::cohen.kappa). */
  se: number;
  /** kappa -/+ z se, clipped to [-1, 1] (as psych). */
  lower: number;
  upper: number;
  confLevel: number;
}

/** Agreement weights of ordered levels: 1 - |i - j| / (L - 1) (linear) or 1 - (i - j)^2 / (L - 1)^2 (quadratic); identity when unweighted. */
export function kappaWeights(levels: number, w: KappaWeights): number[][] {
  return Array.from({ length: levels }, (_, i) =>
    Array.from({ length: levels }, (_, j) => (w === 'unweighted' ? (i === j ? 1 : 0) : w === 'linear' ? 1 - Math.abs(i - j) / (levels - 1) : 1 - (i - j) ** 2 / (levels - 1) ** 2)),
  );
}

/**
 * Cohen's kappa of two raters' categories (pairs r1[i], r2[i]). `levels`: the ordered categories (weighted kappa
 * needs the order; default: the categories present in code-unit order). Values outside `levels` are refused.
 * Throws AnalysisError('analysis.kappa-not-estimable') when chance agreement is 1 (both raters used one category
 * only) and 'analysis.too-few' without pairs.
 */
export function cohenKappa(r1: readonly string[], r2: readonly string[], o: { levels?: readonly string[]; weights?: KappaWeights; confLevel?: number } = {}): KappaResult {
  const weights = o.weights ?? 'unweighted';
  const confLevel = o.confLevel ?? 0.95;
  const alpha = alphaOf(confLevel);
  if (r1.length !== r2.length) throw new AnalysisError('analysis.bad-input', `kappa: ${r1.length} vs ${r2.length} ratings; they must be paired`);
  const n = r1.length;
  if (n === 0) throw new AnalysisError('analysis.too-few', 'kappa: no paired ratings');
  const levels = o.levels ? [...o.levels] : [...new Set([...r1, ...r2])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const L = levels.length;
  const idx = new Map(levels.map((l, i) => [l, i]));
  if (L < 2) throw new AnalysisError('analysis.kappa-not-estimable', `kappa: only one category (${levels[0]}) in ${n} pairs: chance agreement is 1, kappa is undefined`);
  const table = Array.from({ length: L }, () => new Array<number>(L).fill(0));
  for (let i = 0; i < n; i++) {
    const a = idx.get(r1[i]!);
    const b = idx.get(r2[i]!);
    if (a === undefined || b === undefined) throw new AnalysisError('analysis.bad-input', `kappa: pair ${i + 1} (${r1[i]}, ${r2[i]}) has a category outside ${levels.join(', ')}`);
    table[a]![b]!++;
  }
  return kappaOfTable(table, n, levels, weights, confLevel, alpha);
}

/**
 * cohenKappa() from the contingency table itself (rows = rater 1, columns = rater 2, in `levels` order): the same
 * result without the paired arrays (the report counts hundreds of thousands of time points straight into a table).
 */
export function cohenKappaTable(table: readonly (readonly number[])[], o: { levels: readonly string[]; weights?: KappaWeights; confLevel?: number }): KappaResult {
  const weights = o.weights ?? 'unweighted';
  const confLevel = o.confLevel ?? 0.95;
  const alpha = alphaOf(confLevel);
  const levels = [...o.levels];
  const L = levels.length;
  if (table.length !== L || table.some((r) => r.length !== L)) throw new AnalysisError('analysis.bad-input', `kappa: the table must be ${L} x ${L} (one row and column per level)`);
  let n = 0;
  for (const r of table) for (const x of r) {
    if (!(Number.isInteger(x) && x >= 0)) throw new AnalysisError('analysis.bad-input', `kappa: table cell ${String(x)} is not a count`);
    n += x;
  }
  if (n === 0) throw new AnalysisError('analysis.too-few', 'kappa: no paired ratings');
  if (L < 2) throw new AnalysisError('analysis.kappa-not-estimable', `kappa: only one category (${levels[0]}) in ${n} pairs: chance agreement is 1, kappa is undefined`);
  return kappaOfTable(table.map((r) => [...r]), n, levels, weights, confLevel, alpha);
}

function kappaOfTable(table: number[][], n: number, levels: string[], weights: KappaWeights, confLevel: number, alpha: number): KappaResult {
  const L = levels.length;
  const w = kappaWeights(L, weights);
  const p = table.map((r) => r.map((x) => x / n));
  const rs = p.map((r) => r.reduce((s, x) => s + x, 0));
  const cs = levels.map((_, j) => p.reduce((s, r) => s + r[j]!, 0));
  let po = 0;
  let pe = 0;
  for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
    po += w[i]![j]! * p[i]![j]!;
    pe += w[i]![j]! * rs[i]! * cs[j]!;
  }
  if (pe >= 1 - 1e-15) throw new AnalysisError('analysis.kappa-not-estimable', `kappa: chance agreement is 1 (both raters used a single category in all ${n} pairs): kappa is undefined`);
  const kappa = (po - pe) / (1 - pe);
  // Fleiss, Cohen & Everitt (1969): wbar_i. = sum_j p.j w_ij, wbar_.j = sum_i p_i. w_ij
  const wr = levels.map((_, i) => levels.reduce((s, _l, j) => s + cs[j]! * w[i]![j]!, 0));
  const wc = levels.map((_, j) => levels.reduce((s, _l, i) => s + rs[i]! * w[i]![j]!, 0));
  let sum = 0;
  for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) sum += p[i]![j]! * (w[i]![j]! * (1 - pe) - (wr[i]! + wc[j]!) * (1 - po)) ** 2;
  const variance = Math.max(0, (sum - (po * pe - 2 * pe + po) ** 2) / (n * (1 - pe) ** 4));
  const se = Math.sqrt(variance);
  const z = qnorm(1 - alpha / 2);
  const clip = (x: number) => Math.min(1, Math.max(-1, x));
  return { weights, n, levels, table, po, pe, kappa, se, lower: clip(kappa - z * se), upper: clip(kappa + z * se), confLevel };
}

/** Share of pairs that agree (a === b), with a Wilson interval. Throws AnalysisError without pairs. */
export function agreementRate<T>(pairs: readonly (readonly [T, T])[], o: { confLevel?: number; equal?: (a: T, b: T) => boolean } = {}): Share {
  if (!pairs.length) throw new AnalysisError('analysis.too-few', 'agreement rate: no pairs');
  const eq = o.equal ?? ((a: T, b: T) => a === b);
  return shareOf(pairs.filter(([a, b]) => eq(a, b)).length, pairs.length, o.confLevel ?? 0.95);
}

/**
 * R type-7 quantiles of unsorted values, without sorting them all: each quantile needs the order statistics at
 * floor(h) and floor(h) + 1, found by selection (Hoare's quickselect, median-of-three pivots) in expected linear time.
 * Equal to quantileType7 of the sorted values (the same order statistics, the same interpolation). Reorders `values`
 * in place (a scratch copy is the caller's choice). NaN is refused.
 */
export function quantilesType7Unsorted(values: Float64Array, ps: readonly number[]): number[] {
  const n = values.length;
  if (!n) throw new AnalysisError('analysis.too-few', 'quantile of no values');
  for (let i = 0; i < n; i++) if (Number.isNaN(values[i]!)) throw new AnalysisError('analysis.bad-input', 'quantile: a value is NaN');
  // order statistic k: values[k] after the call; everything left of k is <= it and everything right >= it.
  // Three-way partition (Dijkstra), so that runs of equal values (rounded diameters) cost no more than distinct ones.
  const select = (k: number, lo: number, hi: number): number => {
    while (hi > lo) {
      const mid = (lo + hi) >>> 1;
      const a = values[lo]!, b = values[mid]!, c = values[hi]!;
      const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b; // median of three
      let lt = lo;
      let gt = hi;
      let i = lo;
      while (i <= gt) {
        const v = values[i]!;
        if (v < pivot) {
          values[i++] = values[lt]!;
          values[lt++] = v;
        } else if (v > pivot) {
          values[i] = values[gt]!;
          values[gt--] = v;
        } else i++;
      }
      // [lo, lt): < pivot; [lt, gt]: = pivot; (gt, hi]: > pivot
      if (k < lt) hi = lt - 1;
      else if (k > gt) lo = gt + 1;
      else return pivot;
    }
    return values[k]!;
  };
  // ascending p, so that each selection narrows the range of the next
  const order = ps.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const out = new Array<number>(ps.length);
  let from = 0;
  for (const { p, i } of order) {
    if (!(p >= 0 && p <= 1)) throw new AnalysisError('analysis.bad-input', `quantile: probability ${p} is outside [0, 1]`);
    const h = (n - 1) * p;
    const lo = Math.floor(h);
    const hi = Math.min(n - 1, lo + 1);
    const x = select(lo, from, n - 1);
    let y = x;
    if (hi > lo) {
      // the next order statistic: the smallest value right of lo
      y = values[hi]!;
      for (let j = hi + 1; j < n; j++) if (values[j]! < y) y = values[j]!;
    }
    out[i] = x + (h - lo) * (y - x);
    from = lo;
  }
  return out;
}

/** R type-7 quantile of sorted values (the R default). */
export function quantileType7(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) throw new AnalysisError('analysis.too-few', 'quantile of no values');
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}
