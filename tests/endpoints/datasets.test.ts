import { assertBlinded, validateDataset, writeDataset, type Dataset } from '@app/datasets';
import { deriveEndpointDatasets, deriveVisitResponses, resolveSettings, simulateTrial, tenthsToMm, type StudyInput } from '@app/endpoints';
import { subjectWithSums, tl, visit } from './helpers';

const study = simulateTrial({ subjects: 40, visits: 8, seed: 7 });
const col = (d: Dataset, n: string) => d.columns.findIndex((c) => c.name === n);
const get = (ds: Dataset[], n: string) => ds.find((d) => d.name === n)!;
const values = (d: Dataset, n: string) => d.rows.map((r) => r[col(d, n)]);

describe('deriveEndpointDatasets', () => {
  const unblinded = deriveEndpointDatasets(study, {}, { blinded: false });
  const blinded = deriveEndpointDatasets(study, {}, { blinded: true });

  test('produces every dataset, with settings returned resolved and serialisable', () => {
    expect(unblinded.datasets.map((d) => d.name)).toEqual(['TU', 'TR', 'RS', 'ADTR', 'ADRS', 'ADTTE', 'ADQS', 'ADPATH', 'ADSL']);
    expect(JSON.parse(JSON.stringify(unblinded.settings))).toEqual(resolveSettings({}));
    expect(unblinded.issues).toEqual([]);
  });

  test('blinded datasets contain no treatment-arm column at all', () => {
    const arm = ['ARM', 'ARMCD', 'TRT01P', 'TRT01A', 'ACTARM', 'ACTARMCD', 'TRT01AN', 'TRT01PN'];
    for (const d of blinded.datasets) for (const c of d.columns) expect(arm).not.toContain(c.name);
    // and no arm value hides in another column
    const armNames = new Set(study.subjects.flatMap((s) => [s.arm, s.armCd]));
    const leaks: unknown[] = [];
    for (const d of blinded.datasets) for (const r of d.rows) for (const v of r) if (armNames.has(v as string)) leaks.push([d.name, v]);
    expect(leaks).toEqual([]);
    // unblinded ADaM datasets do carry them
    for (const n of ['ADRS', 'ADTTE', 'ADTR', 'ADQS']) expect(get(unblinded.datasets, n).columns.map((c) => c.name)).toEqual(expect.arrayContaining(['ARM', 'ARMCD', 'TRT01P', 'TRT01A']));
  });

  test('metadata: names <= 8 upper-case, labels <= 40, string lengths cover the data, rows match columns', () => {
    for (const d of unblinded.datasets) {
      expect(d.label.length).toBeLessThanOrEqual(40);
      for (const [i, c] of d.columns.entries()) {
        expect(c.name).toMatch(/^[A-Z][A-Z0-9_]{0,7}$/);
        expect(c.label.length).toBeLessThanOrEqual(40);
        expect(c.itemOID).toBe(`IT.${d.name}.${c.name}`);
        if (c.dataType === 'string') {
          const tooLong = d.rows.filter((r) => typeof r[i] === 'string' && Buffer.byteLength(r[i] as string) > c.length!);
          expect(tooLong).toEqual([]);
        }
      }
      expect(d.rows.filter((r) => r.length !== d.columns.length)).toEqual([]);
    }
  });

  test('the data-cut blinding check (@app/datasets assertBlinded) accepts blinded, rejects unblinded output', () => {
    expect(() => assertBlinded(blinded.datasets)).not.toThrow();
    expect(() => assertBlinded(unblinded.datasets)).toThrow(/treatment-assignment/);
  });

  test('every dataset validates and writes as Dataset-JSON, XPT and CSV with @app/datasets', () => {
    const meta = { studyOID: 'SIM-001', metaDataVersionOID: 'MDV.1', creationDateTime: '2025-01-01T00:00:00', originator: 'test', sourceSystem: { name: 'endpoints', version: '0' } };
    for (const d of blinded.datasets) {
      expect(() => validateDataset(d)).not.toThrow();
      for (const f of ['json', 'xpt', 'csv'] as const) expect(writeDataset(d, meta, f).length).toBeGreaterThan(0);
    }
  });

  test('deterministic: same input gives identical datasets', () => {
    expect(JSON.stringify(deriveEndpointDatasets(study, {}, { blinded: false }))).toBe(JSON.stringify(unblinded));
  });

  test('ADRS rows trace back to RS records and to the read / reader / model', () => {
    const adrs = get(unblinded.datasets, 'ADRS');
    const rs = get(unblinded.datasets, 'RS');
    const rsKey = new Map(rs.rows.map((r) => [`${r[col(rs, 'USUBJID')]}|${r[col(rs, 'RSSEQ')]}`, r]));
    const ovr = adrs.rows.filter((r) => r[col(adrs, 'PARAMCD')] === 'OVR');
    expect(ovr.length).toBeGreaterThan(50);
    for (const r of ovr) {
      const src = rsKey.get(`${r[col(adrs, 'USUBJID')]}|${r[col(adrs, 'SRCSEQ')]}`)!;
      expect(src[col(rs, 'RSTESTCD')]).toBe('OVRLRESP');
      expect(src[col(rs, 'RSSTRESC')]).toBe(r[col(adrs, 'AVALC')]);
      expect(r[col(adrs, 'READID')]).toEqual(expect.stringMatching(/^READ-/));
      expect(r[col(adrs, 'READER')]).toEqual(expect.stringMatching(/^RAD-/));
    }
    const tr = get(unblinded.datasets, 'TR');
    const tgt = tr.rows.filter((r) => r[col(tr, 'TRGRPID')] === 'TARGET');
    expect(tgt.every((r) => typeof r[col(tr, 'MODELID')] === 'string' && (r[col(tr, 'MODELSHA')] as string).length === 64)).toBe(true);
  });

  test('ADRS OVR equals the per-visit derivation; ADTTE has one PFS row per subject with CNSR 0/1', () => {
    const adrs = get(unblinded.datasets, 'ADRS');
    const sub = study.subjects[3];
    const ours = deriveVisitResponses(sub).map((v) => v.overall);
    const rows = adrs.rows.filter((r) => r[col(adrs, 'USUBJID')] === sub.usubjid && r[col(adrs, 'PARAMCD')] === 'OVR').map((r) => r[col(adrs, 'AVALC')]);
    expect(rows).toEqual(ours);
    const adtte = get(unblinded.datasets, 'ADTTE');
    const pfs = adtte.rows.filter((r) => r[col(adtte, 'PARAMCD')] === 'PFS');
    expect(new Set(pfs.map((r) => r[col(adtte, 'USUBJID')])).size).toBe(study.subjects.length);
    for (const r of pfs) {
      expect([0, 1]).toContain(r[col(adtte, 'CNSR')]);
      const start = Date.parse(r[col(adtte, 'STARTDT')] as string);
      const adt = Date.parse(r[col(adtte, 'ADT')] as string);
      expect(r[col(adtte, 'AVAL')]).toBe((adt - start) / 86400000 + 1);
    }
  });

  test('ADTTE PFS progression events trace to the RS OVRLRESP = PD record dated ADT', () => {
    const adtte = get(unblinded.datasets, 'ADTTE');
    const rs = get(unblinded.datasets, 'RS');
    const rsKey = new Map(rs.rows.map((r) => [`${r[col(rs, 'USUBJID')]}|${r[col(rs, 'RSSEQ')]}`, r]));
    const pd = adtte.rows.filter((r) => r[col(adtte, 'PARAMCD')] === 'PFS' && r[col(adtte, 'EVNTDESC')] === 'DISEASE PROGRESSION');
    expect(pd.length).toBeGreaterThan(3);
    for (const r of pd) {
      expect(r[col(adtte, 'CNSR')]).toBe(0);
      expect(r[col(adtte, 'SRCDOM')]).toBe('RS');
      const src = rsKey.get(`${r[col(adtte, 'USUBJID')]}|${r[col(adtte, 'SRCSEQ')]}`)!;
      expect([src[col(rs, 'RSTESTCD')], src[col(rs, 'RSSTRESC')], src[col(rs, 'RSDTC')]]).toEqual(['OVRLRESP', 'PD', r[col(adtte, 'ADT')]]);
    }
  });

  test('rows sorted by USUBJID then PARAMCD', () => {
    for (const n of ['ADRS', 'ADTTE', 'ADQS']) {
      const d = get(unblinded.datasets, n);
      const keys = d.rows.map((r) => `${r[col(d, 'USUBJID')]}\u0000${r[col(d, 'PARAMCD')]}`);
      expect(keys).toEqual([...keys].sort());
    }
  });

  test('every dataset is in its key order (RECIST 1.1 and iRECIST, with an assessment on the baseline date with a negative visit number)', () => {
    const input: StudyInput = structuredClone(study);
    const edge = input.subjects[0];
    const b = edge.assessments.find((a) => a.baseline)!;
    edge.assessments.push({ ...visit(-1, b.date, b.targets.map((t) => ({ ...t, diameter: typeof t.diameter === 'number' ? t.diameter - 20 : t.diameter }))), baseline: false, visit: 'UNSCHEDULED' });
    const order: Record<string, string[]> = {
      TU: ['USUBJID', 'TUSEQ'], TR: ['USUBJID', 'TRSEQ'], RS: ['USUBJID', 'RSSEQ'],
      ADTR: ['USUBJID', 'PARAMCD', 'ADT', 'AVISITN'], ADRS: ['USUBJID', 'PARAMCD', 'ADT', 'AVISITN'],
      ADTTE: ['USUBJID', 'PARAMCD'], ADQS: ['USUBJID', 'PARAMCD', 'ADT', 'AVISIT'],
    };
    const cmp = (x: unknown, y: unknown): number =>
      x === y ? 0 : x === null ? -1 : y === null ? 1 : typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : 1;
    for (const criteria of ['RECIST 1.1', 'iRECIST'] as const) {
      const { datasets } = deriveEndpointDatasets(input, { criteria }, { blinded: false });
      for (const [name, keys] of Object.entries(order)) {
        const d = get(datasets, name);
        const idx = keys.map((k) => col(d, k));
        const bad = d.rows.findIndex((r, i) => i > 0 && (idx.map((c) => cmp(d.rows[i - 1][c], r[c])).find((c) => c !== 0) ?? 0) > 0);
        expect({ criteria, name, bad }).toEqual({ criteria, name, bad: -1 });
      }
      // the unscheduled assessment on the baseline date sorts before the baseline row (AVISITN -1 < 0)
      const adtr = get(datasets, 'ADTR');
      const mine = adtr.rows.filter((r) => r[col(adtr, 'USUBJID')] === edge.usubjid).map((r) => r[col(adtr, 'AVISITN')]);
      expect(mine.slice(0, 2)).toEqual([-1, 0]);
      const iovr = get(datasets, 'ADRS').rows.filter((r) => r[col(get(datasets, 'ADRS'), 'PARAMCD')] === 'IOVR');
      expect(iovr.length > 0).toBe(criteria === 'iRECIST');
    }
  });

  test('a subject with an invalid target selection is reported in issues, not dropped silently, and others are kept', () => {
    const bad: StudyInput = {
      studyId: 'X',
      subjects: [
        ...study.subjects.slice(0, 2),
        { usubjid: 'BAD-1', randDate: '2024-01-01', assessments: [visit(0, '2024-01-01', [tl('T1', 200, 'LIVER'), tl('T2', 200, 'LIVER'), tl('T3', 200, 'LIVER')])] },
      ],
    };
    const r = deriveEndpointDatasets(bad, {}, { blinded: true });
    expect(r.issues).toEqual([expect.stringMatching(/^BAD-1: .*3 target lesions in organ LIVER/)]);
    expect(new Set(values(get(r.datasets, 'ADRS'), 'USUBJID'))).toEqual(new Set(study.subjects.slice(0, 2).map((s) => s.usubjid)));
  });

  test('a bad QLQ-C30 answer is reported and does not drop the subject\'s tumour endpoints', () => {
    const s0 = study.subjects[0];
    const items = [...s0.qlqc30![0].items];
    items[0] = 9;
    const bad: StudyInput = { studyId: 'X', subjects: [{ ...s0, qlqc30: [{ ...s0.qlqc30![0], items }, ...s0.qlqc30!.slice(1)] }] };
    const r = deriveEndpointDatasets(bad, {}, { blinded: true });
    expect(r.issues).toEqual([expect.stringMatching(new RegExp(`^${s0.usubjid}: QLQ-C30: .*item 1 must be an integer in 1..4`))]);
    expect(values(get(r.datasets, 'ADRS'), 'PARAMCD')).toContain('BOR');
    expect(values(get(r.datasets, 'ADTTE'), 'PARAMCD')).toContain('PFS');
    expect(values(get(r.datasets, 'ADQS'), 'PARAMCD').filter((p) => p !== 'STEPSWK')).toEqual([]);
  });

  test('blinding must be explicit', () => {
    expect(() => deriveEndpointDatasets(study, {}, {} as never)).toThrow(/blinded/);
  });

  test('pathology endpoints land in ADPATH', () => {
    const s: StudyInput = {
      studyId: 'X',
      subjects: [{
        usubjid: 'P-1', randDate: '2024-01-01', assessments: [],
        pathology: [{ recordId: 'PATH-1', date: '2024-06-01', ypT: 'ypTis', ypN: 'ypN0', rcb: { d1Mm: 20, d2Mm: 10, percentCancer: 50, percentInSitu: 20, positiveNodes: 2, largestNodeMetMm: 5 }, pdl1: { viableTumourCells: 200, positiveTumourCells: 50, positiveImmuneCells: 30 }, source: { readId: 'PR-1', reader: 'PATH-07' } }],
      }],
    };
    const all = deriveEndpointDatasets(s, {}, { blinded: true }).datasets;
    const d = get(all, 'ADPATH');
    // ITT: a randomised subject without any tumour assessment still has PFS, censored at randomisation
    const adtte = get(all, 'ADTTE');
    expect(adtte.rows.map((r) => [r[col(adtte, 'PARAMCD')], r[col(adtte, 'AVAL')], r[col(adtte, 'CNSR')], r[col(adtte, 'ADT')]])).toEqual([['PFS', 1, 1, '2024-01-01']]);
    const by = Object.fromEntries(d.rows.map((r) => [r[col(d, 'PARAMCD')], [r[col(d, 'AVALC')], r[col(d, 'AVAL')]]]));
    expect(by.PCR).toEqual(['Y', 1]);
    expect(by.RCBCLS[0]).toBe('RCB-III');
    expect(by.CPS[1]).toBe(40);
  });
  test('ADTR change from baseline keeps its sign below 1 mm (tenths -> mm: 20.0 -> 19.5 is -0.5)', () => {
    const input: StudyInput = { studyId: 'S', subjects: [subjectWithSums([200, 195, 209])] };
    const adtr = deriveEndpointDatasets(input, {}, { blinded: true }).datasets.find((d) => d.name === 'ADTR')!;
    const c = (n: string) => adtr.columns.findIndex((x) => x.name === n);
    expect(adtr.rows.map((r) => [r[c('AVAL')], r[c('CHG')]])).toEqual([[20, 0], [19.5, -0.5], [20.9, 0.9]]);
    expect(tenthsToMm(-5)).toBe(-0.5);
    expect(tenthsToMm(123)).toBe(12.3);
    expect(tenthsToMm(-123)).toBe(-12.3);
  });
});
