/**
 * npm run bench:scale — scale-out and bursts on the production topology, as real processes: the built API
 * (dist/apps/api) plus 1, 2 and 4 workers (dist/apps/worker) on PostgreSQL (a fresh database per run),
 * Redis (own queue name per run) and an S3 API (s3rver on loopback).
 *
 * Scale: the same mixed batch (phantom CT series: SCALE_SUBJECTS x 2 visits x SCALE_SLICES DICOM slices, and
 * SCALE_SLIDES synthetic SVS slides with label/macro) is uploaded once; for each worker count its upload
 * events are posted (signed, 16 in flight) to the API and the run ends when every object is final and the
 * jobs ledger has nothing queued or running. Throughput = objects / (last job finished - first event
 * posted). Per job type: latency (ledger created_at -> finished_at: queue wait + run; dicom.series-check
 * includes its SERIES_QUIET_MS delay by design) p50/p95/p99. Peak RSS per process from /proc (VmHWM).
 * The CT and slide AI models are off (bench:inference measures them); everything else runs (ingest,
 * de-identification, volumes, slide blinding/thumbnail/tissue/DZI, patch planning).
 *
 * Burst: SCALE_BURST_EVENTS (10,000) events for small objects, all queued at once on the sending side and posted
 * over SCALE_BURST_IN_FLIGHT (500) concurrent connections (one event per request, 503s retried with backoff as
 * S3/SNS do) to the API with one worker; queue depth (Bull waiting+delayed+active and the ledger's
 * queued+running) and RSS sampled every 250 ms.
 *
 * Env: SCALE_WORKERS (default 1,2,4), SCALE_SUBJECTS (4), SCALE_SLICES (40), SCALE_SLIDES (4), SCALE_SLIDE_PX (4096),
 * SCALE_BURST_EVENTS (10000; 0 = skip), QUEUE_CONCURRENCY per worker (2). Ends with ONE JSON line.
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@app/core';
import { generateSyntheticSlide } from '@app/pathology';
import { generatePhantomStudy } from '@app/phantom';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createObjectStore, type ObjectStore, type S3ObjectStore } from '@app/storage';
import { startS3, tempDir } from '../support/services';
import { ledgerLatencies, lastFinishedS, log as logTo, postEvents, s3Event, sampler, startCluster, waitDone } from './cluster';

const WORKERS = (process.env.SCALE_WORKERS ?? '1,2,4').split(',').map(Number).filter((n) => n > 0);
const SUBJECTS = Number(process.env.SCALE_SUBJECTS ?? 4);
const SLICES = Number(process.env.SCALE_SLICES ?? 40);
const SLIDES = Number(process.env.SCALE_SLIDES ?? 4);
const SLIDE_PX = Number(process.env.SCALE_SLIDE_PX ?? 4096);
const BURST = Number(process.env.SCALE_BURST_EVENTS ?? 10000);
/**
 * Senders in flight during the burst (every event is queued at once on the sending side). 10,000 (every event its own
 * connection, retrying 503s with backoff) was tried on the 2-core bench machine: a retry storm (65,000 503 answers and
 * 15,000 connection resets for 1,138 accepted events after several minutes), so the default is 500 concurrent senders.
 */
const BURST_IN_FLIGHT = Number(process.env.SCALE_BURST_IN_FLIGHT ?? 500);
const CONCURRENCY = process.env.QUEUE_CONCURRENCY ?? '2';
/** The burst's objects are tiny: more jobs in flight per worker, or draining 20,000 jobs takes many minutes. */
const BURST_CONCURRENCY = process.env.SCALE_BURST_CONCURRENCY ?? '8';
const QUIET_MS = '3000';
const log = (s: string) => logTo('bench:scale', s);

interface Uploaded {
  key: string;
  etag: string;
  size: number;
}

