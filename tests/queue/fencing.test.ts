/**
 * Double execution guard: a worker never recovers its own live attempt (its lease ran out while its event loop was
 * blocked, or its heartbeat could not reach the database); a worker whose lease expired (declared dead: e.g. its event loop was blocked for longer
 * than the lease) and whose job was taken over by another worker cannot, when its handler finally returns or throws,
 * overwrite the newer attempt's state; a second delivery of a job that a live worker holds waits instead of running.
 */
import { sql } from 'kysely';
import { createRuntime, type PipelineModule, type Runtime } from '@app/pipeline';
import { createTempDatabase, quietLog, tempDir, testConfig, waitFor } from '../support/services';

let db: Awaited<ReturnType<typeof createTempDatabase>>;
let dir: Awaited<ReturnType<typeof tempDir>>;
const runtimes: Runtime[] = [];
afterAll(async () => {
  for (const rt of runtimes) await rt.close();
  await db?.drop();
  await dir?.remove();
});

test('a taken-over attempt that completes late does not overwrite the newer attempt', async () => {
  db = await createTempDatabase();
  dir = await tempDir();
  let release!: (v: string) => void;
  const gate = new Promise<string>((r) => (release = r));
  const calls: string[] = [];
  const mod = (who: string): PipelineModule => ({
    name: 'fence',
    jobs: () => [
      {
        name: 'test.slow',
        handler: async (job) => {
          calls.push(`${who}:${job.attempt}`);
          if (who === 'first') return { by: await gate, attempt: job.attempt };
          return { by: who, attempt: job.attempt };
        },
      },
    ],
  });
  const cfg = testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, JOB_LEASE_MS: '30000', JOB_RECLAIM_INTERVAL_MS: '0' });
  // (the first worker's heartbeat, every lease/3, must not renew the lease the test expires below)
  const first = await createRuntime({ config: { ...cfg, JOB_LEASE_MS: 600_000 }, log: quietLog(), modules: [mod('first')] });
  const second = await createRuntime({ config: cfg, log: quietLog(), modules: [mod('second')] });
  runtimes.push(second);
  runtimes.push(first);
  first.queue.startWorker();
  const { jobId } = await first.queue.enqueue('test.slow', {}, { idempotencyKey: 'slow-1' });
  await waitFor(async () => calls.length === 1, 10000, 'first attempt running');
  // The first worker is declared dead: its lease is over (as if its event loop had been blocked past it).
  await sql`UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = ${jobId}`.execute(first.db);
  expect((await first.jobs.list({ status: 'stuck' })).map((j) => j.id)).toEqual([jobId]);

  second.queue.startWorker(); // start-up recovery takes the row over and runs attempt 2
  await waitFor(async () => (await second.jobs.byId(jobId))?.status === 'completed', 15000, 'second attempt completed');
  expect(calls).toEqual(['first:1', 'second:2']);

  release('first'); // the first worker's handler returns now: fenced out
  await new Promise((r) => setTimeout(r, 300));
  const row = (await second.jobs.byId(jobId))!;
  expect(row).toMatchObject({ status: 'completed', attempts: 2, recoveries: 1, owner: second.queue.workerId, result: { by: 'second', attempt: 2 } });
  expect(await first.jobs.countStuck()).toBe(0);
});

test('the ledger refuses a second start of a row a live worker holds, and fences ends by owner and attempt', async () => {
  const rt = runtimes[1]!;
  const { jobs } = rt;
  const row = (await jobs.claim('fence-2', 'test.slow', {}, 3))!;
  const a = await jobs.start(row.id, 'host:1:aaaaaaaa', 30000);
  expect(a).toMatchObject({ state: 'started', row: { attempts: 1, owner: 'host:1:aaaaaaaa' } });
  expect((await jobs.start(row.id, 'host:2:bbbbbbbb', 30000)).state).toBe('held'); // live lease: not taken
  await sql`UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = ${row.id}`.execute(rt.db);
  const b = await jobs.start(row.id, 'host:2:bbbbbbbb', 30000);
  expect(b).toMatchObject({ state: 'started', row: { attempts: 2, owner: 'host:2:bbbbbbbb' } });
  expect(await jobs.finish(row.id, { owner: 'host:1:aaaaaaaa', attempt: 1 }, { status: 'failed', error: 'late' })).toBe(false);
  expect(await jobs.finish(row.id, { owner: 'host:2:bbbbbbbb', attempt: 1 }, { status: 'completed' })).toBe(false);
  expect(await jobs.finish(row.id, { owner: 'host:2:bbbbbbbb', attempt: 2 }, { status: 'completed', result: { ok: true } })).toBe(true);
  expect((await jobs.start(row.id, 'host:3:cccccccc', 30000)).state).toBe('done');
  expect(await jobs.byId(row.id)).toMatchObject({ status: 'completed', attempts: 2, error: null, result: { ok: true } });
});

test('a worker does not recover its own attempt in flight when its lease ran out: the lease is renewed, the job runs once', async () => {
  const dir2 = await tempDir();
  const db2 = await createTempDatabase();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  const rt = await createRuntime({
    // no heartbeat during the test (lease/3 = 200 s), no recovery timer: the test expires the lease and recovers by hand
    config: { ...testConfig({ DATA_DIR: dir2.path, DATABASE_URL: db2.url, JOB_RECLAIM_INTERVAL_MS: '0' }), JOB_LEASE_MS: 600_000 },
    log: quietLog(),
    modules: [{ name: 'own', jobs: () => [{ name: 'test.own', handler: async () => (calls++, await gate, { calls }) }] }],
  });
  try {
    rt.queue.startWorker();
    const { jobId } = await rt.queue.enqueue('test.own', {}, { idempotencyKey: 'own-1' });
    await waitFor(async () => calls === 1, 10000, 'attempt 1 running');
    // as after a long synchronous stretch of the handler: the lease is over although this process is alive
    await sql`UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = ${jobId}`.execute(rt.db);
    expect((await rt.jobs.list({ status: 'stuck' })).map((j) => j.id)).toEqual([jobId]);
    expect(await rt.queue.recoverStuck()).toBe(0);
    const row = (await rt.jobs.byId(jobId))!;
    expect(row).toMatchObject({ status: 'running', attempts: 1, recoveries: 0, owner: rt.queue.workerId });
    expect(new Date(row.lease_until!).getTime()).toBeGreaterThan(Date.now());
    expect(await rt.jobs.countStuck()).toBe(0);
    release();
    await waitFor(async () => (await rt.jobs.byId(jobId))?.status === 'completed', 10000, 'completed');
    expect(calls).toBe(1);
    expect((await rt.jobs.byId(jobId))!).toMatchObject({ attempts: 1, recoveries: 0, result: { calls: 1 } });
  } finally {
    await rt.close();
    await db2.drop();
    await dir2.remove();
  }
});
