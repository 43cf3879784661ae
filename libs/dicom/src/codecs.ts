/**
 * Maintained Emscripten/WASM codecs (cornerstone builds of CharLS, OpenJPEG, libjpeg-turbo), initialised
 * once per process (or worker thread) and reused.
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
  /** Decoded bytes (a copy, owned by the caller), little-endian samples, pixel-interleaved. */
  bytes: Uint8Array;
  width: number;
  height: number;
  bitsPerSample: number;
  components: number;
  isSigned?: boolean;
}

/** Reused decoder instances (one of each per thread). */
const instances = new Map<string, WasmDecoder>();

async function runWasm(kind: keyof Codecs, data: Uint8Array, syntaxName: string): Promise<CodecOutput> {
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
  return {
    bytes: new Uint8Array(out), // copy out of the WASM heap
    width: info.width,
    height: info.height,
    bitsPerSample: info.bitsPerSample,
    components: info.componentCount,
    isSigned: info.isSigned,
  };
}

export const decodeJpegLs = (d: Uint8Array, name: string): Promise<CodecOutput> => runWasm('JpegLSDecoder', d, name);
export const decodeJ2k = (d: Uint8Array, name: string): Promise<CodecOutput> => runWasm('J2KDecoder', d, name);
export const decodeJpeg8 = (d: Uint8Array, name: string): Promise<CodecOutput> => runWasm('JPEGDecoder', d, name);

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

/** Sample precision (P) and SOF marker of a JPEG stream, read from its Start Of Frame segment. */
export function jpegFrameHeader(d: Uint8Array): { sof: number; precision: number } | undefined {
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
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return { sof: m, precision: d[i + 4] };
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + ((d[i + 2] << 8) | d[i + 3]);
  }
  return undefined;
}
