/** The slide stage through the real ingest path (embedded defaults) and the slides API. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import sharp from 'sharp';
import { repoRoot } from '@app/core';
import { generateSyntheticSlide } from '@app/pathology';
import { createRuntime, type Runtime } from '@app/pipeline';
import { openSlide } from '@app/wsi';
import type { ObjectEvent } from '@app/ingest';
import { createApiApp } from '../../apps/api/src/app';
import { quietLog, tempDir, testConfig } from '../support/services';
import { authHeader } from '../helpers/auth';

jest.setTimeout(120000);
let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;
let labelText: string[];

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: join(dir.path, 'data') }), log: quietLog() });
  rt.queue.startWorker();
  app = await createApiApp(rt);
  await app.init();
  const synth = await generateSyntheticSlide({ path: join(dir.path, 's.svs'), width: 3000, height: 2400, seed: 5 });
  labelText = synth.labelText;
  const events: ObjectEvent[] = [];
  const put = async (key: string, body: Buffer) => {
    const i = await rt.store.put(key, body);
    events.push({ bucket: rt.store.bucket, key, etag: i.etag, eventName: 'ObjectCreated:Put' });
  };
  await put('incoming/slides/subject-S-9/synthetic.svs', readFileSync(synth.path));
  await put('incoming/slides/subject-S-9/CMU.svs', readFileSync(join(repoRoot(), 'tests/fixtures/wsi/CMU-1-Small-Region.svs')));
  await put('incoming/slides/bad/unreadable.svs', readFileSync(join(repoRoot(), 'tests/fixtures/wsi/unreadable.svs')));
  await put('incoming/slides/bad/truncated.svs', readFileSync(join(repoRoot(), 'tests/fixtures/wsi/CMU-1-Small-Region.svs')).subarray(0, 5000));
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 100000 });
});
afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

const obj = (key: string) => rt.db.selectFrom('objects').selectAll().where('key', '=', key).executeTakeFirstOrThrow();

test('bad slides are quarantined with a clear reason; good ones are processed', async () => {
  expect(await obj('incoming/slides/subject-S-9/synthetic.svs')).toMatchObject({ status: 'processed' });
  expect(await obj('incoming/slides/subject-S-9/CMU.svs')).toMatchObject({ status: 'processed' });
  const bad = await obj('incoming/slides/bad/unreadable.svs');
  expect(bad.status).toBe('quarantined');
  expect(bad.reason_code).toMatch(/^wsi\./);
  const trunc = await obj('incoming/slides/bad/truncated.svs');
  expect(trunc.status).toBe('quarantined');
  expect(trunc.reason).toMatch(/truncat|beyond|end of file|offset/i);
});

test('the stored slide is blinded: no label or macro, no label text, linked by reading id', async () => {
  const slides = await rt.db.selectFrom('slides').selectAll().execute();
  expect(slides).toHaveLength(2);
  const subject = await rt.db.selectFrom('subjects').selectAll().where('subject_id', '=', 'S-9').executeTakeFirstOrThrow();
  for (const s of slides) {
    expect(s.subject_uuid).toBe(subject.id);
    expect(s.blinded_key.startsWith(`slides/${subject.reading_id}/`)).toBe(true);
    const bytes = await rt.store.getBuffer(s.blinded_key);
    const path = join(dir.path, `${s.id}.svs`);
    require('node:fs').writeFileSync(path, bytes);
    const r = await openSlide(path);
    expect(r.associatedImageNames).not.toContain('label');
    expect(r.associatedImageNames).not.toContain('macro');
    await r.close();
    const text = bytes.toString('latin1');
    for (const t of labelText) expect(text).not.toContain(t);
    expect(text).not.toContain('CMU-1-Small-Region'); // the original filename in the Aperio description
  }
});

test('tissue, thumbnail, patches and the Deep Zoom pyramid are served; no label route exists', async () => {
  const list = await request(app.getHttpServer()).get('/v1/slides').set('authorization', await authHeader(app, 'admin')).expect(200);
  const synth = list.body.items.find((s: { width: number }) => s.width === 3000);
  expect(synth.readingId).toMatch(/^R-/);
  expect(synth.tissue.fraction).toBeGreaterThan(0.05);
  expect(synth.patches.count).toBeGreaterThan(0);
  const dzi = await request(app.getHttpServer()).get(`/v1/slides/${synth.id}.dzi`).set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(dzi.text).toMatch(/Height="2400"/);
  expect(dzi.text).toMatch(/Width="3000"/);
  // the top level (full resolution) of a 3000x2400 image with 254 px tiles has 12 x 10 tiles
  const top = Math.ceil(Math.log2(3000));
  const tile = await request(app.getHttpServer()).get(`/v1/slides/${synth.id}_files/${top}/11_9.jpeg`).set('authorization', await authHeader(app, 'admin')).expect(200).expect('content-type', /jpeg/);
  const m = await sharp(tile.body).metadata();
  expect(m.width).toBe(3000 - 11 * 254 + 1);
  await request(app.getHttpServer()).get(`/v1/slides/${synth.id}_files/${top}/12_0.jpeg`).set('authorization', await authHeader(app, 'admin')).expect(404);
  await request(app.getHttpServer()).get(`/v1/slides/${synth.id}/thumbnail.jpg`).set('authorization', await authHeader(app, 'admin')).expect(200).expect('content-type', /jpeg/);
  await request(app.getHttpServer()).get(`/v1/slides/${synth.id}/tissue.png`).set('authorization', await authHeader(app, 'admin')).expect(200).expect('content-type', /png/);
  await request(app.getHttpServer()).get(`/v1/slides/${synth.id}/label.jpg`).set('authorization', await authHeader(app, 'admin')).expect(404);
  await request(app.getHttpServer()).get(`/v1/slides/${synth.id}/macro`).set('authorization', await authHeader(app, 'admin')).expect(404);
  const meta = await request(app.getHttpServer()).get(`/v1/slides/${synth.id}`).set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(JSON.stringify(meta.body)).not.toMatch(/synthetic\.svs|Filename/);
});

test('a DICOM whole-slide series is de-identified, waits for its quiet period, and becomes a slide with a DZI', async () => {
  const d = await tempDir();
  const rt2 = await createRuntime({ config: testConfig({ DATA_DIR: join(d.path, 'data') }), log: quietLog() });
  try {
    rt2.queue.startWorker();
    const events = [];
    for (const f of ['boxes_0.dcm', 'boxes_1.dcm']) {
      const key = `incoming/slides/subject-S-77/${f}`;
      const i = await rt2.store.put(key, readFileSync(join(repoRoot(), 'tests/fixtures/wsi', f)));
      events.push({ bucket: rt2.store.bucket, key, etag: i.etag, eventName: 'ObjectCreated:Put' });
    }
    await rt2.ingest.enqueueEvents(events);
    await rt2.queue.waitIdle({ timeoutMs: 60000 });
    const objs = await rt2.objects.list();
    expect(objs.map((o) => [o.status, o.reason])).toEqual([['processed', null], ['processed', null]]);
    const slides = await rt2.db.selectFrom('slides').selectAll().execute();
    expect(slides).toHaveLength(1);
    expect(slides[0]).toMatchObject({ format: 'dicom-wsi' });
    expect(slides[0]!.blinded_key.startsWith('deid/')).toBe(true);
    expect(await rt2.store.head(slides[0]!.dzi_key)).not.toBeNull();
    const series = await rt2.db.selectFrom('series').selectAll().execute();
    expect(series[0]).toMatchObject({ status: 'no-volume' });
  } finally {
    await rt2.close();
    await d.remove();
  }
});
