import { InputError, sha256Hex } from '@app/core';
import { matchLesions, validateLesion, type LesionCandidate, type LesionStatus, type TrackedLesionAt } from './match';
import { assertRigid, transformPoint, type Vec3 } from './rigid';

export interface TrackingTimepoint {
  timepointId: string;
  /** ISO `YYYY-MM-DD[...]` or DICOM `YYYYMMDD[...]`. Either every timepoint has a date or none has. */
  date?: string;
  lesions: LesionCandidate[];
  /** Rigid row-major 4x4 mapping THIS timepoint's patient mm -> BASELINE patient mm (e.g. alignRigid(baseline, this).matrix). */
  transformToBaseline: number[];
}

export interface TrackSubjectOptions {
  /** Matching gate (mm, in baseline space). Default 20. */
  gateMm?: number;
  /** Class-mismatch penalty (mm) in the assignment cost. Default 5. */
  classMismatchPenaltyMm?: number;
  /** Split / merge radius (mm). Default = gateMm. */
  splitMergeGateMm?: number;
}

export interface TrackObservation {
  timepointId: string;
  status: LesionStatus;
  /** Index into that timepoint's `lesions`; null when absent (disappeared / merged). */
  candidateIndex: number | null;
  /** [0, 1]; null for new lesions and for disappeared tracks. */
  matchConfidence: number | null;
  /** Distance (mm, baseline space) to the track's last known position; null when new / disappeared. */
  distanceMm: number | null;
  /** Centroid in baseline space when present, else null. */
  centroidBaselineMm: Vec3 | null;
  /** split: the parent track; merged: the track it merged into. */
  relatedTrackingId?: string;
}

export interface LesionTrack {
  /** Readable, e.g. `T01 liver` (baseline) or `N02 lung` (first seen at a follow-up). */
  trackingId: string;
  /** `2.25.<decimal of the first 128 bits of sha256(subjectKey + '/' + trackingId)>`, at most 44 chars. */
  trackingUid: string;
  prefix: 'T' | 'N';
  sequence: number;
  /** Organ label, else `class<cls>`, else ''. Fixed at first appearance. */
  label: string;
  cls?: number;
  organ?: string;
  firstTimepointId: string;
  /** For tracks born by a split: the parent track. */
  splitFromTrackingId?: string;
  /** One entry per timepoint from the first appearance on, in processing (date) order. */
  observations: TrackObservation[];
}

export interface TimepointLesionTracking {
  candidateIndex: number;
  trackingId: string;
  trackingUid: string;
  status: 'matched' | 'new' | 'split';
  matchConfidence: number | null;
  distanceMm: number | null;
  centroidBaselineMm: Vec3;
}

export interface TimepointTracking {
  timepointId: string;
  date?: string;
  /** One per input lesion, in candidate order. */
  lesions: TimepointLesionTracking[];
  /** Tracks known before this timepoint that are not present in it. */
  absent: Array<{ trackingId: string; trackingUid: string; status: 'disappeared' | 'merged'; relatedTrackingId?: string }>;
}

export interface SubjectTracking {
  subjectKey: string;
  gateMm: number;
  /** In processing (date) order; the first is the baseline. */
  timepoints: TimepointTracking[];
  /** In creation order: baseline tracks T01.., then follow-up tracks N01.. */
  tracks: LesionTrack[];
}

/** Deterministic DICOM UID under the 2.25 (UUID-derived) root: 2.25.<first 128 bits of sha256(text), decimal>. */
export function trackingUidFor(subjectKey: string, trackingId: string): string {
  const hex = sha256Hex(`${subjectKey}/${trackingId}`).slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

const labelOf = (l: LesionCandidate): string =>
  l.organ !== undefined && l.organ.trim() !== '' ? l.organ.trim() : l.cls !== undefined ? `class${l.cls}` : '';

const zyx = (a: Vec3, b: Vec3): number => a[2] - b[2] || a[1] - b[1] || a[0] - b[0];

function dateKey(d: string, id: string): string {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ]?(\d{2}):?(\d{2})(?::?(\d{2}))?)?/.exec(d);
  if (!m) throw new InputError('tracking.bad-date', `timepoint ${id}: date must be YYYY-MM-DD or YYYYMMDD`, { date: d });
  return `${m[1]}${m[2]}${m[3]}${m[4] ?? '00'}${m[5] ?? '00'}${m[6] ?? '00'}`;
}

