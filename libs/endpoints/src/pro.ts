/**
 * Patient-reported outcome and digital-biomarker endpoints:
 * - EORTC QLQ-C30 v3.0 scoring (Fayers et al., EORTC QLQ-C30 Scoring Manual, 3rd ed., EORTC 2001);
 * - change from baseline and time to deterioration (TTD);
 * - wearable daily step counts: valid days, weekly means, % change from baseline.
 *
 * Scores are kept as exact rationals (num/den) so that a >= 10-point threshold is never decided on a
 * rounded float (e.g. 16.667 - 6.667 must be exactly 10).
 */
import { InputError } from '@app/core';
import type { ProtocolSettings, QlqC30Record, StepDay, SubjectInput } from './types';
import { combineTte, type TteResult, type TteSource } from './subject';
import { cmpStr, dayNumber, studyDayOfDays } from './util';

export type QlqScaleKind = 'global' | 'functional' | 'symptom';

export interface QlqScale {
  /** Scale code of the scoring manual (QL2, PF2, RF2, EF, CF, SF, FA, NV, PA, DY, SL, AP, CO, DI, FI). */
  code: string;
  label: string;
  kind: QlqScaleKind;
  /** 1-based item numbers. */
  items: number[];
  /** Item range: 3 for 4-point items, 6 for the 7-point items 29-30. */
  range: number;
}

/** QLQ-C30 v3.0 scales (Scoring Manual 3rd ed., table 1). */
export const QLQ_C30_SCALES: readonly QlqScale[] = Object.freeze([
  { code: 'QL2', label: 'Global health status/QoL', kind: 'global', items: [29, 30], range: 6 },
  { code: 'PF2', label: 'Physical functioning', kind: 'functional', items: [1, 2, 3, 4, 5], range: 3 },
  { code: 'RF2', label: 'Role functioning', kind: 'functional', items: [6, 7], range: 3 },
  { code: 'EF', label: 'Emotional functioning', kind: 'functional', items: [21, 22, 23, 24], range: 3 },
  { code: 'CF', label: 'Cognitive functioning', kind: 'functional', items: [20, 25], range: 3 },
  { code: 'SF', label: 'Social functioning', kind: 'functional', items: [26, 27], range: 3 },
  { code: 'FA', label: 'Fatigue', kind: 'symptom', items: [10, 12, 18], range: 3 },
  { code: 'NV', label: 'Nausea and vomiting', kind: 'symptom', items: [14, 15], range: 3 },
  { code: 'PA', label: 'Pain', kind: 'symptom', items: [9, 19], range: 3 },
  { code: 'DY', label: 'Dyspnoea', kind: 'symptom', items: [8], range: 3 },
  { code: 'SL', label: 'Insomnia', kind: 'symptom', items: [11], range: 3 },
  { code: 'AP', label: 'Appetite loss', kind: 'symptom', items: [13], range: 3 },
  { code: 'CO', label: 'Constipation', kind: 'symptom', items: [16], range: 3 },
  { code: 'DI', label: 'Diarrhoea', kind: 'symptom', items: [17], range: 3 },
  { code: 'FI', label: 'Financial difficulties', kind: 'symptom', items: [28], range: 3 },
] as QlqScale[]);

/** An exact score: value = num / den (den > 0). `value` is the float for display/storage. */
export interface Score {
  num: number;
  den: number;
  value: number;
}

/** Validates one answer: items 1-28 in 1..4, items 29-30 in 1..7, or null (missing). */
export function validQlqAnswer(item: number, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  const max = item >= 29 ? 7 : 4;
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;
}

/**
 * Scores one scale (Scoring Manual section 2):
 * RawScore RS = mean of the answered items; requires at least half of the items answered (the manual's
 * missing-item rule; single-item scales need their item), else null (missing).
 * Functional scales: S = (1 - (RS - 1) / range) x 100; symptom scales and QL2: S = ((RS - 1) / range) x 100.
 * Exact: with n answered items summing to T, RS - 1 = (T - n) / n.
 */
export function scoreQlqScale(scale: QlqScale, items: readonly (number | null)[]): Score | null {
  let t = 0;
  let n = 0;
  for (const it of scale.items) {
    const v = items[it - 1];
    if (!validQlqAnswer(it, v))
      throw new InputError('qlq.bad-answer', `QLQ-C30 item ${it} must be an integer in 1..${it >= 29 ? 7 : 4} or missing, got ${JSON.stringify(v)}`);
    if (v !== null && v !== undefined) {
      t += v;
      n++;
    }
  }
  if (n * 2 < scale.items.length || n === 0) return null;
  const den = scale.range * n;
  const num = scale.kind === 'functional' ? 100 * (den - (t - n)) : 100 * (t - n);
  return { num, den, value: num / den };
}

