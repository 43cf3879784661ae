import { codeVersion, InputError, repoRoot, sha256Hex } from '@app/core';
import { AuditRepository, type DataCutRow, EndpointsRepository, JobsRepository, type JobRow, type ObjectRow } from '@app/db';
import { checkCutFormats, CUT_FORMATS, type CutFile, type CutFormat, type CutManifest, type Dataset, MANIFEST_PATH, readDataset, readManifest, streamDataCut, type StreamedCutFile, verifyDataCut } from '@app/datasets';
import {
  adpredDataset,
  buildAdpred,
  extractEarlyFeatures,
  ortPredictor,
  predictResponses,
  responseModelInfo,
  applyEproUpload,
  compareWithRs,
  deriveEndpointTablesParallel,
  type EproParseResult,
  importSdtmAssessments,
  parseEproUpload,
  type ProtocolSettings,
  simulateTrial,
  type SimulateOptions,
  sniffEpro,
  type StudyInput,
  hasReads,
  readDatasets,
} from '@app/endpoints';
import type { KindProcessor, PipelineContext, Sniffer } from '@app/ingest';
import type { JobDefinition } from '@app/queue';
import { resolveModel } from '@app/inference';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { PipelineModule } from '../modules';
import { loadProtocolConfig } from '../protocol';
import { enqueueCutReport, reportJob } from './report';
import { enqueueRerunningFailed, JobFailedError, type JobProgress, jobOutcome, type JobRefusal, refusalAsResult, waitForJobState } from '../job-wait';

/** ePRO / wearable uploads are recognised by their documented header (see libs/endpoints README). */
export const eproSniffer: Sniffer = (head, filename) => {
  if (!sniffEpro(head, filename)) return null;
  const first = head.toString('utf8').replace(/^\uFEFF/, '').trimStart()[0];
  return first === '{' || first === '[' ? 'epro-json' : 'epro-csv';
};

/** Canonical JSON (sorted keys) for hashing. */
const canon = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));

/**
 * ePRO step: an upload is accepted as a whole, or rejected (quarantined) with every bad row listed.
 * Subjects are checked against the study's current assessments when the study has any.
 */
export function eproProcessor(ctx: PipelineContext): KindProcessor {
  const repo = new EndpointsRepository(ctx.db);
  const protocol = loadProtocolConfig(ctx.config);
  return {
    name: 'epro',
    kinds: ['epro-csv', 'epro-json'],
    async process(obj: ObjectRow) {
      const bytes = await ctx.store.getBuffer(obj.key);
      const input = await repo.latestStudyInput(protocol.protocolId);
      const known = input ? new Set(await repo.studyInputSubjectIds(input)) : undefined;
      const filename = obj.key.slice(obj.key.lastIndexOf('/') + 1);
      const parsed = parseEproUpload(bytes, filename, known);
      if (parsed.errors.length) {
        const first = parsed.errors
          .slice(0, 5)
          .map((e) => `row ${e.row}${e.field ? ` (${e.field})` : ''}: ${e.message}`)
          .join('; ');
        throw new InputError('epro.bad-rows', `${parsed.errors.length} bad row(s) in a ${parsed.kind} upload of ${parsed.rows.length + parsed.errors.length} rows; the upload is rejected as a whole, fix and re-upload. ${first}${parsed.errors.length > 5 ? '; ...' : ''}`, {
          errors: parsed.errors.slice(0, 1000),
        });
      }
      const row = await repo.addEproUpload({ object_id: obj.id, kind: parsed.kind, object_sha256: obj.sha256 ?? '', row_count: parsed.rows.length, parsed: JSON.stringify(parsed) });
      return { detail: { epro: { uploadId: row.id, kind: parsed.kind, rows: parsed.rows.length, studyId: protocol.protocolId } } };
    },
  };
}

export interface CutRequest {
  studyId: string;
  cutoffDate: string;
  blinded: boolean;
  formats?: CutFormat[];
  /** The acting user's audit name (API: from the token; CLI: 'cli'). */
  createdBy: string;
  /** The acting user's roles, recorded in the cut.created audit entry. */
  actorRoles?: string[];
  /** Add ADPRED: the exploratory response model's predictions (AI_RESPONSE_MODEL), never an endpoint. Default false. */
  predictions?: boolean;
}

