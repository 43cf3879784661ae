import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { sandboxDefault, type SlideReader } from '@app/wsi';
import { InputError, Sandbox } from '@app/core';
import { fileHead, writeDzi, type DziTask } from './dzi-task';
import { readScaled, readWholeScaled } from './region';

export interface DziOptions {
  /** Tile edge without overlap (default 254, as vips dzsave / OpenSeadragon). */
  tileSize?: number;
  /** Overlap in pixels on each interior edge (default 1). */
  overlap?: number;
  format?: 'jpeg' | 'png';
  /** JPEG quality (default 75, as vips dzsave). */
  quality?: number;
}
const defaults = (o: DziOptions = {}) => ({ tileSize: o.tileSize ?? 254, overlap: o.overlap ?? 1, format: o.format ?? 'jpeg', quality: o.quality ?? 75 });

export interface DziLevel {
  level: number;
  width: number;
  height: number;
  /** Level-0 pixels per pixel of this level (2^(maxLevel - level)). */
  downsample: number;
  cols: number;
  rows: number;
}

/** Deep Zoom levels: level L has size ceil(W / 2^(maxLevel-L)), maxLevel = ceil(log2(max(W,H))), down to 1x1. */
export function dziLevels(width: number, height: number, tileSize = 254): DziLevel[] {
  const maxLevel = Math.ceil(Math.log2(Math.max(width, height)));
  const out: DziLevel[] = [];
  for (let L = 0; L <= maxLevel; L++) {
    const d = 2 ** (maxLevel - L);
    const w = Math.ceil(width / d);
    const h = Math.ceil(height / d);
    out.push({ level: L, width: w, height: h, downsample: d, cols: Math.ceil(w / tileSize), rows: Math.ceil(h / tileSize) });
  }
  return out;
}

/** The .dzi descriptor (Deep Zoom Image schema 2009, as vips dzsave writes it). */
export function dziXml(width: number, height: number, opts: DziOptions = {}): string {
  const o = defaults(opts);
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="${o.format === 'jpeg' ? 'jpeg' : 'png'}" Overlap="${o.overlap}" TileSize="${o.tileSize}">\n` +
    `  <Size Height="${height}" Width="${width}"/>\n` +
    '</Image>\n'
  );
}

/** Pixel rectangle [x0,x1) x [y0,y1) of a tile in its level, with overlap. */
function tileRect(lv: DziLevel, col: number, row: number, ts: number, ov: number) {
  const x0 = Math.max(0, col * ts - ov);
  const y0 = Math.max(0, row * ts - ov);
  const x1 = Math.min(lv.width, (col + 1) * ts + ov);
  const y1 = Math.min(lv.height, (row + 1) * ts + ov);
  return { x0, y0, x1, y1 };
}

function encode(data: Uint8Array, w: number, h: number, o: ReturnType<typeof defaults>): Promise<Buffer> {
  const s = sharp(Buffer.from(data.buffer, data.byteOffset, data.length), { raw: { width: w, height: h, channels: 3 } });
  return (o.format === 'jpeg' ? s.jpeg({ quality: o.quality }) : s.png()).toBuffer();
}

let boosted = 0;
let savedConcurrency = 1;

const DZI_TASK = join(__dirname, 'dzi-task');
let dziPool: Sandbox | undefined;
/**
 * The libvips Deep Zoom builds' own sandbox: long tasks (minutes for a big slide), so apart from the decoder pool whose
 * tasks are milliseconds; one child per concurrent build (the heavy lane bounds them), no retry after a crash (a
 * crash on this file repeats: the reader path is tried instead).
 */
function dziSandbox(): Sandbox {
  dziPool ??= new Sandbox({ processes: 2, timeoutMs: dziTimeoutMs(), maxOldSpaceMb: 512, maxRssMb: Number(process.env.DZI_MAX_RSS_MB ?? 4096), retryCrash: false });
  return dziPool;
}
/** Time limit of one libvips pyramid build (DZI_TIMEOUT_MS, default 30 min). */
const dziTimeoutMs = () => Number(process.env.DZI_TIMEOUT_MS ?? 30 * 60_000);

/** The same build in this process (sandbox off: WSI_SANDBOX=off or `sandbox: false`, for trusted files and benchmarks). */
async function dziInProcess(t: DziTask, expect: { width: number; height: number }): Promise<{ width: number; height: number }> {
  if (boosted++ === 0) savedConcurrency = sharp.concurrency();
  sharp.concurrency(Math.max(savedConcurrency, t.threads));
  try {
    return await writeDzi(t, expect);
  } finally {
    if (--boosted === 0) sharp.concurrency(savedConcurrency);
  }
}

/** Bounded LRU of encoded tiles, per slide. */
class TileLru {
  private m = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly max: number) {}
  get(k: string): Buffer | undefined {
    const v = this.m.get(k);
    if (v) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: Buffer): void {
    if (v.length > this.max) return;
    this.m.set(k, v);
    this.bytes += v.length;
    for (const [key, val] of this.m) {
      if (this.bytes <= this.max) break;
      this.m.delete(key);
      this.bytes -= val.length;
    }
  }
}
const caches = new WeakMap<SlideReader, TileLru>();

/**
 * Renders one Deep Zoom tile on demand from the slide reader (main image only; never label/macro), with a bounded
 * per-slide LRU cache of encoded tiles (default 32 MiB). Unknown level/col/row -> InputError `dzi.no-such-tile`.
 */
export async function renderDziTile(
  slide: SlideReader,
  level: number,
  col: number,
  row: number,
  opts: DziOptions & { cacheBytes?: number } = {},
): Promise<Buffer> {
  const o = defaults(opts);
  const { width: W, height: H } = slide.levels[0];
  const levels = dziLevels(W, H, o.tileSize);
  const lv = levels[level];
  if (!lv || !Number.isInteger(col) || !Number.isInteger(row) || col < 0 || row < 0 || col >= lv.cols || row >= lv.rows) {
    throw new InputError('dzi.no-such-tile', `no Deep Zoom tile level ${level} col ${col} row ${row} (levels 0..${levels.length - 1}${lv ? `, level ${level} has ${lv.cols}x${lv.rows} tiles` : ''})`);
  }
  let cache = caches.get(slide);
  if (!cache) caches.set(slide, (cache = new TileLru(opts.cacheBytes ?? 32 * 1024 * 1024)));
  const key = `${level}/${col}_${row}.${o.format}.${o.tileSize}.${o.overlap}.${o.quality}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const r = tileRect(lv, col, row, o.tileSize, o.overlap);
  const d = lv.downsample;
  const img = await readScaled(slide, r.x0 * d, r.y0 * d, (r.x1 - r.x0) * d, (r.y1 - r.y0) * d, r.x1 - r.x0, r.y1 - r.y0);
  const buf = await encode(img.data, img.width, img.height, o);
  cache.set(key, buf);
  return buf;
}

