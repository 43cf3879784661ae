/**
 * readRegionScaled (TIFF readers): a region decoded, painted and resized in one decoder-sandbox task, so only the
 * resized pixels cross back. It must give exactly resizeRgb(readRegion(...)) on every TIFF flavour (JPEG RGB, Deflate
 * strips with a predictor, JPEG 2000, subsampled YCbCr + LZW strips, OME-TIFF), with the sandbox and without, for
 * regions inside, across edges and partly outside the slide; and a block that kills the decoder must still be named.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { configureSandbox, sandboxStats } from '@app/core';
import { openSlide, regionFromBlocks, regionTaskStats, resizeRgb, type RegionTask, type SlideReader } from '@app/wsi';
import { fx } from './helpers';

/** [file, level, x, y (level-0 px), w, h (level px), outW, outH] */
const CASES: [string, number, number, number, number, number, number, number][] = [
  ['CMU-1-Small-Region.svs', 0, 0, 0, 2220, 2967, 1110, 1484], // the whole level at half size
  ['CMU-1-Small-Region.svs', 0, 200, 230, 517, 301, 173, 100], // across tile borders, uneven factor
  ['CMU-1-Small-Region.svs', 0, 2000, 2800, 400, 300, 100, 75], // partly outside (white)
  ['boxes.tiff', 1, -100, -50, 200, 120, 70, 41], // level 1, before the origin
  ['boxes.tiff', 0, 0, 0, 300, 200, 150, 100],
  ['cmu_jp2k.tif', 0, 100, 100, 600, 500, 300, 250],
  ['subsampled.tif', 0, 3, 5, 60, 40, 30, 20],
  ['multi-channel-z-series.ome.tif', 0, 0, 0, 439, 167, 200, 80],
];

describe.each([true, false])('sandbox %s', (sandbox) => {
  test.each(CASES)('%s level %i at (%i, %i) %ix%i -> %ix%i: the same bytes as readRegion + resizeRgb', async (file, level, x, y, w, h, outW, outH) => {
    const s: SlideReader = await openSlide(fx(file), { sandbox });
    try {
      expect(s.readRegionScaled).toBeDefined();
      const tasks = sandboxStats.tasks;
      const got = await s.readRegionScaled!(level, x, y, w, h, outW, outH);
      // one sandbox task for the whole region (none without the sandbox)
      expect(sandboxStats.tasks - tasks).toBe(sandbox ? 1 : 0);
      const want = await resizeRgb(await s.readRegion(level, x, y, w, h), outW, outH);
      expect([got.width, got.height, got.channels]).toEqual([outW, outH, 3]);
      expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0);
    } finally {
      await s.close();
    }
  });
});

test('bad arguments are refused as readRegion refuses them', async () => {
  const s = await openSlide(fx('CMU-1-Small-Region.svs'));
  try {
    await expect(s.readRegionScaled!(7, 0, 0, 10, 10, 5, 5)).rejects.toThrow(/readRegionScaled: level 7 does not exist/);
    await expect(s.readRegionScaled!(0, 0.5, 0, 10, 10, 5, 5)).rejects.toThrow(/x=0.5 must be an integer/);
    await expect(s.readRegionScaled!(0, 0, 0, 10, 10, 0, 5)).rejects.toThrow(/size 0x5 must be positive/);
  } finally {
    await s.close();
  }
});

