import { ConfigError } from '@app/core';
import { burnedInAnnotationCheck, headerFromElements, type BurnedInResult } from './burned-in';
import { decodeAscii, dictionaryVr, encodeString, keywordOf, readPart10, tagStr, TS, writePart10, type Element } from './io';
import { pseudonymUid, shiftDA, shiftDT } from './pseudonyms';
import { isCurveOrOverlayGroup, KEEP_UID_TAGS, NEVER_RETAIN_TEMPORAL, PROFILE_TABLE, SAFE_DESCRIPTOR_WORDS } from './table';

export interface DeidContext {
  /** ClinicalTrialProtocolID (0012,0020). */
  protocolId: string;
  /** ClinicalTrialSubjectID (0012,0040): the sponsor's subject number (omit with omitSubjectId). */
  subjectId: string;
  /** ClinicalTrialSubjectReadingID (0012,0042): the only identity a blinded reader sees; also PatientID and PatientName. */
  readingId: string;
  /** ClinicalTrialTimePointID (0012,0050), e.g. 'BL', 'FU1' (or a blinded time point code). */
  timePointId: string;
  /** Constant shift for every date of this subject (integer days, non-zero; see deriveDateShiftDays). */
  dateShiftDays: number;
  /** Secret for the UID HMAC (>= 16 characters). Same secret => same UID mapping across studies. */
  uidSecret: string;
  /** ClinicalTrialSponsorName (0012,0010), default 'BLINDED SPONSOR'. */
  sponsorName?: string;
  /** ClinicalTrialProtocolName (0012,0021), Type 2: empty when not given. */
  protocolName?: string;
  /** ClinicalTrialTimePointDescription (0012,0051), optional. */
  timePointDescription?: string;
  /** Leave out ClinicalTrialSubjectID so readers see only the reading ID (default false). */
  omitSubjectId?: boolean;
}

export interface DeidReport {
  transferSyntaxIn: string;
  transferSyntaxOut: string;
  /** Set when the encoding changed (deflated input is written as explicit VR little endian). */
  reencoded?: string;
  sopClassUid: string;
  counts: {
    removed: number;
    emptied: number;
    uidsReplaced: number;
    datesShifted: number;
    descriptorsCleaned: number;
    privateRemoved: number;
    curveOverlayRemoved: number;
    personNamesEmptied: number;
  };
  /** Tags (and keywords) of removed public attributes; never values. */
  removedTags: string[];
  burnedInAnnotation: BurnedInResult;
  /** e.g. invalid dates that were removed because they could not be shifted (tags only). */
  warnings: string[];
  /** CID 7050 codes applied. */
  methodCodes: string[];
}

export interface DeidResult {
  bytes: Buffer;
  /** Every UID replaced in this object (store admin-only; never log). */
  uidMap: { original: string; replacement: string }[];
  removedPrivateTags: number;
  report: DeidReport;
  /** The pseudonym link for the admin-only table (never log): original PatientID <-> subject/reading ID, date shift. */
  pseudonyms: { originalPatientId: string; subjectId: string; readingId: string; dateShiftDays: number };
}

export const DEID_IMPLEMENTATION_UID = '2.25.262447035946406411787826133476493466901';
export const DEID_IMPLEMENTATION_VERSION = 'ENDPT_DEID_1';
export const DEID_METHOD_CODES = [
  { value: '113100', meaning: 'Basic Application Confidentiality Profile' },
  { value: '113107', meaning: 'Retain Longitudinal Temporal Information Modified Dates Option' },
  { value: '113105', meaning: 'Clean Descriptors Option' },
] as const;
const DEID_METHOD_TEXT = ['DICOM PS3.15 E.1 Basic Profile', 'Retain Longitudinal Modified Dates', 'Clean Descriptors', 'endpoint-service deid 1'];

/** Attributes that stay (empty) when cleaning leaves nothing (Type 2 in the CT IOD). */
const EMPTY_WHEN_CLEANED_AWAY = new Set([0x00180010]);

