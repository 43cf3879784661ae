/**
 * Kaplan-Meier product-limit estimate with Greenwood variance, pointwise confidence intervals, quantiles
 * (median, quartiles) with their confidence intervals, survival at landmark times and numbers at risk:
 * the same numbers as R survival's survfit / quantile.survfit / summary.survfit (see README.md).
 */
import { AnalysisError } from './errors';
import { checkRecords, sortedLevels, type TimeToEvent } from './data';
import { zCritical } from './distributions';

/** Transform of the pointwise interval: R survfit conf.type. 'log' is R's default, 'log-log' SAS LIFETEST's. */
export type ConfType = 'log' | 'log-log' | 'plain';
export const CONF_TYPES: readonly ConfType[] = ['log', 'log-log', 'plain'];

export interface KmOptions {
  /** Interval transform (default 'log', as R). */
  confType?: ConfType;
  /** Confidence level (default 0.95). */
  confLevel?: number;
  /** Group order of the curves (default: the groups present, in code-unit order). */
  groups?: string[];
}

/** One Kaplan-Meier curve: one row per distinct time (event or censoring), as R's survfit object. */
export interface KmCurve {
  /** The group (arm), or null for a curve over all records. */
  group: string | null;
  n: number;
  events: number;
  confType: ConfType;
  confLevel: number;
  time: number[];
  nRisk: number[];
  nEvent: number[];
  nCensor: number[];
  surv: number[];
  /**
   * Greenwood standard error of the cumulative hazard -log S(t) (R's survfit `std.err`):
   * sqrt(sum d / (n (n - d))). Infinity from the time S(t) reaches 0 (everyone left at risk has the event).
   */
  stdErr: number[];
  /** Pointwise interval; null where R gives NA (S = 0, or S = 1 for 'log-log'). */
  lower: (number | null)[];
  upper: (number | null)[];
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Pointwise interval of S from std.err of -log S, as R's survfit_confint with logse = TRUE. */
export function survivalInterval(p: number, se: number, confType: ConfType, z: number): [number | null, number | null] {
  if (confType === 'plain') {
    const se2 = se * p * z;
    return [finiteOrNull(Math.max(p - se2, 0)), finiteOrNull(Math.min(p + se2, 1))];
  }
  if (confType === 'log') {
    if (p === 0) return [null, null];
    const se2 = z * se;
    return [finiteOrNull(Math.exp(Math.log(p) - se2)), finiteOrNull(Math.min(Math.exp(Math.log(p) + se2), 1))];
  }
  if (p === 0 || p === 1) return [null, null];
  const se2 = (z * se) / Math.log(p);
  const ll = Math.log(-Math.log(p));
  return [finiteOrNull(Math.exp(-Math.exp(ll - se2))), finiteOrNull(Math.exp(-Math.exp(ll + se2)))];
}

function checkOptions(confType: ConfType, confLevel: number): void {
  if (!CONF_TYPES.includes(confType)) throw new AnalysisError('analysis.bad-input', `confType must be one of ${CONF_TYPES.join(', ')}; got ${String(confType)}`);
  if (!(confLevel > 0 && confLevel < 1)) throw new AnalysisError('analysis.bad-input', `confLevel must be in (0, 1); got ${confLevel}`);
}

function curve(group: string | null, recs: readonly TimeToEvent[], confType: ConfType, confLevel: number): KmCurve {
  const sorted = [...recs].sort((a, b) => a.time - b.time);
  const z = zCritical(confLevel);
  const c: KmCurve = { group, n: recs.length, events: 0, confType, confLevel, time: [], nRisk: [], nEvent: [], nCensor: [], surv: [], stdErr: [], lower: [], upper: [] };
  let atRisk = sorted.length;
  let s = 1;
  let v = 0;
  for (let i = 0; i < sorted.length; ) {
    const t = sorted[i].time;
    let d = 0;
    let m = 0;
    for (; i < sorted.length && sorted[i].time === t; i++, m++) if (sorted[i].event) d++;
    if (d > 0) {
      s *= 1 - d / atRisk;
      v += atRisk > d ? d / (atRisk * (atRisk - d)) : Infinity;
    }
    const se = Math.sqrt(v);
    const [lo, hi] = survivalInterval(s, se, confType, z);
    c.time.push(t);
    c.nRisk.push(atRisk);
    c.nEvent.push(d);
    c.nCensor.push(m - d);
    c.surv.push(s);
    c.stdErr.push(se);
    c.lower.push(lo);
    c.upper.push(hi);
    c.events += d;
    atRisk -= m;
  }
  return c;
}

/**
 * Kaplan-Meier curves, one per group (records with `group`) or one over all records (no record has a
 * group). R: survfit(Surv(time, event) ~ group, conf.type = confType, conf.int = confLevel).
 */
export function kaplanMeier(records: readonly TimeToEvent[], opts: KmOptions = {}): KmCurve[] {
  const confType = opts.confType ?? 'log';
  const confLevel = opts.confLevel ?? 0.95;
  checkOptions(confType, confLevel);
  checkRecords(records, 'kaplanMeier');
  const grouped = records.filter((r) => r.group !== undefined).length;
  if (grouped === 0) return [curve(null, records, confType, confLevel)];
  if (grouped !== records.length) throw new AnalysisError('analysis.bad-input', 'kaplanMeier: some records have a group and some do not');
  const levels = opts.groups ?? sortedLevels(records.map((r) => r.group!));
  const out: KmCurve[] = [];
  for (const g of levels) {
    const recs = records.filter((r) => r.group === g);
    if (recs.length === 0) throw new AnalysisError('analysis.bad-input', `kaplanMeier: group ${g} has no subjects`);
    out.push(curve(g, recs, confType, confLevel));
  }
  const unknown = records.find((r) => !levels.includes(r.group!));
  if (unknown) throw new AnalysisError('analysis.bad-input', `kaplanMeier: group ${unknown.group} is not in the groups asked for (${levels.join(', ')})`);
  return out;
}

/** R's tolerance for "the curve is exactly at p" in quantile.survfit: sqrt(.Machine$double.eps). */
export const QUANTILE_TOLERANCE = Math.sqrt(2.220446049250313e-16);

/**
 * R's approx(xs, ys, v, method = "constant", f = 1, rule = 1) as a function of v: the non-missing
 * (xs, ys) pairs sorted by xs (ties collapsed to the mean of their ys, as regularize.values does), then
 * ys at the first xs >= v; NA (null) outside [min xs, max xs].
 */
function approxConstantRight(xs: readonly (number | null)[], ys: readonly number[]): (v: number) => number | null {
  const pts: [number, number][] = [];
  for (let i = 0; i < xs.length; i++) if (xs[i] !== null) pts.push([xs[i] as number, ys[i]]);
  pts.sort((a, b) => a[0] - b[0]);
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < pts.length; ) {
    let j = i;
    let sum = 0;
    for (; j < pts.length && pts[j][0] === pts[i][0]; j++) sum += pts[j][1];
    x.push(pts[i][0]);
    y.push(sum / (j - i));
    i = j;
  }
  return (v: number): number | null => {
    if (x.length === 0 || v < x[0] || v > x[x.length - 1]) return null;
    let i = 0;
    let j = x.length - 1;
    while (i < j - 1) {
      const ij = (i + j) >> 1;
      if (v < x[ij]) j = ij;
      else i = ij;
    }
    if (v === x[j]) return y[j];
    if (v === x[i]) return y[i];
    return y[j];
  };
}

