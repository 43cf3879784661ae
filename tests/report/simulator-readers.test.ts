/**
 * The simulator's readers option (two radiologists + the AI per subject, adjudication) and the reader-level
 * datasets ADTRRDR / ADRSRDR. Without the option the simulator's output is byte-identical to what it was before the
 * option existed (hashes of the previous version's output, computed from the commit before the change).
 */
import { createHash } from 'node:crypto';
import { assertBlinded } from '@app/datasets';
import { deriveEndpointDatasets, readDatasets, resolveSettings, simulateTrial, type SimulateOptions } from '@app/endpoints';

const sha = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');
const col = (ds: { columns: { name: string }[] }, n: string) => ds.columns.findIndex((c) => c.name === n);

describe('simulateTrial readers option', () => {
  test('without readers the output is byte-identical to the simulator before the option (golden hashes of the previous version)', () => {
    expect(sha(simulateTrial({ subjects: 40, visits: 8, seed: 7 }))).toBe('76bd6461a5ee2c416e7a4e3afcff0644d5a8c4f10e75b3f7d966fc213fadcba8');
    expect(sha(simulateTrial({ subjects: 25, visits: 6, seed: 3, outcomeCoupling: true, qlq: false }))).toBe('589a832115c4bb5df527f360bf82002947561961339bca965e8efe33fbc64b30');
    expect('reads' in simulateTrial({ subjects: 5, visits: 4, seed: 1 })).toBe(false);
  });

  const opts: SimulateOptions = { subjects: 300, visits: 8, seed: 11, readers: true };
  const study = simulateTrial(opts);
  const plain = simulateTrial({ ...opts, readers: false });
  const reads = study.reads!;

  test('deterministic, and the subject-level facts are those of the plain simulation', () => {
    expect(sha(simulateTrial(opts))).toBe(sha(study));
    expect(study.reviewProvenance).toBe(true);
    expect(study.subjects.map((s) => ({ ...s, assessments: [] }))).toEqual(plain.subjects.map((s) => ({ ...s, assessments: [] })));
    // the readers see exactly the simulated timepoints
    for (const r of reads.reads) {
      const s = plain.subjects.find((x) => x.usubjid === r.usubjid)!;
      expect(r.assessments.map((a) => [a.visitNum, a.date])).toEqual(s.assessments.map((a) => [a.visitNum, a.date]));
    }
  });

  test('two distinct radiologists and the AI per subject; decisions on every AI proposal', () => {
    for (const s of study.subjects) {
      const rs = reads.reads.filter((r) => r.usubjid === s.usubjid);
      expect(rs.map((r) => r.evaluatorId)).toEqual(['RADIOLOGIST 1', 'RADIOLOGIST 2', 'AI']);
      expect(rs[0]!.reader).not.toBe(rs[1]!.reader);
      const ai = rs[2]!;
      for (const rad of rs.slice(0, 2)) {
        for (const a of ai.assessments) {
          for (const t of a.targets) {
            const d = rad.aiDecisions!.find((x) => x.visitNum === a.visitNum && x.lesionId === t.lesionId)!;
            expect(d.ai).toEqual(t.diameter);
            const own = rad.assessments.find((x) => x.visitNum === a.visitNum)!.targets.find((x) => x.lesionId === t.lesionId);
            if (d.decision === 'ACCEPT') expect(own!.diameter).toEqual(t.diameter);
            if (d.decision === 'EDIT') expect(own!.diameter).not.toEqual(t.diameter);
            if (d.decision === 'REJECT') expect(own).toBeUndefined();
          }
        }
      }
    }
  });

  test('realistic variability: inter-reader CV of diameters 10-15 %, some different target selections, adjudication near the 42 % benchmark', () => {
    const byKey = new Map<string, number[]>();
    for (const r of reads.reads.filter((x) => x.evaluator === 'INDEPENDENT ASSESSOR'))
      for (const a of r.assessments) for (const t of a.targets) if (typeof t.diameter === 'number') byKey.set(`${r.usubjid}|${a.visitNum}|${t.lesionId}`, [...(byKey.get(`${r.usubjid}|${a.visitNum}|${t.lesionId}`) ?? []), t.diameter]);
    let s = 0;
    let n = 0;
    for (const v of byKey.values()) {
      if (v.length !== 2) continue;
      const m = (v[0]! + v[1]!) / 2;
      s += (v[0]! - v[1]!) ** 2 / 2 / (m * m); // within-lesion variance / mean^2
      n++;
    }
    const cv = Math.sqrt(s / n);
    expect(n).toBeGreaterThan(1000);
    expect(cv).toBeGreaterThan(0.1);
    expect(cv).toBeLessThan(0.15);
    const swapped = reads.reads.filter((r) => r.aiDecisions?.some((d) => d.decision === 'ADD'));
    expect(swapped.length / (2 * study.subjects.length)).toBeGreaterThan(0.05);
    expect(swapped.length / (2 * study.subjects.length)).toBeLessThan(0.2);
    const adj = reads.selections.filter((x) => x.adjudicated).length / reads.selections.length;
    expect(adj).toBeGreaterThan(0.3);
    expect(adj).toBeLessThan(0.55);
  });

  test('the subjects hold the BICR result: READ 1 on agreement, the adjudicator\'s choice otherwise', () => {
    for (const sel of reads.selections) {
      const subj = study.subjects.find((s) => s.usubjid === sel.usubjid)!;
      const chosen = reads.reads.find((r) => r.usubjid === sel.usubjid && r.evaluatorId === sel.selected)!;
      if (!sel.adjudicated) expect(sel.selected).toBe('RADIOLOGIST 1');
      else expect(sel.adjudicator).toMatch(/^ADJ-/);
      expect(subj.assessments.map((a) => a.targets.map((t) => [t.lesionId, t.diameter]))).toEqual(chosen.assessments.map((a) => a.targets.map((t) => [t.lesionId, t.diameter])));
      expect(subj.assessments[0]!.source.selection).toBe(sel.adjudicated ? `ADJUDICATION: ${sel.selected} SELECTED` : 'AGREEMENT: RADIOLOGIST 1');
    }
  });

  test('ADTRRDR / ADRSRDR: per-read rows, BICR-selected read matches the study ADRS, never an arm column', () => {
    const settings = resolveSettings({});
    const { datasets, issues } = readDatasets(study, settings);
    expect(issues).toEqual([]);
    const [tr, rs] = datasets as [NonNullable<(typeof datasets)[0]>, NonNullable<(typeof datasets)[1]>];
    expect(tr.name).toBe('ADTRRDR');
    expect(rs.name).toBe('ADRSRDR');
    expect(() => assertBlinded(datasets)).not.toThrow();
    // every target measurement of every read is a row; plus one row per rejected proposal
    const targets = reads.reads.reduce((a, r) => a + r.assessments.reduce((b, x) => b + x.targets.length, 0), 0);
    const rejected = reads.reads.reduce((a, r) => a + (r.aiDecisions ?? []).filter((d) => d.decision === 'REJECT').length, 0);
    expect(tr.rows.length).toBe(targets + rejected);
    // the confirmed BOR of the BICR-selected read is the study's CBOR (derived from the subjects)
    const main = deriveEndpointDatasets(study, settings, { blinded: true }).datasets.find((d) => d.name === 'ADRS')!;
    const mainCbor = new Map(main.rows.filter((r) => r[col(main, 'PARAMCD')] === 'CBOR').map((r) => [r[col(main, 'USUBJID')], r[col(main, 'AVALC')]]));
    const sel = new Map(rs.rows.filter((r) => r[col(rs, 'PARAMCD')] === 'BICRSEL').map((r) => [r[col(rs, 'USUBJID')], r[col(rs, 'AVALC')]]));
    expect(sel.size).toBe(study.subjects.length);
    let checked = 0;
    for (const r of rs.rows) {
      if (r[col(rs, 'PARAMCD')] !== 'CBOR' || r[col(rs, 'EVALID')] !== sel.get(r[col(rs, 'USUBJID')])) continue;
      expect(r[col(rs, 'AVALC')]).toBe(mainCbor.get(r[col(rs, 'USUBJID')]));
      checked++;
    }
    expect(checked).toBe(study.subjects.length);
    // decisions are on radiologist rows only; AI rows carry none
    for (const r of tr.rows) if (r[col(tr, 'EVALID')] === 'AI') expect(r[col(tr, 'AIDECN')]).toBeNull();
    expect(new Set(tr.rows.map((r) => r[col(tr, 'READSRC')]))).toEqual(new Set(['SIMULATED']));
  });

  test('the cut-off date drops later timepoints from the reads too', () => {
    const cut = '2024-09-30';
    const { datasets } = readDatasets({ ...study, dataCutDate: cut }, resolveSettings({}));
    for (const ds of datasets) for (const r of ds.rows) if (r[col(ds, 'ADT')] !== null) expect(String(r[col(ds, 'ADT')]) <= cut).toBe(true);
  });
});
