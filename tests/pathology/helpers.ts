import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '@app/core';
import type { RgbImage } from '@app/wsi';

export const fixture = (name: string) => join(repoRoot(), 'tests/fixtures/wsi', name);
export const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), `path-${prefix}-`));
export const rmDir = (dir: string) => rmSync(dir, { recursive: true, force: true });

/** Runs a Debian tool; throws loudly (never skips) when it is missing. */
export function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 }).toString();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is not installed (Debian package needed by these tests)`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.toString() ?? err.message}`);
  }
}

/** openslide-show-properties as a key -> value map. */
export function openslideProps(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tool('openslide-show-properties', [path]).matchAll(/^([\w.\[\] -]+): '([^']*)'/gm)) out[m[1]] = m[2];
  return out;
}

/** Associated images OpenSlide sees (via libopenslide from /usr/bin/python3 ctypes). */
export function openslideAssociated(path: string): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  const txt = tool('/usr/bin/python3', [join(repoRoot(), 'tests/pathology/openslide_associated.py'), path]);
  for (const line of txt.split('\n')) {
    const m = /^(\S+) (\d+) (\d+)$/.exec(line.trim());
    if (m) out[m[1]] = [Number(m[2]), Number(m[3])];
  }
  return out;
}

/** Independent reference pixels: OpenSlide's read_region via openslide-write-png (x, y level-0; w, h at level). */
export async function openslideRegion(path: string, level: number, x: number, y: number, w: number, h: number): Promise<RgbImage> {
  const dir = tmp('osr');
  const out = join(dir, 'r.png');
  tool('openslide-write-png', [path, String(x), String(y), String(level), String(w), String(h), out]);
  const png = readFileSync(out);
  rmSync(dir, { recursive: true, force: true });
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
}

export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`sizes differ ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Reads an 8-bit greyscale PNG as raw values. */
export async function readGrey(path: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}
