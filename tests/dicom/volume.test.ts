import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  DicomPool,
  applyWindow,
  buildVolume,
  isSeriesStable,
  parseDicom,
  renderSlicePng,
  voxelToPatient,
  type ParsedDicom,
  type Volume,
} from '@app/dicom';
import { generatePhantomStudy } from '@app/phantom';
import { axialSeries, ctSlice, element, fixture, shuffled, slicePixels, type SliceSpec } from './helpers';

const parseAll = (specs: SliceSpec[]): ParsedDicom[] => specs.map((s) => parseDicom(ctSlice(s)));

/** Expected HU of voxel (i, j) of the slice generated with index k (intercept -1024). */
const expectedHu = (k: number, i: number, j: number): number => 1000 + 100 * k + ((i + 2 * j) % 7) - 1024;

const sliceOf = (v: Volume, k: number): number[] => Array.from(v.data.subarray(k * v.dims[0] * v.dims[1], (k + 1) * v.dims[0] * v.dims[1]));

describe('buildVolume', () => {
  it('sorts by position along the normal, not by file order or InstanceNumber; result identical under shuffling', async () => {
    const base = axialSeries(7);
    const ref = await buildVolume(parseAll(base));
    expect(ref.dims).toEqual([6, 8, 7]);
    expect(ref.spacing).toEqual([0.5, 0.5, 2.5]);
    expect(ref.flags).toEqual([]);
    expect(ref.data).toBeInstanceOf(Int16Array);
    for (let k = 0; k < 7; k++) {
      expect(sliceOf(ref, k)[0]).toBe(expectedHu(k, 0, 0));
      expect(sliceOf(ref, k)[5 + 3 * 6]).toBe(expectedHu(k, 5, 3));
    }
    for (const seed of [1, 2, 3]) {
      // Shuffle file order AND scramble InstanceNumbers.
      const nums = shuffled([1, 2, 3, 4, 5, 6, 7], seed + 100);
      const specs = shuffled(base, seed).map((s, q) => ({ ...s, instanceNumber: nums[q] }));
      const v = await buildVolume(parseAll(specs));
      expect(v.sliceSopInstanceUids).toEqual(ref.sliceSopInstanceUids);
      expect(Buffer.from(v.data.buffer).equals(Buffer.from(ref.data.buffer))).toBe(true);
      expect(v.affine).toEqual(ref.affine);
    }
  });

  it('accepts headers with frame getters (fetched only for kept slices, after planning)', async () => {
    const specs = axialSeries(4);
    const parsed = parseAll(specs);
    const fetched: string[] = [];
    const lazy = parsed.map((p) => ({
      header: p.header,
      getFrame: async (f: number) => {
        fetched.push(p.header.instance.sopInstanceUid!);
        const { decodeFrame } = await import('@app/dicom');
        return (await decodeFrame(p, f)).values!;
      },
    }));
    const v = await buildVolume(shuffled(lazy, 2));
    const ref = await buildVolume(parsed);
    expect(Array.from(v.data)).toEqual(Array.from(ref.data));
    expect(fetched.sort()).toEqual(specs.map((s) => s.sopInstanceUid).sort());
    // Over the memory limit: refused before any frame is fetched.
    fetched.length = 0;
    await expect(buildVolume(lazy, { maxVolumeBytes: 100 })).rejects.toMatchObject({ code: 'dicom.volume-too-large' });
    expect(fetched).toEqual([]);
  });

  it('sorts descending positions too (feet-first acquisition order)', async () => {
    const specs = axialSeries(5).map((s, k) => ({ ...s, ipp: [s.ipp[0], s.ipp[1], 100 - k * 3] as [number, number, number] }));
    const v = await buildVolume(parseAll(specs));
    // Volume slice 0 is the lowest z = 88, i.e. generated slice 4.
    expect(v.slicePositions).toEqual([88, 91, 94, 97, 100]);
    expect(sliceOf(v, 0)[0]).toBe(expectedHu(4, 0, 0));
    expect(v.spacing[2]).toBeCloseTo(3, 9);
  });

  it('affine maps voxel indices to IPP (+ row/column steps) for an oblique stack', async () => {
    const a = (25 * Math.PI) / 180;
    const b = (10 * Math.PI) / 180;
    // Row direction rotated about z; column direction tilted: orthonormal pair.
    const r: [number, number, number] = [Math.cos(a), Math.sin(a), 0];
    const c0: [number, number, number] = [-Math.sin(a), Math.cos(a), 0];
    const c: [number, number, number] = [c0[0] * Math.cos(b), c0[1] * Math.cos(b), Math.sin(b)];
    const n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]];
    const specs = axialSeries(4, { rows: 5, columns: 4 }).map((s, k) => ({
      ...s,
      iop: [...r, ...c] as SliceSpec['iop'],
      pixelSpacing: [0.8, 0.6] as [number, number],
      ipp: [12 + 1.5 * k * n[0], -7 + 1.5 * k * n[1], 30 + 1.5 * k * n[2]] as [number, number, number],
    }));
    const v = await buildVolume(parseAll(shuffled(specs, 9)));
    expect(v.flags).toEqual([]);
    for (let k = 0; k < 4; k++) {
      const ipp = specs[k].ipp;
      expect(v.sliceSopInstanceUids[k]).toBe(specs[k].sopInstanceUid);
      const p = voxelToPatient(v.affine, [0, 0, k]);
      for (let d = 0; d < 3; d++) expect(p[d]).toBeCloseTo(ipp[d], 4);
      // Column index i steps along the row direction by the column spacing (0.6); row index j along c by 0.8.
      const q = voxelToPatient(v.affine, [3, 2, k]);
      for (let d = 0; d < 3; d++) expect(q[d]).toBeCloseTo(ipp[d] + 3 * 0.6 * r[d] + 2 * 0.8 * c[d], 4);
    }
  });

  it('flags a missing slice with its indices, never interpolates', async () => {
    const specs = axialSeries(6).filter((_, k) => k !== 3);
    const v = await buildVolume(parseAll(specs));
    expect(v.dims[2]).toBe(5);
    expect(v.flags).toHaveLength(1);
    expect(v.flags[0]).toMatch(/^missing-slices: gap of 5 mm between volume slices 2 and 3 .* 1 slice\(s\) missing/);
    expect(sliceOf(v, 3)[0]).toBe(expectedHu(4, 0, 0));
  });

  it('flags (and drops) a duplicate slice', async () => {
    const specs = axialSeries(4);
    const dup = { ...specs[2], sopInstanceUid: '1.2.826.0.1.3680043.10.1.2.99', instanceNumber: 99 };
    const v = await buildVolume(parseAll([...specs, dup]));
    expect(v.dims[2]).toBe(4);
    expect(v.flags).toHaveLength(1);
    expect(v.flags[0]).toMatch(/^duplicate-slice: .*1\.2\.826\.0\.1\.3680043\.10\.1\.2\.(3|99)/);
    expect(v.flags[0]).toContain('dropped');
  });

  it('flags non-uniform spacing with the gap', async () => {
    const specs = axialSeries(5);
    specs[2] = { ...specs[2], ipp: [specs[2].ipp[0], specs[2].ipp[1], specs[2].ipp[2] + 0.7] };
    const v = await buildVolume(parseAll(specs));
    expect(v.flags.filter((f) => f.startsWith('non-uniform-spacing'))).toHaveLength(2);
    expect(v.flags[0]).toContain('gap of 3.2 mm between volume slices 1 and 2');
    expect(v.flags[1]).toContain('gap of 1.8 mm between volume slices 2 and 3');
  });

  it('rejects mixed geometry within one series with dicom.mixed-geometry', async () => {
    const specs = axialSeries(3);
    const bigger = { ...specs[1], rows: 10, pixels: slicePixels(1, 10, 6) };
    await expect(buildVolume(parseAll([specs[0], bigger, specs[2]]))).rejects.toMatchObject({
      name: 'InputError',
      code: 'dicom.mixed-geometry',
      message: expect.stringContaining('6 x 10'),
    });
    const tilted = { ...specs[1], iop: [1, 0, 0, 0, 0.8, 0.6] as SliceSpec['iop'] };
    await expect(buildVolume(parseAll([specs[0], tilted, specs[2]]))).rejects.toMatchObject({ code: 'dicom.mixed-geometry' });
    const spacing = { ...specs[1], pixelSpacing: [0.7, 0.7] as [number, number] };
    await expect(buildVolume(parseAll([specs[0], spacing, specs[2]]))).rejects.toMatchObject({ code: 'dicom.mixed-geometry' });
    const other = { ...specs[1], seriesInstanceUid: '9.9.9' };
    await expect(buildVolume(parseAll([specs[0], other]))).rejects.toMatchObject({ code: 'dicom.mixed-series' });
  });

  it('refuses a volume over the memory limit before decoding or allocating', async () => {
    await expect(buildVolume(parseAll(axialSeries(3)), { maxVolumeBytes: 500 })).rejects.toMatchObject({
      code: 'dicom.volume-too-large',
      message: expect.stringContaining('6 x 8 x 3'),
    });
  });

  it('uses Float32Array when the modality LUT is fractional', async () => {
    const specs = axialSeries(2).map((s) => ({ ...s, rescaleSlope: 0.5, rescaleIntercept: -1000 }));
    const v = await buildVolume(parseAll(specs));
    expect(v.data).toBeInstanceOf(Float32Array);
    expect(v.data[0]).toBe((1000 + ((0 + 0) % 7)) * 0.5 - 1000);
  });

  it('builds a 2-slice volume from an enhanced multi-frame CT using per-frame positions', async () => {
    const v = await buildVolume([parseDicom(fixture('encapsulated/CT0012.fragmented_no_bot_jpeg_lossless.70.dcm'))]);
    expect(v.dims).toEqual([512, 512, 2]);
    expect(v.spacing[2]).toBeCloseTo(10, 6);
    // IOP [-1,0,0, 0,1,0] gives the slice normal (0,0,-1): frame 1 (z = -149) comes first along it.
    expect(v.sliceFrameIndices).toEqual([1, 0]);
    const p0 = voxelToPatient(v.affine, [0, 0, 0]);
    [99.5, -301.5, -149].forEach((x, d) => expect(p0[d]).toBeCloseTo(x, 9));
    const p1 = voxelToPatient(v.affine, [0, 0, 1]);
    [99.5, -301.5, -159].forEach((x, d) => expect(p1[d]).toBeCloseTo(x, 9));
    // Same HU as the uncompressed enhanced twin.
    const ref = await buildVolume([parseDicom(fixture('encapsulated/CT0012.explicit_little_endian.dcm'))]);
    expect(Buffer.from(v.data.buffer).equals(Buffer.from(ref.data.buffer))).toBe(true);
  });
});

