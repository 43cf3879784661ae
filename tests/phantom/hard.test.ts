import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generatePhantomStudy, hardPhantomGeometry, hardPhantomGroundTruth, hardVisitTransform, renderPhantomVisit, renderVoxelOf, HARD_MOTION,
  type GroundTruthRow, type PhantomOptions, type PhantomVisitRender,
} from '@app/phantom';

const tmp: string[] = [];
const mk = (name: string): string => {
  const d = mkdtempSync(join(tmpdir(), `phantom-hard-${name}-`));
  tmp.push(d);
  return d;
};
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

const LABEL = { liver: 1, lung: 2, 'lymph node': 3 } as const;
const mul = (T: number[], p: number[]): number[] => [0, 1, 2].map((r) => T[4 * r] * p[0] + T[4 * r + 1] * p[1] + T[4 * r + 2] * p[2] + T[4 * r + 3]);

/** Best single threshold "HU >= t" over all voxels, scanned over every integer HU: the highest lesion Dice. */
function bestThresholdDice(r: PhantomVisitRender): { dice: number; threshold: number } {
  const hl = new Float64Array(4096);
  const ha = new Float64Array(4096);
  let nl = 0;
  for (let i = 0; i < r.hu.length; i++) {
    const b = r.hu[i] + 1024;
    ha[b]++;
    if (r.labels[i]) { hl[b]++; nl++; }
  }
  let best = { dice: 0, threshold: NaN };
  let tp = 0;
  let p = 0;
  for (let b = 4095; b >= 0; b--) {
    tp += hl[b];
    p += ha[b];
    const d = (2 * tp) / (p + nl);
    if (d > best.dice) best = { dice: d, threshold: b - 1024 };
  }
  return best;
}

describe("realism 'basic' stays byte-identical to the original generator", () => {
  // Hashes computed BEFORE the hard mode was added, by running the original libs/phantom/src/generate.ts
  // (commit state of 2026-12-05 11:33 UTC; script: sha256 over every DICOM file in r.files order, then
  // ground_truth.json, then ground_truth.csv) for exactly these options.
  const cases: [Omit<PhantomOptions, 'outDir'>, string][] = [
    [{ subjects: 1, visits: 2, rows: 64, cols: 64, slices: 8, seed: 3 }, '48c7b358ac27952652f10bd4daa02da62290c185c58910a87c9e476f9a379504'],
    [{ subjects: 2, visits: 2, rows: 48, cols: 40, slices: 6, seed: 11, withPhi: true, bitsStored: 16, noiseSigma: 5 }, '7bce9e24b6a76fcc6eb6316cfb1431299540752f4d816418597f8e48126fc77b'],
  ];
  for (const [o, expected] of cases) {
    it(`${JSON.stringify(o)}`, async () => {
      for (const realism of [undefined, 'basic'] as const) {
        const r = await generatePhantomStudy({ outDir: mk('basic'), ...o, ...(realism ? { realism } : {}) });
        const h = createHash('sha256');
        for (const f of r.files) h.update(readFileSync(f.path));
        h.update(readFileSync(r.groundTruthJson));
        h.update(readFileSync(r.groundTruthCsv));
        expect(h.digest('hex')).toBe(expected);
        expect(r.groundTruth.every((g) => g.patientTransform === undefined)).toBe(true);
      }
    });
  }
  it('rejects hard-only options and unknown realism', async () => {
    await expect(generatePhantomStudy({ outDir: mk('bad'), writeLabels: true })).rejects.toMatchObject({ code: 'phantom.bad-option' });
    await expect(generatePhantomStudy({ outDir: mk('bad'), realism: 'x' as 'hard' })).rejects.toMatchObject({ code: 'phantom.bad-option' });
    expect(() => renderPhantomVisit({ realism: 'basic' }, 0, 0)).toThrow(/hard/);
    expect(() => renderPhantomVisit({ visits: 2 }, 0, 2)).toThrow(/visitIndex/);
  });
});

