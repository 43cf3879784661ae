/**
 * A data cut's report as files: report.html (self-contained), statistics.json, plots/<name>.svg and .png, and
 * manifest.json, the report manifest.
 *
 * Why a report manifest instead of listing the report in the cut manifest: a cut is immutable and content-addressed
 * (its manifest, and the sha256 of that manifest, never change once made, and the audit chain anchors them). The
 * report is derived from the cut, so it references the cut: its manifest records the cut manifest's sha256, the code
 * version that made the report, and the sha256 of every report file, and carries its own sha256
 * (`reportManifestSha256`, over the canonical JSON without that field, as the cut manifest does). A reader checks the
 * chain cut manifest -> report manifest -> files without the cut ever being rewritten. Same cut and same code: the
 * same bytes (tests/report/report.test.ts).
 */
import { sha256Hex, workerPoolThreads } from '@app/core';
import { canonicalJson } from '@app/datasets';
import { renderHtmlBytes } from './html';
import { renderPlotsStaged, type RenderedPlot } from './plots';
import { computeReportStaged, type ReportCutInfo, type ReportModel, type ReportOptions } from './statistics';
import type { Datasets } from './data';

export const REPORT_MANIFEST_VERSION = 1;
export const REPORT_DIR = 'report';

export interface ReportFile {
  /** Path inside the report folder: 'report.html', 'statistics.json', 'plots/km-pfs.svg', 'manifest.json'. */
  path: string;
  bytes: Buffer;
  sha256: string;
}

export interface ReportManifest {
  reportManifestVersion: number;
  cutId: string;
  studyId: string;
  cutoffDate: string;
  blinded: boolean;
  /** The cut manifest this report was computed from. */
  cutManifestSha256: string;
  /** Code version that made the report (may be newer than the cut's). */
  codeVersion: string;
  /** Reads behind the agreement section: 'SIMULATED', 'REVIEW' or null (no reads in the cut). */
  readsOrigin: string | null;
  plots: { name: string; title: string; dataset: string; parameter: string; subjects: number }[];
  /** Every report file (manifest.json excluded), sorted by path. */
  files: { path: string; size: number; sha256: string }[];
  reportManifestSha256: string;
}

export interface BuiltReport {
  model: ReportModel;
  plots: RenderedPlot[];
  files: ReportFile[];
  manifest: ReportManifest;
}

const file = (path: string, bytes: Buffer): ReportFile => ({ path, bytes, sha256: sha256Hex(bytes) });

/** statistics.json: the model without the plot data (every printed number is an entry; the agreement summary keeps its extra detail, without the raw points). `svgBytes`: each plot's SVG already encoded (else encoded here). */
export function statisticsJson(model: ReportModel, plots: RenderedPlot[], codeVersion: string, svgBytes?: ReadonlyMap<RenderedPlot, Buffer>): Buffer {
  const { plotData: _plotData, agreement, ...rest } = model;
  const body = {
    ...rest,
    codeVersion,
    agreement: { ...agreement, lesions: agreement.lesions.map(({ points: _p, ...l }) => l) },
    plots: plots.map((p) => ({ name: p.name, title: p.title, caption: p.caption, dataset: p.dataset, parameter: p.parameter, subjects: p.subjects, svg: `plots/${p.name}.svg`, svgSha256: sha256Hex(svgBytes?.get(p) ?? Buffer.from(p.svg, 'utf8')), ...(p.png ? { png: `plots/${p.name}.png`, pngSha256: sha256Hex(p.png) } : {}) })),
  };
  return Buffer.from(canonicalJson(body), 'utf8');
}

/**
 * The report of a cut from its datasets. Pure apart from rendering (Vega, sharp) and deterministic: same cut, options
 * and code version -> byte-identical files.
 */
export async function buildCutReport(cut: ReportCutInfo, datasets: Datasets, o: ReportOptions & { codeVersion: string; png?: boolean }): Promise<BuiltReport> {
  // the plots are drawn on the worker-thread pool while this thread computes the agreement section (the largest
  // computation of a cut with reader-level reads): the others at once, Bland-Altman as soon as the diameters are known;
  // on every pool thread but one, the core this thread needs
  const staged = computeReportStaged(cut, datasets, o);
  const drawing = renderPlotsStaged(staged.base, { png: o.png ?? true, lanes: workerPoolThreads() - 1 });
  let model: ReportModel;
  try {
    model = staged.finish((lesions, origin) => drawing.blandAltman(lesions, origin));
  } catch (e) {
    drawing.abort(); // the plot lanes hold the pool's threads until they are ended
    throw e;
  }
  const plots = await drawing.done();
  const files: ReportFile[] = [];
  // each SVG is encoded once: its file's bytes also go into the page
  const svgBytes = new Map(plots.map((p) => [p, Buffer.from(p.svg, 'utf8')]));
  files.push(file('report.html', renderHtmlBytes(model, plots, { reportCodeVersion: o.codeVersion }, svgBytes)));
  files.push(file('statistics.json', statisticsJson(model, plots, o.codeVersion, svgBytes)));
  for (const p of plots) {
    files.push(file(`plots/${p.name}.svg`, svgBytes.get(p)!));
    if (p.png) files.push(file(`plots/${p.name}.png`, p.png));
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const body: Omit<ReportManifest, 'reportManifestSha256'> = {
    reportManifestVersion: REPORT_MANIFEST_VERSION,
    cutId: cut.cutId,
    studyId: cut.studyId,
    cutoffDate: cut.cutoffDate,
    blinded: cut.blinded,
    cutManifestSha256: cut.manifestSha256,
    codeVersion: o.codeVersion,
    readsOrigin: model.agreement.origin,
    plots: plots.map((p) => ({ name: p.name, title: p.title, dataset: p.dataset, parameter: p.parameter, subjects: p.subjects })),
    files: files.map((f) => ({ path: f.path, size: f.bytes.length, sha256: f.sha256 })),
  };
  const manifest: ReportManifest = { ...body, reportManifestSha256: sha256Hex(canonicalJson(body)) };
  files.push(file('manifest.json', Buffer.from(canonicalJson(manifest), 'utf8')));
  return { model, plots, files, manifest };
}

/** Checks report files against their manifest (sha256 of each, and the manifest's own hash). Returns the problems. */
export function verifyReport(manifest: ReportManifest, files: { path: string; bytes: Buffer }[]): string[] {
  const problems: string[] = [];
  const { reportManifestSha256, ...body } = manifest;
  if (sha256Hex(canonicalJson(body)) !== reportManifestSha256) problems.push('manifest.json: content does not match reportManifestSha256');
  for (const f of manifest.files) {
    const got = files.find((x) => x.path === f.path);
    if (!got) problems.push(`${f.path}: missing`);
    else if (sha256Hex(got.bytes) !== f.sha256) problems.push(`${f.path}: sha256 differs from the manifest`);
  }
  return problems;
}
