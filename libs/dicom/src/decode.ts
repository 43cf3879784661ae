import * as dicomParser from 'dicom-parser';
import { InputError } from '@app/core';
import { decodeJ2k, decodeJpeg12, decodeJpeg8, decodeJpegLossless, decodeJpegLs, jpegFrameHeader, type CodecOutput, type JpegFrameHeader } from './codecs';
import { frameGeometry, type DicomHeader, type ParsedDicom } from './parse';
import { decodeRleFrame } from './rle';
import { transferSyntaxInfo } from './transfer-syntax';

/** Refuses absurd images (decompression bombs) before anything is allocated. */
export interface DecodeLimits {
  /** Rows x Columns x SamplesPerPixel of one frame. Default 8192 x 8192 = 67,108,864. */
  maxPixelsPerFrame: number;
  /** Frames in one object. Default 10,000. */
  maxFrames: number;
  /** Bytes of decoded pixel data of one object (all frames, as stored). Default 2 GiB. */
  maxTotalBytes: number;
}

export const DEFAULT_LIMITS: DecodeLimits = {
  maxPixelsPerFrame: 8192 * 8192,
  maxFrames: 10_000,
  maxTotalBytes: 2 * 1024 ** 3,
};

export type StoredArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

/** One decoded frame. */
export interface DecodedFrame {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  /** Photometric interpretation of `stored` (JPEG colour is converted to RGB by the codec). */
  photometricInterpretation: string;
  /** Stored values after BitsStored masking / sign extension; colour samples pixel-interleaved. */
  stored: StoredArray;
  /**
   * Monochrome only: the modality LUT applied (RescaleSlope x stored + RescaleIntercept), i.e. Hounsfield
   * units for CT. Int16Array when every value is an exact integer in int16 range, else Float32Array.
   */
  values?: Int16Array | Float32Array;
  rescaleSlope: number;
  rescaleIntercept: number;
}

const bad = (code: string, msg: string, detail?: Record<string, unknown>): InputError => new InputError(code, msg, detail);

/** Validated pixel-module description of an object; throws InputError on anything missing or absurd. */
export interface PixelModule {
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  planarConfiguration: number;
  photometricInterpretation: string;
  bytesPerFrame: number;
}

/**
 * Checks the pixel module of a header against the limits. Pure arithmetic on header values: call it
 * before allocating anything for the pixels.
 */
