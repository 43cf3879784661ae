/**
 * Per-job-type concurrency: a heavy type runs in a lane of its own, at most QUEUE_CONCURRENCY_HEAVY at once per
 * worker, while light types share QUEUE_CONCURRENCY and never wait behind heavy ones; two types sharing a lane run
 * one at a time together (the cut and its report) — on the in-process queue and on Bull (one Bull queue per lane:
 * Bull sums the concurrency of named processors on one queue). Queue depth per type.
 */
import { createRuntime, type PipelineModule, type Runtime } from '@app/pipeline';
import type { BullDriver, JobEvent } from '@app/queue';
import { createTempDatabase, quietLog, REDIS_URL, tempDir, testConfig, waitFor } from '../support/services';

const HEAVY = 2;
const SHARED = 3;
const N = 8;

function meter() {
  const active: Record<string, number> = {};
  const max: Record<string, number> = {};
  let total = 0;
  let maxTotal = 0;
  /** One job of type `name` (also counted under `lane` when given). */
  const run = async (name: string, lane?: string) => {
    const keys = lane ? [name, lane] : [name];
    for (const k of keys) {
      active[k] = (active[k] ?? 0) + 1;
      max[k] = Math.max(max[k] ?? 0, active[k]!);
    }
    total++;
    maxTotal = Math.max(maxTotal, total);
    await new Promise((r) => setTimeout(r, 300));
    for (const k of keys) active[k]!--;
    total--;
  };
  return { run, max, maxTotal: () => maxTotal };
}

function laneModule(m: ReturnType<typeof meter>): PipelineModule {
  return {
    name: 'lanes',
    jobs: () => [
      { name: 'test.heavy', heavy: true, handler: () => m.run('test.heavy') },
      { name: 'test.capped', concurrency: 1, handler: () => m.run('test.capped') },
      { name: 'test.light', handler: () => m.run('test.light') },
      // two types in one lane: its limit is the smaller (1, not QUEUE_CONCURRENCY_HEAVY), for both together
      { name: 'test.pair-a', lane: 'test.pair', handler: () => m.run('test.pair-a', 'test.pair') },
      { name: 'test.pair-b', lane: 'test.pair', concurrency: 1, handler: () => m.run('test.pair-b', 'test.pair') },
    ],
  };
}

async function scenario(rt: Runtime, m: ReturnType<typeof meter>) {
  expect(rt.queue.concurrency()).toEqual({ shared: SHARED, lanes: { 'test.heavy': HEAVY, 'test.capped': 1, 'test.pair': 1 } });
  const events: JobEvent[] = [];
  rt.queue.observe((e) => events.push(e));
  const tag = Date.now().toString(36);
  for (let i = 0; i < N; i++) {
    await rt.queue.enqueue('test.heavy', { i }, { idempotencyKey: `h:${tag}:${i}` });
    await rt.queue.enqueue('test.light', { i }, { idempotencyKey: `l:${tag}:${i}` });
    if (i < 3) await rt.queue.enqueue('test.capped', { i }, { idempotencyKey: `c:${tag}:${i}` });
    if (i < 2) for (const t of ['test.pair-a', 'test.pair-b']) await rt.queue.enqueue(t, { i }, { idempotencyKey: `${t}:${tag}:${i}` });
  }
  await rt.queue.enqueue('test.light', { later: true }, { idempotencyKey: `later:${tag}`, delayMs: 120_000 });
  const before = await rt.queue.depth();
  expect(before['test.heavy']).toEqual({ waiting: N, delayed: 0, active: 0, stuck: 0, failed: 0 });
  expect(before['test.light']).toEqual({ waiting: N, delayed: 1, active: 0, stuck: 0, failed: 0 });
  rt.queue.startWorker();
  const during = await (async () => {
    for (;;) {
      const d = await rt.queue.depth();
      if (d['test.heavy']!.active > 0) return d;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  expect(during['test.heavy']!.active).toBeLessThanOrEqual(HEAVY);
  expect(during['test.heavy']!.waiting + during['test.heavy']!.active).toBeLessThanOrEqual(N);
  await waitForJobs(rt, N * 2 + 3 + 4);
  // observers hear of a completion after the ledger has it: on a loaded machine the last event can trail the count
  await waitFor(async () => events.filter((e) => e.type === 'completed').length >= N * 2 + 3 + 4, 10000, 'every completed event');
  expect(m.max['test.heavy']).toBe(HEAVY);
  expect(m.max['test.capped']).toBe(1);
  expect(m.max['test.light']).toBe(SHARED);
  expect(m.max['test.pair']).toBe(1); // the shared lane: one job of either type at a time
  expect(m.max['test.pair-a']).toBe(1);
  expect(m.maxTotal()).toBe(HEAVY + 1 + SHARED + 1); // light jobs ran beside the heavy ones, not behind them
  expect(events.filter((e) => e.type === 'completed')).toHaveLength(N * 2 + 3 + 4);
  expect(events.filter((e) => e.type === 'started').every((e) => e.attempt === 1)).toBe(true);
  expect(events.filter((e) => e.type === 'completed').every((e) => typeof e.ms === 'number' && e.ms >= 250)).toBe(true);
  const after = await rt.queue.depth();
  expect(after['test.heavy']).toEqual({ waiting: 0, delayed: 0, active: 0, stuck: 0, failed: 0 });
  expect(after['test.light']).toEqual({ waiting: 0, delayed: 1, active: 0, stuck: 0, failed: 0 });
}

async function waitForJobs(rt: Runtime, n: number) {
  const deadline = Date.now() + 30000;
  while ((await rt.jobs.countByStatus()).completed !== n) {
    if (Date.now() > deadline) throw new Error(`not all jobs completed: ${JSON.stringify(await rt.jobs.countByStatus())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const settings = { QUEUE_CONCURRENCY: String(SHARED), QUEUE_CONCURRENCY_HEAVY: String(HEAVY) };

test('in-process: heavy and capped types are limited per worker in their own lanes; light ones share the pool', async () => {
  const dir = await tempDir();
  const db = await createTempDatabase();
  const m = meter();
  const rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, ...settings }), log: quietLog(), modules: [laneModule(m)] });
  try {
    await scenario(rt, m);
  } finally {
    await rt.close();
    await db.drop();
    await dir.remove();
  }
});

test('Bull: the same limits, each lane a Bull queue of its own', async () => {
  const dir = await tempDir();
  const db = await createTempDatabase();
  const m = meter();
  const name = `lanes-${Date.now().toString(36)}`;
  const rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, DATABASE_URL: db.url, REDIS_URL, QUEUE_NAME: name, ...settings }), log: quietLog(), modules: [laneModule(m)] });
  const bull = rt.queue.driver as BullDriver;
  try {
    expect(bull.queues().map((q) => q.name).sort()).toEqual([name, `${name}.test.capped`, `${name}.test.heavy`, `${name}.test.pair`]);
    await scenario(rt, m);
    expect((await bull.queues().find((q) => q.name === `${name}.test.heavy`)!.getCompleted()).length).toBe(N);
  } finally {
    for (const q of bull.queues()) await q.obliterate({ force: true }).catch(() => {});
    await rt.close();
    await db.drop();
    await dir.remove();
  }
});