export interface BuildDziResult {
  dziPath: string;
  filesDir: string;
  /** 'libvips': sharp's Deep Zoom writer on the file itself; 'reader': built from the reader's regions. */
  method: 'libvips' | 'reader';
  levels: DziLevel[];
  tiles: number;
  /** Why the libvips path failed when `auto` fell back to the reader (libvips error, or its sandbox child crashed / ran out of time or memory). */
  libvipsError?: string;
}

/**
 * Writes `<outDir>/<name>.dzi` and `<outDir>/<name>_files/<level>/<col>_<row>.<ext>` for the slide's main image
 * (level 0; never label or macro). For files libvips reads (Aperio SVS and pyramidal TIFF with JPEG/LZW/Deflate
 * tiles) it uses sharp's `.tile({ layout: 'dz' })`; for anything else (JPEG 2000 TIFF, DICOM WSI, OME, or when
 * libvips fails or sees other dimensions) it builds the pyramid from the reader, row strip by row strip
 * (bounded memory). `method: 'reader'` forces the reader path. The libvips path runs in a sandbox child process
 * (libvips parses the whole untrusted file: a crash, abort or runaway there kills the child, never this process;
 * time limit DZI_TIMEOUT_MS, resident memory DZI_MAX_RSS_MB) unless the sandbox is off (`sandbox: false` or
 * WSI_SANDBOX=off), with `threads` libvips workers (default: all cores). In `auto` mode any libvips failure, the
 * sandbox's included, falls back to the reader path (whose block decoding is sandboxed) and is reported in
 * `libvipsError`; in `libvips` mode it is thrown (a sandbox death as an InputError `sandbox.*`).
 */
