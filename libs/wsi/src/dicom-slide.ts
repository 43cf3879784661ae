/**
 * DICOM WSI (VL Whole Slide Microscopy Image Storage) through the SlideReader surface.
 * Headers are parsed with dicom-parser from a prefix of each file (up to Pixel Data); frame bytes are
 * located by walking the encapsulated items with range reads, so frames are read one by one.
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import * as dicomParser from 'dicom-parser';
import { InputError } from '@app/core';
import type { OpenSlideOptions, RgbImage, SlideFormat } from './types';
import { DEFAULT_CACHE_BYTES, DEFAULT_MAX_LEVEL_PIXELS, MAX_TILE_PIXELS, PyramidSlide, checkDims, checkPyramid, paintRegion, type DecodedTile, type TiledLevel } from './base';
import { TileCache } from './cache';
import { decodeJ2k, decodeJpeg, decodeStats, spliceJpeg } from './decode';
import { decodeIsolated, sandboxDefault } from './isolate';

export const WSI_SOP_CLASS = '1.2.840.10008.5.1.4.1.1.77.1.6';
const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
};
const TS_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless SV1',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-lossless',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.4.110': 'JPEG XL',
};
const SUPPORTED_TS = new Set(Object.values(TS));

interface Instance {
  path: string;
  size: number;
  fh: FileHandle;
  ds: dicomParser.DataSet;
  ts: string;
  imageType: string[];
  seriesUid: string;
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  frames: number;
  photometric: string;
  spp: number;
  /** Byte ranges [offset, length] of each frame in the file. */
  frameRanges: [number, number][];
}

const PREFIX_START = 256 * 1024;
const PREFIX_MAX = 64 * 1024 * 1024;

async function readAt(fh: FileHandle, size: number, offset: number, length: number, path: string, what: string): Promise<Buffer> {
  if (offset < 0 || length < 0 || offset + length > size)
    throw new InputError('wsi.offset-out-of-range', `${path}: ${what} at ${offset} (+${length} bytes) lies beyond the end of the file (${size} bytes): truncated or corrupt`, { offset, length, fileSize: size });
  const b = Buffer.alloc(length);
  await fh.read(b, 0, length, offset);
  return b;
}

