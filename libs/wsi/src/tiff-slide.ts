/** TIFF-family slides: Aperio SVS, generic tiled pyramidal TIFF / BigTIFF, OME-TIFF (SubIFD pyramids). */
import { InputError } from '@app/core';
import type { OpenSlideOptions, RgbImage, SlideFormat } from './types';
import { TAG, TiffFile, tagNum, tagStr, type Ifd } from './tiff-file';
import { TiffImage, describeIfd } from './tiff-image';
import { DEFAULT_CACHE_BYTES, DEFAULT_MAX_LEVEL_PIXELS, PyramidSlide, checkPyramid, paintRegion } from './base';
import { TileCache } from './cache';
import { sandboxDefault } from './isolate';
import { resizeRgb } from './resize';

/** Associated images larger than this are refused (they are small by nature). */
const MAX_ASSOCIATED_PIXELS = 2 ** 27;

const RES_UNITS: Record<number, string> = { 1: 'none', 2: 'inch', 3: 'centimeter' };
const TIFF_STRING_PROPS: [number, string][] = [
  [TAG.ImageDescription, 'ImageDescription'], [TAG.Make, 'Make'], [TAG.Model, 'Model'], [TAG.Software, 'Software'],
  [TAG.DateTime, 'DateTime'], [TAG.Artist, 'Artist'], [TAG.HostComputer, 'HostComputer'], [TAG.Copyright, 'Copyright'],
  [TAG.DocumentName, 'DocumentName'],
];

export interface AssociatedRef {
  name: string;
  ifd: Ifd;
  index: number;
}

/** Classifies the IFDs of a TIFF file into levels and associated images. Exposed for blinding. */
export interface TiffLayout {
  format: Exclude<SlideFormat, 'dicom-wsi'>;
  levelIfds: Ifd[];
  associated: AssociatedRef[];
  omeXml?: string;
}

export function classifyTiff(tf: TiffFile): TiffLayout {
  const ifds = tf.ifds;
  const desc0 = tagStr(ifds[0], TAG.ImageDescription) ?? '';
  if (desc0.startsWith('Aperio')) {
    const levelIfds: Ifd[] = [];
    const associated: AssociatedRef[] = [];
    ifds.forEach((ifd, i) => {
      const tiled = ifd.entries.has(TAG.TileWidth);
      if (i === 0 || tiled) levelIfds.push(ifd);
      else if (i === 1) associated.push({ name: 'thumbnail', ifd, index: i });
      else {
        // OpenSlide: the name is the first word of the ImageDescription's 2nd line ("label 387x463")
        const d = tagStr(ifd, TAG.ImageDescription) ?? '';
        const line2 = d.split(/\r?\n|\r/)[1] ?? '';
        let name = line2.split(' ')[0];
        if (!name) {
          // older files: NewSubfileType 1 = label, 9 = macro
          const nst = tagNum(ifd, TAG.NewSubfileType, 0);
          name = nst === 1 ? 'label' : nst === 9 ? 'macro' : '';
        }
        if (name) associated.push({ name, ifd, index: i });
      }
    });
    return { format: 'aperio-svs', levelIfds, associated };
  }
  if (desc0.includes('<OME') && desc0.includes('</OME>')) {
    const ifd0 = ifds[0];
    return { format: 'ome-tiff', levelIfds: [ifd0, ...ifd0.subIfds], associated: [], omeXml: desc0 };
  }
  // generic: IFD 0 plus every other image flagged reduced-resolution (NewSubfileType bit 0) or tiled like IFD 0
  const levelIfds: Ifd[] = [ifds[0]];
  const tiled0 = ifds[0].entries.has(TAG.TileWidth);
  for (let i = 1; i < ifds.length; i++) {
    const ifd = ifds[i];
    const nst = tagNum(ifd, TAG.NewSubfileType, 0)!;
    if (nst & 4) continue; // transparency mask
    if (nst & 1 || (tiled0 && ifd.entries.has(TAG.TileWidth))) levelIfds.push(ifd);
  }
  return { format: 'generic-tiff', levelIfds, associated: [] };
}

