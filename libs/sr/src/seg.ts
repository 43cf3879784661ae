import * as dicomParser from 'dicom-parser';
import { InputError } from '@app/core';
import { CODES, SOP_CLASS } from './codes';
import { checkUid, codeItem, encodePart10, uidFrom, type DcmDataset } from './encode';
import { checkAlgorithm, checkOutput, checkSource, commonModules, slicesByPosition } from './modules';
import type { SegInput, SegReadback, SegSegmentReadback } from './types';

const CS_RE = /^[A-Z0-9_ ]{1,16}$/;

/**
 * Writes a DICOM Segmentation (Segmentation Storage 1.2.840.10008.5.1.4.1.1.66.4), BINARY, for AI lesion proposals.
 *
 * - One frame per (source slice, segment) pair that has at least one voxel of that segment; frames are ordered by
 *   slice position along the slice normal, then by segment number.
 * - Frames are bit-packed contiguously (LSB first, no per-frame padding), Explicit VR Little Endian.
 * - Deterministic: the same input gives byte-identical output. The only derived UID is the Dimension Organization UID
 *   (sha256 of the SOP Instance UID -> 2.25.x).
 *
 * @throws InputError 'sr.empty-mask' when the label volume has no non-zero voxel, 'sr.unknown-label' when a voxel
 *   value has no segment, 'sr.empty-segment' when a listed segment has no voxel, 'sr.bad-input' / 'sr.bad-uid' /
 *   'sr.bad-code' / 'sr.value-too-long' for malformed input.
 */
