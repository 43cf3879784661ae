import { InputError } from '@app/core';
import { CODES, SOP_CLASS } from './codes';
import { checkUid, codeItem, dsIsExact, encodePart10, formatDS, uidFrom, type DcmDataset } from './encode';
import { checkAlgorithm, checkOutput, checkSource, commonModules } from './modules';
import type { AxisMeasurement, Code, SrInput } from './types';

type Rel = 'CONTAINS' | 'HAS CONCEPT MOD' | 'HAS OBS CONTEXT' | 'HAS ACQ CONTEXT' | 'INFERRED FROM' | 'SELECTED FROM';

const named = (rel: Rel, valueType: string, name: Code | undefined, extra: DcmDataset, children?: DcmDataset[]): DcmDataset => ({
  RelationshipType: rel,
  ValueType: valueType,
  ConceptNameCodeSequence: name ? [codeItem(name)] : undefined,
  ...extra,
  ContentSequence: children && children.length ? children : undefined,
});
const container = (rel: Rel, name: Code, children: DcmDataset[], templateId?: string): DcmDataset =>
  named(rel, 'CONTAINER', name, {
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: templateId ? [{ MappingResource: 'DCMR', TemplateIdentifier: templateId }] : undefined,
  }, children);
const text = (rel: Rel, name: Code, value: string): DcmDataset => named(rel, 'TEXT', name, { TextValue: value });
const code = (rel: Rel, name: Code, value: Code, what: string): DcmDataset => named(rel, 'CODE', name, { ConceptCodeSequence: [codeItem(value, what)] });
const uidref = (rel: Rel, name: Code, value: string): DcmDataset => named(rel, 'UIDREF', name, { UID: value });
const image = (rel: Rel, name: Code | undefined, sopClass: string, sopInstance: string, extra: DcmDataset = {}): DcmDataset =>
  named(rel, 'IMAGE', name, { ReferencedSOPSequence: [{ ReferencedSOPClassUID: sopClass, ReferencedSOPInstanceUID: sopInstance, ...extra }] });

/**
 * NUM content item. The Numeric Value (DS) is the shortest decimal that round-trips the double when it fits 16
 * characters; otherwise the exact double is also written as Floating Point Value (0040,A161, FD), which readers
 * (including `readSrMeasurements`) prefer. Either way the value read back equals the input exactly.
 */
function num(rel: Rel, name: Code, value: number, unit: Code, children?: DcmDataset[]): DcmDataset {
  return named(rel, 'NUM', name, {
    MeasuredValueSequence: [
      {
        MeasurementUnitsCodeSequence: [codeItem(unit)],
        NumericValue: formatDS(value),
        FloatingPointValue: dsIsExact(value) ? undefined : [value],
      },
    ],
  }, children);
}

/**
 * Writes a Comprehensive SR (1.2.840.10008.5.1.4.1.1.88.33) "Imaging Measurement Report" (TID 1500) with one
 * TID 1411 Volumetric ROI measurement group per lesion (referencing its SEG segment) carrying RECIST 1.1 long
 * and short axis NUMs (each INFERRED FROM a 2-point SCOORD POLYLINE on the source CT image) and optional volume.
 *
 * The observer is a DEVICE (TID 1004) = the algorithm. The tracking UID of each lesion is the caller's (never
 * generated), so the same lesion carries the same UID at every time point. Deterministic output.
 */