export function checkPixelModule(h: DicomHeader, limits: Partial<DecodeLimits> = {}): PixelModule {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const img = h.image;
  if (!img.hasPixelData) throw bad('dicom.no-pixel-data', 'The object has no Pixel Data (7FE0,0010) element; it is not an image');
  const need: Array<[string, number | undefined]> = [
    ['Rows (0028,0010)', img.rows],
    ['Columns (0028,0011)', img.columns],
    ['BitsAllocated (0028,0100)', img.bitsAllocated],
  ];
  for (const [n, v] of need) {
    if (v === undefined || !Number.isInteger(v) || v <= 0) {
      throw bad('dicom.missing-attribute', `Image pixel module attribute ${n} is missing or zero (value: ${v}); the image cannot be decoded`);
    }
  }
  if (!Number.isFinite(img.numberOfFrames)) {
    const f = h.flags.find((x) => x.includes('NumberOfFrames')) ?? 'NumberOfFrames (0028,0008) is invalid';
    throw bad('dicom.invalid-number-of-frames', `Cannot decode: ${f.replace(/^invalid-value: /, '')}; the frame count is needed to split the pixel data`);
  }
  const rows = img.rows!;
  const columns = img.columns!;
  const ba = img.bitsAllocated!;
  const spp = img.samplesPerPixel ?? 1;
  const frames = img.numberOfFrames;
  if (![8, 16, 32].includes(ba)) {
    throw bad('dicom.unsupported-bits-allocated', `BitsAllocated ${ba} is not supported (expected 8, 16 or 32)`);
  }
  if (spp !== 1 && spp !== 3) throw bad('dicom.unsupported-samples', `SamplesPerPixel ${spp} is not supported (expected 1 or 3)`);
  const bitsStored = img.bitsStored ?? ba;
  if (bitsStored < 1 || bitsStored > ba) {
    throw bad('dicom.invalid-bits-stored', `BitsStored ${bitsStored} is outside 1..BitsAllocated (${ba})`);
  }
  const ppf = rows * columns * spp;
  if (ppf > lim.maxPixelsPerFrame) {
    throw bad(
      'dicom.too-large',
      `Image is ${columns} x ${rows} x ${spp} samples = ${ppf} per frame, above the limit of ${lim.maxPixelsPerFrame}; refused before decoding`,
      { rows, columns, samplesPerPixel: spp, limit: lim.maxPixelsPerFrame },
    );
  }
  if (frames > lim.maxFrames) {
    throw bad('dicom.too-large', `Object has ${frames} frames, above the limit of ${lim.maxFrames}; refused before decoding`, {
      frames,
      limit: lim.maxFrames,
    });
  }
  const bytesPerFrame = (ppf * ba) / 8;
  const total = bytesPerFrame * frames;
  if (total > lim.maxTotalBytes) {
    throw bad(
      'dicom.too-large',
      `Pixel data would decode to ${total} bytes (${columns} x ${rows} x ${spp} x ${frames} frames x ${ba / 8} bytes), above the limit of ${lim.maxTotalBytes}; refused before decoding`,
      { rows, columns, frames, bytes: total, limit: lim.maxTotalBytes },
    );
  }
  return {
    rows,
    columns,
    frames,
    samplesPerPixel: spp,
    bitsAllocated: ba,
    bitsStored,
    signed: img.pixelRepresentation === 1,
    planarConfiguration: img.planarConfiguration ?? 0,
    photometricInterpretation: img.photometricInterpretation ?? (spp === 1 ? 'MONOCHROME2' : 'RGB'),
    bytesPerFrame,
  };
}

const botCache = new WeakMap<object, number[]>();

/**
 * A dicom-parser call on encapsulated pixel data: what it throws (often a bare string, e.g. on a Basic Offset Table
 * entry that matches no fragment) becomes an InputError `dicom.malformed` naming the frame.
 */
function parserCall<T>(i: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof InputError) throw e;
    const text = typeof e === 'string' ? e : e instanceof Error ? e.message : String(e);
    throw bad('dicom.malformed', `Encapsulated Pixel Data, frame ${i + 1}: ${text.replace(/^dicomParser\.\w+: /, '')}`, { frame: i + 1 });
  }
}

/** The encoded bytes of frame `i` of an encapsulated object (BOT, one fragment per frame, or JPEG EOI scan). */
function encapsulatedFrame(p: ParsedDicom, i: number, frames: number, jpeg: boolean): Uint8Array {
  return parserCall(i, () => encapsulatedFrameUnchecked(p, i, frames, jpeg));
}

function encapsulatedFrameUnchecked(p: ParsedDicom, i: number, frames: number, jpeg: boolean): Uint8Array {
  const ds = p.dataSet;
  const el = ds.elements.x7fe00010;
  const name = transferSyntaxInfo(p.transferSyntaxUid)?.name ?? p.transferSyntaxUid;
  if (!el.encapsulatedPixelData) {
    throw bad('dicom.malformed', `Transfer syntax ${name} requires encapsulated pixel data, but Pixel Data has a defined length (native)`);
  }
  const frags = el.fragments ?? [];
  if (!frags.length) throw bad('dicom.truncated-pixel-data', 'Encapsulated Pixel Data has no fragments');
  if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, frags.length);
  if (el.basicOffsetTable && el.basicOffsetTable.length) {
    if (el.basicOffsetTable.length !== frames) {
      throw bad('dicom.malformed', `Basic Offset Table has ${el.basicOffsetTable.length} entries for ${frames} frames`);
    }
    return dicomParser.readEncapsulatedImageFrame(ds, el, i);
  }
  if (frags.length === frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, i, 1);
  if (!jpeg) {
    throw bad(
      'dicom.malformed',
      `${frames} frames in ${frags.length} fragments without a Basic Offset Table: frame boundaries cannot be found for ${name}`,
    );
  }
  let bot = botCache.get(p);
  if (!bot) {
    bot = dicomParser.createJPEGBasicOffsetTable(ds, el);
    botCache.set(p, bot);
  }
  if (bot.length < frames) {
    throw bad('dicom.truncated-pixel-data', `Found ${bot.length} JPEG frames (by EOI markers) in the pixel data, expected ${frames}`);
  }
  return dicomParser.readEncapsulatedImageFrame(ds, el, i, bot);
}

