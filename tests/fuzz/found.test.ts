/**
 * Inputs the large fuzz run (`npm run fuzz`, 50,000 inputs, seed 1) found raising something other than an
 * InputError, replayed exactly (same corpus, seed and index as that run): each must now be refused with an
 * InputError naming what is wrong.
 * - 24722: an RLE DICOM whose Basic Offset Table entry matches no fragment: dicom-parser threw a bare string.
 * - 41862: a YCbCr TIFF whose YCbCrSubSampling was mutated to a vertical factor of 0: the block size became
 *   Infinity and `new Uint8Array(Infinity)` threw a RangeError.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCorpus } from './corpus';
import { runCase } from './fuzz';
import type { Seed } from './mutate';

let dir: string;
let seeds: Seed[];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fuzz-found-'));
  seeds = await buildCorpus('all');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.each([
  [24722, 'CT0012.not_fragmented_bot_rle.dcm', /^dicom\.malformed: .*Encapsulated Pixel Data, frame \d+: could not find fragment with offset matching basic offset table/],
  [41862, 'subsampled.tif', /^wsi\.bad-ifd: .*YCbCrSubSampling .* is not valid/],
])('fuzz input %i (%s) is refused with an InputError', async (i, seedName, message) => {
  const r = await runCase(seeds, 1, i, dir);
  expect(r.seed).toContain(seedName);
  expect(r.outcome).toBe('input-error');
  expect(`${r.code}: ${r.message}`).toMatch(message);
});
