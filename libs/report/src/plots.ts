/**
 * The report's plots as Vega-Lite specifications, laid out headlessly in Node by Vega (no browser) and rendered to
 * SVG, and from the same scene to PNG (Vega's canvas renderer into a Skia canvas, @napi-rs/canvas; encoded by sharp). Deterministic: Vega numbers clip paths and gradients from a process-wide counter,
 * so the SVG's ids are renumbered in order of appearance and prefixed with the plot's name (the plots also sit
 * side by side in one HTML page, where ids must be unique). Same cut, same bytes.
 *
 * Fonts: DejaVu Sans (Debian fonts-dejavu-core), then Liberation Sans, then any sans-serif.
 */
import { createCanvas } from '@napi-rs/canvas';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { join } from 'node:path';
import { systematicStep, type AgreementSummary } from '@app/analysis';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { InputError, runInWorker, workerPoolThreads } from '@app/core';
import { PLOT_LIMITS, systematicIndices } from './limits';
import type { PlotLaneMessage, PlotLaneResult, PlotTask } from './plot-task';
import type { ForestRow, KmPlotData, ReportModel, ReportModelBase, SubjectSize, SwimmerRow } from './statistics';

export interface RenderedPlot {
  /** File-name stem: 'km-pfs', 'waterfall', ... */
  name: string;
  title: string;
  caption: string;
  /** Dataset and parameter the plot is drawn from, and how many subjects it shows. */
  dataset: string;
  parameter: string;
  subjects: number;
  svg: string;
  png?: Buffer;
}

/** The worker task that draws the plots posted to it (plot-task.ts: a plot lane). */
const PLOT_LANE_TASK = join(__dirname, 'plot-task');

const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
/**
 * The dense data marks (KM censor marks, waterfall bars, spider lines, Bland-Altman points: up to thousands per plot)
 * are drawn with `aria: false`: no aria-label per item. Each figure keeps its title, axes and legend for assistive
 * technology, its caption in the page and its statistics in the report's tables; a list of 3,000 point labels helps no
 * one, and the labels were a third of the SVG bytes and of librsvg's time on the Bland-Altman plots.
 */
const CONFIG = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6', domainColor: '#666', tickColor: '#666', labelColor: '#222', titleColor: '#222' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal', labelLimit: 360, titleLimit: 400 },
  title: { fontSize: 14, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 11, subtitleColor: '#555', offset: 10 },
} as const;

