/**
 * The DICOM stage through the real ingest path (embedded defaults): phantom series with planted PHI,
 * public fixtures, invalid files and a series with mixed geometry, then the blinded API.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import sharp from 'sharp';
import { repoRoot } from '@app/core';
import { ForbiddenError, ImagingRepository, PseudonymRepository } from '@app/db';
import { parseDicom } from '@app/dicom';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime, decodeNrrd, type Runtime, VOLUME_JOB } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { quietLog, tempDir, testConfig } from '../support/services';
import { authHeader } from '../helpers/auth';

jest.setTimeout(120000);
let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;
let originals: { patientId: string; patientName: string; studyUid: string }[] = [];

async function upload(key: string, body: Buffer) {
  const info = await rt.store.put(key, body);
  return { bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' };
}

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: join(dir.path, 'data'), SERIES_QUIET_MS: '300' }), log: quietLog() });
  rt.queue.startWorker();
  app = await createApiApp(rt);
  await app.init();
  const ph = await generatePhantomStudy({ outDir: join(dir.path, 'ph'), subjects: 1, visits: 2, rows: 64, cols: 64, slices: 12, withPhi: true, seed: 3 });
  const events = [];
  for (const f of ph.files) {
    const body = readFileSync(f.path);
    const h = parseDicom(body).header;
    originals.push({ patientId: h.patient.patientId!, patientName: h.patient.patientName!, studyUid: h.study.studyInstanceUid! });
    events.push(await upload(`incoming/ct/${f.visit}/${f.sopInstanceUid}.dcm`, body));
  }
  // one slice of a second copy of the baseline series, re-oriented: mixed geometry within one series
  const tilted = join(dir.path, 'tilted.dcm');
  copyFileSync(ph.files[0]!.path, tilted);
  execFileSync('dcmodify', ['-nb', '-m', '(0020,0037)=0\\1\\0\\0\\0\\-1', '-m', '(0008,0018)=1.2.3.4.5.6.7.8.9', tilted]);
  events.push(await upload('incoming/ct/tilted.dcm', readFileSync(tilted)));
  const fx = (p: string) => readFileSync(join(repoRoot(), 'tests/fixtures/dicom', p));
  events.push(await upload('incoming/bad/truncated.dcm', fx('invalid/MR_truncated.dcm')));
  events.push(await upload('incoming/bad/no-ts.dcm', fx('invalid/meta_missing_tsyntax.dcm')));
  // decompression bomb: a real CT header claiming 60000 x 60000 pixels
  const bomb = Buffer.from(fx('ct/CT1_UNC.explicit_little_endian.dcm'));
  const rowsAt = bomb.indexOf(Buffer.from([0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00]));
  bomb.writeUInt16LE(60000, rowsAt + 8);
  bomb.writeUInt16LE(60000, rowsAt + 18);
  events.push(await upload('incoming/bad/bomb.dcm', bomb));
  events.push(await upload('incoming/ok/CT_small.dcm', fx('small/CT_small.dcm')));
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 90000 });
});

afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

const objectByKey = (key: string) => rt.db.selectFrom('objects').selectAll().where('key', '=', key).executeTakeFirstOrThrow();

test('bad input is quarantined with a specific reason, and every other object is still processed', async () => {
  expect(await objectByKey('incoming/bad/truncated.dcm')).toMatchObject({ status: 'quarantined', reason_code: expect.stringMatching(/^dicom\./) });
  expect((await objectByKey('incoming/bad/truncated.dcm')).reason).toMatch(/pixel data|truncat/i);
  expect(await objectByKey('incoming/bad/no-ts.dcm')).toMatchObject({ status: 'quarantined', reason_code: 'dicom.missing-transfer-syntax' });
  const bomb = await objectByKey('incoming/bad/bomb.dcm');
  expect(bomb.status).toBe('quarantined');
  expect(bomb.reason).toMatch(/60000/);
  expect(await objectByKey('incoming/ok/CT_small.dcm')).toMatchObject({ status: 'processed' });
  const counts = await rt.objects.countByStatus();
  expect(counts.processed).toBe(2 * 12 + 1 + 1);
  for (const k of ['incoming/bad/truncated.dcm', 'incoming/bad/bomb.dcm']) expect(await rt.store.head(k)).not.toBeNull();
});

test('series wait for the quiet period, are selected by the protocol rules, and get volumes in true geometry', async () => {
  const imaging = new ImagingRepository(rt.db);
  const series = await imaging.allSeries();
  const phantom = series.filter((s) => s.instance_count === 12);
  expect(phantom).toHaveLength(1); // follow-up series: 12 instances, intact
  expect(phantom[0]).toMatchObject({ status: 'volume-built', selected: true });
  const v = (await imaging.latestVolume(phantom[0]!.id))!;
  expect(v.dims).toEqual([64, 64, 12]);
  const vol = decodeNrrd(await rt.store.getBuffer(v.data_key));
  expect(vol.dims).toEqual([64, 64, 12]);
  expect(vol.affine.slice(0, 12)).toEqual(v.affine.slice(0, 12));
  // the baseline series got the re-oriented slice: refused with the reason, never silently resampled
  const mixed = series.find((s) => s.instance_count === 13)!;
  expect(mixed.status).toBe('volume-failed');
  expect(mixed.selected).toBe(false);
  expect(mixed.error).toMatch(/orientation/i);
  const small = series.find((s) => s.instance_count === 1)!;
  expect(small.selected).toBe(false);
  expect(small.selection_reasons.join(' ')).toMatch(/1 slices < 10/);
});

test('a volume job for an older instance set (an instance arrived since) builds nothing and leaves the series to the newer set', async () => {
  const imaging = new ImagingRepository(rt.db);
  const s = (await imaging.allSeries()).find((x) => x.instance_count === 12)!;
  const before = { series: await imaging.seriesById(s.id), volumes: await rt.db.selectFrom('volumes').select('id').where('series_id', '=', s.id).execute() };
  // the set as a check saw it before the 12th instance arrived
  const older = createHash('sha256').update((await imaging.instancesOfSeries(s.id)).map((i) => i.sop_instance_uid).sort().slice(0, 11).join('\n')).digest('hex');
  const r = await rt.queue.enqueue(VOLUME_JOB, { seriesId: s.id, instanceSetSha256: older }, { idempotencyKey: `test-stale-volume:${s.id}` });
  await rt.queue.waitIdle({ timeoutMs: 30000 });
  const job = await rt.db.selectFrom('jobs').selectAll().where('id', '=', r.jobId).executeTakeFirstOrThrow();
  expect(job.status).toBe('completed');
  expect(job.result).toMatchObject({ stale: true, instances: 12 });
  expect(await rt.db.selectFrom('volumes').select('id').where('series_id', '=', s.id).execute()).toEqual(before.volumes);
  expect(await imaging.seriesById(s.id)).toEqual(before.series);
  // the state write itself is guarded by the instance count the job worked from
  expect(await imaging.updateSeries(s.id, { status: 'volume-failed', error: 'from an older set' }, 11)).toBe(false);
  expect(await imaging.seriesById(s.id)).toEqual(before.series);
  expect(await imaging.updateSeries(s.id, { summary: before.series!.summary as Record<string, unknown> }, 12)).toBe(true);
  expect((await imaging.seriesById(s.id))!.status).toBe('volume-built');
});

test('readers and models get only de-identified copies: no original identity in their bytes', async () => {
  const rows = await rt.db.selectFrom('instances').selectAll().execute();
  expect(rows.length).toBe(2 * 12 + 1 + 1);
  const subj = await rt.db.selectFrom('subjects').selectAll().execute();
  for (const r of rows) {
    expect(r.deid_key.startsWith('deid/')).toBe(true);
    const bytes = (await rt.store.getBuffer(r.deid_key)).toString('latin1');
    for (const o of originals) {
      expect(bytes).not.toContain(o.patientId);
      expect(bytes).not.toContain(o.patientName.split('^')[0]!);
      expect(bytes).not.toContain(o.studyUid);
    }
    const h = parseDicom(Buffer.from(bytes, 'latin1'), { stopAtPixelData: true }).header;
    expect(subj.map((s) => s.reading_id)).toContain(h.clinicalTrial?.subjectReadingId);
    expect(h.clinicalTrial?.patientIdentityRemoved).toBe('YES');
  }
});

test('the pseudonym map is admin-only', async () => {
  const repo = new PseudonymRepository(rt.db);
  await expect(repo.read('reader')).rejects.toBeInstanceOf(ForbiddenError);
  const admin = await repo.read('admin');
  expect(admin.map((a) => a.original_patient_id)).toContain(originals[0]!.patientId);
  await request(app.getHttpServer()).get('/v1/admin/pseudonyms').expect(401);
  await request(app.getHttpServer()).get('/v1/admin/pseudonyms').set('authorization', 'Bearer wrong-token-0123456789ab').expect(401);
  for (const role of ['reader', 'adjudicator', 'biostatistician', 'pipeline'] as const) await request(app.getHttpServer()).get('/v1/admin/pseudonyms').set('authorization', await authHeader(app, role)).expect(403);
  const ok = await request(app.getHttpServer()).get('/v1/admin/pseudonyms').set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(ok.body.items.length).toBeGreaterThan(0);
});

test('the API lists subjects by reading id only, series with reasons, and renders slices as PNG', async () => {
  const subjects = await request(app.getHttpServer()).get('/v1/subjects').set('authorization', await authHeader(app, 'admin')).expect(200);
  const text = JSON.stringify(subjects.body);
  for (const o of originals) expect(text).not.toContain(o.patientId);
  const rid = subjects.body.items.find((s: { studies: number }) => s.studies === 2).readingId;
  const studies = await request(app.getHttpServer()).get(`/v1/subjects/${rid}/studies`).set('authorization', await authHeader(app, 'admin')).expect(200);
  expect(studies.body.items).toHaveLength(2);
  const series = await request(app.getHttpServer()).get(`/v1/studies/${studies.body.items[1].id}/series`).set('authorization', await authHeader(app, 'admin')).expect(200);
  const s = series.body.items[0];
  const png = await request(app.getHttpServer()).get(`/v1/series/${s.id}/slices/6.png`).set('authorization', await authHeader(app, 'admin')).query({ center: 40, width: 400 }).expect(200).expect('content-type', /image\/png/);
  const meta = await sharp(png.body).metadata();
  expect([meta.width, meta.height]).toEqual([64, 64]);
  await request(app.getHttpServer()).get(`/v1/series/${s.id}/slices/99.png`).set('authorization', await authHeader(app, 'admin')).expect(400);
});

test('re-processing an object is idempotent (no duplicate instance)', async () => {
  const o = await objectByKey('incoming/ok/CT_small.dcm');
  await rt.db.updateTable('objects').set({ status: 'queued' }).where('id', '=', o.id).execute();
  await rt.ingest.process({ id: 'x', name: 'process.object', payload: { objectId: o.id }, attempt: 1, maxAttempts: 1, progress: async () => {}, log: quietLog() });
  expect(await rt.db.selectFrom('instances').select('id').where('object_id', '=', o.id).execute()).toHaveLength(1);
});
