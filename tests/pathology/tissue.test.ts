/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
import { join } from 'node:path';
import { generateSyntheticSlide, detectTissue, maskAgreement, maskToPng, otsuThreshold, isInk, type TissueMask } from '@app/pathology';
import { openSlide } from '@app/wsi';
import type { SlideReader } from '@app/wsi';
import { InputError, isInputError } from '@app/core';
import sharp from 'sharp';
import { fixture, readGrey, tmp, rmDir } from './helpers';

const { floor, min } = Math;

/** The generator's ground-truth classes sampled at each tissue-mask pixel centre. */
async function gtAtMask(maskPath: string, cell: number, m: TissueMask): Promise<Uint8Array> {
  const g = await readGrey(maskPath);
  const out = new Uint8Array(m.width * m.height);
  for (let y = 0; y < m.height; y++) {
    const gy = min(g.height - 1, floor(((y + 0.5) * m.downsampleY) / cell));
    for (let x = 0; x < m.width; x++) out[y * m.width + x] = g.data[gy * g.width + min(g.width - 1, floor(((x + 0.5) * m.downsample) / cell))];
  }
  return out;
}

describe('tissue detection', () => {
  const dir = tmp('tissue');
  afterAll(() => rmDir(dir));

  it('Otsu threshold: worked example on a two-level histogram picks the gap', () => {
    const h = new Array(256).fill(0);
    h[20] = 100;
    h[200] = 50;
    const t = otsuThreshold(h);
    expect(t).toBeGreaterThanOrEqual(20);
    expect(t).toBeLessThan(200);
    // all bins <= t form class 0: exactly the mass at 20
  });

  it('ink rule: blue/green/black ink yes; eosin pink, haematoxylin purple, glass no', () => {
    expect(isInk(40, 66, 160)).toBe(true);
    expect(isInk(40, 130, 80)).toBe(true);
    expect(isInk(30, 30, 34)).toBe(true);
    expect(isInk(233, 163, 196)).toBe(false);
    expect(isInk(96, 58, 146)).toBe(false);
    expect(isInk(40, 15, 60)).toBe(false); // very dark but saturated purple haematoxylin
    expect(isInk(243, 242, 240)).toBe(false);
  });

  for (const pen of ['blue', 'green', 'black'] as const) {
    it(`Otsu mask matches the ground-truth tissue (IoU floor) and rejects a ${pen} pen mark`, async () => {
      const s = await generateSyntheticSlide({ path: join(dir, `${pen}.svs`), width: 4096, height: 3072, seed: 21, pen });
      const slide = await openSlide(s.path);
      try {
        const m = await detectTissue(slide, { method: 'otsu' });
        expect(m.width).toBe(Math.round(4096 / m.downsample));
        const gt = await gtAtMask(s.groundTruth.maskPath, s.groundTruth.downsample, m);
        const gtTissue = gt.map((v) => (v >= 1 && v <= 3 ? 1 : 0));
        const { iou, dice } = maskAgreement(m.data, gtTissue);
        console.log(`synthetic 4096x3072, ${pen} pen: Otsu vs ground truth IoU ${iou.toFixed(4)} Dice ${dice.toFixed(4)}`);
        expect(iou).toBeGreaterThan(0.85);
        expect(dice).toBeGreaterThan(0.9);
        let penPx = 0;
        let penAsTissue = 0;
        for (let i = 0; i < gt.length; i++) if (gt[i] === 4) (penPx++, (penAsTissue += m.data[i]));
        expect(penPx).toBeGreaterThan(50);
        expect(penAsTissue / penPx).toBeLessThan(0.02);
        expect(m.inkFraction).toBeGreaterThan(0);
        const png = await maskToPng(m);
        const meta = await sharp(png).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['png', m.width, m.height]);
      } finally {
        await slide.close();
      }
    });
  }

  it('U-Net and Otsu agree on the real SVS (CMU-1-Small-Region): Dice and IoU above a floor', async () => {
    const slide = await openSlide(fixture('CMU-1-Small-Region.svs'));
    try {
      const o = await detectTissue(slide, { method: 'otsu' });
      const u = await detectTissue(slide, { method: 'unet' });
      expect([u.width, u.height]).toEqual([o.width, o.height]);
      expect(u.model).toEqual({ id: 'tissue-unet', version: '0.0.1', sha256: '9588c4a5088eb9405ae12a37a8ce19fd1c56017e5d929ede79dfd868e571516d' });
      const a = maskAgreement(o.data, u.data);
      console.log(`CMU-1-Small-Region.svs U-Net vs Otsu at ${o.width}x${o.height} (downsample ${o.downsample.toFixed(2)}): Dice ${a.dice.toFixed(4)} IoU ${a.iou.toFixed(4)}; tissue Otsu ${o.tissueFraction.toFixed(3)} U-Net ${u.tissueFraction.toFixed(3)}`);
      expect(a.dice).toBeGreaterThan(0.85);
      expect(a.iou).toBeGreaterThan(0.75);
      expect(o.tissueFraction).toBeGreaterThan(0.2);
      expect(o.tissueFraction).toBeLessThan(0.6);
    } finally {
      await slide.close();
    }
  });

  it('bad slides: the reader InputError propagates unchanged', async () => {
    // unreadable.svs opens (its header is fine) but its tile is corrupt: the InputError surfaces from our step
    const err = await openSlide(fixture('unreadable.svs'))
      .then((s) => detectTissue(s).finally(() => s.close()))
      .catch((e: unknown) => e);
    expect(isInputError(err)).toBe(true);
    expect((err as InputError).message).toMatch(/JPEG/);
    const failing = {
      format: 'generic-tiff',
      levels: [{ width: 1000, height: 800, downsample: 1, tileWidth: 256, tileHeight: 256 }],
      mpp: null,
      objectivePower: null,
      properties: {},
      associatedImageNames: [],
      readAssociatedImage: async () => {
        throw new Error('unused');
      },
      readRegion: async () => {
        throw new InputError('wsi.truncated', 'tile 3 lies past the end of the file');
      },
      getBestLevelForDownsample: () => 0,
      close: async () => undefined,
    } satisfies SlideReader;
    await expect(detectTissue(failing)).rejects.toMatchObject({ name: 'InputError', code: 'wsi.truncated' });
  });
});