/** Okabe-Ito (colour-blind safe): treatment arms first, the reference arm last. */
export const ARM_COLOURS = ['#0072B2', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
export const REFERENCE_COLOUR = '#D55E00';
export const POOLED_COLOUR = '#333333';
export const BOR_COLOURS: Record<string, string> = { CR: '#1b7837', PR: '#7fbf7b', SD: '#4393c3', 'NON-CR/NON-PD': '#92c5de', PD: '#d6604d', NE: '#9e9e9e', MISSING: '#d9d9d9' };
const BOR_ORDER = ['CR', 'PR', 'SD', 'NON-CR/NON-PD', 'PD', 'NE', 'MISSING'];

export { PLOT_LIMITS } from './limits';

/** Every k-th element (k = systematicStep(n, max)) so that at most max remain: a systematic, deterministic sample. */
function systematic<T>(xs: readonly T[], max: number): T[] {
  return systematicIndices(xs.length, max).map((i) => xs[i]!);
}

const r1 = (x: number) => (Math.round(x * 10) / 10).toFixed(1);
const r2 = (x: number) => (Math.round(x * 100) / 100).toFixed(2);

/** Vega-Lite's compile warnings (e.g. merged legends) are expected here: not printed. */
const QUIET = { level: () => QUIET, error: () => QUIET, warn: () => QUIET, info: () => QUIET, debug: () => QUIET } as unknown as Parameters<typeof compile>[1] extends infer O ? O extends { logger?: infer L } ? L : never : never;

/** PNGs are drawn at twice the SVG's size (144 dpi for its 72 px per inch). */
export const PNG_SCALE = 2;

/**
 * One plot laid out once by Vega: the SVG (ids made deterministic and unique to `prefix`), and with `png` the same scene drawn by Vega's canvas renderer
 * into a Skia canvas (@napi-rs/canvas) at 2x (144 dpi), encoded by sharp (zlib level 4, no metadata: the bytes depend
 * only on the scene). Why not librsvg on the SVG, as before: it parses and composites every mark of the SVG one by
 * one (the 3,000 points of a Bland-Altman plot took it 0.2 s); Skia draws the scene's marks straight from Vega's
 * scenegraph. Both renderings of one scene: a test compares the PNG with librsvg's rasterisation of the SVG.
 */
export async function renderPlot(spec: TopLevelSpec, prefix: string, o: { png: boolean }): Promise<{ svg: string; png?: Buffer }> {
  const vgSpec = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec, { logger: QUIET }).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logLevel: vega.None });
  try {
    const raw = await view.toSVG();
    const svg = normaliseIds(raw, prefix);
    if (!o.png) return { svg };
    // the canvas is the SVG's size (width / height of its root element: the view, padding included) at 2x
    const size = /^<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"/.exec(raw);
    if (!size) throw new Error(`plot ${prefix}: Vega's SVG has no width / height`);
    const w = Math.ceil(Number(size[1]) * PNG_SCALE);
    const h = Math.ceil(Number(size[2]) * PNG_SCALE);
    const canvas = createCanvas(w, h);
    const ctx = canvas.getContext('2d');
    // white first (Vega paints its background over it): every pixel is then opaque, so the canvas's stored pixels,
    // which are premultiplied, are the RGBA ones, read with one copy (canvas.data(); getImageData converts each pixel
    // and took about 0.1 s of a report's nine plots)
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, w, h);
    await view.toCanvas(PNG_SCALE, { externalContext: ctx } as unknown as Parameters<vega.View['toCanvas']>[1]);
    // opaque: RGB
    const png = await sharp(canvas.data(), { raw: { width: w, height: h, channels: 4 } })
      .removeAlpha()
      .png({ compressionLevel: 4, adaptiveFiltering: false })
      .toBuffer();
    return { svg, png };
  } finally {
    view.finalize();
  }
}


/** Renumbers Vega's counter-based ids (clipN, gradientN, patternN, markerN) in order of appearance, prefixed. */
export function normaliseIds(svg: string, prefix: string): string {
  const map = new Map<string, string>();
  const safe = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  svg.replace(/\bid="((?:clip|gradient|pattern|marker)[A-Za-z_]*\d+)"/g, (_m, id: string) => {
    if (!map.has(id)) map.set(id, `${safe}-${id.replace(/\d+$/, '')}${map.size + 1}`);
    return '';
  });
  return svg
    .replace(/\bid="([^"]+)"/g, (m, id: string) => (map.has(id) ? `id="${map.get(id)}"` : m))
    .replace(/url\(#([^)]+)\)/g, (m, id: string) => (map.has(id) ? `url(#${map.get(id)})` : m))
    .replace(/href="#([^"]+)"/g, (m, id: string) => (map.has(id) ? `href="#${map.get(id)}"` : m));
}

/**
 * PNG of an SVG at 2x (144 dpi), via sharp / librsvg; no metadata, so the bytes depend only on the SVG. The report's
 * PNGs are drawn by renderPlot from Vega's scene instead; this is the independent rasterisation of the SVG that a test
 * compares them with. (zlib level 4: on the report's nine plots it encoded in a tenth of the time of level 6 for 3 %
 * more bytes; level 1 saved nothing more and gave 65 % more.)
 */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * PNG_SCALE }).png({ compressionLevel: 4, adaptiveFiltering: false }).toBuffer();
}

function armColours(model: ReportModelBase, groups: string[]): string[] {
  if (!model.arms.length) return groups.map(() => POOLED_COLOUR);
  let k = 0;
  return groups.map((g) => (g === model.reference ? REFERENCE_COLOUR : ARM_COLOURS[k++ % ARM_COLOURS.length]!));
}

// ---------------------------------------------------------------------------------------------------------------

