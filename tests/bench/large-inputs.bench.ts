/**
 * npm run bench:large — large inputs through the production ingest path with bounded memory: the built API and
 * one worker as real processes (PostgreSQL, Redis, s3rver), as in bench:scale.
 *
 * - a multi-GB BigTIFF: a tiled pyramidal BigTIFF (RGB noise, JPEG Q95 tiles, 256 px; LARGE_TIFF_PX square,
 *   default 26000 px = about 2.3 GB) written by libvips (sharp) into a temp dir at bench time. Upload (multipart,
 *   streamed from the file) -> event -> ingest (sha256 streamed from S3) -> slide stage (streamed download to a temp
 *   file, validation, blinding by byte ranges, thumbnail, tissue mask, Deep Zoom pyramid and its upload). No
 *   resolution tags (pixels per inch), so no µm/px and no patch job: patch extraction is bench:wsi's subject.
 * - a 1,000+ slice CT series: the phantom generator (LARGE_CT_SLICES, default 1024, of 512 x 512, 16-bit) -> one
 *   event per slice -> ingest, de-identification, the series' volume (planned from headers, filled slice by slice,
 *   NRRD streamed to the store).
 *
 * For each input: seconds, peak RSS of the API and the worker (kernel VmHWM, each input on fresh processes), object
 * size, and how the peak compares with the input size. Generated files are deleted at the end (and before, if a
 * previous run was interrupted). Checks `df` first: needs about 3.5 x the slide size free in the temp dir.
 * Ends with ONE JSON line.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import sharp from 'sharp';
import { createReadStream, readFileSync, statSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@app/core';
import { generatePhantomStudy } from '@app/phantom';
import { createObjectStore, type ObjectStore } from '@app/storage';
import { startS3, tempDir } from '../support/services';
import { type Cluster, ledgerLatencies, lastFinishedS, log as logTo, postEvents, s3Event, sampler, startCluster, waitDone } from './cluster';

const TIFF_PX = Number(process.env.LARGE_TIFF_PX ?? 26000);
const CT_SLICES = Number(process.env.LARGE_CT_SLICES ?? 1024);
const CT_PX = Number(process.env.LARGE_CT_PX ?? 512);
const ONLY = process.env.LARGE_ONLY ?? 'tiff,ct';
const log = (s: string) => logTo('bench:large', s);
const gb = (b: number) => Math.round((b / 1024 ** 3) * 100) / 100;

/**
 * A tiled pyramidal BigTIFF of RGB noise (JPEG Q95 tiles): incompressible enough that a modest size is several GB.
 * libvips (through sharp) repeats a 4096 px noise block to TIFF_PX and writes the pyramid in one streaming pass.
 * No resolution tags in centimetres (inch, 72): no µm/px, so no patch job.
 */
async function makeBigTiff(dir: string): Promise<string> {
  const out = join(dir, 'large.tif');
  const B = 4096;
  const noise = await sharp({ create: { width: B, height: B, channels: 3, background: '#a0a0a0', noise: { type: 'gaussian', mean: 150, sigma: 45 } } })
    .raw()
    .toBuffer();
  await sharp(noise, { raw: { width: B, height: B, channels: 3 } })
    .extend({ right: Math.max(0, TIFF_PX - B), bottom: Math.max(0, TIFF_PX - B), extendWith: 'repeat' })
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, bigtiff: true, compression: 'jpeg', quality: 95, resolutionUnit: 'inch' })
    .toFile(out);
  return out;
}

async function runInput<D extends Record<string, unknown>>(
  s3: Awaited<ReturnType<typeof startS3>>,
  store: ObjectStore,
  dataDir: string,
  label: string,
  upload: () => Promise<{ key: string; etag: string; size: number }[]>,
  check: (c: Cluster) => Promise<D>,
) {
  const t0u = performance.now();
  const objects = await upload();
  const bytes = objects.reduce((a, o) => a + o.size, 0);
  const uploadS = (performance.now() - t0u) / 1000;
  log(`${label}: ${objects.length} object(s), ${gb(bytes)} GB uploaded in ${uploadS.toFixed(1)} s`);
  const c = await startCluster({ s3, workers: 1, dataDir, label: `large-${label}`, env: { QUEUE_CONCURRENCY: '2', SERIES_QUIET_MS: '5000' } });
  try {
    const smp = sampler(c, 500);
    const t0 = Date.now();
    await postEvents(c.eventsUrl, objects.map((o) => s3Event(store.bucket, o.key, o.etag, o.size)), 16);
    await waitDone(c, objects.length, 60 * 60_000, (s) => log(`${label}: ${s}; RSS api ${c.api.rssMb()} MB, worker ${c.workers[0]!.rssMb()} MB`));
    const seconds = await lastFinishedS(c, t0);
    const s = await smp.stop();
    const latency = await ledgerLatencies(c);
    const failed = Object.values(latency).reduce((a, l) => a + l.failed, 0);
    const detail = await check(c);
    log(`${label}: through the pipeline in ${seconds.toFixed(1)} s; peak RSS api ${s.peakRss.api} MB, worker ${s.peakRss.worker1} MB (with its child processes ${s.peakTreeRss.worker1} MB); failed jobs ${failed}; ${JSON.stringify(detail)}`);
    for (const [name, l] of Object.entries(latency)) log(`  ${name}: n=${l.n} p50 ${l.p50_ms} ms, max ${l.max_ms} ms`);
    return {
      objects: objects.length,
      gb: gb(bytes),
      upload_s: Math.round(uploadS),
      pipeline_s: Math.round(seconds),
      peak_rss_mb_api: s.peakRss.api!,
      peak_rss_mb_worker: s.peakRss.worker1!,
      peak_rss_mb_worker_with_children: s.peakTreeRss.worker1!,
      failed_jobs: failed,
      ...detail,
    };
  } finally {
    await c.close();
  }
}