/**
 * R survival's findq: the times at which the step function y (a cumulative distribution 1 - S, starting
 * at 0 at time `x[0]`) reaches each p. Where y equals p (within tol) over a flat stretch, the midpoint
 * of that stretch; where the curve ends exactly at p, the midpoint of that time and the last time.
 */
function findq(x: number[], y: (number | null)[], probs: readonly number[], tol: number): (number | null)[] {
  let max = -Infinity;
  for (const v of y) if (v !== null && v > max) max = v;
  if (max < Math.min(...probs)) return probs.map(() => null);
  const xmax = x[x.length - 1];
  // drop repeated y values (R: duplicated(y), NA equal to NA), keeping the first time of each level
  const xs: number[] = [];
  const ys: (number | null)[] = [];
  const seen = new Set<number | null>();
  for (let i = 0; i < y.length; i++) {
    if (seen.has(y[i])) continue;
    seen.add(y[i]);
    xs.push(x[i]);
    ys.push(y[i]);
  }
  const n = ys.length;
  const idx = ys.map((_, k) => k + 1); // R's 1:n
  const plus = approxConstantRight(ys.map((v) => (v === null ? null : v + tol)), idx);
  const minus = approxConstantRight(ys.map((v) => (v === null ? null : v - tol)), idx);
  const at = (k: number | null): number | null => (k === null ? null : xs[Math.trunc(k) - 1]);
  return probs.map((p) => {
    const i1 = plus(p);
    const i2 = minus(p);
    const x1 = at(i1);
    const x2 = at(i2);
    let q = x1 === null || x2 === null ? null : (x1 + x2) / 2;
    if (p === 0) q = xs[0];
    const last = ys[n - 1];
    if (last !== null && Math.abs(p - last) < tol) q = x1 === null ? null : (x1 + xmax) / 2;
    return q;
  });
}

/** A survival-time quantile with its confidence interval (null: not reached / not estimable). */
export interface SurvivalQuantile {
  /** Probability of the event by that time: 0.5 = median, 0.25 = first quartile (S = 0.75). */
  p: number;
  time: number | null;
  lower: number | null;
  upper: number | null;
  /** Why a value is null (e.g. 'median not reached'), in words for the report. */
  notes: string[];
}

/**
 * Quantiles of the survival time with confidence intervals, as R's quantile.survfit (with the same
 * conf.type as the curve): the p-th quantile is the first time 1 - S(t) >= p, the midpoint of a flat
 * stretch where S(t) = 1 - p exactly (within sqrt(machine eps)); the interval is where the lower and
 * upper pointwise bands cross 1 - p (Brookmeyer & Crowley 1982, by the band's transform).
 */
