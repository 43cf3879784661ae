/**
 * The self-contained HTML report: one file, inline CSS and inline SVG plots, no script, no external resource (it can be
 * mailed, archived or opened offline). Every number printed is a statistics.json entry (its id is the cell's
 * `data-stat`; hovering shows dataset, parameter and subject count).
 */
import type { RenderedPlot } from './plots';
import type { ReportModel, StatEntry } from './statistics';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const fixed = (x: number, d: number) => {
  const v = (Math.round(x * 10 ** d) / 10 ** d).toFixed(d);
  return v === `-${(0).toFixed(d)}` ? (0).toFixed(d) : v.replace(/^-/, '\u2212');
};

/** A p-value as statisticians print it: < 0.001, else 3 decimals. */
export function formatP(p: number): string {
  return p < 0.001 ? '<0.001' : fixed(p, 3);
}

/** The printed form of an entry: value with its interval; NR for a median not reached, NE for a bound not estimable. */
export function formatEntry(e: StatEntry): string {
  const dec: Record<StatEntry['format'], number> = { count: 0, months: 1, days: 1, percent: 1, pp: 1, ratio: 2, p: 3, coef: 3, mm: 2, share: 1, number1: 1 };
  const d = dec[e.format];
  if (e.value === null) {
    if (e.format !== 'months') return 'NE';
    // a median not reached may still have a lower limit: NR (8.3, NE)
    const b = (x: number | null | undefined) => (x === null || x === undefined ? 'NE' : fixed(x, d));
    return e.lower !== null && e.lower !== undefined ? `NR (${b(e.lower)}, ${b(e.upper)})` : 'NR';
  }
  let v = e.format === 'p' ? formatP(e.value) : fixed(e.value, d);
  if (e.format === 'pp' && e.value > 0) v = `+${v}`;
  if (e.lower !== undefined || e.upper !== undefined) {
    const b = (x: number | null | undefined) => (x === null || x === undefined ? 'NE' : fixed(x, d));
    v += ` (${b(e.lower)}, ${b(e.upper)})`;
  }
  return v;
}

const CSS = `
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;color:#1a1a1a;margin:0;background:#f4f5f7;font-size:14px;line-height:1.45}
main{max-width:1060px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid #0072B2}
h3{font-size:15px;margin:20px 0 6px}
.meta{color:#444;font-size:12.5px}.meta td{padding:1px 14px 1px 0;vertical-align:top}.meta code{font-size:11.5px;word-break:break-all}
.banner{padding:8px 12px;margin:12px 0;border-radius:4px;font-weight:bold}
.blinded{background:#fff4e5;border:1px solid #e69f00}.unblinded{background:#fdecea;border:1px solid #d55e00}.simulated{background:#eef6fc;border:1px solid #56b4e9}
table.stats{border-collapse:collapse;margin:6px 0 4px;font-size:13px;min-width:50%}
table.stats th,table.stats td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right;white-space:nowrap}
table.stats th:first-child,table.stats td:first-child{text-align:left;white-space:normal}
table.stats thead th{border-bottom:2px solid #888;background:#f7f7f7;font-weight:bold}
table.stats td.na{color:#999}
.caption{color:#555;font-size:12px;margin:2px 0 10px}
.key{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}.key div{border:1px solid #ccd;border-radius:6px;padding:8px 12px;min-width:200px}
.key b{display:block;font-size:12px;color:#555;font-weight:normal}.key span{font-size:17px}
.notes{background:#fffbea;border:1px solid #e6d690;padding:8px 14px;margin:10px 0;font-size:13px}.notes li{margin:2px 0}
figure{margin:16px 0 24px;page-break-inside:avoid}figure svg{max-width:100%;height:auto}figcaption{font-size:12px;color:#555}
footer{margin-top:36px;font-size:11.5px;color:#666}
`;

