/**
 * The report of a data cut, stored with the cut: `<cut prefix>/report/` holds report.html, statistics.json,
 * plots/<name>.svg|png and manifest.json (the report manifest, which records the cut manifest's sha256; see
 * libs/report report.ts for why the cut manifest itself is never rewritten).
 *
 * Made once per cut (the first time it is asked for: API, CLI `report` or `cut`, the demo) and then served as stored:
 * write-once like the cut's own files. The report is a function of the cut's datasets and the code version; the
 * stored one is the one made first, and its manifest says by which code version.
 */
import { codeVersion, InputError, sha256Hex } from '@app/core';
import { AuditRepository, type DataCutRow } from '@app/db';
import { type CutManifest, type Dataset, readDataset } from '@app/datasets';
import { buildCutReport, type BuiltReport, REPORT_DIR, type ReportCutInfo, type ReportManifest, type ReportOptions } from '@app/report';
import type { PipelineContext } from '@app/ingest';

/** Datasets the report reads (others, e.g. TR/RS/ADQS, are never loaded). */
export const REPORT_DATASETS = ['ADSL', 'ADTTE', 'ADRS', 'ADTR', 'TU', 'ADTRRDR', 'ADRSRDR'];
/** Format preference when a cut holds a dataset in several formats: typed formats first. */
const FORMAT_ORDER = ['json', 'ndjson', 'xpt', 'dsjc', 'csv'];

export function reportCutInfo(cut: DataCutRow): ReportCutInfo {
  const m = cut.manifest as unknown as CutManifest;
  return { cutId: cut.cut_id, studyId: cut.study_id, cutoffDate: String(cut.cutoff_date).slice(0, 10), blinded: cut.blinded, manifestSha256: cut.manifest_sha256, cutCodeVersion: m.codeVersion, settings: m.settings };
}

/** The report's datasets of a stored cut, each read from its best stored format and checked against the manifest sha256. */
export async function loadCutDatasets(ctx: PipelineContext, cut: DataCutRow): Promise<Map<string, Dataset>> {
  const m = cut.manifest as unknown as CutManifest;
  const out = new Map<string, Dataset>();
  for (const name of REPORT_DATASETS) {
    const files = m.files.filter((f) => f.dataset.toUpperCase() === name).sort((a, b) => FORMAT_ORDER.indexOf(a.format) - FORMAT_ORDER.indexOf(b.format));
    const f = files.find((x) => x.format !== 'dsjc') ?? files[0];
    if (!f) continue;
    const bytes = await ctx.store.getBuffer(`${cut.prefix}/${f.path}`);
    if (sha256Hex(bytes) !== f.sha256) throw new InputError('report.cut-tampered', `cut ${cut.cut_id}: ${f.path} does not match its manifest sha256; verify the cut (GET /v1/cuts/${cut.cut_id}/verify) before reporting on it`);
    out.set(name, readDataset(bytes, f.path, { name }));
  }
  return out;
}

/** Builds the report of a stored cut without storing it (CLI --out, benchmarks). */
export async function buildReportForCut(ctx: PipelineContext, cut: DataCutRow, o: ReportOptions = {}): Promise<BuiltReport> {
  return buildCutReport(reportCutInfo(cut), await loadCutDatasets(ctx, cut), { ...o, codeVersion: codeVersion() });
}

const reportKey = (cut: DataCutRow, path: string) => `${cut.prefix}/${REPORT_DIR}/${path}`;

/**
 * The stored report of a cut, made and stored first if the cut has none (audited `cut.report.created`). Write-once:
 * an existing report (its manifest.json) is never overwritten.
 */
export async function ensureCutReport(ctx: PipelineContext, cut: DataCutRow, actor: { name: string; roles?: string[] }): Promise<{ manifest: ReportManifest; created: boolean }> {
  const mkey = reportKey(cut, 'manifest.json');
  if (await ctx.store.head(mkey)) return { manifest: JSON.parse((await ctx.store.getBuffer(mkey)).toString('utf8')) as ReportManifest, created: false };
  const built = await buildReportForCut(ctx, cut);
  // data files first, the manifest last: a report without manifest.json is an unfinished one and is made again
  for (const f of built.files) if (f.path !== 'manifest.json') await ctx.store.put(reportKey(cut, f.path), f.bytes);
  if (await ctx.store.head(mkey)) return { manifest: JSON.parse((await ctx.store.getBuffer(mkey)).toString('utf8')) as ReportManifest, created: false };
  await ctx.store.put(mkey, built.files.find((f) => f.path === 'manifest.json')!.bytes);
  await new AuditRepository(ctx.db).append({
    actor: actor.name,
    actorRoles: actor.roles ?? [],
    action: 'cut.report.created',
    entityType: 'data_cut',
    entityId: cut.cut_id,
    after: { reportManifestSha256: built.manifest.reportManifestSha256, cutManifestSha256: built.manifest.cutManifestSha256, codeVersion: built.manifest.codeVersion, files: built.manifest.files.length, readsOrigin: built.manifest.readsOrigin },
  });
  return { manifest: built.manifest, created: true };
}

/** One file of a cut's stored report (made first if needed); the path must be one the report manifest lists. */
export async function cutReportFile(ctx: PipelineContext, cut: DataCutRow, path: string, actor: { name: string; roles?: string[] }): Promise<Buffer | null> {
  const { manifest } = await ensureCutReport(ctx, cut, actor);
  if (path !== 'manifest.json' && !manifest.files.some((f) => f.path === path)) return null;
  const bytes = await ctx.store.getBuffer(reportKey(cut, path));
  const listed = manifest.files.find((f) => f.path === path);
  if (listed && sha256Hex(bytes) !== listed.sha256) throw new Error(`cut ${cut.cut_id}: stored report file ${path} does not match the report manifest`);
  return bytes;
}
