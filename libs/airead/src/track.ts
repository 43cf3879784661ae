import { InputError } from '@app/core';
import type { DicomHeader, Volume } from '@app/dicom';
import { alignRigid, trackSubject, type Vec3 } from '@app/tracking';
import type { CtAnalysis, CtLesion } from './ct';
import type { LesionProposalValues } from './ai-read';

/**
 * A timepoint's volume as tracking and SEG / SR need it: geometry and slice UIDs, and HU whole (`data`) or read slice
 * by slice (`slice`, the stored volume file: the alignment reads only the slices of its working grid).
 */
export type CtTimepointVolume = Omit<Volume, 'data'> & { data?: Volume['data']; slice?: (k: number) => Volume['data'] };

/** One timepoint of a subject ready for tracking: its volume and the AI analysis of it. */
export interface CtTimepoint {
  timePointId: string;
  /** ISO date (YYYY-MM-DD). */
  date: string;
  volume: CtTimepointVolume;
  /** Header of each z slice (volume order): SOP Instance UIDs and geometry for SEG / SR. */
  sliceHeaders: (DicomHeader | undefined)[];
  /** The analysis; its components may be the stored int16 labelling (a component number per voxel). */
  analysis: Omit<CtAnalysis, 'components'> & { components: Int32Array | Int16Array };
}

/** A tracked lesion at one timepoint: the proposal's values plus geometry for overlays, SEG and SR. */
export interface TrackedLesion extends LesionProposalValues {
  timePointId: string;
  /** The lesion in this timepoint's analysis (null when not present). */
  lesion: CtLesion | null;
  /** SEG segment number at this timepoint (null when not present). */
  segmentNumber: number | null;
  className: string | null;
  cls: number | null;
  centroidMm: Vec3 | null;
  centroidBaselineMm: Vec3 | null;
  distanceMm: number | null;
  relatedTrackingId?: string;
}

export interface TrackedTimepoint {
  timePointId: string;
  date: string;
  /** Rigid transform this timepoint's patient mm -> baseline patient mm (identity for the baseline). */
  transformToBaseline: number[];
  alignment: { rmsMm: number; inlierFraction: number; rotationDeg: Vec3; translationMm: Vec3; method: string; warnings: string[] } | null;
  /** Present lesions (by segment number), then absent tracks. */
  lesions: TrackedLesion[];
}

export interface SubjectTrackingResult {
  subjectKey: string;
  gateMm: number;
  timepoints: TrackedTimepoint[];
}

const IDENTITY = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

/**
 * Aligns every follow-up to the baseline (rigid, from the body in the volumes: patient-space coordinates of two scans
 * are never assumed to match), then tracks lesions across timepoints (Hungarian matching within a gate). Every lesion
 * keeps one Tracking UID and readable id ('T01 liver') at every timepoint. Timepoints are taken in date order; the
 * earliest is the baseline.
 */
export function trackCtSubject(subjectKey: string, timepoints: CtTimepoint[], opts: { gateMm?: number } = {}): SubjectTrackingResult {
  if (!timepoints.length) throw new InputError('airead.no-timepoints', `subject ${subjectKey}: no timepoints to track`);
  const tps = [...timepoints].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.timePointId.localeCompare(b.timePointId)));
  const ids = new Set(tps.map((t) => t.timePointId));
  if (ids.size !== tps.length) throw new InputError('airead.duplicate-timepoint', `subject ${subjectKey}: timepoint ids repeat (${tps.map((t) => t.timePointId).join(', ')})`);
  const base = tps[0]!;
  const aligned = tps.map((tp, i) => {
    if (i === 0) return { matrix: IDENTITY, alignment: null };
    // edges at -400 HU (lung / air inside the body) and 150 HU (bone, contrast) besides the body outline
    const a = alignRigid(base.volume, tp.volume, { edgeThresholdsHu: [-400, 150] });
    return { matrix: a.matrix, alignment: { rmsMm: a.rmsMm, inlierFraction: a.inlierFraction, rotationDeg: a.rotationDeg, translationMm: a.translationMm, method: a.method, warnings: a.warnings } };
  });
  const tracking = trackSubject(
    subjectKey,
    tps.map((tp, i) => ({
      timepointId: tp.timePointId,
      date: tp.date,
      transformToBaseline: aligned[i]!.matrix,
      lesions: tp.analysis.lesions.map((l) => ({ centroidMm: l.measurement.centroidMm, volumeMm3: l.measurement.volumeMm3, longAxisMm: l.measurement.longAxis.lengthMm, cls: l.cls, organ: l.site })),
    })),
    { gateMm: opts.gateMm },
  );
  const trackInfo = new Map(tracking.tracks.map((t) => [t.trackingUid, t]));
  const out: TrackedTimepoint[] = tracking.timepoints.map((tt, i) => {
    const tp = tps[i]!;
    const present = [...tt.lesions].sort((a, b) => a.trackingId.localeCompare(b.trackingId));
    const lesions: TrackedLesion[] = present.map((p, n) => {
      const l = tp.analysis.lesions[p.candidateIndex]!;
      const m = l.measurement;
      return {
        trackingUid: p.trackingUid,
        trackingId: p.trackingId,
        status: p.status,
        present: true,
        organ: l.organ,
        nodal: l.nodal,
        longAxisMm: round(m.longAxis.lengthMm),
        shortAxisMm: round(m.shortAxis.lengthMm),
        volumeMm3: round(m.volumeMm3),
        measurable: m.measurability.measurable,
        matchConfidence: p.matchConfidence == null ? null : round(p.matchConfidence),
        timePointId: tp.timePointId,
        lesion: l,
        segmentNumber: n + 1,
        className: l.className,
        cls: l.cls,
        centroidMm: m.centroidMm,
        centroidBaselineMm: p.centroidBaselineMm,
        distanceMm: p.distanceMm == null ? null : round(p.distanceMm),
      };
    });
    for (const a of [...tt.absent].sort((x, y) => x.trackingId.localeCompare(y.trackingId))) {
      const t = trackInfo.get(a.trackingUid);
      const organ = (t?.organ ?? t?.label ?? '').toUpperCase();
      lesions.push({
        trackingUid: a.trackingUid,
        trackingId: a.trackingId,
        status: a.status,
        present: false,
        organ,
        nodal: organ === 'LYMPH NODE',
        longAxisMm: null,
        shortAxisMm: null,
        volumeMm3: null,
        measurable: false,
        matchConfidence: null,
        timePointId: tp.timePointId,
        lesion: null,
        segmentNumber: null,
        className: null,
        cls: t?.cls ?? null,
        centroidMm: null,
        centroidBaselineMm: null,
        distanceMm: null,
        relatedTrackingId: a.relatedTrackingId,
      });
    }
    return { timePointId: tp.timePointId, date: tp.date, transformToBaseline: aligned[i]!.matrix, alignment: aligned[i]!.alignment, lesions };
  });
  return { subjectKey, gateMm: tracking.gateMm, timepoints: out };
}

/** Measurements are stored to 1 µm / 0.001 mm³: deterministic JSON, far below any reader's precision. */
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
