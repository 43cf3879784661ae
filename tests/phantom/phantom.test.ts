import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { isInputError } from '@app/core';
import { generatePhantomStudy, transcode, trajectoryScales, TRANSFER_SYNTAXES, type GroundTruthRow, type CompressedSyntax } from '@app/phantom';

const PY = '/usr/bin/python3';
const py = (script: string, ...args: string[]): string =>
  execFileSync(PY, [join(__dirname, script), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

interface Measured {
  subjectId: string; visit: string; lesionId: string; present: boolean; count?: number;
  hu_center?: number; ld?: number; sa?: number; volume?: number; ps?: number; dz?: number;
}

const tmp: string[] = [];
const mk = (name: string): string => {
  const d = mkdtempSync(join(tmpdir(), `phantom-${name}-`));
  tmp.push(d);
  return d;
};
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('generatePhantomStudy: ground truth vs an independent pydicom measurement', () => {
  let out: string;
  let gt: GroundTruthRow[];
  let measured: Measured[];
  beforeAll(async () => {
    out = mk('gt');
    const r = await generatePhantomStudy({ outDir: out, subjects: 4, visits: 4, noiseSigma: 0, seed: 7 });
    gt = r.groundTruth;
    expect(JSON.parse(readFileSync(r.groundTruthJson, 'utf8'))).toEqual(gt);
    expect(readFileSync(r.groundTruthCsv, 'utf8').split('\n')[0]).toContain('longestDiameterMm');
    measured = py('measure.py', r.groundTruthJson, out).trim().split('\n').map((l) => JSON.parse(l) as Measured);
  });

  it('measures every ground-truth row', () => {
    expect(measured).toHaveLength(gt.length);
    // the four trajectories produce a complete response (T02 responder) and a new lesion (progressor)
    expect(gt.some((r) => r.lesionId === 'T02' && !r.present && r.visitIndex > 0)).toBe(true);
    expect(gt.some((r) => r.isNew && r.present)).toBe(true);
  });

  it('longest diameter and short axis match the pixels within one voxel', () => {
    for (const m of measured.filter((x) => x.present)) {
      const r = gt.find((g) => g.subjectId === m.subjectId && g.visit === m.visit && g.lesionId === m.lesionId)!;
      const tol = Math.SQRT2 * m.ps!;
      // voxel centres lie inside the ellipse, so the measured distances cannot exceed the true ones
      expect(m.ld!).toBeLessThanOrEqual(r.longestDiameterMm + 1e-6);
      expect(r.longestDiameterMm - m.ld!).toBeLessThanOrEqual(tol);
      expect(Math.abs(r.shortAxisMm - m.sa!)).toBeLessThanOrEqual(tol);
      expect(m.hu_center).toBe(r.hu);
      expect(r.longestDiameterMm).toBeCloseTo(2 * r.semiA, 3);
      expect(r.volumeMm3).toBeCloseTo((4 / 3) * Math.PI * r.semiA * r.semiB * r.semiC, 0);
    }
  });

  it('volume matches the voxel count within the sampling bound', () => {
    for (const m of measured.filter((x) => x.present)) {
      const r = gt.find((g) => g.subjectId === m.subjectId && g.visit === m.visit && g.lesionId === m.lesionId)!;
      // half a slice of the largest section + one pixel over the lateral surface
      const bound = (Math.PI * r.semiA * r.semiB * m.dz!) / 2 + Math.PI * (r.semiA + r.semiB) * r.semiC * m.ps!;
      expect(Math.abs(m.volume! - r.volumeMm3)).toBeLessThanOrEqual(bound);
    }
  });

  it('absent lesions (complete response, not yet appeared) have no voxels', () => {
    for (const m of measured.filter((x) => !x.present)) expect(m.count).toBe(0);
  });

  it('follow-up dates are 6 to 8 weeks apart and trajectories follow their scales', () => {
    const bySubject = new Map<string, GroundTruthRow[]>();
    for (const r of gt.filter((x) => x.lesionId === 'T01')) bySubject.set(r.subjectId, [...(bySubject.get(r.subjectId) ?? []), r]);
    for (const rows of bySubject.values()) {
      for (let v = 1; v < rows.length; v++) {
        const days = (Date.parse(rows[v].visitDate) - Date.parse(rows[v - 1].visitDate)) / 86400000;
        expect(days).toBeGreaterThanOrEqual(42);
        expect(days).toBeLessThanOrEqual(56);
        const s = trajectoryScales(rows[0].trajectory as 'responder', 4).scales;
        expect(rows[v].semiA / rows[0].semiA).toBeCloseTo(s[v] / s[0], 3);
      }
    }
  });
});

describe('generatePhantomStudy: DICOM validity, noise, determinism', () => {
  it('writes valid CT Image Storage files that pydicom and dcmdump read, with realistic HU', async () => {
    const out = mk('valid');
    const r = await generatePhantomStudy({ outDir: out, subjects: 1, visits: 1, slices: 12, withPhi: true, seed: 3 });
    expect(r.files).toHaveLength(12);
    // dcmdump must parse every element (exit 0, no error lines)
    const dump = execFileSync('dcmdump', ['-q', '+L', r.files[5].path], { encoding: 'utf8' });
    expect(dump).toContain('(0008,0016) UI =CTImageStorage');
    expect(dump).toContain('LittleEndianExplicit');
    // dciodvfy (Debian dicom3tools) validates the CT Image IOD and the VRs: no errors, with or without PHI
    const plain = await generatePhantomStudy({ outDir: mk('valid-plain'), subjects: 1, visits: 1, slices: 2, rows: 64, cols: 64, bitsStored: 16 });
    for (const p of [r.files[5].path, plain.files[1].path]) {
      const v = spawnSync('dciodvfy', [p], { encoding: 'utf8' });
      if (v.error) throw new Error(`dciodvfy (Debian package dicom3tools) could not run: ${v.error.message}`);
      expect(`${v.stdout}${v.stderr}`.split('\n').filter((l) => l.startsWith('Error'))).toEqual([]);
      expect(v.stderr).toContain('CTImage');
    }
    const script = `
import json, sys, numpy as np, pydicom
d = pydicom.dcmread(sys.argv[1])
hu = d.pixel_array.astype(float) * float(d.RescaleSlope) + float(d.RescaleIntercept)
ps = float(d.PixelSpacing[0]); x0, y0 = float(d.ImagePositionPatient[0]), float(d.ImagePositionPatient[1])
def px(x, y): return int(round((y - y0) / ps)), int(round((x - x0) / ps))
j, i = px(0.0, 100.0)   # posterior body soft tissue, outside lungs/liver
patch = hu[j-5:j+5, i-5:i+5]
air = hu[2:12, 2:12]
print(json.dumps({'sop': d.SOPClassUID, 'ts': d.file_meta.TransferSyntaxUID, 'bits': [d.BitsAllocated, d.BitsStored, d.HighBit, d.PixelRepresentation],
  'slope': float(d.RescaleSlope), 'icpt': float(d.RescaleIntercept), 'body_mean': float(patch.mean()), 'body_sd': float(patch.std()),
  'air_mean': float(air.mean()), 'name': str(d.PatientName), 'modules': all(k in d for k in ['FrameOfReferenceUID','ImagePositionPatient','ImageOrientationPatient','PixelSpacing','SliceThickness','StudyInstanceUID','SeriesInstanceUID','PatientID','StudyDate'])}))`;
    const j = JSON.parse(execFileSync(PY, ['-c', script, r.files[5].path], { encoding: 'utf8' }));
    expect(j.sop).toBe('1.2.840.10008.5.1.4.1.1.2');
    expect(j.ts).toBe('1.2.840.10008.1.2.1');
    expect(j.bits).toEqual([16, 12, 11, 0]);
    expect([j.slope, j.icpt]).toEqual([1, -1024]);
    expect(Math.abs(j.body_mean - 40)).toBeLessThan(5); // 100 samples of sigma 10: SE 1
    expect(j.body_sd).toBeGreaterThan(7);
    expect(j.body_sd).toBeLessThan(13);
    expect(Math.abs(j.air_mean + 1000)).toBeLessThan(5);
    expect(j.modules).toBe(true);
    expect(j.name).toContain('^'); // planted PHI name
    // lesion centres are in the lesion range despite noise
    const measured = py('measure.py', r.groundTruthJson, out).trim().split('\n').map((l) => JSON.parse(l) as Measured);
    for (const m of measured.filter((x) => x.present)) {
      const row = r.groundTruth.find((g) => g.lesionId === m.lesionId)!;
      expect(Math.abs(m.hu_center! - row.hu)).toBeLessThanOrEqual(50); // 5 sigma
    }
  });

  it('BitsStored 16 writes signed pixels with the same HU (except where 12 bits clip at -1024)', async () => {
    const a = await generatePhantomStudy({ outDir: mk('b12'), subjects: 1, visits: 1, rows: 64, cols: 64, slices: 3, seed: 5 });
    const b = await generatePhantomStudy({ outDir: mk('b16'), subjects: 1, visits: 1, rows: 64, cols: 64, slices: 3, seed: 5, bitsStored: 16 });
    const script = `
import sys, json, numpy as np, pydicom
h = [ (lambda d: (d.pixel_array.astype(float)*float(d.RescaleSlope)+float(d.RescaleIntercept), d.PixelRepresentation, d.BitsStored))(pydicom.dcmread(p)) for p in sys.argv[1:3] ]
m = h[0][0] > -1024
print(json.dumps({'equal': bool((h[0][0][m] == h[1][0][m]).all()) and bool((h[1][0][~m] <= -1024).all()), 'pr': [h[0][1], h[1][1]], 'bs': [h[0][2], h[1][2]]}))`;
    const j = JSON.parse(execFileSync(PY, ['-c', script, a.files[1].path, b.files[1].path], { encoding: 'utf8' }));
    expect(j).toEqual({ equal: true, pr: [0, 1], bs: [12, 16] });
  });

  it('is deterministic per seed and differs across seeds', async () => {
    const hashAll = (files: { path: string }[]): string => {
      const h = createHash('sha256');
      for (const f of files) h.update(readFileSync(f.path));
      return h.digest('hex');
    };
    const o = { subjects: 2, visits: 2, rows: 64, cols: 64, slices: 4, withPhi: true };
    const a = await generatePhantomStudy({ ...o, outDir: mk('da'), seed: 11 });
    const b = await generatePhantomStudy({ ...o, outDir: mk('db'), seed: 11 });
    const c = await generatePhantomStudy({ ...o, outDir: mk('dc'), seed: 12 });
    expect(hashAll(a.files)).toBe(hashAll(b.files));
    expect(a.groundTruth).toEqual(b.groundTruth);
    expect(hashAll(a.files)).not.toBe(hashAll(c.files));
    expect(a.files[0].studyUid).not.toBe(c.files[0].studyUid);
  });

  it('rejects bad options with InputError', async () => {
    await expect(generatePhantomStudy({ outDir: mk('bad'), rows: 10 })).rejects.toMatchObject({ code: 'phantom.bad-option' });
    await expect(generatePhantomStudy({ outDir: mk('bad'), trajectories: [{ scales: [1, -1] }] })).rejects.toMatchObject({ code: 'phantom.bad-trajectory' });
    await generatePhantomStudy({ outDir: mk('bad'), pixelSpacing: NaN }).catch((e) => expect(isInputError(e)).toBe(true));
  });
});

describe('transcode: lossless variants decode to the original pixels (dcmtk / gdcm)', () => {
  let files: string[];
  let out: string;
  beforeAll(async () => {
    out = mk('tc');
    files = (await generatePhantomStudy({ outDir: out, subjects: 1, visits: 1, rows: 96, cols: 96, slices: 2, seed: 9 })).files.map((f) => f.path);
  });
  const decoders: Record<CompressedSyntax, string[]> = {
    'jpeg-ls': ['dcmdjpls'], rle: ['dcmdrle'], 'jpeg-lossless': ['dcmdjpeg'], jpeg2000: ['gdcmconv', '--raw'],
    deflate: ['dcmconv', '+te'], 'big-endian': ['dcmconv', '+te'], implicit: ['dcmconv', '+te'],
  };
  for (const syntax of Object.keys(decoders) as CompressedSyntax[]) {
    it(`${syntax}`, async () => {
      const [t] = await transcode([files[0]], syntax, { outDir: join(out, syntax) });
      const [tool, ...args] = decoders[syntax];
      const back = join(out, `${syntax}.decoded.dcm`);
      execFileSync(tool, [...args, t, back]);
      const enc = JSON.parse(py('pixeldata_equal.py', files[0], t));
      expect(enc.ts_b).toBe(TRANSFER_SYNTAXES[syntax].uid);
      const dec = JSON.parse(py('pixeldata_equal.py', files[0], back));
      expect(dec.ts_b).toBe('1.2.840.10008.1.2.1');
      expect(dec.equal).toBe(true);
      expect(dec.len).toBe(96 * 96 * 2);
    });
  }
  it('names the tool when it fails', async () => {
    await expect(transcode(['/nonexistent/x.dcm'], 'rle', { outDir: join(out, 'bad') })).rejects.toThrow(/dcmcrle/);
  });
});