/** OME-XML: first Image's Pixels attributes. */
export function parseOmePixels(xml: string): { sizeX?: number; sizeY?: number; sizeC?: number; sizeZ?: number; sizeT?: number; mppX?: number; mppY?: number; type?: string } {
  const m = /<(?:\w+:)?Pixels\b([^>]*)>/.exec(xml);
  if (!m) return {};
  const attrs: Record<string, string> = {};
  for (const a of m[1].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) attrs[a[1]] = a[2];
  const toMicrons = (v?: string, unit?: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) return undefined;
    const f: Record<string, number> = { 'µm': 1, 'μm': 1, um: 1, nm: 1e-3, mm: 1e3, cm: 1e4, m: 1e6, 'Å': 1e-4, pm: 1e-6 };
    const k = unit ?? 'µm';
    return f[k] === undefined ? undefined : n * f[k];
  };
  const num = (k: string) => (attrs[k] === undefined ? undefined : Number(attrs[k]));
  return {
    sizeX: num('SizeX'), sizeY: num('SizeY'), sizeC: num('SizeC'), sizeZ: num('SizeZ'), sizeT: num('SizeT'), type: attrs.Type,
    mppX: toMicrons(attrs.PhysicalSizeX, attrs.PhysicalSizeXUnit),
    mppY: toMicrons(attrs.PhysicalSizeY, attrs.PhysicalSizeYUnit),
  };
}

const fmt = (n: number): string => String(n);

export class TiffSlide extends PyramidSlide {
  readonly format: SlideFormat;
  readonly mpp: { x: number; y: number } | null;
  readonly objectivePower: number | null;
  readonly properties: Readonly<Record<string, string>>;
  readonly associatedImageNames: readonly string[];
  private readonly assoc: Map<string, Ifd>;