function tableHtml(model: ReportModel, t: ReportModel['tables'][number], byId: Map<string, StatEntry>): string {
  const head = `<thead><tr><th></th>${t.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead>`;
  const body = t.rows
    .map((r) => {
      const cells = r.cells.map((id) => {
        if (id === null) return '<td></td>';
        const e = byId.get(id)!;
        const title = `${e.label} | ${e.dataset} ${e.parameter} | n = ${e.subjects}${e.method ? ` | ${e.method}` : ''}${e.note ? ` | ${e.note}` : ''}`;
        return `<td data-stat="${esc(e.id)}" title="${esc(title)}"${e.value === null ? ' class="na"' : ''}>${esc(formatEntry(e))}</td>`;
      });
      return `<tr><td>${esc(r.label)}</td>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<h3 id="${esc(t.id)}">${esc(t.title)}</h3>\n<table class="stats">${head}<tbody>\n${body}\n</tbody></table>${t.caption ? `<p class="caption">${esc(t.caption)}</p>` : ''}`;
}

function keyResults(model: ReportModel, byId: Map<string, StatEntry>): string {
  const items: [string, string][] = [];
  const pick = (id: string, label: string) => {
    const e = byId.get(id);
    if (e) items.push([label, formatEntry(e)]);
  };
  const groups = model.arms.length ? model.arms : [model.cut.blinded ? 'All subjects (blinded)' : 'All subjects'];
  for (const g of groups) pick(`PFS.median.${g}`, `Median PFS, months (95 % CI): ${g}`);
  for (const g of model.arms.filter((a) => a !== model.reference)) pick(`PFS.hr.${g}`, `PFS HR ${g} vs ${model.reference}`);
  for (const g of groups) pick(`CRSP.rate.${g}`, `ORR, % (95 % CI): ${g}`);
  for (const g of model.arms.filter((a) => a !== model.reference)) pick(`CRSP.diff.${g}`, `ORR difference, pp: ${g} - ${model.reference}`);
  pick('agreement.lesions.RADIOLOGIST 1 vs RADIOLOGIST 2.icc21', 'Reader ICC(2,1) of diameters');
  pick('agreement.ovr.RADIOLOGIST 1 vs RADIOLOGIST 2.kappa.unweighted', "Reader kappa, time-point response");
  pick('agreement.adjudication.rate', 'Adjudication rate, %');
  if (!items.length) return '';
  return `<div class="key">${items.map(([l, v]) => `<div><b>${esc(l)}</b><span>${esc(v)}</span></div>`).join('')}</div>`;
}

const SECTIONS: [string, string][] = [
  ['population', 'Analysis population'],
  ['time-to-event', 'Time to event'],
  ['response', 'Tumour response'],
  ['tumour-size', 'Target lesion size'],
  ['agreement', 'Reader and AI agreement (BICR)'],
  ['forest', 'Subgroups'],
];

/** A piece of the page: HTML text, or a plot whose SVG goes there as it is. */
type HtmlPart = string | RenderedPlot;

/**
 * The report page as pieces: HTML text with each plot's SVG left as the plot, so that the page's bytes can be put
 * together from the SVG bytes the plot files already hold (renderHtmlBytes) instead of re-encoding 2 MB of SVG text.
 */
function htmlParts(model: ReportModel, plots: RenderedPlot[], o: { reportCodeVersion: string }): HtmlPart[] {
  const byId = new Map(model.statistics.map((e) => [e.id, e]));
  const c = model.cut;
  const plotFor = (section: string): HtmlPart[] =>
    plots
      .filter((p) => (section === 'time-to-event' && p.name.startsWith('km-')) || (section === 'tumour-size' && ['waterfall', 'spider', 'swimmer'].includes(p.name)) || (section === 'agreement' && p.name.startsWith('bland-altman')) || (section === 'forest' && p.name.startsWith('forest')))
      .flatMap((p, i) => [...(i ? ['\n'] : []), `<figure id="plot-${esc(p.name)}">`, p, `<figcaption>${esc(p.title)}: ${esc(p.caption)} Source: ${esc(p.dataset)} ${esc(p.parameter)}, ${p.subjects} subjects. Files: plots/${esc(p.name)}.svg, plots/${esc(p.name)}.png</figcaption></figure>`]);
  const parts: HtmlPart[][] = [];
  for (const [id, title] of SECTIONS) {
    const tables = model.tables.filter((t) => t.section === id);
    const notes = model.notes.filter((n) => n.section === id);
    const figs = plotFor(id);
    if (!tables.length && !notes.length && !figs.length) continue;
    if (id === 'forest' && !model.arms.length) continue;
    parts.push([`<section id="section-${id}"><h2>${esc(title)}</h2>`]);
    if (notes.length) parts.push([`<ul class="notes">${notes.map((n) => `<li><b>${esc(n.code.replace(/^analysis\./, ''))}</b>: ${esc(n.message)}</li>`).join('')}</ul>`]);
    for (const t of tables) parts.push([tableHtml(model, t, byId)]);
    if (figs.length) parts.push(figs);
    parts.push(['</section>']);
  }
  const banner = c.blinded
    ? '<div class="banner blinded">BLINDED data cut: no statistic and no plot is split by treatment arm.</div>'
    : '<div class="banner unblinded">UNBLINDED data cut: treatment arms shown. Restricted to biostatisticians holding the unblinding grant.</div>';
  const sim = model.agreement.origin === 'SIMULATED' ? '<div class="banner simulated">The reader and AI agreement section uses SIMULATED reads (trial simulator), not signed reads.</div>' : '';
  const head = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data cut report ${esc(c.cutId)}</title><style>${CSS}</style></head>
<body><main>
<h1>Data cut report: ${esc(c.studyId)}</h1>
<table class="meta"><tbody>
<tr><td>Cut</td><td><code>${esc(c.cutId)}</code></td></tr>
<tr><td>Data cut-off</td><td>${esc(c.cutoffDate)}</td></tr>
<tr><td>Cut manifest sha256</td><td><code>${esc(c.manifestSha256)}</code></td></tr>
<tr><td>Cut made by</td><td><code>${esc(c.cutCodeVersion)}</code></td></tr>
<tr><td>Report made by</td><td><code>${esc(o.reportCodeVersion)}</code></td></tr>
</tbody></table>
${banner}${sim}
${keyResults(model, byId)}
`;
  const foot = `
<footer>Every number in this report is in statistics.json (same folder) with the dataset, parameter and subject count it comes from; hover a cell for its source.
Survival statistics: Kaplan-Meier with Greenwood variance and Brookmeyer-Crowley median intervals (log transform), Cox proportional hazards with Efron ties, log-rank test (as R survival).
ORR difference: Miettinen-Nurminen score interval. Agreement: ICC (Shrout-Fleiss / McGraw-Wong), Bland-Altman, Cohen's kappa with Fleiss-Cohen-Everitt standard errors.
Months = days / 30.4375. NR: median not reached; NE: not estimable.</footer>
</main></body></html>
`;
  return [head, ...parts.flatMap((x, i) => (i ? ['\n', ...x] : x)), foot];
}

/** The report page. */
export function renderHtml(model: ReportModel, plots: RenderedPlot[], o: { reportCodeVersion: string }): string {
  return htmlParts(model, plots, o)
    .map((x) => (typeof x === 'string' ? x : x.svg))
    .join('');
}

/**
 * renderHtml's UTF-8 bytes, with each plot's SVG taken from `svgBytes` (its plot file's bytes, the UTF-8 of p.svg):
 * the same bytes as Buffer.from(renderHtml(...), 'utf8'), without flattening and encoding the 2 MB page as one string
 * (a page with one character above U+00FF is held in two bytes a character: 40-50 ms for a 10,000-subject report).
 */
export function renderHtmlBytes(model: ReportModel, plots: RenderedPlot[], o: { reportCodeVersion: string }, svgBytes: ReadonlyMap<RenderedPlot, Buffer>): Buffer {
  const out: Buffer[] = [];
  let text = '';
  for (const x of htmlParts(model, plots, o)) {
    if (typeof x === 'string') {
      text += x;
      continue;
    }
    const svg = svgBytes.get(x);
    if (!svg) throw new Error(`renderHtmlBytes: no SVG bytes for plot ${x.name}`);
    out.push(Buffer.from(text, 'utf8'), svg);
    text = '';
  }
  out.push(Buffer.from(text, 'utf8'));
  return Buffer.concat(out);
}
