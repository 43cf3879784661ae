import type { DicomJson, DicomJsonElement } from './json';

/**
 * QIDO-RS result attributes (PS3.18 10.6.3.3) built from the blinded index, and attribute matching (10.6.1.2)
 * over them. The identity of a subject is its Subject Reading ID: it is both PatientID and PatientName.
 */

const el = (vr: string, ...values: (string | number | null | undefined)[]): DicomJsonElement => {
  const v = values.filter((x) => x !== undefined && x !== null && x !== '');
  return v.length ? { vr, Value: v } : { vr };
};
const pn = (name: string | undefined): DicomJsonElement => (name ? { vr: 'PN', Value: [{ Alphabetic: name }] } : { vr: 'PN' });

interface HeaderLike {
  study?: { studyTime?: string; accessionNumber?: string; studyDescription?: string; studyId?: string };
  series?: { seriesDescription?: string; bodyPartExamined?: string };
  instance?: { sopClassUid?: string; instanceNumber?: number };
  image?: { rows?: number; columns?: number; numberOfFrames?: number; bitsAllocated?: number };
}

export interface StudyInput {
  studyUid: string;
  studyDate: string | null;
  timePointId: string;
  readingId: string;
  seriesCount: number;
  instanceCount: number;
  modalities: string[];
  header: HeaderLike | null;
  retrieveUrl: string;
}

export function studyAttributes(s: StudyInput): DicomJson {
  const h = s.header ?? {};
  return {
    '00080020': el('DA', s.studyDate),
    '00080030': el('TM', h.study?.studyTime),
    '00080050': el('SH', h.study?.accessionNumber),
    '00080056': el('CS', 'ONLINE'),
    '00080061': el('CS', ...s.modalities),
    '00080090': pn(undefined),
    '00081030': el('LO', h.study?.studyDescription),
    '00081190': el('UR', s.retrieveUrl),
    '00100010': pn(s.readingId),
    '00100020': el('LO', s.readingId),
    '00120042': el('LO', s.readingId),
    '00120050': el('LO', s.timePointId),
    '0020000D': el('UI', s.studyUid),
    '00200010': el('SH', h.study?.studyId),
    '00201206': el('IS', s.seriesCount),
    '00201208': el('IS', s.instanceCount),
  };
}

export interface SeriesInput {
  studyUid: string;
  seriesUid: string;
  modality: string | null;
  seriesNumber: number | null;
  instanceCount: number;
  header: HeaderLike | null;
  retrieveUrl: string;
}

export function seriesAttributes(s: SeriesInput): DicomJson {
  const h = s.header ?? {};
  return {
    '00080056': el('CS', 'ONLINE'),
    '00080060': el('CS', s.modality),
    '0008103E': el('LO', h.series?.seriesDescription),
    '00081190': el('UR', s.retrieveUrl),
    '00180015': el('CS', h.series?.bodyPartExamined),
    '0020000D': el('UI', s.studyUid),
    '0020000E': el('UI', s.seriesUid),
    '00200011': el('IS', s.seriesNumber),
    '00201209': el('IS', s.instanceCount),
  };
}

export interface InstanceInput {
  studyUid: string;
  seriesUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  instanceNumber: number | null;
  frames: number;
  transferSyntaxUid: string;
  header: HeaderLike | null;
  retrieveUrl: string;
}

export function instanceAttributes(i: InstanceInput): DicomJson {
  const h = i.header ?? {};
  return {
    '00080016': el('UI', i.sopClassUid),
    '00080018': el('UI', i.sopInstanceUid),
    '00080056': el('CS', 'ONLINE'),
    '00081190': el('UR', i.retrieveUrl),
    '00083002': el('UI', i.transferSyntaxUid),
    '0020000D': el('UI', i.studyUid),
    '0020000E': el('UI', i.seriesUid),
    '00200013': el('IS', i.instanceNumber),
    '00280008': el('IS', i.frames),
    '00280010': el('US', h.image?.rows),
    '00280011': el('US', h.image?.columns),
    '00280100': el('US', h.image?.bitsAllocated),
  };
}

