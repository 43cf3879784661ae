/**
 * Cox proportional hazards model by Newton-Raphson, as R survival's coxph (coxph.fit / coxfit6):
 * the same centring and scaling of covariates, start at beta = 0, step halving when the partial
 * log-likelihood falls, and the same stopping rule |1 - loglik_old / loglik_new| <= eps (1e-9), at most
 * 20 iterations; Efron (R's default) or Breslow handling of tied event times; strata with their own
 * baseline hazard. The treatment group enters as a factor with treatment contrasts against the
 * reference group (hazard ratio of each other group vs the reference); numeric covariates as given.
 *
 * Reported as summary.coxph: coefficient, se (sqrt of the diagonal of the inverse information), Wald z
 * and p, HR = exp(coef) with Wald interval exp(coef -/+ z se); likelihood ratio, Wald and score tests.
 */
import { checkRecords, sortedLevels, type TimeToEvent } from './data';
import { pchisqUpper, zCritical } from './distributions';
import { AnalysisError, type NotEstimable } from './errors';

export type Ties = 'efron' | 'breslow';

export interface CoxOptions {
  /** Handling of tied event times (default 'efron', as R). */
  ties?: Ties;
  /** The reference (control) group; default the first group in `groups` order. */
  reference?: string;
  /** Group order (default: code-unit order of the groups present). */
  groups?: string[];
  /** Numeric covariates (names in each record's `covariates`) added after the group terms. */
  covariates?: string[];
  /** Stratify by each record's `stratum`. */
  stratified?: boolean;
  confLevel?: number;
  /** R coxph.control defaults: iter.max = 20, eps = 1e-9, toler.chol = eps^0.75 (machine eps). */
  maxIter?: number;
  eps?: number;
}

export interface CoxTerm {
  /** R's coefficient name: 'group' + level for a group term (e.g. 'groupDrug X'), the covariate's name otherwise. */
  name: string;
  /** The group level compared with the reference, or null for a numeric covariate. */
  level: string | null;
  coef: number;
  se: number;
  z: number;
  p: number;
  hr: number;
  lower: number;
  upper: number;
}

export interface CoxTest {
  statistic: number;
  df: number;
  p: number;
}

export interface CoxResult {
  ties: Ties;
  reference: string;
  n: number;
  events: number;
  terms: CoxTerm[];
  /** Variance-covariance matrix of the coefficients (inverse information), in `terms` order. */
  variance: number[][];
  /** Partial log-likelihood at beta = 0 and at the estimate. */
  loglik: [number, number];
  likelihoodRatio: CoxTest;
  wald: CoxTest;
  score: CoxTest;
  iterations: number;
  converged: boolean;
  confLevel: number;
  strata: string[] | null;
  /** Non-convergence, a coefficient that may be infinite (monotone likelihood), strata without events. */
  notes: NotEstimable[];
}

const TOLER_CHOL = 2.220446049250313e-16 ** 0.75;

/** In-place LDL' of a symmetric matrix (lower triangle used); returns the rank (pivots below tol x max diag are zeroed). */
function ldl(m: number[][], toler: number): number {
  const n = m.length;
  let eps = 0;
  for (let i = 0; i < n; i++) if (m[i][i] > eps) eps = m[i][i];
  eps *= toler;
  let rank = 0;
  for (let i = 0; i < n; i++) {
    const pivot = m[i][i];
    if (!Number.isFinite(pivot) || pivot < eps) {
      m[i][i] = 0;
      for (let j = i + 1; j < n; j++) m[j][i] = 0;
      continue;
    }
    rank++;
    for (let j = i + 1; j < n; j++) {
      const temp = m[j][i] / pivot;
      m[j][i] = temp;
      m[j][j] -= temp * temp * pivot;
      for (let k = j + 1; k < n; k++) m[k][j] -= temp * m[k][i];
    }
  }
  return rank;
}

/** Solves (L D L') x = b with a factor from ldl (zero pivots give zero components). */
function ldlSolve(f: number[][], b: readonly number[]): number[] {
  const n = f.length;
  const y = [...b];
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) y[i] -= f[i][j] * y[j];
  for (let i = n - 1; i >= 0; i--) {
    if (f[i][i] === 0) y[i] = 0;
    else {
      y[i] /= f[i][i];
      for (let j = i + 1; j < n; j++) y[i] -= f[j][i] * y[j];
    }
  }
  return y;
}

