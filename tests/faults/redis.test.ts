/**
 * Redis restarted mid-run under the real worker process (own redis-server with AOF persistence, as a production
 * Redis must have; own PostgreSQL cluster): the worker reconnects, no queued job is lost, every effect happens
 * once, and afterwards the ledger and Bull agree (every ledger job completed in Bull, nothing left waiting,
 * active, delayed or failed, no Bull job the ledger does not know).
 */
import Bull from 'bull';
import { type Cluster, expectEveryEffectOnce, pipelineState, settled, startCluster, uploadSeries, waitMidRun, waitUntil } from './cluster';

jest.setTimeout(150000);
const SLICES = 16;
let c: Cluster;

beforeAll(async () => {
  c = await startCluster();
});
afterAll(async () => {
  await c?.stop();
});

test('Redis restarted mid-run: the worker reconnects, queued jobs are not lost, ledger and Bull agree', async () => {
  await uploadSeries(c, { slices: SLICES, seed: 12, prefix: 'incoming/redis' });
  const w = c.worker();
  // mid-run: some slices processed, not all
  const before = await waitMidRun(c, w, SLICES);
  await c.redis.restart(1500);
  const state = await waitUntil(
    async () => {
      if (w.proc.exitCode !== null || w.proc.signalCode !== null) throw new Error(`the worker process died (exit ${w.proc.exitCode ?? w.proc.signalCode})`);
      const s = await pipelineState(c);
      return settled(s, SLICES) ? s : undefined;
    },
    75000,
    'every slice processed and the volume built after the restart',
  ).catch(async (e) => {
    throw new Error(`${(e as Error).message}; state ${JSON.stringify(await pipelineState(c))}; bull ${JSON.stringify(await c.bullCounts())}; worker output (tail):\n${w.output().slice(-1500)}`);
  });
  expect(before).toBeLessThan(SLICES);
  expect(w.proc.exitCode).toBeNull();
  await expectEveryEffectOnce(c, state, SLICES, () => w.output());

  // the ledger and Bull agree
  const ledger = await c.q<{ id: string; transport_id: string | null }>(`select id, ${await hasColumn('transport_id') ? 'transport_id' : 'null as transport_id'} from jobs`);
  const counts = await c.bullCounts();
  expect({ waiting: counts.waiting, active: counts.active, delayed: counts.delayed, failed: counts.failed }).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
  const completed = new Set<string>();
  for (const name of await c.bullQueues()) {
    const q = new Bull(name, c.redis.url);
    try {
      for (const j of await q.getJobs(['completed'], 0, 10000)) completed.add(String(j.id));
    } finally {
      await q.close();
    }
  }
  const known = new Set(ledger.flatMap((r) => [r.id, r.transport_id].filter((x): x is string => !!x)));
  const missing = ledger.filter((r) => !completed.has(r.transport_id ?? r.id) && !completed.has(r.id));
  expect(missing).toEqual([]);
  expect([...completed].filter((id) => !known.has(id))).toEqual([]);
});

async function hasColumn(name: string): Promise<boolean> {
  const r = await c.q(`select 1 from information_schema.columns where table_name = 'jobs' and column_name = $1`, [name]);
  return r.length > 0;
}
