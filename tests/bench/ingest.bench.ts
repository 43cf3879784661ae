/**
 * npm run bench:ingest — 1,000 S3 events for small objects, posted (signed) to the HTTP API,
 * measured end to end until every `objects` row is final; once on Redis + PostgreSQL (+ S3 API on
 * loopback via s3rver), once on embedded defaults (local folder, PGlite, in-process runner).
 * Ends with one JSON line: {"bench":"ingest","events_per_s_services":…,"events_per_s_embedded":…}
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { signBody } from '@app/ingest';
import { createRuntime, type Runtime } from '@app/pipeline';
import type { BullDriver } from '@app/queue';
import { createApiApp } from '../../apps/api/src/app';
import { createTempDatabase, quietLog, REDIS_URL, startS3, tempDir, TEST_SECRET, testConfig } from '../support/services';

const N = Number(process.env.BENCH_EVENTS ?? 1000);
const CONCURRENCY = 16;

function dicomish(i: number): Buffer {
  const b = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), randomBytes(512)]);
  b.writeUInt32LE(i, 140);
  return b;
}

async function run(label: string, env: Record<string, string>, workers: number): Promise<number> {
  const api = await createRuntime({ config: testConfig({ ...env, QUEUE_CONCURRENCY: '8' }), log: quietLog(), modules: [] });
  const extra: Runtime[] = [];
  for (let i = 0; i < workers; i++) {
    const w = await createRuntime({ config: testConfig({ ...env, QUEUE_CONCURRENCY: '8' }), log: quietLog(), modules: [] });
    w.queue.startWorker();
    extra.push(w);
  }
  const app = await createApiApp(api);
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/v1/events/s3`;
  try {
    const events: string[] = [];
    for (let i = 0; i < N; i++) {
      const key = `bench/${label}/${i}.dcm`;
      const info = await api.store.put(key, dicomish(i));
      events.push(JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: api.store.bucket }, object: { key, eTag: info.etag, size: info.size } } }] }));
    }
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < events.length) {
          const body = events[next++]!;
          const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': signBody(body, TEST_SECRET) }, body });
          if (r.status !== 202) throw new Error(`event refused: ${r.status} ${await r.text()}`);
        }
      }),
    );
    for (;;) {
      const c = await api.objects.countByStatus();
      const final = (c['no-processor'] ?? 0) + (c.processed ?? 0) + (c.quarantined ?? 0) + (c.failed ?? 0);
      if (final >= N) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const rate = N / seconds;
    process.stdout.write(`${label}: ${N} events in ${seconds.toFixed(2)} s = ${rate.toFixed(0)} events/s (${workers || 'api-embedded'} worker runtimes)\n`);
    return rate;
  } finally {
    await app.close();
    if (api.queue.kind === 'bull') await (api.queue.driver as BullDriver).queue.obliterate({ force: true }).catch(() => {});
    for (const w of extra) await w.close();
  }
}

async function main() {
  const s3 = await startS3('bench');
  const db = await createTempDatabase();
  const dir = await tempDir('bench-ingest-');
  try {
    const services = await run(
      'services',
      { S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: `bench-${Date.now()}` },
      2,
    );
    const embedded = await run('embedded', { DATA_DIR: dir.path }, 0);
    const rss = Math.round(process.resourceUsage().maxRSS / 1024);
    process.stdout.write(`${JSON.stringify({ bench: 'ingest', events: N, events_per_s_services: Math.round(services), events_per_s_embedded: Math.round(embedded), peak_rss_mb: rss })}\n`);
  } finally {
    await db.drop();
    await s3.stop();
    await dir.remove();
  }
  process.exit(0);
}

void main();
