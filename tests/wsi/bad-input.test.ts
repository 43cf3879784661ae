/** Bad input is refused with InputError (stable code + actionable message), never a crash. Malformed files are built by patching fixture bytes. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isInputError, InputError } from '@app/core';
import { openSlide, type SlideReader } from '@app/wsi';
import { TiffFile, TAG } from '../../libs/wsi/src/tiff-file';
import { FIX, fx, tempDir } from './helpers';

let t: ReturnType<typeof tempDir>;
beforeAll(() => (t = tempDir()));
afterAll(() => t.cleanup());

let n = 0;
function write(bytes: Buffer, ext = '.tif'): string {
  const p = join(t.dir, `f${n++}${ext}`);
  writeFileSync(p, bytes);
  return p;
}

/** Reads a slide fully enough to touch every code path: every level corner + associated images. */
async function exercise(p: string | string[]): Promise<SlideReader> {
  const s = await openSlide(p as string);
  try {
    for (let l = 0; l < s.levels.length; l++) await s.readRegion(l, 0, 0, Math.min(64, s.levels[l].width), Math.min(64, s.levels[l].height));
    for (const a of s.associatedImageNames) await s.readAssociatedImage(a);
  } finally {
    await s.close();
  }
  return s;
}

async function expectInputError(p: Promise<unknown>, code: string, message?: RegExp): Promise<InputError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  const ie = err as InputError;
  expect(ie.code).toBe(code);
  if (message) expect(ie.message).toMatch(message);
  return ie;
}

/** Patches the first value of `tag` in IFD number `ifdIndex` of a TIFF (little endian, in place). */
async function patchTag(src: string, ifdIndex: number, tag: number, value: number, valueIndex = 0): Promise<string> {
  const tf = await TiffFile.open(src);
  const e = tf.ifds[ifdIndex].entries.get(tag)!;
  await tf.close();
  const b = Buffer.from(readFileSync(src));
  const size = { 3: 2, 4: 4, 16: 8 }[e.type as 3 | 4 | 16];
  const at = e.valueOffset + valueIndex * size;
  if (size === 2) b.writeUInt16LE(value, at);
  else if (size === 4) b.writeUInt32LE(value, at);
  else b.writeBigUInt64LE(BigInt(value), at);
  return write(b);
}

