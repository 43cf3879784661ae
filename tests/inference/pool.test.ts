/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
import { threadId } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createInferencePool, defaultInferenceThreads, resolveModel, type InferencePool } from '@app/inference';
import { isInputError, mulberry32 } from '@app/core';
import { cleanup, copyTissue, tempModelsDir, writeModelFolder } from './helpers';

let root: string;
let pool: InferencePool;
beforeAll(() => {
  root = tempModelsDir();
  writeModelFolder(root, 'id2d', '1.0.0', 'identity2d.onnx', { inC: 1, outC: 1, spatial: ['*', '*'], format: 'magnitude' });
  writeModelFolder(root, 'fixed', '1.0.0', 'identity2d.onnx', { inC: 2, outC: 2, spatial: [4, '8*n'], format: 'magnitude' });
  writeModelFolder(root, 'bytes', '1.0.0', 'bytes2d.onnx', { inC: 1, outC: 1, spatial: ['*', '*'], format: 'rgb' }, (c) => {
    c.network_data_format.inputs.image.dtype = 'uint8';
    c.network_data_format.inputs.image.value_range = [0, 255];
  });
  copyTissue(root);
  pool = createInferencePool({ modelsDir: root, threads: 1, intraOpNumThreads: 1, batchSize: 2 });
});
afterAll(async () => {
  await pool.close();
  cleanup();
});

