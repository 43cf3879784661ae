/**
 * readerAgreement on the reader-level datasets of a simulated BICR (libs/endpoints readers option): every count is
 * recomputed here from the simulator's StudyInput (the reads themselves, not the datasets), and every statistic is
 * the tested primitive (agreement.test.ts) applied to those independently paired values. Bad input: no reads, one
 * evaluator, zero-variance measurements, no adjudication.
 */
import { blandAltman, cohenKappa, icc, readerAgreement } from '@app/analysis';
import type { Dataset } from '@app/datasets';
import { readDatasets, resolveSettings, simulateTrial, type SubjectRead } from '@app/endpoints';

const study = simulateTrial({ subjects: 120, visits: 6, seed: 5, readers: true });
const reads = study.reads!;
const [adtrrdr, adrsrdr] = readDatasets(study, resolveSettings({})).datasets as [Dataset, Dataset];
const summary = readerAgreement(adtrrdr, adrsrdr);

const measuredValue = (d: unknown): number | null => (typeof d === 'number' ? d / 10 : null);
/** (subject, visit, lesion) -> mm of one evaluator, from the reads. */
function values(evaluatorId: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of reads.reads.filter((x: SubjectRead) => x.evaluatorId === evaluatorId))
    for (const a of r.assessments) for (const t of a.targets) {
      const v = measuredValue(t.diameter);
      if (v !== null) m.set(`${r.usubjid}|${a.visitNum}|${t.lesionId}`, v);
    }
  return m;
}

