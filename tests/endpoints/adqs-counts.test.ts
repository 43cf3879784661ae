/**
 * ADQS row counts as a biostatistician expects them: wearable steps give one STEPSWK row per subject and
 * calendar week from randomisation (baseline week + each week with data), never one row per day; QLQ-C30
 * gives at most one row per scale (15) per questionnaire. Weeks are counted here independently with Date.
 */
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';

describe('ADQS row counts', () => {
  const study = simulateTrial({ subjects: 60, visits: 6, seed: 99, stepWeeks: 8 });
  const adqs = deriveEndpointDatasets(study, {}, { blinded: true }).datasets.find((d) => d.name === 'ADQS')!;
  const ci = (n: string) => adqs.columns.findIndex((c) => c.name === n);
  const [P, U] = [ci('PARAMCD'), ci('USUBJID')];

  it('has one STEPSWK row per subject-week, not per day', () => {
    for (const s of study.subjects) {
      const weeks = new Set<number>();
      for (const d of s.steps ?? []) {
        const diff = (Date.parse(d.date) - Date.parse(s.randDate)) / 86_400_000;
        const sd = diff >= 0 ? diff + 1 : diff;
        if (sd < -7) continue;
        weeks.add(sd < 0 ? 0 : Math.ceil(sd / 7));
      }
      const rows = adqs.rows.filter((r) => r[U] === s.usubjid && r[P] === 'STEPSWK');
      expect(rows.length).toBe(weeks.size);
      expect(rows.length).toBeLessThan((s.steps ?? []).length);
      expect(rows.length).toBeLessThanOrEqual(9); // baseline week + 8 weeks
    }
  });

  it('has at most 15 QLQ-C30 rows per questionnaire', () => {
    for (const s of study.subjects) {
      const n = adqs.rows.filter((r) => r[U] === s.usubjid && r[P] !== 'STEPSWK').length;
      expect(n).toBeLessThanOrEqual(15 * (s.qlqc30 ?? []).length);
      expect(n).toBeGreaterThan(0);
    }
  });
});
