/**
 * kill -9 of a worker in the middle of each job type, on a private deployment (own PostgreSQL cluster, own
 * redis-server, s3rver behind a proxy on loopback) with the real apps/worker processes.
 *
 * How a job is caught mid-flight: the S3 proxy holds (never answers) the first S3 request that only that job type
 * makes — the ingest's HEAD of the upload, the DICOM processor's PUT of the de-identified copy, the volume PUT, the
 * slide processor's PUT of the blinded slide, the patch job's GET of the blinded slide, the CT inference's GET of the
 * volume (its download to a local work folder) and, on the retry, its PUT of its components, the tracking job's SEG
 * PUT, the slide inference's heatmap PUT. The worker that sent the held request (its pid is in the request's
 * User-Agent) is SIGKILLed and a replacement worker is started (as a supervisor would).
 * The first kill happens with a single worker, so its job is recovered by a worker starting up; later ones leave a
 * live peer, so recovery also runs in a surviving worker.
 *
 * The data cut (`cut.create`, queued by POST /v1/cuts, the CLI and the demo) is caught at the PUT of its manifest.json
 * under `cuts/`, written after every data file: the dead attempt leaves a half cut (data files, no manifest, no row)
 * that the recovered attempt must complete, not duplicate. Its study is a small simulated trial (20 subjects). The
 * cut's report (`cut.report`, queued by the cut job) is caught at the PUT of its report/manifest.json, written after
 * every report file: the recovered attempt must write the report once (one audit entry, files matching the manifest).
 *
 * Then: every object processed, every effect exactly once (no duplicate rows in objects, instances, volumes per
 * instance set, slides, AI runs, AI proposals; one data cut row for the request, its files complete and matching its
 * manifest, one cut.created audit entry), nothing queued/running/failed, and every kill really hit its job.
 */
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@app/core';
import { generateSyntheticSlide } from '@app/pathology';
import { CUT_JOB, type CutJobResult, type CutRequest, enqueueDataCut, loadSimulatedStudy, REPORT_JOB, type ReportJobResult, storedReportManifest, verifyCut } from '@app/pipeline';
import { verifyReport } from '@app/report';
import { generatePhantomStudy } from '@app/phantom';
import { type Cluster, startCluster, waitUntil } from './cluster';
import { type FaultyS3, type HoldRule, startFaultyS3, type WorkerProc } from './harness';
import { cleanup as cleanupModels, tempModelsDir, writeModelFolder } from '../inference/helpers';

const SLICES = 12;

const SCT = (code: string, meaning: string) => ({ scheme: 'SCT', code, meaning });
const lesionClass = (index: number, name: string, site: [string, string], nodal: boolean) => ({ index, name, category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT(...site), nodal });

