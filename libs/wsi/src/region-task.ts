/**
 * Decoder-sandbox task (child process): a rectangle of one TIFF level painted from its blocks (tiles or strips) and
 * resized, for readRegionScaled. The parent sends the raw bytes of the blocks the rectangle touches (positioned reads
 * stay in the parent) and gets back only the resized RGB: for a whole-slide tile map at half the slide's resolution
 * that is a quarter of the bytes of the decoded blocks, and the decoding, painting and resizing run beside the parent's
 * own work. Painting and resizing are paintRegion and resizeRgb, so the bytes equal those of readRegion + resizeRgb.
 *
 * The decoded blocks of a region's last block row are kept for the next region (reuseOverlap): the bands of a slide
 * map overlap by their resampling margin, so most bands' first block row is the previous band's last one (a quarter
 * of the blocks a slide map's bands ask for on the inference bench's slide). A kept block is used only for a block with the same raw bytes and the same
 * decoding parameters, so a hit gives exactly the pixels a decode would.
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

/** Paints and resizes one region; returns outW x outH x 3 bytes. */
export async function regionFromBlocks(t: RegionTask): Promise<Uint8Array> {
  const L = t.level;
  const byIndex = new Map(t.blocks.map((b) => [b.ty * L.tilesAcross + b.tx, b]));
  const infoKey = infoKeyOf(t.info);
  let lastRow = -1;
  for (const b of t.blocks) if (b.ty > lastRow) lastRow = b.ty;
  const previous = kept;
  const next = new Map<string, KeptBlock>();
  const painted = await paintRegion(L, t.lx, t.ly, t.w, t.h, async (tx, ty) => {
    const b = byIndex.get(ty * L.tilesAcross + tx);
    if (!b) return null;
    const key = `${tx},${ty}`;
    const old = previous.get(key);
    let block: KeptBlock;
    if (old && old.infoKey === infoKey && old.w === L.tileWidth && old.h === b.h && sameBytes(old.raw, b.raw)) {
      block = old;
      regionTaskStats.reused++;
    } else {
      block = { raw: b.raw, infoKey, w: L.tileWidth, h: b.h, data: await decodeTiffBlock(b.raw, t.info, L.tileWidth, b.h, b.what) };
      regionTaskStats.decoded++;
    }
    if (ty === lastRow) next.set(key, block);
    return { w: block.w, h: block.h, data: block.data };
  });
  kept = next;
  return (await resizeRgb(painted, t.outW, t.outH)).data;
}

export default async function regionTask(t: RegionTask): Promise<Uint8Array> {
  for (const b of t.blocks) b.raw = asBytes(b.raw);
  return regionFromBlocks(t);
}
