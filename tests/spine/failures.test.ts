/** Failure paths: unreachable Redis at start-up, bad config, and a job that throws on both transports. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { InputError, loadConfig, repoRoot } from '@app/core';
import { createRuntime, type PipelineModule, type Runtime } from '@app/pipeline';
import type { BullDriver } from '@app/queue';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig, waitFor } from '../support/services';

test('Redis unreachable at start-up gives one clear error naming REDIS_URL', async () => {
  const dir = await tempDir();
  try {
    await expect(createRuntime({ config: testConfig({ DATA_DIR: dir.path, REDIS_URL: 'redis://127.0.0.1:6399' }), log: quietLog() })).rejects.toThrow(
      /^REDIS_URL: cannot reach Redis at 127\.0\.0\.1:6399/,
    );
  } finally {
    await dir.remove();
  }
});

test('the worker process exits with one line when Redis is unreachable', () => {
  // the limit only catches a worker that never exits: it gets there in about 5-8 s on the 2-core box (loading its
  // modules, the embedded database among them; a prebuilt dist starts no faster), and took over 30 s once in CI beside
  // the fault suite's workers
  const r = spawnSync(process.execPath, ['-r', require.resolve('@swc-node/register'), join(repoRoot(), 'apps/worker/src/main.ts')], {
    cwd: repoRoot(),
    env: { PATH: process.env.PATH, REDIS_URL: 'redis://127.0.0.1:6399', DATA_DIR: join(repoRoot(), 'data', 'test-worker'), LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.status).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^worker: cannot start: REDIS_URL: cannot reach Redis at 127\.0\.0\.1:6399/);
}, 150_000);

test('a bad setting stops config loading with a line naming it', () => {
  expect(() => loadConfig({ REDIS_URL: 'localhost:6379' })).toThrow(/^config: REDIS_URL: must be a URL starting with redis: or rediss:/);
  expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^config: PORT: /);
  expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/^config: WEBHOOK_SECRET: is required in production/);
  expect(() => loadConfig({ S3_BUCKET: 'b1b', S3_ACCESS_KEY_ID: 'x' })).toThrow(/^config: S3_SECRET_ACCESS_KEY/);
});

/** A test stage whose processor fails transiently on TIFFs and rejects "bad" ones as input errors. */
function flakyModule(calls: { n: number }): PipelineModule {
  return {
    name: 'flaky',
    processors: () => [
      {
        name: 'flaky-tiff',
        kinds: ['tiff'],
        async process(obj) {
          calls.n++;
          if (obj.key.includes('bad')) throw new InputError('test.bad', 'the slide is bad in a specific, explained way');
          throw new Error('storage hiccup');
        },
      },
    ],
  };
}
const tiff = Buffer.concat([Buffer.from('II*\0'), Buffer.alloc(64)]);

async function failingJobScenario(rt: Runtime, calls: { n: number }) {
  const info = await rt.store.put('incoming/slide.tif', tiff);
  const bad = await rt.store.put('incoming/bad.tif', tiff);
  rt.queue.startWorker();
  await rt.ingest.enqueueEvents([
    { bucket: rt.store.bucket, key: 'incoming/slide.tif', etag: info.etag, eventName: 'ObjectCreated:Put' },
    { bucket: rt.store.bucket, key: 'incoming/bad.tif', etag: bad.etag, eventName: 'ObjectCreated:Put' },
  ]);
  const row = await waitFor(async () => (await rt.db.selectFrom('objects').selectAll().where('key', '=', 'incoming/slide.tif').executeTakeFirst())?.status === 'failed' && true, 30000, 'failed');
  expect(row).toBe(true);
  await rt.queue.waitIdle({ timeoutMs: 30000 });
  const obj = await rt.db.selectFrom('objects').selectAll().where('key', '=', 'incoming/slide.tif').executeTakeFirstOrThrow();
  expect(obj.reason).toBe('Error: storage hiccup');
  const job = await rt.db.selectFrom('jobs').selectAll().where('name', '=', 'process.object').where('payload', '@>', JSON.stringify({ objectId: obj.id }) as never).executeTakeFirstOrThrow();
  expect(job).toMatchObject({ status: 'failed', attempts: 3, max_attempts: 3, error: 'Error: storage hiccup' });
  expect(await rt.store.head('incoming/slide.tif')).not.toBeNull();
  const badRow = await rt.db.selectFrom('objects').selectAll().where('key', '=', 'incoming/bad.tif').executeTakeFirstOrThrow();
  expect(badRow).toMatchObject({ status: 'quarantined', reason_code: 'test.bad', reason: 'the slide is bad in a specific, explained way' });
  expect(calls.n).toBe(3 + 1); // three attempts for the transient error, one for the input error
  return job.id;
}

test('in-process: a job that throws is retried, then marked failed with its error; the object is still there; retry re-runs it', async () => {
  const dir = await tempDir();
  const calls = { n: 0 };
  const rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path }), log: quietLog(), modules: [flakyModule(calls)] });
  try {
    const jobId = await failingJobScenario(rt, calls);
    await rt.queue.retry(jobId);
    await rt.queue.waitIdle({ timeoutMs: 30000 });
    expect(calls.n).toBe(4 + 3);
    await expect(rt.queue.retry(jobId)).resolves.toBeUndefined();
  } finally {
    await rt.close();
    await dir.remove();
  }
});

test('Bull on Redis + PostgreSQL: the same retry-then-fail behaviour', async () => {
  const dir = await tempDir();
  const db = await createTempDatabase();
  const calls = { n: 0 };
  const rt = await createRuntime({
    config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: `f-${Date.now().toString(36)}` }),
    log: quietLog(),
    modules: [flakyModule(calls)],
  });
  try {
    await failingJobScenario(rt, calls);
    const failed = await (rt.queue.driver as BullDriver).queue.getFailed();
    expect(failed.some((j) => j.failedReason === 'storage hiccup' && j.attemptsMade === 3)).toBe(true);
  } finally {
    await (rt.queue.driver as BullDriver).queue.obliterate({ force: true }).catch(() => {});
    await rt.close();
    await db.drop();
    await dir.remove();
  }
});
