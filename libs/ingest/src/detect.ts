import type { ObjectKind } from '@app/db';

/** A sniffer a later stage registers (e.g. the ePRO schema check). Returns a kind, or null to pass. */
export type Sniffer = (head: Buffer, filename: string) => ObjectKind | null;

export interface Detection {
  kind: ObjectKind;
  /** For unknown: why each known format was ruled out, in words a human can act on. */
  reason?: string;
  /** e.g. 'preamble' | 'no-preamble' for DICOM, 'classic' | 'big' for TIFF. */
  variant?: string;
}

const EXPLICIT_VRS = new Set('AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '));

/** DICOM Part-10 with the 128-byte preamble + 'DICM'. */
function hasDicmMarker(b: Buffer): boolean {
  return b.length >= 132 && b.toString('latin1', 128, 132) === 'DICM';
}

/**
 * A DICOM data set without preamble or meta header (raw, as some archives store it): the first
 * element is a group 0002/0008 tag with either an explicit VR or a plausible implicit length.
 */
function looksLikeRawDicom(b: Buffer): boolean {
  if (b.length < 8) return false;
  const group = b.readUInt16LE(0);
  const elem = b.readUInt16LE(2);
  if (group !== 0x0002 && group !== 0x0008) return false;
  if (elem > 0x1000) return false;
  const vr = b.toString('latin1', 4, 6);
  if (EXPLICIT_VRS.has(vr)) return true;
  const len = b.readUInt32LE(4);
  return len > 0 && len < 1024;
}

export function detectKind(head: Buffer, filename: string, sniffers: readonly Sniffer[] = []): Detection {
  if (head.length === 0) return { kind: 'unknown', reason: 'the object is empty (0 bytes)' };
  if (hasDicmMarker(head)) return { kind: 'dicom', variant: 'preamble' };
  const m = head.toString('latin1', 0, 4);
  if (m === 'II*\0' || m === 'MM\0*') return { kind: 'tiff', variant: 'classic' };
  if (m === 'II+\0' || m === 'MM\0+') return { kind: 'bigtiff', variant: 'big' };
  if (looksLikeRawDicom(head)) return { kind: 'dicom', variant: 'no-preamble' };
  // some exporters leave one stray byte before a raw data set; the DICOM reader skips it and flags the object
  if (looksLikeRawDicom(head.subarray(1))) return { kind: 'dicom', variant: 'no-preamble-offset-1' };
  for (const s of sniffers) {
    const k = s(head, filename);
    if (k) return { kind: k };
  }
  const magic = head.subarray(0, 4).toString('hex');
  return {
    kind: 'unknown',
    reason:
      `unrecognised content (first bytes 0x${magic}): not DICOM (no 'DICM' at byte 128 and no group 0002/0008 element at byte 0), ` +
      `not TIFF/BigTIFF (no II*/MM* header), and not an ePRO or wearable upload in the documented CSV/JSON schema. ` +
      `Check the file type, or upload it under the right name; the object is kept unchanged.`,
  };
}