export interface QlqScores {
  visit: string;
  date: string;
  scores: Record<string, Score | null>;
}

/** Scores every QLQ-C30 scale of one questionnaire. */
export function scoreQlqC30(rec: QlqC30Record): QlqScores {
  if (!Array.isArray(rec.items) || rec.items.length !== 30)
    throw new InputError('qlq.bad-record', `QLQ-C30 record for visit ${rec.visit} must have 30 item answers, got ${Array.isArray(rec.items) ? rec.items.length : typeof rec.items}`);
  const scores: Record<string, Score | null> = {};
  for (const s of QLQ_C30_SCALES) scores[s.code] = scoreQlqScale(s, rec.items);
  return { visit: rec.visit, date: rec.date, scores };
}

/** Exact difference a - b. */
export const scoreDiff = (a: Score, b: Score): Score => {
  const num = a.num * b.den - b.num * a.den;
  const den = a.den * b.den;
  return { num, den, value: num / den };
};

/**
 * Deterioration test: for functional scales and QL2 worse = decrease, for symptom scales worse = increase;
 * deteriorated when the worsening is >= threshold points (exact comparison).
 */
export function isDeterioration(kind: QlqScaleKind, change: Score, threshold: number): boolean {
  const worse = kind === 'symptom' ? change.num : -change.num;
  return worse >= threshold * change.den;
}

/** Questionnaires by date, then visit (a stable sort: a copy, the input is left as it is). */
export const sortQuestionnaires = (records: readonly QlqC30Record[]): QlqC30Record[] => [...records].sort((a, b) => cmpStr(a.date, b.date) || cmpStr(a.visit, b.visit));

export interface ScaleChange {
  code: string;
  visit: string;
  date: string;
  score: Score;
  baseline: Score | null;
  change: Score | null;
}

/**
 * Baseline = the last non-missing score on or before the reference date (randomisation); change from
 * baseline for every later questionnaire (ADaM CHG = AVAL - BASE).
 */
export function qlqChangeFromBaseline(records: QlqC30Record[], refDate: string): ScaleChange[] {
  const scored = sortQuestionnaires(records).map(scoreQlqC30);
  const out: ScaleChange[] = [];
  const ref = dayNumber(refDate);
  const days = scored.map((q) => dayNumber(q.date));
  for (const sc of QLQ_C30_SCALES) {
    let base: Score | null = null;
    for (let i = 0; i < scored.length; i++) if (days[i] <= ref && scored[i].scores[sc.code]) base = scored[i].scores[sc.code];
    for (let i = 0; i < scored.length; i++) {
      const q = scored[i];
      const s = q.scores[sc.code];
      if (!s) continue;
      const post = days[i] > ref;
      out.push({ code: sc.code, visit: q.visit, date: q.date, score: s, baseline: base, change: base && post ? scoreDiff(s, base) : null });
    }
  }
  return out;
}

/**
 * Time to deterioration of one QLQ-C30 scale (ADTTE PARAMCD `TTD<scale>`), admiral TTE conventions,
 * STARTDT = randomisation:
 * - event: first post-baseline questionnaire with a deterioration >= threshold from baseline; with
 *   `ttdConfirmation`, the next non-missing questionnaire must also be deteriorated (a deterioration at
 *   the last questionnaire is then not an event);
 * `precomputed`: the subject's `qlqChangeFromBaseline` (already cut), to avoid re-scoring per scale.
 * - censored at the last non-missing post-baseline questionnaire, or at STARTDT when there is none
 *   (or no baseline score).
 */
/** ADTTE PARAMCD of each scale's time to deterioration (one string per scale, not one per subject). */
const TTD_PARAMCD = new Map(QLQ_C30_SCALES.map((x) => [x.code, `TTD${x.code}`]));

