import { type DicomHeader, checkPixelModule, decodeFrame, parseDicom, type ParsedDicom, transferSyntaxInfo } from '@app/dicom';
import { InputError } from '@app/core';

/** What WADO-RS frames are served as: native (uncompressed) pixel data, Explicit VR Little Endian. */
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/**
 * Pixel-module attributes that differ between the stored object and the uncompressed frames we serve
 * (only when frames had to be decoded: compressed, big endian, or planar colour). Empty for native little-endian objects.
 */
export interface PixelOverride {
  photometricInterpretation?: string;
  bitsAllocated?: number;
  planarConfiguration?: number;
}

export interface UncompressedFrames {
  transferSyntaxUid: typeof EXPLICIT_VR_LITTLE_ENDIAN;
  storedTransferSyntaxUid: string;
  frames: Buffer[];
  override: PixelOverride;
}

/**
 * Frames of a stored object as uncompressed little-endian bytes, 1-based frame numbers (PS3.18 8.3.5.1).
 * Native little-endian pixel data is sliced byte for byte (the frame is exactly what the object stores);
 * anything else (RLE, JPEG family, big endian, planar colour) is decoded by libs/dicom, and `override`
 * says how the served pixel module differs from the stored one.
 */
export async function uncompressedFrames(part10: Buffer, frameNumbers: number[]): Promise<UncompressedFrames> {
  const p = parseDicom(part10);
  const pm = checkPixelModule(p.header);
  for (const n of frameNumbers)
    if (!Number.isInteger(n) || n < 1 || n > pm.frames) throw new InputError('dicomweb.frame-out-of-range', `frame ${n} is outside 1..${pm.frames}`, { frames: pm.frames });
  const tsi = transferSyntaxInfo(p.transferSyntaxUid);
  const native = tsi?.encoding === 'native' && !tsi.bigEndian && !(pm.samplesPerPixel === 3 && pm.planarConfiguration === 1);
  if (native) {
    const el = p.dataSet.elements.x7fe00010!;
    const need = pm.bytesPerFrame * pm.frames;
    if (el.length < need || p.dataSet.byteArray.length - el.dataOffset < need)
      throw new InputError('dicom.truncated-pixel-data', `Pixel Data has ${el.length} bytes, ${need} are required`);
    const frames = frameNumbers.map((n) => {
      const start = el.dataOffset + (n - 1) * pm.bytesPerFrame;
      return Buffer.from(p.dataSet.byteArray.buffer, p.dataSet.byteArray.byteOffset + start, pm.bytesPerFrame);
    });
    return { transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN, storedTransferSyntaxUid: p.transferSyntaxUid, frames, override: {} };
  }
  const frames: Buffer[] = [];
  let override: PixelOverride = {};
  for (const n of frameNumbers) {
    const f = await decodeFrame(p, n - 1);
    frames.push(Buffer.from(f.stored.buffer, f.stored.byteOffset, f.stored.byteLength));
    override = overrideOf(p.header, f.photometricInterpretation, f.stored.BYTES_PER_ELEMENT * 8);
  }
  return { transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN, storedTransferSyntaxUid: p.transferSyntaxUid, frames, override };
}

function overrideOf(h: DicomHeader, photometric: string, bitsAllocated: number): PixelOverride {
  const o: PixelOverride = {};
  if (photometric !== h.image.photometricInterpretation) o.photometricInterpretation = photometric;
  if (bitsAllocated !== h.image.bitsAllocated) o.bitsAllocated = bitsAllocated;
  if ((h.image.samplesPerPixel ?? 1) === 3 && h.image.planarConfiguration !== 0) o.planarConfiguration = 0;
  return o;
}

/** The override for an object's metadata, decoding its first frame only when the object is not native little endian. */
export async function pixelOverride(part10: Buffer | ParsedDicom): Promise<PixelOverride> {
  const p = Buffer.isBuffer(part10) ? parseDicom(part10) : part10;
  if (!p.header.image.hasPixelData) return {};
  const tsi = transferSyntaxInfo(p.transferSyntaxUid);
  const spp = p.header.image.samplesPerPixel ?? 1;
  if (tsi?.encoding === 'native' && !tsi.bigEndian && !(spp === 3 && p.header.image.planarConfiguration === 1)) return {};
  const f = await decodeFrame(p, 0);
  return overrideOf(p.header, f.photometricInterpretation, f.stored.BYTES_PER_ELEMENT * 8);
}

/** All frames' pixel bytes, concatenated (the Pixel Data bulk data value, uncompressed). */
export async function uncompressedPixelData(part10: Buffer): Promise<{ bytes: Buffer; override: PixelOverride }> {
  const p = parseDicom(part10, { stopAtPixelData: true });
  const n = p.header.image.numberOfFrames;
  const r = await uncompressedFrames(part10, Array.from({ length: n }, (_, i) => i + 1));
  return { bytes: Buffer.concat(r.frames), override: r.override };
}