export async function buildDzi(
  slide: SlideReader,
  sourcePath: string | null,
  outDir: string,
  name: string,
  opts: DziOptions & { method?: 'auto' | 'libvips' | 'reader'; concurrency?: number; threads?: number; sandbox?: boolean } = {},
): Promise<BuildDziResult> {
  const o = defaults(opts);
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new RangeError(`buildDzi: bad name ${name}`);
  const { width: W, height: H } = slide.levels[0];
  const levels = dziLevels(W, H, o.tileSize);
  const tiles = levels.reduce((a, l) => a + l.cols * l.rows, 0);
  mkdirSync(outDir, { recursive: true });
  const dziPath = join(outDir, `${name}.dzi`);
  const filesDir = join(outDir, `${name}_files`);
  const method = opts.method ?? 'auto';
  const tiffLike = slide.format === 'aperio-svs' || slide.format === 'generic-tiff';
  let libvipsError: string | undefined;
  if (sourcePath && method !== 'reader' && (method === 'libvips' || tiffLike)) {
    // libvips parses the whole (untrusted) file: in a child process (dzi-task.ts) unless the sandbox is off. sharp
    // defaults libvips to ONE worker thread on glibc Linux (memory fragmentation guard); a pyramid build is one big
    // job, so it gets all cores (as `vips dzsave` does).
    const threads = Math.max(1, opts.threads ?? availableParallelism());
    const task: DziTask = { sourcePath, out: join(outDir, name), format: o.format, quality: o.quality, tileSize: o.tileSize, overlap: o.overlap, threads, head: fileHead(sourcePath, 4096) };
    try {
      const seen = (opts.sandbox ?? sandboxDefault())
        ? await dziSandbox().run<{ width: number; height: number }>(DZI_TASK, { ...task, expect: { width: W, height: H } }, { file: sourcePath, step: 'building the Deep Zoom pyramid with libvips', timeoutMs: dziTimeoutMs() })
        : await dziInProcess(task, { width: W, height: H });
      if (seen.width !== W || seen.height !== H) throw new Error(`libvips sees ${seen.width}x${seen.height}, the reader ${W}x${H}`);
      return { dziPath, filesDir, method: 'libvips', levels, tiles };
    } catch (e) {
      if (method === 'libvips') throw e;
      libvipsError = (e as Error).message;
      rmSync(filesDir, { recursive: true, force: true });
      rmSync(dziPath, { force: true });
    }
  }
  const ext = o.format === 'jpeg' ? 'jpeg' : 'png';
  const conc = Math.max(1, opts.concurrency ?? 8);
  for (const lv of [...levels].reverse()) {
    const dir = join(filesDir, String(lv.level));
    mkdirSync(dir, { recursive: true });
    const d = lv.downsample;
    for (let row = 0; row < lv.rows; row++) {
      const y0 = Math.max(0, row * o.tileSize - o.overlap);
      const y1 = Math.min(lv.height, (row + 1) * o.tileSize + o.overlap);
      const sh = y1 - y0;
      const strip = await readScaled(slide, 0, y0 * d, lv.width * d, sh * d, lv.width, sh);
      const jobs: (() => Promise<void>)[] = [];
      for (let col = 0; col < lv.cols; col++) {
        const r = tileRect(lv, col, row, o.tileSize, o.overlap);
        const tw = r.x1 - r.x0;
        jobs.push(async () => {
          const buf = new Uint8Array(tw * sh * 3);
          for (let y = 0; y < sh; y++) buf.set(strip.data.subarray((y * lv.width + r.x0) * 3, (y * lv.width + r.x1) * 3), y * tw * 3);
          writeFileSync(join(dir, `${col}_${row}.${ext}`), await encode(buf, tw, sh, o));
        });
      }
      for (let k = 0; k < jobs.length; k += conc) await Promise.all(jobs.slice(k, k + conc).map((j) => j()));
    }
  }
  writeFileSync(dziPath, dziXml(W, H, o));
  if (!existsSync(dziPath)) throw new Error('buildDzi: .dzi not written');
  return { dziPath, filesDir, method: 'reader', levels, tiles, ...(libvipsError ? { libvipsError } : {}) };
}

/** Thumbnail / overview of the main image (never the label or macro), long side <= maxSize px. */
export async function renderThumbnail(slide: SlideReader, maxSize: number, format: 'png' | 'jpeg' = 'jpeg'): Promise<Buffer> {
  if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > 8192) throw new RangeError(`renderThumbnail: maxSize must be 1..8192, got ${maxSize}`);
  const img = await readWholeScaled(slide, maxSize);
  const s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } });
  return (format === 'png' ? s.png() : s.jpeg({ quality: 85 })).toBuffer();
}