const copy = (m: number[][]): number[][] => m.map((r) => [...r]);

interface Prepared {
  /** Covariates, centred and scaled, column-major: x[j][i]. */
  x: Float64Array[];
  /** Subjects in processing order: by stratum, then descending time. */
  order: Int32Array;
  time: Float64Array;
  status: Uint8Array;
  /** 1 where a new stratum starts in `order` (risk sets reset). */
  newStratum: Uint8Array;
}

/** Partial log-likelihood, score and information at beta (scaled covariates). */
function coxIter(pr: Prepared, beta: readonly number[], efron: boolean): { loglik: number; u: number[]; imat: number[][] } {
  const p = beta.length;
  const { x, order, time, status, newStratum } = pr;
  const N = order.length;
  const u = new Array<number>(p).fill(0);
  const imat = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const a = new Array<number>(p).fill(0);
  const a2 = new Array<number>(p).fill(0);
  const cmat = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const cmat2 = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  let loglik = 0;
  let denom = 0;
  for (let s = 0; s < N; ) {
    if (newStratum[s]) {
      denom = 0;
      a.fill(0);
      for (const row of cmat) row.fill(0);
    }
    const t = time[order[s]];
    let ndead = 0;
    let denom2 = 0;
    do {
      const i = order[s];
      let zbeta = 0;
      for (let j = 0; j < p; j++) zbeta += beta[j] * x[j][i];
      const risk = Math.exp(zbeta);
      if (status[i] === 0) {
        denom += risk;
        for (let j = 0; j < p; j++) {
          a[j] += risk * x[j][i];
          for (let k = 0; k <= j; k++) cmat[j][k] += risk * x[j][i] * x[k][i];
        }
      } else {
        ndead++;
        denom2 += risk;
        loglik += zbeta;
        for (let j = 0; j < p; j++) {
          u[j] += x[j][i];
          a2[j] += risk * x[j][i];
          for (let k = 0; k <= j; k++) cmat2[j][k] += risk * x[j][i] * x[k][i];
        }
      }
      s++;
    } while (s < N && !newStratum[s] && time[order[s]] === t);
    if (ndead === 0) continue;
    if (!efron || ndead === 1) {
      denom += denom2;
      loglik -= ndead * Math.log(denom);
      for (let j = 0; j < p; j++) {
        a[j] += a2[j];
        const mean = a[j] / denom;
        u[j] -= ndead * mean;
        for (let k = 0; k <= j; k++) {
          cmat[j][k] += cmat2[j][k];
          imat[k][j] += (ndead * (cmat[j][k] - mean * a[k])) / denom;
        }
      }
    } else {
      // Efron: the tied deaths enter the risk set in ndead equal steps
      for (let step = 0; step < ndead; step++) {
        denom += denom2 / ndead;
        loglik -= Math.log(denom);
        for (let j = 0; j < p; j++) {
          a[j] += a2[j] / ndead;
          const mean = a[j] / denom;
          u[j] -= mean;
          for (let k = 0; k <= j; k++) {
            cmat[j][k] += cmat2[j][k] / ndead;
            imat[k][j] += (cmat[j][k] - mean * a[k]) / denom;
          }
        }
      }
    }
    a2.fill(0);
    for (const row of cmat2) row.fill(0);
  }
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) imat[j][k] = imat[k][j];
  return { loglik, u, imat };
}

/**
 * Fits the Cox model (R: coxph(Surv(time, status) ~ group [+ covariates] [+ strata(stratum)], ties)).
 * Refused (AnalysisError): fewer than two groups, no events, a singular design (e.g. collinear or
 * constant covariates).
 */
