import { InputError } from '@app/core';
import type { DicomHeader, Volume } from '@app/dicom';
import { uidFrom, writeSeg, writeSr, type AlgorithmInfo, type AxisMeasurement, type SegmentSpec, type SourceSeriesRef } from '@app/sr';
import type { ClassInfo } from './ct';
import type { TrackedTimepoint } from './track';

export interface SegSrContext {
  /** Pseudonymous subject reading id: the SEG / SR Patient ID and name (the only identity readers see). */
  readingId: string;
  model: { id: string; version: string; sha256: string };
  classes: Map<number, ClassInfo>;
  /** Unique per AI run (e.g. the run key): the SEG / SR UIDs are derived from it, so a re-run writes the same bytes. */
  runKey: string;
  /** When the objects are written (YYYYMMDD, HHMMSS). */
  contentDate: string;
  contentTime: string;
}

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const MANUFACTURER = 'Endpoint service AI read';

/** The source CT series as SEG / SR reference it, from the de-identified slice headers. */
export function sourceRef(volume: Pick<Volume, 'dims' | 'sliceSopInstanceUids'>, headers: (DicomHeader | undefined)[], readingId: string, timePointId: string): SourceSeriesRef {
  const h = headers.find((x) => x) ;
  if (!h || headers.length !== volume.dims[2] || headers.some((x) => !x)) throw new InputError('airead.no-source-headers', `timepoint ${timePointId}: the headers of the volume's slices are missing; SEG/SR need them`);
  const g = h.image;
  const studyUid = h.study.studyInstanceUid;
  const seriesUid = h.series.seriesInstanceUid;
  const forUid = h.series.frameOfReferenceUid;
  if (!studyUid || !seriesUid || !forUid) throw new InputError('airead.no-source-uids', `timepoint ${timePointId}: the source series lacks a Study, Series or Frame of Reference UID`);
  if (!g.pixelSpacing || !g.imageOrientationPatient || !g.rows || !g.columns) throw new InputError('airead.no-geometry', `timepoint ${timePointId}: the source slices lack Pixel Spacing / Image Orientation`);
  return {
    studyInstanceUid: studyUid,
    seriesInstanceUid: seriesUid,
    frameOfReferenceUid: forUid,
    sopClassUid: h.instance.sopClassUid ?? CT_IMAGE_STORAGE,
    slices: headers.map((x, k) => ({ sopInstanceUid: volume.sliceSopInstanceUids[k] ?? x!.instance.sopInstanceUid!, imagePositionPatient: x!.image.imagePositionPatient! })),
    rows: g.rows,
    columns: g.columns,
    pixelSpacing: g.pixelSpacing,
    sliceThickness: Math.max(...headers.map((x) => x!.image.sliceThickness ?? 0)) || 1,
    imageOrientationPatient: g.imageOrientationPatient,
    patient: { patientId: readingId, patientName: readingId, patientIdentityRemoved: true, deidentificationMethod: 'PS3.15 Basic Application Level Confidentiality Profile' },
    studyDate: h.study.studyDate ?? '',
    studyTime: h.study.studyTime ?? '',
    studyId: h.study.studyId ?? '',
    accessionNumber: '',
    ...clinicalTrialOf(h, readingId, timePointId),
  };
}

/** Clinical Trial Subject / Study values when the source carries a sponsor and protocol (the module needs both). */
function clinicalTrialOf(h: DicomHeader, readingId: string, timePointId: string): Pick<SourceSeriesRef, 'clinicalTrial'> {
  const ct = h.clinicalTrial;
  if (!ct?.sponsorName || !ct.protocolId) return {};
  return { clinicalTrial: { sponsorName: ct.sponsorName, protocolId: ct.protocolId, protocolName: ct.protocolName, subjectReadingId: readingId, timePointId } };
}

/** A measured axis as a 2-point caliper in DICOM image coordinates (column, row; pixel (0,0)'s top-left corner is 0,0). */
function caliper(axis: { lengthMm: number; k: number; p1Mm: number[]; p2Mm: number[] }, volume: Pick<Volume, 'affine'>, mm: number, sop: string): AxisMeasurement {
  const a = volume.affine;
  const ci = [a[0], a[4], a[8]];
  const cj = [a[1], a[5], a[9]];
  const o = [a[3] + a[2] * axis.k, a[7] + a[6] * axis.k, a[11] + a[10] * axis.k];
  const toPix = (p: number[]): [number, number] => {
    const d = [p[0]! - o[0]!, p[1]! - o[1]!, p[2]! - o[2]!];
    const i = (d[0]! * ci[0]! + d[1]! * ci[1]! + d[2]! * ci[2]!) / (ci[0]! ** 2 + ci[1]! ** 2 + ci[2]! ** 2);
    const j = (d[0]! * cj[0]! + d[1]! * cj[1]! + d[2]! * cj[2]!) / (cj[0]! ** 2 + cj[1]! ** 2 + cj[2]! ** 2);
    return [i + 0.5, j + 0.5];
  };
  return { mm, referencedSopInstanceUid: sop, points: [toPix(axis.p1Mm), toPix(axis.p2Mm)] };
}

