/**
 * The cut report (libs/report) on datasets derived by the endpoint engine from simulated trials with readers:
 * - same cut -> byte-identical files (HTML, statistics.json, every SVG and PNG), also within one process;
 * - a blinded cut's report has no arm label and no by-arm split anywhere (HTML, JSON, SVG), no HR, no forest plot;
 * - every number printed in the HTML is a statistics.json entry with its dataset, parameter and subject count, and the
 *   headline numbers are those of @app/analysis / @app/endpoints called directly (themselves checked against R);
 * - bad input gives a clear message in the report, never an exception or NaN: too few events for a median, a single
 *   arm, a subgroup without events, zero-variance measurements, a cut without reads;
 * - the report manifest references the cut manifest and verifies every file.
 */
import { coxPh, rateDifference, summariseTimeToEvent, timeToEventFromAdtte } from '@app/analysis';
import type { Dataset } from '@app/datasets';
import { deriveEndpointDatasets, latestDate, readDatasets, resolveSettings, simulateTrial, type StudyInputWithReads } from '@app/endpoints';
import sharp from 'sharp';
import { buildCutReport, computeReport, formatEntry, PLOT_LIMITS, renderHtml, svgToPng, verifyReport, type BuiltReport, type ReportCutInfo } from '@app/report';

jest.setTimeout(120000);

const ARM_WORDS = ['Drug X 10 mg', 'Placebo', 'DRUGX', 'PBO', 'TRT01P', '"ARM"', 'ARMCD'];

function datasetsOf(study: StudyInputWithReads, blinded: boolean, withReads = true): Map<string, Dataset> {
  const s = resolveSettings({});
  const d = deriveEndpointDatasets(study, s, { blinded }).datasets;
  const r = withReads && study.reads ? readDatasets(study, s).datasets : [];
  return new Map([...d, ...r].map((x) => [x.name, x]));
}
const cutInfo = (cutId: string, blinded: boolean, cutoff: string): ReportCutInfo => ({ cutId, studyId: 'SIM-REPORT', cutoffDate: cutoff, blinded, manifestSha256: 'a'.repeat(64), cutCodeVersion: 'test@1' });
const text = (r: BuiltReport) => r.files.filter((f) => !f.path.endsWith('.png')).map((f) => f.bytes.toString('utf8'));
const entryIds = (html: string) => [...html.matchAll(/data-stat="([^"]+)"/g)].map((m) => m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));

const study = simulateTrial({ subjects: 160, visits: 8, seed: 42, readers: true });
const cutoff = latestDate(study);
study.dataCutDate = cutoff;
let unblinded: BuiltReport;
let blinded: BuiltReport;
let unblindedDs: Map<string, Dataset>;

beforeAll(async () => {
  unblindedDs = datasetsOf(study, false);
  unblinded = await buildCutReport(cutInfo('CUT-U', false, cutoff), unblindedDs, { codeVersion: 'test@1' });
  blinded = await buildCutReport(cutInfo('CUT-B', true, cutoff), datasetsOf(study, true), { codeVersion: 'test@1' });
});

test('same cut, same bytes: every file, twice in one process (Vega id counters normalised)', async () => {
  const again = await buildCutReport(cutInfo('CUT-U', false, cutoff), datasetsOf(study, false), { codeVersion: 'test@1' });
  expect(again.files.map((f) => [f.path, f.sha256])).toEqual(unblinded.files.map((f) => [f.path, f.sha256]));
  expect(again.manifest.reportManifestSha256).toBe(unblinded.manifest.reportManifestSha256);
  // ids are unique across the plots of one page
  const html = unblinded.files.find((f) => f.path === 'report.html')!.bytes.toString('utf8');
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  expect(new Set(ids).size).toBe(ids.length);
});

test("report.html is renderHtml's page in UTF-8, each plot's SVG file embedded byte for byte", () => {
  const page = unblinded.files.find((f) => f.path === 'report.html')!.bytes;
  const textPage = renderHtml(unblinded.model, unblinded.plots, { reportCodeVersion: 'test@1' });
  // the page holds characters above U+00FF (the minus sign of negative numbers): the text is not Latin-1
  expect([...textPage].some((ch) => ch.codePointAt(0)! > 0xff)).toBe(true);
  expect(page.equals(Buffer.from(textPage, 'utf8'))).toBe(true);
  let from = 0;
  for (const p of unblinded.plots) {
    const svg = unblinded.files.find((f) => f.path === `plots/${p.name}.svg`)!.bytes;
    const at = page.indexOf(svg, from);
    expect(at).toBeGreaterThan(from); // in the plots' order, each after the one before
    from = at + svg.length;
  }
});