function kmSpec(model: ReportModelBase, d: KmPlotData): TopLevelSpec {
  const groups = d.curves.map((c) => c.group);
  const colours = armColours(model, groups);
  const legendOf = (c: KmPlotData['curves'][number]) => `${c.group}: median ${c.median === null ? 'not reached' : `${r1(c.median)} months`}`;
  const legends = d.curves.map(legendOf);
  const maxX = d.ticks[d.ticks.length - 1]!;
  const xScale = { domain: [0, maxX], nice: false, zero: true };
  const xAxis = { values: d.ticks, title: d.xTitle, grid: false };
  // the legend where the curves are not: bottom left when every curve stays above 50 %
  const high = d.curves.every((c) => c.points[c.points.length - 1]!.s > 0.6);
  const line = d.curves.flatMap((c, i) => c.points.map((p) => ({ legend: legends[i], t: p.t, s: p.s })));
  const cens = d.curves.flatMap((c, i) => c.censored.map((p) => ({ legend: legends[i], t: p.t, s: p.s })));
  const medians = d.curves.flatMap((c, i) => (c.median === null ? [] : [{ legend: legends[i], m: c.median, zero: 0, half: 0.5 }]));
  const colour = { field: 'legend', type: 'nominal', scale: { domain: legends, range: colours }, legend: { title: null, orient: high ? 'bottom-left' : 'top-right', direction: 'vertical', symbolType: 'stroke', fillColor: 'rgba(255,255,255,0.85)', padding: 4, labelLimit: 0 } } as const;
  const colourNoLegend = { ...colour, legend: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Kaplan-Meier: ${d.label}`, subtitle: model.arms.length ? 'By arm; + censored; dashed lines: medians (where the curve crosses 50 %)' : 'All subjects pooled (blinded cut); + censored; dashed line: median' },
    vconcat: [
      {
        width: 620,
        height: 320,
        layer: [
          { data: { values: [{ y: 0.5 }] }, mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { field: 'y', type: 'quantitative' } } },
          { data: { values: line }, mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 }, encoding: { x: { field: 't', type: 'quantitative', scale: xScale, axis: xAxis }, y: { field: 's', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '.0%', title: `${d.parameter}: probability event-free`, tickCount: 5 } }, color: colour } },
          // censor marks: fill-opacity rather than Vega-Lite's default point opacity (0.7), the same pixels (fill
          // only, no stroke), but an element opacity makes librsvg composite each of the hundreds of marks on its own
          // surface: the PNG of a KM plot took 3x as long (110 against 36 ms)
          ...(cens.length ? [{ data: { values: cens }, mark: { type: 'point', shape: 'cross', size: 22, filled: true, strokeWidth: 0, opacity: 1, fillOpacity: 0.7, aria: false }, encoding: { x: { field: 't', type: 'quantitative' }, y: { field: 's', type: 'quantitative' }, color: colourNoLegend } }] : []),
          ...(medians.length
            ? [
                { data: { values: medians }, mark: { type: 'rule', strokeDash: [5, 3], strokeWidth: 1.2 }, encoding: { x: { field: 'm', type: 'quantitative' }, y: { field: 'zero', type: 'quantitative' }, y2: { field: 'half' }, color: colourNoLegend } },
              ]
            : []),
        ],
      },
      {
        width: 620,
        height: { step: 18 },
        title: { text: 'Number at risk', fontSize: 11, fontWeight: 'normal', anchor: 'start', offset: 4 },
        data: { values: d.atRisk },
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          x: { field: 't', type: 'quantitative', scale: xScale, axis: null },
          y: { field: 'group', type: 'nominal', sort: groups, axis: { title: null, domain: false, ticks: false, labelLimit: 200, labelPadding: 22 } },
          text: { field: 'n', type: 'quantitative' },
          color: { field: 'group', type: 'nominal', scale: { domain: groups, range: colours }, legend: null },
        },
      },
    ],
    spacing: 6,
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}

function refRules(): object[] {
  return [
    { data: { values: [{ y: 20, l: '+20 %' }, { y: -30, l: '-30 %' }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#555' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
    { data: { values: [{ y: 20, l: '+20 %: PD' }, { y: -30, l: '\u221230 %: PR' }] }, mark: { type: 'text', align: 'left', dx: 6, fontSize: 10, color: '#555' }, encoding: { y: { field: 'y', type: 'quantitative' }, x: { value: 'width' }, text: { field: 'l' } } },
  ];
}

function borColour(present: Set<string>) {
  const domain = BOR_ORDER.filter((b) => present.has(b));
  return { field: 'bor', type: 'nominal', title: 'Best overall response', scale: { domain, range: domain.map((b) => BOR_COLOURS[b]!) }, legend: { orient: 'top', direction: 'horizontal', title: 'Best overall response (confirmed)' } } as const;
}

function waterfallSpec(sizes: SubjectSize[], n: number): TopLevelSpec {
  const sorted = [...sizes].sort((a, b) => b.bestPchg - a.bestPchg || (a.usubjid < b.usubjid ? -1 : 1));
  const shown = systematic(sorted, PLOT_LIMITS.waterfall).map((s, i) => ({ rank: i + 1, pchg: Math.max(-100, Math.min(100, s.bestPchg)), bor: s.bor }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Waterfall: best % change from baseline in the sum of target lesion diameters', subtitle: `${n} subjects${shown.length < n ? `; a systematic 1-in-${systematicStep(n, PLOT_LIMITS.waterfall)} sample shown (${shown.length})` : ''}; bars capped at +100 %` },
    width: 680,
    height: 300,
    layer: [
      { data: { values: shown }, mark: { type: 'bar', width: { band: 0.85 }, aria: false }, encoding: { x: { field: 'rank', type: 'ordinal', axis: { title: 'Subjects, ordered by best change', labels: false, ticks: false, domain: false } }, y: { field: 'pchg', type: 'quantitative', scale: { domain: [-100, 100] }, axis: { title: 'Best change from baseline (%)', values: [-100, -75, -50, -30, 0, 20, 50, 75, 100] } }, color: borColour(new Set(shown.map((s) => s.bor))) } },
      ...refRules(),
    ],
  } as TopLevelSpec;
}

function spiderSpec(sizes: SubjectSize[], n: number): TopLevelSpec {
  const shown = systematic(sizes, PLOT_LIMITS.spider);
  const values = shown.flatMap((s) => s.path.map((p) => ({ id: s.usubjid, week: Math.round(p.week * 10) / 10, pchg: Math.min(150, p.pchg), bor: s.bor })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Spider plot: % change from baseline in the sum of target lesion diameters over time', subtitle: `${n} subjects${shown.length < n ? `; a systematic 1-in-${systematicStep(n, PLOT_LIMITS.spider)} sample shown (${shown.length})` : ''}; values above +150 % drawn at +150 %` },
    width: 680,
    height: 320,
    layer: [
      { data: { values }, mark: { type: 'line', strokeWidth: 1.1, strokeOpacity: 0.75, point: false, aria: false }, encoding: { x: { field: 'week', type: 'quantitative', axis: { title: 'Weeks since the baseline scan' } }, y: { field: 'pchg', type: 'quantitative', scale: { domain: [-100, 150] }, axis: { title: 'Change from baseline (%)' } }, detail: { field: 'id' }, color: borColour(new Set(values.map((v) => v.bor))) } },
      ...refRules(),
    ],
  } as TopLevelSpec;
}

function swimmerSpec(rows: SwimmerRow[], total: number): TopLevelSpec {
  const shown = rows.slice(0, PLOT_LIMITS.swimmer);
  const order = shown.map((r) => r.usubjid);
  const bars = shown.map((r) => ({ id: r.usubjid, weeks: Math.round(r.weeks * 10) / 10, bor: r.bor }));
  const events = shown.flatMap((r) => r.events.map((e) => ({ id: r.usubjid, week: Math.round(e.week * 10) / 10, kind: e.kind === 'CR' ? 'Complete response' : e.kind === 'PR' ? 'Partial response' : e.kind === 'PD' ? 'Progression' : 'Death' })));
  const ongoing = shown.filter((r) => r.ongoing).map((r) => ({ id: r.usubjid, weeks: Math.round(r.weeks * 10) / 10 }));
  const kinds = ['Partial response', 'Complete response', 'Progression', 'Death'];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Swimmer plot: responders (confirmed CR or PR), time on study to PFS event or censoring', subtitle: `${total} responders${shown.length < total ? `; the ${shown.length} longest shown` : ''}; arrow: censored (no PFS event yet)` },
    width: 620,
    height: { step: 13 },
    layer: [
      { data: { values: bars }, mark: { type: 'bar', height: 8, color: '#9ecae1' }, encoding: { y: { field: 'id', type: 'nominal', sort: order, axis: { title: null, labelFontSize: 9 } }, x: { field: 'weeks', type: 'quantitative', axis: { title: 'Weeks since randomisation' } } } },
      ...(ongoing.length ? [{ data: { values: ongoing }, mark: { type: 'point', shape: 'triangle-right', size: 45, filled: true, color: '#08519c', xOffset: 5 }, encoding: { y: { field: 'id', type: 'nominal', sort: order }, x: { field: 'weeks', type: 'quantitative' } } }] : []),
      ...(events.length ? [{ data: { values: events }, mark: { type: 'point', filled: true, size: 48, opacity: 1 }, encoding: { y: { field: 'id', type: 'nominal', sort: order }, x: { field: 'week', type: 'quantitative' }, shape: { field: 'kind', type: 'nominal', scale: { domain: kinds, range: ['circle', 'diamond', 'square', 'cross'] }, legend: { orient: 'top', title: null } }, color: { field: 'kind', type: 'nominal', scale: { domain: kinds, range: [BOR_COLOURS.PR!, BOR_COLOURS.CR!, BOR_COLOURS.PD!, '#000000'] }, legend: { orient: 'top', title: null } } } }] : []),
    ],
  } as TopLevelSpec;
}

function blandAltmanSpec(l: ReportModel['agreement']['lesions'][number], simulated: boolean): TopLevelSpec {
  const ba = l.blandAltman!;
  // the statistics may have kept a 1-in-pointsStep sample already (the report asks for the plot's limit)
  const n = l.points.mean.length;
  const step = l.pointsStep * systematicStep(n, PLOT_LIMITS.blandAltman);
  const pts = systematicIndices(n, PLOT_LIMITS.blandAltman).map((i) => ({ mean: Math.round(l.points.mean[i]! * 100) / 100, diff: Math.round(l.points.diff[i]! * 100) / 100 }));
  const lines = [
    { y: ba.upperLoa, l: `Upper LoA ${r2(ba.upperLoa)} mm`, dash: 1 },
    { y: ba.bias, l: `Bias ${r2(ba.bias)} mm`, dash: 0 },
    { y: ba.lowerLoa, l: `Lower LoA ${r2(ba.lowerLoa)} mm`, dash: 1 },
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Bland-Altman: target lesion diameters, ${l.a} vs ${l.b}${simulated ? ' (SIMULATED READS)' : ''}`, subtitle: `${l.pairs} lesion x visit pairs from ${l.subjects} subjects${pts.length < l.pairs ? ` (a systematic 1-in-${step} sample shown)` : ''}; limits of agreement: bias +/- 1.96 SD` },
    width: 620,
    height: 300,
    layer: [
      { data: { values: pts }, mark: { type: 'circle', size: 12, fillOpacity: 0.35, strokeWidth: 0, color: '#0072B2', aria: false }, encoding: { x: { field: 'mean', type: 'quantitative', axis: { title: `Mean of ${l.a} and ${l.b} (mm)` } }, y: { field: 'diff', type: 'quantitative', axis: { title: `${l.a} - ${l.b} (mm)` } } } },
      { data: { values: lines }, mark: { type: 'rule', color: '#D55E00', strokeWidth: 1.3 }, encoding: { y: { field: 'y', type: 'quantitative' }, strokeDash: { field: 'dash', type: 'nominal', scale: { domain: [0, 1], range: [[1, 0], [6, 4]] }, legend: null } } },
      { data: { values: lines }, mark: { type: 'text', align: 'right', dy: -6, fontSize: 10, color: '#D55E00' }, encoding: { y: { field: 'y', type: 'quantitative' }, x: { value: 'width' }, text: { field: 'l' } } },
    ],
  } as TopLevelSpec;
}

