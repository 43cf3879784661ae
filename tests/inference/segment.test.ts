/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
import { createInferencePool, listModels, loadModel, ModelRegistryError, resampledDims, resampleLinear, resampleNearest, segmentVolume, type InferencePool } from '@app/inference';
import { isInputError, mulberry32 } from '@app/core';
import { cleanup, copyTissue, tempModelsDir, writeModelFolder } from './helpers';

const F = Math.fround;
const HU: [number, number] = [-200, 300];
/** Independent reference of the card's HU windowing, in float32 as the model sees it. */
const win = (v: number) => F(Math.min(1, Math.max(0, (v - HU[0]) / (HU[1] - HU[0]))));

function volume(X: number, Y: number, Z: number, seed: number): { dims: [number, number, number]; data: Int16Array } {
  const r = mulberry32(seed);
  return { dims: [X, Y, Z], data: Int16Array.from({ length: X * Y * Z }, () => Math.round(-400 + r() * 1000)) };
}

let root: string;
let pool: InferencePool;
beforeAll(() => {
  root = tempModelsDir();
  // 2.5D: pred = (1 - x_k, x_k, x_{k-1}) on [N,3,16,16] windows
  writeModelFolder(root, 'ct25d', '0.1.0', 'ct25d.onnx', {
    inC: 3,
    outC: 3,
    spatial: [16, 16],
    preprocessing: { hu_window: HU, context_slices: 1, roi_size: [16, 16], overlap: 0.5, blending: 'gaussian', gaussian_sigma_scale: 0.125 },
  });
  // 3D: pred = (1 - x, x) on [N,1,4,8,8] windows
  writeModelFolder(root, 'ct3d', '0.1.0', 'ct3d.onnx', {
    inC: 1,
    outC: 2,
    spatial: ['*', '*', '*'],
    preprocessing: { hu_window: HU, roi_size: [4, 8, 8], overlap: 0.5, blending: 'constant' },
  });
  // the same 3D model, for 1 x 1 x 2 mm voxels (card target_spacing_mm): segmentVolume resamples to that grid
  writeModelFolder(root, 'ct3d-spaced', '0.1.0', 'ct3d.onnx', {
    inC: 1,
    outC: 2,
    spatial: ['*', '*', '*'],
    preprocessing: { hu_window: HU, roi_size: [4, 8, 8], overlap: 0.5, blending: 'constant', target_spacing_mm: [1, 1, 2] },
  });
  copyTissue(root);
  pool = createInferencePool({ modelsDir: root, threads: 1, intraOpNumThreads: 1, batchSize: 4 });
});
afterAll(async () => {
  await pool.close();
  cleanup();
});