test('the report lists every plot of the issue: KM by arm with numbers at risk, waterfall, spider, swimmer, Bland-Altman, forest', () => {
  const names = unblinded.plots.map((p) => p.name);
  expect(names).toEqual(expect.arrayContaining(['km-pfs', 'waterfall', 'spider', 'swimmer', 'bland-altman-readers', 'bland-altman-ai-1', 'forest-pfs']));
  const km = unblinded.plots.find((p) => p.name === 'km-pfs')!.svg;
  expect(km).toContain('Number at risk');
  expect(km).toContain('Drug X 10 mg: median');
  // censor marks translucent by fill-opacity, never by an element opacity below 1 (librsvg composites each of those
  // on a surface of its own: the PNG took 3x as long)
  expect(km).toMatch(/class="mark-symbol role-mark[^"]*"[^>]*><path [^>]*fill-opacity="0.7"/);
  expect(km).not.toMatch(/\sopacity="0\.\d+"/);
  // the forest's 'All subjects' row is bold, the subgroups are not
  const forest = unblinded.plots.find((p) => p.name === 'forest-pfs')!.svg;
  expect(forest).toMatch(/font-weight="bold"[^>]*>All subjects</);
  expect(forest).toMatch(/>Baseline sum of diameters/);
  expect(forest).not.toMatch(/font-weight="bold"[^>]*>Baseline sum/);
  for (const p of unblinded.plots) {
    expect(p.svg.startsWith('<svg')).toBe(true);
    expect(p.png!.subarray(1, 4).toString()).toBe('PNG');
  }
});

test('every PNG shows what its SVG shows: the scene drawn by Skia against librsvg rasterising the SVG', async () => {
  // renderPlot draws the PNG from Vega's scene; svgToPng is an independent rasteriser of the SVG file. Same size at
  // 2x; anti-aliasing and glyph hinting differ, nothing else (a mark, a label or a clip missing on one side would move
  // whole strokes: a blank PNG is 5.5-12 grey levels and 3-9 % of pixels off; the plots here are within 1.5 and 0.7 %)
  const off: string[] = [];
  let checked = 0;
  for (const r of [unblinded, blinded]) {
    for (const p of r.plots) {
      const ours = await sharp(p.png!).greyscale().raw().toBuffer({ resolveWithObject: true });
      const ref = await sharp(await svgToPng(p.svg)).flatten({ background: '#ffffff' }).greyscale().raw().toBuffer({ resolveWithObject: true });
      expect([ours.info.width, ours.info.height]).toEqual([ref.info.width, ref.info.height]);
      let sum = 0;
      let far = 0;
      for (let i = 0; i < ours.data.length; i++) {
        const d = Math.abs(ours.data[i]! - ref.data[i]!);
        sum += d;
        if (d > 64) far++;
      }
      const mean = sum / ours.data.length;
      const share = far / ours.data.length;
      if (!(mean < 2.5 && share < 0.012)) off.push(`${r.manifest.cutId} ${p.name}: mean grey difference ${mean.toFixed(2)}, ${(100 * share).toFixed(2)} % of pixels off by more than 64`);
      // opaque RGB, no metadata: the bytes depend only on the scene
      const meta = await sharp(p.png!).metadata();
      expect([p.name, meta.channels, meta.hasAlpha, meta.density ?? null]).toEqual([p.name, 3, false, null]);
      checked++;
    }
  }
  expect(off).toEqual([]);
  expect(checked).toBe(unblinded.plots.length + blinded.plots.length);
});

test('a blinded cut: no arm label, no by-arm statistic, no by-arm plot (HTML, statistics.json, SVGs)', () => {
  for (const t of text(blinded)) for (const w of ARM_WORDS) expect(t).not.toContain(w);
  expect(blinded.plots.map((p) => p.name)).not.toContain('forest-pfs');
  expect(blinded.files.map((f) => f.path)).not.toContain('plots/forest-pfs.svg');
  // one KM curve (pooled), one row of numbers at risk
  const km = blinded.plots.find((p) => p.name === 'km-pfs')!.svg;
  // Vega draws one line mark group per series (per arm when by arm)
  const curves = (svg: string) => svg.match(/class="mark-line role-mark concat_0_layer_1_marks"/g)!.length;
  expect(curves(km)).toBe(1);
  expect(curves(unblinded.plots.find((p) => p.name === 'km-pfs')!.svg)).toBe(2);
  expect(km.match(/<text[^>]*>All subjects \(blinded\)<\/text>/g)!.length).toBe(1); // one at-risk row
  // every statistic is pooled: no arm group, no hazard ratio, no difference, no log-rank
  const stats = blinded.model.statistics;
  expect(stats.every((e) => e.group === null || !e.id.startsWith('PFS') || e.group === undefined)).toBe(true);
  expect(stats.filter((e) => /\.hr\.|\.diff\.|logrank|^forest/.test(e.id))).toEqual([]);
  expect(blinded.model.arms).toEqual([]);
  const html = blinded.files.find((f) => f.path === 'report.html')!.bytes.toString('utf8');
  expect(html).toContain('BLINDED data cut');
  expect(html).toContain('All subjects (blinded)');
});