/**
 * One DICOM SEG (lesion masks, one segment per present lesion carrying its Tracking UID and id) and one TID 1500 SR
 * (per lesion: long and short axis with their calipers, volume, finding site, RECIST 1.1, the algorithm, a reference
 * to the SEG segment) for one tracked timepoint. Returns null buffers when no lesion is present (nothing to encode:
 * a SEG needs at least one segment).
 */
export function writeTimepointSegSr(
  tp: TrackedTimepoint,
  volume: Pick<Volume, 'dims' | 'affine' | 'sliceSopInstanceUids'>,
  headers: (DicomHeader | undefined)[],
  components: Int32Array | Int16Array,
  ctx: SegSrContext,
): { seg: Buffer; sr: Buffer; segUid: string; srUid: string } | null {
  const present = tp.lesions.filter((l) => l.present && l.lesion && l.segmentNumber);
  if (!present.length) return null;
  const source = sourceRef(volume, headers, ctx.readingId, tp.timePointId);
  const n = volume.dims[0] * volume.dims[1] * volume.dims[2];
  const segOf = new Uint16Array(Math.max(...present.map((l) => l.lesion!.component)) + 1);
  for (const l of present) segOf[l.lesion!.component] = l.segmentNumber!;
  const labels = new Uint16Array(n);
  for (let v = 0; v < n; v++) {
    const c = components[v]!;
    if (c > 0 && c < segOf.length) labels[v] = segOf[c]!;
  }
  const algorithm: AlgorithmInfo = { name: ctx.model.id, version: ctx.model.version, sha256: ctx.model.sha256 };
  const equipment = { manufacturer: MANUFACTURER };
  const segUid = uidFrom('seg', ctx.runKey, tp.timePointId);
  const srUid = uidFrom('sr', ctx.runKey, tp.timePointId);
  const segSeriesUid = uidFrom('seg-series', ctx.runKey, tp.timePointId);
  const srSeriesUid = uidFrom('sr-series', ctx.runKey, tp.timePointId);
  const lesionType = (cls: number | null) => ctx.classes.get(cls ?? -1);
  const segments: SegmentSpec[] = present.map((l) => {
    const info = lesionType(l.cls);
    return {
      number: l.segmentNumber!,
      label: l.trackingId,
      trackingId: l.trackingId,
      trackingUid: l.trackingUid,
      category: info?.category ?? { scheme: 'SCT', code: '49755003', meaning: 'Morphologically abnormal structure' },
      type: info?.type ?? { scheme: 'SCT', code: '52988006', meaning: 'Lesion' },
      ...(info?.findingSite ? { anatomicRegion: info.findingSite } : {}),
      algorithmType: 'AUTOMATIC',
    };
  });
  const seg = writeSeg({
    source,
    output: { seriesInstanceUid: segSeriesUid, sopInstanceUid: segUid, seriesNumber: 9001, instanceNumber: 1, contentDate: ctx.contentDate, contentTime: ctx.contentTime, seriesDescription: `AI lesion proposals ${ctx.model.id} ${ctx.model.version}` },
    algorithm,
    equipment,
    labels,
    segments,
    contentLabel: 'AI_LESIONS',
    contentDescription: 'AI lesion proposals (not signed by a reader)',
  });
  const sr = writeSr({
    source,
    output: { seriesInstanceUid: srSeriesUid, sopInstanceUid: srUid, seriesNumber: 9002, instanceNumber: 1, contentDate: ctx.contentDate, contentTime: ctx.contentTime, seriesDescription: `AI RECIST measurements ${ctx.model.id} ${ctx.model.version}` },
    algorithm,
    equipment,
    timepoint: { id: tp.timePointId },
    seg: { sopInstanceUid: segUid, seriesInstanceUid: segSeriesUid },
    preliminaryFlag: 'PRELIMINARY',
    lesions: present.map((l) => {
      const m = l.lesion!.measurement;
      const info = lesionType(l.cls);
      const sop = source.slices[m.longAxis.k]!.sopInstanceUid;
      return {
        trackingId: l.trackingId,
        trackingUid: l.trackingUid,
        findingSite: info?.findingSite ?? { scheme: 'SCT', code: '123037004', meaning: 'Body structure' },
        finding: info?.type ?? { scheme: 'SCT', code: '52988006', meaning: 'Lesion' },
        segmentNumber: l.segmentNumber!,
        longAxis: caliper(m.longAxis, volume, l.longAxisMm!, sop),
        shortAxis: caliper(m.shortAxis, volume, l.shortAxisMm!, source.slices[m.shortAxis.k]!.sopInstanceUid),
        volumeMm3: l.volumeMm3 ?? undefined,
      };
    }),
  });
  return { seg, sr, segUid, srUid };
}
