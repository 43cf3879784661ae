/**
 * Log-rank test of equal survival across groups, unstratified or stratified: R survival's
 * survdiff(Surv(time, status) ~ group [+ strata(stratum)], rho = 0).
 *
 * Within each stratum, at each distinct event time t with n subjects at risk (n_k in group k) and d
 * events: E_k += d n_k / n and, when n > 1, V_jk += d (n - d) / (n - 1) * (n_j / n) (delta_jk - n_k / n).
 * O, E and V are summed over strata. The statistic is (O - E)' V^- (O - E) over the groups with E > 0,
 * one of them dropped (any one gives the same value), df = (groups with E > 0) - 1.
 */
import { Matrix, solve } from 'ml-matrix';
import { checkRecords, sortedLevels, type TimeToEvent } from './data';
import { pchisqUpper } from './distributions';
import { AnalysisError, type NotEstimable } from './errors';

export interface LogRankOptions {
  /** Group order (default: code-unit order of the groups present). */
  groups?: string[];
  /** Stratify by each record's `stratum` (every record must have one). */
  stratified?: boolean;
}

export interface LogRankResult {
  groups: string[];
  /** Subjects per group. */
  n: number[];
  observed: number[];
  expected: number[];
  /** Variance-covariance matrix of O - E (groups x groups). */
  variance: number[][];
  chisq: number;
  df: number;
  p: number;
  /** Strata used (null when unstratified). */
  strata: string[] | null;
  /** Strata that contribute nothing (no event, or a single group): listed, not silently dropped. */
  notes: NotEstimable[];
}

export function logRankTest(records: readonly TimeToEvent[], opts: LogRankOptions = {}): LogRankResult {
  checkRecords(records, 'logRankTest');
  const missing = records.find((r) => r.group === undefined);
  if (missing) throw new AnalysisError('analysis.bad-input', `logRankTest: subject ${missing.id ?? ''} has no group`);
  const groups = opts.groups ?? sortedLevels(records.map((r) => r.group!));
  const gi = new Map(groups.map((g, i) => [g, i]));
  const stray = records.find((r) => !gi.has(r.group!));
  if (stray) throw new AnalysisError('analysis.bad-input', `logRankTest: group ${stray.group} is not among ${groups.join(', ')}`);
  const present = groups.filter((g) => records.some((r) => r.group === g));
  if (present.length < 2) throw new AnalysisError('analysis.single-arm', `log-rank test needs at least two groups with subjects; only ${present.join(', ') || 'none'} present`);
  if (!records.some((r) => r.event)) throw new AnalysisError('analysis.no-events', 'log-rank test: no events in any group, nothing to compare');
  if (opts.stratified && records.some((r) => r.stratum === undefined)) throw new AnalysisError('analysis.bad-input', 'logRankTest: stratified test but some records have no stratum');

  const K = groups.length;
  const strata = opts.stratified ? sortedLevels(records.map((r) => r.stratum!)) : null;
  const byStratum = strata ? strata.map((s) => records.filter((r) => r.stratum === s)) : [records];
  const n = groups.map((g) => records.filter((r) => r.group === g).length);
  const O = new Array<number>(K).fill(0);
  const E = new Array<number>(K).fill(0);
  const V = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const notes: NotEstimable[] = [];

  byStratum.forEach((recs, si) => {
    const label = strata ? `stratum ${strata[si]}` : 'data';
    if (!recs.some((r) => r.event)) {
      notes.push({ code: 'analysis.stratum-no-events', message: `${label}: no events, it contributes nothing to the log-rank test` });
      return;
    }
    if (strata && new Set(recs.map((r) => r.group)).size < 2) {
      notes.push({ code: 'analysis.stratum-single-group', message: `${label}: only group ${recs[0].group} present, it contributes nothing to the comparison` });
    }
    const sorted = [...recs].sort((a, b) => b.time - a.time); // descending: risk sets grow as we walk back
    const atRisk = new Array<number>(K).fill(0);
    const tied: { t: number; d: number[]; m: number[] }[] = [];
    for (let i = 0; i < sorted.length; ) {
      const t = sorted[i].time;
      const d = new Array<number>(K).fill(0);
      const m = new Array<number>(K).fill(0);
      for (; i < sorted.length && sorted[i].time === t; i++) {
        const k = gi.get(sorted[i].group!)!;
        m[k]++;
        if (sorted[i].event) d[k]++;
      }
      tied.push({ t, d, m });
    }
    for (const { d, m } of tied) {
      for (let k = 0; k < K; k++) atRisk[k] += m[k];
      const dt = d.reduce((a, b) => a + b, 0);
      if (dt === 0) continue;
      const nt = atRisk.reduce((a, b) => a + b, 0);
      for (let k = 0; k < K; k++) {
        O[k] += d[k];
        E[k] += (dt * atRisk[k]) / nt;
      }
      if (nt > 1) {
        const kt = (dt * (nt - dt)) / (nt - 1);
        for (let j = 0; j < K; j++) {
          const pj = atRisk[j] / nt;
          for (let k = 0; k < K; k++) V[j][k] += kt * pj * ((j === k ? 1 : 0) - atRisk[k] / nt);
        }
      }
    }
  });

  const used = E.map((e, k) => (e > 0 ? k : -1)).filter((k) => k >= 0);
  if (used.length < 2) throw new AnalysisError('analysis.logrank-not-estimable', `log-rank test: only ${groups[used[0]] ?? 'no group'} has subjects at risk at the event times; nothing to compare`);
  const keep = used.slice(1);
  const diff = Matrix.columnVector(keep.map((k) => O[k] - E[k]));
  const vv = new Matrix(keep.map((j) => keep.map((k) => V[j][k])));
  const chisq = keep.length === 1 ? diff.get(0, 0) ** 2 / vv.get(0, 0) : diff.transpose().mmul(solve(vv, diff)).get(0, 0);
  const df = used.length - 1;
  return { groups, n, observed: O, expected: E, variance: V, chisq, df, p: pchisqUpper(chisq, df), strata, notes };
}
