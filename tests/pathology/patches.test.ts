import { join } from 'node:path';
import { generateSyntheticSlide, detectTissue, extractPatches, planPatches, type TissueMask, type SyntheticSlide } from '@app/pathology';
import { openSlide, type SlideReader } from '@app/wsi';
import { fixture, meanAbsDiff, openslideRegion, readGrey, tmp, rmDir } from './helpers';

const { floor, ceil, min, round } = Math;

const fullMask = (slide: SlideReader): TissueMask => {
  const w = ceil(slide.levels[0].width / 16);
  const h = ceil(slide.levels[0].height / 16);
  return { width: w, height: h, data: new Uint8Array(w * h).fill(1), downsample: slide.levels[0].width / w, downsampleY: slide.levels[0].height / h, method: 'otsu', tissueFraction: 1, threshold: 0 };
};

/** 2x2 box average of an RGB image (independent downscale). */
function box2(d: Uint8Array, w: number, h: number): Uint8Array {
  const o = new Uint8Array((w / 2) * (h / 2) * 3);
  for (let y = 0; y < h / 2; y++)
    for (let x = 0; x < w / 2; x++)
      for (let c = 0; c < 3; c++) {
        const a = (i: number, j: number) => d[((2 * y + j) * w + 2 * x + i) * 3 + c];
        o[(y * (w / 2) + x) * 3 + c] = round((a(0, 0) + a(1, 0) + a(0, 1) + a(1, 1)) / 4);
      }
  return o;
}

