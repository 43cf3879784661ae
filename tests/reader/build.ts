/**
 * The browser tests run against the built app (what apps/api serves). It is rebuilt when its sources changed since
 * the last build (a sha256 of apps/reader and the lock file, stamped into dist/reader/.source-sha256).
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repoRoot } from '@app/core';

function files(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : [p];
    })
    .sort();
}

export function readerSourceSha(): string {
  const root = repoRoot();
  const h = createHash('sha256');
  for (const f of [...files(join(root, 'apps/reader')), join(root, 'package-lock.json')]) h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

export function ensureReaderBuilt(): { rebuilt: boolean; dist: string } {
  const root = repoRoot();
  const dist = join(root, 'dist/reader');
  const stamp = join(dist, '.source-sha256');
  const sha = readerSourceSha();
  if (existsSync(join(dist, 'index.html')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === sha) return { rebuilt: false, dist };
  execFileSync(join(root, 'node_modules/.bin/vite'), ['build', '--config', 'apps/reader/vite.config.mts'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], timeout: 240000 });
  writeFileSync(stamp, sha);
  return { rebuilt: true, dist };
}