function forestSpec(rows: ForestRow[], reference: string, confLevel: number): TopLevelSpec {
  const multi = new Set(rows.map((r) => r.comparison)).size > 1;
  const values = rows.map((r, i) => ({
    i,
    row: `${r.subgroup === r.level ? r.subgroup : `${r.subgroup}: ${r.level}`}${multi ? ` (${r.comparison})` : ''}`,
    hr: r.hr, lower: r.lower, upper: r.upper,
    label: r.hr === null ? `not estimable (${r.note ?? ''})` : `${r2(r.hr)} (${r2(r.lower!)}, ${r2(r.upper!)})`,
    n: `${r.n} / ${r.events}`,
    bold: r.subgroup === 'All subjects',
  }));
  const order = values.map((v) => v.row);
  const est = values.filter((v) => v.hr !== null);
  const lo = Math.min(0.25, ...est.map((v) => v.lower!));
  const hi = Math.max(4, ...est.map((v) => v.upper!));
  const y = { field: 'row', type: 'nominal', sort: order, axis: null } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Forest plot: PFS hazard ratio by subgroup (vs ${reference})`, subtitle: `Cox model per subgroup, ${Math.round(confLevel * 100)} % CI; HR < 1 favours the treatment arm` },
    hconcat: [
      // the 'All subjects' row in bold: two layers (Vega-Lite has no fontWeight encoding; one was silently dropped)
      {
        width: 250, height: { step: 20 }, data: { values },
        layer: [
          { transform: [{ filter: 'datum.bold' }], mark: { type: 'text', align: 'left', fontSize: 11, fontWeight: 'bold' }, encoding: { y, x: { value: 0 }, text: { field: 'row' } } },
          { transform: [{ filter: '!datum.bold' }], mark: { type: 'text', align: 'left', fontSize: 11 }, encoding: { y, x: { value: 0 }, text: { field: 'row' } } },
        ],
      },
      { width: 60, height: { step: 20 }, data: { values }, title: { text: 'n / events', fontSize: 10, fontWeight: 'normal', anchor: 'end' }, mark: { type: 'text', align: 'right', fontSize: 11 }, encoding: { y, x: { value: 60 }, text: { field: 'n' } } },
      {
        width: 300, height: { step: 20 },
        layer: [
          { data: { values: [{ x: 1 }] }, mark: { type: 'rule', color: '#666' }, encoding: { x: { field: 'x', type: 'quantitative', scale: { type: 'log', domain: [lo, hi] } } } },
          { data: { values: est }, mark: { type: 'rule', strokeWidth: 1.5, color: '#333' }, encoding: { y: { ...y, axis: null }, x: { field: 'lower', type: 'quantitative', scale: { type: 'log', domain: [lo, hi] }, axis: { title: 'Hazard ratio (log scale)', values: [0.25, 0.5, 1, 2, 4].filter((v) => v >= lo && v <= hi) } }, x2: { field: 'upper' } } },
          { data: { values: est }, mark: { type: 'square', size: 60, color: '#0072B2', opacity: 1 }, encoding: { y: { ...y, axis: null }, x: { field: 'hr', type: 'quantitative' } } },
        ],
      },
      { width: 170, height: { step: 20 }, data: { values }, title: { text: 'HR (CI)', fontSize: 10, fontWeight: 'normal', anchor: 'start' }, mark: { type: 'text', align: 'left', fontSize: 11 }, encoding: { y, x: { value: 0 }, text: { field: 'label' } } },
    ],
    spacing: 4,
    resolve: { scale: { y: 'shared' } },
  } as TopLevelSpec;
}

/** Every plot of the model: SVG (and PNG when `png`). Blinded models give no by-arm plot (no forest, pooled KM). */
export async function renderPlots(model: ReportModel, o: { png?: boolean } = {}): Promise<RenderedPlot[]> {
  const staged = renderPlotsStaged(model, o);
  staged.blandAltman(model.agreement.lesions, model.agreement.origin); // ends the lanes itself if it throws
  return staged.done();
}

/**
 * The report's plots, drawn on libs/core's worker-thread pool (plot lanes: Vega layout to SVG, PNG by sharp) while the
 * caller computes the agreement section (computeReportStaged): renderPlotsStaged sends every plot that needs no
 * agreement data at once; `blandAltman` sends the Bland-Altman plots as soon as the diameter section is known
 * (readerAgreement's onLesions); `done` waits for them all. The plots come back in report order, with the bytes
 * renderPlot gives on any thread.
 */
export interface StagedPlots {
  blandAltman(lesions: AgreementSummary['lesions'], origin: string | null): void;
  done(): Promise<RenderedPlot[]>;
  /** Ends the drawing without waiting for it (the report failed before done()): the pool's threads are given back. */
  abort(): void;
}

/**
 * Plot lanes: one pool task per pool thread, each drawing the plots posted on its own MessagePort until it is told
 * to end. Every plot is posted to every lane with a claim cell (SharedArrayBuffer); the first lane free takes it.
 *
 * Why not one pool task per plot, as before: piscina hands a queued task to a free thread from the calling thread's
 * event loop, and the report's thread is busy computing the agreement section for about a second (10,000 subjects)
 * right after it has queued the plots. Traced on the 2-core box: the two threads drew the two KM plots and then sat
 * idle until the agreement was done; the other seven plots were drawn after it, in series with it. A message on a
 * port reaches its worker at once, whatever the sender's thread is doing.
 */
export class PlotLanes {
  private readonly ports: MessagePort[] = [];
  private readonly waiting = new Map<number, { resolve: (r: { svg: string; png?: Uint8Array }) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private ended = false;
  private failure: Error | undefined;
  /** Settles once every lane has ended (or failed); plots no lane drew are then rejected. */
  private readonly finished: Promise<void>;

  constructor(count: number) {
    const lanes: Promise<number[]>[] = [];
    for (let k = 0; k < count; k++) {
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (r: PlotLaneResult) => this.settle(r));
      this.ports.push(port1);
      const lane = runInWorker<number[]>(PLOT_LANE_TASK, { port: port2 }, [port2]);
      // a lane that dies (its thread crashed) may hold a plot it took: every plot still waiting fails with it
      lane.catch((e: Error) => this.failAll(e));
      lanes.push(lane);
    }
    this.finished = Promise.allSettled(lanes).then((rs) => {
      // each lane returns the ids it drew (their results are posted, maybe not yet received): any other plot still
      // waiting was lost with a failed lane
      const drawn = new Set(rs.flatMap((r) => (r.status === 'fulfilled' ? r.value : [])));
      for (const [id, w] of this.waiting) {
        if (drawn.has(id)) continue;
        this.waiting.delete(id);
        w.reject(this.failure ?? new Error(`plot ${id} was not drawn: its lane ended`));
      }
    });
  }

  /** Draws one plot on the first free lane. */
  draw(task: PlotTask): Promise<{ svg: string; png?: Uint8Array }> {
    if (this.ended) return Promise.reject(new Error('plot lanes: draw() after end()'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const result = new Promise<{ svg: string; png?: Uint8Array }>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    const message: PlotLaneMessage = { id, claim: new Int32Array(new SharedArrayBuffer(4)), task };
    for (const p of this.ports) p.postMessage(message);
    return result;
  }

  /** No more plots: each lane ends once it has read everything posted before (the pool threads are free again). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const p of this.ports) p.postMessage({ end: true } satisfies PlotLaneMessage);
  }

  /** After end(), once every result has been received (or given up): waits for the lanes and closes the ports. */
  async closed(): Promise<void> {
    await this.finished;
    for (const p of this.ports) p.close();
  }

  private settle(r: PlotLaneResult): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    if ('error' in r) w.reject(r.error.code ? new InputError(r.error.code, r.error.message) : new Error(r.error.message));
    else w.resolve(r);
  }

  private failAll(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}

/**
 * `lanes`: how many pool threads draw (default: all of them). buildCutReport leaves one core to its own thread, which
 * computes the agreement section meanwhile: on the 2-core box one lane beside that thread used about 15 % less CPU per
 * report than two lanes competing with it (each lane also compiles Vega's code for itself), and was no slower.
 */
export function renderPlotsStaged(model: ReportModelBase, o: { png?: boolean; lanes?: number } = {}): StagedPlots {
  const blinded = model.arms.length === 0;
  const lanes = new PlotLanes(Math.max(1, Math.min(o.lanes ?? Infinity, workerPoolThreads())));
  // the lanes hold the pool's threads until they are ended: any throw from here on ends them first
  const abort = () => {
    lanes.end();
    void lanes.closed();
  };
  const endingOnThrow = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      abort();
      throw e;
    }
  };
  const draw = (p: Omit<RenderedPlot, 'svg' | 'png'>, spec: TopLevelSpec): Promise<RenderedPlot> => {
    const task: PlotTask = { spec, name: p.name, png: !!o.png };
    const done = lanes.draw(task).then((r) => ({ ...p, svg: r.svg, ...(r.png ? { png: Buffer.from(r.png.buffer, r.png.byteOffset, r.png.length) } : {}) }));
    done.catch(() => undefined); // thrown where it is awaited
    return done;
  };
  const before: Promise<RenderedPlot>[] = [];
  const after: Promise<RenderedPlot>[] = [];
  endingOnThrow(() => {
    for (const d of model.plotData.km) {
      before.push(draw({ name: `km-${d.parameter.toLowerCase()}`, title: `Kaplan-Meier: ${d.label}`, caption: blinded ? 'All subjects pooled (blinded cut).' : 'By arm, with the number at risk below and the medians marked.', dataset: 'ADTTE', parameter: d.parameter, subjects: d.atRisk.filter((a) => a.t === 0).reduce((s, a) => s + a.n, 0) }, kmSpec(model, d)));
    }
    const sizes = model.plotData.sizes;
    if (sizes.length) {
      before.push(draw({ name: 'waterfall', title: 'Waterfall plot', caption: 'Best % change from baseline in the sum of target lesion diameters, coloured by confirmed BOR.', dataset: 'ADTR', parameter: 'SDIAM', subjects: sizes.length }, waterfallSpec(sizes, sizes.length)));
      before.push(draw({ name: 'spider', title: 'Spider plot', caption: '% change from baseline over time, coloured by confirmed BOR.', dataset: 'ADTR', parameter: 'SDIAM', subjects: sizes.length }, spiderSpec(sizes, sizes.length)));
    }
    if (model.plotData.swimmer.length) {
      before.push(draw({ name: 'swimmer', title: 'Swimmer plot', caption: 'Responders: time on study with first response, complete response, progression or death.', dataset: 'ADTTE/ADRS', parameter: 'PFS/OVR', subjects: Math.min(model.plotData.swimmer.length, PLOT_LIMITS.swimmer) }, swimmerSpec(model.plotData.swimmer, model.plotData.swimmer.length)));
    }
    if (!blinded && model.plotData.forest.length && model.reference) {
      after.push(draw({ name: 'forest-pfs', title: 'Forest plot: PFS hazard ratio by subgroup', caption: 'Unstratified Cox model within each subgroup.', dataset: 'ADTTE', parameter: 'PFS', subjects: model.plotData.forest[0]!.n }, forestSpec(model.plotData.forest, model.reference, model.confLevel)));
    }
  });
  let ba: Promise<RenderedPlot>[] | undefined;
  return {
    blandAltman(lesions, origin) {
      if (ba) throw new Error('renderPlotsStaged: the Bland-Altman plots were already sent');
      const simulated = origin === 'SIMULATED';
      const sent: Promise<RenderedPlot>[] = (ba = []);
      endingOnThrow(() => {
        for (const l of lesions) {
          if (!l.blandAltman) continue;
          const name = l.a === 'AI' ? `bland-altman-ai-${l.b.replace(/\D+/g, '') || 'r'}` : 'bland-altman-readers';
          sent.push(draw({ name, title: `Bland-Altman: ${l.a} vs ${l.b}`, caption: `Target lesion diameters, ${l.a} minus ${l.b}.${simulated ? ' Simulated reads.' : ''}`, dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects }, blandAltmanSpec(l, simulated)));
        }
      });
    },
    async done() {
      lanes.end();
      try {
        return await Promise.all([...before, ...(ba ?? []), ...after]);
      } finally {
        await lanes.closed();
      }
    },
    abort,
  };
}