describe('segmentVolume (card-driven)', () => {
  it('2.5D: HU window, context slices with replicated edges, sliding window, argmax — against an independent reference', async () => {
    const [X, Y, Z] = [21, 18, 5];
    const vol = volume(X, Y, Z, 11);
    const m = await pool.model('ct25d');
    const r = await segmentVolume(vol, m, { probabilities: [1, 2], confidence: true });
    expect(r.spatialDims).toBe(2);
    expect(r.roi).toEqual([16, 16]);
    expect(r.provenance).toEqual(m.provenance);
    const XY = X * Y;
    for (let k = 0; k < Z; k++) {
      for (let v = 0; v < XY; v++) {
        const x1 = win(vol.data[k * XY + v]);
        const x0 = win(vol.data[Math.max(0, k - 1) * XY + v]); // slice k-1, the first slice replicated
        const p = [F(1 - x1), x1, x0];
        const best = p.indexOf(Math.max(...p)); // ties: lowest index
        expect(r.labels[k * XY + v]).toBe(best);
        // confidence: the winning class's probability, quantised to 0-255
        expect(r.confidence![k * XY + v]).toBe(Math.round(255 * Math.fround(p[best])));
        expect(r.probabilities![1][k * XY + v]).toBe(x1);
        expect(r.probabilities![2][k * XY + v]).toBe(x0);
      }
    }
    expect(Object.keys(r.probabilities!)).toEqual(['1', '2']);
  });

  it('3D: slab-streamed sliding window gives the reference labels; no probabilities unless asked', async () => {
    const [X, Y, Z] = [11, 9, 10];
    const vol = volume(X, Y, Z, 12);
    const r = await segmentVolume(vol, await pool.model('ct3d'));
    expect(r.spatialDims).toBe(3);
    expect(r.probabilities).toBeUndefined();
    for (let i = 0; i < vol.data.length; i++) {
      const x = win(vol.data[i]);
      expect(r.labels[i]).toBe(x > F(1 - x) ? 1 : 0);
    }
    // memory stays bounded: a 40-slice volume never holds more than roi depth + 2 steps of planes
    const tall = volume(11, 9, 40, 15);
    const rt = await segmentVolume(tall, await pool.model('ct3d'), { batchSize: 4 });
    expect(rt.stats.maxLivePlanes).toBeLessThanOrEqual(4 + 2 * 2);
    expect(rt.stats.windows).toBe(19 * 2 * 2); // z starts 0,2,..,36; y starts {0,1}; x starts {0,3}
    for (let i = 0; i < tall.data.length; i += 7) expect(rt.labels[i]).toBe(win(tall.data[i]) > F(1 - win(tall.data[i])) ? 1 : 0);
    // a volume thinner than the roi depth (padded) works too
    const thin = volume(7, 5, 2, 13);
    const t = await segmentVolume(thin, await pool.model('ct3d'), { probabilities: true });
    for (let i = 0; i < thin.data.length; i++) expect(t.probabilities![1][i]).toBe(win(thin.data[i]));
  });

  it('deterministic: the same labels in-process (LoadedModel) and on the pool, whatever the batching / work in flight', async () => {
    const vol = volume(19, 23, 6, 14);
    const a = await segmentVolume(vol, await pool.model('ct25d'), { inFlight: 1, batchSize: 1 });
    const b = await segmentVolume(vol, await pool.model('ct25d'), { inFlight: 4, batchSize: 7 });
    const local = await loadModel('ct25d', { modelsDir: root });
    const c = await segmentVolume(vol, local);
    expect(b.labels).toEqual(a.labels);
    expect(c.labels).toEqual(a.labels);
    // the pool path runs its batches in reused shared-memory slots: as many as batches were in flight (inFlight
    // slices x the engine's 2 in flight + the one being blended), however many windows; in-process uses none
    expect(a.stats.sharedSlots).toBeGreaterThan(0);
    expect(a.stats.sharedSlots).toBeLessThanOrEqual(3);
    expect(b.stats.sharedSlots).toBeLessThanOrEqual(4 * 3);
    expect(a.stats.windows).toBeGreaterThan(3 * a.stats.sharedSlots); // one run per window there: slots are reused
    expect(c.stats.sharedSlots).toBe(0);
    await local.close();
  });

  it('bad volumes are InputErrors; models the helper cannot drive are refused with a clear ModelRegistryError', async () => {
    const m = await pool.model('ct25d');
    const e1 = await segmentVolume({ dims: [4, 4, 2], data: new Int16Array(31) }, m).catch((e: unknown) => e);
    expect(isInputError(e1)).toBe(true);
    expect((e1 as Error).message).toMatch(/ct25d@0\.1\.0.*31 voxels/);
    const e2 = await segmentVolume({ dims: [4, 4, 2], data: new Int16Array(32) }, await pool.model('tissue-unet')).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(ModelRegistryError);
    expect(e2).toMatchObject({ code: 'inference.card-unsupported', message: expect.stringMatching(/tissue-unet@0\.0\.1.*channel-first/) });
  });

  it('target_spacing_mm: the model runs on the target grid, labels and probabilities come back on the volume grid', async () => {
    // a ramp along x, 0.5 mm columns: HU(i) = -200 + 30 i; the model wants 1 mm columns (rows and slices already fit)
    const [X, Y, Z] = [20, 6, 4];
    const data = new Int16Array(X * Y * Z);
    for (let v = 0; v < data.length; v++) data[v] = -200 + 30 * (v % X);
    const spaced = await pool.model('ct3d-spaced');
    const r = await segmentVolume({ dims: [X, Y, Z], data, spacing: [0.5, 1, 2] }, spaced, { probabilities: [1] });
    expect(r.resampled).toEqual({ fromSpacingMm: [0.5, 1, 2], toSpacingMm: [1, 1, 2], dims: [10, 6, 4] });
    expect(r.labels.length).toBe(X * Y * Z);
    // independent reference: on the 10-column grid (edges aligned) column o samples x = 2 o + 0.5, HU -185 + 60 o;
    // the model's label is 1 where the windowed value > 0.5 (HU > 50); column i of the volume takes the nearest o
    const nearest = (i: number) => Math.floor((i + 0.5) / 2);
    const labelAt = (o: number) => (win(-200 + 30 * (2 * o + 0.5)) > 0.5 ? 1 : 0);
    for (let v = 0; v < data.length; v++) expect(r.labels[v]).toBe(labelAt(nearest(v % X)));
    // the result differs from running on the volume's own grid (column 8: HU 40 there, 50-ish on the coarse grid)
    const native = await segmentVolume({ dims: [X, Y, Z], data }, await pool.model('ct3d'), { probabilities: [1] });
    expect(Array.from(r.labels.subarray(0, X))).not.toEqual(Array.from(native.labels.subarray(0, X)));
    // a linear ramp survives down- and up-sampling: probabilities back on the volume grid equal the native ones inside
    // (away from the edges and from where the HU window clips the ramp, HU > 300)
    for (let i = 1; -200 + 30 * (i + 1) <= HU[1]; i++) expect(r.probabilities![1]![i]).toBeCloseTo(native.probabilities![1]![i]!, 5);
    // the same grid within rounding: nothing resampled, the native result exactly
    const same = await segmentVolume({ dims: [X, Y, Z], data, spacing: [1.02, 1, 2] }, spaced);
    expect(same.resampled).toBeUndefined();
    const plain = await segmentVolume({ dims: [X, Y, Z], data }, await pool.model('ct3d'));
    expect(Array.from(same.labels)).toEqual(Array.from(plain.labels));
    // a bad volume is the same InputError as without resampling (checked before anything is resampled)
    await expect(segmentVolume({ dims: [X, Y] as unknown as [number, number, number], data, spacing: [0.5, 1, 2] }, spaced)).rejects.toMatchObject({ code: 'inference.bad-shape' });
    await expect(segmentVolume({ dims: [X, Y, Z + 1], data, spacing: [0.5, 1, 2] }, spaced)).rejects.toMatchObject({ code: 'inference.bad-shape' });
    // a model that wants a voxel size needs the volume's
    const err = await segmentVolume({ dims: [X, Y, Z], data }, spaced).catch((e: unknown) => e);
    expect(isInputError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'inference.no-spacing' });
    expect((err as Error).message).toMatch(/segmentVolume\(ct3d-spaced@0\.1\.0\): the model expects voxels of 1 x 1 x 2 mm .* the volume carries no voxel size/);
  });

  it('a volume read slice by slice (a file) gives exactly the in-memory results, 2.5D, 3D and resampled, never asking for all at once', async () => {
    const [X, Y, Z] = [21, 18, 9];
    const vol = volume(X, Y, Z, 29);
    const XY = X * Y;
    for (const id of ['ct25d', 'ct3d', 'ct3d-spaced']) {
      const m = await pool.model(id);
      const reads: number[] = [];
      const sliced = {
        dims: vol.dims,
        spacing: [1, 1, 2.5] as const,
        // a fresh copy per read, like a file reader
        slice: (k: number) => (reads.push(k), vol.data.slice(k * XY, (k + 1) * XY)),
      };
      const want = await segmentVolume({ ...vol, spacing: [1, 1, 2.5] }, m, { probabilities: true, confidence: true });
      const got = await segmentVolume(sliced, m, { probabilities: true, confidence: true });
      expect(Buffer.from(got.labels).equals(Buffer.from(want.labels))).toBe(true);
      expect(Buffer.from(got.confidence!).equals(Buffer.from(want.confidence!))).toBe(true);
      for (const c of Object.keys(want.probabilities!)) expect(Buffer.from(got.probabilities![+c]!.buffer).equals(Buffer.from(want.probabilities![+c]!.buffer))).toBe(true);
      expect(got.resampled).toEqual(want.resampled);
      if (id === 'ct3d-spaced') expect(got.resampled?.dims).toEqual([21, 18, 11]);
      // every slice read, in rising order of first use; none far more often than the window depth needs
      expect(new Set(reads)).toEqual(new Set(Array.from({ length: Z }, (_, k) => k)));
      const counts = reads.reduce((a, k) => a.set(k, (a.get(k) ?? 0) + 1), new Map<number, number>());
      expect(Math.max(...counts.values())).toBeLessThanOrEqual(id === 'ct25d' ? 3 : 4);
    }
    // a reader that returns the wrong size is the same InputError as bad data
    const bad = { dims: vol.dims, slice: () => new Int16Array(5) };
    await expect(segmentVolume(bad, await pool.model('ct25d'))).rejects.toMatchObject({ code: 'inference.bad-shape', message: expect.stringMatching(/slice 0 has 5 values/) });
    await expect(segmentVolume({ dims: vol.dims } as never, await pool.model('ct25d'))).rejects.toMatchObject({ code: 'inference.bad-shape' });
  });

  it('resampling helpers: grid sizes, constants kept, nearest-neighbour labels on a known grid', () => {
    expect(resampledDims([512, 512, 100], [0.7, 0.7, 2.5], [1, 1, 1.25])).toEqual([358, 358, 200]);
    expect(resampledDims([3, 3, 1], [0.1, 0.1, 1], [5, 5, 5])).toEqual([1, 1, 1]);
    const c = resampleLinear(new Int16Array(5 * 4 * 3).fill(-123), [5, 4, 3], [9, 2, 5]);
    expect(c.length).toBe(9 * 2 * 5);
    expect(new Set(c)).toEqual(new Set([-123]));
    // 4 columns -> 2: each output column is the mean of its two (edges aligned: x = 2 o + 0.5)
    expect(Array.from(resampleLinear(Float32Array.from([0, 10, 20, 30]), [4, 1, 1], [2, 1, 1]))).toEqual([5, 25]);
    // 2 labels -> 4 columns: the nearest of each
    expect(Array.from(resampleNearest(Uint8Array.from([1, 2]), [2, 1, 1], [4, 1, 1]))).toEqual([1, 1, 2, 2]);
    expect(Array.from(resampleNearest(Uint8Array.from([1, 2, 3, 4, 5, 6]), [3, 2, 1], [3, 2, 1]))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a card whose target_spacing_mm is not 3 positive numbers is refused', () => {
    const r2 = tempModelsDir();
    writeModelFolder(r2, 'bad', '0.1.0', 'ct3d.onnx', { inC: 1, outC: 2, spatial: ['*', '*', '*'], preprocessing: { hu_window: HU, roi_size: [4, 8, 8], target_spacing_mm: [1, 1] } });
    const l = listModels({ modelsDir: r2 });
    expect(l.refused).toHaveLength(1);
    expect(l.refused[0]).toMatchObject({ code: 'inference.card-invalid' });
    expect(l.refused[0]!.reason).toMatch(/target_spacing_mm must be null or 3 positive numbers/);
  });
});
