import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '@app/core';
import { formatDS, readSegSegments, readSrMeasurements, writeSeg, writeSr, type SegInput, type SrInput } from '@app/sr';
import { COLS, LESIONS, ROWS, SLICES, labelVolume, segInput, srInput } from './fixture';
import { expectInputError } from '../support/assertions';

const PY = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'sr-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const save = (name: string, buf: Buffer): string => {
  const p = join(dir, name);
  writeFileSync(p, buf);
  return p;
};

/** Runs dciodvfy; returns its warning lines and fails the test on any line starting with "Error". */
function dciodvfy(path: string): { warnings: string[]; iod: string } {
  const v = spawnSync('dciodvfy', [path], { encoding: 'utf8' });
  if (v.error) throw new Error(`dciodvfy (Debian package dicom3tools) could not run: ${v.error.message}`);
  const lines = `${v.stdout}${v.stderr}`.split('\n').filter(Boolean);
  expect(lines.filter((l) => l.startsWith('Error'))).toEqual([]);
  return { warnings: lines.filter((l) => l.startsWith('Warning')), iod: lines.filter((l) => /^[A-Za-z]+$/.test(l)).join(',') };
}


/** Independent expectation: for each (slice k, segment n) with voxels, the voxel count and the sum of in-slice indices. */
function expectedFrames(labels: Uint8Array): Map<string, { count: number; indexSum: number }> {
  const m = new Map<string, { count: number; indexSum: number }>();
  const plane = ROWS * COLS;
  for (let k = 0; k < SLICES; k++)
    for (let p = 0; p < plane; p++) {
      const v = labels[k * plane + p];
      if (!v) continue;
      const key = `${k}/${v}`;
      const e = m.get(key) ?? { count: 0, indexSum: 0 };
      e.count++;
      e.indexSum += p;
      m.set(key, e);
    }
  return m;
}

