import * as dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { InputError } from '@app/core';
import { transferSyntaxInfo } from './transfer-syntax';
import { ValueReader, tagLabel } from './values';

export type Vec3 = [number, number, number];

/** Geometry and pixel-value transform of one frame (merged Shared + Per-frame Functional Groups). */
export interface FrameGeometry {
  imagePositionPatient?: Vec3;
  imageOrientationPatient?: [number, number, number, number, number, number];
  /** [row spacing, column spacing] in mm (DICOM order). */
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  spacingBetweenSlices?: number;
  rescaleSlope?: number;
  rescaleIntercept?: number;
  windowCenter?: number;
  windowWidth?: number;
}

export interface ClinicalTrialAttributes {
  sponsorName?: string;
  protocolId?: string;
  protocolName?: string;
  siteId?: string;
  siteName?: string;
  subjectId?: string;
  subjectReadingId?: string;
  timePointId?: string;
  timePointDescription?: string;
  coordinatingCenterName?: string;
  seriesId?: string;
  seriesDescription?: string;
  protocolEthicsCommitteeName?: string;
  protocolEthicsCommitteeApprovalNumber?: string;
  longitudinalTemporalOffsetFromEvent?: number;
  longitudinalTemporalEventType?: string;
  distributionType?: string;
  consentForDistributionFlag?: string;
  patientIdentityRemoved?: string;
  deidentificationMethod?: string;
}

/** Typed, JSON-serialisable header of one DICOM object. */
export interface DicomHeader {
  patient: { patientId?: string; patientName?: string; birthDate?: string; sex?: string };
  study: {
    studyInstanceUid?: string;
    studyDate?: string;
    studyTime?: string;
    accessionNumber?: string;
    studyDescription?: string;
    studyId?: string;
  };
  series: {
    seriesInstanceUid?: string;
    seriesNumber?: number;
    modality?: string;
    seriesDescription?: string;
    bodyPartExamined?: string;
    frameOfReferenceUid?: string;
  };
  instance: {
    sopInstanceUid?: string;
    sopClassUid?: string;
    instanceNumber?: number;
    imageType: string[];
    transferSyntaxUid: string;
    acquisitionNumber?: number;
  };
  image: FrameGeometry & {
    rows?: number;
    columns?: number;
    numberOfFrames: number;
    bitsAllocated?: number;
    bitsStored?: number;
    highBit?: number;
    pixelRepresentation?: number;
    samplesPerPixel?: number;
    planarConfiguration?: number;
    photometricInterpretation?: string;
    hasPixelData: boolean;
  };
  /** Per-frame geometry of enhanced multi-frame objects (one entry per frame); absent for classic objects. */
  frames?: FrameGeometry[];
  clinicalTrial?: ClinicalTrialAttributes;
  /** Anything read with reservations (invalid value ignored, transfer syntax inferred, ...). */
  flags: string[];
}

/** A parsed object: its header plus the dicom-parser data set kept for pixel decoding. */
export interface ParsedDicom {
  header: DicomHeader;
  dataSet: DataSet;
  transferSyntaxUid: string;
  /** Byte length of the object as received. */
  byteLength: number;
}

