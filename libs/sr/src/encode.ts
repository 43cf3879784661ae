/**
 * A small, deterministic DICOM Part 10 encoder (Explicit VR Little Endian, defined lengths everywhere).
 *
 * Why not `dcmjs.data.DicomDict.write`: we need byte-exact control of DS formatting (round-trip, see
 * `formatDS`), of sequence encoding and of element order, and a clear `InputError` when a caller value
 * does not fit its VR. dcmjs is used only for its data dictionary (keyword -> tag + VR).
 */
import { createHash } from 'node:crypto';
import { InputError } from '@app/core';
import { EXPLICIT_VR_LITTLE_ENDIAN, SR_IMPLEMENTATION_UID, SR_IMPLEMENTATION_VERSION } from './codes';

// dcmjs ships no type declarations; we only read its dictionary.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as {
  data: { DicomMetaDictionary: { nameMap: Record<string, { tag: string; vr: string } | undefined> } };
};

/** A dataset in "naturalized" form: DICOM keyword -> value. Sequences are arrays of datasets. */
export type DcmValue = string | number | boolean | (string | number)[] | Uint8Array | Float32Array | DcmDataset[] | null | undefined;
export interface DcmDataset {
  [keyword: string]: DcmValue;
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
/** Maximum value length (characters/bytes per value) for string VRs. */
const MAX_LEN: Record<string, number> = { AE: 16, AS: 4, CS: 16, DA: 8, DS: 16, IS: 12, LO: 64, LT: 10240, PN: 324, SH: 16, ST: 1024, TM: 14, UI: 64 };

/** VR overrides where the dictionary is ambiguous. */
const VR_OVERRIDE: Record<string, string> = { PixelData: 'OB' };

interface TagInfo { tag: number; group: number; element: number; vr: string }
const tagCache = new Map<string, TagInfo>();
export function tagOf(keyword: string): TagInfo {
  let t = tagCache.get(keyword);
  if (t) return t;
  const e = dcmjs.data.DicomMetaDictionary.nameMap[keyword];
  if (!e) throw new Error(`sr: unknown DICOM keyword '${keyword}'`);
  const m = /^\(([0-9A-F]{4}),([0-9A-F]{4})\)$/i.exec(e.tag);
  if (!m) throw new Error(`sr: bad dictionary tag for '${keyword}': ${e.tag}`);
  const group = parseInt(m[1], 16);
  const element = parseInt(m[2], 16);
  t = { tag: group * 0x10000 + element, group, element, vr: VR_OVERRIDE[keyword] ?? e.vr };
  tagCache.set(keyword, t);
  return t;
}

/**
 * Decimal String formatting. The shortest decimal that round-trips the IEEE double (JS `String(x)`)
 * is used when it fits the 16-character DS limit, so `Number(formatDS(x)) === x` for every value with
 * at most ~15 significant digits (all realistic mm values). Otherwise the longest `toPrecision` that
 * fits is used (≥ 10 significant digits); callers that need exactness then also write an FD value.
 */
export function formatDS(x: number): string {
  if (!Number.isFinite(x)) throw new InputError('sr.bad-number', `a decimal value must be finite, got ${x}`);
  const s = String(x);
  if (s.length <= 16) return s;
  // Most significant digits that fit: fixed (toPrecision) or exponent form, trailing zeros trimmed.
  const trim = (t: string): string => (t.includes('.') ? t.replace(/0+(e|$)/, '$1').replace(/\.(e|$)/, '$1') : t);
  for (let p = 16; p >= 1; p--) {
    for (const t of [trim(x.toPrecision(p)), trim(x.toExponential(p - 1))]) if (t.length <= 16) return t;
  }
  /* istanbul ignore next */
  throw new Error(`sr: cannot format ${x} as DS`);
}

/** True when the DS text of x parses back to exactly x. */
export const dsIsExact = (x: number): boolean => Number(formatDS(x)) === x;

/** Deterministic UID from parts: 2.25.<decimal of the first 128 bits of sha256(parts joined by NUL)>. */
export function uidFrom(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${h}`).toString(10)}`;
}

const UID_RE = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;
export function checkUid(uid: string, what: string): string {
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > 64 || !UID_RE.test(uid)) {
    throw new InputError('sr.bad-uid', `${what} is not a valid DICOM UID (digits and dots, ≤ 64 chars): '${String(uid)}'`, { what });
  }
  return uid;
}

