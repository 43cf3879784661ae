/** One TIFF image (IFD) as a tiled RGB source: tiles, or strips treated as full-width tiles. */
import { InputError } from '@app/core';
import { TAG, tagNum, tagNums, type Ifd, type TiffFile } from './tiff-file';
import { assertSupportedCompression, compressionName, decodeGeneric, decodeJ2k, decodeJpeg, decodeJpegInto, decodeStats, spliceJpeg } from './decode';
import { decodeIsolated, decodeRegionIsolated, sandboxDefault } from './isolate';
import { regionFromBlocks, type RegionBlock, type RegionTask } from './region-task';
import { checkDims, coveredTiles, MAX_TILE_PIXELS, type DecodedTile, type TiledLevel } from './base';

/** Largest decoded strip / tile (bytes) we agree to decode. */
export const MAX_BLOCK_BYTES = 2 ** 28;
/** Most stored (compressed) bytes a block of `blockBytes` decoded bytes may take: 4x plus 1 MiB of headers/tables covers every codec's worst case. */
export const maxStoredBytes = (blockBytes: number): number => Math.max(4 * blockBytes, blockBytes + 1024 * 1024);

export interface TiffImageInfo {
  width: number;
  height: number;
  tiled: boolean;
  tileWidth: number;
  tileHeight: number;
  compression: number;
  photometric: number;
  samplesPerPixel: number;
  bitsPerSample: number[];
  planar: number;
  predictor: number;
  offsets: number[];
  byteCounts: number[];
  jpegTables?: Uint8Array;
  subsampling: [number, number];
  lumaCoefs: [number, number, number];
  refBW: number[];
  /** SampleFormat 2 (signed): values are shifted by +128 to unsigned for display. */
  signed: boolean;
}

