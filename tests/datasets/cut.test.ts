import { createHash } from 'node:crypto';
import {
  CutFormat, Dataset, assertBlinded, buildDataCut, readDataset, readDatasetJson, readManifest, verifyDataCut,
} from '@app/datasets';
import { META, fixture } from './helpers';
import { expectInputError } from '../support/assertions';


const adtte = readDatasetJson(fixture('adtte.json'));
const BLINDING = ['TRTP', 'TRTA', 'TRTAN'];
const blindedAdtte: Dataset = {
  ...adtte,
  columns: adtte.columns.filter((c) => !BLINDING.includes(c.name)),
  rows: adtte.rows.map((r) => r.filter((_, i) => !BLINDING.includes(adtte.columns[i].name))),
};
const FORMATS: CutFormat[] = ['json', 'ndjson', 'dsjc', 'xpt', 'csv'];
const input = () => ({
  cutId: 'CUT-2024-05-31',
  studyId: 'STUDY01',
  cutoffDate: '2024-05-31',
  datasets: [structuredClone(blindedAdtte)],
  settings: { recist: '1.1', confirmationWeeks: 4, nested: { b: 2, a: [1, 'x'] } },
  meta: { ...META },
  formats: FORMATS,
  codeVersion: 'endpoint-service@0.1.0+abc123',
  blinded: true,
});
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('buildDataCut', () => {
  const a = buildDataCut(input());

  it('writes one file per dataset and format plus manifest.json, each with its sha256', () => {
    expect(a.files.map((f) => f.path)).toEqual(['adtte.csv', 'adtte.dsjc', 'adtte.json', 'adtte.ndjson', 'adtte.xpt', 'manifest.json']);
    for (const f of a.files) expect(f.sha256).toBe(sha(f.bytes));
    const m = JSON.parse(a.files.at(-1)!.bytes.toString('utf8'));
    expect(m).toEqual(a.manifest);
    expect(m.cutoffDate).toBe('2024-05-31');
    expect(m.codeVersion).toBe('endpoint-service@0.1.0+abc123');
    expect(m.settings).toEqual({ confirmationWeeks: 4, nested: { a: [1, 'x'], b: 2 }, recist: '1.1' });
    for (const e of m.files) {
      const f = a.files.find((x) => x.path === e.path)!;
      expect(e.size).toBe(f.bytes.length);
      expect(e.sha256).toBe(sha(f.bytes));
    }
    // the manifest hash covers everything but itself
    const { manifestSha256, ...rest } = m;
    const canon = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
    expect(manifestSha256).toBe(sha(Buffer.from(JSON.stringify(canon(rest), null, 2) + '\n')));
  });

  it('is byte-identical when re-run on the same inputs', () => {
    const b = buildDataCut(input());
    expect(b.files.map((f) => f.path)).toEqual(a.files.map((f) => f.path));
    b.files.forEach((f, i) => expect(f.bytes.equals(a.files[i].bytes)).toBe(true));
    expect(b.manifest).toEqual(a.manifest);
  });

  it('every data file reads back to the same values', () => {
    for (const f of a.files.filter((x) => x.path !== 'manifest.json')) {
      const ds = readDataset(f.bytes, f.path, f.path.endsWith('.csv') || f.path.endsWith('.xpt') ? { columns: blindedAdtte.columns } : {});
      expect(ds.rows).toEqual(blindedAdtte.rows);
    }
  });

  it('a different cut-off or setting changes the manifest hash', () => {
    expect(buildDataCut({ ...input(), cutoffDate: '2024-06-01' }).manifest.manifestSha256).not.toBe(a.manifest.manifestSha256);
    expect(buildDataCut({ ...input(), settings: { recist: '1.1' } }).manifest.manifestSha256).not.toBe(a.manifest.manifestSha256);
  });

  it('rejects bad cut parameters with clear errors', () => {
    expectInputError(() => buildDataCut({ ...input(), cutoffDate: '31/05/2024' }), 'datacut.invalid', /cutoffDate/);
    expectInputError(() => buildDataCut({ ...input(), formats: ['sas7bdat' as CutFormat] }), 'datacut.invalid', /unknown format/);
    expectInputError(() => buildDataCut({ ...input(), settings: { x: Number.NaN } }), 'datacut.invalid-settings', /\$\.x/);
    expectInputError(() => buildDataCut({ ...input(), datasets: [blindedAdtte, blindedAdtte] }), 'datacut.invalid', /twice/);
  });
});