/** Per-thread scratch memory for transient 16-bit stored values (used by decodeFrameInto only). */
let scratch = new ArrayBuffer(0);
const scratchBytes = (n: number): Uint8Array => {
  if (scratch.byteLength < n) scratch = new ArrayBuffer(Math.max(n, scratch.byteLength * 2));
  return new Uint8Array(scratch, 0, n);
};

/** Little-endian sample bytes -> stored values with BitsStored masking / sign extension. */
function toStored(le: Uint8Array, sampleBytes: number, count: number, pm: PixelModule, transient = false): StoredArray {
  const bs = pm.bitsStored;
  if (sampleBytes === 1) {
    if (!pm.signed) {
      const out = new Uint8Array(count);
      const mask = bs >= 8 ? 0xff : (1 << bs) - 1;
      for (let k = 0; k < count; k++) out[k] = le[k] & mask;
      return out;
    }
    const out = new Int8Array(count);
    const sh = 32 - bs;
    for (let k = 0; k < count; k++) out[k] = (le[k] << sh) >> sh;
    return out;
  }
  if (sampleBytes === 2) {
    // View the bytes directly when aligned and nothing needs masking (the view shares memory with the
    // input: treat as read-only); otherwise copy into an aligned buffer (a memcpy) and fix up in place.
    if (bs === 16 && le.byteOffset % 2 === 0) {
      return pm.signed ? new Int16Array(le.buffer, le.byteOffset, count) : new Uint16Array(le.buffer, le.byteOffset, count);
    }
    // Transient (values written into a caller's target): reuse scratch memory, avoiding a fresh
    // allocation (and its page faults) per frame.
    const raw = transient ? scratchBytes(count * 2) : new Uint8Array(count * 2);
    raw.set(le.subarray(0, count * 2));
    if (!pm.signed) {
      const out = new Uint16Array(raw.buffer, 0, count);
      if (bs < 16) {
        const mask = (1 << bs) - 1;
        for (let k = 0; k < count; k++) out[k] &= mask;
      }
      return out;
    }
    const out = new Int16Array(raw.buffer, 0, count);
    if (bs < 16) {
      const sh = 32 - bs;
      for (let k = 0; k < count; k++) out[k] = (out[k] << sh) >> sh;
    }
    return out;
  }
  // 32-bit
  const dv = new DataView(le.buffer, le.byteOffset, le.byteLength);
  if (!pm.signed) {
    const out = new Uint32Array(count);
    for (let k = 0; k < count; k++) {
      const v = dv.getUint32(4 * k, true);
      out[k] = bs >= 32 ? v : v % 2 ** bs;
    }
    return out;
  }
  const out = new Int32Array(count);
  const sh = 32 - bs;
  for (let k = 0; k < count; k++) out[k] = (dv.getInt32(4 * k, true) << sh) >> sh;
  return out;
}

