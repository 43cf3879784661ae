/**
 * Decoder-sandbox task (child process): a rectangle of one TIFF level painted from its blocks (tiles or strips) and
 * resized, for readRegionScaled. The parent sends the raw bytes of the blocks the rectangle touches (positioned reads
 * stay in the parent) and gets back only the resized RGB: for a whole-slide tile map at half the slide's resolution
 * that is a quarter of the bytes of the decoded blocks, and the decoding, painting and resizing run beside the parent's
 * own work. Blocks are painted as paintRegion paints them (blitTile) and resized by resizeRgb, so the bytes equal those
 * of readRegion + resizeRgb.
 *
 * The decoded blocks of a region's last block row are kept for the next region: the bands of a slide map overlap by
 * their resampling margin, so most bands' first block row is the previous band's last one (a quarter of the blocks a
 * slide map's bands ask for on the inference bench's slide). A kept block is used only for a block with the same raw
 * bytes and the same decoding parameters, so a hit gives exactly the pixels a decode would.
 */
import { blitTile, coveredTiles, type LevelGrid } from './base';
import { asBytes } from './isolate';
import { resizeRgb } from './resize';
import { decodeTiffBlockInto, type TiffBlockInfo } from './tiff-image';

/** A block the region touches that the file holds (blocks it leaves out, byte count 0, stay white). */
export interface RegionBlock {
  tx: number;
  ty: number;
  /** Its rows (a strip at the bottom holds only the remaining rows). */
  h: number;
  raw: Uint8Array;
  what: string;
}

export interface RegionTask {
  info: TiffBlockInfo;
  level: LevelGrid;
  lx: number;
  ly: number;
  w: number;
  h: number;
  outW: number;
  outH: number;
  blocks: RegionBlock[];
}

/** A decoded block kept from the last region: its raw bytes and decoding parameters, and its pixels. */
interface KeptBlock {
  raw: Uint8Array;
  infoKey: string;
  w: number;
  h: number;
  data: Uint8Array;
}
/** The last region's bottom block row, by `tx,ty` (replaced by each region). */
let kept = new Map<string, KeptBlock>();
export const regionTaskStats = { decoded: 0, reused: 0 };

/** The decoding parameters as a string (two blocks with equal raw bytes and equal keys decode to the same pixels). */
const infoKeyOf = (info: TiffBlockInfo): string => JSON.stringify({ ...info, jpegTables: info.jpegTables ? Buffer.from(info.jpegTables).toString('base64') : null });
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

/**
 * Paints and resizes one region; returns outW x outH x 3 bytes. Blocks are decoded one after another and each is
 * painted straight from the decoder's memory (decodeTiffBlockInto: no copy of a JPEG block's pixels, except for the
 * blocks kept for the next region). White where no block paints: outside the level and blocks the file leaves out
 * (the fill is skipped when blocks cover the whole region).
 */
export async function regionFromBlocks(t: RegionTask): Promise<Uint8Array> {
  const L = t.level;
  const byIndex = new Map(t.blocks.map((b) => [b.ty * L.tilesAcross + b.tx, b]));
  const infoKey = infoKeyOf(t.info);
  const out = new Uint8Array(t.w * t.h * 3);
  const c = coveredTiles(L, t.lx, t.ly, t.w, t.h);
  let whole = !!c && c.x0 === t.lx && c.y0 === t.ly && c.x1 === t.lx + t.w && c.y1 === t.ly + t.h;
  if (c) for (let ty = c.ty0; whole && ty <= c.ty1; ty++) for (let tx = c.tx0; whole && tx <= c.tx1; tx++) whole = byIndex.has(ty * L.tilesAcross + tx);
  if (!whole) out.fill(255);
  const previous = kept;
  const next = new Map<string, KeptBlock>();
  if (c) {
    for (let ty = c.ty0; ty <= c.ty1; ty++) {
      for (let tx = c.tx0; tx <= c.tx1; tx++) {
        const b = byIndex.get(ty * L.tilesAcross + tx);
        if (!b) continue;
        const key = `${tx},${ty}`;
        const old = previous.get(key);
        if (old && old.infoKey === infoKey && old.w === L.tileWidth && old.h === b.h && sameBytes(old.raw, b.raw)) {
          regionTaskStats.reused++;
          blitTile(out, L, c, t.lx, t.ly, t.w, tx, ty, old);
          if (ty === c.ty1) next.set(key, old);
          continue;
        }
        regionTaskStats.decoded++;
        await decodeTiffBlockInto(b.raw, t.info, L.tileWidth, b.h, b.what, (data) => {
          const tile = { w: L.tileWidth, h: b.h, data };
          blitTile(out, L, c, t.lx, t.ly, t.w, tx, ty, tile);
          if (ty === c.ty1) next.set(key, { raw: b.raw, infoKey, ...tile, data: data.slice() });
        });
      }
    }
  }
  kept = next;
  return (await resizeRgb({ width: t.w, height: t.h, channels: 3, data: out }, t.outW, t.outH)).data;
}

export default async function regionTask(t: RegionTask): Promise<Uint8Array> {
  for (const b of t.blocks) b.raw = asBytes(b.raw);
  return regionFromBlocks(t);
}
