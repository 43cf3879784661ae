import { openSync, writeSync, closeSync } from 'node:fs';

/** TIFF field types used here. */
export const T = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, LONG8: 16 } as const;
type FieldType = (typeof T)[keyof typeof T];
export interface IfdEntry {
  tag: number;
  type: FieldType;
  /** Numbers (RATIONAL: [num, den, num, den...]) or an ASCII string (NUL added). */
  values: number[] | string;
}
const SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 16: 8 };

/**
 * Minimal streaming TIFF / BigTIFF writer (little-endian): image data blobs are appended as they come,
 * IFDs are kept in memory (tags + offsets only) and written at the end, chained in the order they were added.
 * Never holds image data beyond the blob being written.
 */
export class TiffWriter {
  private fd: number;
  private pos: number;
  private ifds: IfdEntry[][] = [];
  constructor(path: string, private readonly big: boolean) {
    this.fd = openSync(path, 'w');
    const h = Buffer.alloc(big ? 16 : 8);
    h.write('II', 0, 'latin1');
    if (big) {
      h.writeUInt16LE(43, 2);
      h.writeUInt16LE(8, 4);
      h.writeUInt16LE(0, 6);
    } else h.writeUInt16LE(42, 2);
    writeSync(this.fd, h, 0, h.length, 0);
    this.pos = h.length;
  }
  /** Type for offsets / byte counts arrays. */
  get offsetType(): FieldType {
    return this.big ? T.LONG8 : T.LONG;
  }
  /** Appends bytes (word aligned) and returns their file offset. */
  append(buf: Uint8Array): number {
    if (this.pos % 2) this.raw(Buffer.alloc(1));
    const at = this.pos;
    this.raw(buf);
    if (!this.big && this.pos > 0xffffffff) throw new Error('TiffWriter: classic TIFF exceeded 4 GiB; use BigTIFF');
    return at;
  }
  addIfd(entries: IfdEntry[]): void {
    this.ifds.push(entries);
  }
  private raw(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off, this.pos + off);
    this.pos += buf.length;
  }
  private encodeValues(e: IfdEntry): Buffer {
    if (typeof e.values === 'string') return Buffer.from(e.values + '\0', 'latin1');
    const n = e.values.length;
    const b = Buffer.alloc(n * SIZE[e.type]);
    e.values.forEach((v, i) => {
      if (e.type === T.BYTE) b.writeUInt8(v, i);
      else if (e.type === T.SHORT) b.writeUInt16LE(v, i * 2);
      else if (e.type === T.LONG || e.type === T.RATIONAL) b.writeUInt32LE(v, i * 4);
      else b.writeBigUInt64LE(BigInt(v), i * 8);
    });
    return b;
  }
  /** Writes all IFDs, links them, patches the header and closes the file. */
  finish(): void {
    const big = this.big;
    const inline = big ? 8 : 4;
    const ifdOffsets: number[] = [];
    const nextPtrPos: number[] = [];
    for (const entries of this.ifds) {
      const sorted = [...entries].sort((a, b) => a.tag - b.tag);
      const encoded = sorted.map((e) => this.encodeValues(e));
      const outOfLine = encoded.map((b) => (b.length > inline ? this.append(b) : -1));
      const entrySize = big ? 20 : 12;
      const head = big ? 8 : 2;
      const ifd = Buffer.alloc(head + sorted.length * entrySize + (big ? 8 : 4));
      if (big) ifd.writeBigUInt64LE(BigInt(sorted.length), 0);
      else ifd.writeUInt16LE(sorted.length, 0);
      sorted.forEach((e, i) => {
        const o = head + i * entrySize;
        ifd.writeUInt16LE(e.tag, o);
        ifd.writeUInt16LE(e.type, o + 2);
        const count = typeof e.values === 'string' ? encoded[i].length : e.type === T.RATIONAL ? e.values.length / 2 : e.values.length;
        if (big) ifd.writeBigUInt64LE(BigInt(count), o + 4);
        else ifd.writeUInt32LE(count, o + 4);
        const vo = o + (big ? 12 : 8);
        if (outOfLine[i] >= 0) {
          if (big) ifd.writeBigUInt64LE(BigInt(outOfLine[i]), vo);
          else ifd.writeUInt32LE(outOfLine[i], vo);
        } else encoded[i].copy(ifd, vo);
      });
      const at = this.append(ifd);
      ifdOffsets.push(at);
      nextPtrPos.push(at + ifd.length - (big ? 8 : 4));
    }
    const ptr = (pos: number, value: number) => {
      const b = Buffer.alloc(big ? 8 : 4);
      if (big) b.writeBigUInt64LE(BigInt(value));
      else b.writeUInt32LE(value);
      writeSync(this.fd, b, 0, b.length, pos);
    };
    ptr(big ? 8 : 4, ifdOffsets[0] ?? 0);
    for (let i = 0; i + 1 < ifdOffsets.length; i++) ptr(nextPtrPos[i], ifdOffsets[i + 1]);
    closeSync(this.fd);
  }
  /** Closes without finishing (on error). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