/** Planar (RRR..GGG..BBB) -> interleaved (RGBRGB). */
function interleave(planar: Uint8Array, pixels: number, sampleBytes: number): Uint8Array {
  const out = new Uint8Array(planar.length);
  for (let s = 0; s < 3; s++) {
    for (let px = 0; px < pixels; px++) {
      for (let b = 0; b < sampleBytes; b++) out[(px * 3 + s) * sampleBytes + b] = planar[(s * pixels + px) * sampleBytes + b];
    }
  }
  return out;
}

function codecCheck(out: CodecOutput, pm: PixelModule, name: string): void {
  if (out.width !== pm.columns || out.height !== pm.rows || out.components !== pm.samplesPerPixel) {
    throw bad(
      'dicom.codec-mismatch',
      `${name} frame decodes to ${out.width} x ${out.height} x ${out.components} but the header says Columns ${pm.columns} x Rows ${pm.rows} x SamplesPerPixel ${pm.samplesPerPixel}`,
    );
  }
}

/**
 * A 12-bit JPEG frame must agree with the pixel module before it is decoded (PS3.5 8.2.1: the pixel
 * module shall be consistent with the compressed stream): the decoder sizes its output from the stream,
 * a BitsStored below the precision would wrap lossy overshoot when masked, and an 8-bit BitsAllocated
 * cannot hold the samples.
 */
function check12BitJpeg(sof: JpegFrameHeader, pm: PixelModule, tsi: { uid: string; name: string }): void {
  const what = `${tsi.name} (${tsi.uid}) frame with 12-bit samples`;
  if (pm.samplesPerPixel !== 1 || sof.components !== 1) {
    throw bad(
      'dicom.unsupported-samples',
      `${what} has ${sof.components} components (SamplesPerPixel ${pm.samplesPerPixel}): only monochrome 12-bit JPEG is decoded`,
      { transferSyntaxUid: tsi.uid, precision: sof.precision },
    );
  }
  if (sof.width !== pm.columns || sof.height !== pm.rows) {
    throw bad(
      'dicom.codec-mismatch',
      `${what}: the JPEG frame header says ${sof.width} x ${sof.height} but the header says Columns ${pm.columns} x Rows ${pm.rows}`,
      { jpeg: { width: sof.width, height: sof.height }, rows: pm.rows, columns: pm.columns },
    );
  }
  if (pm.bitsAllocated !== 16 || pm.bitsStored !== sof.precision) {
    throw bad(
      'dicom.codec-mismatch',
      `${what}: BitsAllocated ${pm.bitsAllocated} / BitsStored ${pm.bitsStored} do not match the JPEG sample precision ${sof.precision} ` +
        '(expected BitsAllocated 16, BitsStored 12)',
      { precision: sof.precision, bitsAllocated: pm.bitsAllocated, bitsStored: pm.bitsStored },
    );
  }
}

/** Applies the modality LUT (slope/intercept) to a monochrome frame. */
export function applyModalityLut(
  stored: StoredArray,
  slope: number,
  intercept: number,
  into?: Int16Array | Float32Array,
  storedRange?: [number, number],
): Int16Array | Float32Array {
  const n = stored.length;
  if (into && into.length !== n) throw new RangeError(`applyModalityLut: target has ${into.length} elements, need ${n}`);
  if (into instanceof Float32Array) {
    for (let k = 0; k < n; k++) into[k] = stored[k] * slope + intercept;
    return into;
  }
  if (Number.isInteger(slope) && Number.isInteger(intercept)) {
    const out = into ?? new Int16Array(n);
    if (storedRange) {
      // The stored range (from BitsStored / PixelRepresentation) maps inside int16: no per-value checks.
      const a = storedRange[0] * slope + intercept;
      const b = storedRange[1] * slope + intercept;
      if (Math.min(a, b) >= -32768 && Math.max(a, b) <= 32767) {
        if (slope === 1) for (let k = 0; k < n; k++) out[k] = stored[k] + intercept;
        else for (let k = 0; k < n; k++) out[k] = stored[k] * slope + intercept;
        return out;
      }
    }
    // One pass into int16, tracking whether any value fell outside the int16 range.
    let lo = 0;
    let hi = 0;
    if (slope === 1) {
      for (let k = 0; k < n; k++) {
        const v = stored[k] + intercept;
        out[k] = v;
        if (v < lo) lo = v;
        else if (v > hi) hi = v;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const v = stored[k] * slope + intercept;
        out[k] = v;
        if (v < lo) lo = v;
        else if (v > hi) hi = v;
      }
    }
    if (lo >= -32768 && hi <= 32767) return out;
  }
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) out[k] = stored[k] * slope + intercept;
  return out;
}

