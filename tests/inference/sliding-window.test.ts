/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
import { execFileSync } from 'node:child_process';
import { mulberry32 } from '@app/core';
import { createInferencePool, gaussianImportanceMap, runWindows, slidingWindow2d, slidingWindow3d, windowStarts, type InferencePool, type WindowReuse, type WindowRunner } from '@app/inference';
import { cleanup, tempModelsDir, writeModelFolder } from './helpers';

const rand = (n: number, seed: number) => {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
};

/** A JS "model": output channel c = input channel (c % inC) + c (so channels are told apart); records windows seen. */
function jsModel(inC: number, outC: number, roiN: number, seen?: { windows: number; calls: number }): WindowRunner {
  return async (batch, n) => {
    if (seen) (seen.windows += n), seen.calls++;
    const out = new Float32Array(n * outC * roiN);
    for (let k = 0; k < n; k++) {
      for (let c = 0; c < outC; c++) {
        for (let i = 0; i < roiN; i++) out[(k * outC + c) * roiN + i] = batch[(k * inC + (c % inC)) * roiN + i] + c;
      }
    }
    await new Promise((r) => setImmediate(r));
    return out;
  };
}
/** What jsModel gives for a whole image [inC, N] -> [outC, N]. */
function expectedOf(data: Float32Array, inC: number, outC: number): Float32Array {
  const n = data.length / inC;
  const out = new Float32Array(outC * n);
  for (let c = 0; c < outC; c++) for (let i = 0; i < n; i++) out[c * n + i] = data[(c % inC) * n + i] + c;
  return out;
}

afterAll(cleanup);

describe('Gaussian importance map (nnU-Net)', () => {
  it('matches scipy.ndimage.gaussian_filter of a centred impulse, normalised to max 1, zeros -> min non-zero', () => {
    const rois = [[16, 12], [5, 7, 9], [64, 64], [3, 1]];
    const py = `
import sys, json, numpy as np
from scipy.ndimage import gaussian_filter
out = []
for roi in ${JSON.stringify(rois)}:
    t = np.zeros(roi); t[tuple(r // 2 for r in roi)] = 1
    g = gaussian_filter(t, [r * 0.125 for r in roi], 0, mode='constant', cval=0)
    g = g / g.max()
    g[g == 0] = g[g != 0].min()
    out.append(g.astype(np.float64).ravel().tolist())
sys.stdout.write(json.dumps(out))`;
    const refs = JSON.parse(execFileSync('/usr/bin/python3', ['-c', py]).toString()) as number[][];
    rois.forEach((roi, k) => {
      const map = gaussianImportanceMap(roi, 0.125);
      const ref = refs[k];
      expect(map.length).toBe(ref.length);
      let maxErr = 0;
      for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(map[i] - ref[i]));
      expect(maxErr).toBeLessThan(1e-6);
    });
  });

  it('properties: centre 1 = max, symmetric about the centre, strictly positive, separable', () => {
    const [h, w] = [17, 11];
    const m = gaussianImportanceMap([h, w]);
    const cy = 8;
    const cx = 5;
    expect(m[cy * w + cx]).toBe(1);
    expect(Math.max(...m)).toBe(1);
    expect(Math.min(...m)).toBeGreaterThan(0);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expect(m[y * w + x]).toBeCloseTo(m[(2 * cy - y) * w + (2 * cx - x)] ?? m[y * w + x], 7);
    // separable: m(y,x) * m(cy,cx) = m(y,cx) * m(cy,x)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expect(m[y * w + x]).toBeCloseTo(m[y * w + cx] * m[cy * w + x], 6);
  });
});

describe('window positions', () => {
  it('cover the image exactly, the last window flush with the edge, step floor(roi*(1-overlap))', () => {
    expect(windowStarts(10, 4, 0.5)).toEqual([0, 2, 4, 6]);
    expect(windowStarts(11, 4, 0.5)).toEqual([0, 2, 4, 6, 7]);
    expect(windowStarts(4, 4, 0.5)).toEqual([0]);
    expect(windowStarts(3, 4, 0.5)).toEqual([0]);
    expect(windowStarts(9, 4, 0)).toEqual([0, 4, 5]);
    for (let size = 1; size < 40; size++) {
      for (const [roi, ov] of [[5, 0.5], [8, 0.25], [3, 0.9]] as const) {
        const s = windowStarts(size, roi, ov);
        expect(s[0]).toBe(0);
        expect(s[s.length - 1]).toBe(Math.max(0, size - roi));
        for (let i = 1; i < s.length; i++) expect(s[i] - s[i - 1]).toBeLessThanOrEqual(Math.max(1, Math.floor(roi * (1 - ov))));
      }
    }
  });
});

