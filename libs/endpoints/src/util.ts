import { InputError } from '@app/core';
import { DEFAULT_SETTINGS, type PartialSettings, type ProtocolSettings } from './types';


const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/**
 * Days since 1970-01-01 of an ISO date `YYYY-MM-DD` (proleptic Gregorian, days-from-civil algorithm, no
 * Date objects: this is the hot path of every derivation); throws InputError on anything else.
 */
export function dayNumber(date: string, what = 'date'): number {
  if (typeof date !== 'string' || date.length !== 10 || date.charCodeAt(4) !== 45 || date.charCodeAt(7) !== 45)
    throw new InputError('endpoints.bad-date', `${what}: expected an ISO 8601 date YYYY-MM-DD, got ${JSON.stringify(date)}`);
  let y = 0;
  let m = 0;
  let d = 0;
  for (let i = 0; i < 10; i++) {
    if (i === 4 || i === 7) continue;
    const c = date.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new InputError('endpoints.bad-date', `${what}: expected an ISO 8601 date YYYY-MM-DD, got ${JSON.stringify(date)}`);
    if (i < 4) y = y * 10 + c;
    else if (i < 7) m = m * 10 + c;
    else d = d * 10 + c;
  }
  if (m < 1 || m > 12 || d < 1 || d > (m === 2 && isLeap(y) ? 29 : MONTH_DAYS[m - 1]))
    throw new InputError('endpoints.bad-date', `${what}: ${date} is not a valid calendar date`);
  // H. Hinnant, days_from_civil
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export const isIsoDate = (s: unknown): s is string => {
  if (typeof s !== 'string') return false;
  try {
    dayNumber(s);
    return true;
  } catch {
    return false;
  }
};

/** ISO date of a day number. */
export function isoOfDay(day: number): string {
  return new Date(day * 86400000).toISOString().slice(0, 10);
}

/** ISO date + n days. */
export const addDays = (date: string, n: number): string => isoOfDay(dayNumber(date) + n);

/**
 * Study day / AVAL convention of ADaM (admiral `derive_vars_dy`, time-to-event AVAL):
 * `date - start + 1` when on/after start, `date - start` before it (there is no day 0).
 */
export function studyDay(date: string, start: string): number {
  return studyDayOfDays(dayNumber(date), dayNumber(start));
}

/** studyDay on day numbers (dayNumber): for many dates against one start, converted once. */
export function studyDayOfDays(day: number, startDay: number): number {
  const d = day - startDay;
  return d >= 0 ? d + 1 : d;
}

/** Days from a to b (b - a). */
export const daysBetween = (a: string, b: string): number => dayNumber(b) - dayNumber(a);

/** Fills in defaults and validates the protocol settings. */
export function resolveSettings(partial: PartialSettings = {}): ProtocolSettings {
  const s: ProtocolSettings = { ...DEFAULT_SETTINGS, ...partial };
  const nonNeg: (keyof ProtocolSettings)[] = [
    'confirmationDays', 'confirmationMaxNe', 'sdMinDays', 'assessmentIntervalDays', 'assessmentWindowDays',
    'missedAssessmentsForCensoring', 'ttdThreshold', 'wearMinMinutesPerDay', 'wearMinValidDaysPerWeek',
  ];
  for (const k of nonNeg) {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new InputError('endpoints.bad-settings', `protocol setting ${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  if (s.assessmentIntervalDays < 1) throw new InputError('endpoints.bad-settings', 'protocol setting assessmentIntervalDays must be >= 1');
  if (s.criteria !== 'RECIST 1.1' && s.criteria !== 'iRECIST')
    throw new InputError('endpoints.bad-settings', `protocol setting criteria must be 'RECIST 1.1' or 'iRECIST', got ${JSON.stringify(s.criteria)}`);
  const oneOf = <K extends keyof ProtocolSettings>(k: K, allowed: readonly ProtocolSettings[K][]) => {
    if (!allowed.includes(s[k])) throw new InputError('endpoints.bad-settings', `protocol setting ${k} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(s[k])}`);
  };
  oneOf('missingAsNe', [true, false]);
  oneOf('confirmationAcceptSd', [true, false]);
  oneOf('pfsDeathAfterMissedAssessments', ['censor', 'event']);
  oneOf('dorStart', ['confirmedResponse', 'firstResponse']);
  oneOf('pdSource', ['overallResponse', 'pdDate']);
  if (s.wearMinValidDaysPerWeek > 7) throw new InputError('endpoints.bad-settings', 'wearMinValidDaysPerWeek must be <= 7');
  return s;
}

/** Locale-independent string compare (code unit order), for deterministic sorts. */
export const cmpStr = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Parses a decimal millimetre string/number ('12.3', 12.34) into integer tenths of mm, rounding half up
 * on the decimal digits themselves (never through a binary float multiplication).
 */
export function mmToTenths(v: string | number): number {
  const s = typeof v === 'number' ? String(v) : v.trim();
  const m = /^(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw new InputError('endpoints.bad-measurement', `expected a non-negative decimal number of mm, got ${JSON.stringify(v)}`);
  const frac = (m[2] ?? '') + '00';
  let t = Number(m[1]) * 10 + Number(frac[0]);
  if (Number(frac[1]) >= 5) t += 1;
  return t;
}

/**
 * Integer tenths of mm as mm (123 -> 12.3, -5 -> -0.5). t / 10 is the double nearest to the exact
 * decimal (IEEE division rounds correctly), i.e. exactly what parsing the text '12.3' gives.
 */
export const tenthsToMm = (t: number): number => t / 10;

/**
 * Percent change `(value - ref) / ref * 100` rounded to 1 decimal place, computed on integers
 * (half away from zero). Returns null when ref is 0.
 */
export function pctChange1dp(value: number, ref: number): number | null {
  if (ref === 0) return null;
  const num = (value - ref) * 1000; // tenths of a percent * ref
  const q = Math.round(Math.abs(num) / ref);
  return (Math.sign(num) * q) / 10;
}
