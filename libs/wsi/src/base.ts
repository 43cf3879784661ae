import type { RgbImage, SlideFormat, SlideLevel, SlideReader } from './types';
import { TileCache } from './cache';
import { InputError } from '@app/core';

export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** Default refusal limit for one level (width*height): 2^36 pixels (e.g. 262144 x 262144). */
export const DEFAULT_MAX_LEVEL_PIXELS = 2 ** 36;
/** Largest region one readRegion call may return (pixels). */
export const MAX_REGION_PIXELS = 2 ** 26;
/** Largest single tile / strip we agree to decode (pixels). */
export const MAX_TILE_PIXELS = 2 ** 26;

/** A decoded tile: RGB, `w` x `h` (the tile's stored size, which may overhang the level edge). */
export interface DecodedTile {
  w: number;
  h: number;
  data: Uint8Array;
}

/** One pyramid level that can produce decoded RGB tiles. */
export interface TiledLevel extends SlideLevel {
  tilesAcross: number;
  tilesDown: number;
  /** Decodes tile (tx, ty); returns null for a sparse (absent) tile, painted white. */
  decodeTile(tx: number, ty: number): Promise<DecodedTile | null>;
}

export function checkDims(width: number, height: number, maxPixels: number, where: string): void {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0)
    throw new InputError('wsi.bad-dimensions', `${where}: image dimensions ${width}x${height} are invalid (must be positive integers)`, { width, height });
  if (width > 2 ** 31 || height > 2 ** 31 || width * height > maxPixels)
    throw new InputError(
      'wsi.absurd-dimensions',
      `${where}: image dimensions ${width}x${height} (${width * height} pixels) exceed the configured limit of ${maxPixels} pixels (OpenSlideOptions.maxLevelPixels)`,
      { width, height, maxPixels },
    );
}

/** Checks that a pyramid is consistent: each level smaller than the one above, same aspect ratio. */
export function checkPyramid(levels: readonly { width: number; height: number }[], where: string): void {
  const l0 = levels[0];
  for (let i = 1; i < levels.length; i++) {
    const a = levels[i - 1];
    const b = levels[i];
    if (b.width > a.width || b.height > a.height)
      throw new InputError(
        'wsi.inconsistent-pyramid',
        `${where}: level ${i} (${b.width}x${b.height}) is larger than level ${i - 1} (${a.width}x${a.height}); reduced levels must shrink`,
        { level: i },
      );
    const dx = l0.width / b.width;
    const dy = l0.height / b.height;
    // each reduced dimension may be rounded by up to 1 pixel (plus 1% slack for scanner rounding)
    const tol = 0.01 + 1 / Math.min(b.width, b.height) + 1 / Math.min(l0.width, l0.height);
    if (Math.abs(dx - dy) / Math.min(dx, dy) > tol)
      throw new InputError(
        'wsi.inconsistent-pyramid',
        `${where}: level ${i} (${b.width}x${b.height}) does not have the aspect ratio of level 0 (${l0.width}x${l0.height}): downsample x=${dx.toFixed(3)} vs y=${dy.toFixed(3)}`,
        { level: i },
      );
  }
}

let cacheSeq = 0;

/** Shared implementation of readRegion / best level over TiledLevels and a tile cache. */
export abstract class PyramidSlide implements SlideReader {
  abstract readonly format: SlideFormat;
  abstract readonly mpp: { x: number; y: number } | null;
  abstract readonly objectivePower: number | null;
  abstract readonly properties: Readonly<Record<string, string>>;
  abstract readonly associatedImageNames: readonly string[];
  abstract readAssociatedImage(name: string): Promise<RgbImage>;
  abstract close(): Promise<void>;

  protected readonly cacheId = ++cacheSeq;

  constructor(
    protected readonly tiledLevels: TiledLevel[],
    readonly cache: TileCache,
  ) {}

  get levels(): readonly SlideLevel[] {
    return this.tiledLevels.map(({ width, height, downsample, tileWidth, tileHeight }) => ({ width, height, downsample, tileWidth, tileHeight }));
  }

  getBestLevelForDownsample(downsample: number): number {
    // OpenSlide semantics: the largest level whose downsample is <= the requested one
    const ls = this.tiledLevels;
    if (!(downsample >= ls[0].downsample)) return 0;
    for (let i = 1; i < ls.length; i++) if (downsample < ls[i].downsample) return i - 1;
    return ls.length - 1;
  }

  async readRegion(level: number, x: number, y: number, w: number, h: number): Promise<RgbImage> {
    this.checkRegion('readRegion', level, x, y, w, h);
    const L = this.tiledLevels[level];
    return paintRegion(L, Math.floor(x / L.downsample), Math.floor(y / L.downsample), w, h, (tx, ty) => this.tile(level, tx, ty));
  }