/** Patient mm -> voxel index through the inverse of the affine's 3x3 part (Cramer's rule). */
function patientToVoxel(a: number[], p: [number, number, number]): [number, number, number] {
  const m = [a[0], a[1], a[2], a[4], a[5], a[6], a[8], a[9], a[10]];
  const b = [p[0] - a[3], p[1] - a[7], p[2] - a[11]];
  const det = (q: number[]): number => q[0] * (q[4] * q[8] - q[5] * q[7]) - q[1] * (q[3] * q[8] - q[5] * q[6]) + q[2] * (q[3] * q[7] - q[4] * q[6]);
  const d = det(m);
  const col = (c: number): number => {
    const q = [...m];
    for (let r = 0; r < 3; r++) q[r * 3 + c] = b[r];
    return det(q) / d;
  };
  return [col(0), col(1), col(2)];
}

describe('phantom series (@app/phantom ground truth)', () => {
  it('lesion centres land on voxels with the planted HU, in-process and through the pool', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dicom-phantom-'));
    const res = await generatePhantomStudy({ outDir: dir, subjects: 1, visits: 1, rows: 64, cols: 64, slices: 24, noiseSigma: 0, seed: 3 });
    const paths = res.files.map((f) => f.path);
    const { readFileSync } = await import('node:fs');
    const v = await buildVolume(shuffled(paths, 4).map((p) => parseDicom(readFileSync(p))));
    expect(v.dims).toEqual([64, 64, 24]);
    expect(v.spacing[2]).toBeCloseTo(2.5, 6);
    expect(v.flags).toEqual([]);
    const present = res.groundTruth.filter((g) => g.present);
    expect(present.length).toBeGreaterThanOrEqual(2);
    for (const g of present) {
      const [i, j, k] = patientToVoxel(v.affine, [g.centerX, g.centerY, g.centerZ]).map(Math.round);
      expect(v.data[i + j * 64 + k * 64 * 64]).toBe(g.hu);
    }
    const pool = new DicomPool({ threads: 2 });
    try {
      const pv = await pool.buildVolumeFromFiles(paths);
      expect(pv.sliceSopInstanceUids).toEqual(v.sliceSopInstanceUids);
      expect(Buffer.from(pv.data.buffer).equals(Buffer.from(v.data.buffer))).toBe(true);
    } finally {
      await pool.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('worker pool', () => {
  it('parses + decodes files in worker threads and builds the same volume as the in-process path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dicom-pool-'));
    // Slice 2 carries a 100 kB private element: its header is longer than the pool's 64 kB header prefix.
    const specs = shuffled(
      axialSeries(6).map((s, k) => (k === 2 ? { ...s, extra: [element(0x00111010, 'OB', Buffer.alloc(100_000, 7))] } : s)),
      5,
    );
    const paths = specs.map((s, k) => {
      const p = join(dir, `f${k}.dcm`);
      writeFileSync(p, ctSlice(s));
      return p;
    });
    writeFileSync(join(dir, 'bad.dcm'), Buffer.from('not dicom at all, just text'));
    const pool = new DicomPool({ threads: 2 });
    try {
      const v = await pool.buildVolumeFromFiles(paths);
      const ref = await buildVolume(parseAll(specs));
      expect(v.sliceSopInstanceUids).toEqual(ref.sliceSopInstanceUids);
      expect(Array.from(v.data)).toEqual(Array.from(ref.data));
      expect(v.affine).toEqual(ref.affine);
      // A bad file comes back as an InputError, not a crash; 'throw' mode rethrows it.
      const loaded = await pool.loadFiles([join(dir, 'bad.dcm'), paths[0]]);
      expect(loaded[0].error).toMatchObject({ name: 'InputError', code: 'dicom.not-dicom' });
      expect(loaded[1].slices).toHaveLength(1);
      await expect(pool.buildVolumeFromFiles([...paths, join(dir, 'bad.dcm')])).rejects.toMatchObject({ code: 'dicom.not-dicom' });
      const flagged = await pool.buildVolumeFromFiles([...paths, join(dir, 'bad.dcm')], { onBadInstance: 'flag' });
      expect(flagged.flags).toContainEqual(expect.stringMatching(/^unreadable-instance: dicom\.not-dicom/));
      // Fractional modality LUT: the int16 attempt falls back to a float32 volume.
      const fracSpecs = specs.map((s) => ({ ...s, rescaleSlope: 0.25, rescaleIntercept: -1000.5 }));
      const fracPaths = fracSpecs.map((s, k) => {
        const p = join(dir, `g${k}.dcm`);
        writeFileSync(p, ctSlice(s));
        return p;
      });
      const fv = await pool.buildVolumeFromFiles(fracPaths);
      expect(fv.data).toBeInstanceOf(Float32Array);
      expect(Array.from(fv.data)).toEqual(Array.from((await buildVolume(parseAll(fracSpecs))).data));
      expect(fv.data[0]).toBe(1000 * 0.25 - 1000.5);
    } finally {
      await pool.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rendering and helpers', () => {
  it('renders a windowed 8-bit greyscale PNG that decodes back to the DICOM linear window', async () => {
    const v = await buildVolume(parseAll(axialSeries(3)));
    const win = { center: 100, width: 200 };
    const png = await renderSlicePng(v, 1, win);
    const meta = await sharp(png).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 6, height: 8, channels: 1, depth: 'uchar' });
    const { data } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    // PS3.3 C.11.2.1.2.1 computed here independently.
    const lin = (x: number): number => {
      const c = win.center - 0.5;
      const w = win.width - 1;
      if (x <= c - w / 2) return 0;
      if (x > c + w / 2) return 255;
      return Math.round(((x - c) / w + 0.5) * 255);
    };
    for (let j = 0; j < 8; j++) for (let i = 0; i < 6; i++) expect(data[j * 6 + i]).toBe(lin(expectedHu(1, i, j)));
    expect(Array.from(applyWindow([-1000, 0, 99.5, 1000], win))).toEqual([0, lin(0), lin(99.5), 255]);
    await expect(renderSlicePng(v, 3, win)).rejects.toThrow(RangeError);
  });

  it('isSeriesStable after the quiet period only', () => {
    const t0 = new Date('2024-01-01T00:00:00Z');
    expect(isSeriesStable(t0, new Date(t0.getTime() + 59_999), 60_000)).toBe(false);
    expect(isSeriesStable(t0, new Date(t0.getTime() + 60_000), 60_000)).toBe(true);
  });
});