export interface DecodeOptions {
  limits?: Partial<DecodeLimits>;
}

interface RawFrame {
  pm: PixelModule;
  /** Little-endian samples, pixel-interleaved (may be a view of the input). */
  le: Uint8Array;
  sampleBytes: number;
  photometric: string;
}

async function decodeSamples(p: ParsedDicom, frameIndex: number, limits?: Partial<DecodeLimits>): Promise<RawFrame> {
  const h = p.header;
  const pm = checkPixelModule(h, limits);
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= pm.frames) {
    throw new RangeError(`frame index ${frameIndex} outside 0..${pm.frames - 1}`);
  }
  const tsi = transferSyntaxInfo(p.transferSyntaxUid);
  if (!tsi || tsi.encoding === 'unsupported') {
    throw bad(
      'dicom.unsupported-transfer-syntax',
      `Transfer syntax ${p.transferSyntaxUid}${tsi ? ` (${tsi.name})` : ' (unknown UID)'} is not supported for pixel decoding`,
      { transferSyntaxUid: p.transferSyntaxUid, name: tsi?.name },
    );
  }
  const pixels = pm.rows * pm.columns;
  const count = pixels * pm.samplesPerPixel;
  const sampleBytesHeader = pm.bitsAllocated / 8;
  let le: Uint8Array;
  let sampleBytes = sampleBytesHeader;
  let photometric = pm.photometricInterpretation;

  if (tsi.encoding === 'native') {
    const el = p.dataSet.elements.x7fe00010;
    if (el.encapsulatedPixelData) {
      throw bad('dicom.malformed', `Pixel Data is encapsulated but the transfer syntax ${tsi.uid} (${tsi.name}) is native`);
    }
    const need = pm.bytesPerFrame * pm.frames;
    const avail = Math.min(el.length, p.dataSet.byteArray.length - el.dataOffset);
    if (avail < need) {
      throw bad(
        'dicom.truncated-pixel-data',
        `Pixel Data has ${avail} bytes but Rows ${pm.rows} x Columns ${pm.columns} x Frames ${pm.frames} x Samples ${pm.samplesPerPixel} x ${sampleBytesHeader} bytes = ${need} bytes are required`,
        { availableBytes: avail, expectedBytes: need },
      );
    }
    const start = el.dataOffset + frameIndex * pm.bytesPerFrame;
    const raw = p.dataSet.byteArray.subarray(start, start + pm.bytesPerFrame);
    if (tsi.bigEndian && sampleBytes > 1) {
      le = new Uint8Array(raw.length);
      for (let k = 0; k < raw.length; k += sampleBytes) for (let b = 0; b < sampleBytes; b++) le[k + b] = raw[k + sampleBytes - 1 - b];
    } else le = raw;
    if (pm.samplesPerPixel === 3 && pm.planarConfiguration === 1) le = interleave(le, pixels, sampleBytes);
  } else {
    const frame = encapsulatedFrame(p, frameIndex, pm.frames, tsi.encoding === 'jpeg-baseline' || tsi.encoding === 'jpeg-lossless');
    switch (tsi.encoding) {
      case 'rle':
        le = decodeRleFrame(frame, pixels, pm.samplesPerPixel, sampleBytes);
        break;
      case 'jpeg-lossless': {
        le = decodeJpegLossless(frame, sampleBytes, tsi.name);
        if (le.length < count * sampleBytes) {
          throw bad('dicom.codec-mismatch', `${tsi.name} frame decodes to ${le.length} bytes, expected ${count * sampleBytes}`);
        }
        break;
      }
      case 'jpeg-baseline': {
        const sof = jpegFrameHeader(frame);
        if (!sof) throw bad('dicom.codec-error', `${tsi.name} frame has no JPEG Start Of Frame marker`);
        if (sof.precision === 12) {
          check12BitJpeg(sof, pm, tsi);
          le = await decodeJpeg12(frame, { rows: pm.rows, columns: pm.columns, photometricInterpretation: pm.photometricInterpretation }, tsi.name);
          sampleBytes = 2;
          if (le.length !== count * 2) {
            throw bad(
              'dicom.codec-mismatch',
              `${tsi.name} frame decodes to ${le.length} bytes, expected Rows ${pm.rows} x Columns ${pm.columns} x SamplesPerPixel ${pm.samplesPerPixel} x 2 = ${count * 2}`,
            );
          }
          break;
        }
        if (sof.precision !== 8) {
          throw bad(
            'dicom.unsupported-jpeg-precision',
            `${tsi.name} (${tsi.uid}) frame uses ${sof.precision}-bit samples (SOF 0xFF${sof.sof.toString(16).toUpperCase()}); ` +
              'JPEG frames are decoded with 8-bit samples (libjpeg-turbo) or 12-bit samples (IJG via dcmjs-codecs): ITU-T T.81 ' +
              'defines the DCT processes for 8 and 12 bits only (16-bit JPEG is lossless, transfer syntaxes .57/.70)',
            { transferSyntaxUid: tsi.uid, precision: sof.precision },
          );
        }
        const out = await decodeJpeg8(frame, tsi.name);
        codecCheck(out, pm, tsi.name);
        le = out.bytes;
        sampleBytes = 1;
        if (pm.samplesPerPixel === 3) photometric = 'RGB'; // libjpeg-turbo converts YCbCr to RGB
        break;
      }
      case 'jpeg-ls':
      case 'jpeg-2000': {
        const out = tsi.encoding === 'jpeg-ls' ? await decodeJpegLs(frame, tsi.name) : await decodeJ2k(frame, tsi.name);
        codecCheck(out, pm, tsi.name);
        le = out.bytes;
        sampleBytes = out.bitsPerSample > 16 ? 4 : out.bitsPerSample > 8 ? 2 : 1;
        if (le.length < count * sampleBytes) {
          throw bad('dicom.codec-mismatch', `${tsi.name} frame decodes to ${le.length} bytes, expected ${count * sampleBytes}`);
        }
        if (tsi.encoding === 'jpeg-2000' && pm.samplesPerPixel === 3 && /^YBR_(ICT|RCT)$/.test(photometric)) photometric = 'RGB';
        break;
      }
      default:
        throw bad('dicom.unsupported-transfer-syntax', `Transfer syntax ${tsi.uid} (${tsi.name}) is not supported`);
    }
  }
  return { pm, le, sampleBytes, photometric };
}

