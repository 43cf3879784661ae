/**
 * Decoder-sandbox task (child process): a rectangle of one TIFF level painted from its blocks (tiles or strips) and
 * resized, for readRegionScaled. The parent sends the raw bytes of the blocks the rectangle touches (positioned reads
 * stay in the parent) and gets back only the resized RGB: for a whole-slide tile map at half the slide's resolution
 * that is a quarter of the bytes of the decoded blocks, and the decoding, painting and resizing run beside the parent's
 * own work. Painting and resizing are paintRegion and resizeRgb, so the bytes equal those of readRegion + resizeRgb.
 */
import { paintRegion } from './base';
import { resizeRgb } from './resize';
import { decodeTiffBlock, type TiffBlockInfo } from './tiff-image';

export interface RegionBlock {
  tx: number;
  ty: number;
  /** The block's bytes; null for a block the file leaves out (byte count 0: white). */
  raw: Uint8Array | null;
  what: string;
}

export interface RegionTask {
  info: TiffBlockInfo;
  level: { width: number; height: number; tileWidth: number; tileHeight: number; tilesAcross: number; tilesDown: number };
  /** Strips (not tiles): the last one holds only the remaining rows. */
  strips: boolean;
  lx: number;
  ly: number;
  w: number;
  h: number;
  outW: number;
  outH: number;
  blocks: RegionBlock[];
}

/** Paints and resizes one region; returns outW x outH x 3 bytes. */
export async function regionFromBlocks(t: RegionTask): Promise<Uint8Array> {
  const L = t.level;
  const byIndex = new Map(t.blocks.map((b) => [b.ty * L.tilesAcross + b.tx, b]));
  const painted = await paintRegion(L, t.lx, t.ly, t.w, t.h, async (tx, ty) => {
    const b = byIndex.get(ty * L.tilesAcross + tx);
    if (!b?.raw) return null;
    const th = t.strips ? Math.min(L.tileHeight, L.height - ty * L.tileHeight) : L.tileHeight;
    return { w: L.tileWidth, h: th, data: await decodeTiffBlock(b.raw, t.info, L.tileWidth, th, b.what) };
  });
  return (await resizeRgb(painted, t.outW, t.outH)).data;
}

export default async function regionTask(t: RegionTask): Promise<Uint8Array> {
  for (const b of t.blocks) if (b.raw && !(b.raw instanceof Uint8Array)) b.raw = new Uint8Array(b.raw as ArrayBufferLike);
  return regionFromBlocks(t);
}
