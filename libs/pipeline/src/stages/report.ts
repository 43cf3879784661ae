/**
 * The report of a data cut, stored with the cut: `<cut prefix>/report/` holds report.html, statistics.json,
 * plots/<name>.svg|png and manifest.json (the report manifest, which records the cut manifest's sha256; see
 * libs/report report.ts for why the cut manifest itself is never rewritten).
 *
 * Made once per cut by a job of its own (`cut.report`, in the cut lane): queued by the cut job as soon as the cut is
 * stored, and by whoever asks for a report that is not there yet (API, CLI, demo), which then waits for that job. So
 * a report is built on a worker, once, whatever number of requests and API replicas ask for it; the API process never
 * builds one (a 10,000-subject trial's report needs 1.2 GB). Then it is served as stored: write-once like the cut's
 * own files. The report is a function of the cut's datasets and the code version; the stored one is the one made
 * first, and its manifest says by which code version.
 */
import { codeVersion, InputError, sha256Hex } from '@app/core';
import { AuditRepository, type DataCutRow, EndpointsRepository, JobsRepository, type JobRow } from '@app/db';
import { type CutManifest, type Dataset, readDataset } from '@app/datasets';
import { buildCutReport, type BuiltReport, REPORT_DIR, type ReportCutInfo, type ReportManifest, type ReportOptions } from '@app/report';
import type { PipelineContext } from '@app/ingest';
import type { JobDefinition } from '@app/queue';
import { enqueueRerunningFailed, JobFailedError, type JobProgress, jobOutcome, type JobRefusal, refusalAsResult, waitForJobState } from '../job-wait';

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

/**
 * Builds the report of a stored cut without storing it (ensureCutReport, CLI --out, benchmarks). `onDatasetsRead` is
 * awaited once the datasets are read, before the report is built (the report job's progress).
 */
export async function buildReportForCut(ctx: PipelineContext, cut: DataCutRow, o: ReportOptions = {}, onDatasetsRead: () => Promise<void> = async () => {}): Promise<BuiltReport> {
  const datasets = await loadCutDatasets(ctx, cut);
  await onDatasetsRead();
  return buildCutReport(reportCutInfo(cut), datasets, { ...o, codeVersion: codeVersion() });
}

const reportKey = (cut: DataCutRow, path: string) => `${cut.prefix}/${REPORT_DIR}/${path}`;

/** The stored report's manifest, or null when the cut has none yet (manifest.json is written last: without it, a report is unfinished). */
export async function storedReportManifest(ctx: PipelineContext, cut: DataCutRow): Promise<ReportManifest | null> {
  const mkey = reportKey(cut, 'manifest.json');
  if (!(await ctx.store.head(mkey))) return null;
  return JSON.parse((await ctx.store.getBuffer(mkey)).toString('utf8')) as ReportManifest;
}

/**
 * The stored report of a cut, made here and stored first if the cut has none (audited `cut.report.created`): what the
 * `cut.report` job runs. Callers that are not that job ask for the job instead (requestCutReport / runCutReportJob),
 * so that one report is built once, on a worker. Write-once: an existing report (its manifest.json) is never
 * overwritten; a half-written one (data files, no manifest: its attempt died) is written again, same bytes.
 */
