/**
 * Decoder-sandbox task (child process): a rectangle of one TIFF level painted from its blocks (tiles or strips) and
 * resized, for readRegionScaled. The parent sends the raw bytes of the blocks the rectangle touches (positioned reads
 * stay in the parent) and gets back only the resized RGB: for a whole-slide tile map at half the slide's resolution
 * that is a quarter of the bytes of the decoded blocks, and the decoding, painting and resizing run beside the parent's
 * own work. Painting and resizing are paintRegion and resizeRgb, so the bytes equal those of readRegion + resizeRgb.
 */
import { paintRegion, type LevelGrid } from './base';
import { asBytes } from './isolate';
import { resizeRgb } from './resize';
import { decodeTiffBlock, type TiffBlockInfo } from './tiff-image';

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

/** Paints and resizes one region; returns outW x outH x 3 bytes. */
export async function regionFromBlocks(t: RegionTask): Promise<Uint8Array> {
  const L = t.level;
  const byIndex = new Map(t.blocks.map((b) => [b.ty * L.tilesAcross + b.tx, b]));
  const painted = await paintRegion(L, t.lx, t.ly, t.w, t.h, async (tx, ty) => {
    const b = byIndex.get(ty * L.tilesAcross + tx);
    return b ? { w: L.tileWidth, h: b.h, data: await decodeTiffBlock(b.raw, t.info, L.tileWidth, b.h, b.what) } : null;
  });
  return (await resizeRgb(painted, t.outW, t.outH)).data;
}

export default async function regionTask(t: RegionTask): Promise<Uint8Array> {
  for (const b of t.blocks) b.raw = asBytes(b.raw);
  return regionFromBlocks(t);
}
