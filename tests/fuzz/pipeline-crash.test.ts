/**
 * End to end (embedded mode: one process, in-process queue): objects whose decoding really kills a
 * decoder process (a native abort) or never ends go through the normal ingest path. They end quarantined
 * with a reason naming the object and the step; this process keeps running and processes the next objects.
 * The faults are real but injected (SANDBOX_FAULT_INJECTION, read by the sandbox's child processes only):
 * a payload holding the marker bytes makes the child abort() or loop, as a broken codec would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { configureSandbox, repoRoot, sandboxStats } from '@app/core';
import { createRuntime, type Runtime } from '@app/pipeline';
import type { ObjectEvent } from '@app/ingest';
import { quietLog, tempDir, testConfig } from '../support/services';

jest.setTimeout(120_000);

const ABORT = Buffer.from('FUZZ-ABORT-MARKER-3f9c');
const HANG = Buffer.from('FUZZ-HANG-MARKER-81d2');

let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
const obj = (key: string) => rt.db.selectFrom('objects').selectAll().where('key', '=', key).executeTakeFirstOrThrow();

beforeAll(async () => {
  process.env.SANDBOX_FAULT_INJECTION = JSON.stringify([
    { marker: ABORT.toString('hex'), fault: 'abort' },
    { marker: HANG.toString('hex'), fault: 'hang' },
  ]);
  configureSandbox({ timeoutMs: 3000 }); // fresh children that see the variable; a short time limit for the test
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: join(dir.path, 'data') }), log: quietLog() });
  rt.queue.startWorker();
});
afterAll(async () => {
  await rt?.close();
  await dir?.remove();
  delete process.env.SANDBOX_FAULT_INJECTION;
  configureSandbox({});
});

/** An uncompressed RGB TIFF whose strip bytes contain `marker`. */
async function tiffWith(marker: Buffer): Promise<Buffer> {
  const w = 64;
  const h = 48;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7) & 255;
  marker.copy(px, 3000);
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).tiff({ compression: 'none' }).toBuffer();
}

test('a slide that kills its decoder and a DICOM object whose decoder never ends are quarantined; the next objects are processed', async () => {
  const events: ObjectEvent[] = [];
  const put = async (key: string, body: Buffer) => {
    const i = await rt.store.put(key, body);
    events.push({ bucket: rt.store.bucket, key, etag: i.etag, eventName: 'ObjectCreated:Put' });
  };
  const ct = readFileSync(join(repoRoot(), 'tests/fixtures/dicom/small/CT_small.dcm'));
  const hangingCt = Buffer.from(ct);
  HANG.copy(hangingCt, hangingCt.length - HANG.length - 8); // inside the pixel data (the last element)
  await put('incoming/slides/subject-S-1/crash.tif', await tiffWith(ABORT));
  await put('incoming/slides/subject-S-1/good.tif', await tiffWith(Buffer.from('an ordinary strip')));
  await put('incoming/dicom/hang.dcm', hangingCt);
  await put('incoming/dicom/CT_small.dcm', ct);
  const crashesBefore = sandboxStats.crashes;
  const timeoutsBefore = sandboxStats.timeouts;
  await rt.ingest.enqueueEvents(events);
  await rt.queue.waitIdle({ timeoutMs: 100_000 });

  const crash = await obj('incoming/slides/subject-S-1/crash.tif');
  expect(crash.status).toBe('quarantined');
  expect(crash.reason_code).toBe('sandbox.crashed');
  expect(crash.reason).toMatch(/^incoming\/slides\/subject-S-1\/crash\.tif: reading the blinded slide .*: decoding strip \d+ of level 0 \(none\) crashed the decoder process \(signal SIGABRT/);
  expect(crash.reason).not.toContain(dir.path); // the object is named, not the local work copy
  expect(sandboxStats.crashes).toBeGreaterThan(crashesBefore);

  const hang = await obj('incoming/dicom/hang.dcm');
  expect(hang.status).toBe('quarantined');
  expect(hang.reason_code).toBe('sandbox.timeout');
  expect(hang.reason).toMatch(/^incoming\/dicom\/hang\.dcm: DICOM pixel decoding did not finish within 3000 ms/);
  expect(sandboxStats.timeouts).toBeGreaterThan(timeoutsBefore);

  // this process kept running and processed the next objects
  expect((await obj('incoming/slides/subject-S-1/good.tif')).status).toBe('processed');
  expect((await obj('incoming/dicom/CT_small.dcm')).status).toBe('processed');
  expect(await rt.db.selectFrom('slides').select('id').execute()).toHaveLength(1);
});