export function describeIfd(tf: TiffFile, ifd: Ifd, where: string, maxPixels: number): TiffImageInfo {
  const width = tagNum(ifd, TAG.ImageWidth) ?? 0;
  const height = tagNum(ifd, TAG.ImageLength) ?? 0;
  checkDims(width, height, maxPixels, where);
  const tiled = ifd.entries.has(TAG.TileWidth) || ifd.entries.has(TAG.TileOffsets);
  const tileWidth = tiled ? (tagNum(ifd, TAG.TileWidth) ?? 0) : width;
  const tileHeight = tiled ? (tagNum(ifd, TAG.TileLength) ?? 0) : Math.min(height, tagNum(ifd, TAG.RowsPerStrip, height) || height);
  if (tileWidth <= 0 || tileHeight <= 0 || tileWidth * tileHeight > MAX_TILE_PIXELS)
    throw new InputError('wsi.absurd-dimensions', `${where}: ${tiled ? 'tile' : 'strip'} size ${tileWidth}x${tileHeight} is invalid or larger than ${MAX_TILE_PIXELS} pixels`, { tileWidth, tileHeight });
  const compression = tagNum(ifd, TAG.Compression, 1)!;
  assertSupportedCompression(compression, where);
  const samplesPerPixel = tagNum(ifd, TAG.SamplesPerPixel, 1)!;
  const bitsPerSample = tagNums(ifd, TAG.BitsPerSample) ?? [1];
  const photometric = tagNum(ifd, TAG.Photometric, samplesPerPixel >= 3 ? 2 : 1)!;
  const planar = tagNum(ifd, TAG.PlanarConfiguration, 1)!;
  const predictor = tagNum(ifd, TAG.Predictor, 1)!;
  if (predictor !== 1 && predictor !== 2)
    throw new InputError('wsi.unsupported-format', `${where}: Predictor ${predictor} is not supported (supported: 1 none, 2 horizontal differencing)`, { predictor });
  if (samplesPerPixel < 1 || samplesPerPixel > 16) throw new InputError('wsi.unsupported-format', `${where}: SamplesPerPixel ${samplesPerPixel} is not supported`);
  if (bitsPerSample.some((b) => b !== 8))
    throw new InputError('wsi.unsupported-bitdepth', `${where}: BitsPerSample ${bitsPerSample.join(',')} is not supported; only 8-bit samples are`, { bitsPerSample });
  if (![0, 1, 2, 6].includes(photometric))
    throw new InputError('wsi.unsupported-photometric', `${where}: PhotometricInterpretation ${photometric} is not supported (supported: 0 MinIsWhite, 1 MinIsBlack, 2 RGB, 6 YCbCr)`, { photometric });
  if (photometric === 2 && samplesPerPixel < 3) throw new InputError('wsi.unsupported-format', `${where}: RGB image with ${samplesPerPixel} samples per pixel`);
  if (planar === 2 && samplesPerPixel > 1) throw new InputError('wsi.unsupported-format', `${where}: PlanarConfiguration=2 (separate planes) with ${samplesPerPixel} samples is not supported`);
  const across = Math.ceil(width / tileWidth);
  const down = Math.ceil(height / tileHeight);
  const offsets = tagNums(ifd, tiled ? TAG.TileOffsets : TAG.StripOffsets) ?? [];
  const byteCounts = tagNums(ifd, tiled ? TAG.TileByteCounts : TAG.StripByteCounts) ?? [];
  if (offsets.length < across * down || byteCounts.length < across * down)
    throw new InputError(
      'wsi.bad-ifd',
      `${where}: expected ${across * down} ${tiled ? 'tile' : 'strip'} offsets/byte counts for ${width}x${height} in ${tileWidth}x${tileHeight} blocks, found ${offsets.length}/${byteCounts.length}`,
    );
  // validate before anything is allocated or decoded: every block's offset and byte count against the
  // file size, and its byte count against what the block geometry can need (any compression)
  const spp0 = planar === 2 ? 1 : samplesPerPixel;
  const blockBytes = tileWidth * tileHeight * spp0;
  if (blockBytes > MAX_BLOCK_BYTES)
    throw new InputError('wsi.absurd-dimensions', `${where}: one ${tiled ? 'tile' : 'strip'} of ${tileWidth}x${tileHeight}x${spp0} samples is ${blockBytes} bytes decoded, more than the limit of ${MAX_BLOCK_BYTES}`, { tileWidth, tileHeight, samplesPerPixel });
  const maxStored = maxStoredBytes(blockBytes);
  for (let i = 0; i < across * down; i++) {
    const o = offsets[i];
    const c = byteCounts[i];
    if (!Number.isSafeInteger(o) || !Number.isSafeInteger(c) || o < 0 || c < 0)
      throw new InputError('wsi.bad-ifd', `${where}: ${tiled ? 'tile' : 'strip'} ${i} has offset ${o} and byte count ${c}: not valid file positions`, { index: i, offset: o, byteCount: c });
    if (byteCounts[i] > 0 && offsets[i] + byteCounts[i] > tf.size)
      throw new InputError(
        'wsi.offset-out-of-range',
        `${where}: ${tiled ? 'tile' : 'strip'} ${i} at offset ${offsets[i]} with ${byteCounts[i]} bytes ends beyond the end of the file (${tf.size} bytes): file truncated or corrupt`,
        { index: i, offset: offsets[i], byteCount: byteCounts[i], fileSize: tf.size },
      );
    if (c > maxStored)
      throw new InputError(
        'wsi.bad-ifd',
        `${where}: ${tiled ? 'tile' : 'strip'} ${i} claims ${c} stored bytes for a ${tileWidth}x${tileHeight} block of ${blockBytes} bytes decoded (at most ${maxStored} expected for any compression): corrupt byte count`,
        { index: i, byteCount: c, blockBytes },
      );
  }
  const sampleFormat = tagNum(ifd, TAG.SampleFormat, 1)!;
  if (sampleFormat !== 1 && sampleFormat !== 2)
    throw new InputError('wsi.unsupported-format', `${where}: SampleFormat ${sampleFormat} (${sampleFormat === 3 ? 'floating point' : 'other'}) is not supported; only unsigned/signed 8-bit integers are`, { sampleFormat });
  const sub = tagNums(ifd, TAG.YCbCrSubSampling);
  // TIFF 6.0 section 21: each factor 1, 2 or 4, vertical <= horizontal; used to size subsampled blocks (JPEG and
  // JPEG 2000 carry their own sampling)
  const jpegLike = compression === 7 || (compression >= 33003 && compression <= 33005);
  if (photometric === 6 && !jpegLike && sub && !(sub.length === 2 && [1, 2, 4].includes(sub[0]) && [1, 2, 4].includes(sub[1]) && sub[1] <= sub[0]))
    throw new InputError('wsi.bad-ifd', `${where}: YCbCrSubSampling ${sub.join(', ')} is not valid (two factors, each 1, 2 or 4, vertical <= horizontal)`, { subsampling: sub });
  const coefs = tagNums(ifd, TAG.YCbCrCoefficients);
  return {
    width, height, tiled, tileWidth, tileHeight, compression, photometric, samplesPerPixel, bitsPerSample, planar, predictor,
    offsets, byteCounts,
    jpegTables: ifd.entries.get(TAG.JPEGTables)?.bytes,
    subsampling: sub && sub.length === 2 ? [sub[0], sub[1]] : [2, 2],
    lumaCoefs: coefs && coefs.length === 3 ? [coefs[0], coefs[1], coefs[2]] : [0.299, 0.587, 0.114],
    refBW: tagNums(ifd, TAG.ReferenceBlackWhite) ?? [0, 255, 128, 255, 128, 255],
    signed: sampleFormat === 2,
  };
}

