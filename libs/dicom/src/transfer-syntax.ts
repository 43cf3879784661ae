/** DICOM transfer syntaxes (PS3.6 Annex A) this library knows, with how their pixel data is stored. */
export type PixelEncoding =
  | 'native'
  | 'rle'
  | 'jpeg-baseline'
  | 'jpeg-lossless'
  | 'jpeg-ls'
  | 'jpeg-2000'
  | 'unsupported';

export interface TransferSyntaxInfo {
  uid: string;
  name: string;
  encoding: PixelEncoding;
  explicitVr: boolean;
  bigEndian: boolean;
  deflated: boolean;
}

const ts = (
  uid: string,
  name: string,
  encoding: PixelEncoding,
  opts: Partial<Pick<TransferSyntaxInfo, 'explicitVr' | 'bigEndian' | 'deflated'>> = {},
): TransferSyntaxInfo => ({ uid, name, encoding, explicitVr: opts.explicitVr ?? true, bigEndian: !!opts.bigEndian, deflated: !!opts.deflated });

export const TRANSFER_SYNTAXES: Record<string, TransferSyntaxInfo> = Object.fromEntries(
  [
    ts('1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native', { explicitVr: false }),
    ts('1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'),
    ts('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'native', { deflated: true }),
    ts('1.2.840.10008.1.2.2', 'Explicit VR Big Endian (retired)', 'native', { bigEndian: true }),
    ts('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
    ts('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg-baseline'),
    ts('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg-baseline'),
    ts('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'),
    ts('1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', 'jpeg-lossless'),
    ts('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', 'jpeg-ls'),
    ts('1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless)', 'jpeg-ls'),
    ts('1.2.840.10008.1.2.4.90', 'JPEG 2000 Image Compression (Lossless Only)', 'jpeg-2000'),
    ts('1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression', 'jpeg-2000'),
    // Known but not decoded: named so the error can say what it is.
    ts('1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level', 'unsupported'),
    ts('1.2.840.10008.1.2.4.101', 'MPEG2 Main Profile / High Level', 'unsupported'),
    ts('1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile / Level 4.1', 'unsupported'),
    ts('1.2.840.10008.1.2.4.103', 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1', 'unsupported'),
    ts('1.2.840.10008.1.2.4.107', 'HEVC/H.265 Main Profile / Level 5.1', 'unsupported'),
    ts('1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Image Compression (Lossless Only)', 'unsupported'),
    ts('1.2.840.10008.1.2.4.202', 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)', 'unsupported'),
    ts('1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000 Image Compression', 'unsupported'),
    ts('1.2.840.10008.1.2.4.92', 'JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)', 'unsupported'),
    ts('1.2.840.10008.1.2.4.93', 'JPEG 2000 Part 2 Multi-component Image Compression', 'unsupported'),
    ts('1.2.840.10008.1.2.4.94', 'JPIP Referenced', 'unsupported'),
    ts('1.2.840.10008.1.2.4.95', 'JPIP Referenced Deflate', 'unsupported'),
    ts('1.2.840.10008.1.2.6.1', 'RFC 2557 MIME encapsulation (retired)', 'unsupported'),
  ].map((t) => [t.uid, t]),
);

/** Information about a transfer syntax UID, or undefined when the UID is not a known transfer syntax. */
export const transferSyntaxInfo = (uid: string): TransferSyntaxInfo | undefined => TRANSFER_SYNTAXES[uid];

/** Transfer syntaxes whose pixel data this library can decode. */
export const SUPPORTED_TRANSFER_SYNTAXES: string[] = Object.values(TRANSFER_SYNTAXES)
  .filter((t) => t.encoding !== 'unsupported')
  .map((t) => t.uid);
