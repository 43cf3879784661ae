import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { repoRoot } from './paths';

/** Who or what produced a derived record. Stored with every derived row. */
export interface Provenance {
  /** sha256 of every source object the record was derived from. */
  sourceSha256: string[];
  /** Model that produced it, if any. */
  model?: { id: string; version: string; sha256: string };
  /** Human reader, if any (pseudonymous reader id, never a patient identifier). */
  reader?: string;
  /** Code version: package version + git commit when known. */
  codeVersion: string;
  /** ISO timestamp. */
  at: string;
}

let version: string | undefined;
/** `name@version+gitsha` of this code base (CODE_VERSION env overrides, as in containers). */
export function codeVersion(): string {
  if (version) return version;
  if (process.env.CODE_VERSION) return (version = process.env.CODE_VERSION);
  const root = repoRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  let sha = 'nogit';
  try {
    sha = execSync('git rev-parse --short=12 HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    /* not a git checkout (container image): CODE_VERSION should be set there */
  }
  return (version = `${pkg.name}@${pkg.version}+${sha}`);
}
