/**
 * Worker-thread task (libs/core's shared pool): a plot lane. It draws the plots posted on its MessagePort, one at a
 * time, for as long as the report is being made: each plot's Vega-Lite spec laid out to SVG (ids normalised to the
 * plot's name) and, when asked, drawn to PNG from the same scene (renderPlot), the result posted back on the port (the PNG's memory moved, not
 * copied). Every plot is posted to every lane with a claim cell in shared memory; the first lane to reach it takes it
 * (compare-and-swap) and the others skip it, so the lanes share the plots as one queue would, with no help from the
 * thread that posted them (see PlotLanes in plots.ts for why). Same bytes as on any thread.
 */
import type { MessagePort } from 'node:worker_threads';
import type { TopLevelSpec } from 'vega-lite';
import { renderPlot } from './plots';

export interface PlotTask {
  spec: TopLevelSpec;
  name: string;
  png: boolean;
}

export interface PlotTaskResult {
  svg: string;
  png?: Uint8Array;
}

/** What a lane reads: a plot to draw (`claim`: one Int32 over a SharedArrayBuffer, 0 until a lane takes it) or the end. */
export type PlotLaneMessage = { id: number; claim: Int32Array; task: PlotTask } | { end: true };

/** What a lane posts back per plot it took. */
export type PlotLaneResult = { id: number; svg: string; png?: Uint8Array } | { id: number; error: { message: string; code?: string } };

/** One plot: SVG, and PNG when asked (renderPlot: one Vega layout for both). */
export async function drawPlot(t: PlotTask): Promise<PlotTaskResult> {
  const { svg, png } = await renderPlot(t.spec, t.name, { png: t.png });
  return png ? { svg, png: new Uint8Array(png.buffer, png.byteOffset, png.length) } : { svg };
}

/** The lane: resolves with the ids of the plots it drew once `{ end: true }` has been read (its port is then closed). */
export default function plotLane(t: { port: MessagePort }): Promise<number[]> {
  return new Promise((resolve) => {
    const drawn: number[] = [];
    let chain = Promise.resolve();
    t.port.on('message', (m: PlotLaneMessage) => {
      chain = chain.then(async () => {
        if ('end' in m) {
          t.port.close();
          resolve(drawn);
          return;
        }
        if (Atomics.compareExchange(m.claim, 0, 0, 1) !== 0) return; // another lane has it
        let reply: PlotLaneResult;
        try {
          reply = { id: m.id, ...(await drawPlot(m.task)) };
        } catch (e) {
          const err = e as { message?: string; code?: unknown; name?: string };
          reply = { id: m.id, error: { message: `plot ${m.task.name}: ${String(err?.message ?? e)}`, ...(err?.name === 'InputError' && typeof err.code === 'string' ? { code: err.code } : {}) } };
        }
        drawn.push(m.id);
        const png = 'png' in reply && reply.png ? reply.png : undefined;
        t.port.postMessage(reply, png ? [png.buffer as ArrayBuffer] : []);
      });
    });
  });
}
