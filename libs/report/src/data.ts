/**
 * Column access on @app/datasets Datasets read back from a cut, and the small value conversions the report needs.
 */
import type { Dataset, Value } from '@app/datasets';

export type Datasets = ReadonlyMap<string, Dataset>;

/** Indices of the named columns of ds (-1: absent), for loops over many rows: `at(row, i)` reads one. */
export function columnIndices(ds: Dataset, ...names: string[]): number[] {
  const idx = new Map(ds.columns.map((c, i) => [c.name, i]));
  return names.map((n) => idx.get(n) ?? -1);
}

/** The value of column i of row (null when the column is absent, i < 0, or the value is missing). */
export const at = (row: Value[], i: number): Value => (i < 0 ? null : (row[i] ?? null));

export const hasColumn = (ds: Dataset | undefined, name: string): boolean => !!ds && ds.columns.some((c) => c.name === name);

export const toNum = (v: Value): number | null => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);

/** Code-unit order (locale independent). */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Average days per month, as libs/analysis (365.25 / 12). */
export const DAYS_PER_MONTH = 365.25 / 12;
