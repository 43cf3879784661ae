/**
 * Property-based invariants (fast-check).
 */
import fc from 'fast-check';
import {
  bestOverallResponse, confirmedBestOverallResponse, deriveEndpointDatasets, deriveVisitResponses, overallResponse,
  resolveSettings, simulateTrial, type Assessment, type NewLesions, type StudyInput, type SubjectInput,
} from '@app/endpoints';

const S = resolveSettings({});
/**
 * Clinical order for "improves": CR > PR > SD > NON-CR/NON-PD > NE > PD. (The BOR selection ranking
 * BOR_RANK puts PD above NE because a PD is a definite assessment; for "never improves" PD is the worst.)
 */
const RANK: Record<string, number> = { CR: 0, PR: 1, SD: 2, 'NON-CR/NON-PD': 3, NE: 4, MISSING: 5, PD: 6 };
const subjectsOf = (seed: number, n = 6) => simulateTrial({ subjects: n, visits: 6, seed, stepWeeks: 2 });

/** Deterministic Fisher-Yates driven by fast-check's random indexes. */
function shuffle<T>(xs: readonly T[], keys: number[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = (keys[i % keys.length] ?? 0) % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('invariants', () => {
  test('adding a new lesion never improves a time-point response', () => {
    const tgt = fc.constantFrom('CR', 'PR', 'SD', 'PD', 'NE', 'NA' as const);
    const nt = fc.constantFrom('CR', 'NON-CR/NON-PD', 'PD', 'NE', 'NA' as const);
    const nl = fc.constantFrom<NewLesions>('NO', 'EQUIVOCAL');
    fc.assert(
      fc.property(tgt, nt, nl, (t, n, before) => {
        const a = overallResponse(t as never, n as never, before);
        const b = overallResponse(t as never, n as never, 'YES');
        return b === 'PD' && RANK[b] >= RANK[a];
      }),
    );
  });

  test('adding a new lesion at any visit never improves the subject\'s BOR or confirmed BOR', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.nat(), (seed, k) => {
        const study = subjectsOf(seed, 3);
        for (const s of study.subjects) {
          if (s.assessments.length < 2) continue;
          const i = 1 + (k % (s.assessments.length - 1));
          const worse: SubjectInput = { ...s, assessments: s.assessments.map((a, j) => (j === i ? { ...a, newLesions: 'YES' } : a)) };
          const r0 = deriveVisitResponses(s);
          const r1 = deriveVisitResponses(worse);
          if (RANK[bestOverallResponse(r1, worse, S).bor] < RANK[bestOverallResponse(r0, s, S).bor]) return false;
          if (RANK[confirmedBestOverallResponse(r1, worse, S).bor] < RANK[confirmedBestOverallResponse(r0, s, S).bor]) return false;
        }
        return true;
      }),
      { numRuns: 40 },
    );
  });

  test('reordering input rows (subjects, assessments, lesions, questionnaires, days) never changes the output', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), (seed, keys) => {
        const study = subjectsOf(seed);
        const shuffled: StudyInput = {
          ...study,
          subjects: shuffle(study.subjects, keys).map((s) => ({
            ...s,
            assessments: shuffle(s.assessments, keys).map((a): Assessment => ({ ...a, targets: shuffle(a.targets, keys), nonTargets: shuffle(a.nonTargets, keys) })),
            qlqc30: s.qlqc30 && shuffle(s.qlqc30, keys),
            steps: s.steps && shuffle(s.steps, keys),
          })),
        };
        for (const blinded of [true, false]) {
          const a = JSON.stringify(deriveEndpointDatasets(study, {}, { blinded }));
          const b = JSON.stringify(deriveEndpointDatasets(shuffled, {}, { blinded }));
          if (a !== b) return false;
        }
        return true;
      }),
      { numRuns: 15 },
    );
  });

  test('the simulator is deterministic for a seed (and differs between seeds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const a = JSON.stringify(simulateTrial({ subjects: 5, visits: 4, seed, stepWeeks: 1 }));
        const b = JSON.stringify(simulateTrial({ subjects: 5, visits: 4, seed, stepWeeks: 1 }));
        const c = JSON.stringify(simulateTrial({ subjects: 5, visits: 4, seed: seed + 1, stepWeeks: 1 }));
        return a === b && a !== c;
      }),
      { numRuns: 30 },
    );
  });

  test('simulated subjects always have a valid RECIST baseline and derive without error', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), (seed) => {
        const r = deriveEndpointDatasets(simulateTrial({ subjects: 10, visits: 8, seed, stepWeeks: 0 }), {}, { blinded: true });
        return r.issues.length === 0;
      }),
      { numRuns: 10 },
    );
  });

  test('the PD threshold is exact in tenths: PD iff 5*(sum-nadir) >= nadir and sum-nadir >= 50', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 3000 }), fc.integer({ min: 0, max: 3000 }), (base, fu) => {
        const s: SubjectInput = {
          usubjid: 'S', randDate: '2024-01-01',
          assessments: [0, 1].map((i) => ({ visit: `V${i}`, visitNum: i, date: i ? '2024-02-12' : '2024-01-01', targets: [{ lesionId: 'T1', organ: 'LIVER', nodal: false, diameter: i ? fu : base, source: { readId: 'r' } }], nonTargets: [], newLesions: 'NO', source: { readId: 'r' } })),
        };
        const r = deriveVisitResponses(s)[0].overall;
        // independent rational check with BigInt: (fu - base) / base >= 1/5 and fu - base >= 50 tenths
        const d = BigInt(fu - base);
        const pd = d * 5n >= BigInt(base) && d >= 50n;
        const pr = BigInt(base - fu) * 10n >= BigInt(base) * 3n;
        return fu === 0 ? r === 'CR' : pd ? r === 'PD' : pr ? r === 'PR' : r === 'SD';
      }),
      { numRuns: 500 },
    );
  });
});
