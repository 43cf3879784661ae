/**
 * SAP choices (issue 13 section 1), each configurable in PROTOCOL_CONFIG `endpoints` and recorded in the cut
 * manifest: missingAsNe, pfsDeathAfterMissedAssessments (FDA table vs admiral template), dorStart (first
 * confirmed response vs first response) and pdSource (overall responses vs a separate PD date, admiralonco
 * `source_pd`). Expected values follow from the documented rules on small hand-built subjects (derivations
 * in the comments: one target lesion, sums in tenths of mm, RECIST 1.1 PR <= -30 % from baseline, PD >= +20 %
 * and +5 mm over the nadir; assessment interval 42 days, window 7: more than 2 x 42 + 7 = 91 days since the
 * last adequate assessment = two or more missed assessments).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { repoRoot } from '@app/core';
import { buildDataCut, type Dataset, type Value } from '@app/datasets';
import {
  confirmedBestOverallResponse, bestOverallResponse, deriveEndpointDatasets, deriveEndpointTablesParallel, derivePfs, deriveVisitResponses,
  importSdtmAssessments, resolveSettings, type ProtocolSettings, type SubjectInput,
} from '@app/endpoints';
import { loadProtocolConfig } from '@app/pipeline';
import { tl, visit } from './helpers';

const D0 = Date.UTC(2024, 0, 1) / 86_400_000;
const day = (o: number) => new Date((D0 + o) * 86_400_000).toISOString().slice(0, 10);
/** One lesion, baseline on day 0 (= randomisation); plan = [dayOffset, sumTenths | 'NOT_ASSESSED'][]. */
const subj = (u: string, plan: [number, number | 'NOT_ASSESSED'][], extra: Partial<SubjectInput> = {}): SubjectInput => ({
  usubjid: u, randDate: day(0), assessments: plan.map(([o, v], i) => visit(i, day(o), [tl('T1', v)])), ...extra,
});
const S = (x: Partial<ProtocolSettings> = {}) => resolveSettings(x);
const pfs = (s: SubjectInput, st: ProtocolSettings) => derivePfs(deriveVisitResponses(s), s, st);
const recs = (d: Dataset) => d.rows.map((r) => Object.fromEntries(d.columns.map((c, i) => [c.name, r[i]])) as Record<string, Value>);
const get = (ds: Dataset[], n: string) => recs(ds.find((d) => d.name === n)!);

describe('missingAsNe (admiralonco missing_as_ne)', () => {
  test('no post-baseline assessment: MISSING by default, NE with the option; a subject with assessments is unaffected', () => {
    const none = subj('A', [[0, 400]]);
    const ne = subj('B', [[0, 400], [42, 'NOT_ASSESSED']]);
    for (const f of [bestOverallResponse, confirmedBestOverallResponse]) {
      expect(f(deriveVisitResponses(none), none, S()).bor).toBe('MISSING');
      expect(f(deriveVisitResponses(none), none, S({ missingAsNe: true }))).toEqual({ bor: 'NE', date: null, visit: null });
      expect(f(deriveVisitResponses(ne), ne, S({ missingAsNe: true }))).toMatchObject({ bor: 'NE', date: day(42) });
    }
    const adrs = get(deriveEndpointDatasets({ studyId: 'X', subjects: [none] }, { missingAsNe: true }, { blinded: true }).datasets, 'ADRS');
    expect(adrs.filter((r) => r.PARAMCD === 'BOR' || r.PARAMCD === 'CBOR').map((r) => [r.PARAMCD, r.AVALC, r.AVAL])).toEqual([['BOR', 'NE', 6], ['CBOR', 'NE', 6]]);
  });
});

describe('pfsDeathAfterMissedAssessments: FDA table (censor) vs admiral template (event)', () => {
  test('death 158 days after the last adequate assessment: censored there (FDA) or an event (admiral)', () => {
    const s = subj('A', [[0, 400], [42, 380]], { deathDate: day(200) });
    expect(pfs(s, S())).toMatchObject({ adt: day(42), cnsr: 1, evntdesc: 'DEATH AFTER 2 OR MORE MISSED ASSESSMENTS', aval: 43 });
    expect(pfs(s, S({ pfsDeathAfterMissedAssessments: 'event' }))).toMatchObject({ adt: day(200), cnsr: 0, evntdesc: 'DEATH', aval: 201 });
  });
  test('death without any assessment: censored at randomisation after 91 days (FDA), an event under the admiral template; an early one is an event either way', () => {
    const late = subj('A', [], { deathDate: day(100) });
    expect(pfs(late, S())).toMatchObject({ adt: day(0), cnsr: 1, aval: 1, srcvar: 'RANDDT' });
    expect(pfs(late, S({ pfsDeathAfterMissedAssessments: 'event' }))).toMatchObject({ adt: day(100), cnsr: 0, aval: 101 });
    const early = subj('B', [], { deathDate: day(91) });
    expect(pfs(early, S())).toMatchObject({ adt: day(91), cnsr: 0 });
  });
  test('a PD after missed assessments still follows missedAssessmentsForCensoring (0 disables it, as in the admiral template)', () => {
    const s = subj('A', [[0, 400], [42, 380], [200, 600]]);
    expect(pfs(s, S({ pfsDeathAfterMissedAssessments: 'event' }))).toMatchObject({ adt: day(42), cnsr: 1, evntdesc: 'DISEASE PROGRESSION AFTER 2 OR MORE MISSED ASSESSMENTS' });
    expect(pfs(s, S({ pfsDeathAfterMissedAssessments: 'event', missedAssessmentsForCensoring: 0 }))).toMatchObject({ adt: day(200), cnsr: 0 });
  });
});