const storedRange = (pm: PixelModule): [number, number] =>
  pm.signed ? [-(2 ** (pm.bitsStored - 1)), 2 ** (pm.bitsStored - 1) - 1] : [0, 2 ** pm.bitsStored - 1];

/**
 * Decodes frame `frameIndex` (0-based) of a parsed object and applies the modality LUT.
 * Throws InputError for unsupported syntaxes, truncated or malformed pixel data, absurd sizes.
 */
export async function decodeFrame(p: ParsedDicom, frameIndex: number, opts: DecodeOptions = {}): Promise<DecodedFrame> {
  const { pm, le, sampleBytes, photometric } = await decodeSamples(p, frameIndex, opts.limits);
  const count = pm.rows * pm.columns * pm.samplesPerPixel;
  const stored = toStored(le, sampleBytes, count, pm);
  const g = frameGeometry(p.header, frameIndex);
  const slope = g.rescaleSlope ?? 1;
  const intercept = g.rescaleIntercept ?? 0;
  const result: DecodedFrame = {
    rows: pm.rows,
    columns: pm.columns,
    samplesPerPixel: pm.samplesPerPixel,
    photometricInterpretation: photometric,
    stored,
    rescaleSlope: slope,
    rescaleIntercept: intercept,
  };
  if (pm.samplesPerPixel === 1) result.values = applyModalityLut(stored, slope, intercept, undefined, storedRange(pm));
  return result;
}

