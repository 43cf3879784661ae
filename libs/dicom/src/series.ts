import { z } from 'zod';
import { ConfigError } from '@app/core';
import type { DicomHeader } from './parse';

export interface SeriesGroup<T extends { header: DicomHeader }> {
  seriesInstanceUid: string;
  seriesNumber?: number;
  modality?: string;
  seriesDescription?: string;
  /** Instances sorted by InstanceNumber then SOP Instance UID (display order only; volumes sort by position). */
  instances: T[];
}
export interface StudyGroup<T extends { header: DicomHeader }> {
  studyInstanceUid: string;
  studyDate?: string;
  studyDescription?: string;
  series: SeriesGroup<T>[];
}
export interface PatientGroup<T extends { header: DicomHeader }> {
  patientId: string;
  patientName?: string;
  studies: StudyGroup<T>[];
}

const NONE = '(none)';

/** Groups instances into patient -> study -> series (by PatientID, StudyInstanceUID, SeriesInstanceUID). */
export function groupInstances<T extends { header: DicomHeader }>(items: T[]): PatientGroup<T>[] {
  const patients = new Map<string, PatientGroup<T>>();
  for (const it of items) {
    const h = it.header;
    const pid = h.patient.patientId ?? NONE;
    let p = patients.get(pid);
    if (!p) patients.set(pid, (p = { patientId: pid, patientName: h.patient.patientName, studies: [] }));
    const suid = h.study.studyInstanceUid ?? NONE;
    let s = p.studies.find((x) => x.studyInstanceUid === suid);
    if (!s) p.studies.push((s = { studyInstanceUid: suid, studyDate: h.study.studyDate, studyDescription: h.study.studyDescription, series: [] }));
    const seuid = h.series.seriesInstanceUid ?? NONE;
    let se = s.series.find((x) => x.seriesInstanceUid === seuid);
    if (!se) {
      s.series.push(
        (se = {
          seriesInstanceUid: seuid,
          seriesNumber: h.series.seriesNumber,
          modality: h.series.modality,
          seriesDescription: h.series.seriesDescription,
          instances: [],
        }),
      );
    }
    se.instances.push(it);
  }
  const byStr = (a = '', b = ''): number => (a < b ? -1 : a > b ? 1 : 0);
  const out = [...patients.values()].sort((a, b) => byStr(a.patientId, b.patientId));
  for (const p of out) {
    p.studies.sort((a, b) => byStr(a.studyDate, b.studyDate) || byStr(a.studyInstanceUid, b.studyInstanceUid));
    for (const s of p.studies) {
      s.series.sort((a, b) => (a.seriesNumber ?? 0) - (b.seriesNumber ?? 0) || byStr(a.seriesInstanceUid, b.seriesInstanceUid));
      for (const se of s.series) {
        se.instances.sort(
          (a, b) =>
            (a.header.instance.instanceNumber ?? 0) - (b.header.instance.instanceNumber ?? 0) ||
            byStr(a.header.instance.sopInstanceUid, b.header.instance.sopInstanceUid),
        );
      }
    }
  }
  return out;
}

export type Orientation = 'axial' | 'coronal' | 'sagittal' | 'oblique' | 'unknown';

/**
 * Plane of an ImageOrientationPatient: the slice normal within `toleranceDeg` of the patient
 * S (axial), A/P (coronal) or L/R (sagittal) axis; otherwise oblique.
 */
export function orientationOf(iop: number[] | undefined, toleranceDeg = 20): Orientation {
  if (!iop || iop.length !== 6) return 'unknown';
  const n = [iop[1] * iop[5] - iop[2] * iop[4], iop[2] * iop[3] - iop[0] * iop[5], iop[0] * iop[4] - iop[1] * iop[3]];
  const l = Math.hypot(n[0], n[1], n[2]);
  if (!(l > 0)) return 'unknown';
  const a = n.map((v) => Math.abs(v) / l);
  const k = a.indexOf(Math.max(...a));
  if (a[k] < Math.cos((toleranceDeg * Math.PI) / 180)) return 'oblique';
  return (['sagittal', 'coronal', 'axial'] as const)[k];
}

