/**
 * Intention to treat (issue 13 section 1): every randomised subject of pharmaverse DM reaches ADSL, ADRS and
 * ADTTE, assessed or not, and ORR / DCR use the ITT denominator. The expected subjects, their dates and the
 * PFS of the subjects without tumour assessments are computed independently with pandas (/usr/bin/python3)
 * from DM and TR, applying the documented rules (randomised = ARM not 'Screen Failure' / 'Not Assigned' and no
 * ARMNRS; no assessment: censored at randomisation, a death within 2 x 42 + 7 days of randomisation is an
 * event, a later one censored at randomisation under the FDA table and an event under the admiral template).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { repoRoot } from '@app/core';
import type { Dataset, Value } from '@app/datasets';
import { deriveEndpointDatasets, importSdtmAssessments, responseRates, type ProtocolSettings } from '@app/endpoints';

const DIR = join(repoRoot(), 'tests/fixtures/cdisc/pharmaverse-sdtm');

function readGzCsv(name: string): Dataset {
  const text = gunzipSync(readFileSync(join(DIR, `${name}.csv.gz`))).toString('utf8');
  const [header, ...rows] = parse(text, { columns: false, skip_empty_lines: true }) as string[][];
  const numeric = (n: string) => /SEQ$|^VISITNUM$|STRESN$|DY$/.test(n);
  return {
    name: name.toUpperCase(), label: name, itemGroupOID: `IG.${name}`, standard: 'SDTM',
    columns: header.map((n) => ({ itemOID: `IT.${n}`, name: n, label: n, dataType: numeric(n) ? 'decimal' : 'string' })),
    rows: rows.map((r) => r.map((v, i): Value => (v === '' ? null : numeric(header[i]) ? Number(v) : v))),
  };
}

interface PySubject { usubjid: string; rand: string; death: string | null; tr: boolean; pfsFda: [string, number, number]; pfsAdmiral: [string, number, number] }
/** The reference, computed by pandas (independent of our code). */
function pandasReference(tr: string): PySubject[] {
  const code = `
import json, sys, pandas as pd
d = sys.argv[1]
dm = pd.read_csv(d + '/dm.csv.gz', dtype=str, keep_default_na=False)
tr = pd.read_csv(d + '/${tr}.csv.gz', dtype=str, keep_default_na=False)
rand = dm[~dm.ARM.isin(['Screen Failure', 'Not Assigned']) & (dm.ARMNRS == '')]
out = []
for _, r in rand.sort_values('USUBJID').iterrows():
    rd = pd.Timestamp(r.RFSTDTC[:10]); death = r.DTHDTC[:10] or None
    def pfs(fda):
        if death is None: return [r.RFSTDTC[:10], 1, 1]
        days = (pd.Timestamp(death) - rd).days
        if fda and days > 2 * 42 + 7: return [r.RFSTDTC[:10], 1, 1]
        return [death, 0, days + 1]
    out.append(dict(usubjid=r.USUBJID, rand=r.RFSTDTC[:10], death=death, tr=bool((tr.USUBJID == r.USUBJID).any()), pfsFda=pfs(True), pfsAdmiral=pfs(False)))
print(json.dumps(out))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', code, DIR], { maxBuffer: 16 << 20 }).toString('utf8'));
}

const col = (d: Dataset, n: string) => d.columns.findIndex((c) => c.name === n);
const get = (ds: Dataset[], n: string) => ds.find((d) => d.name === n)!;
/** Rows of a dataset as objects. */
const recs = (d: Dataset) => d.rows.map((r) => Object.fromEntries(d.columns.map((c, i) => [c.name, r[i]])) as Record<string, Value>);

describe('ITT on pharmaverse *_onco_recist + DM', () => {
  const tu = readGzCsv('tu_onco_recist');
  const tr = readGzCsv('tr_onco_recist');
  const rs = readGzCsv('rs_onco_recist');
  const dm = readGzCsv('dm');
  const ref = pandasReference('tr_onco_recist');
  const imported = importSdtmAssessments(tu, tr, rs, { dm });
  const derive = (x: Partial<ProtocolSettings> = {}) => deriveEndpointDatasets(imported.study, x, { blinded: false });
  const { datasets, issues } = derive();

  test('pandas finds many randomised subjects, only a few with tumour data (the case issue 13 describes)', () => {
    expect(ref.length).toBeGreaterThan(100);
    expect(ref.filter((x) => x.tr).length).toBeGreaterThan(0);
    expect(ref.filter((x) => x.tr).length).toBeLessThan(ref.length / 10);
    expect(issues).toEqual([]);
  });

  test('every randomised DM subject is in ADSL (ITTFL = Y, RANDDT = RFSTDTC), ADRS and ADTTE; nobody else', () => {
    const ids = ref.map((x) => x.usubjid);
    expect(imported.study.subjects.map((s) => s.usubjid)).toEqual(ids);
    const adsl = recs(get(datasets, 'ADSL'));
    expect(adsl.map((r) => r.USUBJID)).toEqual(ids);
    expect(adsl.map((r) => [r.ITTFL, r.RANDDT, r.DTHDT ?? null])).toEqual(ref.map((x) => ['Y', x.rand, x.death]));
    expect(adsl.filter((r) => r.TUMASFL === 'Y').map((r) => r.USUBJID)).toEqual(ref.filter((x) => x.tr).map((x) => x.usubjid));
    for (const [name, params] of [['ADRS', ['BOR', 'CBOR', 'RSP', 'CRSP', 'DCR']], ['ADTTE', ['PFS']]] as const) {
      const rows = recs(get(datasets, name));
      for (const p of params) expect([name, p, rows.filter((r) => r.PARAMCD === p).map((r) => r.USUBJID)]).toEqual([name, p, ids]);
      expect(new Set(rows.map((r) => r.ITTFL))).toEqual(new Set(['Y']));
    }
  });

  test('a subject without assessments: BOR / CBOR MISSING (no date), RSP / CRSP / DCR N, PFS censored at randomisation or a death per the FDA table', () => {
    const adrs = recs(get(datasets, 'ADRS'));
    const adtte = recs(get(datasets, 'ADTTE'));
    const none = ref.filter((x) => !x.tr);
    for (const x of none) {
      const p = (cd: string) => adrs.find((r) => r.USUBJID === x.usubjid && r.PARAMCD === cd)!;
      expect([x.usubjid, ...['BOR', 'CBOR', 'RSP', 'CRSP', 'DCR'].map((cd) => [p(cd).AVALC, p(cd).AVAL, p(cd).ADT])]).toEqual([x.usubjid, ['MISSING', 7, null], ['MISSING', 7, null], ['N', 0, null], ['N', 0, null], ['N', 0, null]]);
      const pfs = adtte.find((r) => r.USUBJID === x.usubjid && r.PARAMCD === 'PFS')!;
      expect([x.usubjid, pfs.ADT, pfs.CNSR, pfs.AVAL, pfs.STARTDT]).toEqual([x.usubjid, ...x.pfsFda, x.rand]);
    }
    // the deaths in DM (no tumour data): early ones are events, the late one is censored at randomisation
    expect(none.filter((x) => x.death && x.pfsFda[1] === 0).length).toBeGreaterThan(0);
    expect(none.filter((x) => x.death && x.pfsFda[1] === 1).length).toBeGreaterThan(0);
  });

  test('pfsDeathAfterMissedAssessments = event (admiral template): every death without assessment is a PFS event', () => {
    const s = derive({ pfsDeathAfterMissedAssessments: 'event' });
    const adtte = recs(get(s.datasets, 'ADTTE'));
    for (const x of ref.filter((y) => !y.tr)) {
      const pfs = adtte.find((r) => r.USUBJID === x.usubjid && r.PARAMCD === 'PFS')!;
      expect([x.usubjid, pfs.ADT, pfs.CNSR, pfs.AVAL]).toEqual([x.usubjid, ...x.pfsAdmiral]);
    }
    expect(s.settings.pfsDeathAfterMissedAssessments).toBe('event');
  });

  test('missingAsNe: BOR and CBOR NE for the subjects without assessments', () => {
    const adrs = recs(get(derive({ missingAsNe: true }).datasets, 'ADRS'));
    for (const x of ref.filter((y) => !y.tr))
      for (const cd of ['BOR', 'CBOR']) expect([x.usubjid, cd, adrs.find((r) => r.USUBJID === x.usubjid && r.PARAMCD === cd)!.AVALC]).toEqual([x.usubjid, cd, 'NE']);
  });

  test('ORR and DCR use the ITT denominator (the pandas count), overall and by arm', () => {
    const adrs = get(datasets, 'ADRS');
    for (const p of ['CRSP', 'RSP', 'DCR'] as const) {
      const [r] = responseRates(adrs, p);
      expect([p, r.n, r.population, r.excluded]).toEqual([p, ref.length, 'ITT', 0]);
    }
    const dmArm = new Map(dm.rows.map((r) => [r[col(dm, 'USUBJID')], r[col(dm, 'ARM')]]));
    const byArm = responseRates(adrs, 'CRSP', { byArm: true });
    const expected = new Map<string, number>();
    for (const x of ref) expected.set(String(dmArm.get(x.usubjid)), (expected.get(String(dmArm.get(x.usubjid))) ?? 0) + 1);
    expect(byArm.map((r) => [r.arm, r.n])).toEqual([...expected.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  });

  test('a screen failure with tumour data is kept with ITTFL = N and left out of the rates; a randomised subject without RFSTDTC is reported', () => {
    const withTr = ref.find((x) => x.tr)!;
    const noTr = ref.find((x) => !x.tr)!;
    const U = col(dm, 'USUBJID');
    const edited: Dataset = {
      ...dm,
      rows: dm.rows.map((r) =>
        r[U] === withTr.usubjid ? r.map((v, i) => (i === col(dm, 'ARM') ? 'Screen Failure' : i === col(dm, 'ARMCD') ? 'Scrnfail' : v))
          : r[U] === noTr.usubjid ? r.map((v, i) => (i === col(dm, 'RFSTDTC') ? null : v)) : r),
    };
    const imp = importSdtmAssessments(tu, tr, rs, { dm: edited });
    expect(imp.issues.some((i) => i.usubjid === withTr.usubjid && /not randomised \(ARM Screen Failure\)/.test(i.message))).toBe(true);
    expect(imp.issues.some((i) => i.usubjid === noTr.usubjid && /randomised subject without a randomisation date/.test(i.message))).toBe(true);
    expect(imp.study.subjects.map((s) => s.usubjid)).not.toContain(noTr.usubjid);
    const { datasets: ds } = deriveEndpointDatasets(imp.study, {}, { blinded: true });
    const adsl = recs(get(ds, 'ADSL'));
    expect(adsl.find((r) => r.USUBJID === withTr.usubjid)!.ITTFL).toBe('N');
    expect(adsl.filter((r) => r.ITTFL === 'Y')).toHaveLength(ref.length - 2);
    const [orr] = responseRates(get(ds, 'ADRS'), 'CRSP');
    expect([orr.n, orr.excluded]).toEqual([ref.length - 2, 1]);
    expect(get(ds, 'ADSL').columns.map((c) => c.name)).not.toContain('ARM');
  });
});
