/**
 * JPEG tiles decode through libjpeg-turbo's WASM build (fast) and fall back to sharp (libvips' libjpeg-turbo) for any
 * stream the WASM path declines. The two must give the same pixels on every JPEG tile of every JPEG slide (Aperio RGB
 * with the spliced APP14 marker, and libvips' YCbCr pyramid), and damaged streams must be accepted or refused exactly
 * as sharp does, with sharp's message. (Where libjpeg recovers a damaged stream with a warning, the two builds'
 * recovered pixels can differ: neither is the image, and the decode is no error in either.) The pixels themselves are
 * checked against OpenSlide in reader.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeJpeg, decodeJpegInto, decodeJpegSharp, decodeStats, spliceJpeg } from '../../libs/wsi/src/decode';

/** decodeJpegInto's pixels, copied during the hand-over (they may be the decoder's own memory). */
const decodeInto = async (stream: Buffer, w: number, h: number, what: string): Promise<Uint8Array> => {
  let got: Uint8Array | undefined;
  await decodeJpegInto(stream, w, h, what, (rgb) => (got = rgb.slice()));
  return got!;
};
import { TAG, TiffFile } from '../../libs/wsi/src/tiff-file';

const FIX = join(__dirname, '..', 'fixtures', 'wsi');
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wsi-jpeg-'));
  // a libvips pyramid with YCbCr JPEG tiles (the fixtures' SVS tiles are Aperio RGB)
  const px = Buffer.alloc(700 * 500 * 3);
  for (let y = 0; y < 500; y++) for (let x = 0; x < 700; x++) px.set([(x * 3 + y) & 0xff, (200 + ((x * y) >> 7)) & 0xff, (x ^ y) & 0xff], (y * 700 + x) * 3);
  await sharp(px, { raw: { width: 700, height: 500, channels: 3 } }).tiff({ compression: 'jpeg', quality: 80, tile: true, tileWidth: 128, tileHeight: 128, pyramid: true }).toFile(join(dir, 'ycbcr-jpeg.tif'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every JPEG-compressed tile of every IFD: the spliced stream and its expected size. */
async function jpegTiles(file: string) {
  const tf = await TiffFile.open(file.includes('/') ? file : join(FIX, file));
  const out: { stream: Buffer; tw: number; th: number; what: string; rgb: boolean }[] = [];
  try {
    for (const [k, d] of tf.ifds.entries()) {
      if (d.entries.get(TAG.Compression)?.values[0] !== 7 || !d.entries.get(TAG.TileOffsets)) continue;
      const offs = d.entries.get(TAG.TileOffsets)!.values;
      const cnts = d.entries.get(TAG.TileByteCounts)!.values;
      const rgb = d.entries.get(TAG.Photometric)?.values[0] === 2;
      const tables = d.entries.get(TAG.JPEGTables)?.bytes;
      for (let i = 0; i < offs.length; i++) {
        if (!cnts[i]) continue;
        out.push({ stream: spliceJpeg(await tf.readBytes(offs[i], cnts[i]), tables, rgb), tw: d.entries.get(TAG.TileWidth)!.values[0], th: d.entries.get(TAG.TileLength)!.values[0], what: `${file} IFD ${k} tile ${i}`, rgb });
      }
    }
  } finally {
    await tf.close();
  }
  return out;
}

test.each(['CMU-1-Small-Region.svs', 'small.svs', 'ycbcr-jpeg.tif'])('%s: every JPEG tile takes the WASM path and matches sharp byte for byte', async (file) => {
  const tiles = await jpegTiles(file.startsWith('ycbcr') ? join(dir, file) : file);
  expect(tiles.length).toBeGreaterThan(0);
  // Aperio's tiles are RGB (the APP14 marker is spliced in), libvips' are YCbCr
  expect(tiles.every((t) => t.rgb === file.endsWith('.svs'))).toBe(true);
  const before = { ...decodeStats };
  for (const t of tiles) {
    const fast = await decodeJpeg(t.stream, t.tw, t.th, t.what);
    const ref = await decodeJpegSharp(t.stream, t.tw, t.th, t.what);
    expect(fast.length).toBe(t.tw * t.th * 3);
    if (Buffer.compare(Buffer.from(fast), Buffer.from(ref)) !== 0) throw new Error(`${t.what}: WASM and sharp decodes differ`);
    // handed over from the decoder's memory: the same bytes
    if (Buffer.compare(Buffer.from(await decodeInto(t.stream, t.tw, t.th, t.what)), Buffer.from(ref)) !== 0) throw new Error(`${t.what}: decodeJpegInto differs`);
  }
  expect(decodeStats.jpegWasm - before.jpegWasm).toBe(2 * tiles.length);
  expect(decodeStats.jpegSharp - before.jpegSharp).toBe(0);
});

describe('streams the WASM path declines go to sharp, which decides as before', () => {
  let jpg: Buffer;
  beforeAll(async () => {
    const px = Buffer.alloc(64 * 48 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 7)) & 0xff;
    jpg = await sharp(px, { raw: { width: 64, height: 48, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
  });

  test('a valid stream: the WASM path, the same pixels as sharp', async () => {
    const before = decodeStats.jpegWasm;
    expect(Buffer.from(await decodeJpeg(jpg, 64, 48, 'tile'))).toEqual(Buffer.from(await decodeJpegSharp(jpg, 64, 48, 'tile')));
    expect(decodeStats.jpegWasm).toBe(before + 1);
  });

  test('200 damaged streams (bit flips, cuts, inserted and deleted runs): accepted or refused exactly as sharp does, with its message', async () => {
    let seed = 7;
    const rnd = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
    let accepted = 0;
    let refused = 0;
    for (let k = 0; k < 200; k++) {
      const b = Buffer.from(jpg);
      const bad =
        k % 4 === 0
          ? (Array.from({ length: 1 + rnd(4) }, () => (b[rnd(b.length)] ^= 1 << rnd(8))), b)
          : k % 4 === 1
            ? b.subarray(0, rnd(b.length))
            : k % 4 === 2
              ? ((at) => Buffer.concat([b.subarray(0, at), Buffer.alloc(1 + rnd(300), rnd(256)), b.subarray(at)]))(rnd(b.length))
              : ((at) => Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rnd(200))]))(rnd(b.length));
      const ours = await decodeJpeg(bad, 64, 48, `tile ${k}`).then(() => 'accepted', (e: Error) => e.message);
      const theirs = await decodeJpegSharp(bad, 64, 48, `tile ${k}`).then(() => 'accepted', (e: Error) => e.message);
      if (ours !== theirs) throw new Error(`mutation ${k}: ours ${ours}, sharp ${theirs}`);
      // decodeJpegInto takes the same paths: the same outcome, and when accepted the same pixels as decodeJpeg
      const into = await decodeInto(bad, 64, 48, `tile ${k}`).then((px) => px, (e: Error) => e.message);
      if (ours === 'accepted') {
        if (typeof into === 'string' || Buffer.compare(Buffer.from(into), Buffer.from(await decodeJpeg(bad, 64, 48, `tile ${k}`))) !== 0) throw new Error(`mutation ${k}: decodeJpegInto differs`);
      } else if (into !== ours) throw new Error(`mutation ${k}: decodeJpegInto ${String(into)}, decodeJpeg ${ours}`);
      if (ours === 'accepted') accepted++;
      else refused++;
    }
    // both outcomes occur, so the comparison covers both
    expect(accepted).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  });

  test("an error thrown by decodeJpegInto's receiver is that error (never taken for a decoding failure and decoded again by sharp)", async () => {
    const before = { ...decodeStats };
    await expect(
      decodeJpegInto(jpg, 64, 48, 'tile', () => {
        throw new Error('receiver failed');
      }),
    ).rejects.toThrow('receiver failed');
    expect(decodeStats.jpegWasm - before.jpegWasm).toBe(1);
    expect(decodeStats.jpegSharp - before.jpegSharp).toBe(0);
  });

  test.each([
    ['truncated', (j: Buffer) => j.subarray(0, j.length >> 1), 64, 48],
    ['a header announcing another size', (j: Buffer) => j, 32, 48],
    ['not a JPEG', () => Buffer.alloc(100, 7), 64, 48],
  ] as const)('%s: refused with sharp\'s message', async (_name, make, w, h) => {
    const bad = make(jpg);
    const viaSharp = await decodeJpegSharp(bad, w, h, 'tile 3').then(
      () => 'accepted',
      (e: Error) => e.message,
    );
    expect(viaSharp).toMatch(/JPEG tile 3/);
    await expect(decodeJpeg(bad, w, h, 'tile 3')).rejects.toThrow(viaSharp);
  });
});