describe('verifyDataCut (tamper detection)', () => {
  const { files, manifest } = buildDataCut(input());

  it('accepts the untouched cut', () => {
    expect(verifyDataCut(files, manifest)).toEqual({ ok: true, problems: [] });
    expect(readManifest(files.at(-1)!.bytes)).toEqual(manifest);
  });

  it('detects a changed byte, a missing file, an extra file and an edited manifest', () => {
    const flipped = files.map((f) => (f.path === 'adtte.xpt' ? { path: f.path, bytes: Buffer.from(f.bytes) } : f));
    const x = flipped.find((f) => f.path === 'adtte.xpt')!;
    x.bytes[x.bytes.length - 100] ^= 0x01;
    const r1 = verifyDataCut(flipped, manifest);
    expect(r1.ok).toBe(false);
    expect(r1.problems.join('\n')).toMatch(/adtte\.xpt: sha256/);

    const r2 = verifyDataCut(files.filter((f) => f.path !== 'adtte.json'), manifest);
    expect(r2.problems).toContain('adtte.json: missing');

    const r3 = verifyDataCut([...files, { path: 'extra.csv', bytes: Buffer.from('a\r\n') }], manifest);
    expect(r3.problems).toContain('extra.csv: not listed in the manifest');

    const edited = structuredClone(manifest);
    edited.cutoffDate = '2025-01-01';
    const r4 = verifyDataCut(files, edited);
    expect(r4.problems.join('\n')).toMatch(/manifestSha256 does not match/);
    expect(r4.problems.join('\n')).toMatch(/manifest\.json: file bytes differ/);
    // re-hashing the edited manifest does not help: manifest.json on storage still differs
    const mbytes = Buffer.from(files.at(-1)!.bytes.toString('utf8').replace('"2024-05-31"', '"2025-01-01"'));
    expectInputError(() => readManifest(mbytes), 'datacut.tampered');
  });
});

describe('assertBlinded', () => {
  it('throws on treatment-arm columns and names them', () => {
    expectInputError(() => assertBlinded([adtte]), 'datacut.unblinded', /ADTTE\.TRTP, ADTTE\.TRTA, ADTTE\.TRTAN/);
    expectInputError(() => buildDataCut({ ...input(), datasets: [adtte] }), 'datacut.unblinded');
    for (const name of ['ARM', 'ARMCD', 'ACTARM', 'ACTARMCD', 'TRT01P', 'TRT01A', 'TRTP', 'TRTA']) {
      const ds: Dataset = { ...blindedAdtte, columns: [{ itemOID: `IT.X.${name}`, name, label: 'x', dataType: 'string' }], rows: [] };
      expectInputError(() => assertBlinded([ds]), 'datacut.unblinded', new RegExp(name));
    }
    const byLabel: Dataset = { ...blindedAdtte, columns: [{ itemOID: 'IT.X.GRP', name: 'GRP', label: 'Description of Treatment Arm', dataType: 'string' }], rows: [] };
    expectInputError(() => assertBlinded([byLabel]), 'datacut.unblinded', /GRP/);
  });

  it('passes a dataset without them; an unblinded cut may keep them', () => {
    expect(() => assertBlinded([blindedAdtte])).not.toThrow();
    expect(buildDataCut({ ...input(), datasets: [adtte], blinded: false }).manifest.blinded).toBe(false);
  });
});