describe('readerAgreement on a simulated BICR', () => {
  test('evaluators, subjects and origin (simulated reads are labelled)', () => {
    expect(summary.evaluators).toEqual(['RADIOLOGIST 1', 'RADIOLOGIST 2', 'AI']);
    expect(summary.subjects).toBe(120);
    expect(summary.origin).toBe('SIMULATED');
    expect(summary.lesions.map((l) => [l.a, l.b])).toEqual([['RADIOLOGIST 1', 'RADIOLOGIST 2'], ['AI', 'RADIOLOGIST 1'], ['AI', 'RADIOLOGIST 2']]);
    expect(JSON.stringify(summary)).not.toMatch(/NaN|Infinity/);
  });

  test('diameters: the same pairs as the reads give, and the same ICC / Bland-Altman', () => {
    for (const l of summary.lesions) {
      const a = values(l.a);
      const b = values(l.b);
      const keys = [...a.keys()].filter((k) => b.has(k));
      expect(l.pairs).toBe(keys.length);
      expect(l.subjects).toBe(new Set(keys.map((k) => k.split('|')[0])).size);
      // order-independent statistics: compare with the primitives on the independently paired values
      const ref = icc(keys.map((k) => [a.get(k)!, b.get(k)!]));
      expect(l.icc!.icc21.value).toBeCloseTo(ref.icc21.value, 12);
      expect(l.icc!.icc31.lower).toBeCloseTo(ref.icc31.lower!, 12);
      const ba = blandAltman(keys.map((k) => a.get(k)!), keys.map((k) => b.get(k)!));
      expect(l.blandAltman!.bias).toBeCloseTo(ba.bias, 12);
      expect(l.blandAltman!.upperLoa).toBeCloseTo(ba.upperLoa, 12);
      expect(l.tolerance!.withinAbs.count).toBe(keys.filter((k) => Math.abs(a.get(k)! - b.get(k)!) <= 2 + 1e-9).length);
      expect(l.points.mean.length).toBe(keys.length);
      expect(l.points.diff.length).toBe(keys.length);
    }
    // readers (CV ~ 11 %) agree well but not perfectly; the ICC over all three evaluators exists
    const rr = summary.lesions[0]!.icc!.icc21.value;
    expect(rr).toBeGreaterThan(0.8);
    expect(rr).toBeLessThan(0.999);
    expect(summary.allEvaluators!.icc!.k).toBe(3);
  });

  test('maxPoints keeps a systematic sample of the Bland-Altman points (pairs 0, k, 2k, ...); every statistic still uses every pair', () => {
    const max = 50;
    const sampled = readerAgreement(adtrrdr, adrsrdr, { maxPoints: max });
    summary.lesions.forEach((full, i) => {
      const l = sampled.lesions[i]!;
      expect(full.pointsStep).toBe(1);
      expect(full.pairs).toBeGreaterThan(max);
      const k = Math.ceil(full.pairs / max);
      expect(l.pointsStep).toBe(k);
      expect(l.points.mean.length).toBeLessThanOrEqual(max);
      expect(l.points.mean).toEqual(full.points.mean.filter((_x, j) => j % k === 0));
      expect(l.points.diff).toEqual(full.points.diff.filter((_x, j) => j % k === 0));
      const { points: _p, pointsStep: _s, ...statsSampled } = l;
      const { points: _q, pointsStep: _t, ...statsFull } = full;
      expect(statsSampled).toEqual(statsFull);
    });
    // a limit above the pair count keeps them all
    expect(readerAgreement(adtrrdr, adrsrdr, { maxPoints: 1e9 }).lesions[0]!.points).toEqual(summary.lesions[0]!.points);
  });

  test('time-point responses and BOR: kappa on the pairs of the datasets, adjudication and AI effect counted from the reads', () => {
    const rr = summary.responses[0]!;
    expect(rr.timepoints.kappa.unweighted!.n).toBe(rr.timepoints.pairs);
    expect(rr.timepoints.kappa.quadratic!.n).toBe(rr.timepoints.kappa.ordinalPairs);
    expect(rr.bor.paramcd).toBe('CBOR');
    expect(rr.bor.subjects).toBe(120);
    // a different CBOR or PD date means adjudication (the simulator's rule): agreement rates bound the adjudication rate
    const adjudicated = reads.selections.filter((s) => s.adjudicated).length;
    expect(summary.adjudication!.adjudicated).toBe(adjudicated);
    expect(summary.adjudication!.subjects).toBe(120);
    expect(120 - adjudicated).toBeLessThanOrEqual(Math.min(rr.bor.agreement!.count, rr.progression.dateAgreement!.count));
    expect(summary.adjudication!.bySlot.reduce((s, x) => s + x.selected, 0)).toBe(adjudicated);
    // per reader: subjects read, adjudicated, and how often the adjudicator chose them, recounted
    for (const p of summary.adjudication!.perReader) {
      const mine = reads.reads.filter((r) => r.reader === p.reader);
      expect(p.subjects).toBe(mine.length);
      const adj = mine.filter((r) => reads.selections.find((s) => s.usubjid === r.usubjid)!.adjudicated);
      expect(p.adjudicated).toBe(adj.length);
      expect(p.selected).toBe(adj.filter((r) => reads.selections.find((s) => s.usubjid === r.usubjid)!.selected === r.evaluatorId).length);
    }
    // AI effect: decisions recounted from the reads
    const all = reads.reads.flatMap((r) => r.aiDecisions ?? []);
    const n = (d: string) => all.filter((x) => x.decision === d).length;
    expect([summary.aiEffect!.overall.accept, summary.aiEffect!.overall.edit, summary.aiEffect!.overall.reject, summary.aiEffect!.overall.add]).toEqual([n('ACCEPT'), n('EDIT'), n('REJECT'), n('ADD')]);
    expect(summary.aiEffect!.perReader.map((r) => r.reader)).toEqual(['RAD-01', 'RAD-02', 'RAD-03', 'RAD-04']);
    expect(summary.aiEffect!.overall.editSize!.medianAbsMm).toBeGreaterThan(0);
    // target selection: subjects where a reader swapped a target do not have the same set
    const swapped = new Set(reads.reads.filter((r) => r.evaluator !== 'AI' && r.aiDecisions!.some((d) => d.decision === 'ADD')).map((r) => r.usubjid));
    const rrSel = summary.targetSelection[0]!;
    expect(rrSel.subjects).toBe(120);
    expect(rrSel.same!.count).toBeLessThanOrEqual(120 - [...swapped].filter((s) => {
      const two = reads.reads.filter((r) => r.usubjid === s && r.evaluator !== 'AI');
      const ids = two.map((r) => r.assessments[0]!.targets.map((t) => t.lesionId).sort().join(','));
      return ids[0] !== ids[1];
    }).length);
  });

  test('kappa matches the primitive on the same pairs', () => {
    const pairs: [string, string][] = [];
    const by = new Map<string, Map<string, string>>();
    for (const r of reads.reads) {
      if (r.evaluator === 'AI') continue;
      const ovr = adrsrdr.rows.filter((x) => x[1] === r.usubjid && x[3] === r.evaluatorId && x[6] === 'OVR');
      for (const o of ovr) {
        const k = `${r.usubjid}|${o[11]}`;
        if (!by.has(k)) by.set(k, new Map());
        by.get(k)!.set(r.evaluatorId, String(o[8]));
      }
    }
    for (const m of by.values()) if (m.size === 2) pairs.push([m.get('RADIOLOGIST 1')!, m.get('RADIOLOGIST 2')!]);
    const k = cohenKappa(pairs.map((p) => p[0]), pairs.map((p) => p[1]), { levels: ['CR', 'PR', 'SD', 'NON-CR/NON-PD', 'PD', 'NE'] });
    expect(summary.responses[0]!.timepoints.kappa.unweighted!.kappa).toBeCloseTo(k.kappa, 12);
    expect(summary.responses[0]!.timepoints.kappa.unweighted!.n).toBe(pairs.length);
  });
});