/**
 * JPEG 2000 colour handling per compression code: 33003 / 33004 carry YCbCr components (verified for 33004
 * against OpenSlide on cmu_jp2k.tif: read as RGB the mean error is ~46, converted ~2.2), 33005 RGB. When the
 * codestream itself declares an MCT, OpenJPEG has already returned RGB and no conversion is applied.
 */
export const J2K_IS_YCBCR: Record<number, boolean> = { 33003: true, 33004: true, 33005: false };

export class TiffImage implements TiledLevel {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly tilesAcross: number;
  readonly tilesDown: number;
  downsample = 1;

  constructor(
    private readonly tf: TiffFile,
    readonly info: TiffImageInfo,
    readonly where: string,
    /** Decode in the sandbox (child process): default true. */
    private readonly sandbox = sandboxDefault(),
  ) {
    this.width = info.width;
    this.height = info.height;
    this.tileWidth = info.tileWidth;
    this.tileHeight = info.tileHeight;
    this.tilesAcross = Math.ceil(info.width / info.tileWidth);
    this.tilesDown = Math.ceil(info.height / info.tileHeight);
  }

  async decodeTile(tx: number, ty: number): Promise<DecodedTile | null> {
    const i = ty * this.tilesAcross + tx;
    const { offsets, byteCounts } = this.info;
    if (!byteCounts[i]) return null;
    const what = this.blockName(i);
    const raw = await this.tf.readBytes(offsets[i], byteCounts[i], what);
    decodeStats.tiles++;
    const tw = this.tileWidth;
    const th = this.blockHeight(ty);
    const data = await decodeIsolated(
      this.sandbox ? { kind: 'tiff', raw, info: blockInfo(this.info), tw, th, what } : null,
      () => decodeTiffBlock(raw, this.info, tw, th, what),
      this.tf.path,
      `decoding ${what} (${compressionName(this.info.compression)})`,
    );
    return { w: tw, h: th, data };
  }

