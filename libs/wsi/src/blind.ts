/**
 * Slide blinding for the TIFF family (Aperio SVS, generic TIFF, OME-TIFF).
 *
 * Writes a copy in which
 * - label and macro images (and any other non-pyramid image except the thumbnail) are unlinked from the
 *   IFD chain, and their IFD, out-of-line tag values and strip/tile bytes are zeroed (as CMU's
 *   anonymize-slide does);
 * - identifying text is removed in place: Aperio ImageDescription keeps only an allow-list of technical
 *   fields (MPP, AppMag, geometry...), free-text descriptions of generic TIFFs are blanked, OME-XML loses
 *   experimenter / names / dates / file names; TIFF tags DateTime, Artist, HostComputer, DocumentName,
 *   Model, ImageUniqueID, CameraOwnerName, body/lens serial numbers, XMP and IPTC are blanked, and so are the
 *   text/opaque values of EXIF IFDs (dates, owner, serials, comments, maker notes) and all GPS values.
 * The report lists what was removed by name, never the values.
 * DICOM WSI is blinded by DICOM de-identification (@app/deid), not here.
 */
import { copyFile, open, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InputError, sha256File } from '@app/core';
import { TAG, TYPE_SIZE, TiffFile, tagStr, type Ifd, type IfdEntry } from './tiff-file';
import { classifyTiff } from './tiff-slide';
import { TiffSlide } from './tiff-slide';

export interface BlindOptions {
  /** Keep the Aperio thumbnail (a downscaled view of the scanned area, no label). Default true. */
  keepThumbnail?: boolean;
}

export interface BlindingReport {
  format: string;
  /** Associated images removed (e.g. ['label', 'macro']). */
  removedAssociatedImages: string[];
  /** Number of IFDs unlinked and zeroed. */
  removedIfdCount: number;
  /** Bytes overwritten with zeros (image data, directories, tag values). */
  zeroedBytes: number;
  /** ImageDescription fields removed (names only, e.g. 'aperio.Filename'). */
  removedDescriptionFields: string[];
  /** TIFF tags blanked (names only). */
  blankedTags: string[];
  /** sha256 of the input and of the blinded copy. */
  inputSha256: string;
  outputSha256: string;
}

/** Aperio ImageDescription keys kept after blinding: technical acquisition geometry only. */
export const APERIO_KEEP_KEYS = new Set([
  'AppMag', 'MPP', 'StripeWidth', 'Left', 'Top', 'LineCameraSkew', 'LineAreaXOffset', 'LineAreaYOffset', 'Focus Offset',
  'OriginalWidth', 'OriginalHeight', 'Originalheight', 'Filtered', 'Parmset', 'Exposure Time', 'Exposure Scale', 'Gamma',
  'ICC Profile', 'Zoom', 'SessionMode', 'Compressed Width', 'Compressed Height',
]);

const BLANK_TAGS: [number, string][] = [
  [TAG.DateTime, 'DateTime'], [TAG.Artist, 'Artist'], [TAG.HostComputer, 'HostComputer'], [TAG.DocumentName, 'DocumentName'],
  [TAG.Model, 'Model'], [TAG.ImageUniqueID, 'ImageUniqueID'], [TAG.CameraOwnerName, 'CameraOwnerName'],
  [TAG.BodySerialNumber, 'BodySerialNumber'], [TAG.LensSerialNumber, 'LensSerialNumber'], [700, 'XMP'], [33723, 'IPTC'],
];

/** EXIF tags left as they are: ExifVersion, FlashpixVersion, ComponentsConfiguration. */
const EXIF_KEEP = new Set([36864, 40960, 37121]);

/** Cleans an Aperio description: keeps the header and allow-listed key = value fields. */
export function cleanAperioDescription(desc: string): { text: string; removed: string[] } {
  const parts = desc.split('|');
  const kept = [parts[0]];
  const removed: string[] = [];
  for (const p of parts.slice(1)) {
    const eq = p.indexOf(' = ');
    const key = eq > 0 ? p.slice(0, eq).trim() : p.trim();
    if (eq > 0 && APERIO_KEEP_KEYS.has(key)) kept.push(p);
    else removed.push(`aperio.${key}`);
  }
  return { text: kept.join('|'), removed };
}

