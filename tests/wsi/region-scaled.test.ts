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
import { openSlide, resizeRgb, type SlideReader } from '@app/wsi';
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