export interface CutResult {
  cut: DataCutRow;
  created: boolean;
  manifest: CutManifest;
}

/** Protocol endpoint settings from PROTOCOL_CONFIG (`endpoints` section), merged over the library defaults. */
export function endpointSettings(ctx: PipelineContext): Partial<ProtocolSettings> {
  return loadProtocolConfig(ctx.config).endpoints as Partial<ProtocolSettings>;
}

/** The datasets of a cut: the study document (with its accepted ePRO uploads) derived, then let go. */
async function deriveCutDatasets(
  ctx: PipelineContext,
  req: CutRequest,
  input: NonNullable<Awaited<ReturnType<EndpointsRepository['latestStudyInput']>>>,
  uploads: Awaited<ReturnType<EndpointsRepository['eproUploads']>>,
) {
  // a fresh document from the database (its parts put back): changed below without touching anything stored
  let study = (await new EndpointsRepository(ctx.db).studyInputDocument(input)) as unknown as StudyInput;
  const issues: string[] = [];
  let latest = new Date(input.created_at).getTime();
  for (const u of uploads) {
    const r = applyEproUpload(study, u.parsed as EproParseResult, u.id);
    study = r.study;
    for (const c of r.conflicts) issues.push(`epro ${u.id} row ${c.row}: ${c.message}`);
    latest = Math.max(latest, new Date(u.created_at).getTime());
  }
  study.dataCutDate = req.cutoffDate;
  const settingsIn = endpointSettings(ctx);
  // big studies derive and write on all cores (worker threads); small ones stay in this thread
  const derived = await deriveEndpointTablesParallel(study, settingsIn, { blinded: req.blinded });
  issues.push(...derived.issues);
  const extra: Dataset[] = [];
  // several reads per subject (BICR readers + AI): the reader-level datasets ADTRRDR / ADRSRDR (libs/endpoints reads.ts)
  if (hasReads(study)) {
    const r = readDatasets(study, derived.settings);
    extra.push(...r.datasets);
    issues.push(...r.issues);
  }
  let predictionModel: { id: string; version: string; sha256: string } | undefined;
  if (req.predictions) {
    const m = resolveModel(ctx.config.AI_RESPONSE_MODEL, { modelsDir: ctx.config.MODELS_DIR });
    const info = responseModelInfo(m.card);
    const preds = await predictResponses(extractEarlyFeatures(study, settingsIn), await ortPredictor(m.file, { sha256: m.sha256 }), { impute: info.impute });
    extra.push(adpredDataset(buildAdpred(preds, m.provenance, { studyId: req.studyId })));
    predictionModel = m.provenance;
  }
  return { derived, extra, issues, latest, predictionModel };
}

/**
 * A data cut: the study's latest assessments + every accepted ePRO upload, derived with the protocol
 * settings, written in every format with a manifest, stored under cuts/<study>/<cutId>/ and recorded.
 * The cut id is content-addressed (inputs + settings + code version), so re-running on the same inputs
 * returns the same, immutable cut; its files are byte-identical to a fresh derivation (verifyCut).
 *
 * Audit anchoring (issue 12 §7): the manifest records `auditHead`, the audit chain's head when the cut is first made,
 * and a `cut.created` entry (with the manifest sha256) follows it in the chain. The head is deliberately NOT part of
 * the cut id: the id stays a function of inputs + settings + code, so the same inputs still give the same cut. The
 * first manifest stored wins: a repeated request returns the stored cut, and a re-derivation into the same location
 * (the row lost, the files kept) adopts the stored manifest.json when its data files are identical.
 */