  /**
   * The level-pixel rectangle (lx, ly, w, h) painted from its blocks and resized to outW x outH (readRegionScaled):
   * one decoder-sandbox task for all of it (in this process without the sandbox). Bypasses the tile cache. A block
   * that crashes, hangs or exhausts the task is found again block by block (readRegion), so that the error names it.
   */
  async readScaled(lx: number, ly: number, w: number, h: number, outW: number, outH: number): Promise<Uint8Array> {
    const blocks: RegionBlock[] = [];
    const c = coveredTiles(this, lx, ly, w, h);
    if (c) {
      const { offsets, byteCounts } = this.info;
      for (let ty = c.ty0; ty <= c.ty1; ty++)
        for (let tx = c.tx0; tx <= c.tx1; tx++) {
          const i = ty * this.tilesAcross + tx;
          const what = this.blockName(i);
          if (byteCounts[i]) blocks.push({ tx, ty, h: this.blockHeight(ty), what, raw: await this.tf.readBytes(offsets[i], byteCounts[i], what) });
        }
    }
    decodeStats.tiles += blocks.length;
    const task: RegionTask = {
      info: blockInfo(this.info),
      level: { width: this.width, height: this.height, tileWidth: this.tileWidth, tileHeight: this.tileHeight, tilesAcross: this.tilesAcross, tilesDown: this.tilesDown },
      lx,
      ly,
      w,
      h,
      outW,
      outH,
      blocks,
    };
    if (!this.sandbox) return regionFromBlocks(task);
    const step = `decoding and resizing ${w}x${h} px of ${this.where} at (${lx}, ${ly}): ${blocks.length} ${this.info.tiled ? 'tiles' : 'strips'} (${compressionName(this.info.compression)})`;
    return decodeRegionIsolated(task, this.tf.path, step);
  }

  /** How errors name block i ('tile 12 of level 0'). */
  private blockName(i: number): string {
    return `${this.info.tiled ? 'tile' : 'strip'} ${i} of ${this.where}`;
  }

  /** Rows of the blocks in block row ty: a strip at the bottom holds only the remaining rows. */
  private blockHeight(ty: number): number {
    return this.info.tiled ? this.tileHeight : Math.min(this.tileHeight, this.height - ty * this.tileHeight);
  }
}

/** The fields of TiffImageInfo a block decoder needs (what crosses to the sandbox: no offset tables). */
export type TiffBlockInfo = Omit<TiffImageInfo, 'offsets' | 'byteCounts'>;
export const blockInfo = (info: TiffImageInfo): TiffBlockInfo => {
  const { offsets: _o, byteCounts: _b, ...rest } = info;
  return rest;
};

/** Decodes one strip / tile's raw bytes to RGB (tw x th). Pure: runs in the sandbox or in-process. */
export async function decodeTiffBlock(raw: Uint8Array, info: TiffBlockInfo, tw: number, th: number, what: string): Promise<Uint8Array> {
  const { compression, photometric } = info;
  if (compression === 7) return decodeJpeg(spliceJpeg(raw, info.jpegTables, photometric === 2), tw, th, what);
  if (compression >= 33003 && compression <= 33005) {
    const j = await decodeJ2k(raw, what, tw * th);
    if (j.width !== tw || j.height !== th)
      throw new InputError('wsi.bad-jpeg2000', `JPEG 2000 ${what} is ${j.width}x${j.height}, expected ${tw}x${th}`);
    if (j.data.length < tw * th * j.components) throw new InputError('wsi.bad-jpeg2000', `JPEG 2000 ${what} decoded to ${j.data.length} bytes, expected ${tw * th * j.components}`);
    return toRgb(j.data, j.components, tw * th, J2K_IS_YCBCR[compression] ? 6 : j.components >= 3 ? 2 : 1, info);
  }
  const spp = info.samplesPerPixel;
  const subsampled = photometric === 6 && (info.subsampling[0] > 1 || info.subsampling[1] > 1);
  // a subsampled YCbCr block holds data units, not pixels: its expected size differs
  const [sh, sv] = info.subsampling;
  const unitBytes = Math.ceil(tw / sh) * Math.ceil(th / sv) * (sh * sv + 2);
  let decoded = await decodeGeneric(
    compression,
    raw,
    { tileWidth: subsampled ? unitBytes : tw, tileHeight: subsampled ? 1 : th, predictor: subsampled ? 1 : info.predictor, bitsPerSample: info.bitsPerSample, planarConfiguration: subsampled ? 2 : info.planar, samplesPerPixel: spp },
    what,
  );
  if (info.signed) {
    const u = new Uint8Array(decoded.length);
    for (let k = 0; k < u.length; k++) u[k] = decoded[k] ^ 0x80; // two's complement int8 -> value + 128
    decoded = u;
  }
  if (subsampled) return unpackSubsampledYCbCr(decoded, tw, th, info, what);
  if (decoded.length < tw * th * spp)
    throw new InputError('wsi.bad-tile', `${what} decompressed to ${decoded.length} bytes, expected ${tw * th * spp} (${tw}x${th}x${spp})`);
  return toRgb(decoded, spp, tw * th, photometric, info);
}

