/** A tiny classic-TIFF (little endian) writer for synthetic test slides: RGB 8-bit, tiles or strips, SubIFDs. */
import { deflateSync } from 'node:zlib';

export interface WTag {
  tag: number;
  type: 2 | 3 | 4 | 5;
  value: string | number[];
}
export interface WImage {
  width: number;
  height: number;
  /** RGB interleaved, width*height*3. */
  rgb: Uint8Array;
  tile?: number;
  rowsPerStrip?: number;
  compression?: 1 | 8;
  tags?: WTag[];
  subIfds?: WImage[];
  /** Tags of an EXIF private IFD (pointed to by tag 34665). */
  exif?: WTag[];
}

class Out {
  chunks: Buffer[] = [];
  pos = 0;
  push(b: Buffer): number {
    if (this.pos % 2) {
      this.chunks.push(Buffer.alloc(1));
      this.pos++;
    }
    const at = this.pos;
    this.chunks.push(b);
    this.pos += b.length;
    return at;
  }
}

function blocks(img: WImage): { offsets: number[]; counts: number[]; bw: number; bh: number; data: Buffer[] } {
  const bw = img.tile ?? img.width;
  const bh = img.tile ?? img.rowsPerStrip ?? img.height;
  const data: Buffer[] = [];
  for (let by = 0; by < img.height; by += bh)
    for (let bx = 0; bx < img.width; bx += bw) {
      const rows = img.tile ? bh : Math.min(bh, img.height - by);
      const b = Buffer.alloc(bw * rows * 3, 0);
      for (let y = 0; y < rows && by + y < img.height; y++)
        for (let x = 0; x < bw && bx + x < img.width; x++) {
          const s = ((by + y) * img.width + bx + x) * 3;
          b[(y * bw + x) * 3] = img.rgb[s];
          b[(y * bw + x) * 3 + 1] = img.rgb[s + 1];
          b[(y * bw + x) * 3 + 2] = img.rgb[s + 2];
        }
      data.push(img.compression === 8 ? deflateSync(b) : b);
    }
  return { offsets: [], counts: data.map((d) => d.length), bw, bh, data };
}

function writeIfd(o: Out, tags: WTag[]): { ifd: number; nextPtr: number } {
  tags.sort((a, b) => a.tag - b.tag);
  const size: Record<number, number> = { 2: 1, 3: 2, 4: 4, 5: 8 };
  const ent = Buffer.alloc(2 + tags.length * 12 + 4);
  ent.writeUInt16LE(tags.length, 0);
  tags.forEach((t, i) => {
    const p = 2 + i * 12;
    let val: Buffer;
    if (t.type === 2) val = Buffer.from(String(t.value) + '\0', 'latin1');
    else {
      const v = t.value as number[];
      val = Buffer.alloc(v.length * size[t.type]);
      v.forEach((n, k) => {
        if (t.type === 3) val.writeUInt16LE(n, k * 2);
        else if (t.type === 4) val.writeUInt32LE(n, k * 4);
        else {
          val.writeUInt32LE(Math.round(n * 1000), k * 8);
          val.writeUInt32LE(1000, k * 8 + 4);
        }
      });
    }
    ent.writeUInt16LE(t.tag, p);
    ent.writeUInt16LE(t.type, p + 2);
    ent.writeUInt32LE(val.length / size[t.type], p + 4);
    if (val.length <= 4) val.copy(ent, p + 8);
    else ent.writeUInt32LE(o.push(val), p + 8);
  });
  const ifd = o.push(ent);
  return { ifd, nextPtr: ifd + 2 + tags.length * 12 };
}

function writeImage(o: Out, img: WImage): { ifd: number; nextPtr: number } {
  const subOffsets = (img.subIfds ?? []).map((s) => writeImage(o, s).ifd);
  const exifOffset = img.exif ? writeIfd(o, [...img.exif]).ifd : 0;
  const bl = blocks(img);
  const offsets = bl.data.map((d) => o.push(d));
  const base: WTag[] = [
    { tag: 256, type: 4, value: [img.width] },
    { tag: 257, type: 4, value: [img.height] },
    { tag: 258, type: 3, value: [8, 8, 8] },
    { tag: 259, type: 3, value: [img.compression ?? 1] },
    { tag: 262, type: 3, value: [2] },
    { tag: 277, type: 3, value: [3] },
    { tag: 284, type: 3, value: [1] },
  ];
  const tags: WTag[] = [
    ...base,
    ...(img.tile
      ? [
          { tag: 322, type: 3, value: [img.tile] } as WTag,
          { tag: 323, type: 3, value: [img.tile] } as WTag,
          { tag: 324, type: 4, value: offsets } as WTag,
          { tag: 325, type: 4, value: bl.counts } as WTag,
        ]
      : [
          { tag: 273, type: 4, value: offsets } as WTag,
          { tag: 278, type: 4, value: [bl.bh] } as WTag,
          { tag: 279, type: 4, value: bl.counts } as WTag,
        ]),
    ...(subOffsets.length ? [{ tag: 330, type: 4, value: subOffsets } as WTag] : []),
    ...(img.tags ?? []),
    ...(exifOffset ? [{ tag: 34665, type: 4, value: [exifOffset] } as WTag] : []),
  ];
  return writeIfd(o, tags);
}

/** Writes images as a chain of IFDs (each with optional SubIFDs). */
export function writeTiff(images: WImage[]): Buffer {
  const o = new Out();
  o.push(Buffer.from([0x49, 0x49, 42, 0, 0, 0, 0, 0]));
  const written = images.map((img) => writeImage(o, img));
  const buf = Buffer.concat(o.chunks);
  buf.writeUInt32LE(written[0].ifd, 4);
  for (let i = 0; i + 1 < written.length; i++) buf.writeUInt32LE(written[i + 1].ifd, written[i].nextPtr);
  return buf;
}

/** A deterministic RGB test pattern (gradients + stripes). */
export function pattern(w: number, h: number, seed = 0): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      d[i] = (x * 7 + seed) & 255;
      d[i + 1] = (y * 5 + seed * 3) & 255;
      d[i + 2] = ((x ^ y) * 3) & 255;
    }
  return d;
}

/** Box-filter 2x downscale (for synthetic pyramids). */
export function half(rgb: Uint8Array, w: number, h: number): { rgb: Uint8Array; w: number; h: number } {
  const nw = Math.floor(w / 2);
  const nh = Math.floor(h / 2);
  const o = new Uint8Array(nw * nh * 3);
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++)
      for (let c = 0; c < 3; c++) o[(y * nw + x) * 3 + c] = rgb[(2 * y * w + 2 * x) * 3 + c];
  return { rgb: o, w: nw, h: nh };
}