describe('writeSeg + writeSr: standard conformance and independent read-back', () => {
  let segIn: SegInput;
  let srIn: SrInput;
  let segPath: string;
  let srPath: string;
  let segBuf: Buffer;
  let srBuf: Buffer;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let j: any;
  beforeAll(() => {
    segIn = segInput('BL');
    srIn = srInput('BL');
    segBuf = writeSeg(segIn);
    srBuf = writeSr(srIn);
    segPath = save('seg.dcm', segBuf);
    srPath = save('sr.dcm', srBuf);
    j = JSON.parse(execFileSync(PY, [join(__dirname, 'read_back.py'), segPath, srPath], { encoding: 'utf8', maxBuffer: 16 << 20 }));
  });

  it('dciodvfy: the SEG is a valid Segmentation IOD and the SR a valid Comprehensive SR IOD (no Error lines)', () => {
    const seg = dciodvfy(segPath);
    const sr = dciodvfy(srPath);
    expect(seg.iod).toBe('Segmentation');
    expect(sr.iod).toBe('ComprehensiveSR');
    // Only expected warnings remain, both about caller (source) values: empty type 2 Study ID (as in the source
    // study) and a Patient's Name without '^' (the de-identified reading id), which dciodvfy calls "retired form".
    for (const w of [...seg.warnings, ...sr.warnings]) expect(w).toMatch(/DICOMDIR - Study ID$|\(0x0010,0x0010\) PN Patient's Name .* Retired Person Name form$/);
  });

  it('dsrdump (dcmtk) reads the SR and shows tracking ids, RECIST 1.1 and the long axis values', () => {
    // No -Ee: dsrdump aborts (non-zero exit, 'E:' lines) on any content item error.
    const d = spawnSync('dsrdump', ['+Pt', srPath], { encoding: 'utf8' });
    if (d.error) throw new Error(`dsrdump (Debian package dcmtk) could not run: ${d.error.message}`);
    expect(d.status).toBe(0);
    expect(d.stderr.split('\n').filter((l) => /^[EF]:/.test(l))).toEqual([]);
    const out = d.stdout;
    expect(out).toContain('# TID 1500 (DCMR)');
    expect(out).toContain('# TID 1411 (DCMR)');
    expect(out).toContain('Imaging Measurement Report');
    expect(out).toContain('(126081,DCM,"RECIST 1.1")');
    for (const l of srIn.lesions) {
      expect(out).toContain(`"Tracking Identifier")="${l.trackingId}"`);
      expect(out).toContain(`"Tracking Unique Identifier")="${l.trackingUid}"`);
      expect(out).toContain(`"Long axis")="${formatDS(l.longAxis.mm)}" (mm,UCUM,"millimeter")`);
    }
    expect(out).toContain('(121007,DCM,"Device")');
  });

  it('pydicom: SEG segments, tracking UIDs, frames decode, positions sorted, voxels equal the label volume', () => {
    const seg = j.seg;
    expect(seg.sopClassUid).toBe('1.2.840.10008.5.1.4.1.1.66.4');
    expect(seg.segmentationType).toBe('BINARY');
    expect(seg.segments.map((s: { label: string }) => s.label)).toEqual(segIn.segments.map((s) => s.label));
    expect(seg.segments.map((s: { trackingUid: string }) => s.trackingUid)).toEqual(segIn.segments.map((s) => s.trackingUid));
    expect(seg.segments.map((s: { trackingId: string }) => s.trackingId)).toEqual(segIn.segments.map((s) => s.trackingId));
    expect(seg.segments[0].family).toEqual(['DCM', '123110', 'Artificial Intelligence']);
    expect(seg.dimensionPointers.map((t: string) => t.toUpperCase())).toEqual(['(0062, 000B)', '(0020, 0032)']);

    const expected = expectedFrames(segIn.labels as Uint8Array);
    expect(seg.numberOfFrames).toBe(expected.size);
    expect(seg.shape).toEqual([expected.size, ROWS, COLS]);
    const kOf = new Map(segIn.source.slices.map((s, k) => [s.sopInstanceUid, k]));
    const seen = new Set<string>();
    let prev: [number, number] = [-Infinity, 0];
    for (const f of seg.frames as { segment: number; ipp: number[]; source: string; count: number; indexSum: number; dimIndex: number[] }[]) {
      const k = kOf.get(f.source) as number;
      expect(k).toBeDefined();
      expect(f.ipp).toEqual(segIn.source.slices[k].imagePositionPatient);
      const e = expected.get(`${k}/${f.segment}`);
      expect(e).toBeDefined();
      expect({ count: f.count, indexSum: f.indexSum }).toEqual(e);
      seen.add(`${k}/${f.segment}`);
      // axial slices: normal = +z; frames ascend in z, then in segment number
      const cur: [number, number] = [f.ipp[2], f.segment];
      expect(cur[0] > prev[0] || (cur[0] === prev[0] && cur[1] > prev[1])).toBe(true);
      prev = cur;
      expect(f.dimIndex[0]).toBe(f.segment);
    }
    expect(seen.size).toBe(expected.size);

    // The minimal TS reader agrees with pydicom.
    const r = readSegSegments(segBuf);
    expect(r.numberOfFrames).toBe(seg.numberOfFrames);
    expect(r.segments.map((s) => [s.number, s.trackingUid])).toEqual(segIn.segments.map((s) => [s.number, s.trackingUid]));
    expect(r.frames.map((f) => f.sourceSopInstanceUid)).toEqual(seg.frames.map((f: { source: string }) => f.source));
  });

  it('pydicom: SR measurement groups carry the input values, RECIST 1.1 and the caliper SCOORDs', () => {
    const sr = j.sr;
    expect(sr.sopClassUid).toBe('1.2.840.10008.5.1.4.1.1.88.33');
    expect(sr.templateId).toBe('1500');
    expect(sr.title).toEqual(['DCM', '126000', 'Imaging Measurement Report']);
    expect(sr.observer['121005']).toEqual(['DCM', '121007', 'Device']);
    expect(sr.observer['121015']).toBe(`${srIn.algorithm.name} ${srIn.algorithm.version}`);
    expect(sr.lesions).toHaveLength(srIn.lesions.length);
    srIn.lesions.forEach((l, i) => {
      const g = sr.lesions[i];
      expect(g.template).toBe('1411');
      expect(g.trackingId).toBe(l.trackingId);
      expect(g.trackingUid).toBe(l.trackingUid);
      expect(g.method).toEqual(['DCM', '126081', 'RECIST 1.1']);
      expect(g.segmentNumber).toBe(l.segmentNumber);
      expect(g.segSop).toBe(srIn.seg.sopInstanceUid);
      expect(g.longAxis).toBe(l.longAxis.mm);
      expect(g.shortAxis).toBe(l.shortAxis?.mm);
      expect(g.volume).toBe(l.volumeMm3);
      expect(g.longAxisUnit).toBe('mm');
      expect(g.volumeUnit).toBe('mm3');
      expect(g.longAxisScoord.relationship).toBe('INFERRED FROM');
      expect(g.longAxisScoord.graphicType).toBe('POLYLINE');
      expect(g.longAxisScoord.points).toEqual(l.longAxis.points.flat().map(Math.fround));
      expect(g.longAxisScoord.image).toBe(l.longAxis.referencedSopInstanceUid);
    });
  });

  it('readSrMeasurements round-trips every value exactly (DS when exact, else FD)', () => {
    const r = readSrMeasurements(srBuf);
    expect(r).toEqual(srIn.lesions.map((l) => ({
      trackingId: l.trackingId,
      trackingUid: l.trackingUid,
      longAxisMm: l.longAxis.mm,
      shortAxisMm: l.shortAxis?.mm ?? null,
      volumeMm3: l.volumeMm3 ?? null,
      segmentNumber: l.segmentNumber,
      timePointId: 'BL',
    })));
    // Values that need 17 significant digits (not representable in a 16-char DS) still round-trip.
    const hard = srInput('BL');
    hard.lesions[0].longAxis.mm = 12.345678901234567;
    hard.lesions[0].shortAxis!.mm = 1 / 3;
    hard.lesions[1].longAxis.mm = 123456.78901234567;
    const back = readSrMeasurements(writeSr(hard));
    expect(back[0].longAxisMm).toBe(12.345678901234567);
    expect(back[0].shortAxisMm).toBe(1 / 3);
    expect(back[1].longAxisMm).toBe(123456.78901234567);
  });

  it('formatDS: ≤ 16 characters always; exact whenever the shortest decimal fits', () => {
    const rand = mulberry32(42);
    const bad: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 12 - 4);
      const s = formatDS(x);
      const ok = s.length <= 16 && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) &&
        (String(x).length <= 16 ? Number(s) === x : Math.abs(Number(s) - x) <= Math.abs(x) * 1e-9);
      if (!ok) bad.push(`${x} -> ${s}`);
    }
    expect(bad).toEqual([]);
    expect(formatDS(100)).toBe('100');
    expect(formatDS(-0.000038905683439224956)).toBe('-3.8905683439e-5');
  });

  it('is deterministic: the same input gives byte-identical files', () => {
    expect(writeSeg(segInput('BL')).equals(segBuf)).toBe(true);
    expect(writeSr(srInput('BL')).equals(srBuf)).toBe(true);
  });
});

