/**
 * Study-level response rates from ADRS: objective response rate (ORR) and disease control rate (DCR),
 * n / N with an exact two-sided confidence interval, overall or by arm.
 *
 * - ORR: subjects with a confirmed (CRSP) or unconfirmed (RSP) response of CR or PR / the ITT population.
 *   DCR: subjects whose confirmed BOR is CR, PR or SD (or NON-CR/NON-PD, per protocol settings: ADRS DCR
 *   already applies them) / the ITT population. The denominator is every subject with the parameter in ADRS
 *   and ITTFL = 'Y' (every randomised subject, assessed or not: subjects without any assessment are in ADRS
 *   with AVALC = 'N'); an ADRS without ITTFL (older cuts) counts every subject with the parameter.
 *   Responders are AVALC = 'Y'. This is how the FDA oncology guidance and the admiralonco templates state
 *   ORR: a proportion of the analysis set.
 * - Confidence interval: Clopper-Pearson (1934) "exact" interval, the usual one in oncology labels: the
 *   lower bound p_L solves P(X >= x | n, p_L) = alpha / 2 (0 when x = 0) and the upper bound p_U solves
 *   P(X <= x | n, p_U) = alpha / 2 (1 when x = n). The binomial tails are regularised incomplete beta
 *   functions, P(X >= x | n, p) = I_p(x, n - x + 1), so the bounds are beta quantiles (as R's binom.test computes
 *   them): @app/analysis `qbeta`, bisection on the continued fraction to adjacent doubles. About 0.1 ms an interval
 *   at n = 5,000 (summing the binomial terms at each bisection step, as before, took 5 ms).
 */
import { qbeta } from '@app/analysis';
import { InputError } from '@app/core';
import type { Dataset, Value } from '@app/datasets';

/** Clopper-Pearson exact two-sided interval for x successes in n trials at `level` (default 0.95). */
export function clopperPearson(x: number, n: number, level = 0.95): [number, number] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(x) || x < 0 || x > n) throw new InputError('endpoints.bad-input', `clopperPearson: need integers 0 <= x <= n, n >= 1; got x=${x}, n=${n}`);
  if (!(level > 0 && level < 1)) throw new InputError('endpoints.bad-input', `clopperPearson: level must be in (0, 1), got ${level}`);
  const alpha2 = (1 - level) / 2;
  // P(X >= x | p) = I_p(x, n - x + 1) grows with p; P(X <= x | p) = 1 - I_p(x + 1, n - x) falls with p
  const lo = x === 0 ? 0 : qbeta(alpha2, x, n - x + 1);
  const hi = x === n ? 1 : qbeta(1 - alpha2, x + 1, n - x);
  return [lo, hi];
}

/** One group's rate. Percentages are rounded to 0.1 for display; `ci` keeps full precision. */
export interface ResponseRate {
  /** ADRS PARAMCD counted: CRSP (confirmed ORR), RSP (unconfirmed ORR) or DCR. */
  paramcd: 'CRSP' | 'RSP' | 'DCR';
  /** The ARM value, or null for all subjects. */
  arm: string | null;
  /** Subjects in the denominator. */
  n: number;
  /** Subjects with AVALC = 'Y'. */
  responders: number;
  /** responders / n, as a proportion. */
  rate: number;
  /** Exact (Clopper-Pearson) interval for rate, as proportions. */
  ci: [number, number];
  level: number;
  method: 'Clopper-Pearson exact';
  /** The denominator's population: 'ITT' (ADRS ITTFL = Y) or 'ALL' (an ADRS without ITTFL: every subject). */
  population: 'ITT' | 'ALL';
  /** Subjects with the parameter left out of the denominator (ITTFL not Y). */
  excluded: number;
}

/**
 * ORR / DCR from an ADRS dataset (as written in a cut, or read back from one), for all subjects or by
 * ARM. `byArm` on a blinded ADRS (no ARM column) is refused: blinded cuts never reveal arms. A subject
 * with two records of the parameter is an error (ADRS has one per subject).
 */
export function responseRates(adrs: Dataset, paramcd: ResponseRate['paramcd'], opts: { byArm?: boolean; level?: number } = {}): ResponseRate[] {
  const level = opts.level ?? 0.95;
  const col = (name: string): number => adrs.columns.findIndex((c) => c.name === name);
  const [iSubj, iParam, iAvalc, iArm, iItt] = [col('USUBJID'), col('PARAMCD'), col('AVALC'), col('ARM'), col('ITTFL')];
  if (iSubj < 0 || iParam < 0 || iAvalc < 0) throw new InputError('endpoints.bad-input', `responseRates: ${adrs.name} lacks USUBJID, PARAMCD or AVALC; is it ADRS?`);
  if (opts.byArm && iArm < 0) throw new InputError('endpoints.bad-input', `responseRates: ${adrs.name} has no ARM column (a blinded cut): rates by arm are not available`);
  const groups = new Map<string | null, { n: number; y: number }>();
  const seen = new Set<Value>();
  const excluded = new Map<string | null, number>();
  for (const r of adrs.rows) {
    if (r[iParam] !== paramcd) continue;
    if (seen.has(r[iSubj])) throw new InputError('endpoints.bad-input', `responseRates: subject ${String(r[iSubj])} has more than one ${paramcd} record`);
    seen.add(r[iSubj]);
    if (iItt >= 0 && r[iItt] !== 'Y') {
      const k = opts.byArm ? String(r[iArm] ?? '') : null;
      excluded.set(k, (excluded.get(k) ?? 0) + 1);
      continue;
    }
    const key = opts.byArm ? String(r[iArm] ?? '') : null;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { n: 0, y: 0 }));
    g.n++;
    if (r[iAvalc] === 'Y') g.y++;
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === b ? 0 : a === null || (b !== null && a < b) ? -1 : 1))
    .map(([arm, g]) => ({ paramcd, arm, n: g.n, responders: g.y, rate: g.y / g.n, ci: clopperPearson(g.y, g.n, level), level, method: 'Clopper-Pearson exact', population: iItt >= 0 ? 'ITT' : 'ALL', excluded: excluded.get(arm) ?? 0 }));
}
