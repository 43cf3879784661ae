import type { Assessment, Diameter, NewLesions, NonTargetStatus, SubjectInput, TargetMeasurement } from '@app/endpoints';

export const SRC = { readId: 'R-1', reader: 'RAD-01' };

/** Target lesion; `d` in tenths of mm or a special value. */
export const tl = (lesionId: string, d: Diameter, organ = `ORGAN-${lesionId}`, nodal = false, extra: Partial<TargetMeasurement> = {}): TargetMeasurement => ({
  lesionId, organ, nodal, diameter: d, source: SRC, ...extra,
});

/** An assessment with the given target diameters (ids T1..Tn, non-nodal, distinct organs unless given). */
export function visit(visitNum: number, date: string, targets: TargetMeasurement[], opts: { nt?: NonTargetStatus[]; newL?: NewLesions; visit?: string } = {}): Assessment {
  return {
    visit: opts.visit ?? (visitNum === 0 ? 'BASELINE' : `V${visitNum}`),
    visitNum,
    date,
    baseline: visitNum === 0,
    targets,
    nonTargets: (opts.nt ?? []).map((status, i) => ({ lesionId: `NT${i + 1}`, status, source: SRC })),
    newLesions: opts.newL ?? 'NO',
    source: { readId: `R-${visitNum}`, reader: 'RAD-01' },
  };
}

/** Shorthand: one non-nodal lesion per visit with the given sums (tenths), dates every 42 days from 2024-01-01. */
export function subjectWithSums(sums: (number | 'NOT_ASSESSED')[], extra: Partial<SubjectInput> = {}): SubjectInput {
  const d0 = Date.UTC(2024, 0, 1) / 86400000;
  const iso = (d: number) => new Date(d * 86400000).toISOString().slice(0, 10);
  return {
    usubjid: 'S-001',
    randDate: '2024-01-01',
    assessments: sums.map((s, i) => visit(i, iso(d0 + 42 * i), [tl('T1', s)])),
    ...extra,
  };
}

export const iso = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10);