export function writeSeg(input: SegInput): Buffer {
  const { source: src, output: out, algorithm: alg } = input;
  checkSource(src);
  checkOutput(out);
  checkAlgorithm(alg);
  const rows = src.rows;
  const cols = src.columns;
  const nSlices = src.slices.length;
  const plane = rows * cols;
  const labels = input.labels;
  if (!labels || typeof labels.length !== 'number' || labels.length !== plane * nSlices) {
    throw new InputError('sr.bad-input', `labels must have rows*columns*slices = ${plane * nSlices} voxels, got ${labels?.length}`);
  }
  if (!Array.isArray(input.segments) || input.segments.length === 0) throw new InputError('sr.bad-input', 'at least one segment is required');
  const segByNumber = new Map<number, (typeof input.segments)[number]>();
  const trackingUids = new Set<string>();
  for (const s of input.segments) {
    if (!Number.isInteger(s.number) || s.number < 1 || s.number > 65535) throw new InputError('sr.bad-input', `segment number must be 1..65535, got ${s.number}`);
    if (segByNumber.has(s.number)) throw new InputError('sr.bad-input', `segment number ${s.number} is listed twice`);
    if (!s.label) throw new InputError('sr.bad-input', `segment ${s.number} needs a label`);
    if (!s.trackingId) throw new InputError('sr.bad-input', `segment ${s.number} needs a trackingId`);
    checkUid(s.trackingUid, `segments[${s.number}].trackingUid`);
    if (trackingUids.has(s.trackingUid)) throw new InputError('sr.bad-input', `trackingUid ${s.trackingUid} is used by two segments`);
    trackingUids.add(s.trackingUid);
    if (!['AUTOMATIC', 'SEMIAUTOMATIC', 'MANUAL'].includes(s.algorithmType)) throw new InputError('sr.bad-input', `segment ${s.number}: bad algorithmType '${s.algorithmType}'`);
    segByNumber.set(s.number, s);
  }
  const contentLabel = input.contentLabel ?? 'AI_LESIONS';
  if (!CS_RE.test(contentLabel)) throw new InputError('sr.bad-input', `contentLabel must be 1-16 of [A-Z0-9_ ], got '${contentLabel}'`);

  // Which segments occur on which slice (and validate every label value).
  const present: Set<number>[] = Array.from({ length: nSlices }, () => new Set<number>());
  const voxelsPerSegment = new Map<number, number>();
  let nonZero = 0;
  for (let k = 0; k < nSlices; k++) {
    const base = k * plane;
    const set = present[k];
    for (let p = 0; p < plane; p++) {
      const v = labels[base + p];
      if (v === 0) continue;
      if (!segByNumber.has(v)) {
        throw new InputError('sr.unknown-label', `label value ${v} at voxel (i=${p % cols}, j=${Math.floor(p / cols)}, k=${k}) has no segment`, { value: v });
      }
      nonZero++;
      set.add(v);
      voxelsPerSegment.set(v, (voxelsPerSegment.get(v) ?? 0) + 1);
    }
  }
  if (nonZero === 0) throw new InputError('sr.empty-mask', 'the label volume has no non-zero voxel; nothing to segment');
  for (const s of input.segments) {
    if (!voxelsPerSegment.has(s.number)) throw new InputError('sr.empty-segment', `segment ${s.number} ('${s.label}') has no voxel in the label volume`, { segment: s.number });
  }

  // Frames: position order, then segment number.
  const order = slicesByPosition(src);
  const frames: { k: number; seg: number }[] = [];
  for (const k of order) for (const seg of [...present[k]].sort((a, b) => a - b)) frames.push({ k, seg });
  const usedK = [...new Set(frames.map((f) => f.k))];
  const posIndex = new Map(usedK.map((k, i) => [k, i + 1]));

  // Bit-packed pixel data, frames contiguous.
  const totalBits = frames.length * plane;
  const pixel = new Uint8Array(Math.ceil(totalBits / 8) + (Math.ceil(totalBits / 8) % 2));
  frames.forEach((f, fi) => {
    const base = f.k * plane;
    const bitBase = fi * plane;
    for (let p = 0; p < plane; p++) {
      if (labels[base + p] === f.seg) {
        const b = bitBase + p;
        pixel[b >> 3] |= 1 << (b & 7);
      }
    }
  });

  const dimOrgUid = uidFrom('sr.seg.dimension-organization', out.sopInstanceUid);
  const family = alg.family ?? CODES.artificialIntelligence;
  const ds: DcmDataset = {
    ...commonModules(src, out, alg, input.equipment),
    SOPClassUID: SOP_CLASS.segmentation,
    Modality: 'SEG',
    ImageType: ['DERIVED', 'PRIMARY'],
    // Frame of Reference
    FrameOfReferenceUID: src.frameOfReferenceUid,
    PositionReferenceIndicator: '',
    // Segmentation Image
    ContentLabel: contentLabel,
    ContentDescription: input.contentDescription ?? `AI lesion proposals (${alg.name} ${alg.version})`,
    ContentCreatorName: input.contentCreatorName ?? `${alg.name.replace(/[\\^=]/g, '_')}^`,
    SamplesPerPixel: [1],
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: [rows],
    Columns: [cols],
    BitsAllocated: [1],
    BitsStored: [1],
    HighBit: [0],
    PixelRepresentation: [0],
    LossyImageCompression: '00',
    SegmentationType: 'BINARY',
    SegmentsOverlap: 'NO',
    SegmentSequence: input.segments
      .slice()
      .sort((a, b) => a.number - b.number)
      .map((s) => ({
        SegmentNumber: [s.number],
        SegmentLabel: s.label,
        SegmentedPropertyCategoryCodeSequence: [codeItem(s.category, `segment ${s.number} category`)],
        SegmentedPropertyTypeCodeSequence: [codeItem(s.type, `segment ${s.number} type`)],
        AnatomicRegionSequence: s.anatomicRegion ? [codeItem(s.anatomicRegion, `segment ${s.number} anatomicRegion`)] : undefined,
        SegmentAlgorithmType: s.algorithmType,
        SegmentAlgorithmName: s.algorithmType === 'MANUAL' ? undefined : alg.name,
        SegmentationAlgorithmIdentificationSequence:
          s.algorithmType === 'MANUAL'
            ? undefined
            : [{ AlgorithmFamilyCodeSequence: [codeItem(family, 'algorithm.family')], AlgorithmName: alg.name, AlgorithmVersion: alg.version, AlgorithmParameters: alg.parameters }],
        RecommendedDisplayCIELabValue: s.recommendedDisplayCIELab,
        TrackingID: s.trackingId,
        TrackingUID: s.trackingUid,
      })),
    // Multi-frame Functional Groups
    NumberOfFrames: frames.length,
    SharedFunctionalGroupsSequence: [
      {
        PixelMeasuresSequence: [{ PixelSpacing: [src.pixelSpacing[0], src.pixelSpacing[1]], SliceThickness: src.sliceThickness }],
        PlaneOrientationSequence: [{ ImageOrientationPatient: [...src.imageOrientationPatient] }],
      },
    ],
    PerFrameFunctionalGroupsSequence: frames.map((f) => ({
      DerivationImageSequence: [
        {
          SourceImageSequence: [
            {
              ReferencedSOPClassUID: src.sopClassUid,
              ReferencedSOPInstanceUID: src.slices[f.k].sopInstanceUid,
              PurposeOfReferenceCodeSequence: [codeItem(CODES.sourceImageForProcessing)],
            },
          ],
          DerivationCodeSequence: [codeItem(CODES.segmentation)],
        },
      ],
      FrameContentSequence: [{ DimensionIndexValues: [f.seg, posIndex.get(f.k) as number] }],
      PlanePositionSequence: [{ ImagePositionPatient: [...src.slices[f.k].imagePositionPatient] }],
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: [f.seg] }],
    })),
    // Multi-frame Dimension
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimOrgUid }],
    DimensionOrganizationType: '3D',
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimOrgUid,
        DimensionIndexPointer: 'ReferencedSegmentNumber',
        FunctionalGroupPointer: 'SegmentIdentificationSequence',
        DimensionDescriptionLabel: 'ReferencedSegmentNumber',
      },
      {
        DimensionOrganizationUID: dimOrgUid,
        DimensionIndexPointer: 'ImagePositionPatient',
        FunctionalGroupPointer: 'PlanePositionSequence',
        DimensionDescriptionLabel: 'ImagePositionPatient',
      },
    ],
    // Common Instance Reference: every source slice that a frame was derived from, in position order.
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: src.seriesInstanceUid,
        ReferencedInstanceSequence: usedK.map((k) => ({ ReferencedSOPClassUID: src.sopClassUid, ReferencedSOPInstanceUID: src.slices[k].sopInstanceUid })),
      },
    ],
    PixelData: pixel,
  };
  return encodePart10(ds);
}