/** Best-effort OME-XML cleaning: experimenters, names, descriptions, dates, file names. */
export function cleanOmeXml(xml: string): { text: string; removed: string[] } {
  const removed = new Set<string>();
  let t = xml;
  const rules: [RegExp, string, string][] = [
    [/<(\w+:)?Experimenter\b[\s\S]*?(\/>|<\/(\w+:)?Experimenter>)/g, '', 'ome.Experimenter'],
    [/<(\w+:)?ExperimenterGroup\b[\s\S]*?(\/>|<\/(\w+:)?ExperimenterGroup>)/g, '', 'ome.ExperimenterGroup'],
    [/<(\w+:)?AcquisitionDate>[^<]*<\/(\w+:)?AcquisitionDate>/g, '', 'ome.AcquisitionDate'],
    [/<(\w+:)?Description>[^<]*<\/(\w+:)?Description>/g, '', 'ome.Description'],
    [/\s(Name|FileName|UserName|Email|FirstName|LastName|Institution)="[^"]*"/g, '', 'ome.@Name/FileName'],
  ];
  for (const [re, rep, name] of rules) {
    const n = t.replace(re, rep);
    if (n !== t) removed.add(name);
    t = n;
  }
  return { text: t, removed: [...removed] };
}

export async function blindSlide(inPath: string, outPath: string, opts: BlindOptions = {}): Promise<BlindingReport> {
  const keepThumb = opts.keepThumbnail ?? true;
  if (resolve(inPath) === resolve(outPath)) throw new Error(`blindSlide: outPath must differ from inPath (${inPath}); the original is never modified`);
  const head = Buffer.alloc(132);
  {
    const fh = await open(inPath, 'r');
    try {
      await fh.read(head, 0, 132, 0);
    } finally {
      await fh.close();
    }
  }
  if (head.toString('latin1', 128, 132) === 'DICM')
    throw new InputError('wsi.blinding-unsupported', `${inPath} is DICOM WSI: blind it with the DICOM de-identification (@app/deid), not blindSlide (TIFF family only)`);
  const tf = await TiffFile.open(inPath);
  let layout;
  /** EXIF (34665) and GPS (34853) private IFDs of every IFD, parsed while the file is open. */
  const privateIfds = new Map<Ifd, { kind: 'EXIF' | 'GPS'; ifd: Ifd }[]>();
  try {
    layout = classifyTiff(tf);
    const all: Ifd[] = [];
    const collect = (i: Ifd) => {
      all.push(i);
      i.subIfds.forEach(collect);
    };
    tf.ifds.forEach(collect);
    for (const i of all) {
      const list: { kind: 'EXIF' | 'GPS'; ifd: Ifd }[] = [];
      for (const [tag, kind] of [[34665, 'EXIF'], [34853, 'GPS']] as const) {
        const e = i.entries.get(tag);
        if (e && e.values[0]) list.push({ kind, ifd: await tf.parseIfd(e.values[0], e.entryOffset, 9) });
      }
      if (list.length) privateIfds.set(i, list);
    }
  } finally {
    await tf.close();
  }
  const levelSet = new Set(layout.levelIfds.map((i) => i.offset));
  const keep = new Set<number>(levelSet);
  const removedNames: string[] = [];
  const assocByOffset = new Map(layout.associated.map((a) => [a.ifd.offset, a.name]));
  for (const ifd of tf.ifds) {
    if (keep.has(ifd.offset)) continue;
    const name = assocByOffset.get(ifd.offset);
    if (name === 'thumbnail' && keepThumb) keep.add(ifd.offset);
    else removedNames.push(name ?? `ifd@${ifd.offset}`);
  }

  const inputSha256 = await sha256File(inPath);
  await copyFile(inPath, outPath);
  const out = await open(outPath, 'r+');
  const report: BlindingReport = {
    format: layout.format,
    removedAssociatedImages: removedNames,
    removedIfdCount: 0,
    zeroedBytes: 0,
    removedDescriptionFields: [],
    blankedTags: [],
    inputSha256,
    outputSha256: '',
  };
  const le = tf.littleEndian;
  const ptrSize = tf.bigTiff ? 8 : 4;
  // byte ranges still referenced by kept images: never zeroed, even if a removed IFD shares them
  const protectedRanges = keptRanges(tf, tf.ifds.filter((i) => keep.has(i.offset)));
  const zeroRaw = async (offset: number, length: number) => {
    if (length <= 0) return;
    const CH = 1 << 20;
    const z = Buffer.alloc(Math.min(length, CH));
    for (let done = 0; done < length; done += CH) await out.write(z, 0, Math.min(CH, length - done), offset + done);
    report.zeroedBytes += length;
  };
  const zero = async (offset: number, length: number) => {
    for (const [a, b] of subtractRanges(offset, offset + length, protectedRanges)) await zeroRaw(a, b - a);
  };
  const writePtr = async (at: number, value: number) => {
    const b = Buffer.alloc(ptrSize);
    if (tf.bigTiff) le ? b.writeBigUInt64LE(BigInt(value)) : b.writeBigUInt64BE(BigInt(value));
    else le ? b.writeUInt32LE(value) : b.writeUInt32BE(value);
    await out.write(b, 0, ptrSize, at);
  };
  const inlineMax = tf.bigTiff ? 8 : 4;
  /** Rewrites an ASCII tag in place: old bytes zeroed, new NUL-terminated text, count updated. */
  const rewriteAscii = async (e: IfdEntry, text: string) => {
    const nb = Buffer.from(text + '\0', 'latin1').subarray(0, Math.max(1, e.byteLength));
    await out.write(Buffer.alloc(e.byteLength), 0, e.byteLength, e.valueOffset);
    const valueField = e.entryOffset + (tf.bigTiff ? 12 : 8);
    if (nb.length <= inlineMax) {
      const inline = Buffer.alloc(inlineMax);
      nb.copy(inline);
      await out.write(inline, 0, inlineMax, valueField);
    } else {
      await out.write(nb, 0, nb.length, e.valueOffset);
    }
    const cnt = Buffer.alloc(tf.bigTiff ? 8 : 4);
    if (tf.bigTiff) le ? cnt.writeBigUInt64LE(BigInt(nb.length)) : cnt.writeBigUInt64BE(BigInt(nb.length));
    else le ? cnt.writeUInt32LE(nb.length) : cnt.writeUInt32BE(nb.length);
    await out.write(cnt, 0, cnt.length, e.entryOffset + 4);
  };
  try {
    // 1. unlink removed IFDs from the main chain: rewrite each kept IFD's "next" pointer
    const chain = tf.ifds;
    const kept = chain.filter((i) => keep.has(i.offset));
    for (let k = 0; k < kept.length; k++) {
      const nextKept = kept[k + 1]?.offset ?? 0;
      if (kept[k].next !== nextKept) await writePtr(kept[k].nextPointerOffset, nextKept);
    }
    // 2. zero removed IFDs: image data, out-of-line values, the directory itself
    for (const ifd of chain) {
      if (keep.has(ifd.offset)) continue;
      report.removedIfdCount++;
      const tiled = ifd.entries.has(TAG.TileOffsets);
      const offs = ifd.entries.get(tiled ? TAG.TileOffsets : TAG.StripOffsets)?.values ?? [];
      const cnts = ifd.entries.get(tiled ? TAG.TileByteCounts : TAG.StripByteCounts)?.values ?? [];
      for (let i = 0; i < offs.length; i++) if (cnts[i] && offs[i] + cnts[i] <= tf.size) await zero(offs[i], cnts[i]);
      for (const e of ifd.entries.values()) if (e.byteLength > (tf.bigTiff ? 8 : 4)) await zero(e.valueOffset, e.byteLength);
      await zero(ifd.offset, ifd.nextPointerOffset + ptrSize - ifd.offset);
    }
    // 3. clean text of kept IFDs (and their SubIFDs)
    const removedFields = new Set<string>();
    const blanked = new Set<string>();
    const visit = (ifd: Ifd, fn: (i: Ifd) => Promise<void>): Promise<void> =>
      fn(ifd).then(async () => {
        for (const s of ifd.subIfds) await visit(s, fn);
      });
    for (const ifd of kept) {
      await visit(ifd, async (i) => {
        const de = i.entries.get(TAG.ImageDescription);
        const desc = tagStr(i, TAG.ImageDescription);
        if (de && desc !== undefined) {
          let cleaned: { text: string; removed: string[] };
          if (desc.startsWith('Aperio')) cleaned = cleanAperioDescription(desc);
          else if (desc.includes('<OME')) cleaned = cleanOmeXml(desc);
          else cleaned = desc.trim() === '' ? { text: desc, removed: [] } : { text: '', removed: ['tiff.ImageDescription (free text)'] };
          if (cleaned.removed.length) {
            await rewriteAscii(de, cleaned.text);
            cleaned.removed.forEach((r) => removedFields.add(r));
          }
        }
        for (const [tag, name] of BLANK_TAGS) {
          const e = i.entries.get(tag);
          if (!e || e.byteLength === 0) continue;
          const isEmpty = e.bytes ? e.bytes.every((b) => b === 0) : false;
          if (isEmpty) continue;
          if (e.type === 2) await rewriteAscii(e, '');
          else await out.write(Buffer.alloc(e.byteLength), 0, e.byteLength, e.valueOffset);
          blanked.add(name);
        }
        // EXIF: every text / opaque value (dates, owner, serials, user comment, maker notes) except version
        // markers; GPS: every value (a location identifies the site)
        for (const { kind, ifd: p } of privateIfds.get(i) ?? []) {
          for (const e of p.entries.values()) {
            if (e.byteLength === 0) continue;
            if (kind === 'EXIF' && (EXIF_KEEP.has(e.tag) || (e.type !== 2 && e.type !== 7 && e.type !== 1))) continue;
            if (e.bytes && e.bytes.every((b) => b === 0)) continue;
            if (e.type === 2) await rewriteAscii(e, '');
            else await out.write(Buffer.alloc(e.byteLength), 0, e.byteLength, e.valueOffset);
            blanked.add(`${kind}.${e.tag}`);
          }
        }
      });
    }
    report.removedDescriptionFields = [...removedFields].sort();
    report.blankedTags = [...blanked].sort();
  } catch (e) {
    await out.close();
    await unlink(outPath).catch(() => undefined);
    throw e;
  }
  await out.close();
  // 4. verify the copy opens and exposes no label / macro
  try {
    const s = await TiffSlide.open(outPath);
    const left = s.associatedImageNames.filter((n) => n === 'label' || n === 'macro');
    await s.close();
    if (left.length) throw new Error(`blinded copy still exposes ${left.join(', ')}`);
  } catch (e) {
    await unlink(outPath).catch(() => undefined);
    throw e;
  }
  report.outputSha256 = await sha256File(outPath);
  return report;
}

