import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '@app/wsi';

export const FIX = join(__dirname, '../fixtures/wsi');
export const fx = (f: string): string => join(FIX, f);

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wsi-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a Debian tool; fails loudly (never skips) when it is missing. */
export function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`required tool ${cmd} is not installed (Debian: openslide-tools / libvips-tools / python3-pil)`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

/** `openslide-show-properties` parsed into a map. */
export function openslideProps(path: string): Record<string, string> {
  const out = tool('openslide-show-properties', [path]);
  const props: Record<string, string> = {};
  // values are single-quoted and may span lines
  const re = /^([^:\n]+): '([\s\S]*?)'$/gm;
  for (const m of out.matchAll(re)) props[m[1]] = m[2];
  return props;
}

/** Decodes an image file (PNG) to RGB, compositing any alpha over white as OpenSlide's callers do. */
export async function decodeRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).flatten({ background: '#ffffff' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data) };
}

/** OpenSlide's read_region through `openslide-write-png`, as RGB. */
export async function openslideRegion(path: string, x: number, y: number, level: number, w: number, h: number): Promise<RgbImage> {
  const t = tempDir();
  try {
    const png = join(t.dir, 'r.png');
    tool('openslide-write-png', [path, String(x), String(y), String(level), String(w), String(h), png]);
    return await decodeRgb(png);
  } finally {
    t.cleanup();
  }
}

export interface Diff {
  mean: number;
  max: number;
  meanSigned: [number, number, number];
}

export function diff(a: RgbImage, b: RgbImage): Diff {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`size mismatch ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  let sum = 0;
  let max = 0;
  const s: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    s[i % 3] += d;
    const ad = Math.abs(d);
    sum += ad;
    if (ad > max) max = ad;
  }
  const n = a.data.length / 3;
  return { mean: sum / a.data.length, max, meanSigned: [s[0] / n, s[1] / n, s[2] / n] };
}

/** Crops an RGB image. */
export function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) out.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, channels: 3, data: out };
}
