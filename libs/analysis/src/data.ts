/**
 * Input records of the survival functions, and how they are read from an ADaM ADTTE dataset.
 */
import type { Dataset, Value } from '@app/datasets';
import { AnalysisError } from './errors';

/** One subject's time to event (right-censored). */
export interface TimeToEvent {
  /** Subject id (USUBJID), used in messages only. */
  id?: string;
  /** Time from origin to event or censoring, >= 0 (ADTTE AVAL, days). */
  time: number;
  /** true: the event happened at `time` (ADTTE CNSR = 0); false: censored at `time`. */
  event: boolean;
  /** Group compared (treatment arm). */
  group?: string;
  /** Stratum of a stratified log-rank test / Cox model. */
  stratum?: string;
  /** Numeric covariates of a Cox model, by name. */
  covariates?: Record<string, number>;
}

/** Average days per month (365.25 / 12): how landmark months become ADTTE days. */
export const DAYS_PER_MONTH = 365.25 / 12;

/** Checks times and event flags; throws AnalysisError('analysis.bad-input') naming the first bad record. */
export function checkRecords(records: readonly TimeToEvent[], what: string): void {
  if (records.length === 0) throw new AnalysisError('analysis.no-subjects', `${what}: no subjects`);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (typeof r.time !== 'number' || !Number.isFinite(r.time) || r.time < 0) {
      throw new AnalysisError('analysis.bad-input', `${what}: subject ${r.id ?? `#${i + 1}`} has time ${String(r.time)}; times must be finite and >= 0`);
    }
    if (typeof r.event !== 'boolean') throw new AnalysisError('analysis.bad-input', `${what}: subject ${r.id ?? `#${i + 1}`} has no event flag (true = event, false = censored)`);
  }
}

/** Distinct values in code-unit order (a deterministic order that does not depend on the locale). */
/**
 * k of the systematic 1-in-k sample that keeps at most `max` of n items (items 0, k, 2k, ...): 1 when n <= max, else
 * ceil(n / max). The report's plots and readerAgreement's `maxPoints` both sample with it, so they keep the same items.
 */
export function systematicStep(n: number, max: number): number {
  return n <= max ? 1 : Math.ceil(n / Math.max(1, max));
}

export function sortedLevels(values: Iterable<string>): string[] {
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface AdtteSelection {
  /** ADTTE PARAMCD to analyse (PFS, OS, DOR, TTD...). */
  paramcd: string;
  /** Column holding the compared group; default 'ARM' when the dataset has it, else no groups. */
  group?: string | null;
  /** Columns whose values, joined with ' / ', form the stratum. */
  strata?: string[];
  /** Numeric columns passed as Cox covariates. */
  covariates?: string[];
  /** Population flag: only rows with this flag = 'Y' are analysed; default 'ITTFL' when the dataset has it; null: every row. */
  population?: string | null;
}

/**
 * The column index of the analysis population flag of a dataset (rows analysed: flag = 'Y'), or -1 for every row.
 * Default: ITTFL when the dataset has it (ADRS / ADTTE of a cut carry it); a named flag the dataset lacks is refused.
 */
export function populationColumn(ds: Dataset, population: string | null | undefined): number {
  if (population === null) return -1;
  const i = ds.columns.findIndex((c) => c.name === (population ?? 'ITTFL'));
  if (i < 0 && population !== undefined) throw new AnalysisError('analysis.bad-input', `${ds.name} has no ${population} column (the population flag asked for)`);
  return i;
}

/**
 * The subjects of one ADTTE parameter as TimeToEvent records: time = AVAL, event = (CNSR = 0), as ADaM
 * defines CNSR (0 = event, >= 1 = censored); only the analysis population (ITTFL = 'Y' by default, see `population`). A row with missing AVAL or CNSR, a negative AVAL, or a
 * second row of the parameter for the same subject is refused with the subject named.
 */
export function timeToEventFromAdtte(adtte: Dataset, sel: AdtteSelection): TimeToEvent[] {
  const col = (name: string): number => adtte.columns.findIndex((c) => c.name === name);
  const need = (name: string): number => {
    const i = col(name);
    if (i < 0) throw new AnalysisError('analysis.bad-input', `${adtte.name} has no ${name} column`);
    return i;
  };
  const [iSubj, iParam, iAval, iCnsr] = [need('USUBJID'), need('PARAMCD'), need('AVAL'), need('CNSR')];
  const groupCol = sel.group === undefined ? (col('ARM') >= 0 ? 'ARM' : null) : sel.group;
  const iGroup = groupCol === null ? -1 : need(groupCol);
  const iStrata = (sel.strata ?? []).map(need);
  const iCov = (sel.covariates ?? []).map((c) => [c, need(c)] as const);
  const iPop = populationColumn(adtte, sel.population);
  const num = (v: Value): number => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
  const seen = new Set<Value>();
  const out: TimeToEvent[] = [];
  for (const r of adtte.rows) {
    if (r[iParam] !== sel.paramcd || (iPop >= 0 && r[iPop] !== 'Y')) continue;
    const id = String(r[iSubj]);
    if (seen.has(r[iSubj])) throw new AnalysisError('analysis.bad-input', `${adtte.name}: subject ${id} has more than one ${sel.paramcd} record`);
    seen.add(r[iSubj]);
    const time = num(r[iAval]);
    const cnsr = num(r[iCnsr]);
    if (!Number.isFinite(time) || time < 0) throw new AnalysisError('analysis.bad-input', `${adtte.name} ${sel.paramcd}: subject ${id} has AVAL ${String(r[iAval])}`);
    if (!Number.isInteger(cnsr) || cnsr < 0) throw new AnalysisError('analysis.bad-input', `${adtte.name} ${sel.paramcd}: subject ${id} has CNSR ${String(r[iCnsr])}`);
    const rec: TimeToEvent = { id, time, event: cnsr === 0 };
    if (iGroup >= 0) {
      const g = r[iGroup];
      if (g === null || g === '') throw new AnalysisError('analysis.bad-input', `${adtte.name} ${sel.paramcd}: subject ${id} has no ${groupCol}`);
      rec.group = String(g);
    }
    if (iStrata.length) rec.stratum = iStrata.map((i) => String(r[i] ?? '')).join(' / ');
    if (iCov.length) {
      rec.covariates = {};
      for (const [name, i] of iCov) {
        const v = num(r[i]);
        if (!Number.isFinite(v)) throw new AnalysisError('analysis.bad-input', `${adtte.name} ${sel.paramcd}: subject ${id} has ${name} ${String(r[i])}, not a number`);
        rec.covariates[name] = v;
      }
    }
    out.push(rec);
  }
  if (out.length === 0) throw new AnalysisError('analysis.no-subjects', `${adtte.name} has no ${sel.paramcd} records`);
  return out;
}