function checkCtx(ctx: DeidContext): void {
  const str = (name: keyof DeidContext, max = 64, optional = false): void => {
    const v = ctx[name];
    if (v === undefined && optional) return;
    if (typeof v !== 'string' || v.trim() === '' || v.length > max || /[\\\u0000-\u001f^=]/.test(v)) {
      throw new ConfigError(`deid.${name}`, `must be a non-empty string of at most ${max} characters without \\, ^, = or control characters`);
    }
  };
  str('protocolId');
  str('subjectId');
  str('readingId');
  str('timePointId');
  str('sponsorName', 64, true);
  str('protocolName', 64, true);
  str('timePointDescription', 64, true);
  if (!Number.isInteger(ctx.dateShiftDays) || ctx.dateShiftDays === 0 || Math.abs(ctx.dateShiftDays) > 36500) {
    throw new ConfigError('deid.dateShiftDays', `must be a non-zero integer number of days within +-36500, got ${ctx.dateShiftDays}`);
  }
  if (typeof ctx.uidSecret !== 'string' || ctx.uidSecret.length < 16) throw new ConfigError('deid.uidSecret', 'must be a secret string of at least 16 characters');
}

const str = (tag: number, vr: string, s: string): Element => ({ tag, vr, value: encodeString(vr, s) });

/**
 * De-identifies one DICOM object for blinded central review: PS3.15 Annex E Basic Application Level
 * Confidentiality Profile with the Retain Longitudinal Temporal Information with Modified Dates and
 * Clean Descriptors options. Pixel data (native or encapsulated) is copied byte for byte; the transfer
 * syntax is kept, except deflated input which is written as explicit VR little endian (report.reencoded).
 * Bad input (not DICOM, truncated, corrupt structure) throws InputError; a bad ctx throws ConfigError.
 */
