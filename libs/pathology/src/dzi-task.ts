/**
 * Sandbox task (child process, see buildDzi): libvips' Deep Zoom writer (sharp `.tile({ layout: 'dz' })`) on a slide
 * file. libvips parses the whole untrusted file here, so a native crash, an abort or a runaway allocation kills this
 * child, never the worker.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import sharp from 'sharp';

export interface DziTask {
  sourcePath: string;
  /** Output path without extension: libvips writes `<out>.dzi` and `<out>_files/`. */
  out: string;
  format: 'jpeg' | 'png';
  quality: number;
  tileSize: number;
  overlap: number;
  /** libvips worker threads for this build. */
  threads: number;
  /** The file's first bytes as the caller read them: the child checks it opens the same file. */
  head: Uint8Array;
}

/** Returns the size libvips sees; when it differs from the reader's, nothing is written and the caller refuses it. */
export default async function dziTask(t: DziTask & { expect: { width: number; height: number } }): Promise<{ width: number; height: number }> {
  if (!fileHead(t.sourcePath, t.head.length).equals(Buffer.from(t.head))) throw new Error(`${t.sourcePath} is not the file the caller opened (its first ${t.head.length} bytes differ)`);
  sharp.cache(false); // a long-lived child: no pixel cache kept between builds
  sharp.concurrency(Math.max(1, t.threads));
  return writeDzi(t, t.expect);
}

/** The first `n` bytes of a file (fewer when it is shorter). */
export function fileHead(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * libvips' Deep Zoom writer on `t.sourcePath` (the sandboxed task above, and buildDzi with the sandbox off). Returns
 * the size libvips sees; when it differs from `expect` nothing is written.
 */
export async function writeDzi(t: Omit<DziTask, 'head' | 'threads'>, expect: { width: number; height: number }): Promise<{ width: number; height: number }> {
  const img = sharp(t.sourcePath, { page: 0, limitInputPixels: false, sequentialRead: false });
  const meta = await img.metadata();
  const seen = { width: meta.width ?? 0, height: meta.height ?? 0 };
  if (seen.width !== expect.width || seen.height !== expect.height) return seen;
  const fmt = t.format === 'jpeg' ? img.jpeg({ quality: t.quality, optimiseCoding: false }) : img.png(); // = vips dzsave's JPEG settings
  await fmt.removeAlpha().tile({ size: t.tileSize, overlap: t.overlap, layout: 'dz', depth: 'onepixel' }).toFile(`${t.out}.dz`);
  return seen;
}