export async function createDataCut(ctx: PipelineContext, req: CutRequest): Promise<CutResult> {
  const repo = new EndpointsRepository(ctx.db);
  const input = await checkCutRequest(repo, req);
  const uploads = await repo.eproUploads();
  // the study document lives only while the datasets are derived (deriveCutDatasets): the files are written without
  // it (a 10,000-subject trial with reads: about 1 GB of heap that the writing would otherwise keep)
  const { derived, extra, issues, latest, predictionModel } = await deriveCutDatasets(ctx, req, input, uploads);
  const formats = req.formats ?? [...CUT_FORMATS];
  const audit = new AuditRepository(ctx.db);
  const auditHead = await audit.head();
  const inputs = {
    studyInput: { id: input.id, source: input.source, sha256: input.input_sha256 },
    epro: uploads.map((u) => ({ id: u.id, kind: u.kind, objectSha256: u.object_sha256 })),
    ...(predictionModel ? { predictionModel } : {}),
  };
  const version = codeVersion();
  const fingerprint = sha256Hex(canon({ inputs, settings: derived.settings, cutoff: req.cutoffDate, blinded: req.blinded, formats, version }));
  const safeStudy = req.studyId.replace(/[^A-Za-z0-9._-]/g, '_');
  const cutId = `${safeStudy}-${req.cutoffDate}-${req.blinded ? 'blinded' : 'unblinded'}-${fingerprint.slice(0, 12)}`;
  const existing = await repo.cutById(cutId);
  if (existing) return { cut: existing, created: false, manifest: existing.manifest as unknown as CutManifest };
  const prefix = `cuts/${safeStudy}/${cutId}`;
  /** Stores one file of the cut; immutable: never overwrites. Returns the stored manifest when one is adopted. */
  const storeFile = async (f: CutFile | StreamedCutFile, built?: CutManifest): Promise<CutManifest | undefined> => {
    const key = `${prefix}/${f.path}`;
    if (!(await ctx.store.head(key))) {
      // a streamed data file is stored from its blocks as they are (never joined into one buffer)
      await ctx.store.put(key, 'bytes' in f ? f.bytes : Readable.from(f.chunks, { objectMode: false }));
      return undefined;
    }
    // an existing object must be exactly this file
    const stored = await ctx.store.getBuffer(key);
    if (sha256Hex(stored) === f.sha256) return undefined;
    if (f.path === MANIFEST_PATH && built) {
      // the same cut made before (another audit head): keep the first manifest if it lists exactly these files
      const first = readManifest(stored);
      const same = (a: CutManifest['files'], b: CutManifest['files']) => a.length === b.length && a.every((x, i) => x.path === b[i]!.path && x.sha256 === b[i]!.sha256);
      if (first.cutId === cutId && same(first.files, built.files)) return first;
    }
    throw new Error(`cut ${cutId}: ${f.path} already exists in the store with different content`);
  };
  // each data file is stored as soon as it is written (a big cut's files are never all in memory), manifest.json last
  const { manifest: built, manifestFile } = await streamDataCut(
    {
      cutId,
      studyId: req.studyId,
      cutoffDate: req.cutoffDate,
      datasets: [...derived.tables, ...extra],
      settings: derived.settings,
      meta: {
        studyOID: req.studyId,
        metaDataVersionOID: `MDV.${safeStudy}.${fingerprint.slice(0, 12)}`,
        creationDateTime: new Date(latest).toISOString().replace('Z', ''),
        originator: 'Imaging and pathology endpoint service',
        sourceSystem: { name: 'endpoint-service', version: version.split('@')[1] ?? version },
      },
      formats,
      codeVersion: version,
      blinded: req.blinded,
      auditHead,
    },
    async (f) => void (await storeFile(f)),
  );
  const manifest: CutManifest = (await storeFile(manifestFile, built)) ?? built;
  // the row and its cut.created audit entry commit together: a process that dies in between leaves neither, and the
  // re-run (the job's next attempt) finds every file in place (each checked against its sha256) and records both
  const { row, created } = await ctx.db.transaction().execute(async (trx) => {
    const r = await new EndpointsRepository(trx).insertCut({
      cut_id: cutId,
      study_id: req.studyId,
      cutoff_date: req.cutoffDate,
      blinded: req.blinded,
      inputs: JSON.stringify(inputs),
      settings: JSON.stringify(derived.settings),
      issues: JSON.stringify(issues),
      manifest: JSON.stringify(manifest),
      manifest_sha256: manifest.manifestSha256,
      prefix,
      created_by: req.createdBy,
    });
    if (r.created)
      await audit.append(
        {
          actor: req.createdBy,
          actorRoles: req.actorRoles ?? [],
          action: 'cut.created',
          entityType: 'data_cut',
          entityId: cutId,
          after: { studyId: req.studyId, cutoffDate: req.cutoffDate, blinded: req.blinded, manifestSha256: manifest.manifestSha256, files: manifest.files.length, predictions: !!req.predictions },
          detail: { inputs, auditHead: manifest.auditHead ?? null },
        },
        trx,
      );
    return r;
  });
  return { cut: row, created, manifest };
}

