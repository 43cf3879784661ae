/**
 * Synthetic source series + AI lesion proposals for the SR/SEG tests.
 * A 64x64x20 grid, 0.75 mm pixels, 2.5 mm slices, 3 ellipsoid lesions; all UIDs are fixed strings derived
 * deterministically (uidFrom) from a test seed. Measurements are computed independently from the ellipsoids.
 */
import { uidFrom, type LesionMeasurement, type SegInput, type SegmentSpec, type SourceSeriesRef, type SrInput } from '@app/sr';

export const ROWS = 64;
export const COLS = 64;
export const SLICES = 20;
export const PS: [number, number] = [0.75, 0.75];
export const DZ = 2.5;

export interface Ellipsoid { n: number; id: string; site: [string, string]; cx: number; cy: number; cz: number; a: number; b: number; c: number }
/** Centres in voxel units (i=col, j=row, k=slice), semi-axes in voxels. */
export const LESIONS: Ellipsoid[] = [
  { n: 1, id: 'T01 liver', site: ['10200004', 'Liver'], cx: 20, cy: 22, cz: 8, a: 8, b: 5, c: 3 },
  { n: 2, id: 'T02 lung', site: ['39607008', 'Lung'], cx: 44, cy: 40, cz: 12, a: 6, b: 6, c: 2 },
  { n: 3, id: 'N01 lymph node', site: ['59441001', 'Lymph node'], cx: 40, cy: 14, cz: 4, a: 4, b: 3, c: 1.5 },
];

export function source(visit: string): SourceSeriesRef {
  const study = uidFrom('test-sr', visit, 'study');
  return {
    studyInstanceUid: study,
    seriesInstanceUid: uidFrom('test-sr', visit, 'series'),
    frameOfReferenceUid: uidFrom('test-sr', visit, 'for'),
    sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
    // Volume order k = 0..19 goes from head (z = 0) to feet (z = -47.5): the writer must sort by position.
    slices: Array.from({ length: SLICES }, (_, k) => ({ sopInstanceUid: uidFrom('test-sr', visit, 'sop', String(k)), imagePositionPatient: [-24, -24.5, -k * DZ] as [number, number, number] })),
    rows: ROWS,
    columns: COLS,
    pixelSpacing: PS,
    sliceThickness: DZ,
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    patient: { patientId: 'SUBJ-0001-R', patientName: 'SUBJ-0001-R', patientIdentityRemoved: true, deidentificationMethod: 'DICOM PS3.15 E.1 Basic' },
    studyDate: visit === 'BL' ? '20240115' : '20240312',
    studyTime: '101500',
    studyId: '',
    accessionNumber: '',
    clinicalTrial: { sponsorName: 'ACME Pharma', protocolId: 'ACME-301', subjectReadingId: 'SUBJ-0001-R', timePointId: visit },
  };
}

export function labelVolume(scale = 1, lesions = LESIONS): Uint8Array {
  const v = new Uint8Array(ROWS * COLS * SLICES);
  for (let k = 0; k < SLICES; k++)
    for (let j = 0; j < ROWS; j++)
      for (let i = 0; i < COLS; i++)
        for (const l of lesions) {
          const q = ((i - l.cx) / (l.a * scale)) ** 2 + ((j - l.cy) / (l.b * scale)) ** 2 + ((k - l.cz) / (l.c * scale)) ** 2;
          if (q <= 1) v[i + j * COLS + k * COLS * ROWS] = l.n;
        }
  return v;
}

export const ALGORITHM = { name: 'lesion-det-ct', version: '2.3.1', sha256: 'a'.repeat(16) + '0123456789abcdef'.repeat(3) };
export const EQUIPMENT = { manufacturer: 'ACME AI' };

export const trackingUid = (l: Ellipsoid): string => uidFrom('test-sr', 'subject-0001', 'tracking', l.id);

export function segments(lesions = LESIONS): SegmentSpec[] {
  return lesions.map((l) => ({
    number: l.n,
    label: l.id,
    trackingId: l.id,
    trackingUid: trackingUid(l),
    category: { scheme: 'SCT', code: '49755003', meaning: 'Morphologically Abnormal Structure' },
    type: { scheme: 'SCT', code: '108369006', meaning: 'Neoplasm' },
    anatomicRegion: { scheme: 'SCT', code: l.site[0], meaning: l.site[1] },
    algorithmType: 'AUTOMATIC' as const,
  }));
}

export function segInput(visit: string, scale = 1): SegInput {
  return {
    source: source(visit),
    output: {
      seriesInstanceUid: uidFrom('test-sr', visit, 'seg-series'),
      sopInstanceUid: uidFrom('test-sr', visit, 'seg-sop'),
      seriesNumber: 9001,
      instanceNumber: 1,
      contentDate: '20250101',
      contentTime: '120000',
      seriesDescription: 'AI lesion proposals SEG',
    },
    algorithm: ALGORITHM,
    equipment: EQUIPMENT,
    labels: labelVolume(scale),
    segments: segments(),
  };
}

/** Analytic RECIST-style measurements of each ellipsoid at its centre slice (in mm), with caliper points. */
export function lesionMeasurements(visit: string, scale = 1): LesionMeasurement[] {
  const src = source(visit);
  return LESIONS.map((l) => {
    const sop = src.slices[l.cz].sopInstanceUid;
    const la = 2 * l.a * scale * PS[1];
    const sa = 2 * l.b * scale * PS[0];
    return {
      trackingId: l.id,
      trackingUid: trackingUid(l),
      findingSite: { scheme: 'SCT', code: l.site[0], meaning: l.site[1] },
      finding: { scheme: 'SCT', code: '108369006', meaning: 'Neoplasm' },
      segmentNumber: l.n,
      longAxis: { mm: la, referencedSopInstanceUid: sop, points: [[l.cx - l.a * scale, l.cy], [l.cx + l.a * scale, l.cy]] },
      shortAxis: { mm: sa, referencedSopInstanceUid: sop, points: [[l.cx, l.cy - l.b * scale], [l.cx, l.cy + l.b * scale]] },
      volumeMm3: (4 / 3) * Math.PI * l.a * l.b * l.c * scale ** 3 * PS[0] * PS[1] * DZ,
    };
  });
}

export function srInput(visit: string, scale = 1): SrInput {
  const seg = segInput(visit, scale);
  return {
    source: seg.source,
    output: {
      seriesInstanceUid: uidFrom('test-sr', visit, 'sr-series'),
      sopInstanceUid: uidFrom('test-sr', visit, 'sr-sop'),
      seriesNumber: 9002,
      instanceNumber: 1,
      contentDate: '20250101',
      contentTime: '120001',
    },
    algorithm: ALGORITHM,
    equipment: EQUIPMENT,
    timepoint: { id: visit, label: visit === 'BL' ? 'Baseline' : 'Follow-up 1' },
    seg: { sopInstanceUid: seg.output.sopInstanceUid, seriesInstanceUid: seg.output.seriesInstanceUid },
    lesions: lesionMeasurements(visit, scale),
  };
}
