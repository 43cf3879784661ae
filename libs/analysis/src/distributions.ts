/**
 * The few distribution functions the analysis needs, to double precision, written to agree with R:
 * - `qnorm`: Wichura's AS 241 (PPND16), the algorithm of R's qnorm (relative error ~1e-16);
 * - `pchisqUpper`: the upper tail of the chi-squared distribution, Q(df/2, x/2) (regularised upper
 *   incomplete gamma) by series / Lentz continued fraction, with log-gamma by Lanczos (g = 7);
 *   df = 1 goes through erfc for full relative accuracy in the far tail.
 * Checked against R's qnorm / pchisq in tests/analysis/distributions.test.ts.
 */

/** Standard normal quantile (AS 241). qnorm(0.975) = 1.959963984540054. */
export function qnorm(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (
      (q *
        (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r + 45921.953931549871457) * r + 13731.693765509461125) * r +
          1971.5909503065514427) *
          r +
          133.14166789178437745) *
          r +
          3.387132872796366608)) /
      (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r + 21213.794301586595867) * r + 5394.1960214247511077) * r +
        687.1870074920579083) *
        r +
        42.313330701600911252) *
        r +
        1)
    );
  }
  let r = q < 0 ? p : 1 - p;
  r = Math.sqrt(-Math.log(r));
  let val: number;
  if (r <= 5) {
    r -= 1.6;
    val =
      (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r + 1.27045825245236838258) * r + 3.64784832476320460504) * r +
        5.7694972214606914055) *
        r +
        4.6303378461565452959) *
        r +
        1.42343711074968357734) /
      (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r + 0.14810397642748007459) * r + 0.68976733498510000455) * r +
        1.6763848301838038494) *
        r +
        2.05319162663775882187) *
        r +
        1);
  } else {
    r -= 5;
    val =
      (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r + 0.026532189526576123093) * r + 0.29656057182850489123) * r +
        1.7848265399172913358) *
        r +
        5.4637849111641143699) *
        r +
        6.6579046435011037772) /
      (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r +
        0.13692988092273580531) *
        r +
        0.59983220655588793769) *
        r +
        1);
  }
  return q < 0 ? -val : val;
}

/** The two-sided critical value z_{1 - (1 - level) / 2}, e.g. 1.959963984540054 for 0.95. */
export function zCritical(level: number): number {
  return qnorm(1 - (1 - level) / 2);
}

const LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];

/** log Gamma(x), x > 0 (Lanczos, g = 7, n = 9; ~1e-15 relative). */
export function lgamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** erfc(x) for x >= 0 to ~1e-16 relative: W. J. Cody's rational approximations (as in R's pnorm). */
function erfcPos(x: number): number {
  // erfc(x) = 2 * pnorm(-x * sqrt(2)); use the complementary normal below.
  return 2 * pnormUpperCody(x * Math.SQRT2);
}

/** Upper normal tail 1 - Phi(x) for x >= 0, Cody (1969) as in R's pnorm_both. */
function pnormUpperCody(x: number): number {
  const a = [2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582, 18154.981253343561249, 0.065682337918207449113];
  const b = [47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956];
  const c = [0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979, 597.27027639480026226, 2494.5375852903726711, 6848.1904505362823326, 11602.651437647350124, 9842.7148383839780218, 1.0765576773720192317e-8];
  const d = [22.266688044328115691, 235.38790178262499861, 1519.377599407554805, 6485.558298266760755, 18615.571640885098091, 34900.952721145977266, 38912.003286093271411, 19685.429676859990727];
  const p = [0.21589853405795699, 0.1274011611602473639, 0.022235277870649807, 0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303];
  const q = [1.28426009614491121, 0.468238212480865118, 0.0659881378689285515, 0.00378239633202758244, 7.29751555083966205e-5];
  const M_SQRT_32 = 5.656854249492380195206754896838;
  const M_1_SQRT_2PI = 0.398942280401432677939946059934;
  const y = Math.abs(x);
  if (y <= 0.67448975) {
    let xnum = a[4] * 0;
    let xden = 0;
    const xsq = y > 1.11e-16 ? x * x : 0;
    xnum = a[4] * xsq;
    xden = xsq;
    for (let i = 0; i < 3; i++) {
      xnum = (xnum + a[i]) * xsq;
      xden = (xden + b[i]) * xsq;
    }
    const temp = (x * (xnum + a[3])) / (xden + b[3]);
    return 0.5 - temp;
  }
  if (y <= M_SQRT_32) {
    let xnum = c[8] * y;
    let xden = y;
    for (let i = 0; i < 7; i++) {
      xnum = (xnum + c[i]) * y;
      xden = (xden + d[i]) * y;
    }
    const temp = (xnum + c[7]) / (xden + d[7]);
    const xsq = Math.trunc(y * 16) / 16;
    const del = (y - xsq) * (y + xsq);
    return Math.exp(-xsq * xsq * 0.5) * Math.exp(-del * 0.5) * temp;
  }
  const xsq = 1 / (x * x);
  let xnum = p[5] * xsq;
  let xden = xsq;
  for (let i = 0; i < 4; i++) {
    xnum = (xnum + p[i]) * xsq;
    xden = (xden + q[i]) * xsq;
  }
  let temp = (xsq * (xnum + p[4])) / (xden + q[4]);
  temp = (M_1_SQRT_2PI - temp) / y;
  const xs = Math.trunc(x * 16) / 16;
  const del = (x - xs) * (x + xs);
  return Math.exp(-xs * xs * 0.5) * Math.exp(-del * 0.5) * temp;
}

/** Standard normal CDF Phi(x) (Cody). */
export function pnorm(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  return x >= 0 ? 1 - pnormUpperCody(x) : pnormUpperCody(-x);
}

/** Regularised upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  const lpre = a * Math.log(x) - x - lgamma(a);
  if (x < a + 1) {
    // series for P
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
    }
    return 1 - Math.exp(lpre) * sum;
  }
  // continued fraction for Q (modified Lentz)
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-17) break;
  }
  return Math.exp(lpre) * h;
}

/** P(X > x) for X ~ chi-squared(df): R's pchisq(x, df, lower.tail = FALSE). */
export function pchisqUpper(x: number, df: number): number {
  if (!(df > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (df === 1) return erfcPos(Math.sqrt(x / 2));
  if (df === 2) return Math.exp(-x / 2);
  return gammaQ(df / 2, x / 2);
}
