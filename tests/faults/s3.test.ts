/**
 * S3 faults through the real ingest path: s3rver behind a fault-injecting proxy on its own loopback port.
 * HTTP 500s, a hung endpoint (timeouts) and a stopped endpoint (connection refused) each give per-request
 * retries (S3_MAX_ATTEMPTS, SDK backoff), then job retries (JOB_ATTEMPTS, JOB_BACKOFF_MS), then a clear
 * failure on the job and on the object. Nothing is lost: once S3 is back, retrying the job processes the object.
 */
import { hostname } from 'node:os';
import { createRuntime, type Runtime } from '@app/pipeline';
import { S3ObjectStore } from '@app/storage';
import { createTempDatabase, quietLog, tempDir, testConfig, waitFor } from '../support/services';
import { dicomWithNewUid, type FaultyS3, type HoldRule, killAll, startFaultyS3 } from './harness';

jest.setTimeout(60000);

const S3_MAX_ATTEMPTS = 3;
const JOB_ATTEMPTS = 2;
const JOB_BACKOFF_MS = 300;

let s3: FaultyS3;
let db: { url: string; drop: () => Promise<void> };
let dir: { path: string; remove: () => Promise<void> };
let rt: Runtime;
let direct: S3ObjectStore;
beforeAll(async () => {
  s3 = await startFaultyS3();
  db = await createTempDatabase();
  dir = await tempDir('fault-s3-');
  rt = await createRuntime({
    config: testConfig({
      DATA_DIR: dir.path,
      DATABASE_URL: db.url,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_MAX_ATTEMPTS: String(S3_MAX_ATTEMPTS),
      S3_CONNECT_TIMEOUT_MS: '400',
      S3_REQUEST_TIMEOUT_MS: '400',
      JOB_ATTEMPTS: String(JOB_ATTEMPTS),
      JOB_BACKOFF_MS: String(JOB_BACKOFF_MS),
    }),
    log: quietLog(),
  });
  rt.queue.startWorker();
  // set-up writes go straight to s3rver, never through the faults
  direct = new S3ObjectStore({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.direct, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, partSize: 5 * 1024 * 1024 });
});

afterAll(async () => {
  await rt?.close().catch(() => {});
  await s3?.stop().catch(() => {});
  await db?.drop().catch(() => {});
  await dir?.remove().catch(() => {});
  await killAll();
});