async function uploadAll(store: ObjectStore, items: { key: string; body: () => Buffer }[], inFlight = 8, small = false): Promise<Uploaded[]> {
  const out: Uploaded[] = new Array(items.length);
  let next = 0;
  const s3 = (store as S3ObjectStore).client;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < items.length) {
        const i = next++;
        const { key, body } = items[i]!;
        if (small) {
          // one PutObject, no HEAD after it (the store's put() checks the object back: twice the requests)
          const b = body();
          const r = await s3.send(new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: b }));
          out[i] = { key, etag: (r.ETag ?? '').replace(/"/g, ''), size: b.length };
        } else {
          const info = await store.put(key, body());
          out[i] = { key: info.key, etag: info.etag, size: info.size };
        }
      }
    }),
  );
  return out;
}

async function mixedBatch(store: ObjectStore, dir: string): Promise<{ objects: Uploaded[]; dicom: number; slides: number; bytes: number }> {
  const t0 = performance.now();
  const ph = await generatePhantomStudy({ outDir: join(dir, 'ct'), subjects: SUBJECTS, visits: 2, slices: SLICES, seed: 7, bitsStored: 16 });
  const items: { key: string; body: () => Buffer }[] = ph.files.map((f) => ({ key: `incoming/ct/${f.subjectId}/${f.visit}/${f.instanceNumber}.dcm`, body: () => readFileSync(f.path) }));
  for (let i = 0; i < SLIDES; i++) {
    const path = join(dir, `slide-${i}.svs`);
    await generateSyntheticSlide({ path, width: SLIDE_PX, height: SLIDE_PX, seed: 100 + i, mpp: 0.5, appMag: 20 });
    items.push({ key: `incoming/slides/subject-SUBJ-${String((i % SUBJECTS) + 1).padStart(3, '0')}/slide-${i}.svs`, body: () => readFileSync(path) });
  }
  log(`generated ${ph.files.length} DICOM slices and ${SLIDES} slides in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const objects = await uploadAll(store, items);
  return { objects, dicom: ph.files.length, slides: SLIDES, bytes: objects.reduce((a, o) => a + o.size, 0) };
}

async function scaleRun(s3: Awaited<ReturnType<typeof startS3>>, workers: number, batch: Uploaded[], dataDir: string) {
  const c = await startCluster({ s3, workers, dataDir, label: `${workers}w`, env: { QUEUE_CONCURRENCY: CONCURRENCY, SERIES_QUIET_MS: QUIET_MS } });
  try {
    const smp = sampler(c);
    const bodies = batch.map((o) => s3Event(s3.bucket, o.key, o.etag, o.size));
    const t0 = Date.now();
    await postEvents(c.eventsUrl, bodies, 16);
    await waitDone(c, batch.length, 30 * 60_000, (s) => log(`${workers}w: ${s}`));
    const seconds = await lastFinishedS(c, t0);
    const s = await smp.stop();
    const latency = await ledgerLatencies(c);
    const objectsPerS = batch.length / seconds;
    const failed = Object.values(latency).reduce((a, l) => a + l.failed, 0);
    const st = await c.pg.query(`SELECT status, count(*)::int AS n FROM objects GROUP BY status`);
    log(`${workers} worker(s): ${batch.length} objects in ${seconds.toFixed(1)} s = ${objectsPerS.toFixed(2)} objects/s; objects ${JSON.stringify(Object.fromEntries(st.rows.map((r) => [r.status, r.n])))}; max queue depth ${s.maxBullDepth}; peak RSS ${JSON.stringify(s.peakRss)} MB`);
    for (const [name, l] of Object.entries(latency)) log(`  ${name}: n=${l.n} p50 ${l.p50_ms} ms, p95 ${l.p95_ms} ms, p99 ${l.p99_ms} ms${l.failed ? `, FAILED ${l.failed}` : ''}`);
    return {
      seconds: Math.round(seconds * 100) / 100,
      objects_per_s: Math.round(objectsPerS * 100) / 100,
      objects: Object.fromEntries(st.rows.map((r) => [r.status, r.n])),
      failed_jobs: failed,
      max_queue_depth: s.maxBullDepth,
      peak_rss_mb: s.peakRss,
      peak_tree_rss_mb: s.peakTreeRss,
      latency,
    };
  } finally {
    await c.close();
  }
}

async function burstRun(s3: Awaited<ReturnType<typeof startS3>>, store: ObjectStore, dataDir: string) {
  const t0u = performance.now();
  const items = Array.from({ length: BURST }, (_, i) => ({
    key: `burst/${Math.floor(i / 1000)}/${i}.dcm`,
    body: () => {
      // a Part-10 preamble and 'DICM', then junk: ingested as DICOM, then quarantined by the parser (both job types run)
      const b = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), randomBytes(256)]);
      b.writeUInt32LE(i, 140);
      return b;
    },
  }));
  const objects = await uploadAll(store, items, 32, true);
  log(`burst: ${BURST} small objects uploaded in ${((performance.now() - t0u) / 1000).toFixed(1)} s`);
  const c = await startCluster({ s3, workers: 1, dataDir, label: 'burst', env: { QUEUE_CONCURRENCY: BURST_CONCURRENCY, SERIES_QUIET_MS: QUIET_MS } });
  try {
    const idle = { api: c.api.rssMb(), worker: c.workers[0]!.rssMb() };
    const smp = sampler(c);
    const bodies = objects.map((o) => s3Event(s3.bucket, o.key, o.etag, o.size));
    const t0 = Date.now();
    const statuses = await postEvents(c.eventsUrl, bodies, BURST_IN_FLIGHT); // all queued at once, BURST_IN_FLIGHT connections
    const acceptS = (Date.now() - t0) / 1000;
    log(`burst: ${BURST} events accepted in ${acceptS.toFixed(1)} s (HTTP statuses incl. retries ${JSON.stringify(statuses)})`);
    // drained completely, or (SCALE_BURST_DRAIN_MAX_S) for at most that long after the last event was accepted
    const drainMax = Number(process.env.SCALE_BURST_DRAIN_MAX_S ?? 1800);
    const drained = await waitDone(c, BURST, drainMax * 1000, (s) => log(`burst: ${s}`)).then(
      () => true,
      (e: Error) => {
        if (!/not done after/.test(e.message)) throw e;
        return false;
      },
    );
    const seconds = drained ? await lastFinishedS(c, t0) : (Date.now() - t0) / 1000;
    const fin = await c.pg.query(`SELECT count(*)::int AS n FROM objects WHERE status IN ('processed','quarantined','failed','no-processor')`);
    const finalObjects = fin.rows[0].n as number;
    const s = await smp.stop();
    log(`burst: ${drained ? 'drained' : `NOT drained (${finalObjects} of ${BURST} objects final)`} after ${seconds.toFixed(1)} s; max queue depth ${s.maxBullDepth} (ledger ${s.maxLedgerDepth}); RSS idle ${JSON.stringify(idle)} MB, peak ${JSON.stringify(s.peakRss)} MB`);
    return { acceptS, seconds, drained, finalObjects, statuses, idle, s };
  } catch (e) {
    await new Promise((r) => setTimeout(r, 2000)); // the API's log lines of the failure
    log(`burst failed: ${(e as Error).message}; API log tail:\n${c.api.tail.filter((l) => !/NodeVersionSupportWarning|node >=22|a\.co\/|trace-warnings|AWS SDK|^To continue|security updates|published after/.test(l)).slice(-6).join('\n')}`);
    throw e;
  } finally {
    await c.close();
  }
}

async function main() {
  const s3 = await startS3('bench-scale');
  const gen = await tempDir('bench-scale-gen-');
  const data = await tempDir('bench-scale-data-');
  const store = createObjectStore(loadConfig({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_REGION: 'us-east-1' }));
  try {
    const batch = WORKERS.length ? await mixedBatch(store, gen.path) : { objects: [], dicom: 0, slides: 0, bytes: 0 };
    if (WORKERS.length) log(`mixed batch: ${batch.dicom} DICOM slices (${SUBJECTS * 2} series) + ${batch.slides} slides = ${batch.objects.length} objects, ${(batch.bytes / 1048576).toFixed(0)} MB; ${availableParallelism()} CPU cores`);
    const runs: Record<number, Awaited<ReturnType<typeof scaleRun>>> = {};
    for (const n of WORKERS) runs[n] = await scaleRun(s3, n, batch.objects, data.path);
    // a failed burst is a finding, not a reason to lose the scale figures
    const burst = BURST > 0 ? await burstRun(s3, store, data.path).catch((e: Error) => ({ error: e.message.slice(0, 300) })) : undefined;
    const ops = (n: number) => runs[n]?.objects_per_s ?? null;
    const out: Record<string, unknown> = {
      bench: 'scale',
      cores: availableParallelism(),
      queue_concurrency_per_worker: Number(CONCURRENCY),
      batch_objects: batch.objects.length,
      batch_dicom: batch.dicom,
      batch_series: WORKERS.length ? SUBJECTS * 2 : 0,
      batch_slides: batch.slides,
      batch_mb: Math.round(batch.bytes / 1048576),
      objects_per_s_1w: ops(1),
      objects_per_s_2w: ops(2),
      objects_per_s_4w: ops(4),
      scaling_2w_vs_1w: ops(1) && ops(2) ? Math.round((ops(2)! / ops(1)!) * 100) / 100 : null,
      scaling_4w_vs_1w: ops(1) && ops(4) ? Math.round((ops(4)! / ops(1)!) * 100) / 100 : null,
    };
    for (const [n, r] of Object.entries(runs)) {
      out[`seconds_${n}w`] = r.seconds;
      out[`failed_jobs_${n}w`] = r.failed_jobs;
      out[`max_queue_depth_${n}w`] = r.max_queue_depth;
      out[`peak_rss_mb_api_${n}w`] = r.peak_rss_mb.api;
      out[`peak_rss_mb_worker_max_${n}w`] = Math.max(...Object.entries(r.peak_rss_mb).filter(([k]) => k !== 'api').map(([, v]) => v));
      out[`peak_rss_mb_worker_with_children_max_${n}w`] = Math.max(...Object.entries(r.peak_tree_rss_mb).filter(([k]) => k !== 'api').map(([, v]) => v));
      out[`latency_${n}w`] = Object.fromEntries(Object.entries(r.latency).map(([k, l]) => [k, { n: l.n, p50_ms: l.p50_ms, p95_ms: l.p95_ms, p99_ms: l.p99_ms }]));
    }
    if (burst && 'error' in burst) Object.assign(out, { burst_events: BURST, burst_error: burst.error });
    else if (burst) {
      Object.assign(out, {
        burst_events: BURST,
        burst_in_flight: BURST_IN_FLIGHT,
        burst_accept_s: Math.round(burst.acceptS * 10) / 10,
        burst_drained: burst.drained,
        burst_final_objects: burst.finalObjects,
        burst_drain_s: Math.round(burst.seconds * 10) / 10,
        burst_objects_per_s: Math.round((burst.finalObjects / burst.seconds) * 100) / 100,
        burst_http_statuses: burst.statuses,
        burst_idle_rss_mb_api: burst.idle.api,
        burst_idle_rss_mb_worker: burst.idle.worker,
        burst_peak_rss_mb_api: burst.s.peakRss.api,
        burst_peak_rss_mb_worker: burst.s.peakRss.worker1,
        burst_peak_rss_mb_worker_with_children: burst.s.peakTreeRss.worker1,
        burst_max_queue_depth: burst.s.maxBullDepth,
        burst_max_ledger_pending: burst.s.maxLedgerDepth,
      });
    }
    out.bench_peak_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await Promise.race([s3.stop(), new Promise((r) => setTimeout(r, 15_000))]); // keep-alive sockets can hold close()
    await gen.remove();
    await data.remove();
  }
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`bench:scale failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
