/**
 * Reader correctness against independent readers:
 * - OpenSlide 3.4.1 (openslide-tools): geometry, properties and pixels for SVS and pyramidal TIFF;
 * - libvips (vips tiffload) and Pillow (python3-pil, libtiff RGBA path) where OpenSlide 3.4.1 cannot read
 *   (JPEG 2000 compression 33004, stripped YCbCr, OME);
 * - DICOM WSI vs OpenSlide's read of small.svs, from which boxes_0.dcm was converted without re-encoding.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { openSlide, type SlideReader } from '@app/wsi';
import { crop, decodeRgb, diff, fx, openslideProps, openslideRegion, tempDir, tool } from './helpers';
import { half, pattern, writeTiff } from './tiff-writer';

/** Pinned tolerances (measured, see README): identical libjpeg-turbo => exact for JPEG tiles. */
const EXACT = { mean: 0, max: 0 };

async function withSlide<T>(p: string | string[], fn: (s: SlideReader) => Promise<T>): Promise<T> {
  const s = await openSlide(p);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const num = (s: string | undefined) => Number(s);

describe('geometry and properties match openslide-show-properties', () => {
  for (const f of ['CMU-1-Small-Region.svs', 'small.svs', 'boxes.tiff']) {
    test(f, async () => {
      const ref = openslideProps(fx(f));
      await withSlide(fx(f), async (s) => {
        const n = num(ref['openslide.level-count']);
        expect(s.levels.length).toBe(n);
        for (let i = 0; i < n; i++) {
          expect(s.levels[i].width).toBe(num(ref[`openslide.level[${i}].width`]));
          expect(s.levels[i].height).toBe(num(ref[`openslide.level[${i}].height`]));
          expect(s.levels[i].tileWidth).toBe(num(ref[`openslide.level[${i}].tile-width`]));
          expect(s.levels[i].tileHeight).toBe(num(ref[`openslide.level[${i}].tile-height`]));
          expect(s.levels[i].downsample).toBeCloseTo(num(ref[`openslide.level[${i}].downsample`]), 12);
          expect(num(s.properties[`openslide.level[${i}].downsample`])).toBeCloseTo(num(ref[`openslide.level[${i}].downsample`]), 12);
        }
        for (const k of ['openslide.mpp-x', 'openslide.mpp-y', 'openslide.objective-power']) {
          if (ref[k] === undefined) continue;
          expect(num(s.properties[k])).toBeCloseTo(num(ref[k]), 12);
        }
        if (ref['openslide.mpp-x']) expect(s.mpp).toEqual({ x: num(ref['openslide.mpp-x']), y: num(ref['openslide.mpp-y']) });
        if (ref['openslide.objective-power']) expect(s.objectivePower).toBe(num(ref['openslide.objective-power']));
        // every aperio.* and tiff.* property OpenSlide reports, with the same value
        const keys = Object.keys(ref).filter((k) => k.startsWith('aperio.') || k.startsWith('tiff.'));
        expect(keys.length).toBeGreaterThan(0);
        for (const k of keys) {
          if (k === 'tiff.XResolution' || k === 'tiff.YResolution') expect(num(s.properties[k])).toBeCloseTo(num(ref[k]), 6);
          else expect([k, s.properties[k]]).toEqual([k, ref[k]]);
        }
        expect(s.properties['openslide.comment']).toBe(ref['openslide.comment']);
        expect(s.properties['openslide.vendor']).toBe(ref['openslide.vendor']);
      });
    });
  }

  test('Aperio associated images: thumbnail = 2nd IFD, label and macro named from their ImageDescription (as OpenSlide)', async () => {
    await withSlide(fx('CMU-1-Small-Region.svs'), async (s) => {
      expect([...s.associatedImageNames].sort()).toEqual(['label', 'macro', 'thumbnail']);
      const t = tempDir();
      try {
        // independent dimensions: libvips, page by page
        const dims = [1, 2, 3].map((p) => tool('vipsheader', ['-f', 'width', `${fx('CMU-1-Small-Region.svs')}[page=${p}]`]).trim() + 'x' + tool('vipsheader', ['-f', 'height', `${fx('CMU-1-Small-Region.svs')}[page=${p}]`]).trim());
        const got = [];
        for (const n of ['thumbnail', 'label', 'macro']) {
          const im = await s.readAssociatedImage(n);
          got.push(`${im.width}x${im.height}`);
        }
        expect(got).toEqual(dims);
        // label pixels vs libvips' decode of the LZW label page
        tool('vips', ['copy', `${fx('CMU-1-Small-Region.svs')}[page=2]`, join(t.dir, 'label.png')]);
        const d = diff(await s.readAssociatedImage('label'), await decodeRgb(join(t.dir, 'label.png')));
        expect(d.max).toBe(0);
      } finally {
        t.cleanup();
      }
      await expect(s.readAssociatedImage('nope')).rejects.toThrow(/no associated image named "nope"/);
    });
  });
});

describe('pixels match OpenSlide (openslide-write-png)', () => {
  test('CMU-1-Small-Region.svs: Aperio RGB JPEG colours, exact, incl. edge and outside (white)', async () => {
    await withSlide(fx('CMU-1-Small-Region.svs'), async (s) => {
      for (const [x, y, w, h] of [
        [1000, 1200, 300, 200], // interior, crosses tile borders (240 px tiles)
        [0, 0, 250, 130],
        [2100, 2900, 200, 120], // crosses the right / bottom edge: outside is white
      ]) {
        const ours = await s.readRegion(0, x, y, w, h);
        const ref = await openslideRegion(fx('CMU-1-Small-Region.svs'), x, y, 0, w, h);
        const d = diff(ours, ref);
        expect({ region: [x, y, w, h], mean: d.mean, max: d.max }).toEqual({ region: [x, y, w, h], ...EXACT });
      }
      // colours pinned: a pink (eosin) tissue region must not be decoded as YCbCr (which gives green-ish pixels)
      const r = await s.readRegion(0, 1000, 1200, 300, 200);
      const m = [0, 1, 2].map((c) => r.data.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (r.width * r.height));
      expect(m[0]).toBeGreaterThan(m[1]); // red > green in H&E
      expect(m[2]).toBeGreaterThan(m[1]); // blue > green
    });
  });

  test('small.svs (one 64x64 tile holding a 16x16 level)', async () => {
    await withSlide(fx('small.svs'), async (s) => {
      expect(diff(await s.readRegion(0, 0, 0, 16, 16), await openslideRegion(fx('small.svs'), 0, 0, 0, 16, 16))).toMatchObject(EXACT);
    });
  });

  test('boxes.tiff: Deflate + predictor 2, all levels', async () => {
    await withSlide(fx('boxes.tiff'), async (s) => {
      const t = tempDir();
      try {
        for (let l = 0; l < s.levels.length; l++) {
          const L = s.levels[l];
          const ours = await s.readRegion(l, 0, 0, L.width, L.height);
          // exact against libvips decoding the same page
          tool('vips', ['copy', `${fx('boxes.tiff')}[page=${l}]`, join(t.dir, `p${l}.png`)]);
          expect(diff(ours, await decodeRgb(join(t.dir, `p${l}.png`)))).toMatchObject(EXACT);
          // OpenSlide: exact at integer downsamples; at fractional downsamples (4.016, 8.086) OpenSlide 3.4.1
          // resamples by the sub-pixel remainder, so only a small mean difference is allowed (measured 0.74 / 0.59)
          const d = diff(ours, await openslideRegion(fx('boxes.tiff'), 0, 0, l, L.width, L.height));
          if (Number.isInteger(L.downsample)) expect(d).toMatchObject(EXACT);
          else expect(d.mean).toBeLessThan(1);
        }
        // a level-0 region crossing a tile border
        expect(diff(await s.readRegion(0, 50, 40, 100, 90), await openslideRegion(fx('boxes.tiff'), 50, 40, 0, 100, 90))).toMatchObject(EXACT);
        // level-1 region addressed in level-0 coordinates
        expect(diff(await s.readRegion(1, 100, 60, 40, 30), await openslideRegion(fx('boxes.tiff'), 100, 60, 1, 40, 30))).toMatchObject(EXACT);
      } finally {
        t.cleanup();
      }
    });
  });

  test('cmu_jp2k.tif (JPEG 2000, compression 33004): YCbCr codestreams converted; colours match OpenSlide on the source SVS', async () => {
    await withSlide(fx('cmu_jp2k.tif'), async (s) => {
      expect(s.levels.map((l) => `${l.width}x${l.height}`)).toEqual(['2220x2967', '1110x1483', '555x741', '277x370', '138x185']);
      expect(s.mpp).toEqual({ x: 0.499, y: 0.499 });
      const ours = await s.readRegion(0, 1000, 1200, 300, 200);
      const ref = await openslideRegion(fx('CMU-1-Small-Region.svs'), 1000, 1200, 0, 300, 200);
      const d = diff(ours, ref);
      // re-encoded at Q45: measured mean 2.22, max 18; read as RGB (no conversion) it would be mean ~46
      expect(d.mean).toBeLessThan(3);
      expect(d.max).toBeLessThan(40);
      for (const c of d.meanSigned) expect(Math.abs(c)).toBeLessThan(2); // no colour cast
    });
  });
});

describe('BigTIFF with YCbCr JPEG tiles (written by libvips)', () => {
  test('geometry, properties and pixels match OpenSlide', async () => {
    const t = tempDir();
    try {
      const crop0 = join(t.dir, 'c.v');
      const big = join(t.dir, 'big.tif');
      tool('vips', ['crop', fx('CMU-1-Small-Region.svs'), crop0, '200', '300', '1000', '700']);
      tool('vips', ['tiffsave', crop0, big, '--tile', '--tile-width', '128', '--tile-height', '128', '--pyramid', '--bigtiff', '--compression', 'jpeg', '--Q', '85']);
      const ref = openslideProps(big);
      await withSlide(big, async (s) => {
        // libvips carries the Aperio ImageDescription over, so OpenSlide (and we) classify it as Aperio
        expect(s.format).toBe(ref['openslide.vendor'] === 'aperio' ? 'aperio-svs' : 'generic-tiff');
        expect(s.levels.length).toBe(num(ref['openslide.level-count']));
        s.levels.forEach((l, i) => {
          expect([l.width, l.height, l.tileWidth]).toEqual([num(ref[`openslide.level[${i}].width`]), num(ref[`openslide.level[${i}].height`]), num(ref[`openslide.level[${i}].tile-width`])]);
          expect(l.downsample).toBeCloseTo(num(ref[`openslide.level[${i}].downsample`]), 12);
        });
        for (const [l, x, y, w, h] of [[0, 100, 50, 400, 300], [1, 0, 0, 500, 350], [0, 900, 600, 200, 200]]) {
          const d = diff(await s.readRegion(l, x, y, w, h), await openslideRegion(big, x, y, l, w, h));
          expect({ at: [l, x, y], mean: d.mean, max: d.max }).toEqual({ at: [l, x, y], ...EXACT });
        }
      });
    } finally {
      t.cleanup();
    }
  });
});

describe('formats OpenSlide 3.4.1 cannot read', () => {
  test('subsampled.tif (stripped YCbCr 2x2 + LZW) vs Pillow (libtiff RGBA)', async () => {
    const t = tempDir();
    try {
      const png = join(t.dir, 's.png');
      tool('/usr/bin/python3', ['-c', `from PIL import Image; Image.open(${JSON.stringify(fx('subsampled.tif'))}).convert('RGB').save(${JSON.stringify(png)})`]);
      const ref = await decodeRgb(png);
      await withSlide(fx('subsampled.tif'), async (s) => {
        expect(s.format).toBe('generic-tiff');
        expect(s.levels[0]).toMatchObject({ width: ref.width, height: ref.height, tileWidth: ref.width });
        const d = diff(await s.readRegion(0, 0, 0, ref.width, ref.height), ref);
        expect(d.max).toBeLessThanOrEqual(2); // rounding of the YCbCr->RGB conversion (measured)
        expect(d.mean).toBeLessThan(0.5);
      });
    } finally {
      t.cleanup();
    }
  });

  test('multi-channel-z-series.ome.tif: first plane (C0,Z0,T0), signed int8 shifted to 0..255, grey replicated; vs libvips', async () => {
    const t = tempDir();
    try {
      await withSlide(fx('multi-channel-z-series.ome.tif'), async (s) => {
        expect(s.format).toBe('ome-tiff');
        expect(s.levels).toHaveLength(1);
        expect(s.levels[0]).toMatchObject({ width: 439, height: 167 });
        expect(s.mpp).toBeNull(); // the OME-XML has no PhysicalSizeX/Y
        expect(s.properties['ome.SizeC']).toBe('3');
        expect(s.properties['ome.SizeZ']).toBe('5');
        tool('vips', ['linear', `${fx('multi-channel-z-series.ome.tif')}[page=0]`, join(t.dir, 'p.v'), '1', '128', '--uchar']);
        tool('vips', ['copy', join(t.dir, 'p.v'), join(t.dir, 'p.png')]);
        const ref = await decodeRgb(join(t.dir, 'p.png'));
        const ours = await s.readRegion(0, 0, 0, 439, 167);
        expect(diff(ours, ref)).toMatchObject(EXACT);
      });
    } finally {
      t.cleanup();
    }
  });

  test('synthetic OME-TIFF pyramid in SubIFDs: levels, MPP with units, pixels', async () => {
    const t = tempDir();
    try {
      const w = 300, h = 200;
      const l0 = pattern(w, h, 1);
      const l1 = half(l0, w, h);
      const l2 = half(l1.rgb, l1.w, l1.h);
      const xml = `<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0" Name="x"><Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint8" SizeX="${w}" SizeY="${h}" SizeC="3" SizeZ="1" SizeT="1" PhysicalSizeX="250" PhysicalSizeXUnit="nm" PhysicalSizeY="0.25"><Channel ID="Channel:0:0" SamplesPerPixel="3"/><TiffData/></Pixels></Image></OME>`;
      const file = join(t.dir, 'p.ome.tif');
      writeFileSync(
        file,
        writeTiff([
          {
            width: w, height: h, rgb: l0, tile: 64, compression: 8, tags: [{ tag: 270, type: 2, value: xml }],
            subIfds: [
              { width: l1.w, height: l1.h, rgb: l1.rgb, tile: 64, compression: 8 },
              { width: l2.w, height: l2.h, rgb: l2.rgb, tile: 64 },
            ],
          },
        ]),
      );
      await withSlide(file, async (s) => {
        expect(s.format).toBe('ome-tiff');
        expect(s.levels.map((l) => [l.width, l.height, l.downsample])).toEqual([[300, 200, 1], [150, 100, 2], [75, 50, 4]]);
        expect(s.mpp!.x).toBeCloseTo(0.25, 12); // 250 nm
        expect(s.mpp!.y).toBeCloseTo(0.25, 12); // unit defaults to µm
        expect(s.getBestLevelForDownsample(3)).toBe(1);
        expect(s.getBestLevelForDownsample(100)).toBe(2);
        expect(s.getBestLevelForDownsample(0.5)).toBe(0);
        const r1 = await s.readRegion(1, 40, 20, 100, 70);
        expect(diff(r1, crop({ width: l1.w, height: l1.h, channels: 3, data: l1.rgb }, 20, 10, 100, 70))).toMatchObject(EXACT);
        const r2 = await s.readRegion(2, 0, 0, 80, 60); // overhangs: outside white
        const inside = crop(r2, 0, 0, 75, 50);
        expect(diff(inside, { width: 75, height: 50, channels: 3, data: l2.rgb })).toMatchObject(EXACT);
        expect(r2.data.subarray((55 * 80 + 0) * 3, (55 * 80 + 80) * 3).every((v) => v === 255)).toBe(true);
      });
    } finally {
      t.cleanup();
    }
  });
});

describe('DICOM WSI (VL Whole Slide Microscopy Image Storage)', () => {
  test('boxes_0.dcm + boxes_1.dcm: levels, MPP, objective, thumbnail; region equals OpenSlide on the source SVS', async () => {
    for (const input of [[fx('boxes_0.dcm'), fx('boxes_1.dcm')], fx('boxes_0.dcm')]) {
      await withSlide(input as string[], async (s) => {
        expect(s.format).toBe('dicom-wsi');
        expect(s.levels).toEqual([{ width: 16, height: 16, downsample: 1, tileWidth: 64, tileHeight: 64 }]);
        // PixelSpacing .000499 mm => 0.499 µm; ObjectiveLensPower 20 (values read independently by dcmdump)
        const dump = tool('dcmdump', ['+P', '0028,0030', '+P', '0048,0112', fx('boxes_0.dcm')]);
        const ps = Number(/\[([^\\\]]+)/.exec(dump.split('\n').find((l) => l.includes('0028,0030'))!)![1]);
        expect(s.mpp!.x).toBeCloseTo(ps * 1000, 12);
        expect(s.objectivePower).toBe(20);
        const ours = await s.readRegion(0, 0, 0, 16, 16);
        // the DICOM frame is small.svs's Aperio RGB JPEG tile: OpenSlide's read of small.svs is an independent decode
        expect(diff(ours, await openslideRegion(fx('small.svs'), 0, 0, 0, 16, 16))).toMatchObject(EXACT);
        const outside = await s.readRegion(0, 10, 10, 10, 10);
        expect(outside.data[(9 * 10 + 9) * 3]).toBe(255);
      });
    }
    // a folder of instances; the thumbnail (native pixel data) vs the SVS thumbnail decoded by libvips
    const t = tempDir();
    try {
      tool('cp', [fx('boxes_0.dcm'), fx('boxes_1.dcm'), t.dir]);
      await withSlide(t.dir, async (s) => {
        expect(s.associatedImageNames).toEqual(['thumbnail']);
        tool('vips', ['copy', `${fx('small.svs')}[page=1]`, join(t.dir, 'th.png')]);
        expect(diff(await s.readAssociatedImage('thumbnail'), await decodeRgb(join(t.dir, 'th.png')))).toMatchObject(EXACT);
      });
    } finally {
      t.cleanup();
    }
  });

  test('multi-level series written by pydicom (native level 0, JPEG YBR_FULL_422 level 1): pyramid, frame order, edge tiles', async () => {
    const t = tempDir();
    try {
      const l0 = join(t.dir, 'l0.png');
      const l1 = join(t.dir, 'l1.png');
      tool('vips', ['crop', fx('CMU-1-Small-Region.svs'), l0, '1000', '1200', '300', '200']);
      tool('vips', ['resize', l0, l1, '0.5']);
      const dec1 = join(t.dir, 'pillow-decoded-l1.png');
      tool('/usr/bin/python3', [join(__dirname, 'make_dicom_wsi.py'), t.dir, l0, l1, dec1]);
      const files = ['level0.dcm', 'level1.dcm'].map((f) => join(t.dir, f));
      await withSlide(files, async (s) => {
        expect(s.format).toBe('dicom-wsi');
        expect(s.levels).toEqual([
          { width: 300, height: 200, downsample: 1, tileWidth: 64, tileHeight: 64 },
          { width: 150, height: 100, downsample: 2, tileWidth: 64, tileHeight: 64 },
        ]);
        expect(s.mpp).toEqual({ x: 0.25, y: 0.25 });
        expect(s.objectivePower).toBe(40);
        const ref0 = await decodeRgb(l0);
        const ref1 = await decodeRgb(l1);
        // native frames: exact, whole level (5x4 frames, right and bottom ones partly padding)
        expect(diff(await s.readRegion(0, 0, 0, 300, 200), ref0)).toMatchObject(EXACT);
        expect(diff(await s.readRegion(0, 100, 50, 150, 120), crop(ref0, 100, 50, 150, 120))).toMatchObject(EXACT);
        // JPEG frames vs Pillow decoding the same frames (both libjpeg): pinned at max 1 (IDCT/upsampling rounding)
        const pil = await decodeRgb(dec1);
        const d = diff(await s.readRegion(1, 0, 0, 150, 100), pil);
        expect(d.max).toBeLessThanOrEqual(1);
        expect(diff(await s.readRegion(1, 140, 60, 80, 40), crop(pil, 70, 30, 80, 40)).max).toBeLessThanOrEqual(1);
        // and vs the source level (JPEG q90 4:2:0 loss; Pillow's own decode measures mean 6.2): no colour cast
        const src = diff(await s.readRegion(1, 0, 0, 150, 100), ref1);
        expect(src.mean).toBeLessThan(8);
        for (const c of src.meanSigned) expect(Math.abs(c)).toBeLessThan(1);
      });
    } finally {
      t.cleanup();
    }
  });
});