async function parseInstance(path: string, maxPixels: number): Promise<Instance | null> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 132) {
      await fh.close();
      return null;
    }
    const magic = await readAt(fh, size, 128, 4, path, 'DICM prefix');
    if (magic.toString('latin1') !== 'DICM') {
      await fh.close();
      return null;
    }
    let len = Math.min(size, PREFIX_START);
    let ds: dicomParser.DataSet | undefined;
    for (;;) {
      const prefix = await readAt(fh, size, 0, len, path, 'header');
      try {
        ds = dicomParser.parseDicom(prefix, { untilTag: 'x7fe00010' });
        if (ds.elements.x7fe00010 || len === size) break;
      } catch (e) {
        if (len === size || len >= PREFIX_MAX)
          throw new InputError('wsi.bad-dicom', `${path}: cannot parse DICOM header: ${typeof e === 'string' ? e : ((e as Error).message ?? String(e))}`);
      }
      len = Math.min(size, len * 4, PREFIX_MAX);
    }
    const sop = ds.string('x00080016') ?? '';
    if (sop !== WSI_SOP_CLASS) {
      await fh.close();
      return null; // not a slide instance (e.g. a DICOMDIR or another modality in the folder)
    }
    const ts = ds.string('x00020010') ?? TS.implicitLE;
    const it = (ds.string('x00080008') ?? '').split('\\');
    const px = ds.elements.x7fe00010;
    if (!px) throw new InputError('wsi.bad-dicom', `${path}: no Pixel Data element (7FE0,0010)`);
    const width = ds.uint32('x00480006') ?? ds.uint16('x00280011') ?? 0;
    const height = ds.uint32('x00480007') ?? ds.uint16('x00280010') ?? 0;
    const tileWidth = ds.uint16('x00280011') ?? 0;
    const tileHeight = ds.uint16('x00280010') ?? 0;
    const frames = Number(ds.string('x00280008') ?? '1') || 1;
    const spp = ds.uint16('x00280002') ?? 1;
    const bits = ds.uint16('x00280100') ?? 8;
    const photometric = ds.string('x00280004') ?? (spp === 3 ? 'RGB' : 'MONOCHROME2');
    checkDims(width, height, maxPixels, path);
    if (tileWidth <= 0 || tileHeight <= 0 || tileWidth * tileHeight > MAX_TILE_PIXELS)
      throw new InputError('wsi.absurd-dimensions', `${path}: frame size ${tileWidth}x${tileHeight} is invalid`);
    if (bits !== 8) throw new InputError('wsi.unsupported-bitdepth', `${path}: BitsAllocated ${bits}; only 8-bit slides are supported`);
    if (!SUPPORTED_TS.has(ts))
      throw new InputError('wsi.unsupported-transfer-syntax', `${path}: unsupported DICOM transfer syntax ${ts} (${TS_NAMES[ts] ?? 'unknown'}); supported: JPEG Baseline, JPEG 2000, uncompressed little endian`, { transferSyntax: ts });
    const org = ds.string('x00209311');
    if (org && org !== 'TILED_FULL' && frames > 1)
      throw new InputError('wsi.unsupported-format', `${path}: DimensionOrganizationType ${org} is not supported (only TILED_FULL)`);
    const frameRanges: [number, number][] = [];
    if (px.hadUndefinedLength) {
      // encapsulated: items (FFFE,E000) after the header; the first is the Basic Offset Table
      let pos = px.dataOffset;
      let first = true;
      const frags: [number, number][] = [];
      for (;;) {
        const h = await readAt(fh, size, pos, 8, path, 'pixel data item header');
        const g = h.readUInt16LE(0);
        const el = h.readUInt16LE(2);
        const l = h.readUInt32LE(4);
        if (g === 0xfffe && el === 0xe0dd) break;
        if (g !== 0xfffe || el !== 0xe000) throw new InputError('wsi.bad-dicom', `${path}: malformed encapsulated pixel data at byte ${pos} (expected an item tag)`);
        if (pos + 8 + l > size) throw new InputError('wsi.truncated', `${path}: pixel data fragment at ${pos} (+${l} bytes) ends beyond the end of the file (${size} bytes): truncated`);
        if (!first) frags.push([pos + 8, l]);
        first = false;
        pos += 8 + l;
        if (frags.length > frames * 64) throw new InputError('wsi.bad-dicom', `${path}: more pixel data fragments than plausible for ${frames} frames`);
      }
      if (frags.length < frames)
        throw new InputError('wsi.truncated', `${path}: ${frames} frames declared but only ${frags.length} pixel data fragments present`);
      if (frags.length !== frames)
        throw new InputError('wsi.unsupported-format', `${path}: ${frags.length} fragments for ${frames} frames (multi-fragment frames are not supported)`);
      frameRanges.push(...frags);
    } else {
      const fs = tileWidth * tileHeight * spp;
      if (px.dataOffset + fs * frames > size)
        throw new InputError('wsi.truncated', `${path}: native pixel data for ${frames} frames of ${tileWidth}x${tileHeight}x${spp} needs ${fs * frames} bytes from ${px.dataOffset}, file has ${size}`);
      for (let i = 0; i < frames; i++) frameRanges.push([px.dataOffset + i * fs, fs]);
    }
    return { path, size, fh, ds, ts, imageType: it, seriesUid: ds.string('x0020000e') ?? '', width, height, tileWidth, tileHeight, frames, photometric, spp, frameRanges };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

class DicomLevel implements TiledLevel {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly tilesAcross: number;
  readonly tilesDown: number;
  downsample = 1;

  constructor(
    readonly inst: Instance,
    private readonly sandbox = sandboxDefault(),
  ) {
    this.width = inst.width;
    this.height = inst.height;
    this.tileWidth = inst.tileWidth;
    this.tileHeight = inst.tileHeight;
    this.tilesAcross = Math.ceil(inst.width / inst.tileWidth);
    this.tilesDown = Math.ceil(inst.height / inst.tileHeight);
    if (inst.frames < this.tilesAcross * this.tilesDown)
      throw new InputError('wsi.bad-dicom', `${inst.path}: TILED_FULL needs ${this.tilesAcross * this.tilesDown} frames for ${inst.width}x${inst.height} in ${inst.tileWidth}x${inst.tileHeight} tiles, found ${inst.frames}`);
  }

