/** Shared by the jest fuzz suite and `npm run fuzz`: run input i (deterministic) and classify its outcome. */
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { isInputError } from '@app/core';
import { mutate, rngFor, type Seed } from './mutate';
import { dicomTarget, slideTarget, type SlideTargetOptions } from './targets';

export type Outcome = 'ok' | 'input-error' | 'other-error';

export interface CaseResult {
  i: number;
  seed: string;
  ops: string[];
  outcome: Outcome;
  code?: string;
  message?: string;
  ms: number;
}

/** Runs input `i` of run `baseSeed` over `seeds` (written under `dir` for the file-based slide reader). */
export async function runCase(seeds: Seed[], baseSeed: number, i: number, dir: string, slideOptions?: (i: number, seed: Seed) => SlideTargetOptions): Promise<CaseResult> {
  const seed = seeds[i % seeds.length];
  const { bytes, ops } = mutate(seed, rngFor(baseSeed, i));
  const t0 = performance.now();
  let outcome: Outcome = 'ok';
  let code: string | undefined;
  let message: string | undefined;
  const path = join(dir, `in-${i}${seed.ext}`);
  try {
    if (seed.kind === 'slide') {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path, bytes);
      await slideTarget(path, join(dir, `blinded-${i}.tif`), slideOptions?.(i, seed));
    } else {
      await dicomTarget(bytes, `${seed.name}#${i}`);
    }
  } catch (e) {
    if (isInputError(e)) {
      outcome = 'input-error';
      code = e.code;
    } else {
      outcome = 'other-error';
      message = `${(e as Error)?.name}: ${(e as Error)?.message ?? e}`.slice(0, 500);
    }
    message ??= (e as Error).message?.slice(0, 300);
  } finally {
    rmSync(path, { force: true });
  }
  return { i, seed: seed.name, ops, outcome, code, message, ms: performance.now() - t0 };
}