/** Keywords accepted as QIDO matching keys (a tag as 8 hex digits also works). */
export const QIDO_KEYWORDS: Record<string, string> = {
  StudyInstanceUID: '0020000D',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  ModalitiesInStudy: '00080061',
  PatientID: '00100020',
  PatientName: '00100010',
  StudyID: '00200010',
  StudyDescription: '00081030',
  ClinicalTrialTimePointID: '00120050',
  ClinicalTrialSubjectReadingID: '00120042',
  SeriesInstanceUID: '0020000E',
  Modality: '00080060',
  SeriesNumber: '00200011',
  SeriesDescription: '0008103E',
  SOPInstanceUID: '00080018',
  SOPClassUID: '00080016',
  InstanceNumber: '00200013',
};

/** Parameters of a QIDO query that are not matching keys. */
const CONTROL = new Set(['limit', 'offset', 'includefield', 'fuzzymatching']);

export interface QidoQuery {
  match: { tag: string; value: string }[];
  limit?: number;
  offset: number;
  /** Keys that were ignored (unknown attribute, fuzzy matching), for the Warning header. */
  ignored: string[];
}

/** Parse the query string of a QIDO request. Bad limit/offset throw RangeError (answer 400). */
export function parseQidoQuery(q: Record<string, unknown>): QidoQuery {
  const out: QidoQuery = { match: [], offset: 0, ignored: [] };
  for (const [k, raw] of Object.entries(q)) {
    const v = Array.isArray(raw) ? raw.map(String).join(',') : String(raw ?? '');
    if (k === 'limit' || k === 'offset') {
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new RangeError(`${k} must be a whole number >= 0`);
      if (k === 'limit') out.limit = n;
      else out.offset = n;
      continue;
    }
    if (k === 'fuzzymatching') {
      if (v === 'true') out.ignored.push('fuzzymatching');
      continue;
    }
    if (CONTROL.has(k)) continue;
    const tag = QIDO_KEYWORDS[k] ?? (/^[0-9A-Fa-f]{8}$/.test(k) ? k.toUpperCase() : undefined);
    if (!tag) {
      out.ignored.push(k);
      continue;
    }
    if (v !== '') out.match.push({ tag, value: v });
  }
  return out;
}

const wildcard = (pattern: string, caseInsensitive: boolean) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, caseInsensitive ? 'i' : '');

/** Whether one result matches every matching key (PS3.4 C.2.2.2: single value, list of UIDs, wildcard, range). */
export function matches(ds: DicomJson, match: QidoQuery['match']): boolean {
  return match.every(({ tag, value }) => {
    const e = ds[tag];
    if (!e) return false; // a key we know but this level does not carry: the result cannot match it
    const vals = (e.Value ?? []).map((v) => (v && typeof v === 'object' ? String((v as { Alphabetic?: string }).Alphabetic ?? '') : String(v)));
    if (e.vr === 'UI') {
      const wanted = value.split(/[,\\]/).map((s) => s.trim()).filter(Boolean);
      return vals.some((v) => wanted.includes(v));
    }
    if ((e.vr === 'DA' || e.vr === 'TM' || e.vr === 'DT') && value.includes('-')) {
      const [lo, hi] = value.split('-');
      return vals.some((v) => (!lo || v >= lo) && (!hi || v <= hi));
    }
    const re = wildcard(value, e.vr === 'PN');
    return vals.some((v) => re.test(v));
  });
}

/** Filter, then page (offset, limit) a list of results. */
export function applyQuery<T extends DicomJson>(rows: T[], q: QidoQuery): T[] {
  const hit = rows.filter((r) => matches(r, q.match));
  return hit.slice(q.offset, q.limit === undefined ? undefined : q.offset + q.limit);
}