function stringValue(keyword: string, vr: string, v: DcmValue): string {
  const vals: (string | number)[] = Array.isArray(v) ? (v as (string | number)[]) : [v as string | number];
  const strs = vals.map((x) => {
    if (typeof x === 'number') {
      if (vr === 'DS') return formatDS(x);
      if (vr === 'IS') {
        if (!Number.isInteger(x)) throw new InputError('sr.bad-number', `${keyword} must be an integer, got ${x}`);
        return String(x);
      }
      return String(x);
    }
    if (typeof x !== 'string') throw new Error(`sr: ${keyword}: bad value ${String(x)}`);
    return x;
  });
  const max = MAX_LEN[vr];
  if (max !== undefined) {
    for (const s of strs) {
      if (Buffer.byteLength(s, 'utf8') > max) {
        throw new InputError('sr.value-too-long', `${keyword} (${vr}) value is longer than ${max} bytes: '${s.slice(0, 80)}'`, { keyword, vr });
      }
      if (s.includes('\\') && vr !== 'LT' && vr !== 'ST' && vr !== 'UT') {
        throw new InputError('sr.bad-value', `${keyword} (${vr}) value must not contain a backslash`, { keyword });
      }
    }
  }
  return strs.join('\\');
}

function header(group: number, element: number, vr: string, len: number): Buffer {
  if (LONG_VRS.has(vr)) {
    const b = Buffer.alloc(12);
    b.writeUInt16LE(group, 0);
    b.writeUInt16LE(element, 2);
    b.write(vr, 4, 'latin1');
    b.writeUInt32LE(len, 8);
    return b;
  }
  if (len > 0xffff) throw new InputError('sr.value-too-long', `element (${group.toString(16)},${element.toString(16)}) ${vr} is longer than 65534 bytes`);
  const b = Buffer.alloc(8);
  b.writeUInt16LE(group, 0);
  b.writeUInt16LE(element, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt16LE(len, 6);
  return b;
}

function encodeValue(keyword: string, vr: string, v: DcmValue): Buffer {
  switch (vr) {
    case 'SQ': {
      const items = (v as DcmDataset[]) ?? [];
      const parts: Buffer[] = [];
      for (const item of items) {
        const body = encodeDataset(item);
        const h = Buffer.alloc(8);
        h.writeUInt16LE(0xfffe, 0);
        h.writeUInt16LE(0xe000, 2);
        h.writeUInt32LE(body.length, 4);
        parts.push(h, body);
      }
      return Buffer.concat(parts);
    }
    case 'OB':
    case 'UN': {
      const u = v as Uint8Array;
      const b = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
      return b.length % 2 ? Buffer.concat([b, Buffer.alloc(1)]) : b;
    }
    case 'US':
    case 'SS':
    case 'UL':
    case 'SL':
    case 'FL':
    case 'FD': {
      const arr = (Array.isArray(v) ? v : v instanceof Float32Array ? Array.from(v) : [v]) as number[];
      const size = vr === 'US' || vr === 'SS' ? 2 : vr === 'FD' ? 8 : 4;
      const b = Buffer.alloc(arr.length * size);
      arr.forEach((x, i) => {
        if (typeof x !== 'number' || Number.isNaN(x)) throw new Error(`sr: ${keyword}: not a number: ${String(x)}`);
        const o = i * size;
        if (vr === 'US') b.writeUInt16LE(x, o);
        else if (vr === 'SS') b.writeInt16LE(x, o);
        else if (vr === 'UL') b.writeUInt32LE(x, o);
        else if (vr === 'SL') b.writeInt32LE(x, o);
        else if (vr === 'FL') b.writeFloatLE(x, o);
        else b.writeDoubleLE(x, o);
      });
      return b;
    }
    case 'AT': {
      const arr = (Array.isArray(v) ? v : [v]) as string[];
      const b = Buffer.alloc(arr.length * 4);
      arr.forEach((kw, i) => {
        const t = tagOf(kw);
        b.writeUInt16LE(t.group, i * 4);
        b.writeUInt16LE(t.element, i * 4 + 2);
      });
      return b;
    }
    default: {
      const s = stringValue(keyword, vr, v);
      const b = Buffer.from(s, 'utf8');
      if (b.length % 2 === 0) return b;
      return Buffer.concat([b, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
    }
  }
}

/** Encodes a dataset body (no preamble). `undefined` values are skipped; `null`/'' write an empty (type 2) element. */
export function encodeDataset(ds: DcmDataset): Buffer {
  const entries = Object.entries(ds)
    .filter(([, v]) => v !== undefined)
    .map(([kw, v]) => ({ kw, v, t: tagOf(kw) }))
    .sort((a, b) => a.t.tag - b.t.tag);
  const parts: Buffer[] = [];
  for (const { kw, v, t } of entries) {
    const value = v === null || v === '' ? Buffer.alloc(0) : encodeValue(kw, t.vr, typeof v === 'boolean' ? (v ? 'YES' : 'NO') : v);
    parts.push(header(t.group, t.element, t.vr, value.length), value);
  }
  return Buffer.concat(parts);
}

/** True when any string value in the dataset (recursively) is outside 7-bit ASCII. */
function hasNonAscii(ds: DcmDataset): boolean {
  for (const v of Object.values(ds)) {
    if (typeof v === 'string' && /[^\x00-\x7f]/.test(v)) return true;
    if (Array.isArray(v)) {
      for (const x of v as unknown[]) {
        if (typeof x === 'string' && /[^\x00-\x7f]/.test(x)) return true;
        if (x && typeof x === 'object' && !(x instanceof Uint8Array) && hasNonAscii(x as DcmDataset)) return true;
      }
    }
  }
  return false;
}

/**
 * A complete Part 10 file: preamble, File Meta Information, dataset. Specific Character Set is written as
 * 'ISO_IR 192' (UTF-8) only when a value needs it; pure-ASCII objects use the default repertoire.
 */
export function encodePart10(dsIn: DcmDataset): Buffer {
  const ds: DcmDataset = { ...dsIn, SpecificCharacterSet: hasNonAscii(dsIn) ? 'ISO_IR 192' : undefined };
  const sopClass = ds.SOPClassUID as string;
  const sopInstance = ds.SOPInstanceUID as string;
  const metaBody = encodeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]),
    MediaStorageSOPClassUID: sopClass,
    MediaStorageSOPInstanceUID: sopInstance,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: SR_IMPLEMENTATION_UID,
    ImplementationVersionName: SR_IMPLEMENTATION_VERSION,
  });
  const groupLen = encodeDataset({ FileMetaInformationGroupLength: [metaBody.length] });
  const pre = Buffer.alloc(132);
  pre.write('DICM', 128, 'latin1');
  return Buffer.concat([pre, groupLen, metaBody, encodeDataset(ds)]);
}

/** Code Sequence Macro item. Code values longer than 16 characters go to Long Code Value (UC). */
export function codeItem(c: { scheme: string; code: string; meaning: string }, what = 'code'): DcmDataset {
  if (!c || typeof c.code !== 'string' || !c.code || !c.scheme || typeof c.meaning !== 'string' || !c.meaning) {
    throw new InputError('sr.bad-code', `${what} must be { scheme, code, meaning } with non-empty values, got ${JSON.stringify(c)}`, { what });
  }
  const long = Buffer.byteLength(c.code, 'utf8') > 16;
  return {
    CodeValue: long ? undefined : c.code,
    LongCodeValue: long ? c.code : undefined,
    CodingSchemeDesignator: c.scheme,
    CodeMeaning: c.meaning,
  };
}