export async function ensureCutReport(
  ctx: PipelineContext,
  cut: DataCutRow,
  actor: { name: string; roles?: string[] },
  onProgress: (percent: number) => Promise<void> = async () => {},
): Promise<{ manifest: ReportManifest; created: boolean }> {
  const mkey = reportKey(cut, 'manifest.json');
  const stored = await storedReportManifest(ctx, cut);
  if (stored) return { manifest: stored, created: false };
  const built = await buildReportForCut(ctx, cut, {}, () => onProgress(30));
  await onProgress(80);
  // data files first, the manifest last: a report without manifest.json is an unfinished one and is made again
  for (const f of built.files) if (f.path !== 'manifest.json') await ctx.store.put(reportKey(cut, f.path), f.bytes);
  const meanwhile = await storedReportManifest(ctx, cut);
  if (meanwhile) return { manifest: meanwhile, created: false };
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

/**
 * One file of a cut's stored report, checked against the report manifest (`manifest`, from storedReportManifest or
 * a finished report job); null when the manifest lists no such path.
 */
export async function cutReportFile(ctx: PipelineContext, cut: DataCutRow, manifest: ReportManifest, path: string): Promise<Buffer | null> {
  if (path !== 'manifest.json' && !manifest.files.some((f) => f.path === path)) return null;
  const bytes = await ctx.store.getBuffer(reportKey(cut, path));
  const listed = manifest.files.find((f) => f.path === path);
  if (listed && sha256Hex(bytes) !== listed.sha256) throw new Error(`cut ${cut.cut_id}: stored report file ${path} does not match the report manifest`);
  return bytes;
}

/* ------------------------------------------------------------------------------------------------------------
 * The report as a queued job (`cut.report`).
 * ---------------------------------------------------------------------------------------------------------- */

/**
 * The job that makes a cut's report (a 10,000-subject report takes 1.2 GB and every core for ~20 s). It runs in the
 * cut job's lane (`cut.create`, set where the endpoints module registers it): one cut or one report at a time per worker.
 */
export const REPORT_JOB = 'cut.report';

export interface ReportJobPayload {
  cutId: string;
  /** Who asked first (the cut's requester when the cut job queued it): the actor of `cut.report.created`. */
  requestedBy: string;
  actorRoles: string[];
}

/** What a `cut.report` job stores as its result in the ledger. */
export type ReportJobResult = { reportManifestSha256: string; created: boolean } | JobRefusal;

/** One job per cut: the report is write-once, so every request of a cut's report is the same job. */
export const reportJobKey = (cut: Pick<DataCutRow, 'cut_id'>): string => `${REPORT_JOB}:${cut.cut_id}`;

/**
 * Queue the report of a cut (or join its job: `duplicate`). A job of it that failed (an infrastructure error after
 * all its attempts) is re-run from its first attempt, which is safe because the report is write-once and idempotent.
 * A job that completed but whose report is no longer in the store (removed by hand) is followed by a new job, keyed by
 * the one before it, so every requester joins the same new job.
 */
export async function enqueueCutReport(ctx: PipelineContext, cut: DataCutRow, actor: { name: string; roles?: string[] }): Promise<{ jobId: string; duplicate: boolean }> {
  const payload: ReportJobPayload = { cutId: cut.cut_id, requestedBy: actor.name, actorRoles: actor.roles ?? [] };
  for (let key = reportJobKey(cut); ; ) {
    const { jobId, duplicate, row } = await enqueueRerunningFailed(ctx, REPORT_JOB, payload, key);
    const result = row?.result as ReportJobResult | null | undefined;
    if (row?.status !== 'completed' || !result || 'inputError' in result || (await storedReportManifest(ctx, cut))) return { jobId, duplicate };
    ctx.log.warn({ job: REPORT_JOB, jobId, cutId: cut.cut_id }, 'the report this job made is no longer stored: made again by a new job');
    key = `${reportJobKey(cut)}:after:${jobId}`;
  }
}

/** A report job that failed for good (not an input error such as a tampered cut: those are InputErrors). */
export class ReportJobFailedError extends JobFailedError {
  override name = 'ReportJobFailedError';
  constructor(jobId: string, error: string) {
    super(jobId, error, 'report job');
  }
}

export type CutReportState = { state: 'done'; jobId: string | null; manifest: ReportManifest; created: boolean } | JobProgress;

/**
 * Where a report job is: done (the stored report's manifest), still queued/running, an InputError (the report was
 * refused: e.g. a cut file no longer matching its manifest), a ReportJobFailedError; undefined when there is no such job.
 */
export async function reportJobState(ctx: PipelineContext, jobId: string, row?: JobRow): Promise<CutReportState | undefined> {
  row ??= await new JobsRepository(ctx.db).byId(jobId);
  if (!row || row.name !== REPORT_JOB) return undefined;
  const o = jobOutcome<Exclude<ReportJobResult, JobRefusal>>(row, (error) => new ReportJobFailedError(jobId, error));
  if (!o.done) return o.pending;
  const cutId = (row.payload as ReportJobPayload).cutId;
  const cut = await new EndpointsRepository(ctx.db).cutById(cutId);
  if (!cut) throw new ReportJobFailedError(jobId, `its cut ${cutId} is not in data_cuts`);
  const manifest = await storedReportManifest(ctx, cut);
  if (!manifest) throw new ReportJobFailedError(jobId, `the job completed but the report of cut ${cutId} is not in the object store (report/manifest.json missing: removed since?)`);
  return { state: 'done', jobId, manifest, created: !!o.result?.created };
}

/**
 * The report of a cut: the stored one at once (`jobId` null), else through its job: queued (or joined) and waited
 * for up to `waitMs` (polling the ledger, which every process shares). Throws InputError when the report is refused,
 * ReportJobFailedError when its job failed. `created` is true only when this request's job made it.
 */
export async function requestCutReport(ctx: PipelineContext, cut: DataCutRow, actor: { name: string; roles?: string[] }, waitMs: number): Promise<CutReportState> {
  const stored = await storedReportManifest(ctx, cut);
  if (stored) return { state: 'done', jobId: null, manifest: stored, created: false };
  const { jobId, duplicate } = await enqueueCutReport(ctx, cut, actor);
  const s = await waitForJobState(() => reportJobState(ctx, jobId), waitMs, `report job ${jobId}`);
  return s.state === 'done' && duplicate ? { ...s, created: false } : s;
}

/**
 * The report of a cut, waited for until it is made (CLI, demo). In embedded mode the caller's own worker must be
 * started (it runs the job); with Redis a worker process runs it.
 */
export async function runCutReportJob(ctx: PipelineContext, cut: DataCutRow, actor: { name: string; roles?: string[] }): Promise<{ manifest: ReportManifest; created: boolean; jobId: string | null }> {
  const s = await requestCutReport(ctx, cut, actor, Number.POSITIVE_INFINITY);
  if (s.state !== 'done') throw new Error(`report job ${s.jobId} still ${s.status}`); // unreachable: an unbounded wait ends done or throws
  return { manifest: s.manifest, created: s.created, jobId: s.jobId };
}

/** The report job: ensureCutReport; a refused report (InputError: e.g. a tampered cut) completes with the error as its result (never retried). */
export function reportJob(ctx: PipelineContext): JobDefinition<ReportJobPayload> {
  return {
    name: REPORT_JOB,
    handler: async (job): Promise<ReportJobResult> => {
      const cut = await new EndpointsRepository(ctx.db).cutById(job.payload.cutId);
      if (!cut) return { inputError: { code: 'report.no-cut', message: `no data cut ${job.payload.cutId}` } };
      return refusalAsResult(async () => {
        // progress (what a request answered 202 shows): 30 % datasets read, 80 % report built, then stored
        const r = await ensureCutReport(ctx, cut, { name: job.payload.requestedBy, roles: job.payload.actorRoles }, (p) => job.progress(p));
        job.log.info({ cutId: cut.cut_id, created: r.created, reportManifestSha256: r.manifest.reportManifestSha256 }, 'cut report made');
        return { reportManifestSha256: r.manifest.reportManifestSha256, created: r.created };
      });
    },
  };
}
