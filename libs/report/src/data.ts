/**
 * Column access on @app/datasets Datasets read back from a cut, and the small value conversions the report needs.
 */
import type { Dataset, Value } from '@app/datasets';

export type Datasets = ReadonlyMap<string, Dataset>;

export const hasColumn = (ds: Dataset | undefined, name: string): boolean => !!ds && ds.columns.some((c) => c.name === name);

export const toNum = (v: Value): number | null => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);

/** Code-unit order (locale independent). */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Average days per month, as libs/analysis (365.25 / 12). */
export const DAYS_PER_MONTH = 365.25 / 12;