test('every number in the HTML tables is a statistics.json entry (dataset, parameter, subjects), printed as formatted', () => {
  for (const r of [unblinded, blinded]) {
    const html = r.files.find((f) => f.path === 'report.html')!.bytes.toString('utf8');
    const json = JSON.parse(r.files.find((f) => f.path === 'statistics.json')!.bytes.toString('utf8'));
    const byId = new Map(json.statistics.map((e: { id: string }) => [e.id, e]));
    const ids = entryIds(html);
    expect(ids.length).toBeGreaterThan(50);
    for (const id of ids) {
      const e = byId.get(id) as Parameters<typeof formatEntry>[0];
      expect(e).toBeDefined();
      expect(typeof e.dataset).toBe('string');
      expect(typeof e.parameter).toBe('string');
      expect(Number.isInteger(e.subjects)).toBe(true);
    }
    // a table cell with a digit always carries its entry id
    const statTables = [...html.matchAll(/<table class="stats">([\s\S]*?)<\/table>/g)].map((m) => m[1]!).join('');
    for (const m of statTables.matchAll(/<tr><td>[^<]*<\/td>((?:<td[^>]*>[^<]*<\/td>)*)<\/tr>/g)) {
      for (const c of m[1]!.matchAll(/<td([^>]*)>([^<]*)<\/td>/g)) if (/\d/.test(c[2]!)) expect(c[1]).toContain('data-stat=');
    }
    for (const t of text(r)) expect(t).not.toMatch(/NaN|Infinity/);
    // cells print exactly formatEntry of the entry
    const cell = /data-stat="PFS\.median\.([^"]+)"[^>]*>([^<]*)</.exec(html)!;
    expect(cell[2]).toBe(formatEntry(byId.get(`PFS.median.${cell[1]}`) as Parameters<typeof formatEntry>[0]));
  }
});

test('headline numbers equal the analysis library called directly (median, HR, ORR difference)', () => {
  const adtte = unblindedDs.get('ADTTE')!;
  const recs = timeToEventFromAdtte(adtte, { paramcd: 'PFS' });
  const direct = summariseTimeToEvent(recs, { groups: ['Drug X 10 mg', 'Placebo'], reference: 'Placebo' });
  const e = new Map(unblinded.model.statistics.map((x) => [x.id, x]));
  const med = direct.arms.find((a) => a.group === 'Placebo')!.median;
  expect(e.get('PFS.median.Placebo')!.value! * (365.25 / 12)).toBeCloseTo(med.time!, 9);
  const hr = coxPh(recs, { groups: ['Placebo', 'Drug X 10 mg'], reference: 'Placebo' }).terms[0]!;
  expect(e.get('PFS.hr.Drug X 10 mg')!.value).toBeCloseTo(hr.hr, 12);
  expect(e.get('PFS.hr.Drug X 10 mg')!.lower).toBeCloseTo(hr.lower, 12);
  expect(e.get('PFS.hr.Drug X 10 mg')!).toMatchObject({ dataset: 'ADTTE', parameter: 'PFS', subjects: 160 });
  const d = rateDifference(unblindedDs.get('ADRS')!, { treatment: 'Drug X 10 mg', control: 'Placebo' });
  expect(e.get('CRSP.diff.Drug X 10 mg')!.value).toBeCloseTo(100 * d.estimate, 10);
  expect(e.get('CRSP.diff.Drug X 10 mg')!.upper).toBeCloseTo(100 * d.upper, 10);
  expect(unblinded.model.reference).toBe('Placebo');
});