describe('patch extraction', () => {
  const dir = tmp('patch');
  afterAll(() => rmDir(dir));
  let fine: SyntheticSlide; // 0.25 µm/px, levels 1 and 4: 0.5 µm/px needs resampling
  let slide: SlideReader;
  beforeAll(async () => {
    fine = await generateSyntheticSlide({
      path: join(dir, 'fine.svs'), width: 3072, height: 2048, seed: 4, mpp: 0.25, appMag: 40, levelDownsamples: [1, 4],
      fiducial: { xUm: 70, yUm: 70, sideUm: 40 },
    });
    slide = await openSlide(fine.path);
  });
  afterAll(() => slide.close());

  it('a known feature has its physical size at the target MPP (40 µm square = 80 px at 0.5 µm/px), via resampling', async () => {
    const plan = planPatches(slide, fullMask(slide), { mpp: 0.5, size: 128, batch: 4, minTissueFraction: 0 });
    expect(plan.resampled).toBe(true); // downsample 2 is not a level
    expect(plan.level).toBe(0);
    expect(plan.level0Size).toBe(256);
    let found = false;
    for await (const b of extractPatches(slide, fullMask(slide), { mpp: 0.5, size: 128, batch: 4, minTissueFraction: 0 })) {
      const k = b.coords.findIndex((c) => c.x === 256 && c.y === 256);
      if (k < 0) continue;
      found = true;
      const px = (x: number, y: number) => b.tensor[k * 128 * 128 * 3 + (y * 128 + x) * 3];
      // the square spans level-0 px 280..440 -> patch px 12..92; measure the dark run through its middle row and column
      let runX = 0;
      let runY = 0;
      for (let x = 0; x < 128; x++) if (px(x, 52) < 0.2) runX++;
      for (let y = 0; y < 128; y++) if (px(52, y) < 0.2) runY++;
      expect(Math.abs(runX - 80)).toBeLessThanOrEqual(1);
      expect(Math.abs(runY - 80)).toBeLessThanOrEqual(1);
      expect(px(10, 52)).toBeGreaterThan(0.8); // glass just left of it
      break;
    }
    expect(found).toBe(true);
  });

  it('resampled patches match OpenSlide level-0 pixels box-averaged 2x2 (independent reference)', async () => {
    const mask = await detectTissue(slide);
    const it = extractPatches(slide, mask, { mpp: 0.5, size: 64, batch: 3 });
    const b = (await it.next()).value!;
    await it.return(undefined);
    const c = b.coords[1];
    const ref = await openslideRegion(fine.path, 0, c.x, c.y, 128, 128);
    const ours = Array.from(b.tensor.subarray(64 * 64 * 3, 2 * 64 * 64 * 3), (v: number) => v * 255);
    expect(meanAbsDiff(ours, box2(ref.data, 128, 128))).toBeLessThan(6);
  });

  it('reads directly from a level whose downsample matches (no resampling) and matches OpenSlide there', async () => {
    const s = await generateSyntheticSlide({ path: join(dir, 'direct.svs'), width: 2048, height: 2048, seed: 9, mpp: 0.5, levelDownsamples: [1, 4] });
    const r = await openSlide(s.path);
    try {
      const mask = await detectTissue(r);
      const plan = planPatches(r, mask, { mpp: 2, size: 32, batch: 8 });
      expect(plan.resampled).toBe(false);
      expect(plan.level).toBe(1);
      const b = (await extractPatches(r, mask, { mpp: 2, size: 32, batch: 8 }).next()).value!;
      const c = b.coords[0];
      const ref = await openslideRegion(s.path, 1, c.x, c.y, 32, 32);
      expect(meanAbsDiff(Array.from(b.tensor.subarray(0, 32 * 32 * 3), (v: number) => v * 255), ref.data)).toBeLessThan(2);
    } finally {
      await r.close();
    }
  });

  it('patches lie only on tissue: exactly the grid cells whose mask fraction reaches the threshold, and on ground-truth tissue', async () => {
    const mask = await detectTissue(slide);
    const opts = { mpp: 0.5, size: 64, batch: 7, minTissueFraction: 0.6 };
    // independent count: grid of 128 level-0 px, mask pixels covered by each cell
    const L = 128;
    const want: string[] = [];
    for (let j = 0; j < floor(fine.height / L); j++)
      for (let i = 0; i < floor(fine.width / L); i++) {
        let n = 0;
        let t = 0;
        for (let y = floor((j * L) / mask.downsampleY); y < min(mask.height, ceil(((j + 1) * L) / mask.downsampleY)); y++)
          for (let x = floor((i * L) / mask.downsample); x < min(mask.width, ceil(((i + 1) * L) / mask.downsample)); x++, n++) t += mask.data[y * mask.width + x];
        if (n && t / n >= 0.6) want.push(`${i * L},${j * L}`);
      }
    const gt = await readGrey(fine.groundTruth.maskPath);
    const got: string[] = [];
    let batches = 0;
    for await (const b of extractPatches(slide, mask, opts)) {
      batches++;
      expect(b.coords.length).toBeLessThanOrEqual(7);
      expect(b.tensor.length).toBe(b.coords.length * 64 * 64 * 3);
      expect(b.dims).toEqual([b.coords.length, 64, 64, 3]);
      for (const c of b.coords) {
        got.push(`${c.x},${c.y}`);
        expect(c.tissueFraction).toBeGreaterThanOrEqual(0.6);
        const g = gt.data[floor((c.y + 64) / 16) * gt.width + floor((c.x + 64) / 16)];
        expect(g >= 1 && g <= 3).toBe(true); // patch centre on true tissue
      }
      let lo = 1;
      let hi = 0;
      for (const v of b.tensor) (lo = min(lo, v)), (hi = v > hi ? v : hi);
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    expect(got).toEqual(want);
    expect(got.length).toBeGreaterThan(20);
    expect(batches).toBe(ceil(got.length / 7));
  });

  it('refuses a slide without MPP with InputError', async () => {
    const real = await openSlide(fixture('boxes.tiff'));
    // the same slide as a scanner that recorded no resolution
    const r = new Proxy(real, { get: (t, k) => (k === 'mpp' ? null : Reflect.get(t, k)) });
    try {
      expect(r.mpp).toBeNull();
      expect(() => planPatches(r, fullMask(r), { mpp: 0.5, size: 32, batch: 2 })).toThrow(expect.objectContaining({ name: 'InputError', code: 'wsi.no-mpp' }));
    } finally {
      await real.close();
    }
  });
});