  async decodeTile(tx: number, ty: number): Promise<DecodedTile> {
    const i = ty * this.tilesAcross + tx;
    const { inst } = this;
    const [off, len] = inst.frameRanges[i];
    const maxStored = Math.max(4 * this.tileWidth * this.tileHeight * Math.max(1, inst.spp), 1024 * 1024 + this.tileWidth * this.tileHeight * Math.max(1, inst.spp));
    if (len > maxStored)
      throw new InputError('wsi.bad-dicom', `${inst.path}: frame ${i + 1} has ${len} bytes for a ${this.tileWidth}x${this.tileHeight} tile (at most ${maxStored} expected): corrupt item length`, { frame: i + 1, length: len });
    const raw = await readAt(inst.fh, inst.size, off, len, inst.path, `frame ${i + 1}`);
    decodeStats.tiles++;
    const tw = this.tileWidth;
    const th = this.tileHeight;
    const what = `frame ${i + 1} of ${inst.path}`;
    const info: DicomFrameInfo = { ts: inst.ts, photometric: inst.photometric, spp: inst.spp };
    const data = await decodeIsolated(
      this.sandbox ? { kind: 'dicom', raw, info, tw, th, what } : null,
      () => decodeDicomFrame(raw, info, tw, th, what),
      inst.path,
      `decoding frame ${i + 1} (${TS_NAMES[inst.ts] ?? inst.ts})`,
    );
    return { w: tw, h: th, data };
  }
}

/** What a frame decoder needs to know about its instance (crosses to the sandbox). */
export interface DicomFrameInfo {
  ts: string;
  photometric: string;
  spp: number;
}

/** Decodes one DICOM WSI frame's bytes to RGB (tw x th). Pure: runs in the sandbox or in-process. */
export async function decodeDicomFrame(raw: Uint8Array, inst: DicomFrameInfo, tw: number, th: number, what: string): Promise<Uint8Array> {
  let data: Uint8Array;
  let comps = inst.spp;
  if (inst.ts === TS.jpegBaseline) {
    // Photometric RGB with JPEG means the components were not transformed (e.g. converted Aperio tiles)
    return decodeJpeg(spliceJpeg(raw, undefined, inst.photometric === 'RGB'), tw, th, what);
  } else if (inst.ts === TS.j2k || inst.ts === TS.j2kLossless) {
    const j = await decodeJ2k(raw, what, tw * th);
    if (j.width !== tw || j.height !== th) throw new InputError('wsi.bad-jpeg2000', `${what} is ${j.width}x${j.height}, expected ${tw}x${th}`);
    data = j.data;
    comps = j.components;
  } else {
    data = raw;
  }
  const n = tw * th;
  if (comps < 1 || data.length < n * comps)
    throw new InputError('wsi.bad-tile', `${what}: ${data.length} bytes for ${tw}x${th} pixels with ${comps} samples (needs ${n * Math.max(1, comps)}): truncated or corrupt frame`);
  if (comps === 3 && inst.photometric !== 'YBR_FULL') return data.subarray(0, n * 3);
  const out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    if (comps >= 3) {
      const Y = data[p * comps], cb = data[p * comps + 1] - 128, cr = data[p * comps + 2] - 128;
      out[p * 3] = clamp(Y + 1.402 * cr);
      out[p * 3 + 1] = clamp(Y - 0.344136 * cb - 0.714136 * cr);
      out[p * 3 + 2] = clamp(Y + 1.772 * cb);
    } else {
      const g = inst.photometric === 'MONOCHROME1' ? 255 - data[p * comps] : data[p * comps];
      out[p * 3] = g; out[p * 3 + 1] = g; out[p * 3 + 2] = g;
    }
  }
  return out;
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function findNested(ds: dicomParser.DataSet, path: string[]): dicomParser.DataSet | undefined {
  let cur: dicomParser.DataSet | undefined = ds;
  for (const tag of path) {
    const items: dicomParser.Element['items'] = cur?.elements[tag]?.items;
    cur = items && items.length ? items[0].dataSet : undefined;
  }
  return cur;
}

export class DicomSlide extends PyramidSlide {
  readonly format: SlideFormat = 'dicom-wsi';
  readonly mpp: { x: number; y: number } | null;
  readonly objectivePower: number | null;
  readonly properties: Readonly<Record<string, string>>;
  readonly associatedImageNames: readonly string[];