export function writeSr(input: SrInput): Buffer {
  const { source: src, output: out, algorithm: alg, timepoint: tp, seg } = input;
  checkSource(src);
  checkOutput(out);
  checkAlgorithm(alg);
  if (!tp || !tp.id) throw new InputError('sr.bad-input', 'timepoint.id is required');
  if (!seg) throw new InputError('sr.bad-input', 'seg reference is required');
  checkUid(seg.sopInstanceUid, 'seg.sopInstanceUid');
  checkUid(seg.seriesInstanceUid, 'seg.seriesInstanceUid');
  const segClass = seg.sopClassUid ?? SOP_CLASS.segmentation;
  checkUid(segClass, 'seg.sopClassUid');
  if (!Array.isArray(input.lesions) || input.lesions.length === 0) throw new InputError('sr.no-lesions', 'at least one lesion is required');
  const deviceUid = input.deviceObserverUid ?? uidFrom('sr.device-observer', alg.name, alg.version, alg.sha256);
  checkUid(deviceUid, 'deviceObserverUid');

  const sliceBySop = new Map(src.slices.map((s, k) => [s.sopInstanceUid, k]));
  const usedSops = new Set<string>();
  const seenTracking = new Set<string>();
  const axis = (name: Code, a: AxisMeasurement, what: string): DcmDataset => {
    if (!a || !(Number.isFinite(a.mm) && a.mm >= 0)) throw new InputError('sr.bad-measurement', `${what}.mm must be a finite number ≥ 0, got ${a?.mm}`);
    if (!sliceBySop.has(a.referencedSopInstanceUid)) {
      throw new InputError('sr.bad-measurement', `${what}.referencedSopInstanceUid '${a.referencedSopInstanceUid}' is not a slice of the source series`);
    }
    const pts = a.points;
    if (!Array.isArray(pts) || pts.length !== 2 || !pts.every((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite))) {
      throw new InputError('sr.bad-measurement', `${what}.points must be two [column, row] pairs of finite numbers`);
    }
    usedSops.add(a.referencedSopInstanceUid);
    const scoord = named('INFERRED FROM', 'SCOORD', CODES.sourceOfMeasurement, {
      GraphicType: 'POLYLINE',
      GraphicData: [pts[0][0], pts[0][1], pts[1][0], pts[1][1]],
    }, [image('SELECTED FROM', undefined, src.sopClassUid, a.referencedSopInstanceUid)]);
    return num('CONTAINS', name, a.mm, CODES.millimeter, [scoord]);
  };

  const groups = input.lesions.map((l, i) => {
    const w = `lesions[${i}]`;
    if (!l.trackingId) throw new InputError('sr.bad-input', `${w}.trackingId is required`);
    checkUid(l.trackingUid, `${w}.trackingUid`);
    if (seenTracking.has(l.trackingUid)) throw new InputError('sr.bad-input', `${w}.trackingUid is used by two lesions`);
    seenTracking.add(l.trackingUid);
    if (!Number.isInteger(l.segmentNumber) || l.segmentNumber < 1 || l.segmentNumber > 65535) throw new InputError('sr.bad-input', `${w}.segmentNumber must be 1..65535`);
    const children: DcmDataset[] = [
      text('HAS OBS CONTEXT', CODES.trackingIdentifier, l.trackingId),
      uidref('HAS OBS CONTEXT', CODES.trackingUniqueIdentifier, l.trackingUid),
      // TID 1502 Time Point Context
      text('HAS OBS CONTEXT', CODES.timePoint, tp.label ?? tp.id),
      text('HAS OBS CONTEXT', CODES.subjectTimePointIdentifier, tp.id),
      ...(tp.protocolId ? [text('HAS OBS CONTEXT', CODES.protocolTimePointIdentifier, tp.protocolId)] : []),
      image('CONTAINS', CODES.referencedSegment, segClass, seg.sopInstanceUid, { ReferencedSegmentNumber: [l.segmentNumber] }),
      uidref('CONTAINS', CODES.sourceSeriesForSegmentation, src.seriesInstanceUid),
      code('CONTAINS', CODES.finding, l.finding, `${w}.finding`),
      code('HAS CONCEPT MOD', CODES.measurementMethod, input.measurementMethod ?? CODES.recist11, 'measurementMethod'),
      code('HAS CONCEPT MOD', CODES.findingSite, l.findingSite, `${w}.findingSite`),
      // TID 4019 Algorithm Identification
      text('HAS CONCEPT MOD', CODES.algorithmName, alg.name),
      text('HAS CONCEPT MOD', CODES.algorithmVersion, alg.version),
      text('HAS CONCEPT MOD', CODES.algorithmParameters, alg.parameters ?? `sha256=${alg.sha256}`),
      axis(CODES.longAxis, l.longAxis, `${w}.longAxis`),
    ];
    if (l.shortAxis) children.push(axis(CODES.shortAxis, l.shortAxis, `${w}.shortAxis`));
    if (l.volumeMm3 !== undefined) {
      if (!(Number.isFinite(l.volumeMm3) && l.volumeMm3 >= 0)) throw new InputError('sr.bad-measurement', `${w}.volumeMm3 must be a finite number ≥ 0`);
      children.push(num('CONTAINS', CODES.volume, l.volumeMm3, CODES.cubicMillimeter));
    }
    return container('CONTAINS', CODES.measurementGroup, children, '1411');
  });

  // Image library: every CT image referenced by a SCOORD, in slice position order of the volume.
  const libSops = [...usedSops].sort((a, b) => (sliceBySop.get(a) as number) - (sliceBySop.get(b) as number));
  const library = container('CONTAINS', CODES.imageLibrary, [
    container('CONTAINS', CODES.imageLibraryGroup, [
      code('HAS ACQ CONTEXT', CODES.modality, CODES.modalityCT, 'modality'),
      uidref('HAS ACQ CONTEXT', CODES.frameOfReferenceUid, src.frameOfReferenceUid),
      ...(src.studyDate ? [named('HAS ACQ CONTEXT', 'DATE', CODES.studyDate, { Date: src.studyDate })] : []),
      ...libSops.map((sop) => image('CONTAINS', undefined, src.sopClassUid, sop)),
    ]),
  ]);

  const root: DcmDataset[] = [
    code('HAS CONCEPT MOD', CODES.languageOfContent, CODES.englishUS, 'language'),
    code('HAS OBS CONTEXT', CODES.observerType, CODES.device, 'observerType'),
    uidref('HAS OBS CONTEXT', CODES.deviceObserverUid, deviceUid),
    text('HAS OBS CONTEXT', CODES.deviceObserverName, alg.name),
    text('HAS OBS CONTEXT', CODES.deviceObserverManufacturer, input.equipment?.manufacturer ?? ''),
    text('HAS OBS CONTEXT', CODES.deviceObserverModelName, `${alg.name} ${alg.version}`),
    text('HAS OBS CONTEXT', CODES.deviceObserverSerialNumber, input.equipment?.deviceSerialNumber ?? alg.sha256),
    code('HAS CONCEPT MOD', CODES.procedureReported, input.procedureReported ?? CODES.computedTomographyProcedure, 'procedureReported'),
    library,
    container('CONTAINS', CODES.imagingMeasurements, groups),
  ];

  const ds: DcmDataset = {
    ...commonModules(src, out, alg, input.equipment),
    SOPClassUID: SOP_CLASS.comprehensiveSr,
    Modality: 'SR',
    ReferencedPerformedProcedureStepSequence: [],
    // SR Document General
    CompletionFlag: input.completionFlag ?? 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PreliminaryFlag: input.preliminaryFlag,
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: src.studyInstanceUid,
        ReferencedSeriesSequence: [
          {
            SeriesInstanceUID: src.seriesInstanceUid,
            ReferencedSOPSequence: libSops.map((sop) => ({ ReferencedSOPClassUID: src.sopClassUid, ReferencedSOPInstanceUID: sop })),
          },
          { SeriesInstanceUID: seg.seriesInstanceUid, ReferencedSOPSequence: [{ ReferencedSOPClassUID: segClass, ReferencedSOPInstanceUID: seg.sopInstanceUid }] },
        ],
      },
    ],
    // SR Document Content (root)
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [codeItem(CODES.imagingMeasurementReport)],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '1500' }],
    ContentSequence: root,
  };
  return encodePart10(ds);
}