describe('slidingWindow2d / 3d with an identity-like model', () => {
  const cases2d: [string, number, number, [number, number]][] = [
    ['odd sizes', 37, 29, [8, 6]],
    ['image smaller than roi', 5, 3, [8, 6]],
    ['one side smaller', 23, 4, [8, 6]],
    ['exactly roi', 8, 6, [8, 6]],
  ];
  for (const blending of ['gaussian', 'constant'] as const) {
    for (const [name, H, W, roi] of cases2d) {
      it(`2D ${blending}, ${name} (${H}x${W}, roi ${roi}): reproduces the input exactly`, async () => {
        const inC = 2;
        const outC = 3;
        const data = rand(inC * H * W, H * 100 + W);
        const seen = { windows: 0, calls: 0 };
        const out = await slidingWindow2d({ data, channels: inC, height: H, width: W }, jsModel(inC, outC, roi[0] * roi[1], seen), { roi, overlap: 0.5, blending, outChannels: outC, batchSize: 3 });
        expect(out).toEqual(expectedOf(data, inC, outC));
        const ph = Math.max(H, roi[0]);
        const pw = Math.max(W, roi[1]);
        expect(seen.windows).toBe(windowStarts(ph, roi[0], 0.5).length * windowStarts(pw, roi[1], 0.5).length);
        expect(seen.calls).toBe(Math.ceil(seen.windows / 3));
      });
    }
    it(`3D ${blending}: odd sizes and a dim smaller than roi reproduce the input exactly`, async () => {
      for (const [D, H, W] of [[13, 9, 11], [3, 10, 7]]) {
        const roi = [4, 6, 5];
        const data = rand(D * H * W, D + H + W);
        const out = await slidingWindow3d({ data, channels: 1, depth: D, height: H, width: W }, jsModel(1, 2, 4 * 6 * 5), { roi, blending, outChannels: 2, batchSize: 2, overlap: 0.5 });
        expect(out).toEqual(expectedOf(data, 1, 2));
      }
    });
  }

  it('blending really weights: a window-position-dependent model gives the Gaussian/constant weighted means', async () => {
    const H = 10;
    const W = 1;
    const roi: [number, number] = [4, 1];
    // windows start at rows 0, 2, 4, 6; with batchSize 1, window number w outputs the constant w
    let w = 0;
    const run1: WindowRunner = async (_b, n) => new Float32Array(n * 4).fill(w++);
    const out = await slidingWindow2d({ data: new Float32Array(H), channels: 1, height: H, width: W }, run1, { roi, overlap: 0.5, blending: 'constant', outChannels: 1, batchSize: 1 });
    // constant: row r covered by windows {w : 2w <= r < 2w+4}; mean of their indices
    for (let r = 0; r < H; r++) {
      const ws = [0, 1, 2, 3].filter((x) => 2 * x <= r && r < 2 * x + 4);
      expect(out[r]).toBeCloseTo(ws.reduce((a, b) => a + b, 0) / ws.length, 6);
    }
    w = 0;
    const g = gaussianImportanceMap([4, 1]);
    const outG = await slidingWindow2d({ data: new Float32Array(H), channels: 1, height: H, width: W }, run1, { roi, overlap: 0.5, blending: 'gaussian', outChannels: 1, batchSize: 1 });
    for (let r = 0; r < H; r++) {
      const ws = [0, 1, 2, 3].filter((x) => 2 * x <= r && r < 2 * x + 4);
      const num = ws.reduce((a, x) => a + g[r - 2 * x] * x, 0);
      const den = ws.reduce((a, x) => a + g[r - 2 * x], 0);
      expect(outG[r]).toBeCloseTo(num / den, 6);
    }
  });

  it('reuse (segmentVolume slice by slice): buffers and the weight plane carried across calls give bit-identical planes', async () => {
    // a model whose output depends on the window content and on a per-call random stream, so any stale accumulator,
    // weight or output buffer shows; calls of two plane sizes interleave (a size change must not reuse a buffer)
    const model = (seed: number): WindowRunner => {
      const r = mulberry32(seed);
      return async (batch, n) => {
        const out = new Float32Array(n * 3 * 16);
        for (let i = 0; i < out.length; i++) out[i] = batch[i % batch.length] * 0.5 + r();
        await new Promise((res) => setImmediate(res));
        return out;
      };
    };
    const g = gaussianImportanceMap([1, 4, 4]);
    const call = async (H: number, W: number, seed: number, reuse?: WindowReuse) => {
      const img = rand(2 * H * W, seed);
      const planes: Float32Array[] = [];
      await runWindows(
        {
          size: [1, H, W], roi: [1, 4, 4], inChannels: 2, outChannels: 3, overlap: 0.5, blending: 'gaussian', sigmaScale: 0.125, batchSize: 3, concurrency: 2, importance: g, reuse,
          fill: (dst, off, _z, y0, x0, pad) => {
            for (let c = 0; c < 2; c++) for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) {
              const y = y0 + dy - pad[1];
              const x = x0 + dx - pad[2];
              dst[off + (c * 4 + dy) * 4 + dx] = y < 0 || y >= H || x < 0 || x >= W ? 0 : img[c * H * W + y * W + x];
            }
          },
          emit: (_z, p) => void planes.push(p.slice()),
        },
        model(seed),
      );
      return planes[0];
    };
    const reuse: WindowReuse = { planes: [] };
    const sizes: [number, number][] = [[11, 9], [11, 9], [7, 13], [11, 9], [3, 2], [11, 9]];
    for (const [n, [H, W]] of sizes.entries()) {
      const fresh = await call(H, W, 100 + n);
      const reused = await call(H, W, 100 + n, reuse);
      expect(Buffer.from(reused.buffer).equals(Buffer.from(fresh.buffer))).toBe(true);
    }
    expect(reuse.planes.length).toBeGreaterThan(0);
    expect(reuse.weights?.key).toMatch(/^11x9\|/);
  });

  it('a model returning the wrong number of values is a clear InputError', async () => {
    const bad: WindowRunner = async (_b, n) => new Float32Array(n * 5);
    await expect(slidingWindow2d({ data: new Float32Array(64), channels: 1, height: 8, width: 8 }, bad, { roi: [4, 4], outChannels: 1, batchSize: 1 })).rejects.toMatchObject({
      code: 'inference.bad-shape',
      message: expect.stringMatching(/returned 5 values for 1 windows, expected 16/),
    });
    await expect(slidingWindow2d({ data: new Float32Array(63), channels: 1, height: 8, width: 8 }, bad, { roi: [4, 4], outChannels: 1 })).rejects.toMatchObject({ code: 'inference.bad-shape' });
    await expect(slidingWindow2d({ data: new Float32Array(64), channels: 1, height: 8, width: 8 }, bad, { roi: [4, 4, 4], outChannels: 1 })).rejects.toMatchObject({ code: 'inference.bad-option' });
  });
});

