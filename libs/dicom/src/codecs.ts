/**
 * Maintained Emscripten/WASM codecs (cornerstone builds of CharLS, OpenJPEG, libjpeg-turbo; dcmjs-codecs'
 * build of DCMTK's IJG libjpeg for 12-bit JPEG), initialised lazily once per process (or worker thread)
 * and reused.
 */
import { InputError } from '@app/core';

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}
interface WasmDecoder {
  getEncodedBuffer(len: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  readHeader?(): void;
  getFrameInfo(): FrameInfo;
  delete(): void;
}
type Ctor = new () => WasmDecoder;

interface Codecs {
  JpegLSDecoder: Ctor;
  J2KDecoder: Ctor;
  JPEGDecoder: Ctor;
}

let ready: Promise<Codecs> | undefined;

/** Emscripten module options that silence the codecs' informational stdout/stderr chatter. */
const quiet = (): object => ({ print: () => undefined, printErr: () => undefined });

/** Loads the three WASM codecs (idempotent; concurrent callers share one promise). */
export function initCodecs(): Promise<Codecs> {
  if (!ready) {
    ready = (async () => {
      /* eslint-disable @typescript-eslint/no-require-imports */
      const charls = require('@cornerstonejs/codec-charls/decodewasmjs') as (m?: object) => Promise<{ JpegLSDecoder: Ctor }>;
      const openjpeg = require('@cornerstonejs/codec-openjpeg/decodewasmjs') as (m?: object) => Promise<{ J2KDecoder: Ctor }>;
      const turbo = require('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs') as (m?: object) => Promise<{ JPEGDecoder: Ctor }>;
      const [a, b, c] = await Promise.all([charls(quiet()), openjpeg(quiet()), turbo(quiet())]);
      return { JpegLSDecoder: a.JpegLSDecoder, J2KDecoder: b.J2KDecoder, JPEGDecoder: c.JPEGDecoder };
    })();
    ready.catch(() => (ready = undefined));
  }
  return ready;
}

export interface CodecOutput {
  /** Decoded bytes (a copy, owned by the caller; decodeJpeg8Into: a view, see there), little-endian samples, pixel-interleaved. */
  bytes: Uint8Array;
  width: number;
  height: number;
  bitsPerSample: number;
  components: number;
  isSigned?: boolean;
}

/** Reused decoder instances (one of each per thread). */
const instances = new Map<string, WasmDecoder>();

async function runWasm(kind: keyof Codecs, data: Uint8Array, syntaxName: string): Promise<CodecOutput>;
async function runWasm<T>(kind: keyof Codecs, data: Uint8Array, syntaxName: string, consume: (out: CodecOutput) => T): Promise<T>;
async function runWasm<T>(kind: keyof Codecs, data: Uint8Array, syntaxName: string, consume?: (out: CodecOutput) => T): Promise<CodecOutput | T> {
  const codecs = await initCodecs();
  let dec = instances.get(kind);
  if (!dec) {
    dec = new codecs[kind]();
    instances.set(kind, dec);
  }
  try {
    dec.getEncodedBuffer(data.length).set(data);
    if (kind === 'J2KDecoder' && dec.readHeader) dec.readHeader();
    dec.decode();
  } catch (e) {
    // A failed decode may leave the instance in a bad state: drop it.
    instances.delete(kind);
    try {
      dec.delete();
    } catch {
      /* ignore */
    }
    const why = typeof e === 'number' ? `WASM exception ${e}` : e instanceof Error ? e.message : String(e);
    throw new InputError('dicom.codec-error', `${syntaxName} frame could not be decoded: ${why}`, { codec: kind });
  }
  const info = dec.getFrameInfo();
  const out = dec.getDecodedBuffer();
  const meta = { width: info.width, height: info.height, bitsPerSample: info.bitsPerSample, components: info.componentCount, isSigned: info.isSigned };
  // consume: the bytes where the decoder left them (no await between the decode and the call: nothing else decodes meanwhile)
  if (consume) return consume({ bytes: out, ...meta });
  return { bytes: new Uint8Array(out), ...meta }; // copy out of the WASM heap
}

export const decodeJpegLs = (d: Uint8Array, name: string): Promise<CodecOutput> => runWasm('JpegLSDecoder', d, name);
export const decodeJ2k = (d: Uint8Array, name: string): Promise<CodecOutput> => runWasm('J2KDecoder', d, name);
export const decodeJpeg8 = (d: Uint8Array, name: string): Promise<CodecOutput> => runWasm('JPEGDecoder', d, name);
/**
 * decodeJpeg8 without the copy out of the decoder's memory: `consume` is called synchronously right after the decode
 * with `bytes` a view into that memory, valid only during the call (the next decode overwrites it): it copies what it
 * keeps. Returns what `consume` returns. Decoding errors as decodeJpeg8's; an error thrown by `consume` is its own.
 */
export const decodeJpeg8Into = <T>(d: Uint8Array, name: string, consume: (out: CodecOutput) => T): Promise<T> => runWasm('JPEGDecoder', d, name, consume);

/** JPEG lossless (process 14) through jpeg-lossless-decoder-js. Returns little-endian sample bytes. */
export function decodeJpegLossless(d: Uint8Array, bytesPerSample: number, name: string): Uint8Array {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Decoder } = require('jpeg-lossless-decoder-js') as {
    Decoder: new () => { decode(buf: ArrayBuffer, off: number, len: number, numBytes: number): ArrayBufferView };
  };
  try {
    const res = new Decoder().decode(d.buffer as ArrayBuffer, d.byteOffset, d.byteLength, bytesPerSample);
    return new Uint8Array(res.buffer, res.byteOffset, res.byteLength);
  } catch (e) {
    throw new InputError('dicom.codec-error', `${name} frame could not be decoded: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Start Of Frame of a JPEG stream: marker, sample precision (P), lines (Y), samples per line (X), components (Nf). */
export interface JpegFrameHeader {
  sof: number;
  precision: number;
  height: number;
  width: number;
  components: number;
}

/** The first Start Of Frame segment of a JPEG stream (undefined when there is none, or it is cut short). */
export function jpegFrameHeader(d: Uint8Array): JpegFrameHeader | undefined {
  let i = 2;
  while (i + 4 < d.length) {
    if (d[i] !== 0xff) {
      i++;
      continue;
    }
    const m = d[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    }
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 9 >= d.length) return undefined;
      return { sof: m, precision: d[i + 4], height: (d[i + 5] << 8) | d[i + 6], width: (d[i + 7] << 8) | d[i + 8], components: d[i + 9] };
    }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + ((d[i + 2] << 8) | d[i + 3]);
  }
  return undefined;
}

/*
 * 12-bit JPEG (Extended, processes 2 & 4) through dcmjs-codecs: a WASM build of DCMTK's IJG libjpeg 6b in
 * 8/12/16-bit variants (the decoder picks the variant from the stream's precision). Three properties of
 * that package (0.0.8) shape the code below:
 * - A failed decode throws a JS exception straight through the WASM frames: the WASM stack pointer is not
 *   restored and the decoder's allocations leak. After a few dozen failures in one instance the shadow
 *   stack overflows, memory is corrupted and a later decode traps or never returns. So any failure
 *   discards the instance; the next decode instantiates a fresh one (about 40 ms).
 * - IJG's recoverable-corruption warnings (truncated stream, bad Huffman code, ...) are not errors: the
 *   decoder fills what it could not decode and returns normally. They only surface as log messages, so
 *   the package's logger (its own bundled loglevel, exported as `log`) is routed into a buffer here
 *   (which also keeps it off the console) and those warnings are turned into errors below.
 * - The output size follows the stream's SOF, not the Context's width/height, and an 8-bit
 *   BitsAllocated with a 12-bit stream overruns the output buffer. Callers check the SOF against the
 *   header first (decode.ts) and always pass BitsAllocated 16.
 */
type DcmjsCodecs = typeof import('dcmjs-codecs');

let ijgModule: DcmjsCodecs | undefined;
let ijgReady: Promise<DcmjsCodecs> | undefined;
/**
 * IJG warnings that mean the image was not decoded as encoded (libjpeg jerror.h: JWRN_HIT_MARKER,
 * JWRN_HUFF_BAD_CODE, JWRN_EXTRANEOUS_DATA, JWRN_MUST_RESYNC ("Corrupt JPEG data: ..."), JWRN_JPEG_EOF,
 * JWRN_BOGUS_PROGRESSION). Trace messages and header-only warnings are not.
 */
const IJG_CORRUPTION = /Corrupt JPEG data|Premature end of JPEG file|Inconsistent progression sequence/;
const ijgText = (msg: string): string => msg.replace(/^.*?::(?:ErrorExit|EmitMessage)::/, '');
/** Corruption warnings the IJG decoder logged during the current call (its trace messages are dropped). */
const ijgWarnings: string[] = [];

/** Loads dcmjs-codecs (once) and instantiates its WASM module (again after a failed decode). */
function initIjg(): Promise<DcmjsCodecs> {
  if (!ijgReady) {
    ijgReady = (async () => {
      if (!ijgModule) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const m = require('dcmjs-codecs') as DcmjsCodecs;
        m.log.methodFactory = () => (...args: unknown[]) => {
          const msg = args.map(String).join(' ');
          if (ijgWarnings.length < 20 && IJG_CORRUPTION.test(msg)) ijgWarnings.push(ijgText(msg));
        };
        m.log.rebuild();
        ijgModule = m;
      }
      await ijgModule.NativeCodecs.initializeAsync({ logCodecsInfo: true });
      return ijgModule;
    })();
    ijgReady.catch(() => (ijgReady = undefined));
  }
  return ijgReady;
}

/**
 * Decodes one monochrome 12-bit JPEG frame (DCT, IJG 12-bit). Returns little-endian 16-bit samples (a
 * copy owned by the caller): the raw P-bit sample values; signedness is applied by the caller like for
 * every other syntax. Throws `dicom.codec-error` when IJG fails or reports corrupt data.
 */
export async function decodeJpeg12(
  d: Uint8Array,
  geom: { rows: number; columns: number; photometricInterpretation: string },
  name: string,
): Promise<Uint8Array> {
  let m = await initIjg();
  // A concurrent caller's failure may have discarded the instance between our await and now.
  while (!m.NativeCodecs.isInitialized()) m = await initIjg();
  ijgWarnings.length = 0;
  let out: Uint8Array | undefined;
  try {
    const ctx = new m.Context({
      width: geom.columns,
      height: geom.rows,
      bitsAllocated: 16,
      bitsStored: 12,
      samplesPerPixel: 1,
      pixelRepresentation: 0,
      photometricInterpretation: geom.photometricInterpretation === 'MONOCHROME1' ? 'MONOCHROME1' : 'MONOCHROME2',
      encodedBuffer: d,
    });
    out = m.NativeCodecs.decodeJpeg(ctx, {}).getDecodedBuffer();
  } catch (e) {
    m.NativeCodecs.release();
    ijgReady = undefined;
    const why = e instanceof Error ? ijgText(e.message) : String(e);
    throw new InputError('dicom.codec-error', `${name} frame could not be decoded (12-bit JPEG, IJG via dcmjs-codecs): ${why}`, {
      codec: 'dcmjs-codecs',
    });
  }
  if (ijgWarnings.length) {
    const corrupt = [...ijgWarnings];
    throw new InputError(
      'dicom.codec-error',
      `${name} frame: the JPEG decoder reported damaged data (${[...new Set(corrupt)].slice(0, 3).join('; ')}); refused rather than returning a partly decoded image`,
      { codec: 'dcmjs-codecs', warnings: corrupt },
    );
  }
  if (!out) throw new InputError('dicom.codec-error', `${name} frame could not be decoded (12-bit JPEG): the decoder returned no pixels`);
  return out;
}