describe('refused with a clear InputError', () => {
  test('not a slide at all', async () => {
    await expectInputError(openSlide(write(Buffer.from('hello, this is a text file, not a slide at all'), '.txt')), 'wsi.not-a-slide', /neither TIFF/);
    await expectInputError(openSlide(write(Buffer.from('II*'), '.tif')), 'wsi.not-tiff', /shorter than a TIFF header/);
    await expectInputError(openSlide(write(Buffer.from([0x49, 0x49, 0x2b, 0x01, 0, 0, 0, 0, 0, 0]))), 'wsi.not-tiff', /magic number 299/);
  });

  test('truncated files', async () => {
    const full = readFileSync(fx('CMU-1-Small-Region.svs'));
    // the associated images' directories sit after the cut: caught at open
    const e = await expectInputError(openSlide(write(full.subarray(0, full.length >> 1))), 'wsi.truncated', /beyond the end of the file .* truncated/);
    expect(e.detail).toMatchObject({ fileSize: full.length >> 1 });
    // boxes.tiff stores its directories after the tiles: any cut loses a directory
    const boxes = readFileSync(fx('boxes.tiff'));
    await expectInputError(openSlide(write(boxes.subarray(0, 200))), 'wsi.truncated', /TIFF IFD at offset \d+ .* beyond the end of the file \(200 bytes\)/);
    // small.svs: directories up front, values / data cut => refused at open by the range checks
    const small = readFileSync(fx('small.svs'));
    await expectInputError(openSlide(write(small.subarray(0, small.length - 100))), 'wsi.offset-out-of-range', /at offset \d+ with \d+ bytes .*beyond the end of the file \(2551 bytes\)/);
    const dcm = readFileSync(fx('boxes_0.dcm'));
    await expectInputError(openSlide([write(dcm.subarray(0, dcm.length - 300), '.dcm')]), 'wsi.truncated');
  });

  test('tile offsets / byte counts beyond the file', async () => {
    await expectInputError(openSlide(await patchTag(fx('boxes.tiff'), 0, TAG.TileOffsets, 0x7fff0000, 3)), 'wsi.offset-out-of-range', /tile 3 at offset 2147418112/);
    await expectInputError(openSlide(await patchTag(fx('boxes.tiff'), 1, TAG.TileByteCounts, 10_000_000, 0)), 'wsi.offset-out-of-range', /tile 0 .* 10000000 bytes/);
  });

  test('absurd dimensions, refused before any allocation; the limit is configurable', async () => {
    await expectInputError(openSlide(await patchTag(fx('boxes.tiff'), 0, TAG.ImageWidth, 0)), 'wsi.bad-dimensions', /0x250/);
    const e = await expectInputError(openSlide(fx('boxes.tiff'), { maxLevelPixels: 50_000 }), 'wsi.absurd-dimensions', /300x250 \(75000 pixels\) exceed the configured limit of 50000/);
    expect(e.detail).toEqual({ width: 300, height: 250, maxPixels: 50_000 });
    // tile size patched to 65535x65535
    const big = await patchTag(await patchTag(fx('boxes.tiff'), 0, TAG.TileWidth, 65535), 0, TAG.TileLength, 65535);
    await expectInputError(openSlide(big), 'wsi.absurd-dimensions', /tile size 65535x65535/);
  });

  test('unsupported compression is named', async () => {
    await expectInputError(openSlide(await patchTag(fx('boxes.tiff'), 0, TAG.Compression, 34712)), 'wsi.unsupported-compression', /unsupported TIFF compression 34712 \(JPEG 2000 Leica\)/);
    await expectInputError(openSlide(await patchTag(fx('boxes.tiff'), 2, TAG.Compression, 50001)), 'wsi.unsupported-compression', /50001 \(WebP\)/);
  });

  test('inconsistent pyramids', async () => {
    // level 3 (37x31) made 64x64: taller than level 2 (75x62)
    const tall = await patchTag(await patchTag(fx('boxes.tiff'), 3, TAG.ImageLength, 64), 3, TAG.ImageWidth, 64);
    await expectInputError(openSlide(tall), 'wsi.inconsistent-pyramid', /level 3 \(64x64\) is larger than level 2 \(75x62\)/);
    // level 2 aspect ratio broken (75x20 under 300x250)
    await expectInputError(openSlide(await patchTag(fx('boxes.tiff'), 2, TAG.ImageLength, 20)), 'wsi.inconsistent-pyramid', /aspect ratio/);
  });

  test('IFD chain loop and corrupt directory', async () => {
    const tf = await TiffFile.open(fx('boxes.tiff'));
    const last = tf.ifds[tf.ifds.length - 1];
    const first = tf.ifds[0].offset;
    await tf.close();
    const b = Buffer.from(readFileSync(fx('boxes.tiff')));
    b.writeUInt32LE(first, last.nextPointerOffset);
    await expectInputError(openSlide(write(b)), 'wsi.ifd-loop', /loops back/);
    const c = Buffer.from(readFileSync(fx('boxes.tiff')));
    c.writeUInt16LE(0, first); // zero entries
    await expectInputError(openSlide(write(c)), 'wsi.bad-ifd', /0 entries/);
  });

  test('corrupt tile headers announcing huge images are refused before the codec allocates', async () => {
    // small.svs: SOF0 of the only JPEG tile patched to 65535x65535
    let tf = await TiffFile.open(fx('small.svs'));
    const off = tf.ifds[0].entries.get(TAG.TileOffsets)!.values[0];
    await tf.close();
    const b = Buffer.from(readFileSync(fx('small.svs')));
    const sof = b.indexOf(Buffer.from([0xff, 0xc0]), off);
    b.writeUInt16BE(0xffff, sof + 5);
    b.writeUInt16BE(0xffff, sof + 7);
    const s1 = await openSlide(write(b));
    await expectInputError(s1.readRegion(0, 0, 0, 16, 16), 'wsi.bad-jpeg', /cannot decode JPEG tile 0 of level 0/);
    await s1.close();
    // cmu_jp2k.tif: SIZ of the first JPEG 2000 tile patched to 2^31-1 wide
    tf = await TiffFile.open(fx('cmu_jp2k.tif'));
    const j0 = tf.ifds[0].entries.get(TAG.TileOffsets)!.values[0];
    await tf.close();
    const c = Buffer.from(readFileSync(fx('cmu_jp2k.tif')));
    expect(c.readUInt32BE(j0)).toBe(0xff4fff51); // SOC + SIZ
    c.writeUInt32BE(0x7fffffff, j0 + 8);
    const s2 = await openSlide(write(c));
    await expectInputError(s2.readRegion(0, 0, 0, 16, 16), 'wsi.bad-jpeg2000', /announces 2147483647x256 pixels/);
    await s2.close();
  });

  test('unreadable.svs: opens (header intact, like OpenSlide) but its corrupt JPEG tile is refused when read', async () => {
    const s = await openSlide(fx('unreadable.svs'));
    try {
      await expectInputError(s.readRegion(0, 0, 0, 16, 16), 'wsi.bad-jpeg', /cannot decode JPEG tile 0 of level 0/);
      // libvips' repeated warnings come as one line, each said once (it listed 'VipsJpeg: Bogus marker length' three times)
      const e = await s.readRegion(0, 0, 0, 16, 16).then(() => null, (x: Error) => x);
      expect(e!.message).not.toContain('\n');
      expect(e!.message.split('Bogus marker length').length - 1).toBe(1);
    } finally {
      await s.close();
    }
  });

  test('DICOM that is not a slide, mixed series', async () => {
    const ctDir = join(FIX, '../dicom');
    const ct = readdirSync(ctDir, { recursive: true, withFileTypes: true }).find((d) => d.isFile() && /\.dcm$/i.test(d.name));
    expect(ct).toBeDefined();
    await expectInputError(openSlide([join(ct!.parentPath, ct!.name)]), 'wsi.not-a-slide', /no VL Whole Slide Microscopy/);
    const other = Buffer.from(readFileSync(fx('boxes_1.dcm')));
    const uid = '1.3.6.1.4.1.5962.99.1.1747645553.419656796.1689669825649.4.0';
    const at = other.indexOf(uid);
    other.write('9', at + uid.length - 3, 'latin1'); // another SeriesInstanceUID of the same length
    await expectInputError(openSlide([fx('boxes_0.dcm'), write(other, '.dcm')]), 'wsi.mixed-series');
  });
});