export function deriveTtd(subject: SubjectInput, scaleCode: string, s: ProtocolSettings, cutDate?: string, precomputed?: ScaleChange[]): TteResult | null {
  const scale = QLQ_C30_SCALES.find((x) => x.code === scaleCode);
  if (!scale) throw new InputError('qlq.bad-scale', `unknown QLQ-C30 scale ${scaleCode}`);
  let all = precomputed;
  if (!all) {
    const recs = (subject.qlqc30 ?? []).filter((r) => !cutDate || dayNumber(r.date) <= dayNumber(cutDate));
    if (recs.length === 0) return null;
    all = qlqChangeFromBaseline(recs, subject.randDate);
  }
  if (all.length === 0) return null;
  const changes = all.filter((c) => c.code === scaleCode && c.change !== null);
  const paramcd = TTD_PARAMCD.get(scaleCode)!;
  const sources: TteSource[] = [];
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i];
    if (!isDeterioration(scale.kind, c.change!, s.ttdThreshold)) continue;
    if (s.ttdConfirmation) {
      const nx = changes[i + 1];
      if (!nx || !isDeterioration(scale.kind, nx.change!, s.ttdThreshold)) continue;
    }
    sources.push({ kind: 'event', date: c.date, order: 1, evntdesc: `${scale.label.toUpperCase()} DETERIORATION >= ${s.ttdThreshold} POINTS`, srcdom: 'ADQS', srcvar: 'ADT', srcseq: null });
    break;
  }
  const last = changes[changes.length - 1];
  if (last) sources.push({ kind: 'censor', date: last.date, order: 2, evntdesc: 'LAST QLQ-C30 ASSESSMENT', srcdom: 'ADQS', srcvar: 'ADT', srcseq: null });
  else sources.push({ kind: 'censor', date: subject.randDate, order: 3, evntdesc: 'NO POST-BASELINE QLQ-C30 (CENSORED AT START)', srcdom: 'ADSL', srcvar: 'RANDDT', srcseq: null });
  return combineTte(paramcd, subject.randDate, sources);
}

// ---------------------------------------------------------------------------------------------------------
// Wearables

/** Plausibility bound for daily steps (above = device error). */
export const MAX_DAILY_STEPS = 100000;

/**
 * Valid-day rule: wear time >= `wearMinMinutesPerDay` (default 600 min = 10 h, the usual accelerometry
 * convention, e.g. Troiano et al. 2008) and a plausible step count (0..100000).
 */
export const isValidDay = (d: StepDay, s: ProtocolSettings): boolean =>
  d.wearMinutes >= s.wearMinMinutesPerDay && d.wearMinutes <= 1440 && Number.isInteger(d.steps) && d.steps >= 0 && d.steps <= MAX_DAILY_STEPS;

export interface WeeklySteps {
  /** Week 0 = baseline (study days -7..-1); week k >= 1 = study days 7(k-1)+1 .. 7k. */
  week: number;
  /** Last day of the week (ADT). */
  endDate: string;
  validDays: number;
  /** Mean daily steps over valid days (2 dp) or null when fewer than `wearMinValidDaysPerWeek`. */
  mean: number | null;
  /** % change from the baseline week mean (1 dp), null when either is missing. */
  pctChange: number | null;
}

/**
 * Weekly mean steps relative to `refDate` (study day 1): only valid days count; a week needs at least
 * `wearMinValidDaysPerWeek` valid days; baseline = the 7 days before study day 1. Means are exact
 * (sum/count) and rounded to 2 dp for output; % change = (mean - base) / base x 100, 1 dp.
 */
export function weeklySteps(days: StepDay[], refDate: string, s: ProtocolSettings): WeeklySteps[] {
  // per week (index = week number): valid-day sum and count; a week is reported when it has any day
  const sum: number[] = [];
  const cnt: number[] = [];
  const seen: boolean[] = [];
  const ref = dayNumber(refDate);
  for (const d of days) {
    const sd = studyDayOfDays(dayNumber(d.date), ref); // no day 0
    if (sd < -7) continue;
    const w = sd < 0 ? 0 : Math.floor((sd - 1) / 7) + 1;
    if (!seen[w]) {
      seen[w] = true;
      sum[w] = 0;
      cnt[w] = 0;
    }
    if (isValidDay(d, s)) {
      sum[w] += d.steps;
      cnt[w]++;
    }
  }
  const base = seen[0] ? { sum: sum[0], n: cnt[0] } : undefined;
  const baseOk = base && base.n >= s.wearMinValidDaysPerWeek ? base : null;
  const out: WeeklySteps[] = [];
  for (let w = 0; w < seen.length; w++) {
    if (!seen[w]) continue;
    const acc = { sum: sum[w], n: cnt[w] };
    const ok = acc.n >= s.wearMinValidDaysPerWeek;
    const mean = ok ? Math.round((acc.sum * 100) / acc.n) / 100 : null;
    let pct: number | null = null;
    if (ok && baseOk && baseOk.sum > 0 && w > 0) {
      // (sum/n - bs/bn) / (bs/bn) * 100 = (sum*bn - bs*n) * 100 / (bs*n), rounded to 1 dp.
      const num = (acc.sum * baseOk.n - baseOk.sum * acc.n) * 1000;
      const den = baseOk.sum * acc.n;
      pct = (Math.sign(num) * Math.round(Math.abs(num) / den)) / 10;
    }
    const endDay = w === 0 ? ref - 1 : ref + 7 * w - 1;
    out.push({ week: w, endDate: new Date(endDay * 86400000).toISOString().slice(0, 10), validDays: acc.n, mean, pctChange: pct });
  }
  return out;
}
