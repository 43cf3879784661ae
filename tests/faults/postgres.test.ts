/**
 * PostgreSQL restarted mid-run (immediate shutdown = every connection cut, like a crash or a fail-over) under the
 * real worker process: the jobs that hit the outage are retried, the worker's pool reconnects, and every effect
 * happens exactly once. Own PostgreSQL cluster and redis-server on free loopback ports.
 */
import { type Cluster, expectEveryEffectOnce, pipelineState, settled, startCluster, uploadSeries, waitMidRun, waitUntil } from './cluster';

jest.setTimeout(120000);
const SLICES = 16;
let c: Cluster;

beforeAll(async () => {
  c = await startCluster();
});
afterAll(async () => {
  await c?.stop();
});

test('PostgreSQL restarted mid-run: jobs retry and complete, the worker reconnects, every effect once', async () => {
  await uploadSeries(c, { slices: SLICES, seed: 11, prefix: 'incoming/pg' });
  const w = c.worker();
  // mid-run: some slices processed, not all
  const before = await waitMidRun(c, w, SLICES);
  await c.pg.restart(1500);
  let died: string | undefined;
  let replaced: ReturnType<Cluster['worker']> | undefined;
  const state = await waitUntil(
    async () => {
      // a worker that died of the outage is replaced, as its supervisor (systemd, Kubernetes) would: the data must
      // still end exactly once; that it died at all is asserted (and reported) below
      if (!replaced && (w.proc.exitCode !== null || w.proc.signalCode !== null)) {
        died = `exit ${w.proc.exitCode ?? w.proc.signalCode}: ${w.output().split('\n').find((l) => /Error/.test(l)) ?? ''}`;
        replaced = c.worker();
      }
      const s = await pipelineState(c);
      return settled(s, SLICES) ? s : undefined;
    },
    60000,
    'every slice processed and the volume built after the restart',
  ).catch(async (e) => {
    throw new Error(`${(e as Error).message}; state ${JSON.stringify(await pipelineState(c))}; worker alive: ${w.proc.exitCode === null && w.proc.signalCode === null}; worker output (tail):\n${w.output().slice(-1500)}`);
  });
  expect(before).toBeLessThan(SLICES); // the restart really happened mid-run
  await expectEveryEffectOnce(c, state, SLICES, () => w.output());
  // the worker survived the outage (its pool reconnected) rather than crashing
  expect(died).toBeUndefined();
  // the health of the restarted worker's view: a fresh runtime sees the database again
  await c.withRuntime(async (rt) => expect((await rt.health()).checks.database.ok).toBe(true));
});