  private constructor(
    private readonly tf: TiffFile,
    layout: TiffLayout,
    levels: TiffImage[],
    private readonly maxLevelPixels: number,
    cache: TileCache,
    private readonly sandbox: boolean,
  ) {
    super(levels, cache);
    this.format = layout.format;
    this.assoc = new Map(layout.associated.map((a) => [a.name, a.ifd]));
    this.associatedImageNames = [...this.assoc.keys()];
    const props: Record<string, string> = {};
    const ifd0 = layout.levelIfds[0];
    for (const [tag, name] of TIFF_STRING_PROPS) {
      const v = tagStr(ifd0, tag);
      if (v !== undefined) props[`tiff.${name}`] = v;
    }
    const xr = tagNum(ifd0, TAG.XResolution);
    const yr = tagNum(ifd0, TAG.YResolution);
    const ru = tagNum(ifd0, TAG.ResolutionUnit, 2); // TIFF default: inch (libtiff reports it too)
    if (xr !== undefined) props['tiff.XResolution'] = fmt(Math.fround(xr));
    if (yr !== undefined) props['tiff.YResolution'] = fmt(Math.fround(yr));
    if (ru !== undefined && RES_UNITS[ru]) props['tiff.ResolutionUnit'] = RES_UNITS[ru];
    let mpp: { x: number; y: number } | null = null;
    let power: number | null = null;
    if (layout.format === 'aperio-svs') {
      const desc = props['tiff.ImageDescription'] ?? '';
      props['openslide.comment'] = desc;
      const parts = desc.split('|');
      for (const p of parts.slice(1)) {
        const eq = p.indexOf(' = ');
        if (eq > 0) props[`aperio.${p.slice(0, eq).trim()}`] = p.slice(eq + 3).trim();
      }
      const m = Number(props['aperio.MPP']);
      if (props['aperio.MPP'] && Number.isFinite(m) && m > 0) mpp = { x: m, y: m };
      const mag = Number(props['aperio.AppMag']);
      if (props['aperio.AppMag'] && Number.isFinite(mag) && mag > 0) power = mag;
    } else if (layout.format === 'ome-tiff' && layout.omeXml) {
      const px = parseOmePixels(layout.omeXml);
      if (px.mppX && px.mppY) mpp = { x: px.mppX, y: px.mppY };
      const om = /<(?:\w+:)?Objective\b[^>]*NominalMagnification\s*=\s*"([^"]+)"/.exec(layout.omeXml);
      if (om && Number(om[1]) > 0) power = Number(om[1]);
      if (px.sizeC !== undefined) props['ome.SizeC'] = String(px.sizeC);
      if (px.sizeZ !== undefined) props['ome.SizeZ'] = String(px.sizeZ);
      if (px.sizeT !== undefined) props['ome.SizeT'] = String(px.sizeT);
    } else if (xr && yr && (ru === 3 || ru === 2)) {
      // generic TIFF: resolution tags (OpenSlide 4 does the same for centimetres); 10000 µm per cm, 25400 per inch
      const f = ru === 3 ? 10000 : 25400;
      if (ru === 3) mpp = { x: f / Math.fround(xr), y: f / Math.fround(yr) };
    }
    if (mpp) {
      props['openslide.mpp-x'] = fmt(mpp.x);
      props['openslide.mpp-y'] = fmt(mpp.y);
    }
    if (power !== null) props['openslide.objective-power'] = fmt(power);
    props['openslide.vendor'] = layout.format === 'aperio-svs' ? 'aperio' : layout.format;
    props['openslide.level-count'] = String(levels.length);
    levels.forEach((l, i) => {
      props[`openslide.level[${i}].width`] = String(l.width);
      props[`openslide.level[${i}].height`] = String(l.height);
      props[`openslide.level[${i}].downsample`] = fmt(l.downsample);
      props[`openslide.level[${i}].tile-width`] = String(l.tileWidth);
      props[`openslide.level[${i}].tile-height`] = String(l.tileHeight);
    });
    this.mpp = mpp;
    this.objectivePower = power;
    this.properties = Object.freeze(props);
  }

  static async open(path: string, opts: OpenSlideOptions = {}): Promise<TiffSlide> {
    const tf = await TiffFile.open(path);
    try {
      const maxPx = opts.maxLevelPixels ?? DEFAULT_MAX_LEVEL_PIXELS;
      const layout = classifyTiff(tf);
      const levels = layout.levelIfds.map((ifd, i) => new TiffImage(tf, describeIfd(tf, ifd, `level ${i} (IFD at ${ifd.offset})`, maxPx), `level ${i}`, opts.sandbox ?? sandboxDefault()));
      // OpenSlide orders levels by size (largest first)
      levels.sort((a, b) => b.width * b.height - a.width * a.height);
      checkPyramid(levels, `${layout.format} pyramid`);
      const l0 = levels[0];
      for (const l of levels) l.downsample = (l0.width / l.width + l0.height / l.height) / 2;
      return new TiffSlide(tf, layout, levels, maxPx, new TileCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES), opts.sandbox ?? sandboxDefault());
    } catch (e) {
      await tf.close();
      throw e;
    }
  }

  /**
   * readRegion resized to outW x outH, decoded, painted and resized in one decoder-sandbox task (TiffImage.readScaled):
   * only the resized pixels come back. The same bytes as resizeRgb(await readRegion(...)). When the task crashes,
   * runs out of memory or time, the region is read again through readRegion, block by block, so that the error names
   * the block (and a fault of the machine, not the file, does not fail the read).
   */
  async readRegionScaled(level: number, x: number, y: number, w: number, h: number, outW: number, outH: number): Promise<RgbImage> {
    this.checkRegion('readRegionScaled', level, x, y, w, h);
    this.checkRegion('readRegionScaled (output)', level, 0, 0, outW, outH);
    const L = this.tiledLevels[level] as TiffImage;
    try {
      return { width: outW, height: outH, channels: 3, data: await L.readScaled(Math.floor(x / L.downsample), Math.floor(y / L.downsample), w, h, outW, outH) };
    } catch (e) {
      if (!(e instanceof InputError) || !e.code.startsWith('sandbox.')) throw e;
      return resizeRgb(await this.readRegion(level, x, y, w, h), outW, outH);
    }
  }

  async readAssociatedImage(name: string): Promise<RgbImage> {
    const ifd = this.assoc.get(name);
    if (!ifd) throw new RangeError(`no associated image named ${JSON.stringify(name)} (have: ${this.associatedImageNames.join(', ') || 'none'})`);
    const img = new TiffImage(this.tf, describeIfd(this.tf, ifd, `associated image ${name}`, Math.min(this.maxLevelPixels, MAX_ASSOCIATED_PIXELS)), `associated image ${name}`, this.sandbox);
    // decoded directly (not cached): associated images are internal-use only
    return paintRegion(img, 0, 0, img.width, img.height, (tx, ty) => img.decodeTile(tx, ty));
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.tf.close();
  }
}