async function main() {
  const base = process.env.LARGE_DIR ?? tmpdir();
  const fs = statfsSync(base);
  const free = fs.bavail * fs.bsize;
  const need = TIFF_PX * TIFF_PX * 3.3 * 3.5 + CT_SLICES * CT_PX * CT_PX * 2 * 4;
  log(`free space in ${base}: ${gb(free)} GB (need about ${gb(need)} GB: slide, its S3 copy, the worker's download and blinded copy; CT x4)`);
  if (free < need) throw new Error(`not enough free disk in ${base}: ${gb(free)} GB < ${gb(need)} GB (set LARGE_DIR or LARGE_TIFF_PX)`);
  const s3 = await startS3('bench-large');
  const gen = await tempDir('bench-large-gen-');
  const data = await tempDir('bench-large-data-');
  const store = createObjectStore(loadConfig({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', S3_REGION: 'us-east-1' }));
  const out: Record<string, unknown> = { bench: 'large-inputs' };
  try {
    if (ONLY.includes('ct')) {
      const t0 = performance.now();
      const ph = await generatePhantomStudy({ outDir: join(gen.path, 'ct'), subjects: 1, visits: 1, slices: CT_SLICES, rows: CT_PX, cols: CT_PX, sliceThickness: 1, sliceSpacing: 1, seed: 5, bitsStored: 16 });
      log(`CT series: ${ph.files.length} slices of ${CT_PX} x ${CT_PX} generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      const r = await runInput(
        s3,
        store,
        data.path,
        'ct',
        async () => {
          const res: { key: string; etag: string; size: number }[] = new Array(ph.files.length);
          let next = 0;
          await Promise.all(
            Array.from({ length: 8 }, async () => {
              while (next < ph.files.length) {
                const i = next++;
                const f = ph.files[i]!;
                const info = await store.put(`incoming/ct/${f.subjectId}/${f.visit}/${f.instanceNumber}.dcm`, readFileSync(f.path));
                res[i] = { key: info.key, etag: info.etag, size: info.size };
              }
            }),
          );
          return res;
        },
        async (c) => {
          const v = await c.pg.query(`SELECT dims FROM volumes`);
          const o = await c.pg.query(`SELECT status, count(*)::int AS n FROM objects GROUP BY status`);
          if (!v.rows[0]) throw new Error(`no volume built: objects ${JSON.stringify(o.rows)}`);
          const dims = (typeof v.rows[0].dims === 'string' ? JSON.parse(v.rows[0].dims) : v.rows[0].dims) as number[];
          return { dims, volume_mb: Math.round((dims[0]! * dims[1]! * dims[2]!* 2) / 1048576), objects_status: Object.fromEntries(o.rows.map((r) => [r.status, r.n])) };
        },
      );
      Object.assign(out, {
        ct_slices: CT_SLICES,
        ct_px: CT_PX,
        ct_series_mb: Math.round(r.gb * 1024),
        ct_volume_mb: r.volume_mb,
        ct_volume_dims: r.dims,
        ct_upload_s: r.upload_s,
        ct_pipeline_s: r.pipeline_s,
        ct_peak_rss_mb_api: r.peak_rss_mb_api,
        ct_peak_rss_mb_worker: r.peak_rss_mb_worker,
        ct_peak_rss_mb_worker_with_children: r.peak_rss_mb_worker_with_children,
        ct_failed_jobs: r.failed_jobs,
      });
    }
    if (ONLY.includes('tiff')) {
      const t0 = performance.now();
      const path = await makeBigTiff(gen.path);
      const size = statSync(path).size;
      log(`BigTIFF ${TIFF_PX} x ${TIFF_PX} px, ${gb(size)} GB written by libvips in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      const r = await runInput(
        s3,
        store,
        data.path,
        'bigtiff',
        async () => {
          const info = await store.put('incoming/slides/subject-LARGE-001/large.tif', createReadStream(path), { contentType: 'image/tiff' });
          spawnSync('rm', ['-f', path]); // the S3 copy is the input now; free the disk for the worker's copies
          return [{ key: info.key, etag: info.etag, size: info.size }];
        },
        async (c) => {
          const o = await c.pg.query(`SELECT status, reason FROM objects`);
          const sl = await c.pg.query(`SELECT width, height, provenance->'dzi'->>'tiles' AS tiles FROM slides`);
          if (o.rows[0]?.status !== 'processed' || !sl.rows[0]) throw new Error(`BigTIFF not processed: ${JSON.stringify(o.rows)}`);
          return { status: String(o.rows[0].status), width: Number(sl.rows[0].width), height: Number(sl.rows[0].height), dzi_tiles: Number(sl.rows[0].tiles) };
        },
      );
      Object.assign(out, {
        bigtiff_px: TIFF_PX,
        bigtiff_gb: r.gb,
        bigtiff_upload_s: r.upload_s,
        bigtiff_pipeline_s: r.pipeline_s,
        bigtiff_dzi_tiles: r.dzi_tiles,
        bigtiff_peak_rss_mb_api: r.peak_rss_mb_api,
        bigtiff_peak_rss_mb_worker: r.peak_rss_mb_worker,
        bigtiff_peak_rss_mb_worker_with_children: r.peak_rss_mb_worker_with_children,
        bigtiff_rss_vs_size: Math.round((r.peak_rss_mb_worker / 1024 / r.gb) * 100) / 100,
        bigtiff_failed_jobs: r.failed_jobs,
      });
    }
    out.bench_peak_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await s3.stop();
    await gen.remove();
    await data.remove();
  }
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`bench:large failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
