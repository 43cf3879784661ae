/**
 * Review provenance in the endpoint datasets (StudyInput.reviewProvenance): TU/TR/RS carry --EVAL/--EVALID, every
 * dataset with provenance carries ADJUDID/BICRSEL; the worker-thread derivation gives the same bytes; our RS/TR/TU
 * filter back by evaluator through the SDTM import; and without the flag nothing changes.
 */
import { tableToDataset, writeTableFile, type Dataset } from '@app/datasets';
import { deriveEndpointDatasets, deriveEndpointTables, deriveEndpointTablesParallel, importSdtmAssessments, simulateTrial, type SourceRef, type StudyInput } from '@app/endpoints';
import { META } from '../datasets/helpers';

function reviewed(): StudyInput {
  const s = simulateTrial({ subjects: 12, visits: 5, seed: 4242, stepWeeks: 6 });
  s.reviewProvenance = true;
  s.subjects.forEach((sub, i) => {
    const src: SourceRef = {
      readId: `review:read-${i}`,
      reader: i % 2 ? 'reader.b' : 'reader.a',
      evaluator: 'INDEPENDENT ASSESSOR',
      evaluatorId: `RADIOLOGIST ${1 + (i % 2)}`,
      ...(i % 3 === 0 ? { adjudicator: 'adj.one', selection: `ADJUDICATION: RADIOLOGIST ${1 + (i % 2)} SELECTED` } : { selection: 'AGREEMENT: RADIOLOGIST 1' }),
    };
    for (const a of sub.assessments) {
      a.source = src;
      for (const t of a.targets) t.source = src;
      for (const n of a.nonTargets) n.source = src;
    }
  });
  return s;
}
const get = (ds: Dataset[], name: string) => ds.find((d) => d.name === name)!;
const col = (d: Dataset, name: string) => {
  const i = d.columns.findIndex((c) => c.name === name);
  expect(i).toBeGreaterThanOrEqual(0);
  return d.rows.map((r) => r[i]);
};

test('RS carries RSEVAL / RSEVALID; TU, TR likewise; every provenance dataset names the adjudicator and the selection', () => {
  const input = reviewed();
  const { datasets } = deriveEndpointDatasets(input, {}, { blinded: true });
  const rs = get(datasets, 'RS');
  expect(rs.columns.map((c) => c.name).slice(12, 14)).toEqual(['RSEVAL', 'RSEVALID']);
  expect(new Set(col(rs, 'RSEVAL'))).toEqual(new Set(['INDEPENDENT ASSESSOR']));
  expect(new Set(col(rs, 'RSEVALID'))).toEqual(new Set(['RADIOLOGIST 1', 'RADIOLOGIST 2']));
  // each row's evaluator id is its subject's reader's (subjects 0, 2, 4 ... read by RADIOLOGIST 1)
  const byUsubjid = new Map(input.subjects.map((s, i) => [s.usubjid, i]));
  const u = col(rs, 'USUBJID');
  col(rs, 'RSEVALID').forEach((v, k) => expect(v).toBe(`RADIOLOGIST ${1 + (byUsubjid.get(String(u[k]))! % 2)}`));
  col(rs, 'READER').forEach((v, k) => expect(v).toBe(byUsubjid.get(String(u[k]))! % 2 ? 'reader.b' : 'reader.a'));
  for (const [name, p] of [['TU', 'TU'], ['TR', 'TR']]) expect(new Set(col(get(datasets, name), `${p}EVALID`))).toEqual(new Set(['RADIOLOGIST 1', 'RADIOLOGIST 2']));
  for (const name of ['TU', 'TR', 'RS', 'ADTR', 'ADRS', 'ADTTE']) {
    const d = get(datasets, name);
    const us = col(d, 'USUBJID');
    col(d, 'ADJUDID').forEach((v, k) => expect(v).toBe(byUsubjid.get(String(us[k]))! % 3 === 0 ? 'adj.one' : null));
    expect(col(d, 'BICRSEL').every((v) => typeof v === 'string' && v.length > 0)).toBe(true);
    // the provenance columns stay one block
    const at = d.columns.findIndex((c) => c.name === 'READID');
    expect(d.columns.slice(at, at + 7).map((c) => c.name)).toEqual(['READID', 'READER', 'MODELID', 'MODELVER', 'MODELSHA', 'ADJUDID', 'BICRSEL']);
  }
});

test('without reviewProvenance the datasets are unchanged: no evaluator or adjudication columns', () => {
  const input = reviewed();
  delete input.reviewProvenance;
  const { datasets } = deriveEndpointDatasets(input, {}, { blinded: true });
  for (const d of datasets) expect(d.columns.map((c) => c.name).filter((n) => /EVAL|ADJUDID|BICRSEL/.test(n))).toEqual([]);
});

test('worker threads give the same bytes with review provenance', async () => {
  const input = reviewed();
  const one = deriveEndpointTables(input, {}, { blinded: false });
  const par = await deriveEndpointTablesParallel(input, {}, { blinded: false }, { threads: 2, sendBatch: 3 });
  for (let i = 0; i < one.tables.length; i++) {
    expect(tableToDataset(par.tables[i]!)).toEqual(tableToDataset(one.tables[i]!));
    expect(writeTableFile(par.tables[i]!, META, 'csv').equals(writeTableFile(one.tables[i]!, META, 'csv'))).toBe(true);
  }
});

test('the SDTM import reads our TU/TR back by evaluator', () => {
  const input = reviewed();
  const { datasets } = deriveEndpointDatasets(input, {}, { blinded: true });
  const r = importSdtmAssessments(get(datasets, 'TU'), get(datasets, 'TR'), get(datasets, 'RS'), { evaluator: 'INDEPENDENT ASSESSOR', studyId: input.studyId });
  expect(r.study.subjects.map((s) => s.usubjid).sort()).toEqual(input.subjects.map((s) => s.usubjid).sort());
  const none = importSdtmAssessments(get(datasets, 'TU'), get(datasets, 'TR'), get(datasets, 'RS'), { evaluator: 'INVESTIGATOR', studyId: input.studyId });
  expect(none.study.subjects).toEqual([]);
});