describe('a block that kills the decoder', () => {
  const ABORT = Buffer.from('REGION-SCALED-ABORT-MARKER');
  beforeAll(() => {
    process.env.SANDBOX_FAULT_INJECTION = JSON.stringify([{ marker: ABORT.toString('hex'), fault: 'abort' }]);
    configureSandbox({ timeoutMs: 5000 }); // fresh children that see the variable
  });
  afterAll(() => {
    delete process.env.SANDBOX_FAULT_INJECTION;
    configureSandbox({});
  });

  test('the region task crashes; the region is read again block by block and the error names the block', async () => {
    const w = 64;
    const h = 48;
    const px = Buffer.alloc(w * h * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 7) & 255;
    ABORT.copy(px, 3000);
    const dir = mkdtempSync(join(tmpdir(), 'region-crash-'));
    try {
      const file = join(dir, 'crash.tif');
      writeFileSync(file, await sharp(px, { raw: { width: w, height: h, channels: 3 } }).tiff({ compression: 'none' }).toBuffer());
      const s = await openSlide(file, { sandbox: true });
      try {
        await expect(s.readRegionScaled!(0, 0, 0, w, h, 32, 24)).rejects.toMatchObject({
          code: 'sandbox.crashed',
          message: expect.stringMatching(/crash\.tif: decoding strip \d+ of level 0 \(none\) crashed the decoder process \(signal SIGABRT/),
        });
      } finally {
        await s.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('overlapping regions (the bands of a slide map)', () => {
  test("the next band reuses the last band's bottom block row, with the same bytes as reading it afresh", async () => {
    const s = await openSlide(fx('CMU-1-Small-Region.svs'), { sandbox: false });
    try {
      // two bands of the whole width at half size that overlap by 48 px, as classifySlide's bands do
      const before = { ...regionTaskStats };
      const a = await s.readRegionScaled!(0, -16, -16, 2252, 616, 1126, 308);
      const b = await s.readRegionScaled!(0, -16, 552, 2252, 616, 1126, 308);
      const reused = regionTaskStats.reused - before.reused;
      expect(reused).toBeGreaterThan(0);
      for (const [got, y] of [[a, -16], [b, 552]] as const) {
        const want = await resizeRgb(await s.readRegion(0, -16, y, 2252, 616), 1126, 308);
        expect(Buffer.compare(Buffer.from(got.data), Buffer.from(want.data))).toBe(0);
      }
    } finally {
      await s.close();
    }
  });

  test('a kept block is used only for the same raw bytes and decoding parameters', async () => {
    // an uncompressed 2 x 2-block level: the block at (0, 1) is the last row of the first region and the first of the next
    const info: RegionTask['info'] = {
      width: 8, height: 8, tiled: true, tileWidth: 4, tileHeight: 4, compression: 1, photometric: 2, samplesPerPixel: 3, bitsPerSample: [8, 8, 8],
      planar: 1, predictor: 1, subsampling: [1, 1], lumaCoefs: [0.299, 0.587, 0.114], refBW: [0, 255, 128, 255, 128, 255], signed: false,
    };
    const level = { width: 8, height: 8, tileWidth: 4, tileHeight: 4, tilesAcross: 2, tilesDown: 2 };
    const block = (tx: number, ty: number, v: number) => ({ tx, ty, h: 4, what: `tile ${ty * 2 + tx}`, raw: new Uint8Array(48).fill(v) });
    const region = (blocks: RegionTask['blocks'], ly: number, inf = info): RegionTask => ({ info: inf, level, lx: 0, ly, w: 4, h: 4, outW: 4, outH: 4, blocks });
    const first = await regionFromBlocks(region([block(0, 0, 10), block(0, 1, 20)], 2)); // rows 2..5: blocks (0,0) and (0,1)
    expect([first[0], first[2 * 12]]).toEqual([10, 20]);
    let before = regionTaskStats.reused;
    // the same bytes at (0, 1): reused
    expect((await regionFromBlocks(region([block(0, 1, 20)], 4)))[0]).toBe(20);
    expect(regionTaskStats.reused - before).toBe(1);
    // other bytes at (0, 1): decoded, never the kept pixels
    before = regionTaskStats.reused;
    expect((await regionFromBlocks(region([block(0, 1, 30)], 4)))[0]).toBe(30);
    expect(regionTaskStats.reused - before).toBe(0);
    // the same bytes with other decoding parameters (signed samples: + 128): decoded again
    before = regionTaskStats.reused;
    expect((await regionFromBlocks(region([block(0, 1, 30)], 4, { ...info, signed: true })))[0]).toBe(30 ^ 0x80);
    expect(regionTaskStats.reused - before).toBe(0);
  });
});
