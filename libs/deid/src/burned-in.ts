import { readPart10, decodeAscii, type Element } from './io';

export interface BurnedInResult {
  /** 'review': a human must look at the pixels before release; 'clear': no sign of burned-in text. */
  status: 'clear' | 'review';
  /** The value of BurnedInAnnotation (0028,0301), or 'absent'. */
  burnedInAnnotation: string;
  reasons: string[];
}

/** Modalities and SOP classes where text is often burned into the pixels (screen captures, ultrasound, fluoro...). */
const RISKY_MODALITIES = new Set(['US', 'XA', 'RF', 'ES', 'SC', 'OT', 'DOC', 'XC', 'GM', 'SM']);

export interface HeaderLike {
  BurnedInAnnotation?: string;
  Modality?: string;
  SOPClassUID?: string;
  ImageType?: string | string[];
}

/**
 * Pixel-level PHI cannot be removed by header de-identification. This flags images for manual
 * review (never passes them silently): BurnedInAnnotation = YES always needs review; when the
 * attribute is absent, secondary captures, derived screen-type images and modalities that usually
 * burn text in (US, XA, RF, ES, SC, OT, DOC, XC, GM, SM) also need review. CT/MR/PT acquisitions
 * without the attribute are 'clear' (their pixels are reconstructions, not screen captures).
 * Accepts DICOM bytes or a header already read (keyword -> string value).
 */
export function burnedInAnnotationCheck(header: Buffer | HeaderLike): BurnedInResult {
  const h: HeaderLike = Buffer.isBuffer(header) ? headerFromBytes(header) : header;
  const bia = (h.BurnedInAnnotation ?? '').trim().toUpperCase();
  const reasons: string[] = [];
  const imageType = (Array.isArray(h.ImageType) ? h.ImageType : (h.ImageType ?? '').split('\\')).map((s) => s.trim().toUpperCase());
  const modality = (h.Modality ?? '').trim().toUpperCase();
  const sop = (h.SOPClassUID ?? '').trim();
  if (bia === 'YES') reasons.push('BurnedInAnnotation (0028,0301) is YES: the pixels carry text that may identify the patient');
  else if (bia !== 'NO') {
    if (sop.startsWith('1.2.840.10008.5.1.4.1.1.7')) reasons.push('Secondary Capture image without BurnedInAnnotation: screen captures often carry burned-in text');
    if (RISKY_MODALITIES.has(modality)) reasons.push(`modality ${modality} without BurnedInAnnotation: this modality often burns text into the pixels`);
    if (imageType.includes('SECONDARY') && !RISKY_MODALITIES.has(modality)) reasons.push('ImageType SECONDARY without BurnedInAnnotation: derived images may carry burned-in text');
  }
  return { status: reasons.length > 0 ? 'review' : 'clear', burnedInAnnotation: bia === '' ? 'absent' : bia, reasons };
}

export function headerFromElements(ds: Element[]): HeaderLike {
  const get = (tag: number): string | undefined => {
    const e = ds.find((x) => x.tag === tag);
    return e?.value ? decodeAscii(e.value) : undefined;
  };
  return { BurnedInAnnotation: get(0x00280301), Modality: get(0x00080060), SOPClassUID: get(0x00080016), ImageType: get(0x00080008) };
}

const headerFromBytes = (buf: Buffer): HeaderLike => headerFromElements(readPart10(buf).dataset);
