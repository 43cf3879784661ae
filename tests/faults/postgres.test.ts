/**
 * PostgreSQL restarted mid-run (immediate shutdown = every connection cut, like a crash or a fail-over) under the
 * real worker process: the jobs that hit the outage are retried, the worker's pool reconnects, and every effect
 * happens exactly once. Own PostgreSQL cluster and redis-server on free loopback ports.
 */
import { type Cluster, pipelineState, startCluster, uploadSeries, waitMidRun, waitUntil } from './cluster';

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
      return s.volumes.slices === SLICES && s.objects.processed === SLICES && !Object.keys(s.jobs).some((k) => /:(queued|running)$/.test(k)) ? s : undefined;
    },
    60000,
    'every slice processed and the volume built after the restart',
  ).catch(async (e) => {
    throw new Error(`${(e as Error).message}; state ${JSON.stringify(await pipelineState(c))}; worker alive: ${w.proc.exitCode === null && w.proc.signalCode === null}; worker output (tail):\n${w.output().slice(-1500)}`);
  });
  // a failed expectation carries the state, the series row, the retried jobs and the worker's output: CI keeps no other trace
  const explain = async (e: unknown) => {
    const series = await c.q(`select status, instance_count, error from series`);
    const jobs = await c.q(`select name, status, attempts, error, result from jobs where status <> 'completed' or attempts > 1 or name = 'dicom.volume' order by created_at`);
    (e as Error).message += `\nstate ${JSON.stringify(state)}\nseries ${JSON.stringify(series)}\njobs ${JSON.stringify(jobs)}\nworker output (tail):\n${w.output().slice(-1500)}`;
    return e;
  };
  try {
    expect(before).toBeLessThan(SLICES); // the restart really happened mid-run
    expect(state.objects).toEqual({ total: SLICES, processed: SLICES, keys: SLICES });
    expect(state.instances).toEqual({ total: SLICES, objects: SLICES, sops: SLICES });
    expect(state.series).toEqual({ total: 1, built: 1 });
    // no duplicate volume; the newest is complete (a slice delayed by the fault past SERIES_QUIET_MS gives a second one)
    expect(state.volumes.total).toBe(state.volumes.sets);
    expect(state.volumes.series).toBe(1);
    expect(state.volumes.slices).toBe(SLICES);
    // every volume from a completed job; a job whose instance set grew before it built stored none
    expect(state.volumeJobs.built).toBe(state.volumes.total);
    expect(state.jobs['dicom.volume:completed']).toBe(state.volumeJobs.built + state.volumeJobs.skippedStale);
    expect(state.jobs['ingest.object:completed']).toBe(SLICES);
    expect(state.jobs['process.object:completed']).toBe(SLICES);
    expect(Object.keys(state.jobs).filter((k) => !k.endsWith(':completed'))).toEqual([]);
  } catch (e) {
    throw await explain(e);
  }
  // the worker survived the outage (its pool reconnected) rather than crashing
  expect(died).toBeUndefined();
  // the health of the restarted worker's view: a fresh runtime sees the database again
  await c.withRuntime(async (rt) => expect((await rt.health()).checks.database.ok).toBe(true));
});