export interface ParseOptions {
  /**
   * When the P10 meta header has no Transfer Syntax UID (0002,0010): false (default) throws
   * `dicom.missing-transfer-syntax`; true infers explicit or implicit VR little endian from the first
   * data element and records a flag. Encapsulated (compressed) pixel data is never inferred.
   */
  inferMissingTransferSyntax?: boolean;
  /**
   * Stop at the Pixel Data element (header only): `input` may then be just a prefix of the file that
   * ends inside the pixel data. The result cannot be decoded (its pixel data is not all there).
   */
  stopAtPixelData?: boolean;
}

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const VRS = new Set(
  'AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);

const errText = (e: unknown): string => {
  if (typeof e === 'string') return e;
  if (e instanceof Error) return e.message;
  if (e && typeof e === 'object' && 'exception' in e) return errText((e as { exception: unknown }).exception);
  return String(e);
};

/** Guess explicit vs implicit VR LE from the element at `pos` (two upper-case letters of a known VR). */
function inferLittleEndian(buf: Buffer, pos: number): string {
  if (pos + 6 > buf.length) return IMPLICIT_LE;
  const vr = buf.toString('latin1', pos + 4, pos + 6);
  return VRS.has(vr) ? EXPLICIT_LE : IMPLICIT_LE;
}

/**
 * Offset of the first data element of a raw data set: the first of bytes 0..16 where a group 0002/0008
 * element with a plausible explicit VR or implicit length begins; -1 when none.
 */
function findRawDataSetStart(buf: Buffer): number {
  for (let o = 0; o <= 16 && o + 8 <= buf.length; o++) {
    const g = buf.readUInt16LE(o);
    if (g !== 0x0002 && g !== 0x0008) continue;
    const vr = buf.toString('latin1', o + 4, o + 6);
    if (VRS.has(vr)) return o;
    const len = buf.readUInt32LE(o + 4);
    if (len < buf.length - o) return o;
  }
  return -1;
}

/** Makes an InputError for a dicom-parser failure, naming what was truncated where possible. */
function parserFailure(e: unknown, buf: Buffer): InputError {
  const msg = errText(e);
  const partial = (e && typeof e === 'object' && 'dataSet' in e ? (e as { dataSet?: DataSet }).dataSet : undefined) ?? undefined;
  if (/overrun|beyond|end of|out of range|offset is outside/i.test(msg)) {
    const els = partial ? Object.values(partial.elements) : [];
    const last = els.length ? els.reduce((a, b) => (b.dataOffset > a.dataOffset ? b : a)) : undefined;
    if (last && last.dataOffset + last.length > buf.length) {
      const remaining = buf.length - last.dataOffset;
      if (last.tag === 'x7fe00010' && partial) {
        const r = new ValueReader(partial, []);
        const rows = r.us('x00280010');
        const cols = r.us('x00280011');
        const frames = r.is1('x00280008', 'NumberOfFrames') ?? 1;
        const ba = r.us('x00280100');
        const spp = r.us('x00280002') ?? 1;
        const expect = rows && cols && ba ? (rows * cols * frames * spp * ba) / 8 : undefined;
        return new InputError(
          'dicom.truncated-pixel-data',
          `Pixel Data (7FE0,0010) declares ${last.length} bytes but the file ends ${remaining} bytes after its start` +
            (expect !== undefined && ba
              ? ` (Rows ${rows} x Columns ${cols} x Frames ${frames} x Samples ${spp} x ${ba / 8} bytes = ${expect} bytes expected)`
              : '') +
            '; the file is truncated, resend the complete object',
          { declaredLength: last.length, availableBytes: remaining, expectedBytes: expect, fileBytes: buf.length },
        );
      }
      return new InputError(
        'dicom.truncated',
        `DICOM object is truncated: element ${tagLabel(last.tag)} declares ${last.length} bytes but only ${remaining} remain in the ${buf.length}-byte file`,
        { tag: tagLabel(last.tag), declaredLength: last.length, availableBytes: remaining },
      );
    }
    return new InputError('dicom.truncated', `DICOM object is truncated or corrupt (${msg}); file is ${buf.length} bytes`, {
      parser: msg,
      fileBytes: buf.length,
    });
  }
  return new InputError('dicom.malformed', `DICOM object could not be parsed: ${msg}`, { parser: msg, fileBytes: buf.length });
}

/** Every top-level element must lie inside the file, and there must be a data set after the meta header. */
function checkComplete(ds: DataSet, fileBytes: number, headerOnly: boolean): void {
  const els = Object.values(ds.elements);
  if (!els.some((e) => !e.tag.startsWith('x0002'))) {
    throw new InputError(
      'dicom.truncated',
      `DICOM object has a File Meta Information header but no data set (file is ${fileBytes} bytes); it is truncated or empty`,
      { fileBytes },
    );
  }
  for (const e of els) {
    const end = e.dataOffset + e.length;
    if (!e.hadUndefinedLength && end > ds.byteArray.length && !(headerOnly && e.tag === 'x7fe00010')) {
      throw new InputError(
        e.tag === 'x7fe00010' ? 'dicom.truncated-pixel-data' : 'dicom.truncated',
        `DICOM object is truncated: element ${tagLabel(e.tag)} declares ${e.length} bytes but only ${ds.byteArray.length - e.dataOffset} remain`,
        { tag: tagLabel(e.tag), declaredLength: e.length, availableBytes: ds.byteArray.length - e.dataOffset },
      );
    }
  }
}

/** Builds a data set from raw bytes after a meta header, in the given little-endian transfer syntax. */
function parseRawDataSet(buf: Buffer, position: number, tsUid: string, untilTag?: string): DataSet {
  const dp = dicomParser as unknown as {
    ByteStream: new (p: dicomParser.ByteArrayParser, b: Buffer, pos: number) => dicomParser.ByteStream;
    DataSet: new (p: dicomParser.ByteArrayParser, b: Buffer, els: Record<string, dicomParser.Element>) => DataSet;
  };
  if (position >= buf.length) {
    throw new InputError('dicom.truncated', `DICOM object is truncated: the file ends (${buf.length} bytes) where the data set should start`, {
      fileBytes: buf.length,
    });
  }
  const stream = new dp.ByteStream(dicomParser.littleEndianByteArrayParser, buf, position);
  const ds = new dp.DataSet(dicomParser.littleEndianByteArrayParser, buf, {});
  try {
    const o = untilTag ? { untilTag } : undefined;
    if (tsUid === IMPLICIT_LE) dicomParser.parseDicomDataSetImplicit(ds, stream, buf.length, o);
    else dicomParser.parseDicomDataSetExplicit(ds, stream, buf.length, o);
  } catch (e) {
    throw parserFailure({ exception: e, dataSet: ds }, buf);
  }
  return ds;
}

/**
 * Parses one DICOM object (P10 file with preamble, a raw data set without preamble/meta, or a deflated
 * file). Throws `InputError` (`dicom.not-dicom`, `dicom.truncated`, `dicom.truncated-pixel-data`,
 * `dicom.missing-transfer-syntax`, `dicom.malformed`) for bad input.
 */
export function parseDicom(input: Buffer | Uint8Array, opts: ParseOptions = {}): ParsedDicom {
  // dicom-parser's deflate path needs a Node Buffer.
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const flags: string[] = [];
  const untilTag = opts.stopAtPixelData ? 'x7fe00010' : undefined;
  if (buf.length < 8) {
    throw new InputError('dicom.not-dicom', `Not a DICOM object: only ${buf.length} bytes`, { fileBytes: buf.length });
  }
  const hasPreamble = buf.length >= 132 && buf.toString('latin1', 128, 132) === 'DICM';
  let ds: DataSet;
  let tsUid: string;
  if (hasPreamble) {
    let meta: DataSet & { position?: number };
    try {
      meta = dicomParser.readPart10Header(buf) as DataSet & { position?: number };
    } catch (e) {
      throw parserFailure(e, buf);
    }
    const tsEl = meta.elements.x00020010;
    if (!tsEl || tsEl.length === 0) {
      if (!opts.inferMissingTransferSyntax) {
        throw new InputError(
          'dicom.missing-transfer-syntax',
          'The File Meta Information has no Transfer Syntax UID (0002,0010), so the encoding of the data set is unknown; ' +
            'the sender must write a complete P10 meta header',
          { fileBytes: buf.length },
        );
      }
      // readPart10Header reads on through any group < 0002 (e.g. 0001) after the meta: use the group length.
      const gl = meta.elements.x00020000;
      const metaEnd = gl && gl.length === 4 ? gl.dataOffset + 4 + buf.readUInt32LE(gl.dataOffset) : (meta.position ?? 132);
      for (const k of Object.keys(meta.elements)) if (!k.startsWith('x0002')) delete meta.elements[k];
      tsUid = inferLittleEndian(buf, metaEnd);
      flags.push(
        `transfer-syntax-inferred: (0002,0010) missing; read as ${tsUid === IMPLICIT_LE ? 'Implicit' : 'Explicit'} VR Little Endian (${tsUid}) from the first data element`,
      );
      ds = parseRawDataSet(buf, metaEnd, tsUid, untilTag);
      for (const [k, v] of Object.entries(meta.elements)) ds.elements[k] = v;
      const px = ds.elements.x7fe00010;
      if (px && (px.encapsulatedPixelData || px.hadUndefinedLength)) {
        throw new InputError(
          'dicom.missing-transfer-syntax',
          'The File Meta Information has no Transfer Syntax UID (0002,0010) and the pixel data is encapsulated (compressed); the codec cannot be inferred safely',
        );
      }
    } else {
      try {
        ds = dicomParser.parseDicom(buf, untilTag ? { untilTag } : undefined);
      } catch (e) {
        throw parserFailure(e, buf);
      }
      tsUid = (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
    }
  } else {
    // No preamble: a raw data set (PS3.10 allows it on media without meta; seen from old archives).
    const start = findRawDataSetStart(buf);
    if (start < 0) {
      throw new InputError(
        'dicom.not-dicom',
        `Not a DICOM object: no 'DICM' prefix at byte 128 and no DICOM data element (group 0002 or 0008) in the first 16 bytes`,
        { fileBytes: buf.length },
      );
    }
    tsUid = inferLittleEndian(buf, start);
    flags.push(
      `no-preamble: no 128-byte preamble/'DICM' prefix; read as a raw ${tsUid === IMPLICIT_LE ? 'Implicit' : 'Explicit'} VR Little Endian data set` +
        (start > 0 ? `; ${start} stray leading byte(s) skipped` : ''),
    );
    ds = parseRawDataSet(buf, start, tsUid, untilTag);
    const present = Object.keys(ds.elements).filter((k) => /^x[0-9a-f]{8}$/.test(k) && k !== 'x00020010');
    if (present.length < 3 || (!ds.elements.x00080016 && !ds.elements.x00080018)) {
      throw new InputError(
        'dicom.not-dicom',
        'Not a DICOM object: no preamble, and the bytes do not read as a data set with a SOP Class / SOP Instance UID',
        { fileBytes: buf.length },
      );
    }
  }
  checkComplete(ds, buf.length, !!untilTag);
  if (!transferSyntaxInfo(tsUid)) {
    flags.push(`unknown-transfer-syntax: '${tsUid}' is not a known transfer syntax; header read, pixel data cannot be decoded`);
  }
  for (const w of ds.warnings ?? []) flags.push(`parser-warning: ${w}`);
  const header = extractHeader(ds, tsUid, flags);
  if (!header.instance.sopInstanceUid) flags.push('missing-attribute: SOPInstanceUID (0008,0018) is absent; the object has no identity');
  return { header, dataSet: ds, transferSyntaxUid: tsUid, byteLength: buf.length };
}

function geometryFrom(r: ValueReader, into: FrameGeometry): void {
  const ipp = r.ds_('x00200032', 'ImagePositionPatient');
  if (ipp) {
    if (ipp.length === 3) into.imagePositionPatient = [ipp[0], ipp[1], ipp[2]];
    else r.flags.push(`invalid-value: ImagePositionPatient (0020,0032) has ${ipp.length} values, expected 3`);
  }
  const iop = r.ds_('x00200037', 'ImageOrientationPatient');
  if (iop) {
    if (iop.length === 6) into.imageOrientationPatient = [iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]];
    else r.flags.push(`invalid-value: ImageOrientationPatient (0020,0037) has ${iop.length} values, expected 6`);
  }
  const ps = r.ds_('x00280030', 'PixelSpacing');
  if (ps) {
    if (ps.length === 2 && ps[0] > 0 && ps[1] > 0) into.pixelSpacing = [ps[0], ps[1]];
    else r.flags.push(`invalid-value: PixelSpacing (0028,0030) = '${ps.join('\\')}', expected two positive values`);
  }
  const st = r.ds1('x00180050', 'SliceThickness');
  if (st !== undefined) into.sliceThickness = st;
  const sbs = r.ds1('x00180088', 'SpacingBetweenSlices');
  if (sbs !== undefined) into.spacingBetweenSlices = sbs;
  const slope = r.ds1('x00281053', 'RescaleSlope');
  if (slope !== undefined) into.rescaleSlope = slope;
  const icpt = r.ds1('x00281052', 'RescaleIntercept');
  if (icpt !== undefined) into.rescaleIntercept = icpt;
  const wc = r.ds1('x00281050', 'WindowCenter');
  if (wc !== undefined) into.windowCenter = wc;
  const ww = r.ds1('x00281051', 'WindowWidth');
  if (ww !== undefined) into.windowWidth = ww;
}

/** Merges the functional-group macros of one Shared or Per-frame item into `g`. */
function functionalGroups(item: DataSet, flags: string[], g: FrameGeometry): void {
  const r = new ValueReader(item, flags);
  const sub = (tag: string): ValueReader[] => r.items(tag).map((d) => new ValueReader(d, flags));
  for (const s of [
    ...sub('x00209113'), // Plane Position Sequence
    ...sub('x00209116'), // Plane Orientation Sequence
    ...sub('x00289110'), // Pixel Measures Sequence
    ...sub('x00289145'), // Pixel Value Transformation Sequence
    ...sub('x00289132'), // Frame VOI LUT Sequence
  ]) {
    geometryFrom(s, g);
  }
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))) as T;

