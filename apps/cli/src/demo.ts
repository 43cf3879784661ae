import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createLogger, loadConfig, repoRoot } from '@app/core';
import { parseS3Event } from '@app/ingest';
import { createRuntime, type Runtime } from '@app/pipeline';
import { dicomStage } from './demo/dicom';
import { slidesStage } from './demo/slides';
import { endpointsStage } from './demo/endpoints';
import { aiStage } from './demo/ai';
import { demoReaderUrl, reviewStage } from './demo/review';
import { reportStage } from './demo/report';

export interface DemoSeed {
  /** Object key under incoming/. */
  key: string;
  body: Buffer;
}

/** One stage of the demo: what it uploads, and what it does/prints after the jobs have drained. */
export interface DemoStage {
  name: string;
  seed?: (rt: Runtime, workDir: string) => Promise<DemoSeed[]>;
  after?: (rt: Runtime, outDir: string) => Promise<Record<string, unknown>>;
}

const say = (s: string) => process.stdout.write(`${s}\n`);

/** Stage 1 (spine): bundled public DICOM samples (see tests/fixtures/dicom/SOURCES.md) and one unknown file. */
const spineStage: DemoStage = {
  name: 'ingest',
  async seed() {
    const dir = join(repoRoot(), 'tests', 'fixtures', 'dicom');
    const files = ['small/CT_small.dcm', 'small/MR_small.dcm', 'ct/CT1_UNC.explicit_little_endian.dcm', 'invalid/no_meta.dcm'];
    const seeds: DemoSeed[] = [];
    for (const f of files) seeds.push({ key: `incoming/samples/${basename(f)}`, body: await readFile(join(dir, f)) });
    seeds.push({ key: 'incoming/misc/scanner-export-notes.bin', body: Buffer.from('This is not an image: a stray export log that must be quarantined, never lost.\n') });
    return seeds;
  },
};

/** Later stages append themselves here (DICOM volumes, slides, endpoint datasets). */
export const demoStages: DemoStage[] = [spineStage, dicomStage, slidesStage, endpointsStage, aiStage, reportStage, reviewStage];

let served: { close(): Promise<void> } | undefined;
/** Stops the API started by `runDemo(..., { serve: true })` (and closes its runtime). */
export async function stopDemoServer(): Promise<void> {
  const app = served;
  served = undefined;
  await app?.close();
}

/**
 * `npm run demo`: the main job end to end on embedded defaults (local folder, PGlite, in-process
 * runner) unless the environment configures real services. Uploads the sample study into the store,
 * fires the same S3-event ingest path as production, waits for the jobs, prints progress and a
 * summary, and leaves outputs under ./out.
 */
export async function runDemo(stages: DemoStage[] = demoStages, opts: { serve?: boolean } = {}): Promise<Record<string, unknown>> {
  const env = { ...process.env, DATA_DIR: process.env.DATA_DIR ?? './data/demo', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', SERIES_QUIET_MS: process.env.SERIES_QUIET_MS ?? '1500' };
  const config = loadConfig(env);
  if (config.mode.store === 'local') await rm(config.dataDir, { recursive: true, force: true });
  await rm(config.outDir, { recursive: true, force: true });
  await mkdir(config.outDir, { recursive: true });
  say(`demo: store=${config.mode.store} db=${config.mode.db} queue=${config.mode.queue} data=${config.dataDir} out=${config.outDir}`);
  const t0 = Date.now();
  const rt = await createRuntime({ config, log: createLogger(config.LOG_LEVEL, { process: 'demo' }) });
  let serving = false;
  try {
    rt.queue.startWorker();
    const workDir = join(config.dataDir, 'work');
    await mkdir(workDir, { recursive: true });
    const records: unknown[] = [];
    for (const stage of stages) {
      if (!stage.seed) continue;
      const seeds = await stage.seed(rt, workDir);
      for (const s of seeds) {
        const info = await rt.store.put(s.key, s.body);
        records.push({ eventName: 'ObjectCreated:Put', s3: { bucket: { name: rt.store.bucket }, object: { key: encodeURIComponent(s.key).replace(/%2F/g, '/'), eTag: info.etag, size: info.size } } });
      }
      say(`demo: [${stage.name}] uploaded ${seeds.length} object(s)`);
    }
    // the same path as POST /v1/events/s3 after authentication
    const r = await rt.ingest.enqueueEvents(parseS3Event({ Records: records }));
    say(`demo: fired ${records.length} S3 events -> ${r.accepted} ingest job(s), ${r.duplicates} duplicate(s)`);
    let last = '';
    await rt.queue.waitIdle({
      timeoutMs: 30 * 60_000,
      pollMs: 250,
      onTick: (c) => {
        const line = `jobs: ${Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ')}`;
        if (line !== last) say(`demo: ${line}`);
        last = line;
      },
    });
    const summary: Record<string, unknown> = {
      mode: config.mode,
      objects: await rt.objects.countByStatus(),
      jobs: await rt.jobs.countByStatus(),
    };
    const all = await rt.objects.list({ limit: 1000 });
    await writeFile(
      join(config.outDir, 'objects.json'),
      JSON.stringify(all.map((o) => ({ id: o.id, key: o.key, kind: o.kind, status: o.status, sha256: o.sha256, size: Number(o.size), reason: o.reason })), null, 2),
    );
    for (const stage of stages) if (stage.after) summary[stage.name] = await stage.after(rt, config.outDir);
    summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
    await writeFile(join(config.outDir, 'summary.json'), JSON.stringify(summary, null, 2));
    const byKind = new Map<string, number>();
    for (const o of all) byKind.set(`${o.kind ?? '-'}/${o.status}`, (byKind.get(`${o.kind ?? '-'}/${o.status}`) ?? 0) + 1);
    say(`demo: objects by kind/status: ${[...byKind].map(([k, n]) => `${k}=${n}`).join(' ')}`);
    for (const o of all.filter((x) => x.status !== 'processed')) say(`  ${(o.status ?? '').padEnd(13)} ${(o.kind ?? '-').padEnd(9)} ${o.key}${o.reason ? `  <- ${o.reason}` : ''}`);
    say(`demo: done in ${summary.seconds}s; outputs in ${config.outDir} (summary.json, objects.json)`);
    if (opts.serve) {
      // --serve: the same runtime (and its embedded database) behind the API, which serves the reading app
      const { createApiApp } = await import('../../api/src/app');
      const app = await createApiApp(rt, { ownsRuntime: true });
      await app.listen(rt.config.PORT);
      served = app;
      serving = true;
      say(`demo: serving the API and the reading app at ${demoReaderUrl(rt)} (API docs http://localhost:${rt.config.PORT}/docs); Ctrl-C stops it`);
    }
    return summary;
  } finally {
    if (!serving) await rt.close();
  }
}
