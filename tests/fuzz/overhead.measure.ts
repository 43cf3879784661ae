/**
 * Cost of the decoder sandbox on valid slides: the same reads with `sandbox: true` (tiles decoded in
 * child processes) and `sandbox: false` (in-process), alternated, cold tile cache each time, medians.
 *   npx swc libs tests/fuzz -d dist-fuzz -q && node dist-fuzz/tests/fuzz/overhead.measure.js
 * Ends with one JSON line.
 */
import { join } from 'node:path';
import { openSlide } from '@app/wsi';
import { sandbox } from '@app/core';
import { FIXTURES } from './corpus';

const CASES: Array<{ name: string; file: string; level: number; w: number; h: number }> = [
  { name: 'svs_jpeg_level0_2220x2967', file: 'CMU-1-Small-Region.svs', level: 0, w: 2220, h: 2967 },
  { name: 'j2k_level0_1024', file: 'cmu_jp2k.tif', level: 0, w: 1024, h: 1024 },
  { name: 'lzw_ycbcr_strips_whole', file: 'subsampled.tif', level: 0, w: 0, h: 0 },
];

async function once(file: string, level: number, w: number, h: number, sb: boolean): Promise<{ ms: number; tiles: number }> {
  const s = await openSlide(join(FIXTURES, 'wsi', file), { sandbox: sb });
  const L = s.levels[level];
  const W = w || L.width;
  const H = h || L.height;
  const t0 = performance.now();
  await s.readRegion(level, 0, 0, Math.min(W, L.width), Math.min(H, L.height));
  const ms = performance.now() - t0;
  const tiles = Math.ceil(Math.min(W, L.width) / L.tileWidth) * Math.ceil(Math.min(H, L.height) / L.tileHeight);
  await s.close();
  return { ms, tiles };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const out: Record<string, unknown> = {};
  // warm the sandbox (children started, codecs loaded) so steady-state costs are compared
  const t0 = performance.now();
  await once('small.svs', 0, 0, 0, true);
  out.sandbox_cold_start_ms = Math.round(performance.now() - t0);
  for (const c of CASES) {
    const on: number[] = [];
    const off: number[] = [];
    let tiles = 0;
    for (let r = 0; r < 5; r++) {
      const a = await once(c.file, c.level, c.w, c.h, false);
      const b = await once(c.file, c.level, c.w, c.h, true);
      off.push(a.ms);
      on.push(b.ms);
      tiles = a.tiles;
    }
    out[c.name] = { tiles, in_process_ms: Math.round(median(off)), sandbox_ms: Math.round(median(on)), ratio: +(median(on) / median(off)).toFixed(2) };
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
  await sandbox().close();
}

void main();