/** The checks a cut request must pass before any work (shared by createDataCut and the API/CLI before enqueueing). */
async function checkCutRequest(repo: EndpointsRepository, req: CutRequest) {
  if (typeof req.studyId !== 'string' || !req.studyId) throw new InputError('datacut.invalid', 'studyId is required');
  if (typeof req.cutoffDate !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(req.cutoffDate) || Number.isNaN(Date.parse(req.cutoffDate))) throw new InputError('datacut.invalid', `cutoffDate must be an ISO date YYYY-MM-DD, got '${req.cutoffDate}'`);
  if (typeof req.blinded !== 'boolean') throw new InputError('datacut.invalid', 'blinded must be true or false: blinding is always explicit');
  if (req.formats !== undefined) checkCutFormats(req.formats); // buildDataCut's refusal, made before any work (and before a job is queued)
  const input = await repo.latestStudyInput(req.studyId);
  if (!input) throw new InputError('datacut.no-input', `study ${req.studyId} has no assessments yet: import its SDTM (cli import-sdtm) or load reads first`);
  return input;
}

/** Re-hash every stored file of a cut against its manifest (tamper detection). */
export async function verifyCut(ctx: PipelineContext, cut: DataCutRow) {
  const manifest = cut.manifest as unknown as CutManifest;
  const files = [];
  for (const f of [...manifest.files.map((x) => x.path), 'manifest.json']) {
    const key = `${cut.prefix}/${f}`;
    if (await ctx.store.head(key)) files.push({ path: f, bytes: await ctx.store.getBuffer(key) });
  }
  return verifyDataCut(files, manifest);
}

/** Store a new immutable snapshot of a study's assessments. */
export async function addStudyInput(ctx: PipelineContext, studyId: string, source: string, study: StudyInput, createdBy: string, issues: unknown[] = []) {
  const repo = new EndpointsRepository(ctx.db);
  return (await repo.addStudyInput({ study_id: studyId, source, issues: JSON.stringify(issues), created_by: createdBy }, study as unknown as Record<string, unknown>, canon)).row;
}

/**
 * Import a sponsor's SDTM TU/TR (+ RS, + DM) as the study's assessments; RS, when given, is compared with our
 * derivation; DM, when given, supplies the reference start, first-treatment and death dates and the arm.
 */
export async function importSdtm(ctx: PipelineContext, studyId: string, files: { name: string; bytes: Buffer }[], createdBy: string, evaluator = 'INVESTIGATOR') {
  const pick = (dom: string): Dataset | undefined => {
    const f = files.find((x) => new RegExp(`(^|[^a-z])${dom}([^a-z]|$)`, 'i').test(x.name.replace(/\.(gz)$/i, '').replace(/\.[a-z]+$/i, '')));
    return f ? readDataset(f.bytes, f.name, { name: dom.toUpperCase() }) : undefined;
  };
  const tu = pick('tu');
  const tr = pick('tr');
  const rs = pick('rs');
  const dm = pick('dm');
  if (!tu || !tr) throw new InputError('sdtm.missing-domain', `SDTM import needs TU and TR (files named tu.* and tr.*); got ${files.map((f) => f.name).join(', ')}`);
  const { study, issues } = importSdtmAssessments(tu, tr, rs, { evaluator, studyId, dm });
  const row = await addStudyInput(ctx, studyId, 'sdtm-import', study, createdBy, issues);
  const comparison = rs ? compareWithRs(study, rs, { evaluator }) : undefined;
  return { input: row, subjects: study.subjects.length, issues, comparison };
}

