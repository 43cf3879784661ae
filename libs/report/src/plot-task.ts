/**
 * Worker-thread task (libs/core's shared pool): one plot's Vega-Lite spec laid out to SVG (ids normalised to the plot's
 * name) and, when asked, rasterised to PNG. renderPlotsStaged sends every plot here, so that the plots are drawn on
 * the pool's threads while the caller's thread computes the rest of the report. Same bytes as on any thread.
 */
import type { TopLevelSpec } from 'vega-lite';
import { moveResult } from '@app/core';
import { renderSvg, svgToPng } from './plots';

export interface PlotTask {
  spec: TopLevelSpec;
  name: string;
  png: boolean;
}

export interface PlotTaskResult {
  svg: string;
  png?: Uint8Array;
}

export default async function plotTask(t: PlotTask): Promise<PlotTaskResult> {
  const svg = await renderSvg(t.spec, t.name);
  if (!t.png) return { svg };
  const png = await svgToPng(svg);
  const bytes = new Uint8Array(png.buffer, png.byteOffset, png.length);
  return moveResult({ svg, png: bytes }, [png.buffer]);
}