/** Upload, enqueue, wait for the final failure; then S3 comes back, the failed job is retried and the object processed. */
async function scenario(key: string, inject: () => Promise<void>, heal: () => Promise<void>) {
  const body = dicomWithNewUid(dir.path);
  const info = await direct.put(key, body);
  s3.faulted = [];
  await inject();
  const t0 = Date.now();
  await rt.ingest.enqueueEvents([{ bucket: s3.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' }]);
  const obj = await waitFor(() => rt.db.selectFrom('objects').selectAll().where('key', '=', key).where('status', '=', 'failed').executeTakeFirst(), 40000, `${key} failed`);
  const elapsed = Date.now() - t0;
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
  await heal();
  await rt.queue.retry(job.id);
  const done = await waitFor(() => rt.db.selectFrom('objects').selectAll().where('key', '=', key).where('status', '=', 'processed').executeTakeFirst(), 15000, `${key} processed after S3 came back`);
  await rt.queue.waitIdle({ timeoutMs: 20000 });
  // exactly once: one object row, one instance row for it, one ingest job
  const objects = await rt.db.selectFrom('objects').select('id').where('key', '=', key).execute();
  // (each scenario's slice has its own SOP Instance UID, so its instance row belongs to this object)
  const instances = await rt.db.selectFrom('instances').select('id').where('object_id', '=', done.id).execute();
  const jobs = await rt.db.selectFrom('jobs').select('id').where('name', '=', 'ingest.object').where('payload', '@>', JSON.stringify({ key }) as never).execute();
  return { obj, job, elapsed, objects, instances, jobs, faulted: [...s3.faulted] };
}

test('HTTP 500s: retried per request and per job with backoff, then a clear failure; processed once S3 is healthy', async () => {
  const key = 'incoming/500/CT_small.dcm';
  const r = await scenario(
    key,
    async () => {
      s3.fault = 'error500';
      s3.match = /CT_small\.dcm/;
    },
    async () => {
      s3.fault = 'pass';
    },
  );
  // the first S3 call of ingest (HeadObject) failed S3_MAX_ATTEMPTS times in each of JOB_ATTEMPTS job attempts
  expect(r.faulted.length).toBe(S3_MAX_ATTEMPTS * JOB_ATTEMPTS);
  expect(r.faulted.every((f) => f.method === 'HEAD')).toBe(true);
  // job-level backoff: the second job attempt starts at least JOB_BACKOFF_MS after the first one's last request
  expect(r.faulted[S3_MAX_ATTEMPTS]!.at - r.faulted[S3_MAX_ATTEMPTS - 1]!.at).toBeGreaterThanOrEqual(JOB_BACKOFF_MS - 20);
  expect(r.obj.reason).toMatch(
    new RegExp(`^S3StoreError: S3 HeadObject s3://${s3.bucket}/${key.replace(/\//g, '\\/').replace(/\./g, '\\.')} failed after ${S3_MAX_ATTEMPTS} attempt\\(s\\) against ${s3.endpoint.replace(/\./g, '\\.')} \\(HTTP 500 `),
  );
  expect(r.job.status).toBe('failed');
  expect(r.job.attempts).toBe(JOB_ATTEMPTS);
  expect(r.job.error).toMatch(/S3 HeadObject .* failed after 3 attempt\(s\)/);
  expect(r.objects).toHaveLength(1);
  expect(r.instances).toHaveLength(1);
  expect(r.jobs).toHaveLength(1);
});

test('a hung S3 endpoint: request timeouts, retried, then a clear failure; processed once S3 answers', async () => {
  const key = 'incoming/hang/CT_small.dcm';
  const r = await scenario(
    key,
    async () => {
      s3.fault = 'hang';
      s3.match = /CT_small\.dcm/;
    },
    async () => {
      s3.fault = 'pass';
    },
  );
  expect(r.faulted.length).toBe(S3_MAX_ATTEMPTS * JOB_ATTEMPTS);
  // each attempt waited for the 400 ms request timeout
  expect(r.elapsed).toBeGreaterThanOrEqual(S3_MAX_ATTEMPTS * JOB_ATTEMPTS * 400);
  expect(r.obj.reason).toMatch(new RegExp(`S3 HeadObject s3://${s3.bucket}/incoming/hang/CT_small\\.dcm failed after ${S3_MAX_ATTEMPTS} attempt\\(s\\) .*TimeoutError.*requestTimeout`));
  expect(r.objects).toHaveLength(1);
  expect(r.instances).toHaveLength(1);
  expect(r.jobs).toHaveLength(1);
});

test('a stopped S3 endpoint: refused connections retried, then a clear failure; processed once it is back', async () => {
  const key = 'incoming/down/CT_small.dcm';
  const before = s3.requests;
  const r = await scenario(
    key,
    async () => {
      await s3.down();
    },
    async () => {
      await s3.up();
    },
  );
  expect(s3.requests).toBeGreaterThan(before); // served again after up()
  expect(r.obj.reason).toMatch(new RegExp(`S3 HeadObject s3://${s3.bucket}/incoming/down/CT_small\\.dcm failed after ${S3_MAX_ATTEMPTS} attempt\\(s\\) against ${s3.endpoint.replace(/\./g, '\\.')} .*ECONNREFUSED`));
  expect(r.job.attempts).toBe(JOB_ATTEMPTS);
  expect(r.objects).toHaveLength(1);
  expect(r.instances).toHaveLength(1);
});

test('S3 failing while the processor writes its outputs: the object fails clearly and is re-processed exactly once', async () => {
  const key = 'incoming/put/CT_small.dcm';
  const r = await scenario(
    key,
    async () => {
      s3.fault = 'error500';
      s3.match = /^PUT .*deid\//; // the de-identified copy the DICOM processor writes
    },
    async () => {
      s3.fault = 'pass';
      s3.match = undefined;
    },
  );
  expect(r.job.name).toBe('process.object');
  expect(r.faulted.length).toBeGreaterThanOrEqual(S3_MAX_ATTEMPTS);
  expect(r.obj.reason).toMatch(/S3 PutObject s3:\/\/trial-uploads\/deid\/.* failed after 3 attempt\(s\) .*HTTP 500/);
  expect(r.instances).toHaveLength(1);
});

test('a store that shows an upload only after a moment (stale HEADs): put waits and confirms; one that never shows it fails clearly', async () => {
  const store = new S3ObjectStore({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, partSize: 5 * 1024 * 1024, confirmWaitsMs: [20, 40, 80] });
  const body = Buffer.from('stale read after write');
  // the first two HEADs after the PUT say 404; the third finds it
  const rule = { re: /^HEAD .*\/stale\/a\.bin/, left: 2, answered: [] as string[] };
  s3.stale.push(rule);
  const info = await store.put('stale/a.bin', body);
  expect(rule.answered).toHaveLength(2);
  expect(info.size).toBe(body.length);
  expect(Buffer.compare(await direct.getBuffer('stale/a.bin'), body)).toBe(0);
  // a store that never shows it: 1 + 3 HEADs, then an error that says what is wrong
  const never = { re: /^HEAD .*\/stale\/b\.bin/, left: 100, answered: [] as string[] };
  s3.stale.push(never);
  await expect(store.put('stale/b.bin', body)).rejects.toThrow(/S3 PutObject \(confirming HEAD\) s3:\/\/trial-uploads\/stale\/b\.bin failed after 4 attempt\(s\) .*HTTP 404 .*not read-after-write consistent/);
  expect(never.answered).toHaveLength(4);
  s3.stale = [];
  store.client.destroy();
});

test('every S3 request names its host and process in its User-Agent (S3 access logs; the kill -9 test finds the worker that sent a held request by it)', async () => {
  // held once (it times out after S3_REQUEST_TIMEOUT_MS); the SDK's retries pass and find nothing
  const rule: HoldRule = { label: 'user agent', re: /^HEAD \/trial-uploads\/ua-probe\.bin/, left: 1, held: [] };
  s3.holds.push(rule);
  await expect(rt.store.head('ua-probe.bin')).resolves.toBeNull();
  s3.holds = [];
  expect(rule.held).toHaveLength(1);
  expect(rule.held[0]!.pid).toBe(process.pid);
  expect(rule.held[0]!.userAgent.split(' ')).toEqual(expect.arrayContaining([`host/${hostname().replace(/[^!$%&'*+\-.^_`|~\w]/g, '-')}`, `pid/${process.pid}`]));
});