/** A simulated trial as the study's assessments (demo, tests, benchmarks). */
export async function loadSimulatedStudy(ctx: PipelineContext, studyId: string, opts: Omit<SimulateOptions, 'studyId'>, createdBy: string) {
  const study = simulateTrial({ ...opts, studyId });
  return { study, input: await addStudyInput(ctx, studyId, 'simulated', study, createdBy) };
}

/** Path to the bundled pharmaverse SDTM (demo/tests). */
export const PHARMAVERSE_SDTM_DIR = () => join(repoRoot(), 'tests', 'fixtures', 'cdisc', 'pharmaverse-sdtm');

/* ------------------------------------------------------------------------------------------------------------
 * Data cuts as a queued job (`cut.create`): the API, the CLI and the demo enqueue the request and wait for it.
 * ---------------------------------------------------------------------------------------------------------- */

/** The job that makes a data cut (heavy lane: derivation and writing use every core of a worker for a big trial). */
export const CUT_JOB = 'cut.create';

/** What a `cut.create` job stores as its result in the ledger. */
export type CutJobResult = { cutId: string; created: boolean; manifestSha256: string } | JobRefusal;

/**
 * The idempotency key of a cut request: the request (study, cut-off, blinding, formats, predictions) and the identity
 * of what the cut would be made from right now (latest study input, accepted ePRO uploads, protocol endpoint settings,
 * the response model's sha256 when predictions are asked for, code version). The same request enqueued twice while
 * nothing changed is one job; new inputs make a new job (and a new cut), as a synchronous cut would. The requester is
 * not part of it: whoever asks first makes the cut, later requesters get the same one. Throws InputError for a request
 * that can never succeed (bad date, blinding not explicit, unknown format, no assessments).
 */
export async function cutJobKey(ctx: PipelineContext, req: CutRequest): Promise<string> {
  const repo = new EndpointsRepository(ctx.db);
  const input = await checkCutRequest(repo, req);
  const uploads = await repo.eproUploads();
  const model = req.predictions ? resolveModel(ctx.config.AI_RESPONSE_MODEL, { modelsDir: ctx.config.MODELS_DIR }).sha256 : null;
  const identity = {
    studyId: req.studyId,
    cutoffDate: req.cutoffDate,
    blinded: req.blinded,
    formats: req.formats ?? [...CUT_FORMATS],
    predictions: !!req.predictions,
    studyInput: input.id,
    epro: uploads.map((u) => u.id),
    settings: endpointSettings(ctx),
    model,
    code: codeVersion(),
  };
  return `${CUT_JOB}:${sha256Hex(canon(identity))}`;
}

/** The payload of a cut job: the request, with only the fields a cut reads. */
const cutPayload = (req: CutRequest): CutRequest => ({
  studyId: req.studyId,
  cutoffDate: req.cutoffDate,
  blinded: req.blinded,
  ...(req.formats ? { formats: [...req.formats] } : {}),
  createdBy: req.createdBy,
  actorRoles: req.actorRoles ?? [],
  predictions: !!req.predictions,
});

/**
 * Queue a cut (checked first: InputError for a request that can never succeed). The same request while nothing
 * changed is the same job (`duplicate`); a job of that request that failed (an infrastructure error after all its
 * attempts) is re-run from its first attempt, which is safe because the cut is idempotent.
 */
export async function enqueueDataCut(ctx: PipelineContext, req: CutRequest): Promise<{ jobId: string; duplicate: boolean }> {
  const { jobId, duplicate } = await enqueueRerunningFailed(ctx, CUT_JOB, cutPayload(req), await cutJobKey(ctx, req));
  return { jobId, duplicate };
}

/** A cut job that failed for good (not an input error: those are InputErrors). */
export class CutJobFailedError extends JobFailedError {
  override name = 'CutJobFailedError';
  constructor(jobId: string, error: string) {
    super(jobId, error, 'cut job');
  }
}

export type CutJobState = { state: 'done'; jobId: string; result: CutResult } | JobProgress;

/**
 * Where a cut job is: done (the cut, `created` as the job reported it), still queued/running, an InputError (the
 * request was refused), a CutJobFailedError; undefined when there is no such cut job.
 */
