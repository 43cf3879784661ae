/**
 * Training / validation / evaluation tiles for the H&E tile classifier, cut from synthetic slides made by the
 * repository's generator (libs/pathology generateSyntheticSlide), read back through the production reader and the
 * production tile geometry (libs/pathology/src/ai.ts tileGrid / readTileBand), so training sees exactly what
 * classifySlide feeds the model.
 *
 *   node -r @swc-node/register models/he-tile-classifier/0.1.0/train/make_data.ts [outDir=/tmp/he-data] [split...]
 *
 * Splits (seeds never overlap; evaluation seeds 9000-9009 are never used for training):
 *   train: seeds 1-160, random size 1024-3072 px, mpp U(0.4, 0.6), cellSize 16 (80 %) or 32, random pen colour;
 *          pure-glass cores subsampled to 15 %.
 *   val:   seeds 500-511, same distribution, every core kept (held-out tile accuracy).
 *   eval:  seeds 9000-9009, 3072 x 3072 px, mpp 0.45 / 0.5 / 0.55 cycling, cellSize 16, every core kept, with the
 *          generator's ground-truth fractions (slide-level fraction errors).
 *
 * Per split folder: tiles.u8 (N x T x T x 3 RGB, HWC), labels.f32 (N x 5 soft labels: fraction of the core's
 * area per class, class order background, tumour, stroma, lymphocytes, pen = SYNTH_CLASSES values), weight.f32
 * (N: level-0 area of the core inside the slide / core area), slide.i32 (N: index into meta.slides), meta.json.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from '@app/core';
import { openSlide } from '@app/wsi';
import { generateSyntheticSlide } from '../../../../libs/pathology/src/synthetic';
import { readTileBand, tileBandRows, tileGrid } from '../../../../libs/pathology/src/ai';

const TARGET_MPP = 1.0;
const TILE = 32;
const STRIDE = 16;
const CLASSES = ['background', 'tumour', 'stroma', 'lymphocytes', 'pen'];

interface SlideCfg {
  seed: number;
  width: number;
  height: number;
  mpp: number;
  cellSize: number;
  pen: false | 'blue' | 'green' | 'black';
}

function randomCfg(seed: number): SlideCfg {
  const r = mulberry32(seed * 9973 + 11);
  const pens = ['blue', 'green', 'black', false] as const;
  return {
    seed,
    width: 1024 + Math.floor(r() * 2049),
    height: 1024 + Math.floor(r() * 2049),
    mpp: Math.round((0.4 + 0.2 * r()) * 1000) / 1000,
    cellSize: r() < 0.8 ? 16 : 32,
    pen: pens[Math.floor(r() * 4)],
  };
}

const SPLITS: Record<string, { cfgs: SlideCfg[]; keepGlass: number }> = {
  train: { cfgs: Array.from({ length: 160 }, (_, i) => randomCfg(1 + i)), keepGlass: 0.15 },
  val: { cfgs: Array.from({ length: 12 }, (_, i) => randomCfg(500 + i)), keepGlass: 1 },
  eval: {
    cfgs: Array.from({ length: 10 }, (_, i) => ({ seed: 9000 + i, width: 3072, height: 3072, mpp: [0.45, 0.5, 0.55][i % 3], cellSize: 16, pen: 'blue' as const })),
    keepGlass: 1,
  },
};

async function makeSplit(outDir: string, split: string): Promise<void> {
  const { cfgs, keepGlass } = SPLITS[split];
  const dir = join(outDir, split);
  mkdirSync(dir, { recursive: true });
  const tmp = join(outDir, 'slides');
  mkdirSync(tmp, { recursive: true });
  const fTiles = openSync(join(dir, 'tiles.u8'), 'w');
  const fLab = openSync(join(dir, 'labels.f32'), 'w');
  const fW = openSync(join(dir, 'weight.f32'), 'w');
  const fS = openSync(join(dir, 'slide.i32'), 'w');
  const slides: unknown[] = [];
  let total = 0;
  const t0 = Date.now();
  for (const [si, cfg] of cfgs.entries()) {
    const path = join(tmp, `s${cfg.seed}.svs`);
    const s = await generateSyntheticSlide({ path, width: cfg.width, height: cfg.height, seed: cfg.seed, mpp: cfg.mpp, cellSize: cfg.cellSize, pen: cfg.pen });
    const gt = s.groundTruth;
    const mask = await sharp(gt.maskPath).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const mw = mask.info.width;
    const md = mask.data;
    const slide = await openSlide(path);
    const g = tileGrid(slide, { targetMpp: TARGET_MPP, tileSize: TILE, stride: STRIDE, classes: CLASSES, batchSize: 256 });
    const rnd = mulberry32(cfg.seed * 31337 + 7);
    const D = g.downsample;
    const cs = gt.downsample;
    let kept = 0;
    const rows = tileBandRows(g, slide.levels[g.level].downsample); // same bands as classifySlide
    for (let j0 = 0; j0 < g.ny; j0 += rows) {
      const j1 = Math.min(g.ny, j0 + rows);
      const band = await readTileBand(slide, g, j0, j1);
      const tiles: Buffer[] = [];
      const labs: number[] = [];
      const ws: number[] = [];
      for (let j = j0; j < j1; j++) {
        const y0 = j * D;
        const y1 = Math.min(s.height, (j + 1) * D);
        for (let i = 0; i < g.nx; i++) {
          const x0 = i * D;
          const x1 = Math.min(s.width, (i + 1) * D);
          // soft label: area of the core (inside the slide) per mask class
          const lab = [0, 0, 0, 0, 0];
          let a = 0;
          for (let cy = Math.floor(y0 / cs); cy * cs < y1 && cy < gt.maskHeight; cy++) {
            const oy = Math.min(y1, Math.min((cy + 1) * cs, s.height)) - Math.max(y0, cy * cs);
            if (oy <= 0) continue;
            for (let cx = Math.floor(x0 / cs); cx * cs < x1 && cx < mw; cx++) {
              const ox = Math.min(x1, Math.min((cx + 1) * cs, s.width)) - Math.max(x0, cx * cs);
              if (ox <= 0) continue;
              lab[md[cy * mw + cx]] += ox * oy;
              a += ox * oy;
            }
          }
          if (a <= 0) continue;
          for (let c = 0; c < 5; c++) lab[c] /= a;
          if (lab[0] > 0.999 && keepGlass < 1 && rnd() >= keepGlass) continue;
          const tile = Buffer.alloc(TILE * TILE * 3);
          for (let y = 0; y < TILE; y++) {
            const src = (((j - j0) * STRIDE + y) * band.width + i * STRIDE) * 3;
            tile.set(band.data.subarray(src, src + TILE * 3), y * TILE * 3);
          }
          tiles.push(tile);
          labs.push(...lab);
          ws.push(a / (D * D));
        }
      }
      if (tiles.length) {
        writeSync(fTiles, Buffer.concat(tiles));
        writeSync(fLab, Buffer.from(new Float32Array(labs).buffer));
        writeSync(fW, Buffer.from(new Float32Array(ws).buffer));
        writeSync(fS, Buffer.from(new Int32Array(tiles.length).fill(si).buffer));
        kept += tiles.length;
      }
    }
    await slide.close();
    slides.push({ ...cfg, nx: g.nx, ny: g.ny, downsample: D, tiles: kept, fractions: gt.fractions });
    total += kept;
    rmSync(path, { force: true });
    rmSync(gt.maskPath, { force: true });
    if (si % 10 === 0 || si === cfgs.length - 1)
      console.log(`${split}: slide ${si + 1}/${cfgs.length} seed ${cfg.seed} ${cfg.width}x${cfg.height} mpp ${cfg.mpp}: ${kept} tiles (total ${total}, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  [fTiles, fLab, fW, fS].forEach((f) => closeSync(f));
  writeFileSync(
    join(dir, 'meta.json'),
    JSON.stringify({ split, n: total, tile: TILE, stride: STRIDE, targetMpp: TARGET_MPP, classes: CLASSES, keepGlass, slides }, null, 1),
  );
}

async function main() {
  const outDir = process.argv[2] ?? '/tmp/he-data';
  const splits = process.argv.length > 3 ? process.argv.slice(3) : ['val', 'eval', 'train'];
  for (const sp of splits) await makeSplit(outDir, sp);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
