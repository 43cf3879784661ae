/**
 * Scratch (libs/analysis/src/scratch.ts): reused typed-array buffers for the analyses over every reader row, so that
 * one report does not allocate the off-heap memory that sets off V8's full collections. Reuse must never leak one
 * analysis's values into another's results.
 */
import { readerAgreement } from '@app/analysis';
import type { Dataset } from '@app/datasets';
import { readDatasets, resolveSettings, simulateTrial } from '@app/endpoints';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { releaseScratchMemory, Scratch, withScratch } from '../../libs/analysis/src/scratch';

setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;
const tick = () => new Promise((r) => setImmediate(r));

describe('Scratch', () => {
  test('a released buffer is reused by the next analysis, and filled afresh', () => {
    const s1 = new Scratch();
    const a = s1.f64(1000, 7);
    expect(Array.from(a.subarray(0, 3))).toEqual([7, 7, 7]);
    a.fill(42);
    s1.release();
    const b = withScratch((s2) => {
      const v = s2.f64(900, Number.NaN);
      expect(v.buffer).toBe(a.buffer); // the same off-heap buffer, not a new one
      expect(v.every(Number.isNaN)).toBe(true); // no 42 left from the first analysis
      return v.length;
    });
    expect(b).toBe(900);
  });

  test('views taken from one Scratch never share a buffer; kinds and fills are as asked', () => {
    const s = new Scratch();
    const x = s.i32(10, -1);
    const y = s.u8(10, 3);
    const z = s.f64(10);
    expect(new Set([x.buffer, y.buffer, z.buffer]).size).toBe(3);
    expect([x instanceof Int32Array, y instanceof Uint8Array, z instanceof Float64Array]).toEqual([true, true, true]);
    expect([x[9], y[9], z[9]]).toEqual([-1, 3, 0]);
    s.release();
  });

  test('released buffers survive full collections while analyses keep coming, and are given back once idle', async () => {
    const bytes = 3 << 20; // a size no other test takes
    let ref: WeakRef<ArrayBufferLike>;
    {
      const s = new Scratch();
      ref = new WeakRef(s.f64(bytes / 8).buffer);
      s.release();
    }
    await tick();
    fullGc();
    // held strongly: the next analysis gets the same buffer back, not a new allocation that would set off another collection
    expect(ref.deref()).toBeDefined();
    withScratch((s) => expect(s.f64(bytes / 8).buffer).toBe(ref.deref()));
    // idle (the timer's job, done here at once): only the weak cache holds it, and a full collection frees it
    releaseScratchMemory();
    await tick();
    fullGc();
    expect(ref.deref()).toBeUndefined();
  });

  test('a buffer is handed back when the analysis throws', () => {
    let kept: ArrayBufferLike | undefined;
    expect(() =>
      withScratch((s) => {
        kept = s.f64(5000).buffer;
        throw new Error('boom');
      }),
    ).toThrow('boom');
    withScratch((s) => expect(s.f64(5000).buffer).toBe(kept));
  });
});

describe('readerAgreement with reused scratch', () => {
  const ds = (seed: number) => readDatasets(simulateTrial({ subjects: 60, visits: 5, seed, readers: true }), resolveSettings({})).datasets as [Dataset, Dataset];
  test('a second analysis on other data leaves the first one\'s results as they were', () => {
    const first = readerAgreement(...ds(11));
    const before = JSON.stringify(first, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v));
    const second = readerAgreement(...ds(12));
    expect(JSON.stringify(second)).not.toBe(before);
    expect(JSON.stringify(first, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v))).toBe(before);
    // the Bland-Altman points are the result's own arrays
    expect(Array.isArray(first.lesions[0]!.points.mean)).toBe(true);
  });
});