export function survivalQuantiles(c: KmCurve, probs: readonly number[] = [0.25, 0.5, 0.75]): SurvivalQuantile[] {
  for (const p of probs) if (!(p >= 0 && p <= 1)) throw new AnalysisError('analysis.bad-input', `survivalQuantiles: probabilities must be in [0, 1]; got ${p}`);
  if (probs.length === 0) return [];
  const x = [0, ...c.time];
  const cdf = (s: (number | null)[]): (number | null)[] => [0, ...s.map((v) => (v === null ? null : 1 - v))];
  const q = findq(x, cdf(c.surv), probs, QUANTILE_TOLERANCE);
  const lo = findq(x, cdf(c.lower), probs, QUANTILE_TOLERANCE);
  const hi = findq(x, cdf(c.upper), probs, QUANTILE_TOLERANCE);
  return probs.map((p, k) => {
    const name = p === 0.5 ? 'median' : `${Math.round(p * 1000) / 10}th percentile`;
    const notes: string[] = [];
    if (q[k] === null) notes.push(`${name} not reached: the curve does not fall to ${1 - p}`);
    if (lo[k] === null) notes.push(`lower confidence limit of the ${name} not estimable: the lower band does not fall to ${1 - p}`);
    if (hi[k] === null) notes.push(`upper confidence limit of the ${name} not reached: the upper band does not fall to ${1 - p}`);
    return { p, time: q[k], lower: lo[k], upper: hi[k], notes };
  });
}

/** Median survival time with its interval (R: print.survfit / quantile.survfit at 0.5). */
export function medianSurvival(c: KmCurve): SurvivalQuantile {
  return survivalQuantiles(c, [0.5])[0];
}

/** The curve as R's survfit0 shows it: a row at time 0 (S = 1, std.err 0, interval [1, 1]) prepended. */
function withTimeZero(c: KmCurve): Pick<KmCurve, 'time' | 'nRisk' | 'surv' | 'stdErr' | 'lower' | 'upper' | 'nEvent'> {
  if (c.time.length && c.time[0] <= 0) return c;
  return {
    time: [0, ...c.time],
    nRisk: [c.nRisk[0] ?? c.n, ...c.nRisk],
    nEvent: [0, ...c.nEvent],
    surv: [1, ...c.surv],
    stdErr: [0, ...c.stdErr],
    lower: [1, ...c.lower],
    upper: [1, ...c.upper],
  };
}

/** Event-free probability at a landmark time, as R's summary(fit, times = t). */
export interface SurvivalAt {
  time: number;
  /** Subjects still at risk at `time` (followed up to at least `time`). */
  nRisk: number;
  /** Events up to and including `time`. */
  nEvent: number;
  surv: number | null;
  /** Standard error of S(t) (Greenwood: S x std.err of -log S), as summary.survfit reports it. */
  stdErr: number | null;
  lower: number | null;
  upper: number | null;
  /** Why the estimate is null (a landmark after the last follow-up time). */
  note?: string;
}

/** Number of values in the ascending array xs that are <= t (or < t with strict). */
function countBelow(xs: readonly number[], t: number, strict: boolean): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (strict ? xs[m] < t : xs[m] <= t) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/**
 * S(t) with its interval at each landmark time (e.g. 6 and 12 months in days: 6 * DAYS_PER_MONTH), as
 * R's summary.survfit(fit, times) with extend = FALSE: a landmark after the curve's last time (event or
 * censoring) is not estimable and comes back null with a note.
 */
export function survivalAt(c: KmCurve, times: readonly number[]): SurvivalAt[] {
  const f = withTimeZero(c);
  const last = f.time[f.time.length - 1];
  return times.map((t) => {
    if (!Number.isFinite(t) || t < 0) throw new AnalysisError('analysis.bad-input', `survivalAt: landmark times must be finite and >= 0; got ${t}`);
    const below = countBelow(f.time, t, true);
    const nRisk = below < f.nRisk.length ? f.nRisk[below] : 0;
    const upto = countBelow(f.time, t, false);
    let nEvent = 0;
    for (let i = 0; i < upto; i++) nEvent += f.nEvent[i];
    if (t > last) return { time: t, nRisk, nEvent, surv: null, stdErr: null, lower: null, upper: null, note: `no estimate at ${t}: follow-up ends at ${last}` };
    const i = Math.max(upto, 1) - 1;
    const se = f.stdErr[i] * f.surv[i];
    return { time: t, nRisk, nEvent, surv: f.surv[i], stdErr: Number.isFinite(se) ? se : null, lower: f.lower[i], upper: f.upper[i] };
  });
}

/** Subjects at risk (time >= t) at each time, for the table under a KM plot (R: summary(fit, times, extend = TRUE)$n.risk). */
export function numberAtRisk(c: KmCurve, times: readonly number[]): { time: number; nRisk: number }[] {
  const f = withTimeZero(c);
  return times.map((t) => {
    const below = countBelow(f.time, t, true);
    return { time: t, nRisk: below < f.nRisk.length ? f.nRisk[below] : 0 };
  });
}
