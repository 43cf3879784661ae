import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { groupInstances, parseDicom, summarizeSeries, type ParsedDicom } from '@app/dicom';
import { FIX, ctSlice, element, fixture, pydicomReference, slicePixels } from './helpers';

const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });

const readable = walk(FIX)
  .map((p) => relative(FIX, p))
  .filter((f) => !f.endsWith('.md') && !f.endsWith('.tsv') && !f.startsWith('invalid/'))
  .sort();

describe('header extraction', () => {
  const { refs } = pydicomReference(readable);

  it('reads every valid fixture and agrees with pydicom on identifiers, size and geometry', () => {
    expect(refs.length).toBe(readable.length);
    for (const r of refs) {
      const rel = relative(FIX, r.file);
      const p = parseDicom(fixture(rel));
      const h = p.header;
      const ref = r.header as Record<string, unknown>;
      const ctx = `${rel}`;
      // pydicom gives '' for an empty element, we give undefined
      const sn = (v: unknown): unknown => (v === '' || v === undefined || v === null ? null : v);
      expect([ctx, sn(h.patient.patientId)]).toEqual([ctx, sn(ref.PatientID)]);
      expect([ctx, sn(h.study.studyInstanceUid)]).toEqual([ctx, sn(ref.StudyInstanceUID)]);
      expect([ctx, sn(h.series.seriesInstanceUid)]).toEqual([ctx, sn(ref.SeriesInstanceUID)]);
      expect([ctx, sn(h.instance.sopInstanceUid)]).toEqual([ctx, sn(ref.SOPInstanceUID)]);
      expect([ctx, sn(h.series.modality)]).toEqual([ctx, sn(ref.Modality)]);
      expect([ctx, sn(h.study.studyDate)]).toEqual([ctx, sn(ref.StudyDate)]);
      expect([ctx, h.image.rows ?? null, h.image.columns ?? null]).toEqual([ctx, ref.Rows ?? null, ref.Columns ?? null]);
      if (ref.ImageType) expect([ctx, h.instance.imageType]).toEqual([ctx, ref.ImageType]);
      if (ref.ImagePositionPatient) {
        (ref.ImagePositionPatient as number[]).forEach((v, k) => expect(h.image.imagePositionPatient![k]).toBeCloseTo(v, 6));
      }
      if (ref.PixelSpacing) (ref.PixelSpacing as number[]).forEach((v, k) => expect(h.image.pixelSpacing![k]).toBeCloseTo(v, 6));
      if (ref.RescaleIntercept !== null) expect(h.image.rescaleIntercept).toBeCloseTo(ref.RescaleIntercept as number, 6);
      // JSON-serialisable
      expect(JSON.parse(JSON.stringify(h))).toEqual(h);
    }
  });

  it('reads a raw data set without preamble/meta (no_meta.dcm) and says so', () => {
    const p = parseDicom(fixture('invalid/no_meta.dcm'));
    expect(p.header.flags.some((f) => f.startsWith('no-preamble'))).toBe(true);
    // It is the CT_small image without its P10 wrapper: same instance, same geometry.
    const twin = parseDicom(fixture('small/CT_small.dcm')).header;
    expect(p.header.instance.sopInstanceUid).toBe(twin.instance.sopInstanceUid);
    expect(p.header.image.imagePositionPatient).toEqual(twin.image.imagePositionPatient);
    expect(p.header.image.rows).toBe(128);
  });

  it('reads a deflated file (1.2.840.10008.1.2.1.99)', () => {
    const p = parseDicom(fixture('encapsulated/image_dfl.dcm'));
    expect(p.transferSyntaxUid).toBe('1.2.840.10008.1.2.1.99');
    expect(p.header.image.rows).toBe(512);
    expect(p.header.image.columns).toBe(512);
    expect(p.header.flags).toEqual([]);
  });

  it('accepts a bare Uint8Array as well as a Buffer', () => {
    const b = fixture('encapsulated/image_dfl.dcm');
    const u = new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    expect(parseDicom(u).header.image.rows).toBe(512);
  });

  it('extracts per-frame geometry of an enhanced CT from the functional groups', () => {
    const h = parseDicom(fixture('encapsulated/CT0012.explicit_little_endian.dcm')).header;
    expect(h.image.numberOfFrames).toBe(2);
    expect(h.frames).toHaveLength(2);
    // Plane Position differs per frame, orientation/spacing/rescale come from the shared groups.
    expect(h.frames![0].imagePositionPatient).toEqual([99.5, -301.5, -159]);
    expect(h.frames![1].imagePositionPatient).toEqual([99.5, -301.5, -149]);
    for (const f of h.frames!) {
      expect(f.imageOrientationPatient).toEqual([-1, 0, 0, 0, 1, 0]);
      expect(f.rescaleIntercept).toBe(-1024);
      expect(f.rescaleSlope).toBe(1);
      expect(f.pixelSpacing).toEqual([0.388672, 0.388672]);
    }
  });

  it('extracts Clinical Trial attributes (0012,xxxx)', () => {
    const buf = ctSlice({
      sopInstanceUid: '1.2.3.4',
      instanceNumber: 1,
      rows: 2,
      columns: 2,
      ipp: [0, 0, 0],
      pixels: slicePixels(0, 2, 2),
      extra: [
        element(0x00120010, 'LO', 'Acme Oncology'),
        element(0x00120020, 'LO', 'ACME-301'),
        element(0x00120021, 'LO', 'Phase III NSCLC'),
        element(0x00120030, 'LO', 'SITE-07'),
        element(0x00120031, 'LO', 'Hospital Seven'),
        element(0x00120040, 'LO', 'SUBJ-0042'),
        element(0x00120042, 'LO', 'READ-9'),
        element(0x00120050, 'LO', 'W12'),
        element(0x00120051, 'ST', 'Week 12 follow-up'),
        element(0x00120060, 'LO', 'Central Imaging Lab'),
        element(0x00120062, 'CS', 'YES'),
      ],
    });
    const ct = parseDicom(buf).header.clinicalTrial;
    expect(ct).toEqual({
      sponsorName: 'Acme Oncology',
      protocolId: 'ACME-301',
      protocolName: 'Phase III NSCLC',
      siteId: 'SITE-07',
      siteName: 'Hospital Seven',
      subjectId: 'SUBJ-0042',
      subjectReadingId: 'READ-9',
      timePointId: 'W12',
      timePointDescription: 'Week 12 follow-up',
      coordinatingCenterName: 'Central Imaging Lab',
      patientIdentityRemoved: 'YES',
    });
    expect(parseDicom(fixture('small/CT_small.dcm')).header.clinicalTrial).toBeUndefined();
  });

  it('groups studies/ by patient, study and series as pydicom reads them', () => {
    const files = readable.filter((f) => f.startsWith('studies/'));
    const parsed: Array<ParsedDicom & { file: string }> = files.map((f) => ({ ...parseDicom(fixture(f)), file: f }));
    const groups = groupInstances(parsed);
    // Independent grouping from pydicom's values.
    const expected = new Map<string, Map<string, Set<string>>>();
    for (const r of refs.filter((x) => relative(FIX, x.file).startsWith('studies/'))) {
      const h = r.header as Record<string, string>;
      if (!expected.has(h.PatientID)) expected.set(h.PatientID, new Map());
      const st = expected.get(h.PatientID)!;
      if (!st.has(h.StudyInstanceUID)) st.set(h.StudyInstanceUID, new Set());
      st.get(h.StudyInstanceUID)!.add(h.SeriesInstanceUID);
    }
    expect(groups.map((g) => g.patientId).sort()).toEqual([...expected.keys()].sort());
    expect(groups).toHaveLength(2);
    let instances = 0;
    for (const g of groups) {
      const st = expected.get(g.patientId)!;
      expect(g.studies.map((s) => s.studyInstanceUid).sort()).toEqual([...st.keys()].sort());
      for (const s of g.studies) {
        expect(s.series.map((x) => x.seriesInstanceUid).sort()).toEqual([...st.get(s.studyInstanceUid)!].sort());
        for (const se of s.series) {
          instances += se.instances.length;
          for (const i of se.instances) expect(i.header.series.seriesInstanceUid).toBe(se.seriesInstanceUid);
          const sum = summarizeSeries(se);
          expect(sum.numSlices).toBe(se.instances.length);
        }
      }
    }
    expect(instances).toBe(files.length);
  });
});
