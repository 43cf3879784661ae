import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { isInputError, repoRoot } from '@app/core';
import { generatePhantomStudy, transcode, type PhantomFile } from '@app/phantom';
import {
  burnedInAnnotationCheck, deidentify, deriveDateShiftDays, pseudonymUid, shiftDA, shiftDT, PROFILE_TABLE, type DeidContext, type DeidResult,
} from '@app/deid';

const PY = '/usr/bin/python3';
const helper = join(__dirname, 'phi_values.py');
const py = <T>(...args: string[]): T => JSON.parse(execFileSync(PY, [helper, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 })) as T;
const dumps = (...paths: string[]): Dump[] => py<Dump[]>('dump', ...paths);
const dump1 = (path: string): Dump => dumps(path)[0];
type Collected = { src: string; values: { tag: string; vr: string; value: string }[] };
const collect = (...paths: string[]): Collected[] => py<Collected[]>('collect', tagsJson, ...paths);
const pyEval = (code: string): string => execFileSync(PY, ['-c', code], { encoding: 'utf8' }).trim();

/** dciodvfy (Debian dicom3tools) IOD validation: the 'Error' lines (it fails loudly if the tool is missing). */
const iodErrors = (path: string): string[] => {
  const r = spawnSync('dciodvfy', [path], { encoding: 'utf8' });
  if (r.error) throw new Error(`dciodvfy (Debian package dicom3tools) could not run: ${r.error.message}`);
  return `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('Error'));
};

const SECRET = 'trial-301-uid-secret-do-not-log';
const ctxFor = (subjectId: string, timePointId: string): DeidContext => ({
  protocolId: 'ONC-301', subjectId, readingId: `RD-${subjectId.slice(-3)}X`, timePointId,
  dateShiftDays: deriveDateShiftDays(SECRET, subjectId), uidSecret: SECRET, sponsorName: 'Acme Oncology',
});

interface Dump {
  StudyDate: string; SeriesDate: string; AcquisitionDateTime: string | null; PatientName: string; PatientID: string; StudyInstanceUID: string;
  SeriesInstanceUID: string; SOPInstanceUID: string; FrameOfReferenceUID: string; PatientIdentityRemoved: string; ClinicalTrialSubjectReadingID: string;
  ClinicalTrialSubjectID: string; ClinicalTrialTimePointID: string; ClinicalTrialProtocolID: string; LongitudinalTemporalInformationModified: string;
  SeriesDescription: string | null; StudyDescription: string | null; PatientBirthDate: string | null; ts: string; mediaSop: string; pixelSha: string | null;
  codes: string[]; refImage: string[]; private: number; overlay: number; StudyTime: string;
}

let work: string;
let tagsJson: string;
let phantom: PhantomFile[];
const outPath = (name: string): string => join(work, name);
const deidToFile = (src: string, ctx: DeidContext, name: string): { res: DeidResult; path: string } => {
  const res = deidentify(readFileSync(src), ctx);
  const path = outPath(name);
  writeFileSync(path, res.bytes);
  return { res, path };
};
/** Every encoding in which a value could have been written (UTF-8 for ISO_IR 192, Latin-1 for ISO_IR 100). */
const occurrences = (bytes: Buffer, value: string): boolean =>
  bytes.includes(Buffer.from(value, 'utf8')) || bytes.includes(Buffer.from(value, 'latin1'));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'deid-test-'));
  tagsJson = join(work, 'tags.json');
  writeFileSync(tagsJson, JSON.stringify([...PROFILE_TABLE.keys()].map((t) => t.toString(16).padStart(8, '0'))));
  phantom = (await generatePhantomStudy({ outDir: join(work, 'phantom'), subjects: 2, visits: 2, rows: 64, cols: 64, slices: 3, withPhi: true, seed: 21 })).files;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('no original identifying value survives (phantoms with planted PHI)', () => {
  it('every planted PHI value, UID and date is absent from the de-identified bytes', () => {
    const files = phantom.filter((x) => x.subjectId === 'SUBJ-001');
    const collected = collect(...files.map((f) => f.path));
    for (const [i, f] of files.entries()) {
      const { values } = collected[i];
      const { res } = deidToFile(f.path, ctxFor(f.subjectId, f.visit), `p-${f.visit}-${f.instanceNumber}.dcm`);
      const searchable = values.filter((v) => v.value.length >= 4);
      // the phantom plants a lot: names, addresses, institution, physicians, private blocks, sequences...
      expect(searchable.length).toBeGreaterThan(60);
      const leaked = searchable.filter((v) => occurrences(res.bytes, v.value));
      expect(leaked).toEqual([]);
      // 4 top-level; from slice 2 on, 2 more nested in ReferencedImageSequence (kept, cleaned recursively)
      expect(res.removedPrivateTags).toBe(f.instanceNumber === 1 ? 4 : 6);
    }
  });

  it('the output is valid: pydicom and dcmdump parse it; identity and clinical-trial attributes are set', () => {
    const f = phantom[1];
    const { res, path } = deidToFile(f.path, ctxFor(f.subjectId, f.visit), 'valid.dcm');
    const out = execFileSync('dcmdump', ['-q', '+E', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toContain('(0012,0062) CS [YES]');
    // dciodvfy (dicom3tools) validates the CT Image IOD: no errors after de-identification
    expect(iodErrors(path)).toEqual([]);
    const d = dump1(path);
    const ctx = ctxFor(f.subjectId, f.visit);
    expect(d.PatientName).toBe(ctx.readingId);
    expect(d.PatientID).toBe(ctx.readingId);
    expect(d.ClinicalTrialSubjectReadingID).toBe(ctx.readingId);
    expect(d.ClinicalTrialSubjectID).toBe(f.subjectId);
    expect(d.ClinicalTrialTimePointID).toBe(f.visit);
    expect(d.ClinicalTrialProtocolID).toBe('ONC-301');
    expect(d.PatientIdentityRemoved).toBe('YES');
    expect(d.LongitudinalTemporalInformationModified).toBe('MODIFIED');
    expect(d.codes).toEqual(['113100', '113107', '113105']);
    expect(d.private).toBe(0);
    expect(d.overlay).toBe(0);
    expect(d.PatientBirthDate).toBe('');
    // Clean Descriptors: the safe vocabulary survives, the patient's name does not
    expect(d.SeriesDescription).toBe('AXIAL 2.5 SOFT TISSUE FOR');
    expect(d.SOPInstanceUID).toBe(d.mediaSop);
    expect(d.SOPInstanceUID).toMatch(/^2\.25\.\d{1,39}$/);
    expect(res.uidMap.find((m) => m.original === f.sopInstanceUid)?.replacement).toBe(d.SOPInstanceUID);
    expect(res.pseudonyms.originalPatientId).toMatch(/^MRN/);
    expect(res.report.burnedInAnnotation.status).toBe('clear');
    // the report names tags only, never values
    expect(JSON.stringify(res.report)).not.toContain(res.pseudonyms.originalPatientId);
  });

  it('pixel data is byte-identical', () => {
    const f = phantom[0];
    const { path } = deidToFile(f.path, ctxFor(f.subjectId, f.visit), 'px.dcm');
    expect(dump1(path).pixelSha).toBe(dump1(f.path).pixelSha);
  });
});

describe('longitudinal consistency', () => {
  it("one subject's studies share the date shift (intervals exact) and UID mapping (cross-file references stay valid)", () => {
    const s1 = phantom.filter((f) => f.subjectId === 'SUBJ-001');
    const orig = dumps(...s1.map((f) => f.path));
    const deid = dumps(...s1.map((f, i) => deidToFile(f.path, ctxFor(f.subjectId, f.visit), `c-${i}.dcm`).path));
    const days = (a: string, b: string): number => (Date.parse(`${b.slice(0, 4)}-${b.slice(4, 6)}-${b.slice(6, 8)}`) - Date.parse(`${a.slice(0, 4)}-${a.slice(4, 6)}-${a.slice(6, 8)}`)) / 86400000;
    const shift = ctxFor('SUBJ-001', 'BL').dateShiftDays;
    for (let i = 0; i < s1.length; i++) {
      expect(days(orig[i].StudyDate, deid[i].StudyDate)).toBe(shift);
      expect(days(orig[i].AcquisitionDateTime!.slice(0, 8), deid[i].AcquisitionDateTime!.slice(0, 8))).toBe(shift);
      expect(deid[i].AcquisitionDateTime!.slice(8)).toBe(orig[i].AcquisitionDateTime!.slice(8)); // time of day kept
      expect(deid[i].StudyTime).toBe(orig[i].StudyTime);
      // interval between baseline and follow-up (the basis of PFS) is preserved exactly
      expect(days(deid[0].StudyDate, deid[i].StudyDate)).toBe(days(orig[0].StudyDate, orig[i].StudyDate));
    }
    const bl = s1.findIndex((f) => f.visit === 'BL');
    const fu = s1.findIndex((f) => f.visit === 'FU1');
    expect(days(deid[bl].StudyDate, deid[fu].StudyDate)).toBeGreaterThanOrEqual(42);
    // slice k references slice k-1: the reference must point at the de-identified UID of that slice
    for (let i = 0; i < s1.length; i++) {
      if (s1[i].instanceNumber === 1) continue;
      const prev = s1.findIndex((f) => f.visit === s1[i].visit && f.instanceNumber === s1[i].instanceNumber - 1);
      expect(deid[i].refImage).toEqual([deid[prev].SOPInstanceUID]);
      expect(deid[i].SeriesInstanceUID).toBe(deid[prev].SeriesInstanceUID);
      expect(deid[i].StudyInstanceUID).toBe(deid[prev].StudyInstanceUID);
    }
    // the same UID maps identically in separate calls
    expect(pseudonymUid(SECRET, s1[0].studyUid)).toBe(deid[0].StudyInstanceUID);
    expect(deid[0].StudyInstanceUID).not.toBe(s1[0].studyUid);
  });

  it('different subjects get different shifts and UIDs; a different secret gives different UIDs', () => {
    const a = phantom.find((f) => f.subjectId === 'SUBJ-001')!;
    const b = phantom.find((f) => f.subjectId === 'SUBJ-002')!;
    expect(deriveDateShiftDays(SECRET, 'SUBJ-001')).not.toBe(deriveDateShiftDays(SECRET, 'SUBJ-002'));
    const da = dump1(deidToFile(a.path, ctxFor(a.subjectId, 'BL'), 'sa.dcm').path);
    const db = dump1(deidToFile(b.path, ctxFor(b.subjectId, 'BL'), 'sb.dcm').path);
    expect(da.StudyInstanceUID).not.toBe(db.StudyInstanceUID);
    expect(da.PatientID).not.toBe(db.PatientID);
    expect(pseudonymUid('another-secret-of-16+', a.studyUid)).not.toBe(da.StudyInstanceUID);
    for (let i = 0; i < 50; i++) {
      const d = deriveDateShiftDays(SECRET, `S${i}`);
      expect(Number.isInteger(d) && d <= -366 && d >= -3650).toBe(true);
    }
  });
});

describe('encodings: deflated, big endian, implicit VR, encapsulated', () => {
  const cases: [string, string, string][] = [
    ['deflate', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.1'],
    ['big-endian', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.2'],
    ['implicit', '1.2.840.10008.1.2', '1.2.840.10008.1.2'],
    ['jpeg-ls', '1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.80'],
    ['rle', '1.2.840.10008.1.2.5', '1.2.840.10008.1.2.5'],
  ];
  for (const [syntax, tsIn, tsOut] of cases) {
    it(`${syntax}: PHI removed, syntax ${tsIn === tsOut ? 'kept' : 're-encoded as explicit LE'}, pixels identical`, async () => {
      const f = phantom[2];
      const [t] = await transcode([f.path], syntax as 'deflate', { outDir: join(work, `enc-${syntax}`) });
      const [{ values }] = collect(t);
      const { res, path } = deidToFile(t, ctxFor(f.subjectId, f.visit), `enc-${syntax}.dcm`);
      expect(res.report.transferSyntaxIn).toBe(tsIn);
      expect(res.report.transferSyntaxOut).toBe(tsOut);
      expect(res.report.reencoded !== undefined).toBe(tsIn !== tsOut);
      expect(values.filter((v) => v.value.length >= 4 && occurrences(res.bytes, v.value))).toEqual([]);
      const [d, o] = dumps(path, t);
      expect(d.ts).toBe(tsOut);
      expect(d.pixelSha).toBe(o.pixelSha);
      expect(d.PatientName).toBe(ctxFor(f.subjectId, f.visit).readingId);
      execFileSync('dcmdump', ['-q', '+E', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    });
  }
});

describe('real fixtures (tests/fixtures/dicom)', () => {
  const root = join(repoRoot(), 'tests/fixtures/dicom');
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  const all = walk(root).filter((p) => !/\.(md|tsv|txt)$/.test(p));
  const valid = all.filter((p) => !p.includes('/invalid/'));

  it('every valid fixture de-identifies; planted PHI in every Table E.1-1 attribute it carries is gone; pixels identical', () => {
    expect(valid.length).toBeGreaterThanOrEqual(35);
    let planted = 0;
    const tagsSeen = new Set<string>();
    const pairs = valid.map((src, i) => [src, outPath(`fx-${i}-planted.dcm`)]);
    writeFileSync(outPath('pairs.json'), JSON.stringify(pairs));
    const plantedFiles = py<{ src: string; tokens: { tag: string; vr: string; token: string }[] }[]>('plant', tagsJson, outPath('pairs.json'));
    const outs: string[] = [];
    for (const [i, { src, tokens }] of plantedFiles.entries()) {
      planted += tokens.length;
      tokens.forEach((t) => tagsSeen.add(t.tag));
      const { res, path } = deidToFile(pairs[i][1], ctxFor('SUBJ-900', 'BL'), `fx-${i}.dcm`);
      outs.push(path);
      const leaked = tokens.filter((t) => occurrences(res.bytes, t.token));
      expect({ src, leaked }).toEqual({ src, leaked: [] });
    }
    const before = dumps(...pairs.map((p) => p[1]));
    const after = dumps(...outs);
    for (const [i, src] of valid.entries()) {
      expect({ src, px: after[i].pixelSha }).toEqual({ src, px: before[i].pixelSha });
      expect(after[i].PatientIdentityRemoved).toBe('YES');
    }
    expect(planted).toBeGreaterThan(300);
    // the fixtures exercise a good part of the table (names, UIDs, dates, institution, descriptions...)
    for (const t of ['00100010', '00100020', '0020000D', '0020000E', '00080018', '00080020', '00080090', '00080080', '0008103E']) expect(tagsSeen).toContain(t);
  });

  it('dcmdump parses every de-identified fixture; de-identification adds no dciodvfy IOD error', () => {
    let compared = 0;
    for (const [i, src] of valid.entries()) {
      const { path } = deidToFile(src, ctxFor('SUBJ-901', 'FU1'), `fxd-${i}.dcm`);
      execFileSync('dcmdump', ['-q', '+E', path], { stdio: ['ignore', 'pipe', 'pipe'] });
      const before = iodErrors(src);
      if (before.some((l) => /read failed/.test(l))) continue; // dciodvfy cannot read the original (e.g. deflated)
      compared++;
      const added = iodErrors(path).filter((l) => !before.includes(l));
      expect({ src, added }).toEqual({ src, added: [] });
    }
    expect(compared).toBeGreaterThanOrEqual(30);
  });

  it('invalid files are rejected with InputError and an actionable message', () => {
    const expectInput = (p: string, code: string): void => {
      let err: unknown;
      try {
        deidentify(readFileSync(p), ctxFor('SUBJ-902', 'BL'));
      } catch (e) {
        err = e;
      }
      expect(isInputError(err)).toBe(true);
      expect((err as { code: string }).code).toBe(code);
      expect((err as Error).message.length).toBeGreaterThan(20);
    };
    expectInput(join(root, 'invalid/MR_truncated.dcm'), 'deid.truncated');
    expectInput(join(root, 'invalid/meta_missing_tsyntax.dcm'), 'deid.no-transfer-syntax');
    expectInput(join(root, 'invalid/no_meta.dcm'), 'deid.not-dicom');
    const junk = outPath('junk.dcm');
    writeFileSync(junk, Buffer.from('this is not a DICOM file at all, just text'));
    expectInput(junk, 'deid.not-dicom');
    const full = readFileSync(phantom[0].path);
    writeFileSync(outPath('cut.dcm'), full.subarray(0, 900));
    expectInput(outPath('cut.dcm'), 'deid.truncated');
  });

  it('rejects a bad context with a ConfigError naming the setting', () => {
    const buf = readFileSync(phantom[0].path);
    expect(() => deidentify(buf, { ...ctxFor('SUBJ-001', 'BL'), dateShiftDays: 0 })).toThrow(/dateShiftDays/);
    expect(() => deidentify(buf, { ...ctxFor('SUBJ-001', 'BL'), uidSecret: 'short' })).toThrow(/uidSecret/);
    expect(() => deidentify(buf, { ...ctxFor('SUBJ-001', 'BL'), readingId: 'A\\B' })).toThrow(/readingId/);
  });
});

describe('date shifting and burned-in annotation', () => {
  it('shifts DA and DT like Python datetime, keeping time and precision', () => {
    const cases: [string, number][] = [['20240115', -1234], ['20240301', -1], ['20000229', 365], ['19991231', 1]];
    for (const [d, n] of cases) {
      const ref = pyEval(`import datetime as D; print((D.date(${+d.slice(0, 4)},${+d.slice(4, 6)},${+d.slice(6)})+D.timedelta(days=${n})).strftime('%Y%m%d'))`);
      expect(shiftDA(d, n)).toBe(ref);
      expect(shiftDT(`${d}235959.123456+0100`, n)).toBe(`${ref}235959.123456+0100`);
    }
    expect(shiftDA('2024.01.15', -1)).toBe('20240114');
    expect(shiftDT('202403', -1)).toBe('202402');
    expect(shiftDA('20241332', 5)).toBeNull();
  });

  it('burnedInAnnotationCheck flags YES and risky captures for review, never passes them silently', () => {
    expect(burnedInAnnotationCheck({ BurnedInAnnotation: 'YES', Modality: 'CT' }).status).toBe('review');
    expect(burnedInAnnotationCheck({ Modality: 'US' }).status).toBe('review');
    expect(burnedInAnnotationCheck({ SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', Modality: 'OT' }).reasons.length).toBeGreaterThan(0);
    expect(burnedInAnnotationCheck({ BurnedInAnnotation: 'NO', Modality: 'US' }).status).toBe('clear');
    expect(burnedInAnnotationCheck(readFileSync(phantom[0].path)).status).toBe('clear');
    // a planted YES is reported by deidentify
    const p = outPath('bia.dcm');
    pyEval(`import pydicom; d=pydicom.dcmread('${phantom[0].path}'); d.BurnedInAnnotation='YES'; d.save_as('${p}')`);
    const r = deidentify(readFileSync(p), ctxFor('SUBJ-001', 'BL'));
    expect(r.report.burnedInAnnotation).toMatchObject({ status: 'review', burnedInAnnotation: 'YES' });
  });
});

describe('robustness: corrupted input never crashes, it is quarantined', () => {
  it('random truncations and byte flips give a result or an InputError, nothing else', () => {
    const sources = [phantom[1].path, join(repoRoot(), 'tests/fixtures/dicom/encapsulated/CT1_UNC.fragmented_bot_jpeg_ls.80.dcm'),
      join(repoRoot(), 'tests/fixtures/dicom/small/MR_small_implicit.dcm'), join(repoRoot(), 'tests/fixtures/dicom/small/MR_small_bigendian.dcm')]
      .map((p) => readFileSync(p));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: sources.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        (which, flips, cut) => {
          const src = sources[which];
          const buf = Buffer.from(src.subarray(0, cut === undefined ? src.length : cut % src.length));
          for (const [at, v] of flips) if (buf.length > 0) buf[at % Math.min(buf.length, 4000)] = v;
          try {
            deidentify(buf, ctxFor('SUBJ-777', 'BL'));
          } catch (e) {
            if (!isInputError(e)) throw e;
          }
        },
      ),
      { numRuns: 400, seed: 20261124 },
    );
  });
});
