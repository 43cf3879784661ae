/**
 * Tile / strip decompression. Decode paths were chosen by measurement (see README):
 * - JPEG (7): libjpeg-turbo, its WASM build first and sharp's (libvips) for what that declines (decodeJpeg), raw RGB
 *   output. JPEGTables are spliced into the
 *   abbreviated tile stream; for Photometric=RGB an Adobe APP14 marker with transform=0 is inserted so
 *   libjpeg does not apply a YCbCr->RGB conversion to components that are already RGB (Aperio).
 * - Deflate (8, 32946): node's zlib with an output limit; LZW (5), PackBits (32773): bounded decoders
 *   here (geotiff's grow unbounded arrays: see below); none (1); Predictor 2 for 8-bit samples.
 * - JPEG 2000 (33003, 33004, 33005): @cornerstonejs/codec-openjpeg (OpenJPEG compiled to WASM).
 */
import sharp from 'sharp';
import { inflateSync } from 'node:zlib';
import { InputError } from '@app/core';
import { decodeJpeg8, decodeJpeg8Into, jpegFrameHeader } from '@app/dicom';

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

/**
 * Counts decoder invocations (tests: the cache bound, and that valid JPEG blocks take the WASM path). `tiles` is
 * counted where the block is read; the JPEG paths where it is decoded (in the sandbox child when that decodes).
 */
export const decodeStats = { tiles: 0, jpegWasm: 0, jpegSharp: 0 };

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

/**
 * The number of components (1 or 3) of a stream the WASM decoder may take: one 8-bit baseline, extended or progressive
 * frame of exactly the expected size. 0: leave it to sharp.
 */
function wasmComponents(stream: Buffer, expectW: number, expectH: number): number {
  const sof = jpegFrameHeader(stream);
  return sof && sof.precision === 8 && sof.width === expectW && sof.height === expectH && (sof.components === 3 || sof.components === 1) && (sof.sof === 0xc0 || sof.sof === 0xc1 || sof.sof === 0xc2) ? sof.components : 0;
}

/** Whether the WASM decoder's output is the frame its header announced (else the stream goes to sharp). */
const wasmOutputFits = (out: { width: number; height: number; bitsPerSample: number; components: number; bytes: Uint8Array }, expectW: number, expectH: number, components: number): boolean =>
  out.width === expectW && out.height === expectH && out.bitsPerSample === 8 && out.components === components && out.bytes.length === expectW * expectH * components;

/**
 * A JPEG tile or frame to RGB. Two builds of the same libjpeg-turbo: the WASM one (@cornerstonejs/codec-libjpeg-turbo-8bit,
 * through @app/dicom) first, sharp (libvips) when the WASM path declines. Same library, same IDCT and upsampling, so
 * the pixels are the same (checked tile by tile on every JPEG slide fixture, YCbCr and Aperio RGB:
 * tests/wsi/jpeg-paths), but a 256² tile costs about a fifth of the CPU: sharp's per-call pipeline set-up costs more
 * than decoding the tile. The WASM path takes only a stream it is sure of (one 8-bit frame of exactly the expected
 * size, 1 or 3 components); a stream it fails on goes to sharp, which accepts or refuses it, with its message, as
 * before. Most damaged streams fail there; some it recovers (as libjpeg does with a warning), and then its recovered
 * pixels can differ from sharp's: both are accepted, neither is the image.
 */
export async function decodeJpeg(stream: Buffer, expectW: number, expectH: number, what: string): Promise<Uint8Array> {
  const components = wasmComponents(stream, expectW, expectH);
  if (components) {
    const out = await decodeJpeg8(stream, what).catch(() => null);
    if (out && wasmOutputFits(out, expectW, expectH, components)) {
      decodeStats.jpegWasm++;
      return out.components === 3 ? out.bytes : greyToRgb(out.bytes, 1, expectW * expectH);
    }
  }
  decodeStats.jpegSharp++;
  return decodeJpegSharp(stream, expectW, expectH, what);
}

/**
 * decodeJpeg handing the RGB pixels to `put` instead of returning them. A 3-component stream that the WASM decoder
 * takes is handed over where the decoder left it (no copy: `put` must copy what it keeps, during the call); anything
 * else gets decodeJpeg's own array. The same pixels, errors and fallbacks as decodeJpeg.
 */