describe('geometry, label types and character set', () => {
  it('coronal, shuffled slices, Int32Array labels and a non-ASCII name: frames follow the slice normal; UTF-8 declared', () => {
    const i = segInput('BL');
    i.source.imageOrientationPatient = [1, 0, 0, 0, 0, -1]; // normal = row x col = +y
    const perm = Array.from({ length: SLICES }, (_, k) => (k * 7) % SLICES); // a permutation of 0..19
    i.source.slices = i.source.slices.map((s, k) => ({ ...s, imagePositionPatient: [-24, 3 * perm[k] - 10, 40] as [number, number, number] }));
    i.source.patient = { ...i.source.patient, patientName: 'Müller^Zoë' };
    i.labels = Int32Array.from(i.labels);
    const buf = writeSeg(i);
    const p = save('coronal.dcm', buf);
    dciodvfy(p);
    expect(execFileSync('dcmdump', ['+P', '0008,0005', p], { encoding: 'utf8' })).toContain('ISO_IR 192');
    const r = readSegSegments(buf);
    const ys = r.frames.map((f) => f.imagePositionPatient[1]);
    expect(ys).toEqual([...ys].sort((a, b) => a - b));
    const kOf = new Map(i.source.slices.map((s, k) => [s.sopInstanceUid, k]));
    const exp = expectedFrames(Uint8Array.from(i.labels));
    expect(new Set(r.frames.map((f) => `${kOf.get(f.sourceSopInstanceUid)}/${f.segmentNumber}`))).toEqual(new Set(exp.keys()));
    // pure ASCII objects do not declare a character set
    expect(execFileSync('dcmdump', ['+P', '0008,0005', save('ascii.dcm', writeSeg(segInput('BL')))], { encoding: 'utf8' }).trim()).toBe('');
  });
});