describe("realism 'hard': renderPhantomVisit", () => {
  const opts = { seed: 21, visits: 3, pixelSpacing: 0.9, sliceThickness: 3 };
  let bl: PhantomVisitRender;
  let fu: PhantomVisitRender;
  beforeAll(() => {
    bl = renderPhantomVisit(opts, 1, 0);
    fu = renderPhantomVisit(opts, 1, 1);
  });

  it('no single HU threshold segments the lesions (best Dice < 0.6)', () => {
    for (const r of [bl, fu]) {
      const { dice } = bestThresholdDice(r);
      expect(dice).toBeLessThan(0.6);
    }
  });

  it('label volume per class matches the analytic ellipsoid volumes within 5 %', () => {
    for (const r of [bl, fu]) {
      const [sx, sy, sz] = r.spacing;
      const count = [0, 0, 0, 0];
      for (const l of r.labels) count[l]++;
      const analytic = [0, 0, 0, 0];
      for (const g of r.groundTruth) if (g.present) analytic[LABEL[g.organ]] += g.volumeMm3;
      for (const c of [1, 2, 3]) {
        expect(analytic[c]).toBeGreaterThan(0);
        expect(Math.abs(count[c] * sx * sy * sz - analytic[c]) / analytic[c]).toBeLessThan(0.05);
      }
    }
  });

  it('renderVoxelOf maps a patient point to the voxel whose centre is nearest, and null outside the grid', () => {
    const [nx, ny, nz] = fu.dims;
    const centre = (i: number, j: number, k: number) => mul(fu.affine, [i, j, k]);
    for (const v of [[0, 0, 0], [nx - 1, ny - 1, nz - 1], [7, nx >> 1, nz >> 1], [nx >> 2, 3, 1]] as [number, number, number][]) {
      const [x, y, z] = centre(...v);
      expect(renderVoxelOf(fu, x, y, z)).toEqual(v);
      // a third of a voxel off the centre: still that voxel
      expect(renderVoxelOf(fu, x + fu.spacing[0] / 3, y - fu.spacing[1] / 3, z + fu.spacing[2] / 3)).toEqual(v);
    }
    // beyond the first or last voxel centre by more than half a voxel, on each axis
    const [x0, y0, z0] = centre(0, 0, 0);
    const [x1, y1, z1] = centre(nx - 1, ny - 1, nz - 1);
    expect(renderVoxelOf(fu, x0 - 0.6 * fu.spacing[0], y0, z0)).toBeNull();
    expect(renderVoxelOf(fu, x0, y1 + 0.6 * fu.spacing[1], z0)).toBeNull();
    expect(renderVoxelOf(fu, x1, y1, z1 + 0.6 * fu.spacing[2])).toBeNull();
  });

  it('ground-truth centres are in the visit patient coordinates: labelled voxel there, T x baseline centre', () => {
    const T = fu.patientTransform;
    expect(bl.patientTransform).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    expect(T).not.toEqual(bl.patientTransform);
    for (const r of [bl, fu]) {
      const [nx, ny, nz] = r.dims;
      for (const g of r.groundTruth.filter((x) => x.present)) {
        expect(g.patientTransform).toEqual(r.patientTransform);
        const i = Math.round((g.centerX - r.affine[3]) / r.affine[0]);
        const j = Math.round((g.centerY - r.affine[7]) / r.affine[5]);
        const k = Math.round((g.centerZ - r.affine[11]) / r.affine[10]);
        expect(i >= 0 && i < nx && j >= 0 && j < ny && k >= 0 && k < nz).toBe(true);
        expect(r.labels[k * nx * ny + j * nx + i]).toBe(LABEL[g.organ]);
      }
    }
    for (const g of fu.groundTruth) {
      const b = bl.groundTruth.find((x) => x.lesionId === g.lesionId)!;
      const q = mul(T, [b.centerX, b.centerY, b.centerZ]);
      expect(Math.abs(q[0] - g.centerX)).toBeLessThan(1e-3);
      expect(Math.abs(q[1] - g.centerY)).toBeLessThan(1e-3);
      expect(Math.abs(q[2] - g.centerZ)).toBeLessThan(1e-3);
    }
  });

  it('lesions are heterogeneous and edges have partial volume (intermediate HU)', () => {
    const g = bl.groundTruth.find((x) => x.necroticCore && x.present && x.semiA > 8);
    expect(g).toBeDefined();
    // a necrotic core is much darker than the lesion body
    const [nx, ny] = bl.dims;
    const i = Math.round((g!.centerX - bl.affine[3]) / bl.affine[0]);
    const j = Math.round((g!.centerY - bl.affine[7]) / bl.affine[5]);
    const k = Math.round((g!.centerZ - bl.affine[11]) / bl.affine[10]);
    let s = 0;
    for (let dj = -1; dj <= 1; dj++) for (let di = -1; di <= 1; di++) s += bl.hu[k * nx * ny + (j + dj) * nx + i + di];
    expect(s / 9).toBeLessThan(g!.hu - 10);
  });

  it('noise-free render: partial-volume edges give intermediate HU; lesion interiors are not uniform', () => {
    const r = renderPhantomVisit({ seed: 6, visits: 2, pixelSpacing: 0.9, sliceThickness: 5, rows: 320, cols: 320, noiseSigma: 0 }, 0, 0);
    const [nx, ny] = r.dims;
    const t02 = r.groundTruth.find((g) => g.lesionId === 'T02' && g.present)!;
    const i = Math.round((t02.centerX - r.affine[3]) / r.affine[0]);
    const j = Math.round((t02.centerY - r.affine[7]) / r.affine[5]);
    const k = Math.round((t02.centerZ - r.affine[11]) / r.affine[10]);
    const R = Math.ceil(t02.semiA / r.spacing[0]) + 2;
    let mixed = 0;
    for (let dj = -R; dj <= R; dj++) for (let di = -R; di <= R; di++) {
      const h = r.hu[k * nx * ny + (j + dj) * nx + i + di];
      if (h > -800 && h < Math.min(t02.hu, 0) - 20) mixed++; // between lung (-860) and the lesion
    }
    expect(mixed).toBeGreaterThan(4);
    const inside = new Set<number>();
    for (let x = 0; x < r.labels.length; x++) if (r.labels[x]) inside.add(r.hu[x]);
    expect(inside.size).toBeGreaterThan(20);
  });

  it('is deterministic and has per-visit noise in [8, 25] HU', () => {
    const small = { seed: 6, visits: 2, pixelSpacing: 0.9, sliceThickness: 5, rows: 320, cols: 320 };
    const a = renderPhantomVisit(small, 0, 1);
    const b = renderPhantomVisit(small, 0, 1);
    expect(createHash('sha256').update(a.hu).digest('hex')).toBe(createHash('sha256').update(b.hu).digest('hex'));
    expect(Buffer.compare(Buffer.from(a.labels), Buffer.from(b.labels))).toBe(0);
    expect(createHash('sha256').update(a.hu).digest('hex')).not.toBe(createHash('sha256').update(renderPhantomVisit({ ...small, seed: 7 }, 0, 1).hu).digest('hex'));
    for (const s of [0, 1, 2, 3]) for (const v of [0, 1, 2]) {
      const n = hardPhantomGroundTruth({ seed: 4 }, s, v).noiseSigma;
      expect(n).toBeGreaterThanOrEqual(8);
      expect(n).toBeLessThanOrEqual(25);
    }
  });
});

