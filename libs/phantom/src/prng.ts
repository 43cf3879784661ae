import { createHash } from 'node:crypto';

/** mulberry32 lives in @app/core (shared with the other generators); re-exported for this library's users. */
export { mulberry32 } from '@app/core';
import { mulberry32 } from '@app/core';

/** A 32-bit seed derived from any list of parts (stable across runs and platforms). */
export function deriveSeed(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32LE(0);
}

/** Fills `out` with standard-normal samples (Box-Muller) from `rand`. */
export function fillGaussian(out: Float32Array, rand: () => number): void {
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    let u = rand();
    if (u < 1e-12) u = 1e-12;
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * rand();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
}

/**
 * A deterministic DICOM UID under the `2.25.` root (ISO/IEC 9834-8 UUID-derived integer form):
 * the first 128 bits of sha256(parts) as a decimal integer; at most 44 characters.
 */
export function phantomUid(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(['phantom-uid', ...parts].join('\u0000')).digest();
  h[0] &= 0x7f; // keep well under 2^128 and avoid a leading-zero issue
  return `2.25.${BigInt('0x' + h.subarray(0, 16).toString('hex')).toString(10)}`;
}