describe('sliding window through the ONNX pool (identity models)', () => {
  let pool: InferencePool;
  let root: string;
  beforeAll(() => {
    root = tempModelsDir();
    writeModelFolder(root, 'id2d', '1.0.0', 'identity2d.onnx', { inC: 2, outC: 2, spatial: ['*', '*'], format: 'magnitude' });
    writeModelFolder(root, 'id3d', '1.0.0', 'identity3d.onnx', { inC: 1, outC: 1, spatial: ['*', '*', '*'], format: 'magnitude' });
    pool = createInferencePool({ modelsDir: root, threads: 1, intraOpNumThreads: 1 });
  });
  afterAll(() => pool.close());

  for (const blending of ['gaussian', 'constant'] as const) {
    it(`2D and 3D ${blending}: an ONNX Identity reproduces the input exactly (odd sizes, smaller than roi)`, async () => {
      const m2 = await pool.model('id2d');
      for (const [H, W] of [[21, 19], [5, 4]]) {
        const data = rand(2 * H * W, H * W);
        const roi: [number, number] = [8, 6];
        const run: WindowRunner = async (batch, n) => (await m2.run({ image: { data: batch, dims: [n, 2, ...roi] } })).outputs.pred.data;
        expect(await slidingWindow2d({ data, channels: 2, height: H, width: W }, run, { roi, blending, outChannels: 2, batchSize: 4 })).toEqual(data);
      }
      const m3 = await pool.model('id3d');
      const [D, H, W] = [7, 9, 5];
      const data = rand(D * H * W, 3);
      const roi = [4, 4, 6];
      const run3: WindowRunner = async (batch, n) => (await m3.run({ image: { data: batch, dims: [n, 1, ...roi] } })).outputs.pred.data;
      expect(await slidingWindow3d({ data, channels: 1, depth: D, height: H, width: W }, run3, { roi, blending, outChannels: 1, batchSize: 3 })).toEqual(data);
    });
  }
});