describe('dorStart: first confirmed response vs first response', () => {
  // sums 400 -> 250 (PR, -37.5 %) -> 290 (SD: -27.5 % from baseline, +16 % over the nadir 250) -> 250 (PR)
  // -> 250 (PR) -> 500 (PD). PR d42: its candidate is the PR of d126 and an SD lies between: not confirmed.
  // PR d126 is confirmed by the PR of d168 (42 days later). First response d42, first confirmed d126, PD d210.
  const a = subj('A', [[0, 400], [42, 250], [84, 290], [126, 250], [168, 250], [210, 500]]);
  // PR then PD: a responder, never confirmed
  const b = subj('B', [[0, 400], [42, 250], [84, 500]]);
  const dor = (x: Partial<ProtocolSettings>) => get(deriveEndpointDatasets({ studyId: 'X', subjects: [a, b] }, x, { blinded: true }).datasets, 'ADTTE').filter((r) => r.PARAMCD === 'DOR');
  test('confirmedResponse (default): confirmed responders from the first confirmed CR / PR', () => {
    expect(dor({}).map((r) => [r.USUBJID, r.STARTDT, r.ADT, r.CNSR, r.AVAL, r.PARAM])).toEqual([['A', day(126), day(210), 0, 85, 'Duration of Confirmed Response (days)']]);
  });
  test('firstResponse (admiralonco template, from RSP): every responder from the first CR / PR', () => {
    expect(dor({ dorStart: 'firstResponse' }).map((r) => [r.USUBJID, r.STARTDT, r.ADT, r.CNSR, r.AVAL, r.PARAM])).toEqual([
      ['A', day(42), day(210), 0, 169, 'Duration of Response (days)'],
      ['B', day(42), day(84), 0, 43, 'Duration of Response (days)'],
    ]);
  });
  test('RSP / CRSP carry the first (confirmed) response date', () => {
    const adrs = get(deriveEndpointDatasets({ studyId: 'X', subjects: [a, b] }, {}, { blinded: true }).datasets, 'ADRS');
    const p = (u: string, cd: string) => adrs.find((r) => r.USUBJID === u && r.PARAMCD === cd)!;
    expect([p('A', 'RSP').ADT, p('A', 'CRSP').ADT, p('A', 'CBOR').AVALC, p('B', 'RSP').AVALC, p('B', 'CRSP').AVALC, p('B', 'CRSP').ADT]).toEqual([day(42), day(126), 'PR', 'Y', 'N', null]);
  });
});