describe('inference pool (worker threads)', () => {
  it('runs on a worker thread, reuses the session, and transfers (not copies) the tensors', async () => {
    const m = await pool.model('id2d');
    expect(m.executionProvider).toBe('cpu');
    expect(m.provenance).toEqual(resolveModel('id2d', { modelsDir: root }).provenance);
    for (let k = 0; k < 3; k++) {
      const x = Float32Array.from({ length: 12 }, (_, i) => i * k);
      const expected = Array.from(x);
      const r = await m.run({ image: { data: x, dims: [1, 1, 3, 4] } });
      expect(Array.from(r.outputs.pred.data)).toEqual(expected);
      expect(r.outputs.pred.dims).toEqual([1, 1, 3, 4]);
      expect(x.length).toBe(0); // the input buffer was moved to the worker (detached here)
      expect(r.provenance).toEqual(m.provenance);
    }
    // keepInputs copies instead; a view into a larger buffer is copied too (the rest of that buffer stays usable)
    const kept = new Float32Array([1, 2, 3, 4]);
    await m.run({ image: { data: kept, dims: [1, 1, 2, 2] } }, { keepInputs: true });
    expect(Array.from(kept)).toEqual([1, 2, 3, 4]);
    const big = new Float32Array(8).fill(7);
    await m.run({ image: { data: big.subarray(4), dims: [1, 1, 2, 2] } });
    expect(big.length).toBe(8);
    const s = pool.stats();
    expect(s.sessionsCreated).toBe(1); // one session for the one worker, reused for all runs
    expect(s.runs).toBe(5);
    expect(s.threadIds).toHaveLength(1);
    expect(s.threadIds).not.toContain(threadId);
  });

  it('shared memory: a SharedArrayBuffer input is read in place and the result lands in the given shared output', async () => {
    const m = await pool.model('id2d');
    expect(m.sharedMemory).toBe(true);
    const input = new Float32Array(new SharedArrayBuffer(4 * 16));
    const output = new Float32Array(new SharedArrayBuffer(4 * 12));
    for (let k = 1; k <= 3; k++) {
      for (let i = 0; i < 12; i++) input[i] = i * k - 5;
      const r = await m.run({ image: { data: input.subarray(0, 12), dims: [1, 1, 3, 4] } }, { outputs: { pred: output } });
      expect(input.length).toBe(16); // never detached
      expect(Array.from(output)).toEqual(Array.from(input.subarray(0, 12))); // written into the caller's buffer
      expect(Object.prototype.toString.call(r.outputs.pred.data.buffer)).toBe('[object SharedArrayBuffer]');
      output[0] = 1234; // the returned view and the caller's buffer are the same memory
      expect(r.outputs.pred.data[0]).toBe(1234);
    }
    // wrong length, non-shared or unknown outputs are refused; the pool keeps working
    await expect(m.run({ image: { data: new Float32Array(12), dims: [1, 1, 3, 4] } }, { outputs: { pred: new Float32Array(new SharedArrayBuffer(4 * 11)) } })).rejects.toThrow(/output "pred" has 12 values, the shared buffer given for it 11/);
    await expect(m.run({ image: { data: new Float32Array(12), dims: [1, 1, 3, 4] } }, { outputs: { pred: new Float32Array(12) } })).rejects.toMatchObject({ code: 'inference.bad-option' });
    await expect(m.run({ image: { data: new Float32Array(12), dims: [1, 1, 3, 4] } }, { outputs: { nope: output } })).rejects.toMatchObject({ code: 'inference.bad-option' });
    const again = await m.run({ image: { data: Float32Array.from({ length: 4 }, (_, i) => i), dims: [1, 1, 2, 2] } });
    expect(Array.from(again.outputs.pred.data)).toEqual([0, 1, 2, 3]);
  });

  it('uint8-input models: transferred, shared and batched Uint8Array inputs reach the worker as bytes; a Float32Array is refused', async () => {
    const m = await pool.model('bytes');
    const want = (x: Uint8Array) => Array.from(x, (v) => Math.fround(v / 255));
    const x = Uint8Array.from({ length: 12 }, (_, i) => i * 21);
    const copy = x.slice();
    const r = await m.run({ image: { data: x, dims: [1, 1, 3, 4] } });
    expect(Array.from(r.outputs.pred.data)).toEqual(want(copy));
    expect(x.length).toBe(0); // moved to the worker, as float inputs are
    // shared memory, read in place (a view of a longer shared buffer), twice with other contents
    const shared = new Uint8Array(new SharedArrayBuffer(20));
    for (const k of [1, 2]) {
      for (let i = 0; i < 20; i++) shared[i] = (i * 13 * k) & 255;
      const s = await m.run({ image: { data: shared.subarray(0, 12), dims: [1, 1, 3, 4] } });
      expect(Array.from(s.outputs.pred.data)).toEqual(want(shared.subarray(0, 12)));
      expect(shared.length).toBe(20);
    }
    const items = [1, 2, 1].map((n, k) => ({ image: { data: Uint8Array.from({ length: n * 4 }, (_, i) => 40 * k + i), dims: [n, 1, 2, 2] } }));
    const before = items.map((it) => it.image.data.slice());
    const b = await m.runBatch(items, { batchSize: 3 });
    b.outputs.forEach((o, k) => expect(Array.from(o.pred.data)).toEqual(want(before[k]!)));
    await expect(m.run({ image: { data: new Float32Array(4), dims: [1, 1, 2, 2] } })).rejects.toMatchObject({ code: 'inference.bad-dtype' });
    const f = await pool.model('id2d');
    await expect(f.run({ image: { data: new Uint8Array(4), dims: [1, 1, 2, 2] } })).rejects.toMatchObject({ code: 'inference.bad-dtype' });
  });

  it('the caller event loop keeps ticking while the U-Net runs (inference is off the main thread)', async () => {
    const m = await pool.model('tissue-unet');
    const x = () => Float32Array.from({ length: 500 * 500 * 3 }, (_, i) => ((i * 7919) % 256) / 255);
    await m.run({ input: { data: x(), dims: [1, 500, 500, 3] } }); // warm
    const items = [0, 1, 2, 3].map(() => ({ input: { data: x(), dims: [1, 500, 500, 3] } }));
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 2);
    const t0 = performance.now();
    const r = await m.runBatch(items, { batchSize: 1 });
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(r.outputs).toHaveLength(4);
    expect(r.provenance).toEqual({ id: 'tissue-unet', version: '0.0.1', sha256: '9588c4a5088eb9405ae12a37a8ce19fd1c56017e5d929ede79dfd868e571516d' });
    // 4 runs of ~75+ ms each; a blocked loop would show one gap as long as a run
    expect(ticks).toBeGreaterThan(10);
    expect(maxGap).toBeLessThan(elapsed / 2);
  });

  it('runBatch concatenates items into runs of batchSize and splits the outputs back in order', async () => {
    const m = await pool.model('fixed');
    const rnd = mulberry32(5);
    const items = [1, 2, 1, 1, 3].map((n) => ({ image: { data: Float32Array.from({ length: n * 2 * 4 * 16 }, () => rnd()), dims: [n, 2, 4, 16] } }));
    const copies = items.map((it) => Array.from(it.image.data));
    const before = pool.stats().runs;
    const r = await m.runBatch(items);
    expect(pool.stats().runs - before).toBe(3); // 5 items, batchSize 2
    r.outputs.forEach((o, k) => {
      expect(o.pred.dims).toEqual(items[k].image.dims);
      expect(Array.from(o.pred.data)).toEqual(copies[k]);
    });
  });

  it('an input that does not fit the card is an InputError naming the model and tensor', async () => {
    const m = await pool.model('fixed');
    const cases: [Record<string, { data: Float32Array; dims: number[] }>, string, RegExp][] = [
      [{ image: { data: new Float32Array(2 * 4 * 12), dims: [1, 2, 4, 12] } }, 'inference.bad-shape', /fixed@1\.0\.0: input "image" has shape \[1,2,4,12\], the model card expects \[N,2,4,8\*n\]/],
      [{ image: { data: new Float32Array(3 * 4 * 8), dims: [1, 3, 4, 8] } }, 'inference.bad-shape', /"image"/],
      [{ image: { data: new Float32Array(10), dims: [1, 2, 4, 8] } }, 'inference.bad-shape', /has 10 values/],
      [{}, 'inference.missing-input', /input "image" not given/],
      [{ image: { data: new Float32Array(64), dims: [1, 2, 4, 8] }, extra: { data: new Float32Array(1), dims: [1] } }, 'inference.unknown-input', /no input "extra"/],
    ];
    for (const [inputs, code, msg] of cases) {
      const err = await m.run(inputs).catch((e: unknown) => e);
      expect(isInputError(err)).toBe(true);
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toMatch(msg);
    }
    const tissue = await pool.model('tissue-unet');
    await expect(tissue.run({ input: { data: new Float32Array(3 * 500 * 500), dims: [1, 3, 500, 500] } })).rejects.toMatchObject({
      code: 'inference.bad-shape',
      message: expect.stringContaining('expects [N,500,500,3] (NHWC)'),
    });
  });

  it('pool.model accepts a card or a registered model, and refuses a card that is not the registered one', async () => {
    const reg = resolveModel('id2d', { modelsDir: root });
    expect((await pool.model(reg.card)).provenance).toEqual(reg.provenance);
    expect((await pool.model(reg)).provenance).toEqual(reg.provenance);
    await expect(pool.model({ ...reg.card, sha256: 'f'.repeat(64) })).rejects.toMatchObject({ code: 'inference.sha256-mismatch' });
    await expect(pool.model('missing')).rejects.toMatchObject({ code: 'inference.unknown-model' });
  });

  it('INFERENCE_EP=cuda without the CUDA provider: CPU, with exactly one warning per process', async () => {
    const old = process.env.INFERENCE_EP;
    process.env.INFERENCE_EP = 'cuda';
    const warnings: string[] = [];
    const p = createInferencePool({ modelsDir: root, warn: (w) => warnings.push(w) });
    try {
      const a = await p.model('id2d');
      const b = await p.model('fixed');
      if (a.executionProvider === 'cpu') {
        expect(b.executionProvider).toBe('cpu');
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/CUDA execution provider unavailable.*falling back to CPU/);
      } else expect(warnings).toHaveLength(0);
    } finally {
      await p.close();
      if (old === undefined) delete process.env.INFERENCE_EP;
      else process.env.INFERENCE_EP = old;
    }
  });

  it('defaults: on CPU one single-threaded session per core (up to 4); one session on CUDA; settings win', async () => {
    const saved = { t: process.env.INFERENCE_THREADS, i: process.env.INFERENCE_INTRAOP_THREADS };
    delete process.env.INFERENCE_THREADS;
    delete process.env.INFERENCE_INTRAOP_THREADS;
    const pools: InferencePool[] = [];
    try {
      const cpu = createInferencePool({ modelsDir: root, executionProvider: 'cpu' });
      pools.push(cpu);
      const cores = Math.min(4, availableParallelism());
      expect(cpu.threads).toBe(defaultInferenceThreads('cpu'));
      expect(cpu.threads).toBe(cores);
      expect(cpu.intraOpNumThreads).toBe(cores > 1 ? 1 : undefined);
      expect(defaultInferenceThreads('cuda')).toBe(1);
      const one = createInferencePool({ modelsDir: root, threads: 1 });
      pools.push(one);
      expect([one.threads, one.intraOpNumThreads]).toEqual([1, undefined]); // onnxruntime's own default
      process.env.INFERENCE_THREADS = '3';
      process.env.INFERENCE_INTRAOP_THREADS = '2';
      const env = createInferencePool({ modelsDir: root });
      pools.push(env);
      expect([env.threads, env.intraOpNumThreads]).toEqual([3, 2]);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      for (const [k, v] of [['INFERENCE_THREADS', saved.t], ['INFERENCE_INTRAOP_THREADS', saved.i]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('two threads: results in order, at most one session per worker, never the caller thread; close() ends the pool', async () => {
    const p = createInferencePool({ modelsDir: root, threads: 2, intraOpNumThreads: 1 });
    const m = await p.model('id2d');
    const xs = Array.from({ length: 8 }, (_, k) => ({ image: { data: new Float32Array(64 * 64).fill(k), dims: [1, 1, 64, 64] } }));
    const r = await m.runBatch(xs, { batchSize: 1 });
    r.outputs.forEach((o, k) => expect(o.pred.data[100]).toBe(k));
    const s = p.stats();
    expect(s.sessionsCreated).toBeLessThanOrEqual(2);
    expect(s.threadIds).not.toContain(threadId);
    await p.close();
    await expect(m.run({ image: { data: new Float32Array(4), dims: [1, 1, 2, 2] } })).rejects.toThrow(/closed/);
  });
});
