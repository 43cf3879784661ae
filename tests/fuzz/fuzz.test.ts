/**
 * CI fuzz suite (deterministic): mutated slide fixtures (SVS, TIFF, OME-TIFF, DICOM WSI, synthetic LZW /
 * PackBits / Deflate / JPEG TIFFs) and DICOM fixtures, run through the same entry points as the pipeline
 * (openSlide + readRegion + associated images + blindSlide; DICOM parse + pixel decoding) IN THIS PROCESS,
 * with the decoders in the sandbox. Every input must succeed or be refused with an InputError: no other
 * exception, none over 10 s, and this process must survive (a fatal decoder error would end the jest worker).
 * The larger run is `npm run fuzz` (tests/fuzz/fuzz.run.ts).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { buildCorpus } from './corpus';
import { runCase, type CaseResult } from './fuzz';
import type { Seed } from './mutate';

jest.setTimeout(120_000);

const SEED = 20261205;
const SLIDE_INPUTS = Number(process.env.FUZZ_CI_SLIDE_INPUTS ?? 700);
const DICOM_INPUTS = Number(process.env.FUZZ_CI_DICOM_INPUTS ?? 2300);

/** CI budget: large seeds (the MB-sized SVS / JPEG 2000 / OME fixtures) read smaller regions and are blinded every 4th time. */
const LIGHT = (i: number, seed: Seed) => (seed.bytes.length > 500_000 ? { regionPx: 128, lowestLevelPx: 256, blind: i % 4 === 0 } : {});

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fuzz-ci-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runAll(seeds: Seed[], n: number): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (let i = 0; i < n; i++) out.push(await runCase(seeds, SEED, i, dir, LIGHT));
  return out;
}

function check(results: CaseResult[], n: number) {
  expect(results).toHaveLength(n);
  const others = results.filter((r) => r.outcome === 'other-error');
  // reproducible: the input index, its seed file and its mutations
  expect(others.map((o) => `input ${o.i} (${o.seed}; ${o.ops.join(', ')}): ${o.message}`)).toEqual([]);
  const slow = results.filter((r) => r.ms > 10_000);
  expect(slow.map((o) => `input ${o.i} (${o.seed}): ${Math.round(o.ms)} ms`)).toEqual([]);
  // the corpus is useful: both outcomes occur
  expect(results.filter((r) => r.outcome === 'ok').length).toBeGreaterThan(n * 0.05);
  expect(results.filter((r) => r.outcome === 'input-error').length).toBeGreaterThan(n * 0.3);
}

test(`${SLIDE_INPUTS} mutated slides: each opens and reads, or is refused with an InputError`, async () => {
  const seeds = await buildCorpus('slide');
  expect(seeds.length).toBeGreaterThanOrEqual(14);
  check(await runAll(seeds, SLIDE_INPUTS), SLIDE_INPUTS);
});

test(`${DICOM_INPUTS} mutated DICOM objects: each decodes, or is refused with an InputError`, async () => {
  const seeds = await buildCorpus('dicom');
  expect(seeds.length).toBeGreaterThanOrEqual(20);
  check(await runAll(seeds, DICOM_INPUTS), DICOM_INPUTS);
});
