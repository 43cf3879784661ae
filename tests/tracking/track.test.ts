import { createHash } from 'node:crypto';
import {
  invertRigid,
  rigidFromEuler,
  trackingUidFor,
  trackSubject,
  transformPoint,
  type LesionCandidate,
  type TrackingTimepoint,
  type Vec3,
} from '@app/tracking';
import { expectInputError } from '../support/assertions';

const I = rigidFromEuler([0, 0, 0], [0, 0, 0]);

/** Anatomy (baseline-space) lesions; each follow-up scan sees them through its own table position. */
const anatomy: Record<string, { p: Vec3; organ: string; cls: number }> = {
  liverA: { p: [-60, -10, 20], organ: 'liver', cls: 1 },
  liverB: { p: [-45, 5, 22], organ: 'liver', cls: 1 },
  lung: { p: [40, -20, 90], organ: 'lung', cls: 2 },
  node: { p: [10, 30, -40], organ: 'node', cls: 3 },
  lungNew: { p: [55, 0, 70], organ: 'lung', cls: 2 },
};

function timepoint(id: string, date: string, truth: number[], names: string[], drift = 1): { tp: TrackingTimepoint; names: string[] } {
  const toScan = invertRigid(truth);
  const lesions: LesionCandidate[] = names.map((n, k) => {
    const a = anatomy[n];
    const moved: Vec3 = [a.p[0] + drift * ((k % 3) - 1), a.p[1] + drift, a.p[2] - drift];
    return { centroidMm: transformPoint(toScan, moved), volumeMm3: 3000 + 500 * k, longAxisMm: 18, cls: a.cls, organ: a.organ };
  });
  return { tp: { timepointId: id, date, lesions, transformToBaseline: truth }, names };
}

function trial() {
  // follow-ups: table shifts up to ~30 mm, rotations of a few degrees; the lesions are ~15 mm apart
  const t0 = timepoint('BL', '2026-01-10', I, ['node', 'liverA', 'liverB', 'lung'], 0);
  const t1 = timepoint('FU1', '2026-03-07', rigidFromEuler([1, 0, 3], [17, -11, 8]), ['liverB', 'lung', 'node', 'liverA']);
  // liverA not seen, new lung lesion appears
  const t2 = timepoint('FU2', '2026-05-02', rigidFromEuler([-1, 0.5, -2], [-22, 18, -25]), ['lung', 'lungNew', 'liverB', 'node'], 1.5);
  // liverA reappears at its last known place
  const t3 = timepoint('FU3', '2026-06-27', rigidFromEuler([0, 0, 4], [28, 5, 12]), ['liverA', 'node', 'lungNew', 'liverB', 'lung'], 2);
  return [t0, t1, t2, t3];
}

