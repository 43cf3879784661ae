import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { generateSyntheticSlide, buildDzi, renderDziTile, renderThumbnail, dziXml, dziLevels, type SyntheticSlide } from '@app/pathology';
import { openSlide, type SlideReader } from '@app/wsi';
import { fixture, meanAbsDiff, openslideRegion, tmp, tool, rmDir } from './helpers';

const { abs } = Math;

/** Tiles per level and each tile's size, as found on disk. */
function inventory(filesDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of readdirSync(filesDir).filter((x) => /^\d+$/.test(x))) for (const f of readdirSync(join(filesDir, l))) out.set(`${l}/${f}`, join(filesDir, l, f));
  return out;
}
async function rgb(path: string | Buffer) {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}
const attrs = (xml: string) => Object.fromEntries([...xml.matchAll(/(\w+)="([^"]*)"/g)].filter(([, k]) => k !== 'xmlns').map(([, k, v]) => [k, v]));
/** Pixels near the label's background colour. */
function labelLike(d: Uint8Array, bg: number[]): number {
  let n = 0;
  for (let i = 0; i < d.length; i += 3) if (abs(d[i] - bg[0]) < 20 && abs(d[i + 1] - bg[1]) < 20 && abs(d[i + 2] - bg[2]) < 40) n++;
  return n;
}

describe('Deep Zoom tiles, thumbnails', () => {
  const dir = tmp('dzi');
  afterAll(() => rmDir(dir));
  let s: SyntheticSlide;
  let slide: SlideReader;
  let vipsFiles: Map<string, string>;
  let vipsXml: string;
  beforeAll(async () => {
    s = await generateSyntheticSlide({ path: join(dir, 'a.svs'), width: 1900, height: 1300, seed: 8 });
    slide = await openSlide(s.path);
    tool('vips', ['dzsave', s.path, join(dir, 'vips')]);
    vipsFiles = inventory(join(dir, 'vips_files'));
    vipsXml = readFileSync(join(dir, 'vips.dzi'), 'utf8');
  });
  afterAll(() => slide.close());

  it('DZI XML and level sizes follow the Deep Zoom rules and agree with vips dzsave', () => {
    const levels = dziLevels(1900, 1300);
    expect(levels.length).toBe(12); // ceil(log2(1900)) + 1
    expect(levels[11]).toMatchObject({ width: 1900, height: 1300, cols: 8, rows: 6 });
    expect(levels[10]).toMatchObject({ width: 950, height: 650, cols: 4, rows: 3 });
    expect(levels[0]).toMatchObject({ width: 1, height: 1, cols: 1, rows: 1 });
    expect(attrs(dziXml(1900, 1300))).toEqual(attrs(vipsXml));
  });

  for (const method of ['auto', 'reader'] as const) {
    it(`${method} path: same tiles (names, count per level, sizes) as vips dzsave, similar pixels, no label pixels`, async () => {
      const r = await buildDzi(slide, s.path, join(dir, method), 'slide', { method });
      expect(r.method).toBe(method === 'auto' ? 'libvips' : 'reader');
      expect(attrs(readFileSync(r.dziPath, 'utf8'))).toEqual(attrs(vipsXml));
      const ours = inventory(r.filesDir);
      expect([...ours.keys()].sort()).toEqual([...vipsFiles.keys()].sort());
      expect(r.tiles).toBe(vipsFiles.size);
      const top = r.levels.length - 1;
      for (const [k, p] of ours) {
        const a = await rgb(p);
        const b = await rgb(vipsFiles.get(k)!);
        expect([k, a.width, a.height]).toEqual([k, b.width, b.height]);
        expect(labelLike(a.data, s.labelBackground)).toBe(0);
        if (k.startsWith(`${top}/`)) expect(meanAbsDiff(a.data, b.data)).toBeLessThan(3);
        else if (a.width > 16 && a.height > 16) expect(meanAbsDiff(a.data, b.data)).toBeLessThan(10);
      }
    });
  }

  it('libvips path decodes Aperio RGB-JPEG tiles correctly (CMU-1-Small-Region vs OpenSlide)', async () => {
    const r0 = await openSlide(fixture('CMU-1-Small-Region.svs'));
    try {
      const r = await buildDzi(r0, fixture('CMU-1-Small-Region.svs'), join(dir, 'cmu'), 'cmu');
      expect(r.method).toBe('libvips');
      const top = r.levels.length - 1;
      const t = await rgb(join(r.filesDir, String(top), '2_3.jpeg'));
      const ref = await openslideRegion(fixture('CMU-1-Small-Region.svs'), 0, 2 * 254 - 1, 3 * 254 - 1, t.width, t.height);
      expect(meanAbsDiff(t.data, ref.data)).toBeLessThan(3);
    } finally {
      await r0.close();
    }
  });

  it('JPEG 2000 TIFF (libvips cannot decode it) falls back to the reader path with the same tile layout', async () => {
    const r0 = await openSlide(fixture('cmu_jp2k.tif'));
    try {
      const r = await buildDzi(r0, fixture('cmu_jp2k.tif'), join(dir, 'jp2k'), 'j');
      expect(r.method).toBe('reader');
      const n = inventory(r.filesDir);
      const ref = inventory(join(dir, 'cmu', 'cmu_files'));
      expect([...n.keys()].sort()).toEqual([...ref.keys()].sort());
    } finally {
      await r0.close();
    }
  });

  it('on-demand tiles equal the reader-built pyramid, are cached, and reject unknown tiles', async () => {
    const files = inventory(join(dir, 'reader', 'slide_files'));
    for (const [level, col, row] of [[11, 0, 0], [11, 7, 5], [10, 2, 1], [3, 0, 0]]) {
      const buf = await renderDziTile(slide, level, col, row);
      const a = await rgb(buf);
      const b = await rgb(files.get(`${level}/${col}_${row}.jpeg`)!);
      expect([a.width, a.height]).toEqual([b.width, b.height]);
      expect(meanAbsDiff(a.data, b.data)).toBeLessThan(1);
      expect(await renderDziTile(slide, level, col, row)).toBe(buf); // cache hit
    }
    await expect(renderDziTile(slide, 11, 8, 0)).rejects.toMatchObject({ name: 'InputError', code: 'dzi.no-such-tile' });
    await expect(renderDziTile(slide, 12, 0, 0)).rejects.toMatchObject({ code: 'dzi.no-such-tile' });
    const png = await renderDziTile(slide, 11, 0, 0, { format: 'png' });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('thumbnail: main image only (no label pixels), long side bounded, aspect kept', async () => {
    const png = await renderThumbnail(slide, 256, 'png');
    const t = await rgb(png);
    expect(t.width).toBe(256);
    expect(t.height).toBe(Math.round((1300 * 256) / 1900));
    expect(labelLike(t.data, s.labelBackground)).toBe(0);
    const jpg = await renderThumbnail(slide, 100);
    expect((await sharp(jpg).metadata()).format).toBe('jpeg');
    // the label image really is in the file (so "no label pixels" is meaningful)
    const label = await slide.readAssociatedImage('label');
    expect(labelLike(label.data, s.labelBackground)).toBeGreaterThan(100000);
  });
});