type ParsedSet = ReturnType<typeof dicomParser.parseDicom>;
const items = (ds: ParsedSet, tag: string): ParsedSet[] => (ds.elements[tag]?.items ?? []).map((i) => i.dataSet as ParsedSet);
const str = (ds: ParsedSet, tag: string): string => (ds.string(tag) ?? '').trim();

/** Minimal SEG reader (tests, QC): segments with tracking ids, frame count and per-frame references. */
export function readSegSegments(buf: Uint8Array): SegReadback {
  let ds: ParsedSet;
  try {
    ds = dicomParser.parseDicom(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  } catch (e) {
    throw new InputError('sr.not-dicom', `cannot parse DICOM: ${(e as Error).message ?? String(e)}`);
  }
  const segments: SegSegmentReadback[] = items(ds, 'x00620002').map((s) => ({
    number: s.uint16('x00620004') ?? 0,
    label: str(s, 'x00620005'),
    trackingId: (s.text('x00620020') ?? '').trim(),
    trackingUid: str(s, 'x00620021'),
    algorithmType: str(s, 'x00620008'),
  }));
  const frames = items(ds, 'x52009230').map((f) => {
    const pos = items(f, 'x00209113')[0];
    const segId = items(f, 'x0062000a')[0];
    const src = items(items(f, 'x00089124')[0] ?? f, 'x00082112')[0];
    return {
      segmentNumber: segId?.uint16('x0062000b') ?? 0,
      imagePositionPatient: pos ? str(pos, 'x00200032').split('\\').map(Number) : [],
      sourceSopInstanceUid: src ? str(src, 'x00081155') : '',
    };
  });
  return {
    sopClassUid: str(ds, 'x00080016'),
    numberOfFrames: Number(str(ds, 'x00280008') || 0),
    rows: ds.uint16('x00280010') ?? 0,
    columns: ds.uint16('x00280011') ?? 0,
    segments,
    frames,
  };
}