describe('every fixture opens or is refused clearly', () => {
  const expected: Record<string, string> = {
    'CMU-1-Small-Region.svs': 'aperio-svs',
    'small.svs': 'aperio-svs',
    'boxes.tiff': 'generic-tiff',
    'boxes_0.dcm': 'dicom-wsi',
    'boxes_1.dcm': 'refused:wsi.no-images', // a THUMBNAIL instance alone is not a slide
    'multi-channel-z-series.ome.tif': 'ome-tiff',
    'subsampled.tif': 'generic-tiff',
    'cmu_jp2k.tif': 'aperio-svs', // libvips kept the Aperio ImageDescription, so it is classified as Aperio (as OpenSlide would)
    'unreadable.svs': 'refused:wsi.bad-jpeg',
  };
  test('all files in tests/fixtures/wsi are covered', () => {
    const files = readdirSync(FIX).filter((f) => f !== 'SOURCES.md').sort();
    expect(files).toEqual(Object.keys(expected).sort());
  });
  for (const [f, want] of Object.entries(expected)) {
    test(f, async () => {
      if (want.startsWith('refused:')) {
        await expectInputError(exercise(fx(f)), want.slice(8));
      } else {
        const s = await exercise(fx(f));
        expect(s.format).toBe(want);
      }
    });
  }
});

describe('never crashes on corrupted bytes (property test)', () => {
  const sources = ['boxes.tiff', 'small.svs', 'boxes_0.dcm'].map((f) => ({ f, bytes: readFileSync(fx(f)) }));
  test('random byte corruption gives a slide or an InputError, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: sources.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        async (si, edits) => {
          const { f, bytes } = sources[si];
          const b = Buffer.from(bytes);
          for (const [pos, v] of edits) b[pos % Math.min(b.length, 1024)] = v; // headers / directories live up front
          const p = write(b, f.endsWith('.dcm') ? '.dcm' : '.tif');
          try {
            await exercise(p);
          } catch (e) {
            if (!isInputError(e)) throw new Error(`non-InputError for ${f} edits ${JSON.stringify(edits)}: ${(e as Error).stack}`);
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });
});