describe('pdSource: a separate PD date (admiralonco source_pd) instead of the overall responses', () => {
  // 400 -> 250 (PR) -> NE -> 240 (PR): by the overall responses the PR of d42 is confirmed at d126 (one NE
  // between), no PD. With a separate PD on d84 only d42 and d84 count: the PR is unconfirmed (SD), PFS ends d84.
  const a = subj('A', [[0, 400], [42, 250], [84, 'NOT_ASSESSED'], [126, 240]], { pdDate: day(84) });
  test('BOR / confirmation use the assessments up to the PD date; PFS takes it as the progression', () => {
    expect(confirmedBestOverallResponse(deriveVisitResponses(a), a, S()).bor).toBe('PR');
    expect(pfs(a, S())).toMatchObject({ adt: day(126), cnsr: 1 });
    expect(confirmedBestOverallResponse(deriveVisitResponses(a), a, S({ pdSource: 'pdDate' })).bor).toBe('SD');
    expect(pfs(a, S({ pdSource: 'pdDate' }))).toMatchObject({ adt: day(84), cnsr: 0, evntdesc: 'DISEASE PROGRESSION', srcdom: 'RS' });
    // a PD date that is no assessment date points at ADSL.PDDT
    expect(pfs({ ...a, pdDate: day(100) }, S({ pdSource: 'pdDate' }))).toMatchObject({ adt: day(100), cnsr: 0, srcdom: 'ADSL', srcvar: 'PDDT' });
  });
  test('without a PD date every assessment counts, even after an overall-response PD (source_pd: "all observations")', () => {
    // 400 -> 500 (PD) -> 200 (PR) -> 200 (PR, 42 days later)
    const b = subj('B', [[0, 400], [42, 500], [84, 200], [126, 200]]);
    expect(confirmedBestOverallResponse(deriveVisitResponses(b), b, S()).bor).toBe('PD');
    expect(confirmedBestOverallResponse(deriveVisitResponses(b), b, S({ pdSource: 'pdDate' }))).toMatchObject({ bor: 'PR', date: day(84) });
    expect(pfs(b, S({ pdSource: 'pdDate' }))).toMatchObject({ cnsr: 1, adt: day(126) });
  });
  test('SDTM import: pdDate is the chosen evaluator\'s first RS OVRLRESP = PD (pandas reference)', () => {
    const dir = join(repoRoot(), 'tests/fixtures/cdisc/pharmaverse-sdtm');
    const read = (name: string): Dataset => {
      const [header, ...rows] = parse(gunzipSync(readFileSync(join(dir, `${name}.csv.gz`))).toString('utf8'), { columns: false, skip_empty_lines: true }) as string[][];
      return { name, label: name, itemGroupOID: name, standard: 'SDTM', columns: header.map((n) => ({ itemOID: n, name: n, label: n, dataType: n === 'VISITNUM' || n.endsWith('SEQ') ? 'decimal' : 'string' })), rows: rows.map((r) => r.map((v, i) => (v === '' ? null : header[i] === 'VISITNUM' || header[i].endsWith('SEQ') ? Number(v) : v))) };
    };
    const code = `
import json, sys, pandas as pd
rs = pd.read_csv(sys.argv[1] + '/rs_onco_recist.csv.gz', dtype=str, keep_default_na=False)
pd_ = rs[(rs.RSEVAL == 'INVESTIGATOR') & (rs.RSTESTCD == 'OVRLRESP') & (rs.RSSTRESC == 'PD')]
print(json.dumps(pd_.groupby('USUBJID').RSDTC.min().to_dict()))`;
    const want = JSON.parse(execFileSync('/usr/bin/python3', ['-c', code, dir]).toString()) as Record<string, string>;
    expect(Object.keys(want).length).toBeGreaterThan(0);
    const { study } = importSdtmAssessments(read('tu_onco_recist'), read('tr_onco_recist'), read('rs_onco_recist'));
    expect(Object.fromEntries(study.subjects.filter((s) => s.pdDate).map((s) => [s.usubjid, s.pdDate]))).toEqual(want);
  });
});

describe('PROTOCOL_CONFIG endpoints -> derivation -> cut manifest', () => {
  test('the SAP options of the protocol file are used and recorded in the manifest; a bad value is refused naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sap-'));
    try {
      const file = join(dir, 'protocol.json');
      const sap = { missingAsNe: true, pfsDeathAfterMissedAssessments: 'event', dorStart: 'firstResponse', pdSource: 'pdDate', confirmationAcceptSd: true };
      writeFileSync(file, JSON.stringify({ protocolId: 'ONC-13', endpoints: sap }));
      const cfg = loadProtocolConfig({ PROTOCOL_CONFIG: file, PROTOCOL_ID: 'X' });
      const study = { studyId: 'ONC-13', subjects: [subj('A', [[0, 400]]), subj('B', [[0, 400], [42, 250], [84, 500]])] };
      const derived = await deriveEndpointTablesParallel(study, cfg.endpoints, { blinded: true });
      const meta = { studyOID: 'ONC-13', metaDataVersionOID: 'MDV.1', creationDateTime: '2025-01-01T00:00:00', originator: 't', sourceSystem: { name: 'x', version: '0' } };
      const { manifest } = buildDataCut({ cutId: 'c1', studyId: 'ONC-13', cutoffDate: '2025-01-01', datasets: derived.tables, settings: derived.settings, meta, formats: ['csv'], codeVersion: 't', blinded: true });
      expect(manifest.settings).toMatchObject({ ...sap, missedAssessmentsForCensoring: 2, confirmationDays: 28 });
      expect(manifest.datasets.map((d) => d.name)).toContain('ADSL');
      // and the defaults are recorded too when the protocol does not set them
      expect(resolveSettings({})).toMatchObject({ missingAsNe: false, pfsDeathAfterMissedAssessments: 'censor', dorStart: 'confirmedResponse', pdSource: 'overallResponse' });
      writeFileSync(file, JSON.stringify({ endpoints: { dorStart: 'firstConfirmed' } }));
      await expect(deriveEndpointTablesParallel(study, loadProtocolConfig({ PROTOCOL_CONFIG: file, PROTOCOL_ID: 'X' }).endpoints, { blinded: true })).rejects.toThrow(/dorStart must be one of/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
