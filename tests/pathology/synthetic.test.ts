import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { generateSyntheticSlide, SYNTH_CLASSES, type SyntheticSlide } from '@app/pathology';
import { openSlide } from '@app/wsi';
import { sha256Hex } from '@app/core';
import { openslideAssociated, openslideProps, openslideRegion, readGrey, tmp, rmDir } from './helpers';

const { min, max, floor } = Math; // local aliases: global lookups are slow in jest's sandbox

describe('synthetic slide generator', () => {
  const dir = tmp('syn');
  afterAll(() => rmDir(dir));
  let s: SyntheticSlide;
  beforeAll(async () => {
    s = await generateSyntheticSlide({ path: join(dir, 'a.svs'), width: 3000, height: 2200, seed: 11, mpp: 0.5, appMag: 20 });
  });

  it('opens with OpenSlide as Aperio with MPP, AppMag, levels, and the label listed as an associated image', () => {
    const p = openslideProps(s.path);
    expect(p['openslide.vendor']).toBe('aperio');
    expect(Number(p['openslide.mpp-x'])).toBe(0.5);
    expect(Number(p['openslide.mpp-y'])).toBe(0.5);
    expect(Number(p['openslide.objective-power'])).toBe(20);
    expect(Number(p['openslide.level-count'])).toBe(s.levels.length);
    s.levels.forEach((l, i) => {
      expect(Number(p[`openslide.level[${i}].width`])).toBe(l.width);
      expect(Number(p[`openslide.level[${i}].height`])).toBe(l.height);
    });
    const assoc = openslideAssociated(s.path);
    expect(assoc.label).toEqual([600, 300]);
    expect(assoc.thumbnail).toBeDefined();
  });

  it('opens with our reader; the label carries the fake PHI image, kept out of the levels', async () => {
    const r = await openSlide(s.path);
    try {
      expect(r.format).toBe('aperio-svs');
      expect(r.mpp).toEqual({ x: 0.5, y: 0.5 });
      expect(r.objectivePower).toBe(20);
      expect(r.levels.map((l) => [l.width, l.height, l.downsample])).toEqual(s.levels.map((l) => [l.width, l.height, l.downsample]));
      expect(r.associatedImageNames).toContain('label');
      const label = await r.readAssociatedImage('label');
      expect([label.data[0], label.data[1], label.data[2]]).toEqual(s.labelBackground);
      let dark = 0;
      for (let i = 0; i < label.data.length; i += 3) if (label.data[i] < 80) dark++;
      expect(dark).toBeGreaterThan(1000); // rendered text + barcode
      expect(s.labelText[0]).toMatch(/\^/);
      expect(s.labelText[1]).toMatch(/^MRN \d{8}$/);
    } finally {
      await r.close();
    }
  });

  it('ground-truth fractions are the area fractions of the mask PNG and sum to 1', async () => {
    const m = await readGrey(s.groundTruth.maskPath);
    const c = s.groundTruth.downsample;
    expect([m.width, m.height]).toEqual([Math.ceil(s.width / c), Math.ceil(s.height / c)]);
    const area = new Array(5).fill(0);
    for (let y = 0; y < m.height; y++) {
      for (let x = 0; x < m.width; x++) area[m.data[y * m.width + x]] += Math.min(c, s.width - x * c) * Math.min(c, s.height - y * c);
    }
    const tot = s.width * s.height;
    const f = s.groundTruth.fractions;
    expect(f.background).toBeCloseTo(area[SYNTH_CLASSES.background] / tot, 10);
    expect(f.tumour).toBeCloseTo(area[SYNTH_CLASSES.tumour] / tot, 10);
    expect(f.stroma).toBeCloseTo(area[SYNTH_CLASSES.stroma] / tot, 10);
    expect(f.lymphocytes).toBeCloseTo(area[SYNTH_CLASSES.lymphocytes] / tot, 10);
    expect(f.pen).toBeCloseTo(area[SYNTH_CLASSES.pen] / tot, 10);
    expect(f.background + f.tumour + f.stroma + f.lymphocytes + f.pen).toBeCloseTo(1, 12);
    for (const k of ['tumour', 'stroma', 'lymphocytes', 'pen'] as const) expect(f[k]).toBeGreaterThan(0.005);
  });

  it('pixels (read by OpenSlide) look like the class the mask says: glass bright, ink blue, nuclei-rich classes darker', async () => {
    const l = s.levels.length - 1;
    const lv = s.levels[l];
    const img = await openslideRegion(s.path, l, 0, 0, lv.width, lv.height);
    const m = await readGrey(s.groundTruth.maskPath);
    const sum = Array.from({ length: 5 }, () => [0, 0, 0, 0]);
    for (let y = 0; y < lv.height; y++) {
      for (let x = 0; x < lv.width; x++) {
        const mx = floor(((x + 0.5) * lv.downsample) / s.groundTruth.downsample);
        const my = floor(((y + 0.5) * lv.downsample) / s.groundTruth.downsample);
        // skip pixels near class boundaries (JPEG / averaging mixes them)
        const k = m.data[my * m.width + mx];
        let pure = true;
        for (let dy = -1; dy <= 1 && pure; dy++) for (let dx = -1; dx <= 1; dx++) if (m.data[min(m.height - 1, max(0, my + dy)) * m.width + min(m.width - 1, max(0, mx + dx))] !== k) pure = false;
        if (!pure) continue;
        const o = (y * lv.width + x) * 3;
        sum[k][0] += img.data[o];
        sum[k][1] += img.data[o + 1];
        sum[k][2] += img.data[o + 2];
        sum[k][3]++;
      }
    }
    const mean = sum.map(([r, g, b, n]) => [r / n, g / n, b / n]);
    const bright = (c: number[]) => (c[0] + c[1] + c[2]) / 3;
    expect(sum.every((x) => x[3] > 20)).toBe(true);
    expect(bright(mean[0])).toBeGreaterThan(230); // glass
    expect(mean[4][2]).toBeGreaterThan(mean[4][0] + 60); // blue ink
    expect(bright(mean[1])).toBeLessThan(bright(mean[2])); // tumour darker than stroma
    expect(bright(mean[3])).toBeLessThan(bright(mean[2])); // lymphocytes darker than stroma
    for (const k of [1, 2, 3]) expect(mean[k][0]).toBeGreaterThan(mean[k][1]); // H&E: red > green
  });

  it('is deterministic per seed', async () => {
    const a = await generateSyntheticSlide({ path: join(dir, 'd1.svs'), width: 700, height: 500, seed: 5 });
    const b = await generateSyntheticSlide({ path: join(dir, 'd2.svs'), width: 700, height: 500, seed: 5 });
    const c = await generateSyntheticSlide({ path: join(dir, 'd3.svs'), width: 700, height: 500, seed: 6 });
    expect(sha256Hex(readFileSync(a.path))).toBe(sha256Hex(readFileSync(b.path)));
    expect(sha256Hex(readFileSync(a.groundTruth.maskPath))).toBe(sha256Hex(readFileSync(b.groundTruth.maskPath)));
    expect(sha256Hex(readFileSync(a.path))).not.toBe(sha256Hex(readFileSync(c.path)));
    expect(a.groundTruth.fractions).toEqual(b.groundTruth.fractions);
  });

  it('rejects absurd options with InputError', async () => {
    await expect(generateSyntheticSlide({ path: join(dir, 'x.svs'), width: 10, height: 500 })).rejects.toMatchObject({ name: 'InputError', code: 'synthetic.bad-option' });
    await expect(generateSyntheticSlide({ path: join(dir, 'x.svs'), width: 600, height: 500, levelDownsamples: [1, 3] })).rejects.toMatchObject({ code: 'synthetic.bad-option' });
  });
});
