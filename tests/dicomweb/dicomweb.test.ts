/**
 * The DICOMweb service over the blinded data, on PostgreSQL, checked by clients that share no code with it:
 * `dicomweb-client` (the JavaScript DICOMweb client OHIF uses, in Node through an XMLHttpRequest polyfill),
 * Python's email package for the multipart/related structure, and pydicom for the metadata (to_json_dict)
 * and the pixel bytes of every frame. A phantom CT (2 timepoints) and three fixtures that need decoding
 * (RLE 16-bit, RLE RGB, explicit big endian) go through the real ingest pipeline first.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { repoRoot, sha256Hex } from '@app/core';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { createTempDatabase, quietLog, tempDir, testConfig } from '../support/services';
import { authHeader, loginAs } from '../helpers/auth';

// eslint-disable-next-line @typescript-eslint/no-require-imports
(globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest = require('xhr2');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { api } = require('dicomweb-client') as { api: { DICOMwebClient: new (o: { url: string; headers?: Record<string, string> }) => DwClient } };

type Json = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;
interface DwClient {
  searchForStudies(o?: { queryParams?: Record<string, string | number> }): Promise<Json[]>;
  searchForSeries(o: { studyInstanceUID: string }): Promise<Json[]>;
  searchForInstances(o: { studyInstanceUID: string; seriesInstanceUID: string }): Promise<Json[]>;
  retrieveSeriesMetadata(o: { studyInstanceUID: string; seriesInstanceUID: string }): Promise<Json[]>;
  retrieveInstanceFrames(o: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string; frameNumbers: number[] }): Promise<ArrayBuffer[]>;
  retrieveInstance(o: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string }): Promise<ArrayBuffer>;
  retrieveSeries(o: { studyInstanceUID: string; seriesInstanceUID: string }): Promise<ArrayBuffer[]>;
  retrieveBulkData(o: { BulkDataURI: string }): Promise<ArrayBuffer[]>;
}

jest.setTimeout(180000);
const PY = '/usr/bin/python3';
const REF = join(repoRoot(), 'tests/dicomweb/pydicom_reference.py');
let dir: { path: string; remove: () => Promise<void> };
let db: { url: string; drop: () => Promise<void> };
let rt: Runtime;
let app: INestApplication;
let base: string;
let admin: string;
let client: DwClient;

const v = (ds: Json, tag: string) => ds[tag]?.Value?.[0] as string | number | undefined;
const py = (...args: string[]) => JSON.parse(execFileSync(PY, [REF, ...args], { encoding: 'utf8', maxBuffer: 256 << 20 }));

beforeAll(async () => {
  dir = await tempDir();
  db = await createTempDatabase();
  rt = await createRuntime({ config: testConfig({ DATABASE_URL: db.url, DATA_DIR: join(dir.path, 'data'), SERIES_QUIET_MS: '300', AI_CT_MODEL: 'off', AI_SLIDE_MODEL: 'off' }), log: quietLog() });
  rt.queue.startWorker();
  app = await createApiApp(rt);
  await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  admin = await authHeader(app, 'admin');
  client = new api.DICOMwebClient({ url: `${base}/v1/dicomweb`, headers: { Authorization: admin } });

  const ph = await generatePhantomStudy({ outDir: join(dir.path, 'ph'), subjects: 1, visits: 2, rows: 64, cols: 64, slices: 3, seed: 5 });
  const events: { bucket: string; key: string; etag: string; eventName: string }[] = [];
  const put = async (key: string, body: Buffer) => {
    const info = await rt.store.put(key, body);
    events.push({ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' });
  };
  for (const f of ph.files) await put(`incoming/ct/${f.visit}/${f.sopInstanceUid}.dcm`, readFileSync(f.path));
  const fx = (p: string) => join(repoRoot(), 'tests/fixtures/dicom', p);
  await put('incoming/fx/mr-rle.dcm', readFileSync(fx('small/MR_small_RLE.dcm')));
  await put('incoming/fx/rgb-rle.dcm', readFileSync(fx('small/SC_rgb_rle.dcm')));
  // the big-endian copy of the same MR slice gets its own SOP Instance UID (else it would be the same instance)
  const be = join(dir.path, 'be.dcm');
  copyFileSync(fx('small/MR_small_bigendian.dcm'), be);
  execFileSync('dcmodify', ['-nb', '-m', '(0008,0018)=1.2.826.0.1.3680043.10.543.77.1', be]);
  await put('incoming/fx/mr-be.dcm', readFileSync(be));
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 120000 });
  expect((await rt.jobs.list({ status: 'failed' })).map((j) => `${j.name}: ${j.error}`)).toEqual([]);
});

afterAll(async () => {
  await app?.close();
  await rt?.close();
  await db?.drop();
  await dir?.remove();
});

/** Every stored instance, from the database (what the service must expose, no more). */
const stored = () =>
  rt.db
    .selectFrom('instances')
    .innerJoin('series', 'series.id', 'instances.series_id')
    .innerJoin('studies', 'studies.id', 'series.study_id')
    .innerJoin('subjects', 'subjects.id', 'studies.subject_uuid')
    .select(['studies.study_uid', 'series.series_uid', 'instances.sop_instance_uid', 'instances.transfer_syntax_uid', 'instances.deid_key', 'instances.frames', 'subjects.reading_id', 'subjects.subject_id'])
    .execute();