export async function cutJobState(ctx: PipelineContext, jobId: string, row?: JobRow): Promise<CutJobState | undefined> {
  row ??= await new JobsRepository(ctx.db).byId(jobId);
  if (!row || row.name !== CUT_JOB) return undefined;
  const o = jobOutcome<Exclude<CutJobResult, JobRefusal>>(row, (error) => new CutJobFailedError(jobId, error));
  if (!o.done) return o.pending;
  if (!o.result?.cutId) throw new CutJobFailedError(jobId, 'the job completed without a cut id');
  const cut = await new EndpointsRepository(ctx.db).cutById(o.result.cutId);
  if (!cut) throw new CutJobFailedError(jobId, `its cut ${o.result.cutId} is not in data_cuts`);
  return { state: 'done', jobId, result: { cut, created: o.result.created, manifest: cut.manifest as unknown as CutManifest } };
}

/** Wait up to `waitMs` for a cut job to finish (polling the ledger, which every process shares); see cutJobState. */
export function waitForCutJob(ctx: PipelineContext, jobId: string, waitMs: number): Promise<CutJobState> {
  return waitForJobState(() => cutJobState(ctx, jobId), waitMs, `cut job ${jobId}`);
}

/**
 * A cut through its job: enqueue (or join the same request's job) and wait up to `waitMs`. `created` is true only for
 * the caller whose request made the job that created the cut. Throws InputError when the request is refused.
 */
export async function requestDataCut(ctx: PipelineContext, req: CutRequest, waitMs: number): Promise<CutJobState & { duplicate: boolean }> {
  const { jobId, duplicate } = await enqueueDataCut(ctx, req);
  const s = await waitForCutJob(ctx, jobId, waitMs);
  if (s.state === 'done' && duplicate) return { ...s, duplicate, result: { ...s.result, created: false } };
  return { ...s, duplicate };
}

/**
 * A cut through its job, waited for until it is done (CLI, demo): the cut, or the InputError / CutJobFailedError. In
 * embedded mode the caller's own worker must be started (it runs the job); with Redis a worker process runs it.
 */
export async function runDataCutJob(ctx: PipelineContext, req: CutRequest, opts: { onQueued?: (jobId: string, duplicate: boolean) => void } = {}): Promise<CutResult & { jobId: string }> {
  const { jobId, duplicate } = await enqueueDataCut(ctx, req);
  opts.onQueued?.(jobId, duplicate);
  const s = await waitForCutJob(ctx, jobId, Number.POSITIVE_INFINITY);
  if (s.state !== 'done') throw new Error(`cut job ${jobId} still ${s.status}`); // unreachable: an unbounded wait ends done or throws
  return { ...s.result, created: s.result.created && !duplicate, jobId };
}

/** The cut job: createDataCut; a refused request completes with its InputError as the result (never retried). */
export function cutJob(ctx: PipelineContext): JobDefinition<CutRequest> {
  return {
    name: CUT_JOB, // heavy: listed in HEAVY_JOBS (runtime.ts), so KEDA scales on its lane too
    handler: (job): Promise<CutJobResult> =>
      refusalAsResult(async () => {
        const r = await createDataCut(ctx, job.payload);
        job.log.info({ cutId: r.cut.cut_id, created: r.created }, 'data cut made');
        // every cut gets its report, made by a job of its own (a retry of this job joins the same report job); a
        // failure to queue it loses nothing: the first request for the report queues it
        await enqueueCutReport(ctx, r.cut, { name: job.payload.createdBy, roles: job.payload.actorRoles ?? [] }).catch((e: Error) => job.log.warn({ err: e, cutId: r.cut.cut_id }, 'could not queue the cut report job; the first request for the report will'));
        return { cutId: r.cut.cut_id, created: r.created, manifestSha256: r.cut.manifest_sha256 };
      }),
  };
}

export const endpointsModule: PipelineModule = {
  name: 'endpoints',
  processors: (ctx) => [eproProcessor(ctx)],
  // the report shares the cut lane: a worker makes one cut or one report at a time, so a big trial's cut (3.1 GB at
  // 10,000 subjects) and a report (1.2 GB) never add up in one worker (4 GiB in infra/k8s/worker.yaml)
  jobs: (ctx) => [cutJob(ctx), { ...reportJob(ctx), lane: CUT_JOB }],
  sniffers: [eproSniffer],
};