/**
 * Give every lesion of one subject a single identity over the whole trial. Timepoints are processed in date
 * order (input order when no dates); each follow-up is matched (matchLesions, in baseline space) against the
 * LAST KNOWN baseline-space position of every track ever seen, including tracks absent at the previous
 * timepoint, so a lesion that vanishes and reappears within the gate keeps its identity.
 */
export function trackSubject(
  subjectKey: string,
  timepoints: readonly TrackingTimepoint[],
  opts: TrackSubjectOptions = {},
): SubjectTracking {
  if (typeof subjectKey !== 'string' || subjectKey.trim() === '') {
    throw new InputError('tracking.bad-subject', 'subjectKey must be a non-empty string');
  }
  if (!Array.isArray(timepoints) || timepoints.length === 0) {
    throw new InputError('tracking.no-timepoints', 'at least one timepoint is required');
  }
  const gateMm = opts.gateMm ?? 20;
  const seen = new Set<string>();
  timepoints.forEach((tp, n) => {
    if (!tp || typeof tp.timepointId !== 'string' || tp.timepointId === '') {
      throw new InputError('tracking.bad-timepoint', `timepoints[${n}]: timepointId must be a non-empty string`);
    }
    if (seen.has(tp.timepointId)) throw new InputError('tracking.duplicate-timepoint', `duplicate timepointId ${tp.timepointId}`);
    seen.add(tp.timepointId);
    if (!Array.isArray(tp.lesions)) throw new InputError('tracking.bad-timepoint', `timepoint ${tp.timepointId}: lesions must be an array`);
    tp.lesions.forEach((l: LesionCandidate, i: number) => validateLesion(l, `timepoint ${tp.timepointId} lesion ${i}`));
    assertRigid(tp.transformToBaseline, `timepoint ${tp.timepointId} transformToBaseline`);
  });
  const dated = timepoints.filter((t) => t.date !== undefined).length;
  if (dated !== 0 && dated !== timepoints.length) {
    throw new InputError('tracking.mixed-dates', 'either every timepoint has a date or none has');
  }
  const order = timepoints.map((tp, n) => ({ tp, n, key: tp.date !== undefined ? dateKey(tp.date, tp.timepointId) : '' }));
  order.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.n - b.n));

  interface State {
    track: LesionTrack;
    last: Vec3;
    lastVolume?: number;
  }
  const states: State[] = [];
  const byId = new Map<string, State>();
  let nNew = 0;
  const pad = (n: number): string => String(n).padStart(2, '0');
  const create = (prefix: 'T' | 'N', seq: number, l: LesionCandidate, tpId: string, pos: Vec3): State => {
    const label = labelOf(l);
    const trackingId = `${prefix}${pad(seq)}${label ? ` ${label}` : ''}`;
    const track: LesionTrack = {
      trackingId,
      trackingUid: trackingUidFor(subjectKey, trackingId),
      prefix,
      sequence: seq,
      label,
      ...(l.cls !== undefined ? { cls: l.cls } : {}),
      ...(l.organ !== undefined ? { organ: l.organ } : {}),
      firstTimepointId: tpId,
      observations: [],
    };
    const s: State = { track, last: pos, lastVolume: l.volumeMm3 };
    states.push(s);
    byId.set(trackingId, s);
    return s;
  };

  const out: TimepointTracking[] = [];
  order.forEach(({ tp }, step) => {
    const pos: Vec3[] = tp.lesions.map((l: LesionCandidate) => transformPoint(tp.transformToBaseline, l.centroidMm));
    const lesionsOut: TimepointLesionTracking[] = new Array(tp.lesions.length);
    const absent: TimepointTracking['absent'] = [];
    const present = (s: State, j: number, status: 'matched' | 'new' | 'split', conf: number | null, d: number | null, rel?: string): void => {
      s.track.observations.push({
        timepointId: tp.timepointId,
        status,
        candidateIndex: j,
        matchConfidence: conf,
        distanceMm: d,
        centroidBaselineMm: pos[j],
        ...(rel ? { relatedTrackingId: rel } : {}),
      });
      lesionsOut[j] = {
        candidateIndex: j,
        trackingId: s.track.trackingId,
        trackingUid: s.track.trackingUid,
        status,
        matchConfidence: conf,
        distanceMm: d,
        centroidBaselineMm: pos[j],
      };
    };
    const byPosition = (idx: number[]): number[] => idx.sort((a, b) => zyx(pos[a], pos[b]) || a - b);
    if (step === 0) {
      byPosition(tp.lesions.map((_: LesionCandidate, j: number) => j)).forEach((j, n) => {
        const s = create('T', n + 1, tp.lesions[j], tp.timepointId, pos[j]);
        present(s, j, 'new', null, null);
      });
    } else {
      const known = states.slice();
      const prev: TrackedLesionAt[] = known.map((s) => ({
        centroidMm: s.last,
        volumeMm3: s.lastVolume,
        cls: s.track.cls,
        organ: s.track.organ,
        key: s.track.trackingId,
      }));
      const res = matchLesions(prev, tp.lesions, {
        gateMm,
        transform: tp.transformToBaseline,
        classMismatchPenaltyMm: opts.classMismatchPenaltyMm,
        splitMergeGateMm: opts.splitMergeGateMm,
      });
      for (const c of res.curr) {
        if (c.status === 'matched') present(known[c.prevIndex as number], c.currIndex, 'matched', c.confidence, c.distanceMm);
      }
      const born = byPosition(res.curr.filter((c) => c.status !== 'matched').map((c) => c.currIndex));
      for (const j of born) {
        const c = res.curr[j];
        const s = create('N', ++nNew, tp.lesions[j], tp.timepointId, pos[j]);
        if (c.status === 'split') {
          const parent = known[c.prevIndex as number].track.trackingId;
          s.track.splitFromTrackingId = parent;
          present(s, j, 'split', c.confidence, c.distanceMm, parent);
        } else {
          present(s, j, 'new', null, null);
        }
      }
      for (const p of res.prev) {
        if (p.status === 'matched') continue;
        const s = known[p.prevIndex];
        const rel = p.status === 'merged' ? lesionsOut[p.currIndex as number].trackingId : undefined;
        s.track.observations.push({
          timepointId: tp.timepointId,
          status: p.status,
          candidateIndex: null,
          matchConfidence: p.status === 'merged' ? p.confidence : null,
          distanceMm: p.distanceMm,
          centroidBaselineMm: null,
          ...(rel ? { relatedTrackingId: rel } : {}),
        });
        absent.push({ trackingId: s.track.trackingId, trackingUid: s.track.trackingUid, status: p.status, ...(rel ? { relatedTrackingId: rel } : {}) });
      }
    }
    // update last known positions of the tracks present now
    for (const l of lesionsOut) {
      const s = byId.get(l.trackingId) as State;
      s.last = l.centroidBaselineMm;
      const v = tp.lesions[l.candidateIndex].volumeMm3;
      if (v !== undefined) s.lastVolume = v;
    }
    out.push({ timepointId: tp.timepointId, ...(tp.date !== undefined ? { date: tp.date } : {}), lesions: lesionsOut, absent });
  });
  return { subjectKey, gateMm, timepoints: out, tracks: states.map((s) => s.track) };
}