describe('trackSubject', () => {
  test('one stable identity per lesion over 4 timepoints (shuffled input, date order), reappearance keeps identity', () => {
    const tps = trial();
    const shuffled = [tps[2], tps[0], tps[3], tps[1]].map((t) => t.tp);
    const r = trackSubject('TRIAL-7/SUBJ-0042', shuffled);
    expect(r.timepoints.map((t) => t.timepointId)).toEqual(['BL', 'FU1', 'FU2', 'FU3']);
    // identity of every anatomical lesion at every timepoint where present
    const idOf = new Map<string, string>();
    tps.forEach(({ tp, names }, n) => {
      const out = r.timepoints[n];
      expect(out.timepointId).toBe(tp.timepointId);
      expect(out.lesions).toHaveLength(names.length);
      names.forEach((name, j) => {
        const l = out.lesions[j];
        expect(l.candidateIndex).toBe(j);
        const known = idOf.get(name);
        if (known) expect(l.trackingId).toBe(known);
        else idOf.set(name, l.trackingId);
      });
    });
    // baseline IDs are T01.. in z, y, x order (node z=-40 < liverA z=20 < liverB z=22 < lung z=90), labelled by organ
    expect(idOf.get('node')).toBe('T01 node');
    expect(idOf.get('liverA')).toBe('T02 liver');
    expect(idOf.get('liverB')).toBe('T03 liver');
    expect(idOf.get('lung')).toBe('T04 lung');
    expect(idOf.get('lungNew')).toBe('N01 lung');
    const track = (id: string) => r.tracks.find((t) => t.trackingId === id)!;
    expect(track('T02 liver').observations.map((o) => o.status)).toEqual(['new', 'matched', 'disappeared', 'matched']);
    expect(track('N01 lung').observations.map((o) => o.timepointId)).toEqual(['FU2', 'FU3']);
    expect(track('N01 lung').observations.map((o) => o.status)).toEqual(['new', 'matched']);
    expect(r.timepoints[2].absent.map((a) => a.trackingId)).toEqual(['T02 liver']);
    expect(r.tracks).toHaveLength(5);
    for (const t of r.tracks) {
      for (const o of t.observations) {
        if (o.status === 'matched') {
          expect(o.matchConfidence).toBeGreaterThan(0.5);
          expect(o.matchConfidence).toBeLessThanOrEqual(1);
          expect(o.distanceMm).toBeLessThan(8);
        }
      }
    }
    // deterministic: same output again, and independent of input order
    expect(trackSubject('TRIAL-7/SUBJ-0042', tps.map((t) => t.tp))).toEqual(r);
  });

  test('trackingUid: 2.25.<first 128 bits of sha256(subjectKey/trackingId)>, valid DICOM UID', () => {
    const r = trackSubject('TRIAL-7/SUBJ-0042', trial().map((t) => t.tp));
    const uids = new Set<string>();
    for (const t of r.tracks) {
      expect(t.trackingUid).toMatch(/^2\.25\.(0|[1-9][0-9]*)$/);
      expect(t.trackingUid.length).toBeLessThanOrEqual(64);
      const hex = createHash('sha256').update(`TRIAL-7/SUBJ-0042/${t.trackingId}`).digest('hex').slice(0, 32);
      expect(t.trackingUid).toBe(`2.25.${BigInt(`0x${hex}`).toString()}`);
      uids.add(t.trackingUid);
    }
    expect(uids.size).toBe(r.tracks.length);
    expect(trackingUidFor('OTHER', 'T01 node')).not.toBe(trackingUidFor('TRIAL-7/SUBJ-0042', 'T01 node'));
    // carried at every timepoint
    for (const tp of r.timepoints) for (const l of tp.lesions) expect(l.trackingUid).toBe(trackingUidFor('TRIAL-7/SUBJ-0042', l.trackingId));
  });

  test('a split at follow-up creates a new track linked to its parent; a merge is reported on the absorbed track', () => {
    const base: TrackingTimepoint = {
      timepointId: 'BL',
      lesions: [
        { centroidMm: [0, 0, 0], volumeMm3: 9000, organ: 'liver' },
        { centroidMm: [50, 0, 0], volumeMm3: 2000, organ: 'liver' },
        { centroidMm: [60, 0, 0], volumeMm3: 2000, organ: 'liver' },
      ],
      transformToBaseline: I,
    };
    const T = rigidFromEuler([0, 0, 2], [20, 10, -15]);
    const inv = invertRigid(T);
    const fu: TrackingTimepoint = {
      timepointId: 'FU1',
      lesions: [
        { centroidMm: transformPoint(inv, [-6, 0, 0]), volumeMm3: 4000, organ: 'liver' },
        { centroidMm: transformPoint(inv, [7, 0, 0]), volumeMm3: 4000, organ: 'liver' },
        { centroidMm: transformPoint(inv, [55, 0, 0]), volumeMm3: 5000, organ: 'liver' },
      ],
      transformToBaseline: T,
    };
    const r = trackSubject('S1', [base, fu]);
    const l = r.timepoints[1].lesions;
    expect(l[0].trackingId).toBe('T01 liver');
    expect(l[0].status).toBe('matched');
    expect(l[1].status).toBe('split');
    expect(l[1].trackingId).toBe('N01 liver');
    expect(r.tracks.find((t) => t.trackingId === 'N01 liver')!.splitFromTrackingId).toBe('T01 liver');
    expect(l[2].status).toBe('matched');
    expect(r.timepoints[1].absent).toHaveLength(1);
    expect(r.timepoints[1].absent[0].status).toBe('merged');
    expect(r.timepoints[1].absent[0].relatedTrackingId).toBe(l[2].trackingId);
  });

  test('no dates: input order; one timepoint only: all baseline tracks', () => {
    const r = trackSubject('S2', [{ timepointId: 'X', lesions: [{ centroidMm: [1, 2, 3], cls: 4 }], transformToBaseline: I }]);
    expect(r.tracks.map((t) => t.trackingId)).toEqual(['T01 class4']);
    expect(r.timepoints[0].lesions[0].status).toBe('new');
  });

  test('malformed input raises InputError', () => {
    const ok: TrackingTimepoint = { timepointId: 'A', lesions: [], transformToBaseline: I };
    const cases: Array<[() => unknown, string]> = [
      [() => trackSubject('', [ok]), 'tracking.bad-subject'],
      [() => trackSubject('S', []), 'tracking.no-timepoints'],
      [() => trackSubject('S', [ok, ok]), 'tracking.duplicate-timepoint'],
      [() => trackSubject('S', [{ ...ok, transformToBaseline: [1, 0, 0] }]), 'tracking.non-rigid-matrix'],
      [() => trackSubject('S', [{ ...ok, lesions: [{ centroidMm: [0, NaN, 0] }] }]), 'tracking.bad-lesion'],
      [() => trackSubject('S', [{ ...ok, date: '2026-01-01' }, { ...ok, timepointId: 'B' }]), 'tracking.mixed-dates'],
      [() => trackSubject('S', [{ ...ok, date: 'last week' }]), 'tracking.bad-date'],
    ];
    for (const [f, code] of cases) expectInputError(f, code);
  });
});
