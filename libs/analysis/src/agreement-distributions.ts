/**
 * Beta, F and Student t distributions for the agreement statistics (ICC intervals, Bland-Altman intervals):
 * the regularised incomplete beta function by its continued fraction (modified Lentz), and its inverse by
 * bisection refined to the last bit. Non-integer degrees of freedom are allowed (the Satterthwaite df of the
 * ICC(2,1) interval). Checked against R `pbeta`, `qf`, `qt` to 1e-12 relative in tests/analysis/agreement.test.ts.
 */
import { lgamma } from './distributions';

/** Continued fraction of I_x(a, b) (Numerical Recipes betacf, modified Lentz), for x < (a + 1) / (a + b + 2). */
function betacf(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const EPS = 1e-16;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b) = P(X <= x) for X ~ Beta(a, b); `upper` gives 1 - I_x(a, b) without cancellation. */
export function pbeta(x: number, a: number, b: number, upper = false): number {
  if (!(a > 0) || !(b > 0)) throw new RangeError(`pbeta: shape parameters must be > 0 (a = ${a}, b = ${b})`);
  if (x <= 0) return upper ? 1 : 0;
  if (x >= 1) return upper ? 0 : 1;
  const lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) {
    const lower = (Math.exp(lfront) * betacf(x, a, b)) / a;
    return upper ? 1 - lower : lower;
  }
  const up = (Math.exp(lfront) * betacf(1 - x, b, a)) / b;
  return upper ? up : 1 - up;
}

/** Quantile of Beta(a, b): the x with I_x(a, b) = p (bisection to adjacent doubles). */
export function qbeta(p: number, a: number, b: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`qbeta: p must be in [0, 1], got ${p}`);
  if (p === 0) return 0;
  if (p === 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 2000; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (pbeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** Upper tail of the F distribution, P(F > f), df1 and df2 > 0 (may be non-integer). */
export function pfUpper(f: number, df1: number, df2: number): number {
  if (f <= 0) return 1;
  if (!Number.isFinite(f)) return 0;
  return pbeta(df2 / (df2 + df1 * f), df2 / 2, df1 / 2);
}

/** Quantile of the F distribution: the f with P(F <= f) = p. */
export function qf(p: number, df1: number, df2: number): number {
  // x = df1 f / (df1 f + df2) ~ Beta(df1/2, df2/2); near x = 1 solve on the complement for precision
  const x = qbeta(p, df1 / 2, df2 / 2);
  if (x <= 0.5) return (df2 * x) / (df1 * (1 - x));
  const y = qbeta(1 - p, df2 / 2, df1 / 2); // y = 1 - x
  return (df2 * (1 - y)) / (df1 * y);
}

/** Quantile of Student's t with df degrees of freedom (p in (0, 1)). */
export function qt(p: number, df: number): number {
  if (p === 0.5) return 0;
  const tail = p < 0.5 ? p : 1 - p;
  // P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2) = 2 tail
  const x = qbeta(2 * tail, df / 2, 0.5);
  const t = Math.sqrt((df * (1 - x)) / x);
  return p < 0.5 ? -t : t;
}