/** What selection rules look at, for one series. */
export interface SeriesSummary {
  seriesInstanceUid: string;
  studyInstanceUid?: string;
  patientId?: string;
  modality?: string;
  seriesDescription?: string;
  bodyPartExamined?: string;
  /** ImageType values common to every instance. */
  imageType: string[];
  orientation: Orientation;
  /** Largest SliceThickness in the series (mm). */
  sliceThicknessMm?: number;
  /** Number of image slices (frames across instances). */
  numSlices: number;
  rows?: number;
  columns?: number;
  /** [row, column] spacing in mm from the first instance. */
  pixelSpacingMm?: [number, number];
  transferSyntaxUids: string[];
}

export function summarizeSeries<T extends { header: DicomHeader }>(group: SeriesGroup<T>): SeriesSummary {
  const hs = group.instances.map((i) => i.header);
  const h0 = hs[0];
  let imageType = h0?.instance.imageType.map((s) => s.toUpperCase()) ?? [];
  for (const h of hs.slice(1)) {
    const t = new Set(h.instance.imageType.map((s) => s.toUpperCase()));
    imageType = imageType.filter((x) => t.has(x));
  }
  const thick = hs
    .flatMap((h) => [h.image.sliceThickness, ...(h.frames ?? []).map((f) => f.sliceThickness)])
    .filter((x): x is number => x !== undefined);
  return {
    seriesInstanceUid: group.seriesInstanceUid,
    studyInstanceUid: h0?.study.studyInstanceUid,
    patientId: h0?.patient.patientId,
    modality: h0?.series.modality,
    seriesDescription: h0?.series.seriesDescription,
    bodyPartExamined: h0?.series.bodyPartExamined,
    imageType,
    orientation: orientationOf(h0?.image.imageOrientationPatient),
    sliceThicknessMm: thick.length ? Math.max(...thick) : undefined,
    numSlices: hs.reduce((a, h) => a + (Number.isFinite(h.image.numberOfFrames) ? h.image.numberOfFrames : 1), 0),
    rows: h0?.image.rows,
    columns: h0?.image.columns,
    pixelSpacingMm: h0?.image.pixelSpacing,
    transferSyntaxUids: [...new Set(hs.map((h) => h.instance.transferSyntaxUid))],
  };
}

/** Series selection rules of one trial protocol (all optional; every rule given must pass). */
export const SeriesSelectionRulesSchema = z
  .object({
    modality: z.array(z.string().min(1)).min(1).optional(),
    imageTypeIncludes: z.array(z.string().min(1)).optional(),
    imageTypeExcludes: z.array(z.string().min(1)).optional(),
    orientation: z.enum(['axial', 'coronal', 'sagittal']).optional(),
    maxSliceThicknessMm: z.number().positive().optional(),
    minSliceThicknessMm: z.number().positive().optional(),
    minSlices: z.number().int().positive().optional(),
    maxSlices: z.number().int().positive().optional(),
    maxPixelSpacingMm: z.number().positive().optional(),
    bodyPartExamined: z.array(z.string().min(1)).min(1).optional(),
    /** Case-insensitive regular expression the SeriesDescription must match. */
    seriesDescriptionMatches: z.string().min(1).optional(),
    /** Case-insensitive regular expression the SeriesDescription must not match. */
    seriesDescriptionExcludes: z.string().min(1).optional(),
  })
  .strict();

export type SeriesSelectionRules = z.infer<typeof SeriesSelectionRulesSchema>;

/** Validates protocol configuration; throws ConfigError naming every bad field. */
export function parseSelectionRules(input: unknown): SeriesSelectionRules {
  const r = SeriesSelectionRulesSchema.safeParse(input);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ConfigError('seriesSelectionRules', msg);
  }
  for (const k of ['seriesDescriptionMatches', 'seriesDescriptionExcludes'] as const) {
    const v = r.data[k];
    if (v !== undefined) {
      try {
        new RegExp(v, 'i');
      } catch (e) {
        throw new ConfigError('seriesSelectionRules', `${k}: invalid regular expression '${v}': ${(e as Error).message}`);
      }
    }
  }
  if (r.data.minSliceThicknessMm && r.data.maxSliceThicknessMm && r.data.minSliceThicknessMm > r.data.maxSliceThicknessMm) {
    throw new ConfigError('seriesSelectionRules', 'minSliceThicknessMm is greater than maxSliceThicknessMm');
  }
  return r.data;
}

