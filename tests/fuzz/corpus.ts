/** Seed inputs of the fuzzer: the repository's slide and DICOM fixtures plus small synthetic TIFFs (LZW, PackBits, Deflate, JPEG) made with sharp. */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '@app/core';
import { makeSeed, type Seed } from './mutate';

/** tests/fixtures, from sources (jest) or from the compiled tree (dist/tests/fuzz). */
export const FIXTURES = existsSync(join(__dirname, '..', 'fixtures', 'wsi')) ? join(__dirname, '..', 'fixtures') : join(repoRoot(), 'tests', 'fixtures');

const SLIDE_FIXTURES = ['small.svs', 'boxes.tiff', 'subsampled.tif', 'CMU-1-Small-Region.svs', 'cmu_jp2k.tif', 'multi-channel-z-series.ome.tif', 'boxes_0.dcm', 'boxes_1.dcm'];

function dicomFixtureFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.dcm') || /^\d+$/.test(e) || !e.includes('.')) out.push(p);
    }
  };
  walk(join(FIXTURES, 'dicom'));
  return out.filter((p) => !p.includes('/invalid/') && statSync(p).size <= 2_000_000);
}

/** A deterministic synthetic image (gradients and stripes) for the synthetic TIFF seeds. */
function pattern(w: number, h: number, channels: 1 | 3): Buffer {
  const b = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < channels; c++) b[(y * w + x) * channels + c] = (x * (c + 1) + y * 3 + ((x >> 3) & 1) * 60) & 255;
  return b;
}

async function synthetic(): Promise<Seed[]> {
  const rgb = () => sharp(pattern(192, 144, 3), { raw: { width: 192, height: 144, channels: 3 } });
  const grey = () => sharp(pattern(160, 120, 1), { raw: { width: 160, height: 120, channels: 1 } });
  const specs: Array<[string, () => Promise<Buffer>]> = [
    ['synthetic-lzw-strips.tif', () => rgb().tiff({ compression: 'lzw' }).toBuffer()],
    ['synthetic-lzw-pred-grey.tif', () => grey().tiff({ compression: 'lzw', predictor: 'horizontal' }).toBuffer()],
    ['synthetic-packbits.tif', () => rgb().tiff({ compression: 'packbits' }).toBuffer()],
    ['synthetic-deflate-tiled-pyramid.tif', () => rgb().tiff({ compression: 'deflate', predictor: 'horizontal', tile: true, tileWidth: 64, tileHeight: 64, pyramid: true }).toBuffer()],
    ['synthetic-jpeg-tiled-pyramid.tif', () => rgb().tiff({ compression: 'jpeg', quality: 80, tile: true, tileWidth: 64, tileHeight: 64, pyramid: true }).toBuffer()],
    ['synthetic-none-strips.tif', () => rgb().tiff({ compression: 'none' }).toBuffer()],
  ];
  const out: Seed[] = [];
  for (const [name, make] of specs) out.push(makeSeed(name, 'slide', await make(), '.tif'));
  return out;
}

/** All seeds, in a fixed order. `which` restricts to slides or DICOM. */
export async function buildCorpus(which: 'all' | 'slide' | 'dicom' = 'all'): Promise<Seed[]> {
  const seeds: Seed[] = [];
  if (which !== 'dicom') {
    for (const f of SLIDE_FIXTURES) seeds.push(makeSeed(f, 'slide', readFileSync(join(FIXTURES, 'wsi', f)), f.endsWith('.dcm') ? '.dcm' : '.tif'));
    seeds.push(...(await synthetic()));
  }
  if (which !== 'slide') for (const p of dicomFixtureFiles()) seeds.push(makeSeed(p.slice(FIXTURES.length + 1), 'dicom', readFileSync(p), '.dcm'));
  return seeds;
}