  private constructor(
    private readonly instances: Instance[],
    levels: DicomLevel[],
    private readonly assoc: Map<string, DicomLevel>,
    cache: TileCache,
  ) {
    super(levels, cache);
    this.associatedImageNames = [...assoc.keys()];
    const ds = levels[0].inst.ds;
    const pm = findNested(ds, ['x52009229', 'x00289110']);
    const ps = pm?.string('x00280030')?.split('\\').map(Number);
    this.mpp = ps && ps.length === 2 && ps.every((v) => Number.isFinite(v) && v > 0) ? { x: ps[1] * 1000, y: ps[0] * 1000 } : null;
    const op = findNested(ds, ['x00480105']);
    const pow = Number(op?.string('x00480112'));
    this.objectivePower = Number.isFinite(pow) && pow > 0 ? pow : null;
    const props: Record<string, string> = { 'openslide.vendor': 'dicom' };
    const put = (k: string, v: string | undefined) => {
      if (v !== undefined && v !== '') props[k] = v;
    };
    put('dicom.SOPClassUID', ds.string('x00080016'));
    put('dicom.TransferSyntaxUID', levels[0].inst.ts);
    put('dicom.Manufacturer', ds.string('x00080070'));
    put('dicom.ManufacturerModelName', ds.string('x00081090'));
    put('dicom.ImageType', ds.string('x00080008'));
    if (this.mpp) {
      props['openslide.mpp-x'] = String(this.mpp.x);
      props['openslide.mpp-y'] = String(this.mpp.y);
    }
    if (this.objectivePower !== null) props['openslide.objective-power'] = String(this.objectivePower);
    props['openslide.level-count'] = String(levels.length);
    levels.forEach((l, i) => {
      props[`openslide.level[${i}].width`] = String(l.width);
      props[`openslide.level[${i}].height`] = String(l.height);
      props[`openslide.level[${i}].downsample`] = String(l.downsample);
      props[`openslide.level[${i}].tile-width`] = String(l.tileWidth);
      props[`openslide.level[${i}].tile-height`] = String(l.tileHeight);
    });
    this.properties = Object.freeze(props);
  }

  static async open(input: string | readonly string[], opts: OpenSlideOptions = {}): Promise<DicomSlide> {
    let paths: string[];
    if (typeof input === 'string') {
      const st = await stat(input);
      paths = st.isDirectory() ? (await readdir(input)).sort().map((f) => join(input, f)) : [input];
    } else paths = [...input];
    const maxPx = opts.maxLevelPixels ?? DEFAULT_MAX_LEVEL_PIXELS;
    const insts: Instance[] = [];
    try {
      for (const p of paths) {
        if (!(await stat(p)).isFile()) continue;
        const inst = await parseInstance(p, maxPx);
        if (inst) insts.push(inst);
      }
      if (!insts.length)
        throw new InputError('wsi.not-a-slide', `no VL Whole Slide Microscopy Image instances (SOP class ${WSI_SOP_CLASS}) among ${paths.length} file(s)`);
      const series = new Set(insts.map((i) => i.seriesUid));
      if (series.size > 1)
        throw new InputError('wsi.mixed-series', `DICOM WSI input mixes ${series.size} series (SeriesInstanceUID); pass the instances of one series only`, { series: series.size });
      const vol = insts.filter((i) => i.imageType[2] === 'VOLUME');
      if (!vol.length) throw new InputError('wsi.no-images', 'DICOM WSI series has no VOLUME instance (ImageType value 3)');
      // one instance per level size (first wins; further focal planes / optical paths are not exposed)
      const bySize = new Map<string, Instance>();
      for (const v of vol) if (!bySize.has(`${v.width}x${v.height}`)) bySize.set(`${v.width}x${v.height}`, v);
      const levels = [...bySize.values()].sort((a, b) => b.width * b.height - a.width * a.height).map((i) => new DicomLevel(i, opts.sandbox ?? sandboxDefault()));
      checkPyramid(levels, 'DICOM WSI pyramid');
      for (const l of levels) l.downsample = (levels[0].width / l.width + levels[0].height / l.height) / 2;
      const assoc = new Map<string, DicomLevel>();
      const names: Record<string, string> = { THUMBNAIL: 'thumbnail', LABEL: 'label', OVERVIEW: 'macro' };
      for (const i of insts) {
        const n = names[i.imageType[2]];
        if (n && !assoc.has(n)) assoc.set(n, new DicomLevel(i, opts.sandbox ?? sandboxDefault()));
      }
      return new DicomSlide(insts, levels, assoc, new TileCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES));
    } catch (e) {
      await Promise.all(insts.map((i) => i.fh.close()));
      throw e;
    }
  }

  async readAssociatedImage(name: string): Promise<RgbImage> {
    const l = this.assoc.get(name);
    if (!l) throw new RangeError(`no associated image named ${JSON.stringify(name)} (have: ${this.associatedImageNames.join(', ') || 'none'})`);
    return paintRegion(l, 0, 0, l.width, l.height, (tx, ty) => l.decodeTile(tx, ty));
  }

  async close(): Promise<void> {
    this.cache.clear();
    await Promise.all(this.instances.map((i) => i.fh.close()));
  }
}
