/**
 * Difference between two response rates (ORR, DCR: treatment minus control) with score-type intervals:
 * - Miettinen & Nurminen (1985) score interval: the deltas whose MN score statistic
 *   z(delta) = (p1 - p2 - delta) / sqrt(V(delta)), V = [p~1 (1 - p~1) / n1 + p~2 (1 - p~2) / n2] N / (N - 1),
 *   with p~ the maximum-likelihood proportions under p1 - p2 = delta (closed form, Farrington & Manning
 *   1990), satisfies |z| <= z_{1 - alpha/2}. Found by bisection to 1e-15.
 * - Newcombe (1998) hybrid score interval (his method 10): Wilson intervals (l_i, u_i) for each rate,
 *   L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2), U = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).
 * - Stratified MN with Cochran-Mantel-Haenszel weights w_h = n1h n2h / (n1h + n2h) (Miettinen & Nurminen
 *   1985, section 5): estimate sum(w d_h) / sum(w); z(delta) = sum(w_h (d_h - delta)) / sqrt(sum(w_h^2 V_h(delta)))
 *   with each stratum's V_h as above (its own N_h / (N_h - 1)); interval where |z| <= z_{1 - alpha/2}.
 */
import type { Dataset, Value } from '@app/datasets';
import { zCritical } from './distributions';
import { AnalysisError, type NotEstimable } from './errors';
import { populationColumn } from './data';

/** x responders out of n subjects. */
export interface Proportion {
  x: number;
  n: number;
}

export type DifferenceMethod = 'miettinen-nurminen' | 'newcombe';

export interface RiskDifference {
  /** Treatment rate minus control rate. */
  estimate: number;
  lower: number;
  upper: number;
  level: number;
  method: 'Miettinen-Nurminen score' | 'Newcombe hybrid score' | 'stratified Miettinen-Nurminen score (CMH weights)';
  treatment: Proportion & { rate: number };
  control: Proportion & { rate: number };
}

function checkProportion(p: Proportion, what: string): void {
  if (!Number.isInteger(p.n) || p.n < 1 || !Number.isInteger(p.x) || p.x < 0 || p.x > p.n) {
    throw new AnalysisError('analysis.bad-input', `${what}: need integers 0 <= x <= n, n >= 1; got x=${p.x}, n=${p.n}`);
  }
}
function checkLevel(level: number): void {
  if (!(level > 0 && level < 1)) throw new AnalysisError('analysis.bad-input', `level must be in (0, 1); got ${level}`);
}

/** Wilson score interval for x / n (R: prop.test(x, n, correct = FALSE)$conf.int). */
export function wilsonInterval(x: number, n: number, level = 0.95): [number, number] {
  checkProportion({ x, n }, 'wilsonInterval');
  checkLevel(level);
  const z = zCritical(level);
  const p = x / n;
  const z22n = (z * z) / (2 * n);
  const half = z * Math.sqrt((p * (1 - p)) / n + z22n / (2 * n));
  const lo = p <= 0 ? 0 : (p + z22n - half) / (1 + 2 * z22n);
  const hi = p >= 1 ? 1 : (p + z22n + half) / (1 + 2 * z22n);
  return [Math.max(0, lo), Math.min(1, hi)];
}

/** Newcombe's hybrid score interval for p_treatment - p_control. */
export function riskDifferenceNewcombe(treatment: Proportion, control: Proportion, level = 0.95): RiskDifference {
  checkProportion(treatment, 'treatment');
  checkProportion(control, 'control');
  checkLevel(level);
  const p1 = treatment.x / treatment.n;
  const p2 = control.x / control.n;
  const [l1, u1] = wilsonInterval(treatment.x, treatment.n, level);
  const [l2, u2] = wilsonInterval(control.x, control.n, level);
  const d = p1 - p2;
  return {
    estimate: d,
    lower: d - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
    upper: d + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    level,
    method: 'Newcombe hybrid score',
    treatment: { ...treatment, rate: p1 },
    control: { ...control, rate: p2 },
  };
}

/** Maximum-likelihood (p1, p2) under p1 - p2 = delta (Farrington & Manning 1990 closed form). */
export function constrainedMle(t: Proportion, c: Proportion, delta: number): [number, number] {
  const theta = c.n / t.n;
  const p1h = t.x / t.n;
  const p2h = c.x / c.n;
  const a = 1 + theta;
  const b = -(1 + theta + p1h + theta * p2h + delta * (theta + 2));
  const cc = delta * delta + delta * (2 * p1h + theta + 1) + p1h + theta * p2h;
  const d = -p1h * delta * (1 + delta);
  const v = b ** 3 / (27 * a ** 3) - (b * cc) / (6 * a * a) + d / (2 * a);
  const u = (v < 0 ? -1 : 1) * Math.sqrt(Math.max(0, (b * b) / (9 * a * a) - cc / (3 * a)));
  const ratio = u === 0 ? 0 : Math.max(-1, Math.min(1, v / u ** 3));
  const w = (Math.PI + Math.acos(ratio)) / 3;
  const p1 = Math.min(1, Math.max(0, 2 * u * Math.cos(w) - b / (3 * a)));
  const p2 = Math.min(1, Math.max(0, p1 - delta));
  return [p1, p2];
}