describe("realism 'hard': geometry, motion and lesion plan (no pixels)", () => {
  it('pixel spacing in [0.6, 0.9] mm and slice thickness in [1.25, 5] mm per subject, pinned by options', () => {
    const g = Array.from({ length: 40 }, (_, s) => hardPhantomGeometry({ seed: 8 }, s));
    for (const x of g) {
      expect(x.pixelSpacing).toBeGreaterThanOrEqual(0.6);
      expect(x.pixelSpacing).toBeLessThanOrEqual(0.9);
      expect(x.sliceThickness).toBeGreaterThanOrEqual(1.25);
      expect(x.sliceThickness).toBeLessThanOrEqual(5);
      expect(x.sliceSpacing).toBe(x.sliceThickness);
    }
    expect(new Set(g.map((x) => x.sliceThickness)).size).toBeGreaterThan(3);
    expect(new Set(g.map((x) => x.pixelSpacing)).size).toBeGreaterThan(20);
    expect(hardPhantomGeometry({ seed: 8, pixelSpacing: 0.7, sliceThickness: 3 }, 5)).toMatchObject({ pixelSpacing: 0.7, sliceThickness: 3, sliceSpacing: 3 });
  });

  it('visit transforms are rigid, bounded, identity at baseline only', () => {
    for (let s = 0; s < 30; s++) {
      expect(hardVisitTransform({ seed: 2 }, s, 0)).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
      for (const v of [1, 2]) {
        const T = hardVisitTransform({ seed: 2 }, s, v);
        const R = [[T[0], T[1], T[2]], [T[4], T[5], T[6]], [T[8], T[9], T[10]]];
        for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
          const dot = R[0][a] * R[0][b] + R[1][a] * R[1][b] + R[2][a] * R[2][b];
          expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-6);
        }
        expect(Math.abs(T[3])).toBeLessThanOrEqual(HARD_MOTION.shiftXY);
        expect(Math.abs(T[7])).toBeLessThanOrEqual(HARD_MOTION.shiftXY);
        expect(Math.abs(T[11])).toBeLessThanOrEqual(HARD_MOTION.shiftZ);
        expect((Math.abs(Math.atan2(T[4], T[0])) * 180) / Math.PI).toBeLessThanOrEqual(HARD_MOTION.rotZDeg + 1e-6);
        expect((Math.abs(Math.asin(T[9])) * 180) / Math.PI).toBeLessThanOrEqual(HARD_MOTION.rotXDeg + 1e-6);
        expect(Math.abs(T[3]) + Math.abs(T[7]) + Math.abs(T[11])).toBeGreaterThan(0);
      }
    }
  });

  it('lesions stay inside the field of view and z range at every visit; extra, small and low-contrast lesions exist', () => {
    const rows: GroundTruthRow[] = [];
    for (let s = 0; s < 16; s++) {
      for (let v = 0; v < 3; v++) {
        const r = hardPhantomGroundTruth({ seed: 31, visits: 3 }, s, v);
        const [nx, ny, nz] = r.dims;
        const lo = [r.affine[3], r.affine[7], r.affine[11]];
        const hi = [lo[0] + (nx - 1) * r.spacing[0], lo[1] + (ny - 1) * r.spacing[1], lo[2] + (nz - 1) * r.spacing[2]];
        for (const g of r.groundTruth.filter((x) => x.present)) {
          const R = g.semiA; // a >= b; c <= a for hard lesions plus the small rotation about x
          expect(g.centerX - R).toBeGreaterThan(lo[0]);
          expect(g.centerX + R).toBeLessThan(hi[0]);
          expect(g.centerY - R).toBeGreaterThan(lo[1]);
          expect(g.centerY + R).toBeLessThan(hi[1]);
          expect(g.centerZ - g.semiC - 3).toBeGreaterThan(lo[2]);
          expect(g.centerZ + g.semiC + 3).toBeLessThan(hi[2]);
        }
        rows.push(...r.groundTruth);
      }
    }
    const bl = rows.filter((g) => g.visitIndex === 0);
    const extras = new Map<string, number>();
    for (const g of bl.filter((x) => x.lesionId.startsWith('E'))) extras.set(g.subjectId, (extras.get(g.subjectId) ?? 0) + 1);
    expect(Math.min(...extras.values())).toBeGreaterThanOrEqual(2);
    expect(Math.max(...extras.values())).toBeLessThanOrEqual(5);
    for (const o of ['liver', 'lung', 'lymph node']) expect(bl.some((g) => g.organ === o && g.lesionId.startsWith('E'))).toBe(true);
    expect(bl.some((g) => g.longestDiameterMm < 10)).toBe(true);
    expect(bl.some((g) => g.longestDiameterMm > 30)).toBe(true);
    expect(bl.some((g) => g.lowContrast)).toBe(true);
    for (const id of ['T01', 'T02', 'T03']) expect(bl.filter((g) => g.lesionId === id)).toHaveLength(16);
  });
});