/** Extracts the typed header from a parsed data set. */
export function extractHeader(ds: DataSet, transferSyntaxUid: string, flags: string[] = []): DicomHeader {
  const r = new ValueReader(ds, flags);
  const image: DicomHeader['image'] = {
    rows: r.us('x00280010'),
    columns: r.us('x00280011'),
    numberOfFrames: 1,
    bitsAllocated: r.us('x00280100'),
    bitsStored: r.us('x00280101'),
    highBit: r.us('x00280102'),
    pixelRepresentation: r.us('x00280103'),
    samplesPerPixel: r.us('x00280002'),
    planarConfiguration: r.us('x00280006'),
    photometricInterpretation: r.str('x00280004'),
    hasPixelData: !!ds.elements.x7fe00010,
  };
  if (r.has('x00280008')) {
    const nf = r.is1('x00280008', 'NumberOfFrames');
    if (nf === undefined) image.numberOfFrames = NaN;
    else if (nf < 1) {
      flags.push(`invalid-value: NumberOfFrames (0028,0008) = ${nf}, expected >= 1`);
      image.numberOfFrames = NaN;
    } else image.numberOfFrames = nf;
  }
  geometryFrom(r, image);

  const header: DicomHeader = {
    patient: defined({
      patientId: r.str('x00100020'),
      patientName: r.str('x00100010'),
      birthDate: r.str('x00100030'),
      sex: r.str('x00100040'),
    }),
    study: defined({
      studyInstanceUid: r.str('x0020000d'),
      studyDate: r.str('x00080020'),
      studyTime: r.str('x00080030'),
      accessionNumber: r.str('x00080050'),
      studyDescription: r.str('x00081030'),
      studyId: r.str('x00200010'),
    }),
    series: defined({
      seriesInstanceUid: r.str('x0020000e'),
      seriesNumber: r.is1('x00200011', 'SeriesNumber'),
      modality: r.str('x00080060'),
      seriesDescription: r.str('x0008103e'),
      bodyPartExamined: r.str('x00180015'),
      frameOfReferenceUid: r.str('x00200052'),
    }),
    instance: {
      ...defined({
        sopInstanceUid: r.str('x00080018') ?? r.str('x00020003'),
        sopClassUid: r.str('x00080016') ?? r.str('x00020002'),
        instanceNumber: r.is1('x00200013', 'InstanceNumber'),
        acquisitionNumber: r.is1('x00200012', 'AcquisitionNumber'),
      }),
      imageType: r.strs('x00080008') ?? [],
      transferSyntaxUid,
    },
    image: defined(image),
    flags,
  };

  // Enhanced multi-frame: Shared (5200,9229) and Per-frame (5200,9230) Functional Groups.
  const shared = r.items('x52009229');
  const perFrame = r.items('x52009230');
  if (shared.length || perFrame.length) {
    const base: FrameGeometry = {};
    for (const s of shared) functionalGroups(s, flags, base);
    const n = Number.isFinite(image.numberOfFrames) ? image.numberOfFrames : perFrame.length;
    if (perFrame.length && perFrame.length !== n) {
      flags.push(`functional-groups: Per-frame Functional Groups Sequence has ${perFrame.length} items but NumberOfFrames is ${n}`);
    }
    header.frames = Array.from({ length: n }, (_, i) => {
      const g: FrameGeometry = { ...base };
      if (perFrame[i]) functionalGroups(perFrame[i], flags, g);
      return defined(g);
    });
    // Frame 0 geometry also summarised on the image when the top level lacks it.
    const f0 = header.frames[0];
    if (f0) for (const [k, v] of Object.entries(f0)) {
        const img = header.image as unknown as Record<string, unknown>;
        if (img[k] === undefined) img[k] = v;
      }
  }

  const ct = defined<ClinicalTrialAttributes>({
    sponsorName: r.str('x00120010'),
    protocolId: r.str('x00120020'),
    protocolName: r.str('x00120021'),
    siteId: r.str('x00120030'),
    siteName: r.str('x00120031'),
    subjectId: r.str('x00120040'),
    subjectReadingId: r.str('x00120042'),
    timePointId: r.str('x00120050'),
    timePointDescription: r.str('x00120051'),
    longitudinalTemporalOffsetFromEvent: r.fd('x00120052'),
    longitudinalTemporalEventType: r.str('x00120053'),
    coordinatingCenterName: r.str('x00120060'),
    patientIdentityRemoved: r.str('x00120062'),
    deidentificationMethod: r.str('x00120063'),
    seriesId: r.str('x00120071'),
    seriesDescription: r.str('x00120072'),
    protocolEthicsCommitteeName: r.str('x00120081'),
    protocolEthicsCommitteeApprovalNumber: r.str('x00120082'),
    distributionType: r.str('x00120084'),
    consentForDistributionFlag: r.str('x00120085'),
  });
  if (Object.keys(ct).length) header.clinicalTrial = ct;
  return header;
}

/** Geometry of frame `i` (per-frame for enhanced objects, else the image-level values). */
export function frameGeometry(h: DicomHeader, i: number): FrameGeometry {
  const img = h.image;
  const base: FrameGeometry = {
    imagePositionPatient: img.imagePositionPatient,
    imageOrientationPatient: img.imageOrientationPatient,
    pixelSpacing: img.pixelSpacing,
    sliceThickness: img.sliceThickness,
    spacingBetweenSlices: img.spacingBetweenSlices,
    rescaleSlope: img.rescaleSlope,
    rescaleIntercept: img.rescaleIntercept,
    windowCenter: img.windowCenter,
    windowWidth: img.windowWidth,
  };
  const f = h.frames?.[i];
  return f ? { ...base, ...f } : base;
}