/**
 * Decodes a monochrome frame's modality-LUT values (HU) straight into `into` (e.g. one slice of a
 * volume), fusing BitsStored masking and the LUT in one pass where possible. Returns `into` when it
 * could hold the values; for an Int16Array target whose values are not exact int16, returns a new
 * Float32Array instead (the target's contents are then unspecified). Throws like decodeFrame; `dicom.not-monochrome` for colour.
 */
export async function decodeFrameInto(
  p: ParsedDicom,
  frameIndex: number,
  into: Int16Array | Float32Array,
  opts: { limits?: Partial<DecodeLimits> } = {},
): Promise<Int16Array | Float32Array> {
  const { pm, le, sampleBytes } = await decodeSamples(p, frameIndex, opts.limits);
  if (pm.samplesPerPixel !== 1) throw bad('dicom.not-monochrome', 'The image is colour (SamplesPerPixel 3); HU values need a monochrome image');
  const count = pm.rows * pm.columns;
  if (into.length !== count) throw new RangeError(`decodeFrameInto: target has ${into.length} elements, frame has ${count}`);
  const g = frameGeometry(p.header, frameIndex);
  const slope = g.rescaleSlope ?? 1;
  const intercept = g.rescaleIntercept ?? 0;
  const range = storedRange(pm);
  const lo = Math.min(range[0] * slope + intercept, range[1] * slope + intercept);
  const hi = Math.max(range[0] * slope + intercept, range[1] * slope + intercept);
  // Fused fast path: 16-bit samples, aligned, integer LUT whose whole stored range fits the target.
  if (
    sampleBytes === 2 &&
    le.byteOffset % 2 === 0 &&
    Number.isInteger(slope) &&
    Number.isInteger(intercept) &&
    (into instanceof Float32Array || (lo >= -32768 && hi <= 32767))
  ) {
    const bs = pm.bitsStored;
    if (pm.signed) {
      const src = new Int16Array(le.buffer, le.byteOffset, count);
      const sh = 32 - bs;
      if (bs === 16) for (let k = 0; k < count; k++) into[k] = src[k] * slope + intercept;
      else for (let k = 0; k < count; k++) into[k] = ((src[k] << sh) >> sh) * slope + intercept;
    } else {
      const src = new Uint16Array(le.buffer, le.byteOffset, count);
      const mask = bs >= 16 ? 0xffff : (1 << bs) - 1;
      if (slope === 1) for (let k = 0; k < count; k++) into[k] = (src[k] & mask) + intercept;
      else for (let k = 0; k < count; k++) into[k] = (src[k] & mask) * slope + intercept;
    }
    return into;
  }
  const stored = toStored(le, sampleBytes, count, pm, true);
  if (into instanceof Int16Array && !(Number.isInteger(slope) && Number.isInteger(intercept))) {
    return applyModalityLut(stored, slope, intercept, undefined, range);
  }
  return applyModalityLut(stored, slope, intercept, into, range);
}

/** Decodes every frame of an object. */
export async function decodeAllFrames(p: ParsedDicom, opts: DecodeOptions = {}): Promise<DecodedFrame[]> {
  const pm = checkPixelModule(p.header, opts.limits);
  const out: DecodedFrame[] = [];
  for (let i = 0; i < pm.frames; i++) out.push(await decodeFrame(p, i, opts));
  return out;
}