  /** RangeError for a level that does not exist, a non-integer position or size, or a region over MAX_REGION_PIXELS. */
  protected checkRegion(fn: string, level: number, x: number, y: number, w: number, h: number): void {
    if (!Number.isInteger(level) || level < 0 || level >= this.tiledLevels.length)
      throw new RangeError(`${fn}: level ${level} does not exist (slide has ${this.tiledLevels.length} levels)`);
    for (const [k, v] of Object.entries({ x, y, w, h }))
      if (!Number.isSafeInteger(v)) throw new RangeError(`${fn}: ${k}=${v} must be an integer`);
    if (w <= 0 || h <= 0) throw new RangeError(`${fn}: size ${w}x${h} must be positive`);
    if (w * h > MAX_REGION_PIXELS) throw new RangeError(`${fn}: ${w}x${h} exceeds ${MAX_REGION_PIXELS} pixels; read it in pieces`);
  }

  protected async tile(level: number, tx: number, ty: number): Promise<DecodedTile | null> {
    const L = this.tiledLevels[level];
    const key = `${this.cacheId}:${level}:${tx}:${ty}`;
    let meta: DecodedTile | null = null;
    const data = await this.cache.get(key, async () => {
      const t = await L.decodeTile(tx, ty);
      if (!t) return EMPTY;
      meta = t;
      return t.data;
    });
    if (data === EMPTY) return null;
    if (meta) return meta;
    // cached: stored tiles are full tile size except strips at the bottom, derive h from length
    const h = data.length / (L.tileWidth * 3);
    return { w: L.tileWidth, h, data };
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Copies the part of decoded tile (tx, ty) that lies in the rectangle (lx, ly, w, ...) and in the level (c: its
 * coveredTiles) into `out`, the rectangle's RGB rows.
 */
export function blitTile(out: Uint8Array, L: LevelGrid, c: CoveredTiles, lx: number, ly: number, w: number, tx: number, ty: number, t: DecodedTile): void {
  const ox = tx * L.tileWidth;
  const oy = ty * L.tileHeight;
  const cx0 = Math.max(c.x0, ox);
  const cx1 = Math.min(c.x1, ox + Math.min(t.w, L.tileWidth));
  const cy0 = Math.max(c.y0, oy);
  const cy1 = Math.min(c.y1, oy + Math.min(t.h, L.tileHeight));
  if (cx0 >= cx1) return;
  const len = (cx1 - cx0) * 3;
  for (let yy = cy0; yy < cy1; yy++) {
    const src = ((yy - oy) * t.w + (cx0 - ox)) * 3;
    out.set(t.data.subarray(src, src + len), ((yy - ly) * w + (cx0 - lx)) * 3);
  }
}

export type CoveredTiles = NonNullable<ReturnType<typeof coveredTiles>>;

/** A level's size and block grid (what painting a region needs). */
export type LevelGrid = { width: number; height: number; tileWidth: number; tileHeight: number; tilesAcross: number; tilesDown: number };

/**
 * The part [x0, x1) x [y0, y1) of the level-pixel rectangle (lx, ly, w, h) inside the level, and the tiles
 * tx0..tx1 x ty0..ty1 (inclusive) it touches; null when the rectangle lies wholly outside.
 */
export function coveredTiles(L: LevelGrid, lx: number, ly: number, w: number, h: number) {
  const x0 = Math.max(0, lx);
  const y0 = Math.max(0, ly);
  const x1 = Math.min(L.width, lx + w);
  const y1 = Math.min(L.height, ly + h);
  if (!(x0 < x1 && y0 < y1)) return null;
  return { x0, y0, x1, y1, tx0: Math.floor(x0 / L.tileWidth), tx1: Math.floor((x1 - 1) / L.tileWidth), ty0: Math.floor(y0 / L.tileHeight), ty1: Math.floor((y1 - 1) / L.tileHeight) };
}

/** Paints the level-pixel rectangle (lx, ly, w, h) from tiles; outside = white. */
export async function paintRegion(
  L: LevelGrid,
  lx: number,
  ly: number,
  w: number,
  h: number,
  getTile: (tx: number, ty: number) => Promise<DecodedTile | null>,
): Promise<RgbImage> {
  const out = new Uint8Array(w * h * 3).fill(255);
  const c = coveredTiles(L, lx, ly, w, h);
  if (c) {
    for (let ty = c.ty0; ty <= c.ty1; ty++) {
      // fetch one row of tiles concurrently (bounded: a row), paint, move on
      const row = await Promise.all(Array.from({ length: c.tx1 - c.tx0 + 1 }, (_, i) => getTile(c.tx0 + i, ty)));
      for (let i = 0; i < row.length; i++) if (row[i]) blitTile(out, L, c, lx, ly, w, c.tx0 + i, ty, row[i]!);
    }
  }
  return { width: w, height: h, channels: 3, data: out };
}