/** MN variance of p1 - p2 at delta, with the N / (N - 1) factor. */
function mnVariance(t: Proportion, c: Proportion, delta: number): number {
  const [p1, p2] = constrainedMle(t, c, delta);
  const N = t.n + c.n;
  return ((p1 * (1 - p1)) / t.n + (p2 * (1 - p2)) / c.n) * (N / (N - 1));
}

/** The delta in [a, b] where the decreasing function z crosses target (z(a) >= target >= z(b)). */
function bisect(z: (d: number) => number, a: number, b: number, target: number): number {
  for (let i = 0; i < 200 && b - a > 1e-15; i++) {
    const m = (a + b) / 2;
    if (z(m) > target) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

/** The score interval of a decreasing statistic z(delta) with z(estimate) = 0, inside [-1, 1]. */
function scoreInterval(z: (d: number) => number, estimate: number, zc: number): [number, number] {
  const safe = (d: number): number => {
    const v = z(d);
    return Number.isNaN(v) ? 0 : v;
  };
  const lower = estimate <= -1 || safe(-1) < zc ? -1 : bisect(safe, -1, estimate, zc);
  const upper = estimate >= 1 || safe(1) > -zc ? 1 : bisect(safe, estimate, 1, -zc);
  return [lower, upper];
}

const zStat = (num: number, variance: number): number => (num === 0 ? 0 : num / Math.sqrt(variance));

/** Miettinen-Nurminen score interval for p_treatment - p_control. */
export function riskDifferenceMN(treatment: Proportion, control: Proportion, level = 0.95): RiskDifference {
  checkProportion(treatment, 'treatment');
  checkProportion(control, 'control');
  checkLevel(level);
  const p1 = treatment.x / treatment.n;
  const p2 = control.x / control.n;
  const d = p1 - p2;
  const [lower, upper] = scoreInterval((delta) => zStat(d - delta, mnVariance(treatment, control, delta)), d, zCritical(level));
  return { estimate: d, lower, upper, level, method: 'Miettinen-Nurminen score', treatment: { ...treatment, rate: p1 }, control: { ...control, rate: p2 } };
}

export interface StratumCounts {
  stratum: string;
  treatment: Proportion;
  control: Proportion;
}

export interface StratifiedRiskDifference extends Omit<RiskDifference, 'method'> {
  method: 'stratified Miettinen-Nurminen score (CMH weights)';
  /** Strata used, with their CMH weight (normalised to sum 1) and rate difference. */
  strata: { stratum: string; weight: number; difference: number; treatment: Proportion; control: Proportion }[];
  /** Strata left out (an arm with no subjects in the stratum). */
  notes: NotEstimable[];
}

/** Stratified MN score interval for the common difference, CMH weights (treatment minus control). */
export function stratifiedRiskDifferenceMN(strata: readonly StratumCounts[], level = 0.95): StratifiedRiskDifference {
  checkLevel(level);
  const notes: NotEstimable[] = [];
  const used: StratumCounts[] = [];
  for (const s of strata) {
    if (s.treatment.n === 0 || s.control.n === 0) {
      notes.push({ code: 'analysis.stratum-single-arm', message: `stratum ${s.stratum}: no ${s.treatment.n === 0 ? 'treatment' : 'control'} subjects; it carries no weight` });
      continue;
    }
    checkProportion(s.treatment, `stratum ${s.stratum} treatment`);
    checkProportion(s.control, `stratum ${s.stratum} control`);
    used.push(s);
  }
  if (used.length === 0) throw new AnalysisError('analysis.single-arm', 'stratified rate difference: no stratum has subjects in both arms');
  const raw = used.map((s) => (s.treatment.n * s.control.n) / (s.treatment.n + s.control.n));
  const total = raw.reduce((a, b) => a + b, 0);
  const w = raw.map((x) => x / total);
  const dh = used.map((s) => s.treatment.x / s.treatment.n - s.control.x / s.control.n);
  const estimate = dh.reduce((acc, d, h) => acc + w[h] * d, 0);
  const z = (delta: number): number => {
    let num = 0;
    let v = 0;
    used.forEach((s, h) => {
      num += w[h] * (dh[h] - delta);
      v += w[h] * w[h] * mnVariance(s.treatment, s.control, delta);
    });
    return zStat(num, v);
  };
  const [lower, upper] = scoreInterval(z, estimate, zCritical(level));
  const sum = (f: (s: StratumCounts) => number): number => used.reduce((a, s) => a + f(s), 0);
  const t = { x: sum((s) => s.treatment.x), n: sum((s) => s.treatment.n) };
  const c = { x: sum((s) => s.control.x), n: sum((s) => s.control.n) };
  return {
    estimate,
    lower,
    upper,
    level,
    method: 'stratified Miettinen-Nurminen score (CMH weights)',
    treatment: { ...t, rate: t.x / t.n },
    control: { ...c, rate: c.x / c.n },
    strata: used.map((s, h) => ({ stratum: s.stratum, weight: w[h], difference: dh[h], treatment: s.treatment, control: s.control })),
    notes,
  };
}

export interface RateDifferenceOptions {
  /** ADRS parameter: CRSP (confirmed ORR, default), RSP (unconfirmed ORR) or DCR. */
  paramcd?: 'CRSP' | 'RSP' | 'DCR';
  /** ARM values compared: treatment minus control. */
  treatment: string;
  control: string;
  /** Interval method when unstratified (default Miettinen-Nurminen). */
  method?: DifferenceMethod;
  /** ADRS columns whose joined values form the strata: stratified MN with CMH weights. */
  strata?: string[];
  /** Or the stratum of each USUBJID (e.g. the randomisation strata from ADSL); every subject compared needs one. */
  stratumOf?: ReadonlyMap<string, string>;
  level?: number;
  /** Population flag: only subjects with this flag = 'Y'; default 'ITTFL' when ADRS has it; null: every row. */
  population?: string | null;
}

/**
 * ORR (or DCR) difference between two arms from ADRS: responders are AVALC = 'Y' of the parameter, the
 * denominator every subject of the arm with the parameter in the analysis population (ITTFL = 'Y' when ADRS carries
 * it, as the cut's ORR does). A blinded
 * ADRS (no ARM) is refused.
 */
export function rateDifference(adrs: Dataset, o: RateDifferenceOptions): RiskDifference | StratifiedRiskDifference {
  const paramcd = o.paramcd ?? 'CRSP';
  const col = (name: string): number => adrs.columns.findIndex((c) => c.name === name);
  const [iSubj, iParam, iAvalc, iArm] = [col('USUBJID'), col('PARAMCD'), col('AVALC'), col('ARM')];
  if (iSubj < 0 || iParam < 0 || iAvalc < 0) throw new AnalysisError('analysis.bad-input', `${adrs.name} lacks USUBJID, PARAMCD or AVALC; is it ADRS?`);
  if (iArm < 0) throw new AnalysisError('analysis.blinded', `${adrs.name} has no ARM column (a blinded cut): no difference between arms`);
  const iStrata = (o.strata ?? []).map((s) => {
    const i = col(s);
    if (i < 0) throw new AnalysisError('analysis.bad-input', `${adrs.name} has no ${s} column to stratify by`);
    return i;
  });
  const iPop = populationColumn(adrs, o.population);
  const cells = new Map<string, StratumCounts>();
  const seen = new Set<Value>();
  const arms = new Set<string>();
  for (const r of adrs.rows) {
    if (r[iParam] !== paramcd || (iPop >= 0 && r[iPop] !== 'Y')) continue;
    if (seen.has(r[iSubj])) throw new AnalysisError('analysis.bad-input', `${adrs.name}: subject ${String(r[iSubj])} has more than one ${paramcd} record`);
    seen.add(r[iSubj]);
    const arm = String(r[iArm] ?? '');
    arms.add(arm);
    if (arm !== o.treatment && arm !== o.control) continue;
    let stratum = iStrata.map((i) => String(r[i] ?? '')).join(' / ');
    if (o.stratumOf) {
      const s = o.stratumOf.get(String(r[iSubj]));
      if (s === undefined) throw new AnalysisError('analysis.bad-input', `no stratum given for subject ${String(r[iSubj])}`);
      stratum = stratum ? `${stratum} / ${s}` : s;
    }
    let cell = cells.get(stratum);
    if (!cell) cells.set(stratum, (cell = { stratum, treatment: { x: 0, n: 0 }, control: { x: 0, n: 0 } }));
    const side = arm === o.treatment ? cell.treatment : cell.control;
    side.n++;
    if (r[iAvalc] === 'Y') side.x++;
  }
  for (const a of [o.treatment, o.control]) if (!arms.has(a)) throw new AnalysisError('analysis.single-arm', `${adrs.name} ${paramcd}: no subject in arm ${a} (arms present: ${[...arms].join(', ') || 'none'})`);
  const level = o.level ?? 0.95;
  const all = [...cells.values()].sort((a, b) => (a.stratum < b.stratum ? -1 : a.stratum > b.stratum ? 1 : 0));
  if (iStrata.length || o.stratumOf) return stratifiedRiskDifferenceMN(all, level);
  const cell = all[0];
  return (o.method ?? 'miettinen-nurminen') === 'newcombe' ? riskDifferenceNewcombe(cell.treatment, cell.control, level) : riskDifferenceMN(cell.treatment, cell.control, level);
}
