import { InputError } from '@app/core';
import { checkUid, type DcmDataset } from './encode';
import type { AlgorithmInfo, EquipmentInfo, OutputIdentity, SourceSeriesRef } from './types';

const DA_RE = /^(\d{8})?$/;
const TM_RE = /^(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?$/;

const fail = (code: string, msg: string, detail?: Record<string, unknown>): never => {
  throw new InputError(code, msg, detail);
};

/** Validates the parts of a source series reference both writers need. */
export function checkSource(src: SourceSeriesRef): void {
  if (!src || typeof src !== 'object') fail('sr.bad-input', 'source series reference is missing');
  checkUid(src.studyInstanceUid, 'source.studyInstanceUid');
  checkUid(src.seriesInstanceUid, 'source.seriesInstanceUid');
  checkUid(src.frameOfReferenceUid, 'source.frameOfReferenceUid');
  checkUid(src.sopClassUid, 'source.sopClassUid');
  if (!Array.isArray(src.slices) || src.slices.length === 0) fail('sr.bad-input', 'source.slices must list at least one slice');
  const seen = new Set<string>();
  src.slices.forEach((s, k) => {
    checkUid(s.sopInstanceUid, `source.slices[${k}].sopInstanceUid`);
    if (seen.has(s.sopInstanceUid)) fail('sr.bad-input', `source.slices[${k}].sopInstanceUid is duplicated`);
    seen.add(s.sopInstanceUid);
    if (!Array.isArray(s.imagePositionPatient) || s.imagePositionPatient.length !== 3 || !s.imagePositionPatient.every(Number.isFinite)) {
      fail('sr.bad-input', `source.slices[${k}].imagePositionPatient must be 3 finite numbers`);
    }
  });
  for (const [k, v] of [['rows', src.rows], ['columns', src.columns]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) fail('sr.bad-input', `source.${k} must be an integer in 1..65535, got ${v}`);
  }
  if (!Array.isArray(src.pixelSpacing) || src.pixelSpacing.length !== 2 || !src.pixelSpacing.every((x) => Number.isFinite(x) && x > 0)) {
    fail('sr.bad-input', 'source.pixelSpacing must be two positive numbers [row, col]');
  }
  if (!(Number.isFinite(src.sliceThickness) && src.sliceThickness > 0)) fail('sr.bad-input', 'source.sliceThickness must be a positive number');
  const o = src.imageOrientationPatient;
  if (!Array.isArray(o) || o.length !== 6 || !o.every(Number.isFinite)) fail('sr.bad-input', 'source.imageOrientationPatient must be 6 finite numbers');
  const nr = Math.hypot(o[0], o[1], o[2]);
  const nc = Math.hypot(o[3], o[4], o[5]);
  const dot = o[0] * o[3] + o[1] * o[4] + o[2] * o[5];
  if (Math.abs(nr - 1) > 1e-3 || Math.abs(nc - 1) > 1e-3 || Math.abs(dot) > 1e-3) {
    fail('sr.bad-input', 'source.imageOrientationPatient must be two orthonormal direction cosine vectors');
  }
  if (!src.patient || typeof src.patient.patientId !== 'string') fail('sr.bad-input', 'source.patient.patientId is required');
  if (!DA_RE.test(src.studyDate ?? '')) fail('sr.bad-input', `source.studyDate must be YYYYMMDD or '', got '${src.studyDate}'`);
  if (!TM_RE.test(src.studyTime ?? '')) fail('sr.bad-input', `source.studyTime must be HHMMSS[.F] or '', got '${src.studyTime}'`);
}

export function checkOutput(out: OutputIdentity): void {
  if (!out || typeof out !== 'object') fail('sr.bad-input', 'output identity is missing');
  checkUid(out.seriesInstanceUid, 'output.seriesInstanceUid');
  checkUid(out.sopInstanceUid, 'output.sopInstanceUid');
  for (const [k, v] of [['seriesNumber', out.seriesNumber], ['instanceNumber', out.instanceNumber]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 2147483647) fail('sr.bad-input', `output.${k} must be a non-negative integer, got ${v}`);
  }
  if (!/^\d{8}$/.test(out.contentDate ?? '')) fail('sr.bad-input', `output.contentDate must be YYYYMMDD, got '${out.contentDate}'`);
  if (!/^\d{6}(\.\d{1,6})?$/.test(out.contentTime ?? '')) fail('sr.bad-input', `output.contentTime must be HHMMSS[.FFFFFF], got '${out.contentTime}'`);
}

export function checkAlgorithm(a: AlgorithmInfo): void {
  if (!a || !a.name || !a.version) fail('sr.bad-input', 'algorithm.name and algorithm.version are required');
  if (!/^[0-9a-f]{64}$/.test(a.sha256 ?? '')) fail('sr.bad-input', `algorithm.sha256 must be 64 lowercase hex characters, got '${a.sha256}'`);
}

/** Patient, Clinical Trial Subject, General Study, Clinical Trial Study, SOP Common (charset) and General Equipment. */
export function commonModules(src: SourceSeriesRef, out: OutputIdentity, alg: AlgorithmInfo, eq: EquipmentInfo): DcmDataset {
  const p = src.patient;
  const ct = src.clinicalTrial ?? {};
  const hasSubject = ct.sponsorName || ct.protocolId || ct.subjectId || ct.subjectReadingId || ct.siteId || ct.siteName || ct.protocolName;
  if (hasSubject && (!ct.sponsorName || !ct.protocolId || !(ct.subjectId || ct.subjectReadingId))) {
    fail('sr.bad-clinical-trial', 'the Clinical Trial Subject module needs clinicalTrial.sponsorName, protocolId and subjectId or subjectReadingId (all type 1)');
  }
  if (!eq || !eq.manufacturer) fail('sr.bad-input', 'equipment.manufacturer is required');
  return {
    SOPInstanceUID: out.sopInstanceUid,
    // Patient
    PatientName: p.patientName ?? '',
    PatientID: p.patientId,
    PatientBirthDate: '',
    PatientSex: p.patientSex ?? '',
    PatientIdentityRemoved: p.patientIdentityRemoved === undefined ? undefined : p.patientIdentityRemoved ? 'YES' : 'NO',
    DeidentificationMethod: p.deidentificationMethod,
    // Clinical Trial Subject (only when present in the source)
    ClinicalTrialSponsorName: hasSubject ? ct.sponsorName : undefined,
    ClinicalTrialProtocolID: hasSubject ? ct.protocolId : undefined,
    ClinicalTrialProtocolName: hasSubject ? (ct.protocolName ?? '') : undefined,
    ClinicalTrialSiteID: hasSubject ? (ct.siteId ?? '') : undefined,
    ClinicalTrialSiteName: hasSubject ? (ct.siteName ?? '') : undefined,
    ClinicalTrialSubjectID: hasSubject ? ct.subjectId : undefined,
    ClinicalTrialSubjectReadingID: hasSubject ? ct.subjectReadingId : undefined,
    // General Study
    StudyInstanceUID: src.studyInstanceUid,
    StudyDate: src.studyDate ?? '',
    StudyTime: src.studyTime ?? '',
    ReferringPhysicianName: src.referringPhysicianName ?? '',
    StudyID: src.studyId ?? '',
    AccessionNumber: src.accessionNumber ?? '',
    // Clinical Trial Study
    ClinicalTrialTimePointID: ct.timePointId,
    ClinicalTrialTimePointDescription: ct.timePointId !== undefined ? ct.timePointDescription : undefined,
    // Series identity
    SeriesInstanceUID: out.seriesInstanceUid,
    SeriesNumber: out.seriesNumber,
    SeriesDescription: out.seriesDescription,
    InstanceNumber: out.instanceNumber,
    ContentDate: out.contentDate,
    ContentTime: out.contentTime,
    // General Equipment (+ Enhanced General Equipment values, type 1 there)
    Manufacturer: eq.manufacturer,
    ManufacturerModelName: eq.modelName ?? alg.name,
    DeviceSerialNumber: eq.deviceSerialNumber ?? alg.sha256,
    SoftwareVersions: eq.softwareVersions ?? alg.version,
  };
}

/** Unit normal of the slice plane (row × column direction cosines). */
export function sliceNormal(o: readonly number[]): [number, number, number] {
  return [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
}

/** Slice indices k sorted by position along the slice normal (ascending), ties by k. */
export function slicesByPosition(src: SourceSeriesRef): number[] {
  const n = sliceNormal(src.imageOrientationPatient);
  const d = src.slices.map((s) => s.imagePositionPatient[0] * n[0] + s.imagePositionPatient[1] * n[1] + s.imagePositionPatient[2] * n[2]);
  return d.map((_, k) => k).sort((a, b) => d[a] - d[b] || a - b);
}
