/**
 * Largest number of subjects drawn in one waterfall / spider / swimmer plot and of points in a Bland-Altman plot.
 * Transparency is fill-opacity / stroke-opacity, never `opacity` (librsvg composites each element with `opacity`
 * separately: seconds per plot). In a module of its own, apart from plots.ts, so that the statistics (which keep
 * only the Bland-Altman points the plot draws) do not load Vega.
 */
export const PLOT_LIMITS = { waterfall: 1000, spider: 300, swimmer: 40, blandAltman: 3000 };
