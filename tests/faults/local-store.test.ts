/**
 * The local object store (DATA_DIR/objects) full or read-only: a clear error naming the path and the setting,
 * on the job and the object; nothing lost (the object is processed once space / write access is back).
 *
 * The store is a real 1 MiB tmpfs mounted for this test (we are root in CI and in the dev container; a
 * `mount` refused is a loud failure, not a skip). Full = ENOSPC from the kernel; read-only = `mount -o remount,ro`
 * (EROFS), which root cannot bypass (a chmod would not stop root).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRuntime, type Runtime } from '@app/pipeline';
import { LocalObjectStore, LocalStoreError } from '@app/storage';
import { createTempDatabase, quietLog, tempDir, testConfig, waitFor } from '../support/services';
import { dicomWithNewUid, killAll } from './harness';

jest.setTimeout(60000);

let dir: { path: string; remove: () => Promise<void> };
let db: { url: string; drop: () => Promise<void> };
let mnt: string;
let mounted = false;
let rt: Runtime;

const mount = (...args: string[]) => execFileSync('mount', args, { stdio: 'pipe' });

beforeAll(async () => {
  dir = await tempDir('fault-local-');
  mnt = join(dir.path, 'data');
  mkdirSync(mnt);
  try {
    mount('-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', mnt);
  } catch (e) {
    throw new Error(`this test mounts a 1 MiB tmpfs and must run as root (or with CAP_SYS_ADMIN): ${(e as Error).message}`);
  }
  mounted = true;
  db = await createTempDatabase();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: mnt, DATABASE_URL: db.url, JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50' }), log: quietLog() });
  rt.queue.startWorker();
});

afterAll(async () => {
  await rt?.close().catch(() => {});
  if (mounted) {
    try {
      mount('-o', 'remount,rw', mnt);
    } catch {
      /* ignore */
    }
    execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
  }
  await db?.drop().catch(() => {});
  await dir?.remove().catch(() => {});
  await killAll();
});

/** Fill the tmpfs to the last byte with a filler file (outside the object folder). */
function fill(): string {
  const filler = join(mnt, 'filler');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let fd: number | undefined;
  const fs = require('node:fs') as typeof import('node:fs');
  fd = fs.openSync(filler, 'w');
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // tail of the last chunk
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(512, 1));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  fs.closeSync(fd);
  return filler;
}

async function failedThenReprocessed(key: string, heal: () => void) {
  const obj = await waitFor(() => rt.db.selectFrom('objects').selectAll().where('key', '=', key).where('status', '=', 'failed').executeTakeFirst(), 30000, `${key} failed`);
  const job = await waitFor(
    () =>
      rt.db
        .selectFrom('jobs')
        .selectAll()
        .where('status', '=', 'failed')
        .where((eb) => eb.or([eb('payload', '@>', JSON.stringify({ key }) as never), eb('payload', '@>', JSON.stringify({ objectId: obj.id }) as never)]))
        .executeTakeFirst(),
    10000,
    'the failed job',
  );
  heal();
  await rt.queue.retry(job.id);
  const done = await waitFor(() => rt.db.selectFrom('objects').selectAll().where('key', '=', key).where('status', '=', 'processed').executeTakeFirst(), 20000, `${key} processed`);
  await rt.queue.waitIdle({ timeoutMs: 20000 });
  const instances = await rt.db.selectFrom('instances').select('id').where('object_id', '=', done.id).execute();
  return { obj, job, instances };
}

test('a full store: LocalStoreError ENOSPC naming the path and DATA_DIR, no partial file left behind', async () => {
  const store = new LocalObjectStore(join(mnt, 'objects'));
  const err = await store.put('big/too-large.bin', Buffer.alloc(2 * 1024 * 1024, 7)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LocalStoreError);
  expect((err as LocalStoreError).code).toBe('ENOSPC');
  expect((err as Error).message).toBe(
    `the local object store is full (ENOSPC): cannot write ${join(mnt, 'objects', 'big', 'too-large.bin')} under ${join(mnt, 'objects')} (DATA_DIR/objects); free space there, or set DATA_DIR to a larger volume (or S3_BUCKET to use S3)`,
  );
  expect(readdirSync(join(mnt, 'objects', 'big'))).toEqual([]); // the .part temp file was removed
});

test('a full store while processing: the job retries, then the object fails with the clear reason; processed once space is freed', async () => {
  const key = 'incoming/full/CT_small.dcm';
  const info = await rt.store.put(key, dicomWithNewUid(dir.path));
  const filler = fill();
  await rt.ingest.enqueueEvents([{ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' }]);
  const r = await failedThenReprocessed(key, () => rmSync(filler));
  expect(r.obj.reason).toMatch(/^LocalStoreError: the local object store is full \(ENOSPC\): cannot write .* under .*\/objects \(DATA_DIR\/objects\)/);
  expect(r.job.attempts).toBe(2);
  expect(r.job.error).toMatch(/LocalStoreError: the local object store is full \(ENOSPC\)/);
  expect(r.instances).toHaveLength(1);
});

test('a read-only store: health names it, the object fails with EROFS and the path; processed once writable again', async () => {
  const key = 'incoming/ro/CT_small.dcm';
  const fixture = dicomWithNewUid(dir.path);
  const info = await rt.store.put(key, fixture);
  mount('-o', 'remount,ro', mnt);
  try {
    const h = await rt.health();
    expect(h.checks.store.ok).toBe(false);
    expect(h.checks.store.error).toMatch(/read-only file system \(EROFS\): cannot write to .*objects .*DATA_DIR/);
    await rt.ingest.enqueueEvents([{ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' }]);
    const r = await failedThenReprocessed(key, () => mount('-o', 'remount,rw', mnt));
    expect(r.obj.reason).toMatch(/^LocalStoreError: the local object store is on a read-only file system \(EROFS\): cannot write .* under .*\/objects \(DATA_DIR\/objects\); make it writable/);
    expect(r.instances).toHaveLength(1);
    expect((await rt.health()).checks.store.ok).toBe(true);
  } finally {
    try {
      mount('-o', 'remount,rw', mnt);
    } catch {
      /* already rw */
    }
  }
});
