/**
 * Plot lanes (libs/report plots.ts): the report's plots are drawn on the shared pool's threads by lane tasks that
 * read plots from a MessagePort, so that they are drawn while the report's thread is busy. Checked here: every plot
 * is drawn once with the bytes the same drawing gives on this thread, even while this thread is blocked; a plot that
 * cannot be drawn fails alone and names why; ending or aborting the lanes gives the pool's threads back.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { runInWorker, workerPoolThreads } from '@app/core';
import { PlotLanes, renderPlotsStaged, type ReportModelBase } from '@app/report';
import { drawPlot, type PlotTask } from '../../libs/report/src/plot-task';

jest.setTimeout(120000);

const bars = (n: number, title: string): TopLevelSpec => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title,
  width: 300,
  height: 150,
  data: { values: Array.from({ length: n }, (_, i) => ({ x: i, y: ((i * 37) % 23) - 11 })) },
  mark: 'bar',
  encoding: { x: { field: 'x', type: 'ordinal' }, y: { field: 'y', type: 'quantitative' } },
});

/** A trivial pool task (the worker loader's own module path is not a task): the TypeScript task below. */
const ECHO = join(__dirname, 'support', 'echo-task');

test('every plot is drawn once, with the bytes of the same drawing on this thread, while this thread is busy', async () => {
  const tasks: PlotTask[] = Array.from({ length: 7 }, (_, k) => ({ spec: bars(20 + 10 * k, `plot ${k}`), name: `p${k}`, png: k % 2 === 0 }));
  const lanes = new PlotLanes(workerPoolThreads());
  const t0 = performance.now();
  const pending = tasks.map((t) => lanes.draw(t));
  // this thread blocked for 1.5 s: the lanes draw meanwhile (no plot would move with one pool task per plot)
  while (performance.now() - t0 < 1500);
  lanes.end();
  const got = await Promise.all(pending);
  await lanes.closed();
  for (let k = 0; k < tasks.length; k++) {
    const here = await drawPlot(tasks[k]!);
    expect(got[k]!.svg).toBe(here.svg);
    expect(got[k]!.svg).toContain(`plot ${k}`);
    if (tasks[k]!.png) expect(Buffer.from(got[k]!.png!).equals(Buffer.from(here.png!))).toBe(true);
    else expect(got[k]!.png).toBeUndefined();
  }
  // the lanes have ended: the pool runs other tasks again
  expect(await runInWorker<string>(ECHO, 'after')).toBe('echo after');
});

test('a plot that cannot be drawn fails alone, with the reason; the others are drawn', async () => {
  const lanes = new PlotLanes(workerPoolThreads());
  const good = lanes.draw({ spec: bars(5, 'fine'), name: 'fine', png: false });
  const bad = lanes.draw({ spec: { ...bars(5, 'broken'), mark: 'no-such-mark' } as unknown as TopLevelSpec, name: 'broken', png: false });
  const after = lanes.draw({ spec: bars(6, 'after'), name: 'after', png: true });
  lanes.end();
  await expect(bad).rejects.toThrow(/^plot broken: /);
  expect((await good).svg).toContain('fine');
  expect((await after).png!.length).toBeGreaterThan(100);
  await lanes.closed();
  await expect(lanes.draw({ spec: bars(5, 'late'), name: 'late', png: false })).rejects.toThrow(/after end/);
});

test('ended with nothing to draw (a report that failed before its plots), the lanes give the pool back', async () => {
  const lanes = new PlotLanes(workerPoolThreads());
  lanes.end();
  await lanes.closed();
  const echoes = await Promise.all(Array.from({ length: workerPoolThreads() * 2 }, (_, i) => runInWorker<string>(ECHO, String(i))));
  expect(echoes).toEqual(Array.from({ length: workerPoolThreads() * 2 }, (_, i) => `echo ${i}`));
});

test('a plot whose spec cannot be built ends the lanes it started: the error is thrown and the pool is free', async () => {
  // curves missing: the KM spec builder throws on this thread, after the lanes were started
  const model = { arms: [], reference: null, confLevel: 0.95, plotData: { km: [{ parameter: 'PFS', label: 'PFS', atRisk: [] }], sizes: [], swimmer: [], forest: [] } } as unknown as ReportModelBase;
  expect(() => renderPlotsStaged(model, { png: false })).toThrow(TypeError);
  // with the lanes left running, every pool thread would stay taken and these would never run
  const echoes = await Promise.all(Array.from({ length: workerPoolThreads() * 2 }, (_, i) => runInWorker<string>(ECHO, `x${i}`)));
  expect(echoes).toHaveLength(workerPoolThreads() * 2);
}, 30000);