/** Sorted, merged [start, end) byte ranges used by the given IFDs (directories, out-of-line values, image data, SubIFDs). */
export function keptRanges(tf: TiffFile, ifds: Ifd[]): [number, number][] {
  const r: [number, number][] = [[0, tf.bigTiff ? 16 : 8]];
  const ptrSize = tf.bigTiff ? 8 : 4;
  const inlineMax = tf.bigTiff ? 8 : 4;
  const add = (ifd: Ifd) => {
    r.push([ifd.offset, ifd.nextPointerOffset + ptrSize]);
    for (const e of ifd.entries.values()) if (e.byteLength > inlineMax) r.push([e.valueOffset, e.valueOffset + e.byteLength]);
    const tiled = ifd.entries.has(TAG.TileOffsets);
    const offs = ifd.entries.get(tiled ? TAG.TileOffsets : TAG.StripOffsets)?.values ?? [];
    const cnts = ifd.entries.get(tiled ? TAG.TileByteCounts : TAG.StripByteCounts)?.values ?? [];
    offs.forEach((o, i) => cnts[i] && r.push([o, o + cnts[i]]));
    ifd.subIfds.forEach(add);
  };
  ifds.forEach(add);
  r.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const x of r) {
    const last = merged[merged.length - 1];
    if (last && x[0] <= last[1]) last[1] = Math.max(last[1], x[1]);
    else merged.push([x[0], x[1]]);
  }
  return merged;
}

/** [a, b) minus the sorted, merged `holes`. */
export function subtractRanges(a: number, b: number, holes: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let cur = a;
  for (const [h0, h1] of holes) {
    if (h1 <= cur) continue;
    if (h0 >= b) break;
    if (h0 > cur) out.push([cur, Math.min(h0, b)]);
    cur = Math.max(cur, h1);
    if (cur >= b) break;
  }
  if (cur < b) out.push([cur, b]);
  return out;
}

/** Byte size helper re-exported for tests. */
export const tiffTypeSize = (t: number): number => TYPE_SIZE[t] ?? 0;
