/**
 * Measures the candidate decode paths on real tiles (not a jest test; run after compiling with swc):
 *   npx swc apps libs tests -d dist-wsi -q && node dist-wsi/tests/wsi/decode-paths.measure.js
 * Prints one JSON line: ms per tile for each path. The README quotes the figures.
 */
import { join } from 'node:path';
import { getDecoder } from 'geotiff';
import { inflateSync } from 'node:zlib';
import { TiffFile, TAG } from '../../libs/wsi/src/tiff-file';
import { decodeJ2k, decodeJpeg, decodeJpegSharp, decodeGeneric, spliceJpeg } from '../../libs/wsi/src/decode';

const FIX = join(__dirname, '../../../tests/fixtures/wsi');

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(3, n); i++) await fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function tiles(file: string, ifd = 0) {
  const tf = await TiffFile.open(join(FIX, file));
  const d = tf.ifds[ifd];
  const offs = d.entries.get(TAG.TileOffsets)!.values;
  const cnts = d.entries.get(TAG.TileByteCounts)!.values;
  const out: Buffer[] = [];
  for (let i = 0; i < Math.min(40, offs.length); i++) out.push(await tf.readBytes(offs[i], cnts[i]));
  return { tf, d, tiles: out, tw: d.entries.get(TAG.TileWidth)!.values[0], th: d.entries.get(TAG.TileLength)!.values[0] };
}

async function main() {
  const svs = await tiles('CMU-1-Small-Region.svs');
  const tables = svs.d.entries.get(TAG.JPEGTables)!.bytes!;
  const n = svs.tiles.length;
  const wasmMs = await time(n * 3, (i) => decodeJpeg(spliceJpeg(svs.tiles[i % n], tables, true), svs.tw, svs.th, 'tile'));
  const sharpMs = await time(n * 3, (i) => decodeJpegSharp(spliceJpeg(svs.tiles[i % n], tables, true), svs.tw, svs.th, 'tile'));
  const gjpeg = await getDecoder(7, { tileWidth: svs.tw, tileHeight: svs.th, predictor: 1, bitsPerSample: [8, 8, 8], planarConfiguration: 1, JPEGTables: tables } as never);
  const geotiffMs = await time(n, (i) => gjpeg.decode(new Uint8Array(svs.tiles[i % n]).buffer));
  const j2k = await tiles('cmu_jp2k.tif');
  const jn = j2k.tiles.length;
  const j2kMs = await time(jn, (i) => decodeJ2k(j2k.tiles[i % jn], 'tile'));
  const box = await tiles('boxes.tiff');
  const bn = box.tiles.length;
  const params = { tileWidth: 64, tileHeight: 64, predictor: 2, bitsPerSample: [8, 8, 8], planarConfiguration: 1, samplesPerPixel: 3 };
  const deflateGeotiffMs = await time(bn * 50, (i) => decodeGeneric(8, box.tiles[i % bn], params, 'tile'));
  const deflateZlibMs = await time(bn * 50, async (i) => inflateSync(box.tiles[i % bn]));
  for (const x of [svs, j2k, box]) await x.tf.close();
  console.log(
    JSON.stringify({
      jpeg_240px_tile_ms: { wasm_libjpeg_turbo: +wasmMs.toFixed(3), sharp: +sharpMs.toFixed(3), geotiff: +geotiffMs.toFixed(3), speedup_vs_geotiff: +(geotiffMs / wasmMs).toFixed(1), speedup_vs_sharp: +(sharpMs / wasmMs).toFixed(1) },
      j2k_256px_tile_ms_openjpeg_wasm: +j2kMs.toFixed(3),
      deflate_pred2_64px_tile_ms: { geotiff: +deflateGeotiffMs.toFixed(4), zlib_inflate_only: +deflateZlibMs.toFixed(4) },
    }),
  );
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