describe('readerAgreement bad input: clear notes, no exception, no NaN', () => {
  test('a cut without reads', () => {
    const s = readerAgreement(undefined, undefined);
    expect(s.lesions).toEqual([]);
    expect(s.adjudication).toBeNull();
    expect(s.notes[0]!.code).toBe('analysis.no-reads');
    expect(s.notes[0]!.message).toMatch(/one read per subject/);
  });

  test('zero-variance measurements and no adjudication', () => {
    const cols = (names: string[]) => names.map((name) => ({ itemOID: name, name, label: name, dataType: 'string' as const }));
    const trCols = ['USUBJID', 'EVAL', 'EVALID', 'READER', 'AVISITN', 'LESIONID', 'AVAL', 'AVALC', 'AIVAL', 'AIVALC', 'AIDECN', 'READSRC'];
    const rows = [];
    for (const s of ['S1', 'S2', 'S3']) for (const e of ['RADIOLOGIST 1', 'RADIOLOGIST 2']) rows.push([s, 'INDEPENDENT ASSESSOR', e, e === 'RADIOLOGIST 1' ? 'RAD-01' : 'RAD-02', 0, 'T01', 20, '20', null, null, null, 'REVIEW']);
    const tr: Dataset = { name: 'ADTRRDR', label: '', itemGroupOID: '', standard: 'ADaM', columns: cols(trCols), rows };
    const rsCols = ['USUBJID', 'EVAL', 'EVALID', 'READER', 'PARAMCD', 'AVALC', 'ADT', 'AVISITN', 'ADJFL', 'READSRC'];
    const rs: Dataset = { name: 'ADRSRDR', label: '', itemGroupOID: '', standard: 'ADaM', columns: cols(rsCols), rows: ['S1', 'S2', 'S3'].map((s) => [s, 'ADJUDICATOR', 'BICR', 'RAD-01', 'BICRSEL', 'RADIOLOGIST 1', null, null, 'N', 'REVIEW']) };
    const s = readerAgreement(tr, rs);
    expect(s.lesions[0]!.pairs).toBe(3);
    expect(s.lesions[0]!.icc).toBeNull();
    expect(s.lesions[0]!.notes.map((n) => n.code)).toContain('analysis.zero-variance');
    expect(s.lesions[0]!.notes.find((n) => n.code === 'analysis.zero-variance')!.message).toMatch(/do not vary/);
    expect(s.lesions[0]!.blandAltman!.sd).toBe(0);
    expect(s.adjudication!.adjudicated).toBe(0);
    expect(s.notes.map((n) => n.code)).toEqual(expect.arrayContaining(['analysis.no-adjudication', 'analysis.no-ai-decisions']));
    expect(s.responses[0]!.timepoints.agreement).toBeNull();
    expect(JSON.stringify(s)).not.toMatch(/NaN|Infinity/);
  });
});