describe('optional content', () => {
  it('minimal lesions, no clinical-trial module, protocol time point, preliminary flag and a long code value stay valid', () => {
    const i = srInput('FU1');
    i.source.clinicalTrial = undefined;
    i.timepoint = { id: 'FU1', protocolId: 'WEEK8' };
    i.preliminaryFlag = 'PRELIMINARY';
    i.deviceObserverUid = '1.2.826.0.1.3680043.10.1234';
    i.lesions = i.lesions.map((l) => ({ ...l, shortAxis: undefined, volumeMm3: undefined }));
    i.lesions[0].finding = { scheme: '99LOCAL', code: 'LESION-PROPOSAL-0001', meaning: 'AI lesion proposal' }; // > 16 chars
    const buf = writeSr(i);
    const p = save('minimal-sr.dcm', buf);
    const v = dciodvfy(p);
    expect(v.iod).toBe('ComprehensiveSR');
    // a local ('99' prefixed) coding scheme is legal but not a dciodvfy defined term
    expect(v.warnings.filter((w) => !/Study ID$|Retired Person Name form$/.test(w))).toEqual([
      'Warning - Unrecognized defined term <99LOCAL> for value 1 of attribute <Coding Scheme Designator>',
    ]);
    const d = spawnSync('dsrdump', [p], { encoding: 'utf8' });
    expect(d.status).toBe(0);
    expect(d.stdout).toContain('"Protocol Time Point Identifier")="WEEK8"');
    expect(d.stdout).toContain('"Device Observer UID")="1.2.826.0.1.3680043.10.1234"');
    expect(execFileSync('dcmdump', ['+P', '0008,0119', p], { encoding: 'utf8' })).toContain('LESION-PROPOSAL-0001');
    const r = readSrMeasurements(buf);
    expect(r.map((x) => [x.longAxisMm, x.shortAxisMm, x.volumeMm3, x.timePointId])).toEqual(i.lesions.map((l) => [l.longAxis.mm, null, null, 'FU1']));
  });
});

describe('longitudinal tracking', () => {
  it('the same lesion keeps the same Tracking UID in the SEG and SR of two time points', () => {
    const bl = srInput('BL');
    const fu = srInput('FU1', 0.7);
    const srBl = readSrMeasurements(writeSr(bl));
    const srFu = readSrMeasurements(writeSr(fu));
    const segBl = readSegSegments(writeSeg(segInput('BL')));
    const segFu = readSegSegments(writeSeg(segInput('FU1', 0.7)));
    for (const l of LESIONS) {
      const a = srBl.find((x) => x.trackingId === l.id)!;
      const b = srFu.find((x) => x.trackingId === l.id)!;
      expect(b.trackingUid).toBe(a.trackingUid);
      expect(segFu.segments.find((s) => s.trackingId === l.id)!.trackingUid).toBe(a.trackingUid);
      expect(segBl.segments.find((s) => s.trackingId === l.id)!.trackingUid).toBe(a.trackingUid);
      expect(b.longAxisMm).toBeCloseTo(a.longAxisMm! * 0.7, 10);
      expect(b.timePointId).toBe('FU1');
    }
    expect(new Set([...srBl, ...srFu].map((x) => x.trackingUid)).size).toBe(LESIONS.length);
    expect(fu.output.sopInstanceUid).not.toBe(bl.output.sopInstanceUid);
  });
});

describe('input errors', () => {
  it('rejects an empty label volume', () => {
    const i = segInput('BL');
    i.labels = new Uint8Array(i.labels.length);
    expectInputError(() => writeSeg(i), 'sr.empty-mask');
  });
  it('rejects label values without a segment and segments without voxels', () => {
    const i = segInput('BL');
    (i.labels as Uint8Array)[5] = 7;
    expectInputError(() => writeSeg(i), 'sr.unknown-label');
    const j = segInput('BL');
    j.labels = labelVolume(1, LESIONS.slice(0, 2));
    expectInputError(() => writeSeg(j), 'sr.empty-segment');
  });
  it('rejects a wrong-sized label volume, bad UIDs and incomplete clinical-trial values', () => {
    const i = segInput('BL');
    i.labels = new Uint8Array(10);
    expectInputError(() => writeSeg(i), 'sr.bad-input');
    const j = segInput('BL');
    j.segments[0].trackingUid = '1.2.03';
    expectInputError(() => writeSeg(j), 'sr.bad-uid');
    const k = segInput('BL');
    k.source.clinicalTrial = { subjectReadingId: 'R1' };
    expectInputError(() => writeSeg(k), 'sr.bad-clinical-trial');
  });
  it('rejects SR measurements on images outside the source series or with non-finite values', () => {
    const i = srInput('BL');
    i.lesions[0].longAxis.referencedSopInstanceUid = '1.2.3.4';
    expectInputError(() => writeSr(i), 'sr.bad-measurement');
    const j = srInput('BL');
    j.lesions[1].longAxis.mm = Number.NaN;
    expectInputError(() => writeSr(j), 'sr.bad-measurement');
    const k = srInput('BL');
    k.lesions = [];
    expectInputError(() => writeSr(k), 'sr.no-lesions');
  });
});