/** Applies the rules; every failed rule is named with the actual value. */
export function selectSeries(rules: SeriesSelectionRules, s: SeriesSummary): { selected: boolean; reasons: string[] } {
  const rs = parseSelectionRules(rules);
  const reasons: string[] = [];
  const list = (xs: string[]): string => xs.join(', ');
  if (rs.modality && !rs.modality.map((m) => m.toUpperCase()).includes((s.modality ?? '').toUpperCase())) {
    reasons.push(`modality ${s.modality ?? '(absent)'} not in [${list(rs.modality)}]`);
  }
  if (rs.imageTypeIncludes) {
    const missing = rs.imageTypeIncludes.filter((t) => !s.imageType.includes(t.toUpperCase()));
    if (missing.length) reasons.push(`image type [${list(s.imageType)}] lacks ${list(missing)}`);
  }
  if (rs.imageTypeExcludes) {
    const present = rs.imageTypeExcludes.filter((t) => s.imageType.includes(t.toUpperCase()));
    if (present.length) reasons.push(`image type [${list(s.imageType)}] includes excluded ${list(present)}`);
  }
  if (rs.orientation && s.orientation !== rs.orientation) reasons.push(`orientation ${s.orientation} is not ${rs.orientation}`);
  if (rs.maxSliceThicknessMm !== undefined) {
    if (s.sliceThicknessMm === undefined) reasons.push(`slice thickness unknown (no SliceThickness) but at most ${rs.maxSliceThicknessMm} mm is required`);
    else if (s.sliceThicknessMm > rs.maxSliceThicknessMm) reasons.push(`slice thickness ${s.sliceThicknessMm} mm > ${rs.maxSliceThicknessMm} mm`);
  }
  if (rs.minSliceThicknessMm !== undefined) {
    if (s.sliceThicknessMm === undefined) reasons.push(`slice thickness unknown (no SliceThickness) but at least ${rs.minSliceThicknessMm} mm is required`);
    else if (s.sliceThicknessMm < rs.minSliceThicknessMm) reasons.push(`slice thickness ${s.sliceThicknessMm} mm < ${rs.minSliceThicknessMm} mm`);
  }
  if (rs.minSlices !== undefined && s.numSlices < rs.minSlices) reasons.push(`${s.numSlices} slices < ${rs.minSlices} required`);
  if (rs.maxSlices !== undefined && s.numSlices > rs.maxSlices) reasons.push(`${s.numSlices} slices > ${rs.maxSlices} allowed`);
  if (rs.maxPixelSpacingMm !== undefined) {
    const ps = s.pixelSpacingMm ? Math.max(...s.pixelSpacingMm) : undefined;
    if (ps === undefined) reasons.push(`pixel spacing unknown (no PixelSpacing) but at most ${rs.maxPixelSpacingMm} mm is required`);
    else if (ps > rs.maxPixelSpacingMm) reasons.push(`pixel spacing ${ps} mm > ${rs.maxPixelSpacingMm} mm`);
  }
  if (rs.bodyPartExamined && !rs.bodyPartExamined.map((b) => b.toUpperCase()).includes((s.bodyPartExamined ?? '').toUpperCase())) {
    reasons.push(`body part ${s.bodyPartExamined ?? '(absent)'} not in [${list(rs.bodyPartExamined)}]`);
  }
  if (rs.seriesDescriptionMatches && !new RegExp(rs.seriesDescriptionMatches, 'i').test(s.seriesDescription ?? '')) {
    reasons.push(`series description '${s.seriesDescription ?? ''}' does not match /${rs.seriesDescriptionMatches}/i`);
  }
  if (rs.seriesDescriptionExcludes && new RegExp(rs.seriesDescriptionExcludes, 'i').test(s.seriesDescription ?? '')) {
    reasons.push(`series description '${s.seriesDescription ?? ''}' matches excluded /${rs.seriesDescriptionExcludes}/i`);
  }
  return { selected: reasons.length === 0, reasons };
}
