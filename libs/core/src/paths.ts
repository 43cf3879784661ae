import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * The repository root (the folder holding the top-level package.json). Works both from sources
 * (jest, `libs/x/src`) and from the compiled tree (`dist/libs/x/src`). Use it to find shipped
 * assets such as `models/` and `tests/fixtures/`; never read anything outside it.
 */
export function repoRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'nest-cli.json'))) return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('repoRoot: cannot find the repository root (package.json + nest-cli.json)');
    dir = up;
  }
}

/**
 * The generic piscina worker entry (worker-loader.js beside this file): tasks are { task: module path
 * without extension, payload }. Loads compiled .js or, from sources, .ts.
 */
export const WORKER_LOADER = join(__dirname, 'worker-loader.js');