/** The job types killed, and the S3 request that shows each one is mid-flight. */
export type KillInput = 'ct' | 'slide' | 'cut';
export const TARGETS: { job: string; label: string; re: RegExp; input: KillInput }[] = [
  { job: 'ingest.object', label: 'ingest', re: /^HEAD \/trial-uploads\/incoming\/ct\//, input: 'ct' },
  { job: 'process.object', label: 'DICOM process', re: /^PUT \/trial-uploads\/deid\//, input: 'ct' },
  { job: 'dicom.volume', label: 'volume', re: /^PUT \/trial-uploads\/volumes\//, input: 'ct' },
  // the first GET of a volume is the CT read streaming it to its local work folder (killed there, the folder is left
  // behind for the retry to clear); its retry is then caught again at the components PUT
  { job: 'inference.ct', label: 'CT inference (volume download)', re: /^GET \/trial-uploads\/volumes\//, input: 'ct' },
  { job: 'inference.ct', label: 'CT inference', re: /^PUT \/trial-uploads\/ai\/[^?]*\/components\.nrrd/, input: 'ct' },
  { job: 'lesions.track', label: 'tracking', re: /^PUT \/trial-uploads\/ai\/[^?]*\/track-[^?]*\/seg\.dcm/, input: 'ct' },
  { job: 'process.object', label: 'slide process', re: /^PUT \/trial-uploads\/slides\/[^?]*\/blinded\.tif/, input: 'slide' },
  { job: 'wsi.patches', label: 'patches', re: /^GET \/trial-uploads\/slides\/[^?]*\/blinded\.tif/, input: 'slide' },
  { job: 'inference.slide', label: 'slide inference', re: /^PUT \/trial-uploads\/slides\/[^?]*\/ai\/[^?]*\/heatmap\.png/, input: 'slide' },
  // the cut's last PUT (its manifest): the dead attempt leaves every data file stored, no manifest and no row
  { job: CUT_JOB, label: 'data cut', re: /^PUT \/trial-uploads\/cuts\/(?![^?]*\/report\/)[^?]*\/manifest\.json/, input: 'cut' },
  // the report's last PUT (its manifest, after every report file): the dead attempt leaves a report without manifest
  { job: REPORT_JOB, label: 'cut report', re: /^PUT \/trial-uploads\/cuts\/[^?]*\/report\/manifest\.json/, input: 'cut' },
];

/** The cut request of the 'cut' scenario (its study: a simulated trial of 20 subjects). */
const CUT_REQUEST: CutRequest = { studyId: 'K9-CUT', cutoffDate: '2026-06-30', blinded: true, createdBy: 'fault-test', actorRoles: ['biostatistician'] };

/**
 * One private deployment, the uploads of `input` (a 12-slice CT series, or one H&E slide; for 'cut' no upload but a
 * simulated trial and one queued cut request), a hold + kill for each target of that input; then the exactly-once
 * checks. Registers its own beforeAll/afterAll/test.
 */
export function killScenario(input: KillInput): void {
  let s3: FaultyS3;
  let c: Cluster;
  const targets = TARGETS.filter((t) => t.input === input);
  beforeAll(async () => {
    s3 = await startFaultyS3();
    const models = tempModelsDir();
    writeModelFolder(models, 'ct-lesion-seg', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', { inC: 3, outC: 4, spatial: [128, 128], preprocessing: { hu_window: [-200, 300], context_slices: 1, roi_size: [128, 128], overlap: 0.5, blending: 'gaussian', gaussian_sigma_scale: 0.125 } }, (card) => {
      card.classes = [lesionClass(1, 'liver lesion', ['10200004', 'Liver'], false), lesionClass(2, 'lung lesion', ['39607008', 'Lung'], false), lesionClass(3, 'lymph node lesion', ['59441001', 'Lymph node'], true)];
      card.postprocessing = { argmax: true, min_component_voxels: 10 };
    });
    cpSync(join(repoRoot(), 'models/he-tile-classifier'), join(models, 'he-tile-classifier'), { recursive: true });
    c = await startCluster({
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      MODELS_DIR: models,
      AI_CT_MODEL: '',
      JOB_ATTEMPTS: '6',
      SERIES_QUIET_MS: '1500',
    });
  });

  afterAll(async () => {
    await c?.stop();
    await s3?.stop().catch(() => {});
    cleanupModels();
  });

  const alive = (w: WorkerProc) => w.proc.exitCode === null && w.proc.signalCode === null;

  test(`kill -9 of a worker in the middle of each ${input} job type (${targets.map((t) => t.label).join(', ')}): recovered, every effect exactly once`, async () => {
    // uploads (straight to the store, before any hold is armed)
    const ph = input === 'ct' ? await generatePhantomStudy({ outDir: join(c.dataDir, '..', 'ph'), subjects: 1, visits: 1, rows: 160, cols: 160, slices: SLICES, sliceThickness: 5, sliceSpacing: 5, noiseSigma: 5, seed: 21 }) : { files: [] };
    const slidePath = input === 'slide' ? (await generateSyntheticSlide({ path: join(c.dataDir, '..', 's.svs'), width: 1536, height: 1280, seed: 9003 })).path : undefined;
    const events = await c.withRuntime(async (rt) => {
      const out = [];
      for (const f of ph.files) {
        const key = `incoming/ct/${f.sopInstanceUid}.dcm`;
        out.push({ bucket: rt.store.bucket, key, etag: (await rt.store.put(key, readFileSync(f.path))).etag, eventName: 'ObjectCreated:Put' });
      }
      const key = 'incoming/slides/subject-SUBJ-001/block-A.svs';
      if (slidePath) out.push({ bucket: rt.store.bucket, key, etag: (await rt.store.put(key, readFileSync(slidePath))).etag, eventName: 'ObjectCreated:Put' });
      return out;
    });

    const rules: (HoldRule & { job: string; killed?: { pid: number; running: string[]; takenOverBy: string | null; at: number } })[] = targets.map((t) => ({ ...t, left: 1, held: [] }));
    s3.holds = rules;
    const live = new Map<number, WorkerProc>();
    const spawn = () => {
      const w = c.worker();
      live.set(w.proc.pid!, w);
      return w;
    };
    // the cut's study: a small simulated trial as its assessments
    if (input === 'cut') await c.withRuntime((rt) => loadSimulatedStudy(rt, CUT_REQUEST.studyId, { subjects: 20, visits: 5, seed: 31, qlq: true, stepWeeks: 4 }, 'fault-test'));
    // two workers: each kill leaves a live peer that recovers the job, and the replacement recovers at start-up too
    spawn();
    spawn();
    // the cut is queued as the API queues it (POST /v1/cuts): enqueueDataCut, idempotency key from the request
    const cutJob = input === 'cut' ? await c.withRuntime((rt) => enqueueDataCut(rt, CUT_REQUEST)) : undefined;
    await c.withRuntime((rt) => rt.ingest.enqueueEvents(events));

    const t0 = Date.now();
    const log: string[] = [];
    await waitUntil(
      async () => {
        for (const r of rules) {
          // the worker to kill is the one whose request is held (its User-Agent names its pid), not the ledger row's
          // owner: on a loaded machine a worker's lease can lapse (event loop blocked past JOB_LEASE_MS) and another
          // worker take the row over while the first is still running the job and sends the held request
          const h = r.held.find((x) => x.open && x.pid !== undefined);
          if (r.killed || !h) continue;
          const pid = h.pid!;
          const w = live.get(pid);
          if (!w || !alive(w)) continue;
          const all = (await c.q<{ name: string }>(`select name from jobs where status = 'running' and split_part(owner, ':', 2) = $1`, [String(pid)])).map((a) => a.name);
          // where the killed worker does not own a row of the job type: its lease lapsed and the row was recovered (a
          // second attempt, or a recovery recorded), and another worker took it over, or it waits, queued again, for one;
          // neither: the rows go to the log (the check below then fails and shows them)
          const rows = all.includes(r.job) ? [] : await c.q<{ status: string; owner: string | null; attempts: number; recoveries: number; lease_until: string | null }>(`select status, owner, attempts, recoveries, lease_until from jobs where name = $1`, [r.job]);
          const recovered = rows.find((j) => (j.owner === null || j.owner.split(':')[1] !== String(pid)) && (Number(j.attempts) > 1 || Number(j.recoveries) > 0));
          const takenOver = recovered ? (recovered.owner ? `taken over by ${recovered.owner}` : 'queued again') : null;
          await w.kill9();
          live.delete(pid);
          spawn();
          await new Promise((res) => setTimeout(res, 200)); // the dead worker's sockets close
          const at = Date.now() - t0;
          // a kill counts for every armed rule whose held request this worker sent
          for (const x of rules)
            if (!x.killed && x.held.some((y) => y.pid === pid)) {
              const takenOverBy = x === r ? takenOver : null;
              x.killed = { pid, running: all, takenOverBy, at };
              const unexplained = x === r && rows.length && !recovered ? `; ${x.job} rows: ${JSON.stringify(rows)}` : '';
              log.push(`${x.label}: killed worker ${pid} at +${at} ms while running [${all.join(', ')}]${takenOverBy ? ` (its ${x.job} row had been recovered when its lease lapsed: ${takenOverBy})` : ''}${unexplained}`);
            }
        }
        const [s] = await c.q<{ pending: string; slides: string; runs: string }>(
          `select (select count(*) from jobs where status in ('queued', 'running')) pending,
                  (select count(*) from slides where patches is not null) slides,
                  (select count(*) from ai_runs where kind = 'slide') runs`,
        );
        const [ct] = await c.q<{ track: string; cuts: string }>(`select (select count(*) from ai_runs where kind = 'track') track, (select count(*) from data_cuts) cuts`);
        const outputs = input === 'slide' ? +s!.slides >= 1 && +s!.runs >= 1 : input === 'cut' ? +ct!.cuts >= 1 : +ct!.track >= 1;
        return rules.every((r) => r.killed) && +s!.pending === 0 && outputs;
      },
      200000,
      'every kill done and the pipeline idle',
      100,
    ).catch(async (e) => {
      const jobs = await c.q(`select name, status, attempts, recoveries, left(error, 200) error from jobs where status <> 'completed' order by name`).catch(() => []);
      const objs = await c.q(`select key, kind, status, reason from objects where status <> 'processed' or kind <> 'dicom'`).catch(() => []);
      const slides = await c.q(`select id, object_id, mpp_x, patches is not null patched from slides`).catch(() => []);
      const wsiJobs = await c.q(`select name, status, attempts, recoveries, result::text from jobs where name like 'wsi%' or name like 'inference.slide' or (name = 'process.object' and payload->>'objectId' in (select id::text from objects where kind <> 'dicom'))`).catch(() => []);
      const queued = await c.q<{ id: string; name: string; transport_id: string | null }>(`select id, name, transport_id from jobs where status = 'queued'`).catch(() => []);
      const Bull = (await import('bull')).default;
      for (const j of queued) {
        const names = await c.bullQueues();
        const states: string[] = [];
        for (const n of names) {
          const q = new Bull(n, c.redis.url);
          const job = await q.getJob(j.transport_id ?? j.id);
          if (job) states.push(`${n}:${await job.getState()}`);
          await q.close();
        }
        log.push(`queued ledger row ${j.name} ${j.id}: in Bull: ${states.join(', ') || 'MISSING'}`);
      }
      log.push(`objects: ${JSON.stringify(objs)}`, `slides: ${JSON.stringify(slides)}`, `slide jobs: ${JSON.stringify(wsiJobs)}`);
      throw new Error(`${(e as Error).message}\nkills:\n${log.join('\n')}\nnot killed: ${rules.filter((r) => !r.killed).map((r) => `${r.label} (held ${r.held.length})`).join(', ')}\nunfinished jobs: ${JSON.stringify(jobs)}\nworker output (tail): ${[...live.values()].map((w) => w.output().slice(-800)).join('\n---\n')}`);
    });
    process.stdout.write(`kill -9 schedule:\n${log.join('\n')}\n`);

    // every kill hit a worker in the middle of the job type it aimed at: the held request (only that job type makes it)
    // came from the killed process, and the ledger had that job running under it, or had recovered the row when its
    // lease lapsed (taken over by another worker, or queued again)
    for (const r of rules) expect({ target: r.label, running: r.killed!.running.includes(r.job) || r.killed!.takenOverBy !== null }).toEqual({ target: r.label, running: true });

    const one = async (sql: string) => (await c.q<Record<string, string>>(sql))[0]!;
    // objects: one row per upload, all processed
    const n = String(events.length);
    expect(await one(`select count(*) total, count(distinct key) keys, count(*) filter (where status = 'processed') processed from objects`)).toEqual({ total: n, keys: n, processed: n });
    const runs = await one(`select count(*) total, count(distinct run_key) keys, count(*) filter (where kind = 'ct') ct, count(*) filter (where kind = 'track') track, count(*) filter (where kind = 'slide') slide from ai_runs`);
    expect(runs.total).toBe(runs.keys); // AI: one run per run key
    if (input === 'ct') {
      // instances: one per slice object
      expect(await one(`select count(*) total, count(distinct object_id) objects from instances`)).toEqual({ total: String(SLICES), objects: String(SLICES) });
      // volumes: no duplicate per (series, instance set); the newest is complete
      const v = await one(`select count(*) total, count(distinct (series_id, instance_set_sha256)) sets, max((dims::jsonb->>2)::int) slices from volumes`);
      expect(v.total).toBe(v.sets);
      expect(Number(v.slices)).toBe(SLICES);
      expect(runs.ct).toBe(v.total); // a CT run per volume
      expect(Number(runs.track)).toBeGreaterThanOrEqual(1);
      // the local work folders (volume files read slice by slice) of the killed CT and tracking attempts were cleared by
      // their retries: nothing left behind on the worker's disk
      const tmp = join(c.dataDir, 'tmp');
      expect((existsSync(tmp) ? readdirSync(tmp) : []).filter((f) => /^ai-(ct|track)-/.test(f))).toEqual([]);
    } else if (input === 'cut') {
      // the cut: the request is one job, completed with the cut; exactly one cut row, one cut.created audit entry, and
      // its stored files complete and byte-identical to its manifest
      const jobs = await c.q<{ id: string; status: string; result: CutJobResult }>(`select id, status, result from jobs where name = $1`, [CUT_JOB]);
      expect(jobs.map((j) => [j.id, j.status])).toEqual([[cutJob!.jobId, 'completed']]);
      const cuts = await c.q<{ cut_id: string; study_id: string }>(`select cut_id, study_id from data_cuts`);
      expect(cuts).toEqual([{ cut_id: (jobs[0]!.result as { cutId: string }).cutId, study_id: CUT_REQUEST.studyId }]);
      expect(await one(`select count(*) n from audit_log where action = 'cut.created' and entity_id = '${cuts[0]!.cut_id}'`)).toEqual({ n: '1' });
      // its report: one cut.report job (queued by the cut job), completed; one cut.report.created audit entry
      const reports = await c.q<{ status: string; result: ReportJobResult }>(`select status, result from jobs where name = $1`, [REPORT_JOB]);
      expect(reports.map((j) => j.status)).toEqual(['completed']);
      expect(await one(`select count(*) n from audit_log where action = 'cut.report.created' and entity_id = '${cuts[0]!.cut_id}'`)).toEqual({ n: '1' });
      const verified = await c.withRuntime(async (rt) => {
        const cut = (await rt.db.selectFrom('data_cuts').selectAll().executeTakeFirstOrThrow());
        const stored: string[] = [];
        for await (const o of rt.store.list('cuts/')) stored.push(o.key);
        const rm = (await storedReportManifest(rt, cut))!;
        const reportFiles = [];
        for (const f of rm.files) reportFiles.push({ path: f.path, bytes: await rt.store.getBuffer(`${cut.prefix}/report/${f.path}`) });
        const manifest = [...(cut.manifest as unknown as { files: { path: string }[] }).files.map((f) => f.path), 'manifest.json', ...[...rm.files.map((f) => f.path), 'manifest.json'].map((p) => `report/${p}`)].map((p) => `${cut.prefix}/${p}`);
        return { v: await verifyCut(rt, cut), report: verifyReport(rm, reportFiles), reportSha: rm.reportManifestSha256, stored: stored.sort(), manifest: manifest.sort() };
      });
      expect(verified.v).toMatchObject({ ok: true });
      expect(verified.report).toEqual([]);
      expect((reports[0]!.result as { reportManifestSha256: string }).reportManifestSha256).toBe(verified.reportSha);
      expect(verified.stored).toEqual(verified.manifest); // every file there, nothing else (no half or second cut or report)
      expect(runs.total).toBe('0');
    } else {
      // slides: one per slide object, with its patch plan; one slide AI run
      expect(await one(`select count(*) total, count(distinct object_id) objects, count(*) filter (where patches is not null) patched from slides`)).toEqual({ total: '1', objects: '1', patched: '1' });
      expect(runs.slide).toBe('1');
    }
    const props = await one(`select count(*) total, count(distinct (run_id, ordinal)) distinct_ from ai_proposals`);
    expect(props.total).toBe(props.distinct_);
    // the ledger: nothing pending or failed; the killed jobs were recovered
    expect(await c.q(`select name, status, left(error, 300) error from jobs where status <> 'completed'`)).toEqual([]);
    // every killed type has a job that ran again after its attempt died (taken over from Bull's stalled check, or
    // re-queued by the lease recovery): more than one attempt, or a recovery recorded
    const recovered = await c.q<{ name: string }>(`select distinct name from jobs where attempts > 1 or recoveries > 0`);
    for (const t of new Set(targets.map((t) => t.job))) expect(recovered.map((r) => r.name)).toContain(t);
    // Bull agrees: nothing waiting, active, delayed or failed in any of the deployment's queues
    const counts = await c.bullCounts();
    expect({ waiting: counts.waiting, active: counts.active, delayed: counts.delayed }).toEqual({ waiting: 0, active: 0, delayed: 0 });
    // a job Bull failed must be failed in the ledger too (here nothing failed): list any that disagree
    const Bull = (await import('bull')).default;
    const disagree: string[] = [];
    for (const name of await c.bullQueues()) {
      const q = new Bull(name, c.redis.url);
      for (const j of await q.getJobs(['failed'], 0, 1000)) {
        const [row] = await c.q<{ status: string; attempts: number }>(`select status, attempts from jobs where id = $1`, [j.data.ledgerId]);
        disagree.push(`Bull ${name} job ${j.id} (${j.name}) failed: "${j.failedReason}"; ledger: ${row ? `${row.status} after ${row.attempts} attempts` : 'no row'}`);
      }
      await q.close();
    }
    expect(disagree).toEqual([]);
  });
}
