/**
 * The DICOM JSON model (PS3.18 Annex F) of a stored Part 10 object, for WADO-RS metadata.
 *
 * dcmjs reads the data set (up to Pixel Data); this module turns its dictionary into the model exactly:
 * empty values have no `Value`, empty strings inside a multi-value become null, PN values are objects with
 * Alphabetic/Ideographic/Phonetic groups, binary values are InlineBinary (base64) when small and a
 * BulkDataURI when large, and Pixel Data is always a BulkDataURI (frames are retrieved separately).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as {
  data: { DicomMessage: { readFile: (ab: ArrayBuffer, opts?: { untilTag?: string; includeUntilTagValue?: boolean }) => { dict: Record<string, RawElement> } } };
};

export interface DicomJsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
}
export type DicomJson = Record<string, DicomJsonElement>;

interface RawElement {
  vr?: string;
  Value?: unknown;
}

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
export const PIXEL_DATA = '7FE00010';

export interface DicomJsonOptions {
  /** URI for a top-level binary element too large to inline (tag as 8 hex digits, upper case). */
  bulkDataUri: (tag: string) => string;
  /** Tags (8 hex digits, upper case) left out, at every depth: e.g. identifiers the caller must not see. */
  omit?: ReadonlySet<string>;
  /** Binary values up to this many bytes are inlined as base64 (default 1024). */
  maxInlineBytes?: number;
}

/** Parse a Part 10 object and return its data set as DICOM JSON (group 0002 excluded, as in WADO-RS metadata). */
export function toDicomJson(part10: Buffer | Uint8Array, opts: DicomJsonOptions): DicomJson {
  const ab = part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer;
  const { dict } = dcmjs.data.DicomMessage.readFile(ab, { untilTag: PIXEL_DATA, includeUntilTagValue: false });
  const out = convertDataset(dict, opts, true);
  if (PIXEL_DATA in dict) out[PIXEL_DATA] = { vr: pixelVr(out), BulkDataURI: opts.bulkDataUri(PIXEL_DATA) };
  return out;
}

function pixelVr(ds: DicomJson): string {
  const ba = ds['00280100']?.Value?.[0];
  return typeof ba === 'number' && ba > 8 ? 'OW' : 'OB';
}

function convertDataset(dict: Record<string, RawElement>, opts: DicomJsonOptions, top: boolean): DicomJson {
  const out: DicomJson = {};
  for (const tag of Object.keys(dict).sort()) {
    const t = tag.toUpperCase();
    if (t === PIXEL_DATA || t.startsWith('0002') || opts.omit?.has(t)) continue;
    const el = convertElement(t, dict[tag]!, opts, top);
    if (el) out[t] = el;
  }
  return out;
}

function convertElement(tag: string, raw: RawElement, opts: DicomJsonOptions, top: boolean): DicomJsonElement | undefined {
  const vr = raw.vr ?? 'UN';
  const values = Array.isArray(raw.Value) ? raw.Value : raw.Value === undefined || raw.Value === null ? [] : [raw.Value];
  if (vr === 'SQ') {
    const items = values.filter((v): v is Record<string, RawElement> => !!v && typeof v === 'object').map((item) => convertDataset(item, opts, false));
    return items.length ? { vr, Value: items } : { vr };
  }
  if (BINARY_VRS.has(vr)) {
    const bufs = values.filter((v): v is ArrayBuffer => v instanceof ArrayBuffer || ArrayBuffer.isView(v)).map((v) => (ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(v)));
    const bytes = Buffer.concat(bufs);
    if (!bytes.length) return { vr };
    if (bytes.length <= (opts.maxInlineBytes ?? 1024) || !top) return { vr, InlineBinary: bytes.toString('base64') };
    return { vr, BulkDataURI: opts.bulkDataUri(tag) };
  }
  if (vr === 'PN') {
    const names = values.map((v) => {
      if (v === null || v === undefined) return null;
      const o = typeof v === 'string' ? { Alphabetic: v } : (v as Record<string, string | undefined>);
      const clean: Record<string, string> = {};
      for (const k of ['Alphabetic', 'Ideographic', 'Phonetic']) if (o[k]) clean[k] = String(o[k]).replace(/[\0 ]+$/, '');
      return Object.values(clean).some((s) => s) ? clean : null;
    });
    return names.some((n) => n) ? { vr, Value: names } : { vr };
  }
  const vals = values.map((v) => {
    if (v === null || v === undefined) return null;
    if (typeof v === 'string') {
      const s = v.replace(/[\0 ]+$/, '');
      return s === '' ? null : s;
    }
    if (typeof v === 'number') return Number.isFinite(v) ? v : null;
    return v;
  });
  return vals.some((v) => v !== null) ? { vr, Value: vals } : { vr };
}

/** A string value of a DICOM JSON element (first value), or undefined. */
export const jsonString = (ds: DicomJson, tag: string): string | undefined => {
  const v = ds[tag]?.Value?.[0];
  return v === null || v === undefined ? undefined : typeof v === 'object' ? (v as { Alphabetic?: string }).Alphabetic : String(v);
};