describe("realism 'hard': generatePhantomStudy writes DICOM + labels.nrrd on the same grid", () => {
  it('DICOM pixels and labels equal the in-memory render; ground truth JSON carries the transform', async () => {
    const out = mk('dicom');
    const o = { outDir: out, subjects: 1, visits: 2, seed: 5, realism: 'hard' as const, writeLabels: true, pixelSpacing: 0.9, sliceThickness: 5, rows: 320, cols: 320, extraLesions: 2 };
    const r = await generatePhantomStudy(o);
    const mem = renderPhantomVisit(o, 0, 1);
    const [nx, ny, nz] = mem.dims;
    const fu = r.files.filter((f) => f.visit === 'FU1');
    expect(fu).toHaveLength(nz);
    const gt = JSON.parse(readFileSync(r.groundTruthJson, 'utf8')) as GroundTruthRow[];
    expect(gt.filter((g) => g.visit === 'FU1')).toEqual(mem.groundTruth);
    expect(gt.find((g) => g.visit === 'FU1')!.patientTransform).toHaveLength(16);
    // labels.nrrd: header + raw bytes identical to the render
    const nrrd = readFileSync(join(out, mem.subjectId, 'FU1', 'labels.nrrd'));
    const cut = nrrd.indexOf('\n\n') + 2;
    const head = nrrd.subarray(0, cut).toString('ascii');
    expect(head).toContain(`sizes: ${nx} ${ny} ${nz}`);
    expect(head).toContain(`space origin: (${mem.affine[3]},${mem.affine[7]},${mem.affine[11]})`);
    expect(Buffer.compare(nrrd.subarray(cut), Buffer.from(mem.labels.buffer))).toBe(0);
    // one DICOM slice read by pydicom equals the render's HU and sits on the same grid
    const k = Math.floor(nz / 2);
    const raw = join(out, 'slice.i16');
    writeFileSync(raw, Buffer.from(mem.hu.buffer, k * nx * ny * 2, nx * ny * 2));
    const script = `
import sys, json, numpy as np, pydicom
d = pydicom.dcmread(sys.argv[1]); hu = d.pixel_array.astype(np.int32) + int(d.RescaleIntercept)
ref = np.fromfile(sys.argv[2], dtype='<i2').reshape(hu.shape)
print(json.dumps({'equal': bool((np.maximum(ref, -1024) == hu).all()), 'pos': [float(x) for x in d.ImagePositionPatient], 'ps': float(d.PixelSpacing[0]), 'thick': float(d.SliceThickness)}))`;
    const j = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, fu[k].path, raw], { encoding: 'utf8' }));
    expect(j.equal).toBe(true);
    expect(j.ps).toBeCloseTo(0.9, 6);
    expect(j.thick).toBe(5);
    expect(j.pos[2]).toBeCloseTo(mem.affine[11] + k * 5, 4);
  });
});