test("the spider paths: exactly the plot's systematic sample of a large cut, each as ADTR has it", () => {
  const big = simulateTrial({ subjects: 700, visits: 6, seed: 7 });
  big.dataCutDate = latestDate(big);
  const ds = datasetsOf(big, false, false);
  const sizes = computeReport(cutInfo('CUT-SPIDER', false, big.dataCutDate), ds).plotData.sizes;
  expect(sizes.length).toBeGreaterThan(2 * PLOT_LIMITS.spider);
  const step = Math.ceil(sizes.length / PLOT_LIMITS.spider);
  expect(sizes.filter((x) => x.path.length).map((x) => x.usubjid)).toEqual(sizes.filter((_, i) => i % step === 0).map((x) => x.usubjid));
  // each drawn path from the ADTR rows directly: the baseline at (0, 0), then the analysed post-baseline sums by date
  const adtr = ds.get('ADTR')!;
  const col = (n: string) => adtr.columns.findIndex((c) => c.name === n);
  const [iP, iU, iAbl, iAdt, iPchg, iAnl] = ['PARAMCD', 'USUBJID', 'ABLFL', 'ADT', 'PCHG', 'ANL01FL'].map(col);
  for (const x of sizes.filter((s) => s.path.length).slice(0, 40)) {
    const mine = adtr.rows.filter((r) => r[iP] === 'SDIAM' && r[iU] === x.usubjid);
    const base = Date.parse(String(mine.find((r) => r[iAbl] === 'Y')![iAdt]));
    const want = mine.filter((r) => r[iAbl] !== 'Y' && r[iAnl] === 'Y' && r[iPchg] !== null).map((r) => ({ week: (Date.parse(String(r[iAdt])) - base) / (7 * 86400000), pchg: Number(r[iPchg]) })).sort((a, b) => a.week - b.week);
    expect(x.path).toEqual([{ week: 0, pchg: 0 }, ...want]);
    expect(x.bestPchg).toBe(Math.min(...want.map((w) => w.pchg)));
  }
});

test("the statistics do not depend on the datasets' row order (rows of one subject need not come together)", () => {
  // a seeded shuffle of every dataset's rows: the sections that read a subject's run of rows once must still see all
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const shuffled = new Map([...unblindedDs].map(([name, ds]) => {
    const rows = [...ds.rows];
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    return [name, { ...ds, rows }];
  }));
  const a = computeReport(cutInfo('CUT-U', false, cutoff), unblindedDs);
  const b = computeReport(cutInfo('CUT-U', false, cutoff), shuffled);
  // the same entries and counts; estimates equal up to the order of floating-point sums (Cox, KM over reordered records)
  expect(b.statistics.map((e) => [e.id, e.subjects, e.value === null])).toEqual(a.statistics.map((e) => [e.id, e.subjects, e.value === null]));
  const near = (x: number | null | undefined, y: number | null | undefined) => (typeof x === 'number' && typeof y === 'number' ? Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y)) : x === y);
  const off = b.statistics.filter((e, i) => { const f = a.statistics[i]!; return !near(e.value, f.value) || !near(e.lower, f.lower) || !near(e.upper, f.upper); });
  expect(off.map((e) => e.id)).toEqual([]);
  expect(b.plotData.sizes.map((x) => [x.usubjid, x.bestPchg, x.bor, x.path])).toEqual(a.plotData.sizes.map((x) => [x.usubjid, x.bestPchg, x.bor, x.path]));
  expect(b.plotData.swimmer).toEqual(a.plotData.swimmer);
  expect(b.plotData.forest.map((f) => [f.subgroup, f.level, f.n, f.events])).toEqual(a.plotData.forest.map((f) => [f.subgroup, f.level, f.n, f.events]));
});

test('report manifest: references the cut manifest, lists every file with sha256, detects tampering', () => {
  const m = unblinded.manifest;
  expect(m.cutManifestSha256).toBe('a'.repeat(64));
  expect(m.readsOrigin).toBe('SIMULATED');
  const files = unblinded.files.filter((f) => f.path !== 'manifest.json');
  expect(m.files.map((f) => f.path)).toEqual(files.map((f) => f.path));
  expect(verifyReport(m, files)).toEqual([]);
  const bad = files.map((f) => (f.path === 'statistics.json' ? { ...f, bytes: Buffer.concat([f.bytes, Buffer.from(' ')]) } : f));
  expect(verifyReport(m, bad)).toEqual(['statistics.json: sha256 differs from the manifest']);
  expect(verifyReport({ ...m, cutManifestSha256: 'b'.repeat(64) }, files)[0]).toMatch(/reportManifestSha256/);
});

