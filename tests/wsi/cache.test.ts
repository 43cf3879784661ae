import { openSlide, decodeStats, TileCache } from '@app/wsi';
import { fx } from './helpers';

const tileBytes = 240 * 240 * 3; // CMU-1-Small-Region.svs tiles are 240x240 RGB

function cacheOf(s: object): TileCache {
  const c = (s as { cache?: unknown }).cache;
  if (!(c instanceof TileCache)) throw new Error('reader has no TileCache');
  return c;
}

describe('bounded decode cache', () => {
  test('repeated reads hit the cache; decodes are counted per tile', async () => {
    const s = await openSlide(fx('CMU-1-Small-Region.svs'));
    try {
      const before = decodeStats.tiles;
      await s.readRegion(0, 200, 200, 100, 100); // crosses 4 tiles (borders at 240)
      expect(decodeStats.tiles - before).toBe(4);
      await s.readRegion(0, 210, 210, 60, 60);
      expect(decodeStats.tiles - before).toBe(4); // all cached
      expect(cacheOf(s).size).toBe(4 * tileBytes);
    } finally {
      await s.close();
    }
  });

  test('the cache never exceeds cacheBytes, LRU evicts the oldest tile', async () => {
    const s = await openSlide(fx('CMU-1-Small-Region.svs'), { cacheBytes: 3 * tileBytes });
    try {
      const c = cacheOf(s);
      const before = decodeStats.tiles;
      // walk a whole row of tiles (10 tiles across 2220 px), twice
      for (let pass = 0; pass < 2; pass++)
        for (let tx = 0; tx < 10; tx++) {
          await s.readRegion(0, tx * 240 + 10, 10, 20, 20);
          expect(c.size).toBeLessThanOrEqual(3 * tileBytes);
          expect(c.entries).toBeLessThanOrEqual(3);
        }
      expect(decodeStats.tiles - before).toBe(20); // 3-tile cache cannot hold a 10-tile row: every read misses
      const mid = decodeStats.tiles;
      await s.readRegion(0, 9 * 240 + 10, 10, 20, 20); // most recent tile: hit
      await s.readRegion(0, 7 * 240 + 10, 10, 20, 20); // still cached (3 most recent: 7, 8, 9)
      expect(decodeStats.tiles).toBe(mid);
      await s.readRegion(0, 6 * 240 + 10, 10, 20, 20); // evicted: decoded again
      expect(decodeStats.tiles).toBe(mid + 1);
    } finally {
      await s.close();
    }
  });

  test('a region larger than the cache still reads correctly (tiles streamed row by row)', async () => {
    const big = await openSlide(fx('CMU-1-Small-Region.svs'));
    const tiny = await openSlide(fx('CMU-1-Small-Region.svs'), { cacheBytes: tileBytes });
    try {
      const a = await big.readRegion(0, 100, 100, 800, 600);
      const b = await tiny.readRegion(0, 100, 100, 800, 600);
      expect(Buffer.compare(Buffer.from(a.data), Buffer.from(b.data))).toBe(0);
      expect(cacheOf(tiny).size).toBeLessThanOrEqual(tileBytes);
    } finally {
      await big.close();
      await tiny.close();
    }
  });

  test('concurrent reads of the same tile decode it once', async () => {
    const s = await openSlide(fx('CMU-1-Small-Region.svs'));
    try {
      const before = decodeStats.tiles;
      await Promise.all([s.readRegion(0, 500, 500, 10, 10), s.readRegion(0, 510, 510, 10, 10), s.readRegion(0, 520, 520, 5, 5)]);
      expect(decodeStats.tiles - before).toBe(1);
    } finally {
      await s.close();
    }
  });

  test('whole-level reads are refused above the region limit instead of allocating', async () => {
    const s = await openSlide(fx('CMU-1-Small-Region.svs'));
    try {
      await expect(s.readRegion(0, 0, 0, 100000, 100000)).rejects.toThrow(RangeError);
      await expect(s.readRegion(3, 0, 0, 10, 10)).rejects.toThrow(/level 3 does not exist/);
      await expect(s.readRegion(0, 0.5, 0, 10, 10)).rejects.toThrow(/must be an integer/);
    } finally {
      await s.close();
    }
  });
});
