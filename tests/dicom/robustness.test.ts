import fc from 'fast-check';
import { isInputError } from '@app/core';
import { decodeAllFrames, parseDicom } from '@app/dicom';
import { fixture } from './helpers';

/**
 * Property: whatever the bytes, parse + decode either succeeds or throws an InputError. Any other
 * exception (TypeError, RangeError, a thrown string, a WASM abort) would be retried forever by the
 * pipeline instead of quarantining the object.
 */
const sources = [
  'small/CT_small.dcm',
  'small/MR_small_RLE.dcm',
  'small/MR_small_jpeg_ls_lossless.dcm',
  'small/MR_small_jp2klossless.dcm',
  'small/SC_rgb_jpeg_dcmtk.dcm',
  'small/MR_small_bigendian.dcm',
  'encapsulated/image_dfl.dcm',
  'invalid/no_meta.dcm',
].map((f) => fixture(f));

async function outcome(buf: Buffer): Promise<'ok' | 'input-error'> {
  try {
    const p = parseDicom(buf);
    if (p.header.image.hasPixelData) await decodeAllFrames(p, { limits: { maxTotalBytes: 64 << 20 } });
    return 'ok';
  } catch (e) {
    if (isInputError(e)) return 'input-error';
    throw new Error(`non-InputError ${e instanceof Error ? `${e.name}: ${e.message}` : typeof e + ' ' + String(e)}`);
  }
}

describe('robustness: corrupted objects give InputError, never another exception', () => {
  it('truncation at any byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(sources.length - 1), fc.double({ min: 0, max: 1, noNaN: true }), async (s, frac) => {
        const src = sources[s];
        await outcome(src.subarray(0, Math.floor(src.length * frac)));
      }),
      { numRuns: 150, seed: 42 },
    );
  });

  it('random byte corruption (header and pixel data)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(sources.length - 1),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
        async (s, edits) => {
          const buf = Buffer.from(sources[s]);
          for (const [pos, val] of edits) buf[Math.floor(pos * (buf.length - 1))] = val;
          await outcome(buf);
        },
      ),
      { numRuns: 250, seed: 7 },
    );
  });

  it('random byte corruption concentrated in the header (first 1500 bytes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(sources.length - 1),
        fc.array(fc.tuple(fc.nat(1499), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        async (s, edits) => {
          const buf = Buffer.from(sources[s]);
          for (const [pos, val] of edits) buf[Math.min(pos, buf.length - 1)] = val;
          await outcome(buf);
        },
      ),
      { numRuns: 300, seed: 11 },
    );
  });
});