export async function decodeJpegInto(stream: Buffer, expectW: number, expectH: number, what: string, put: (rgb: Uint8Array) => void): Promise<void> {
  if (wasmComponents(stream, expectW, expectH) !== 3) return put(await decodeJpeg(stream, expectW, expectH, what));
  let putError: { e: unknown } | undefined;
  const done = await decodeJpeg8Into(stream, what, (out) => {
    if (!wasmOutputFits(out, expectW, expectH, 3)) return false;
    decodeStats.jpegWasm++;
    try {
      put(out.bytes);
    } catch (e) {
      putError = { e };
    }
    return true;
  }).catch(() => false);
  if (putError) throw putError.e;
  if (done) return;
  decodeStats.jpegSharp++;
  put(await decodeJpegSharp(stream, expectW, expectH, what));
}

/** JPEG through sharp (libvips + libjpeg-turbo): any colour space it knows, converted to sRGB. */
export async function decodeJpegSharp(stream: Buffer, expectW: number, expectH: number, what: string): Promise<Uint8Array> {
  let out: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    // refuse a (corrupt) JPEG header announcing more pixels than the tile before libjpeg allocates anything
    out = await sharp(stream, { failOn: 'error', limitInputPixels: Math.max(1, expectW * expectH) }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new InputError('wsi.bad-jpeg', `cannot decode JPEG ${what}: ${libvipsMessage((e as Error).message)}`);
  }
  const { width, height, channels } = out.info;
  if (width !== expectW || height !== expectH)
    throw new InputError('wsi.bad-jpeg', `JPEG ${what} is ${width}x${height}, expected ${expectW}x${expectH} from the TIFF tags`);
  if (channels === 3) return new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
  return greyToRgb(out.data, channels, width * height);
}

/**
 * A libvips error as one line: libvips appends each warning of its error buffer on a line of its own, often the same
 * one several times ("Input buffer has corrupt header: VipsJpeg: Bogus marker length\nVipsJpeg: Bogus marker
 * length\n..."). Lines are trimmed, and a line already contained in an earlier one is dropped; the rest are joined by '; '.
 */
export function libvipsMessage(message: string): string {
  const kept: string[] = [];
  for (const line of message.split('\n').map((l) => l.trim()))
    if (line && !kept.some((k) => k.includes(line))) kept.push(line);
  return kept.join('; ');
}

