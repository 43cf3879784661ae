/**
 * The AI-only read: tracked lesion proposals -> RECIST inputs -> the endpoint engine's own derivation.
 * Expected responses follow from RECIST 1.1 applied by hand to the diameters the test chooses.
 */
import { aiOnlyRead, selectTargets, type AiSubject, type LesionProposalValues } from '@app/airead';
import { deriveEndpointDatasets, deriveVisitResponses, validateTargetSelection } from '@app/endpoints';

const MODEL = { id: 'ct-lesion-seg', version: '0.1.0', sha256: 'a'.repeat(64) };
const lesion = (id: string, organ: string, ld: number, o: Partial<LesionProposalValues> = {}): LesionProposalValues => ({
  trackingUid: `2.25.${[...`${id} ${organ}`].map((c) => c.charCodeAt(0)).join('')}`,
  trackingId: `${id} ${organ.toLowerCase()}`,
  status: 'matched',
  present: true,
  organ,
  nodal: organ === 'LYMPH NODE',
  longAxisMm: ld,
  shortAxisMm: organ === 'LYMPH NODE' ? ld * 0.8 : ld * 0.6,
  volumeMm3: ld ** 3,
  measurable: organ === 'LYMPH NODE' ? ld * 0.8 >= 15 : ld >= 10,
  ...o,
});
const tp = (timePointId: string, date: string, lesions: LesionProposalValues[]) => ({ timePointId, date, lesions, readId: `ai:run:${timePointId}` });

describe('selectTargets', () => {
  it('takes measurable lesions largest first, at most 2 per organ and 5 in all; normal nodes are not lesions', () => {
    const base = [
      lesion('T01', 'LIVER', 30), lesion('T02', 'LIVER', 25), lesion('T03', 'LIVER', 40), lesion('T04', 'LUNG', 12),
      lesion('T05', 'LUNG', 8), lesion('T06', 'LYMPH NODE', 22), lesion('T07', 'LYMPH NODE', 11), lesion('T08', 'BONE', 15), lesion('T09', 'SPLEEN', 16),
    ];
    const { targets, nonTargets } = selectTargets(base);
    expect(targets.map((t) => t.trackingId)).toEqual(['T03 liver', 'T01 liver', 'T06 lymph node', 'T09 spleen', 'T08 bone']);
    // T02 liver (3rd liver), T04 lung (measurable but 6th), T05 lung (too small), T07 node (SA 8.8 mm: normal) is dropped
    expect(nonTargets.map((t) => t.trackingId).sort()).toEqual(['T02 liver', 'T04 lung', 'T05 lung']);
  });
});

describe('aiOnlyRead', () => {
  const responder: AiSubject = {
    usubjid: 'DEMO-001-R',
    timepoints: [
      tp('FU1', '2024-03-01', [lesion('T01', 'LIVER', 21), lesion('T02', 'LUNG', 14), lesion('T03', 'LYMPH NODE', 15)]),
      tp('BL', '2024-01-15', [lesion('T01', 'LIVER', 30), lesion('T02', 'LUNG', 20), lesion('T03', 'LYMPH NODE', 25)]),
      tp('FU2', '2024-04-12', [lesion('T01', 'LIVER', 12), lesion('T02', 'LUNG', 0, { present: false, status: 'disappeared', longAxisMm: null, shortAxisMm: null }), lesion('T03', 'LYMPH NODE', 11)]),
    ],
  };
  const progressor: AiSubject = {
    usubjid: 'DEMO-002-P',
    timepoints: [
      tp('BL', '2024-01-20', [lesion('T01', 'LIVER', 30), lesion('T02', 'LUNG', 20)]),
      tp('FU1', '2024-03-05', [lesion('T01', 'LIVER', 31), lesion('T02', 'LUNG', 21), lesion('N01', 'LIVER', 12, { status: 'new' })]),
    ],
  };

  it('orders timepoints by date, takes the earliest as baseline and yields a valid RECIST selection', () => {
    const study = aiOnlyRead([responder, progressor], { studyId: 'DEMO-001', model: MODEL });
    const s = study.subjects[0]!;
    expect(s.assessments.map((a) => a.visit)).toEqual(['BASELINE', 'FU1', 'FU2']);
    expect(s.randDate).toBe('2024-01-15');
    expect(() => validateTargetSelection(s.assessments[0]!, s.usubjid)).not.toThrow();
    // node uses the short axis: 25 mm * 0.8 = 20.0 mm -> 200 tenths
    expect(s.assessments[0]!.targets.find((t) => t.nodal)!.diameter).toBe(200);
    expect(s.assessments[2]!.targets.find((t) => t.organ === 'LUNG')!.diameter).toBe('DISAPPEARED');
  });

  it('gives the RECIST responses a reader would: PR then PR for the responder, PD on a new lesion', () => {
    const study = aiOnlyRead([responder, progressor], { studyId: 'DEMO-001', model: MODEL });
    // responder: baseline sum 30 + 20 + 20 = 70 mm; FU1 21 + 14 + 12 = 47 (-32.9 %: PR); FU2 12 + 0 + 8.8 = 20.8 (-70 %: PR, node not < 10)
    const r = deriveVisitResponses(study.subjects[0]!);
    expect(r.map((x) => x.overall)).toEqual(['PR', 'PR']);
    const p = deriveVisitResponses(study.subjects[1]!);
    expect(p.map((x) => x.overall)).toEqual(['PD']);
    expect(study.subjects[1]!.assessments[1]!.newLesions).toBe('YES');
  });

  it('labels every dataset row with the model and no reader', () => {
    const study = aiOnlyRead([responder, progressor], { studyId: 'DEMO-001', model: MODEL });
    const { datasets } = deriveEndpointDatasets(study, {}, { blinded: true });
    const tr = datasets.find((d) => d.name === 'TR')!;
    const col = (n: string) => tr.columns.findIndex((c) => c.name === n);
    expect(tr.rows.length).toBeGreaterThan(0);
    for (const row of tr.rows) {
      expect(row[col('MODELID')]).toBe(MODEL.id);
      expect(row[col('MODELSHA')]).toBe(MODEL.sha256);
      expect(row[col('READER')]).toBeNull();
      expect(String(row[col('READID')])).toMatch(/^ai:run:/);
    }
  });

  it('refuses a timepoint whose date is not an ISO date', () => {
    expect(() => aiOnlyRead([{ usubjid: 'X', timepoints: [tp('BL', '15/01/2024', [])] }], { studyId: 'S', model: MODEL })).toThrow(/YYYY-MM-DD/);
  });
});

describe('assertMeasurableVolume', () => {
  it('refuses volumes whose slices are missing or unevenly spaced, naming the reason; accepts a clean one', () => {
    const { assertMeasurableVolume } = jest.requireActual('@app/airead') as typeof import('@app/airead');
    expect(() => assertMeasurableVolume({ dims: [4, 4, 4], flags: [] })).not.toThrow();
    expect(() => assertMeasurableVolume({ dims: [4, 4, 4], flags: ['missing-slices: gap of 5 mm between volume slices 1 and 2'] })).toThrow(/cannot be measured in mm: missing-slices/);
    expect(() => assertMeasurableVolume({ dims: [4, 4, 4], flags: ['non-uniform-spacing: gap of 3.1 mm'] })).toThrow(/non-uniform-spacing/);
    // duplicates were dropped by the volume builder: the geometry is sound
    expect(() => assertMeasurableVolume({ dims: [4, 4, 4], flags: ['duplicate-slice: x'] })).not.toThrow();
  });
});