/**
 * decodeTiffBlock handing the RGB pixels to `put`: a JPEG block is handed over where the WASM decoder left it (no
 * copy; `put` copies what it keeps, during the call), any other block as decodeTiffBlock returns it.
 */
export async function decodeTiffBlockInto(raw: Uint8Array, info: TiffBlockInfo, tw: number, th: number, what: string, put: (rgb: Uint8Array) => void): Promise<void> {
  if (info.compression === 7) return decodeJpegInto(spliceJpeg(raw, info.jpegTables, info.photometric === 2), tw, th, what, put);
  put(await decodeTiffBlock(raw, info, tw, th, what));
}

function ycc(info: TiffBlockInfo) {
  const [lr, lg, lb] = info.lumaCoefs;
  const rb = info.refBW;
  const code = (c: number, black: number, white: number, range: number) => ((c - black) * range) / (white - black || 1);
  return (Y: number, Cb: number, Cr: number, out: Uint8Array, o: number) => {
    const y = code(Y, rb[0], rb[1], 255);
    const cb = code(Cb, rb[2], rb[3], 127);
    const cr = code(Cr, rb[4], rb[5], 127);
    const r = y + cr * (2 - 2 * lr);
    const b = y + cb * (2 - 2 * lb);
    const g = (y - lb * b - lr * r) / lg;
    out[o] = r < 0 ? 0 : r > 255 ? 255 : Math.round(r);
    out[o + 1] = g < 0 ? 0 : g > 255 ? 255 : Math.round(g);
    out[o + 2] = b < 0 ? 0 : b > 255 ? 255 : Math.round(b);
  };
}

/** Converts interleaved samples to RGB: RGB(A) keeps 3, grey replicates, YCbCr (unsubsampled) converts. */
function toRgb(src: Uint8Array, spp: number, n: number, photometric: number, info: TiffBlockInfo): Uint8Array {
  if (spp === 3 && photometric === 2) return src.length === n * 3 ? src : src.subarray(0, n * 3);
  const out = new Uint8Array(n * 3);
  if (photometric === 6) {
    const conv = ycc(info);
    for (let i = 0; i < n; i++) conv(src[i * spp], src[i * spp + 1], src[i * spp + 2], out, i * 3);
  } else if (photometric === 2) {
    for (let i = 0; i < n; i++) { out[i * 3] = src[i * spp]; out[i * 3 + 1] = src[i * spp + 1]; out[i * 3 + 2] = src[i * spp + 2]; }
  } else {
    const inv = photometric === 0;
    for (let i = 0; i < n; i++) { const g = inv ? 255 - src[i * spp] : src[i * spp]; out[i * 3] = g; out[i * 3 + 1] = g; out[i * 3 + 2] = g; }
  }
  return out;
}

/** TIFF 6.0 section 21: subsampled chunky YCbCr data units (h*v luma, Cb, Cr). */
function unpackSubsampledYCbCr(src: Uint8Array, w: number, h: number, info: TiffBlockInfo, what: string): Uint8Array {
  const [sh, sv] = info.subsampling;
  const bw = Math.ceil(w / sh);
  const bh = Math.ceil(h / sv);
  const unit = sh * sv + 2;
  if (src.length < bw * bh * unit)
    throw new InputError('wsi.bad-tile', `${what}: YCbCr ${sh}x${sv} data is ${src.length} bytes, expected ${bw * bh * unit}`);
  const out = new Uint8Array(w * h * 3);
  const conv = ycc(info);
  let p = 0;
  for (let by = 0; by < bh; by++)
    for (let bx = 0; bx < bw; bx++) {
      const cb = src[p + sh * sv];
      const cr = src[p + sh * sv + 1];
      for (let j = 0; j < sv; j++)
        for (let i = 0; i < sh; i++) {
          const x = bx * sh + i;
          const y = by * sv + j;
          if (x < w && y < h) conv(src[p + j * sh + i], cb, cr, out, (y * w + x) * 3);
        }
      p += unit;
    }
  return out;
}