/** The first sample of each pixel replicated to R, G and B. */
function greyToRgb(d: Uint8Array, channels: number, n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const g = d[i * channels];
    rgb[i * 3] = g;
    rgb[i * 3 + 1] = g;
    rgb[i * 3 + 2] = g;
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

// --- LZW, PackBits, Deflate: bounded decoders ------------------------------------------------------
// geotiff's LZW and PackBits decoders grow a plain JavaScript array with no bound: a corrupt strip of
// tens of KB expands past V8's array limit and the process aborts ("Fatal JavaScript invalid size
// error", uncatchable). These decoders write into a buffer of the size the TIFF tags announce and
// stop there (libtiff does the same); Deflate goes through node's zlib with an output limit.

/** Slack allowed past the expected size before a Deflate stream is refused as corrupt. */
const DEFLATE_SLACK = 64 * 1024;

/** TIFF LZW (MSB-first codes, "early change"), decoded into at most `expected` bytes. */
export function decodeLzw(src: Uint8Array, expected: number, what: string): Uint8Array {
  const out = new Uint8Array(expected);
  const prefix = new Int16Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const length = new Uint16Array(4096);
  for (let i = 0; i < 256; i++) {
    prefix[i] = -1;
    suffix[i] = i;
    first[i] = i;
    length[i] = 1;
  }
  const nbits = src.length * 8;
  let bit = 0;
  let width = 9;
  let next = 258;
  let old = -1;
  let op = 0;
  // writes the string of `code` at op (clipped to the output)
  const emit = (code: number) => {
    const len = length[code];
    let c = code;
    for (let k = len - 1; k >= 0; k--) {
      if (op + k < expected) out[op + k] = suffix[c];
      c = prefix[c];
    }
    op += len;
  };
  while (op < expected && bit + width <= nbits) {
    // read `width` bits MSB-first
    let code = 0;
    for (let k = 0; k < width; k++) {
      const b = bit + k;
      code = (code << 1) | ((src[b >> 3] >> (7 - (b & 7))) & 1);
    }
    bit += width;
    if (code === 257) break;
    if (code === 256) {
      next = 258;
      width = 9;
      old = -1;
      continue;
    }
    if (old === -1) {
      if (code > 255) throw new InputError('wsi.bad-tile', `cannot decompress LZW ${what}: code ${code} follows a clear code (corrupt data)`);
      emit(code);
      old = code;
      continue;
    }
    let fc: number;
    if (code < next) {
      fc = first[code];
      emit(code);
    } else if (code === next) {
      fc = first[old];
      emit(old);
      if (op < expected) out[op] = fc;
      op++;
    } else {
      throw new InputError('wsi.bad-tile', `cannot decompress LZW ${what}: code ${code} is not in the table (${next} entries): corrupt data`);
    }
    if (next < 4096) {
      prefix[next] = old;
      suffix[next] = fc;
      first[next] = first[old];
      length[next] = Math.min(length[old] + 1, 4095);
      next++;
    }
    old = code;
    if (next + 1 >= 1 << width && width < 12) width++;
  }
  return op >= expected ? out : out.subarray(0, op);
}

/** PackBits, decoded into at most `expected` bytes. */
export function decodePackBits(src: Uint8Array, expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  let op = 0;
  let i = 0;
  while (i < src.length && op < expected) {
    const n = (src[i++] << 24) >> 24;
    if (n >= 0) {
      const m = Math.min(n + 1, src.length - i, expected - op);
      out.set(src.subarray(i, i + m), op);
      op += m;
      i += n + 1;
    } else if (n !== -128) {
      if (i >= src.length) break;
      const m = Math.min(1 - n, expected - op);
      out.fill(src[i++], op, op + m);
      op += m;
    }
  }
  return op >= expected ? out : out.subarray(0, op);
}

/** Horizontal differencing (Predictor 2) for 8-bit samples, in place; rows of `rowSamples` interleaved samples. */
export function undoPredictor8(data: Uint8Array, rowSamples: number, stride: number): void {
  for (let r = 0; r + rowSamples <= data.length; r += rowSamples)
    for (let i = r + stride; i < r + rowSamples; i++) data[i] = (data[i] + data[i - stride]) & 255;
}

export async function decodeGeneric(
  compression: number,
  bytes: Uint8Array,
  params: { tileWidth: number; tileHeight: number; predictor: number; bitsPerSample: number[]; planarConfiguration: number; samplesPerPixel: number },
  what: string,
): Promise<Uint8Array> {
  const spp = params.planarConfiguration === 2 ? 1 : params.samplesPerPixel;
  const expected = params.tileWidth * params.tileHeight * spp;
  let out: Uint8Array;
  if (compression === 1) out = bytes;
  else if (compression === 5) out = decodeLzw(bytes, expected, what);
  else if (compression === 32773) out = decodePackBits(bytes, expected);
  else if (compression === 8 || compression === 32946) {
    try {
      const b = inflateSync(bytes, { maxOutputLength: expected + DEFLATE_SLACK });
      out = new Uint8Array(b.buffer, b.byteOffset, Math.min(b.length, expected));
    } catch (e) {
      throw new InputError('wsi.bad-tile', `cannot decompress Deflate ${what}: ${(e as Error).message}`);
    }
  } else throw new InputError('wsi.unsupported-compression', `unsupported TIFF compression ${compression} (${compressionName(compression)}) in ${what}`);
  if (params.predictor === 2) {
    if (out === bytes) out = new Uint8Array(bytes); // never modify the caller's raw bytes
    undoPredictor8(out, params.tileWidth * spp, spp);
  } else if (params.predictor !== 1)
    throw new InputError('wsi.unsupported-format', `${what}: Predictor ${params.predictor} is not supported for 8-bit samples (supported: 1 none, 2 horizontal)`);
  return out;
}