export function coxPh(records: readonly TimeToEvent[], opts: CoxOptions = {}): CoxResult {
  checkRecords(records, 'coxPh');
  const ties = opts.ties ?? 'efron';
  if (ties !== 'efron' && ties !== 'breslow') throw new AnalysisError('analysis.bad-input', `coxPh: ties must be 'efron' or 'breslow'; got ${String(ties)}`);
  const confLevel = opts.confLevel ?? 0.95;
  if (!(confLevel > 0 && confLevel < 1)) throw new AnalysisError('analysis.bad-input', `coxPh: confLevel must be in (0, 1); got ${confLevel}`);
  const maxIter = opts.maxIter ?? 20;
  const eps = opts.eps ?? 1e-9;
  const missing = records.find((r) => r.group === undefined);
  if (missing) throw new AnalysisError('analysis.bad-input', `coxPh: subject ${missing.id ?? ''} has no group`);
  const groups = opts.groups ?? sortedLevels(records.map((r) => r.group!));
  for (const g of groups) if (!records.some((r) => r.group === g)) throw new AnalysisError('analysis.bad-input', `coxPh: group ${g} has no subjects`);
  const stray = records.find((r) => !groups.includes(r.group!));
  if (stray) throw new AnalysisError('analysis.bad-input', `coxPh: group ${stray.group} is not among ${groups.join(', ')}`);
  if (groups.length < 2) throw new AnalysisError('analysis.single-arm', `a hazard ratio needs two groups; only ${groups.join(', ')} present`);
  const reference = opts.reference ?? groups[0];
  if (!groups.includes(reference)) throw new AnalysisError('analysis.bad-input', `coxPh: reference group ${reference} is not among ${groups.join(', ')}`);
  const events = records.filter((r) => r.event).length;
  if (events === 0) throw new AnalysisError('analysis.no-events', 'Cox model: no events in any group; no hazard ratio can be estimated');
  if (opts.stratified && records.some((r) => r.stratum === undefined)) throw new AnalysisError('analysis.bad-input', 'coxPh: stratified model but some records have no stratum');
  const covNames = opts.covariates ?? [];
  for (const c of covNames) {
    const bad = records.find((r) => typeof r.covariates?.[c] !== 'number' || !Number.isFinite(r.covariates[c]));
    if (bad) throw new AnalysisError('analysis.bad-input', `coxPh: subject ${bad.id ?? ''} has no numeric ${c}`);
  }

  // design: one 0/1 column per non-reference group, then the covariates
  const levels = groups.filter((g) => g !== reference);
  const names = [...levels.map((g) => `group${g}`), ...covNames];
  const N = records.length;
  const p = names.length;
  const raw: Float64Array[] = [
    ...levels.map((g) => Float64Array.from(records, (r) => (r.group === g ? 1 : 0))),
    ...covNames.map((c) => Float64Array.from(records, (r) => r.covariates![c])),
  ];
  // centre and scale as coxfit6 does, except columns whose values are all in {-1, 0, 1} (R: nocenter)
  const means = new Array<number>(p).fill(0);
  const scale = new Array<number>(p).fill(1);
  const x = raw.map((col, j) => {
    if (col.every((v) => v === -1 || v === 0 || v === 1)) return col;
    let m = 0;
    for (const v of col) m += v;
    m /= N;
    means[j] = m;
    const c = Float64Array.from(col, (v) => v - m);
    let sa = 0;
    for (const v of c) sa += Math.abs(v);
    const s = sa > 0 ? N / sa : 1;
    scale[j] = s;
    for (let i = 0; i < N; i++) c[i] *= s;
    return c;
  });

  const strata = opts.stratified ? sortedLevels(records.map((r) => r.stratum!)) : null;
  const sIndex = strata ? new Map(strata.map((s, i) => [s, i])) : null;
  const sOf = (i: number): number => (sIndex ? sIndex.get(records[i].stratum!)! : 0);
  const order = Int32Array.from(records.keys()).sort((i, j) => sOf(i) - sOf(j) || records[j].time - records[i].time);
  const newStratum = Uint8Array.from(order, (i, k) => (k === 0 || sOf(order[k - 1]) !== sOf(i) ? 1 : 0));
  const pr: Prepared = { x, order, time: Float64Array.from(records, (r) => r.time), status: Uint8Array.from(records, (r) => (r.event ? 1 : 0)), newStratum };
  const notes: NotEstimable[] = [];
  if (strata) for (const s of strata) if (!records.some((r) => r.stratum === s && r.event)) notes.push({ code: 'analysis.stratum-no-events', message: `stratum ${s}: no events, it contributes nothing to the Cox model` });

  const singular = (): never => {
    throw new AnalysisError('analysis.cox-singular', `Cox model: the information matrix is singular (terms ${names.join(', ')}); a covariate is constant or collinear with others`);
  };
  const efron = ties === 'efron';
  // initial step, score test at beta = 0
  let beta = new Array<number>(p).fill(0);
  const first = coxIter(pr, beta, efron);
  const loglik0 = first.loglik;
  let f = copy(first.imat);
  if (ldl(f, TOLER_CHOL) < p) singular();
  const step0 = ldlSolve(f, first.u);
  const scoreStat = first.u.reduce((acc, v, j) => acc + v * step0[j], 0);
  let best = loglik0;
  let newbeta = beta.map((b, j) => b + step0[j]);
  let halving = 0;
  let iterations = 0;
  let converged = false;
  let last = first;
  for (iterations = 1; iterations <= maxIter; iterations++) {
    const it = coxIter(pr, newbeta, efron);
    f = copy(it.imat);
    const rank = ldl(f, TOLER_CHOL);
    const notFinite = !Number.isFinite(it.loglik) || it.u.some((v) => !Number.isFinite(v)) || it.imat.some((r) => r.some((v) => !Number.isFinite(v)));
    if (!notFinite && Math.abs(1 - best / it.loglik) <= eps) {
      if (rank < p) singular();
      best = it.loglik;
      beta = newbeta;
      last = it;
      converged = true;
      break;
    }
    if (notFinite || it.loglik < best) {
      halving++;
      newbeta = newbeta.map((nb, j) => (nb + halving * beta[j]) / (halving + 1));
    } else {
      if (rank < p) singular();
      halving = 0;
      best = it.loglik;
      const step = ldlSolve(f, it.u);
      beta = newbeta;
      newbeta = newbeta.map((nb, j) => nb + step[j]);
      last = it;
    }
  }
  if (!converged) {
    iterations = maxIter;
    last = coxIter(pr, beta, efron);
    best = last.loglik;
    f = copy(last.imat);
    if (ldl(f, TOLER_CHOL) < p) singular();
    notes.push({ code: 'analysis.cox-not-converged', message: `Cox model did not converge in ${maxIter} iterations; estimates are from the last good step` });
  }
  // back to the original scale: beta_j = beta_scaled_j * s_j, var_jk = inv(I)_jk * s_j * s_k, u_j / s_j
  const inv = Array.from({ length: p }, (_, k) => ldlSolve(f, Array.from({ length: p }, (_, j) => (j === k ? 1 : 0))));
  const variance = inv.map((col, k) => col.map((v, j) => v * scale[j] * scale[k]));
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) variance[j][k] = variance[k][j] = (variance[j][k] + variance[k][j]) / 2;
  const coef = beta.map((b, j) => b * scale[j]);
  const u = last.u.map((v, j) => v / scale[j]);
  if (converged && maxIter > 1) {
    const tolerInf = Math.sqrt(eps);
    for (let j = 0; j < p; j++) {
      let inf = 0;
      for (let k = 0; k < p; k++) inf += u[k] * variance[k][j];
      inf = Math.abs(inf);
      if (!Number.isFinite(u[j]) || (inf > eps && inf > tolerInf * Math.abs(coef[j]))) {
        notes.push({ code: 'analysis.cox-infinite-coefficient', message: `Cox model: the log-likelihood converged before ${names[j]}; its coefficient may be infinite (e.g. no events in a group), so its hazard ratio and interval are not reliable` });
      }
    }
  }
  const z = zCritical(confLevel);
  const terms: CoxTerm[] = names.map((name, j) => {
    const se = Math.sqrt(variance[j][j]);
    const zz = coef[j] / se;
    return { name, level: j < levels.length ? levels[j] : null, coef: coef[j], se, z: zz, p: pchisqUpper(zz * zz, 1), hr: Math.exp(coef[j]), lower: Math.exp(coef[j] - z * se), upper: Math.exp(coef[j] + z * se) };
  });
  // Wald test b' V^-1 b (R: coxph.wtest on the variance matrix)
  const fv = copy(variance);
  ldl(fv, TOLER_CHOL);
  const vb = ldlSolve(fv, coef);
  const waldStat = coef.reduce((acc, b, j) => acc + b * vb[j], 0);
  const lr = 2 * (best - loglik0);
  return {
    ties,
    reference,
    n: N,
    events,
    terms,
    variance,
    loglik: [loglik0, best],
    likelihoodRatio: { statistic: lr, df: p, p: pchisqUpper(lr, p) },
    wald: { statistic: waldStat, df: p, p: pchisqUpper(waldStat, p) },
    score: { statistic: scoreStat, df: p, p: pchisqUpper(scoreStat, p) },
    iterations,
    converged,
    confLevel,
    strata,
    notes,
  };
}