describe('bad input: a clear message in the report, never a crash or NaN', () => {
  const htmlOf = (r: BuiltReport) => r.files.find((f) => f.path === 'report.html')!.bytes.toString('utf8');
  const noNaN = (r: BuiltReport) => {
    for (const t of text(r)) expect(t).not.toMatch(/NaN|Infinity/);
  };

  test('too few events for a median; a cut without reads', async () => {
    // early cut-off: few events, median not reached
    const s = simulateTrial({ subjects: 30, visits: 8, seed: 3 });
    const early = '2024-05-01';
    s.dataCutDate = early;
    const r = await buildCutReport(cutInfo('EARLY', false, early), datasetsOf(s, false), { codeVersion: 'test@1' });
    noNaN(r);
    const meds = r.model.statistics.filter((e) => e.id.startsWith('PFS.median.'));
    expect(meds.some((e) => e.value === null)).toBe(true);
    expect(htmlOf(r)).toMatch(/median not reached, the Kaplan-Meier curve stays above 50 %/);
    expect(htmlOf(r)).toContain('>NR<');
    expect(htmlOf(r)).toMatch(/one read per subject \(no ADTRRDR \/ ADRSRDR reader-level datasets\)/);
    expect(r.model.agreement.lesions).toEqual([]);
  });

  test('a single arm: no hazard ratio, no difference, no forest plot, said in words', async () => {
    const s = simulateTrial({ subjects: 40, visits: 6, seed: 4, arms: [{ arm: 'Drug X 10 mg', armCd: 'DRUGX' }] });
    s.dataCutDate = latestDate(s);
    const r = await buildCutReport(cutInfo('ONE-ARM', false, s.dataCutDate), datasetsOf(s, false), { codeVersion: 'test@1' });
    noNaN(r);
    expect(r.model.statistics.filter((e) => /\.hr\.|\.diff\.|logrank/.test(e.id))).toEqual([]);
    expect(r.plots.map((p) => p.name)).not.toContain('forest-pfs');
    expect(htmlOf(r)).toMatch(/only one arm in the data \(Drug X 10 mg\): no hazard ratio, no log-rank test, no ORR difference and no forest plot/);
  });

  test('a subgroup without events: its hazard ratio is NE with the reason, the others are estimated', async () => {
    const ds = datasetsOf(study, false);
    const adtte = ds.get('ADTTE')!;
    const tu = ds.get('TU')!;
    const c = (d: Dataset, n: string) => d.columns.findIndex((x) => x.name === n);
    const liver = new Set(tu.rows.filter((r) => /LIVER/.test(String(r[c(tu, 'TULOC')])) && ['TARGET', 'NON-TARGET'].includes(String(r[c(tu, 'TUORRES')]))).map((r) => r[c(tu, 'USUBJID')]));
    // subjects with liver lesions: every PFS record censored -> the subgroup has no events
    const rows = adtte.rows.map((r) => (r[c(adtte, 'PARAMCD')] === 'PFS' && liver.has(r[c(adtte, 'USUBJID')]) ? r.map((v, i) => (i === c(adtte, 'CNSR') ? 1 : v)) : r));
    ds.set('ADTTE', { ...adtte, rows });
    const r = await buildCutReport(cutInfo('NO-EVENTS', false, cutoff), ds, { codeVersion: 'test@1' });
    noNaN(r);
    const yes = r.model.plotData.forest.find((f) => f.subgroup === 'Liver lesions at baseline' && f.level === 'Yes')!;
    expect(yes).toMatchObject({ hr: null, events: 0, note: 'no events' });
    expect(r.model.plotData.forest.find((f) => f.subgroup === 'Liver lesions at baseline' && f.level === 'No')!.hr).not.toBeNull();
    expect(htmlOf(r)).toMatch(/PFS hazard ratio in subgroup Liver lesions at baseline = Yes: not estimable \(no events\)/);
    expect(r.plots.find((p) => p.name === 'forest-pfs')!.svg).toContain('not estimable (no events)');
  });

  test('zero-variance measurements: the ICC is NE with the reason', async () => {
    const ds = datasetsOf(study, true);
    const tr = ds.get('ADTRRDR')!;
    const c = (n: string) => tr.columns.findIndex((x) => x.name === n);
    ds.set('ADTRRDR', { ...tr, rows: tr.rows.map((r) => (r[c('AVAL')] === null ? r : r.map((v, i) => (i === c('AVAL') ? 20 : i === c('AVALC') ? '20' : v)))) });
    const r = await buildCutReport(cutInfo('ZERO-VAR', true, cutoff), ds, { codeVersion: 'test@1' });
    noNaN(r);
    expect(r.model.statistics.find((e) => e.id === 'agreement.lesions.RADIOLOGIST 1 vs RADIOLOGIST 2.icc21')!.value).toBeNull();
    expect(htmlOf(r)).toMatch(/do not vary \(every rating of every target is the same value\)/);
  });
});
