/**
 * Largest number of subjects drawn in one waterfall / spider / swimmer plot and of points in a Bland-Altman plot.
 * Transparency is fill-opacity / stroke-opacity, never `opacity` (librsvg composites each element with `opacity`
 * separately: seconds per plot). In a module of its own, apart from plots.ts, so that the statistics (which keep
 * only the Bland-Altman points the plot draws, and the spider paths of the subjects it draws) do not load Vega.
 */
import { systematicStep } from '@app/analysis';

export const PLOT_LIMITS = { waterfall: 1000, spider: 300, swimmer: 40, blandAltman: 3000 };

/** The indices a systematic sample keeps of n elements: 0, k, 2k, ... with k = systematicStep(n, max) (all when n <= max). */
export function systematicIndices(n: number, max: number): number[] {
  const k = systematicStep(n, max);
  return Array.from({ length: Math.ceil(n / k) }, (_, j) => j * k);
}