export function deidentify(buf: Buffer, ctx: DeidContext): DeidResult {
  checkCtx(ctx);
  const parsed = readPart10(buf);
  const uidMap = new Map<string, string>();
  const counts: DeidReport['counts'] = {
    removed: 0, emptied: 0, uidsReplaced: 0, datesShifted: 0, descriptorsCleaned: 0, privateRemoved: 0, curveOverlayRemoved: 0, personNamesEmptied: 0,
  };
  const removedTags = new Set<string>();
  const warnings: string[] = [];
  const burnedIn = burnedInAnnotationCheck(headerFromElements(parsed.dataset));
  const pidEl = parsed.dataset.find((e) => e.tag === 0x00100020);
  const originalPatientId = pidEl?.value ? decodeAscii(pidEl.value) : '';
  const sopClassEl = parsed.dataset.find((e) => e.tag === 0x00080016) ?? parsed.meta.find((e) => e.tag === 0x00020002);
  const sopClassUid = decodeAscii(sopClassEl?.value);
  const isSR = sopClassUid.startsWith('1.2.840.10008.5.1.4.1.1.88.');

  const mapUid = (u: string): string => {
    let r = uidMap.get(u);
    if (!r) {
      r = pseudonymUid(ctx.uidSecret, u);
      uidMap.set(u, r);
    }
    return r;
  };
  const replaceUids = (e: Element): Element => {
    const vals = decodeAscii(e.value).split('\\').map((s) => s.replace(/[\0 ]+$/, '').trim());
    const out = vals.map((v) => (v === '' ? '' : mapUid(v)));
    counts.uidsReplaced += out.filter((v) => v !== '').length;
    return { tag: e.tag, vr: 'UI', value: encodeString('UI', out.join('\\')) };
  };
  const remove = (e: Element): void => {
    counts.removed++;
    removedTags.add(`${tagStr(e.tag)} ${keywordOf(e.tag)}`);
  };
  const empty = (e: Element): Element => {
    counts.emptied++;
    return e.items ? { tag: e.tag, vr: 'SQ', items: [] } : { tag: e.tag, vr: e.vr, value: Buffer.alloc(0) };
  };
  const shiftTemporal = (e: Element): Element | null => {
    if (e.vr !== 'DA' && e.vr !== 'DT') return e;
    const raw = e.value ? e.value.toString('latin1').replace(/[\0 ]+$/, '') : '';
    if (raw === '') return e;
    const parts = raw.split('\\').map((v) => (e.vr === 'DA' ? shiftDA(v, ctx.dateShiftDays) : shiftDT(v, ctx.dateShiftDays)));
    if (parts.some((p) => p === null)) {
      warnings.push(`${tagStr(e.tag)} ${keywordOf(e.tag)}: value is not a valid ${e.vr}; removed because it cannot be shifted`);
      return null;
    }
    counts.datesShifted += parts.length;
    return { tag: e.tag, vr: e.vr, value: encodeString(e.vr, parts.join('\\')) };
  };
  const cleanDescriptor = (e: Element): Element | null => {
    const text = e.value ? e.value.toString('latin1').replace(/[\0 ]+$/, '') : '';
    const kept = text
      .toUpperCase()
      .split(/[^A-Z0-9.]+/)
      .map((t) => t.replace(/^\.+|\.+$/g, ''))
      .filter((t) => SAFE_DESCRIPTOR_WORDS.has(t) || /^\d{1,3}(\.\d{1,2})?(MM)?$/.test(t));
    const cleaned = kept.join(' ').slice(0, 64).trim();
    counts.descriptorsCleaned++;
    if (cleaned === '') {
      if (EMPTY_WHEN_CLEANED_AWAY.has(e.tag)) return empty(e);
      remove(e);
      return null;
    }
    return { tag: e.tag, vr: e.vr === 'UN' ? 'LO' : e.vr, value: encodeString('LO', cleaned) };
  };

  const clean = (els: Element[], depth: number): Element[] => {
    const out: Element[] = [];
    for (const e0 of els) {
      let e = e0;
      const group = e.tag >>> 16;
      if (group & 1) {
        counts.privateRemoved++;
        continue;
      }
      if (group === 0x0002 || (e.tag & 0xffff) === 0 || (depth === 0 && group === 0x0012) || e.tag === 0x00280303) {
        continue; // meta in the dataset, group lengths, clinical trial / LTIM attributes (rewritten below)
      }
      if (isCurveOrOverlayGroup(group)) {
        counts.curveOverlayRemoved++;
        continue;
      }
      if (e.vr === 'UN' && !e.items) {
        const vr = dictionaryVr(e.tag);
        if (vr === 'UN' || vr === 'SQ' || (e.value && e.value.length > 0xffff && !['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UC', 'UR', 'UT'].includes(vr))) {
          remove(e); // unknown public attribute: cannot be checked, so it is not released
          continue;
        }
        e = { ...e, vr };
      }
      const entry = PROFILE_TABLE.get(e.tag);
      const action = isSR && e.tag === 0x00081111 ? 'Z' : (entry?.action ?? 'K');
      if (entry && NEVER_RETAIN_TEMPORAL.has(e.tag)) {
        if (action === 'Z') out.push(empty(e));
        else remove(e);
        continue;
      }
      switch (action) {
        case 'X':
          remove(e);
          continue;
        case 'Z':
          out.push(empty(e));
          continue;
        case 'D':
          if (e.items) out.push({ tag: e.tag, vr: 'SQ', items: e.items.map((item) => clean(item, depth + 1)) });
          else if (!/^(LO|SH|LT|ST|UT|UC|PN|CS)$/.test(e.vr)) remove(e);
          else out.push(str(e.tag, e.vr, 'DEIDENTIFIED'));
          continue;
        case 'SUBJECT':
          out.push(str(e.tag, e.vr === 'PN' ? 'PN' : 'LO', ctx.readingId));
          continue;
        case 'U':
          if (e.value) out.push(replaceUids(e));
          else remove(e);
          continue;
        case 'C': {
          const c = e.value ? cleanDescriptor(e) : e;
          if (c) out.push(c);
          continue;
        }
        default:
          break;
      }
      // K, or not in the table: generic rules.
      if (e.items) {
        out.push({ tag: e.tag, vr: 'SQ', items: e.items.map((item) => clean(item, depth + 1)) });
      } else if (e.vr === 'PN') {
        counts.personNamesEmptied++;
        out.push(empty(e));
      } else if (e.vr === 'UI' && e.value && !KEEP_UID_TAGS.has(e.tag)) {
        const v = decodeAscii(e.value);
        if (v === '' || v.split('\\').every((u) => u.trim().startsWith('1.2.840.10008.'))) out.push(e);
        else out.push(replaceUids(e));
      } else if (e.vr === 'DA' || e.vr === 'DT') {
        const s = shiftTemporal(e);
        if (s) out.push(s);
        else remove(e);
      } else {
        out.push(e);
      }
    }
    return out;
  };

  const dataset = clean(parsed.dataset, 0);
  // Patient identity, clinical trial subject/series attributes and the de-identification record.
  const put = (e: Element): void => {
    const i = dataset.findIndex((x) => x.tag === e.tag);
    if (i >= 0) dataset[i] = e;
    else dataset.push(e);
  };
  put(str(0x00100010, 'PN', ctx.readingId));
  put(str(0x00100020, 'LO', ctx.readingId));
  put(str(0x00120010, 'LO', ctx.sponsorName ?? 'BLINDED SPONSOR'));
  put(str(0x00120020, 'LO', ctx.protocolId));
  put(str(0x00120021, 'LO', ctx.protocolName ?? '')); // Type 2
  put(str(0x00120030, 'LO', '')); // ClinicalTrialSiteID: Type 2, left empty: the site is blinded
  put(str(0x00120031, 'LO', '')); // ClinicalTrialSiteName: Type 2, left empty: the site is blinded
  if (!ctx.omitSubjectId) put(str(0x00120040, 'LO', ctx.subjectId));
  put(str(0x00120042, 'LO', ctx.readingId));
  put(str(0x00120050, 'LO', ctx.timePointId));
  if (ctx.timePointDescription) put(str(0x00120051, 'ST', ctx.timePointDescription));
  put(str(0x00120060, 'LO', '')); // ClinicalTrialCoordinatingCenterName: Type 2, empty
  put(str(0x00120062, 'CS', 'YES'));
  put(str(0x00120063, 'LO', DEID_METHOD_TEXT.join('\\')));
  put({
    tag: 0x00120064,
    vr: 'SQ',
    items: DEID_METHOD_CODES.map((c) => [str(0x00080100, 'SH', c.value), str(0x00080102, 'SH', 'DCM'), str(0x00080104, 'LO', c.meaning)]),
  });
  put(str(0x00280303, 'CS', 'MODIFIED'));
  dataset.sort((a, b) => a.tag - b.tag);

  // File meta: rebuilt (source application AE title and private meta attributes are not carried over).
  const metaVal = (tag: number): string => decodeAscii(parsed.meta.find((e) => e.tag === tag)?.value);
  const sopInstanceOriginal = metaVal(0x00020003) || decodeAscii(parsed.dataset.find((e) => e.tag === 0x00080018)?.value);
  const outTs = parsed.transferSyntaxUid === TS.deflatedLE || parsed.transferSyntaxUid === '1.2.840.10008.1.2.8.1' ? TS.explicitLE : parsed.transferSyntaxUid;
  const meta: Element[] = [
    { tag: 0x00020001, vr: 'OB', value: Buffer.from([0, 1]) },
    str(0x00020002, 'UI', metaVal(0x00020002) || sopClassUid),
    str(0x00020003, 'UI', sopInstanceOriginal ? mapUid(sopInstanceOriginal) : ''),
    str(0x00020010, 'UI', outTs),
    str(0x00020012, 'UI', DEID_IMPLEMENTATION_UID),
    str(0x00020013, 'SH', DEID_IMPLEMENTATION_VERSION),
  ];
  const bytes = writePart10(meta, dataset, parsed.datasetSyntax);
  return {
    bytes,
    uidMap: [...uidMap].map(([original, replacement]) => ({ original, replacement })),
    removedPrivateTags: counts.privateRemoved,
    report: {
      transferSyntaxIn: parsed.transferSyntaxUid,
      transferSyntaxOut: outTs,
      reencoded: outTs !== parsed.transferSyntaxUid ? `deflated input re-encoded as explicit VR little endian (${TS.explicitLE})` : undefined,
      sopClassUid,
      counts,
      removedTags: [...removedTags].sort(),
      burnedInAnnotation: burnedIn,
      warnings,
      methodCodes: DEID_METHOD_CODES.map((c) => c.value),
    },
    pseudonyms: { originalPatientId, subjectId: ctx.subjectId, readingId: ctx.readingId, dateShiftDays: ctx.dateShiftDays },
  };
}
