/**
 * Tile / strip decompression. Decode paths were chosen by measurement (see README):
 * - JPEG (7): sharp (libvips + libjpeg-turbo), raw RGB output. JPEGTables are spliced into the
 *   abbreviated tile stream; for Photometric=RGB an Adobe APP14 marker with transform=0 is inserted so
 *   libjpeg does not apply a YCbCr->RGB conversion to components that are already RGB (Aperio).
 * - Deflate (8, 32946), LZW (5), PackBits (32773), none (1): geotiff's decoders (predictor included).
 * - JPEG 2000 (33003, 33004, 33005): @cornerstonejs/codec-openjpeg (OpenJPEG compiled to WASM).
 */
import sharp from 'sharp';
import { getDecoder } from 'geotiff';
import { InputError } from '@app/core';

export const COMPRESSION_NAMES: Record<number, string> = {
  1: 'none',
  2: 'CCITT RLE',
  3: 'CCITT Group 3',
  4: 'CCITT Group 4',
  5: 'LZW',
  6: 'old-style JPEG',
  7: 'JPEG',
  8: 'Deflate',
  32773: 'PackBits',
  32946: 'Deflate (PKZIP)',
  33003: 'JPEG 2000 Aperio YCbCr',
  33004: 'JPEG 2000 Aperio',
  33005: 'JPEG 2000 Aperio RGB',
  34661: 'JBIG',
  34676: 'SGI LogLuv',
  34712: 'JPEG 2000 Leica',
  34887: 'LERC',
  34925: 'LZMA',
  50000: 'Zstandard',
  50001: 'WebP',
  50002: 'JPEG XL',
};

export const SUPPORTED_COMPRESSIONS = new Set([1, 5, 7, 8, 32773, 32946, 33003, 33004, 33005]);

export const compressionName = (c: number): string => COMPRESSION_NAMES[c] ?? 'unknown';

export function assertSupportedCompression(c: number, where: string): void {
  if (!SUPPORTED_COMPRESSIONS.has(c))
    throw new InputError(
      'wsi.unsupported-compression',
      `unsupported TIFF compression ${c} (${compressionName(c)}) in ${where}; supported: none, LZW, JPEG, Deflate, PackBits, JPEG 2000 (33003/33004/33005)`,
      { compression: c },
    );
}

/** Counts decoder invocations (used by tests to prove the cache bound). */
export const decodeStats = { tiles: 0 };

// --- JPEG -----------------------------------------------------------------------------------------

const ADOBE_APP14_RGB = Buffer.from([0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);

/** Builds a full JPEG interchange stream from an (abbreviated) tile and optional JPEGTables. */
export function spliceJpeg(tile: Uint8Array, tables: Uint8Array | undefined, rgbComponents: boolean): Buffer {
  if (tile.length < 4 || tile[0] !== 0xff || tile[1] !== 0xd8)
    throw new InputError('wsi.bad-jpeg', `JPEG tile does not start with an SOI marker (got ${tile.length >= 2 ? tile[0].toString(16) + ' ' + tile[1].toString(16) : 'empty tile'})`);
  const parts: Uint8Array[] = [tile.subarray(0, 2)];
  if (rgbComponents) parts.push(ADOBE_APP14_RGB);
  if (tables && tables.length >= 4) {
    // tables = SOI ... EOI; keep the segments between
    let end = tables.length;
    if (tables[end - 2] === 0xff && tables[end - 1] === 0xd9) end -= 2;
    parts.push(tables.subarray(2, end));
  }
  parts.push(tile.subarray(2));
  return Buffer.concat(parts);
}

export async function decodeJpeg(stream: Buffer, expectW: number, expectH: number, what: string): Promise<Uint8Array> {
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    // refuse a (corrupt) JPEG header announcing more pixels than the tile before libjpeg allocates anything
    out = await sharp(stream, { failOn: 'error', limitInputPixels: Math.max(1, expectW * expectH) }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new InputError('wsi.bad-jpeg', `cannot decode JPEG ${what}: ${(e as Error).message}`);
  }
  const { width, height, channels } = out.info;
  if (width !== expectW || height !== expectH)
    throw new InputError('wsi.bad-jpeg', `JPEG ${what} is ${width}x${height}, expected ${expectW}x${expectH} from the TIFF tags`);
  if (channels === 3) return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, n = width * height; i < n; i++) {
    const g = out.data[i * channels];
    rgb[i * 3] = g; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = g;
  }
  return rgb;
}

// --- JPEG 2000 ------------------------------------------------------------------------------------

interface J2KDecoder {
  getEncodedBuffer(n: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  delete(): void;
}
let openjpeg: Promise<{ J2KDecoder: new () => J2KDecoder }> | undefined;
function getOpenJpeg() {
  if (!openjpeg) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const factory = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (m: object) => Promise<{ J2KDecoder: new () => J2KDecoder }>;
    // silence OpenJPEG's [INFO] chatter on stdout; errors still surface as exceptions from decode()
    openjpeg = factory({ print: () => undefined, printErr: () => undefined });
  }
  return openjpeg;
}

export interface J2kResult {
  width: number;
  height: number;
  components: number;
  data: Uint8Array; // interleaved, 8-bit
}

/** Image size from a raw codestream's SIZ marker (FF4F FF51 ...), or null when absent. */
export function j2kSize(data: Uint8Array): { width: number; height: number } | null {
  if (data.length < 24 || data[0] !== 0xff || data[1] !== 0x4f || data[2] !== 0xff || data[3] !== 0x51) return null;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { width: dv.getUint32(8) - dv.getUint32(16), height: dv.getUint32(12) - dv.getUint32(20) };
}

export async function decodeJ2k(data: Uint8Array, what: string, maxPixels = 2 ** 26): Promise<J2kResult> {
  const sz = j2kSize(data);
  if (sz && (sz.width <= 0 || sz.height <= 0 || sz.width * sz.height > maxPixels))
    throw new InputError('wsi.bad-jpeg2000', `JPEG 2000 ${what} announces ${sz.width}x${sz.height} pixels: invalid or larger than ${maxPixels}`);
  const lib = await getOpenJpeg();
  const dec = new lib.J2KDecoder();
  try {
    dec.getEncodedBuffer(data.length).set(data);
    try {
      dec.decode();
    } catch (e) {
      throw new InputError('wsi.bad-jpeg2000', `cannot decode JPEG 2000 ${what}: ${String((e as Error)?.message ?? e)}`);
    }
    const fi = dec.getFrameInfo();
    if (fi.bitsPerSample > 8)
      throw new InputError('wsi.unsupported-bitdepth', `JPEG 2000 ${what} has ${fi.bitsPerSample} bits per sample; only 8-bit slides are supported`);
    const buf = dec.getDecodedBuffer();
    return { width: fi.width, height: fi.height, components: fi.componentCount, data: new Uint8Array(buf) };
  } finally {
    dec.delete();
  }
}

// --- geotiff decoders -----------------------------------------------------------------------------

export async function decodeGeneric(
  compression: number,
  bytes: Uint8Array,
  params: { tileWidth: number; tileHeight: number; predictor: number; bitsPerSample: number[]; planarConfiguration: number; samplesPerPixel: number },
  what: string,
): Promise<Uint8Array> {
  if (compression === 1) return bytes;
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  try {
    const dec = await getDecoder(compression, params);
    const out = await dec.decode(ab);
    return new Uint8Array(out as ArrayBuffer);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError('wsi.bad-tile', `cannot decompress ${compressionName(compression)} ${what}: ${(e as Error).message}`);
  }
}
