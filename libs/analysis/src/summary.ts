/**
 * Everything a report shows for one time-to-event parameter, in one call, with explicit nulls and
 * reasons instead of errors where the data cannot give a statistic (one arm, no events, median not
 * reached): per-arm KM curve, median and quartiles with CIs, landmark rates, numbers at risk; the
 * log-rank test and the Cox hazard ratio(s) against the reference arm.
 */
import { DAYS_PER_MONTH, sortedLevels, type TimeToEvent } from './data';
import { coxPh, type CoxResult, type Ties } from './cox';
import { orNote, type NotEstimable } from './errors';
import { kaplanMeier, numberAtRisk, survivalAt, survivalQuantiles, type ConfType, type KmCurve, type SurvivalAt, type SurvivalQuantile } from './km';
import { logRankTest, type LogRankResult } from './logrank';

export interface TimeToEventSummaryOptions {
  /** Control arm: the Cox reference. Default: the first group in `groups` order. */
  reference?: string;
  groups?: string[];
  /** Stratified log-rank and Cox (records need `stratum`). */
  stratified?: boolean;
  /** Numeric covariates of the Cox model. */
  covariates?: string[];
  confType?: ConfType;
  confLevel?: number;
  ties?: Ties;
  /** Landmark times in days (default 6 and 12 months: 6 and 12 x 365.25 / 12). */
  landmarks?: number[];
  /** Times of the numbers-at-risk table in days (default every 3 months to the last follow-up). */
  atRiskTimes?: number[];
}

export interface ArmSummary {
  group: string | null;
  n: number;
  events: number;
  median: SurvivalQuantile;
  /** 25th and 75th percentiles (S = 0.75 and S = 0.25). */
  quartiles: SurvivalQuantile[];
  landmarks: SurvivalAt[];
  atRisk: { time: number; nRisk: number }[];
}

export interface TimeToEventSummary {
  n: number;
  events: number;
  confType: ConfType;
  confLevel: number;
  arms: ArmSummary[];
  curves: KmCurve[];
  logRank: LogRankResult | null;
  cox: CoxResult | null;
  /** Why logRank / cox are null, and every note of the parts (strata without events, infinite coefficient...). */
  notes: NotEstimable[];
}

export function summariseTimeToEvent(records: readonly TimeToEvent[], o: TimeToEventSummaryOptions = {}): TimeToEventSummary {
  const confType = o.confType ?? 'log';
  const confLevel = o.confLevel ?? 0.95;
  const curves = kaplanMeier(records, { confType, confLevel, groups: o.groups });
  const maxTime = Math.max(...records.map((r) => r.time));
  const landmarks = o.landmarks ?? [6 * DAYS_PER_MONTH, 12 * DAYS_PER_MONTH];
  const atRiskTimes = o.atRiskTimes ?? Array.from({ length: Math.floor(maxTime / (3 * DAYS_PER_MONTH)) + 1 }, (_, k) => k * 3 * DAYS_PER_MONTH);
  const arms = curves.map((c): ArmSummary => {
    const [q25, median, q75] = survivalQuantiles(c, [0.25, 0.5, 0.75]);
    return { group: c.group, n: c.n, events: c.events, median, quartiles: [q25, q75], landmarks: survivalAt(c, landmarks), atRisk: numberAtRisk(c, atRiskTimes) };
  });
  const notes: NotEstimable[] = [];
  const grouped = records.some((r) => r.group !== undefined);
  let logRank: LogRankResult | null = null;
  let cox: CoxResult | null = null;
  if (!grouped) {
    notes.push({ code: 'analysis.single-arm', message: 'no arms in the data (a blinded or single-arm cut): no log-rank test and no hazard ratio' });
  } else {
    const groups = o.groups ?? sortedLevels(records.map((r) => r.group!));
    const reference = o.reference ?? groups[0];
    logRank = orNote(() => logRankTest(records, { groups, stratified: o.stratified }), notes, 'log-rank test');
    cox = orNote(() => coxPh(records, { groups, reference, stratified: o.stratified, covariates: o.covariates, ties: o.ties, confLevel }), notes, 'hazard ratio');
    for (const n of [...(logRank?.notes ?? []), ...(cox?.notes ?? [])]) if (!notes.some((m) => m.message === n.message)) notes.push(n);
  }
  return { n: records.length, events: records.filter((r) => r.event).length, confType, confLevel, arms, curves, logRank, cox, notes };
}