/** The stored blinded object written to a file for pydicom. */
async function storedFile(deidKey: string): Promise<string> {
  const f = join(dir.path, `${deidKey.replace(/[^A-Za-z0-9.]/g, '_')}`);
  writeFileSync(f, await rt.store.getBuffer(deidKey));
  return f;
}

/** A raw GET, body kept as bytes, for the Python multipart parser. */
async function raw(path: string, accept?: string, auth = admin) {
  const res = await fetch(`${base}${path}`, { headers: { authorization: auth, ...(accept ? { accept } : {}) } });
  const body = Buffer.from(await res.arrayBuffer());
  const f = join(dir.path, `body-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, body);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body, file: f, headers: res.headers };
}

test('QIDO-RS: the studies, series and instances of the index, the reading id as the only patient identity', async () => {
  const rows = await stored();
  const studies = await client.searchForStudies();
  expect(studies.map((s) => v(s, '0020000D')).sort()).toEqual([...new Set(rows.map((r) => r.study_uid))].sort());
  for (const s of studies) {
    const uid = v(s, '0020000D') as string;
    const mine = rows.filter((r) => r.study_uid === uid);
    expect(v(s, '00100020')).toBe(mine[0]!.reading_id);
    expect((s['00100010']!.Value![0] as { Alphabetic: string }).Alphabetic).toBe(mine[0]!.reading_id);
    expect(Number(v(s, '00201208'))).toBe(mine.length);
    expect(Number(v(s, '00201206'))).toBe(new Set(mine.map((r) => r.series_uid)).size);
    expect(JSON.stringify(s)).not.toContain(mine[0]!.subject_id); // the sponsor's subject number never appears
    const series = await client.searchForSeries({ studyInstanceUID: uid });
    expect(series.map((x) => v(x, '0020000E')).sort()).toEqual([...new Set(mine.map((r) => r.series_uid))].sort());
    for (const se of series) {
      const inst = await client.searchForInstances({ studyInstanceUID: uid, seriesInstanceUID: v(se, '0020000E') as string });
      expect(inst.map((i) => v(i, '00080018')).sort()).toEqual(mine.filter((r) => r.series_uid === v(se, '0020000E')).map((r) => r.sop_instance_uid).sort());
      expect(Number(v(se, '00201209'))).toBe(inst.length);
    }
  }
  // matching: by PatientID (the reading id), by a list of study UIDs, paging
  const rid = rows.find((r) => r.transfer_syntax_uid === '1.2.840.10008.1.2.1' && r.frames === 1)!.reading_id;
  const byPatient = await client.searchForStudies({ queryParams: { PatientID: rid } });
  expect(byPatient.length).toBeGreaterThan(0);
  expect(byPatient.every((s) => v(s, '00100020') === rid)).toBe(true);
  const two = studies.slice(0, 2).map((s) => v(s, '0020000D'));
  expect((await client.searchForStudies({ queryParams: { StudyInstanceUID: two.join(',') } })).map((s) => v(s, '0020000D')).sort()).toEqual([...two].sort());
  expect((await client.searchForStudies({ queryParams: { limit: 1, offset: 1 } })).map((s) => v(s, '0020000D'))).toEqual([v(studies[1]!, '0020000D')]);
  const wild = await raw(`/v1/dicomweb/studies?PatientName=${encodeURIComponent(rid.slice(0, 3) + '*')}&NotAKey=1`);
  expect(wild.status).toBe(200);
  expect(wild.type).toMatch(/^application\/dicom\+json/);
  expect(wild.headers.get('warning')).toMatch(/NotAKey/);
  expect(JSON.parse(wild.body.toString()).length).toBe(studies.filter((s) => String(v(s, '00100020')).startsWith(rid.slice(0, 3))).length);
});

test('WADO-RS metadata equals pydicom to_json_dict of the stored blinded object, less the sponsor subject id', async () => {
  const rows = await stored();
  for (const series of [...new Set(rows.map((r) => `${r.study_uid}|${r.series_uid}`))]) {
    const [study, se] = series.split('|') as [string, string];
    const meta = await client.retrieveSeriesMetadata({ studyInstanceUID: study, seriesInstanceUID: se });
    const mine = rows.filter((r) => r.series_uid === se);
    expect(meta).toHaveLength(mine.length);
    const pairs = meta.map((m) => mine.find((x) => x.sop_instance_uid === v(m, '00080018'))!);
    const args: string[] = [];
    for (const r of pairs) args.push(await storedFile(r.deid_key), `/v1/dicomweb/studies/${study}/series/${se}/instances/${r.sop_instance_uid}`);
    const refs: Json[] = py('json', ...args);
    for (const [k, m] of meta.entries()) {
      const r = pairs[k]!;
      const ref = refs[k]!;
      const url = `/v1/dicomweb/studies/${study}/series/${se}/instances/${r.sop_instance_uid}`;
      expect(ref['00120040']).toBeDefined(); // the blinded object keeps it...
      expect(m['00120040']).toBeUndefined(); // ...the reading service does not show it
      delete ref['00120040'];
      expect(m['7FE00010']).toEqual({ vr: expect.stringMatching(/^O[BW]$/), BulkDataURI: `${url}/bulkdata/7FE00010` });
      delete ref['7FE00010'];
      const ours = { ...m };
      delete ours['7FE00010'];
      delete ours['00083002']; // ours: the syntax frames are served in (not in the object)
      const decoded = r.transfer_syntax_uid !== '1.2.840.10008.1.2.1' && r.transfer_syntax_uid !== '1.2.840.10008.1.2';
      if (!decoded) expect(normalise(ours)).toEqual(normalise(ref));
      else {
        // decoded objects: the same attributes; the pixel module describes the uncompressed frames we serve
        const { ['00280006']: _a, ...o } = normalise(ours) as Json;
        const { ['00280006']: _b, ...rf } = normalise(ref) as Json;
        expect(o).toEqual(rf);
      }
    }
  }
});

/** pydicom and the service may differ in number formatting only (1 vs 1.0 is the same JSON number). */
function normalise(j: unknown): unknown {
  if (Array.isArray(j)) return j.map(normalise);
  if (j && typeof j === 'object') return Object.fromEntries(Object.entries(j).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, normalise(x)]));
  if (typeof j === 'string' && j.trim() === '') return null;
  return j;
}

test('WADO-RS frames: well-formed multipart/related whose parts equal pydicom pixel data, for native and decoded objects', async () => {
  const rows = await stored();
  const picked = [
    rows.find((r) => r.transfer_syntax_uid === '1.2.840.10008.1.2.1')!,
    ...['1.2.840.10008.1.2.5', '1.2.840.10008.1.2.2'].flatMap((ts) => rows.filter((r) => r.transfer_syntax_uid === ts)),
  ];
  expect(picked.map((r) => r.transfer_syntax_uid)).toEqual(['1.2.840.10008.1.2.1', '1.2.840.10008.1.2.5', '1.2.840.10008.1.2.5', '1.2.840.10008.1.2.2']);
  for (const r of picked) {
    const file = await storedFile(r.deid_key);
    const path = `/v1/dicomweb/studies/${r.study_uid}/series/${r.series_uid}/instances/${r.sop_instance_uid}/frames/1`;
    // what Cornerstone's wadors loader sends
    const res = await raw(path, 'multipart/related; type=application/octet-stream; transfer-syntax=*');
    expect(res.status).toBe(200);
    const check = py('frames', file, res.file, res.type, '1');
    expect(check.type).toBe('multipart/related');
    expect(check.params.type).toBe('application/octet-stream');
    expect(check.parts).toHaveLength(1);
    expect(check.parts[0]).toEqual({ type: 'application/octet-stream', params: { 'transfer-syntax': '1.2.840.10008.1.2.1' }, headers: ['content-length', 'content-location', 'content-type'] });
    expect(check.equal).toEqual([true]);
    // the body is exactly: first boundary, part, closing boundary (no preamble, nothing after the close)
    const boundary = /boundary=([^;]+)/.exec(res.type)![1]!;
    expect(res.body.subarray(0, boundary.length + 4).toString('latin1')).toBe(`--${boundary}\r\n`);
    expect(res.body.subarray(res.body.length - boundary.length - 8).toString('latin1')).toBe(`\r\n--${boundary}--\r\n`);
    // and dicomweb-client gets the same bytes
    const [frame] = await client.retrieveInstanceFrames({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_instance_uid, frameNumbers: [1] });
    expect(sha256Hex(Buffer.from(frame!))).toBe(check.sha256[0]);
  }
  // several frames in one request: one part per frame, in the order asked
  const ct = rows.filter((r) => r.transfer_syntax_uid === '1.2.840.10008.1.2.1')[0]!;
  const many = await raw(`/v1/dicomweb/studies/${ct.study_uid}/series/${ct.series_uid}/instances/${ct.sop_instance_uid}/frames/1,1`);
  expect(py('frames', await storedFile(ct.deid_key), many.file, many.type, '1,1').equal).toEqual([true, true]);
});

test('WADO-RS instances and bulk data: the blinded Part 10 objects, read back by pydicom, without the sponsor subject id', async () => {
  const rows = await stored();
  const r = rows.find((x) => x.transfer_syntax_uid === '1.2.840.10008.1.2.1')!;
  const storedRef = py('instance', ...(await (async () => {
    // the stored object itself, wrapped as a one-part message, as the reference for the pixel hash
    const body = await rt.store.getBuffer(r.deid_key);
    const f = join(dir.path, 'wrapped');
    writeFileSync(f, Buffer.concat([Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\n'), body, Buffer.from('\r\n--b--\r\n')]));
    return [f, 'multipart/related; type="application/dicom"; boundary=b'];
  })()))[0];
  const res = await raw(`/v1/dicomweb/studies/${r.study_uid}/series/${r.series_uid}/instances/${r.sop_instance_uid}`, 'multipart/related; type="application/dicom"');
  expect(res.status).toBe(200);
  const [got] = py('instance', res.file, res.type);
  expect(got.sop).toBe(r.sop_instance_uid);
  expect(got.patientId).toBe(r.reading_id);
  expect(got.tags).not.toContain('00120040');
  expect(storedRef.tags).toContain('00120040');
  expect(got.tags).toEqual(storedRef.tags.filter((t: string) => t !== '00120040'));
  expect(got.pixelSha256).toBe(storedRef.pixelSha256);
  expect(got.headers).toMatchObject({ type: 'application/dicom', params: { 'transfer-syntax': '1.2.840.10008.1.2.1' } });

  const series = await client.retrieveSeries({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid });
  expect(series).toHaveLength(rows.filter((x) => x.series_uid === r.series_uid).length);
  const one = await client.retrieveInstance({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_instance_uid });
  expect(Buffer.from(one).equals(readFileSync(res.file).subarray(res.body.indexOf('\r\n\r\n') + 4, res.body.length - (/boundary=([^;]+)/.exec(res.type)![1]!.length + 8)))).toBe(true);

  // Pixel Data bulk data = every frame, uncompressed; the BulkDataURI comes from the metadata
  const [meta] = await client.retrieveSeriesMetadata({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid }).then((m) => m.filter((x) => v(x, '00080018') === r.sop_instance_uid));
  const [bulk] = await client.retrieveBulkData({ BulkDataURI: `${base}${meta!['7FE00010']!.BulkDataURI}` });
  const [frame] = await client.retrieveInstanceFrames({ studyInstanceUID: r.study_uid, seriesInstanceUID: r.series_uid, sopInstanceUID: r.sop_instance_uid, frameNumbers: [1] });
  expect(Buffer.from(bulk!).equals(Buffer.from(frame!))).toBe(true);
});

test('refusals: unsupported media types 406, bad UIDs 400, unknown objects and frames 404', async () => {
  const r = (await stored()).find((x) => x.transfer_syntax_uid === '1.2.840.10008.1.2.1')!;
  const inst = `/v1/dicomweb/studies/${r.study_uid}/series/${r.series_uid}/instances/${r.sop_instance_uid}`;
  expect((await raw(`${inst}/frames/1`, 'multipart/related; type="image/jpeg"')).status).toBe(406);
  expect((await raw(`${inst}/frames/1`, 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.4.50')).status).toBe(406);
  expect((await raw(inst, 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50')).status).toBe(406);
  expect((await raw('/v1/dicomweb/studies', 'image/png')).status).toBe(406);
  expect((await raw(`${inst}/frames/2`)).status).toBe(404);
  expect((await raw(`${inst}/frames/0`)).status).toBe(404);
  expect((await raw(`${inst}/frames/x`)).status).toBe(400);
  expect((await raw('/v1/dicomweb/studies/not-a-uid/series')).status).toBe(400);
  expect((await raw('/v1/dicomweb/studies/1.2.3.4/series')).status).toBe(404);
  expect((await raw(`/v1/dicomweb/studies/${r.study_uid}/series/1.2.3/instances`)).status).toBe(404);
  expect((await raw(`${inst}/bulkdata/00100010`)).status).toBe(404);
  expect((await raw('/v1/dicomweb/studies?limit=-1')).status).toBe(400);
});

test('access: no token 401, biostatistician 403, a reader sees no study outside their assignments', async () => {
  const r = (await stored())[0]!;
  const res = await fetch(`${base}/v1/dicomweb/studies`);
  expect(res.status).toBe(401);
  expect((await raw('/v1/dicomweb/studies', undefined, await authHeader(app, 'biostatistician'))).status).toBe(403);
  const reader = await authHeader(app, 'reader');
  const list = await raw('/v1/dicomweb/studies', undefined, reader);
  expect(list.status).toBe(200);
  expect(JSON.parse(list.body.toString())).toEqual([]);
  const direct = await raw(`/v1/dicomweb/studies/${r.study_uid}/series/${r.series_uid}/instances/${r.sop_instance_uid}/frames/1`, undefined, reader);
  expect(direct.status).toBe(403);
  expect(JSON.parse(direct.body.toString()).code).toBe('dicomweb.not-assigned');
  expect((await raw(`/v1/dicomweb/studies/${r.study_uid}/metadata`, undefined, await authHeader(app, 'pipeline'))).status).toBe(200);
});

test('access through assignments: a reader sees exactly the subjects assigned to them, DICOMweb and frames alike', async () => {
  const rows = await stored();
  const subjects = [...new Set(rows.map((r) => r.reading_id))];
  const protocols = await rt.db.selectFrom('subjects').select(['reading_id', 'protocol_id']).execute();
  const studyId = protocols.find((p) => p.reading_id === subjects[0])!.protocol_id;
  const inStudy = subjects.filter((s) => protocols.find((p) => p.reading_id === s)!.protocol_id === studyId);
  expect(inStudy.length).toBeGreaterThanOrEqual(3);
  // three readers with capacity so that each reader gets some subjects but not all (2 readers per subject)
  const readers = ['dw.r1', 'dw.r2', 'dw.r3'];
  const tokens: Record<string, string> = {};
  for (const u of readers) tokens[u] = `Bearer ${(await loginAs(app, ['reader'], { username: u })).token}`;
  const res = await fetch(`${base}/v1/review/assignments`, { method: 'POST', headers: { authorization: admin, 'content-type': 'application/json' }, body: JSON.stringify({ studyId, readers, capacity: Math.ceil((2 * inStudy.length) / 3), seed: 7 }) });
  expect(res.status).toBe(201);
  const run = (await res.json()) as { cases: { reader: string; readingId: string }[] };
  const mine = new Set(run.cases.filter((c) => c.reader === 'dw.r1').map((c) => c.readingId));
  expect(mine.size).toBeGreaterThan(0);
  expect(mine.size).toBeLessThan(inStudy.length);
  const r1 = new api.DICOMwebClient({ url: `${base}/v1/dicomweb`, headers: { Authorization: tokens['dw.r1']! } });
  const seen = await r1.searchForStudies();
  expect(new Set(seen.map((s) => v(s, '00100020') as string))).toEqual(mine);
  const ok = rows.find((r) => mine.has(r.reading_id))!;
  const not = rows.find((r) => !mine.has(r.reading_id))!;
  const [frame] = await r1.retrieveInstanceFrames({ studyInstanceUID: ok.study_uid, seriesInstanceUID: ok.series_uid, sopInstanceUID: ok.sop_instance_uid, frameNumbers: [1] });
  expect(frame!.byteLength).toBeGreaterThan(0);
  const refused = await raw(`/v1/dicomweb/studies/${not.study_uid}/series/${not.series_uid}/instances/${not.sop_instance_uid}/frames/1`, undefined, tokens['dw.r1']!);
  expect(refused.status).toBe(403);
  expect((await raw(`/v1/dicomweb/studies/${not.study_uid}/metadata`, undefined, tokens['dw.r1']!)).status).toBe(403);
});
