import type { Code } from './types';

/**
 * Coded concepts used by the SEG and TID 1500 writers.
 *
 * Every code below was checked against the DICOM PS3.16 concept tables shipped with pydicom 2.3
 * (`pydicom/sr/_concepts_dict.py`, `_cid_dict.py`, generated from PS3.16) and against the TID 1500
 * implementations of highdicom (`highdicom/sr/templates`) and dcmqi (`TID1500Writer`); see README.
 */
const c = (scheme: string, code: string, meaning: string): Code => ({ scheme, code, meaning });

export const CODES = {
  // TID 1500 root, TID 1204, TID 1001/1004
  imagingMeasurementReport: c('DCM', '126000', 'Imaging Measurement Report'),
  languageOfContent: c('DCM', '121049', 'Language of Content Item and Descendants'),
  englishUS: c('RFC5646', 'en-US', 'English (United States)'),
  observerType: c('DCM', '121005', 'Observer Type'),
  device: c('DCM', '121007', 'Device'),
  deviceObserverUid: c('DCM', '121012', 'Device Observer UID'),
  deviceObserverName: c('DCM', '121013', 'Device Observer Name'),
  deviceObserverManufacturer: c('DCM', '121014', 'Device Observer Manufacturer'),
  deviceObserverModelName: c('DCM', '121015', 'Device Observer Model Name'),
  deviceObserverSerialNumber: c('DCM', '121016', 'Device Observer Serial Number'),
  procedureReported: c('DCM', '121058', 'Procedure reported'),
  computedTomographyProcedure: c('SCT', '77477000', 'Computerized axial tomography'),
  // TID 1600 Image Library
  imageLibrary: c('DCM', '111028', 'Image Library'),
  imageLibraryGroup: c('DCM', '126200', 'Image Library Group'),
  modality: c('DCM', '121139', 'Modality'),
  modalityCT: c('DCM', 'CT', 'Computed Tomography'),
  frameOfReferenceUid: c('DCM', '112227', 'Frame of Reference UID'),
  studyDate: c('DCM', '111060', 'Study Date'),
  // TID 1500 / 1411 measurement groups
  imagingMeasurements: c('DCM', '126010', 'Imaging Measurements'),
  measurementGroup: c('DCM', '125007', 'Measurement Group'),
  trackingIdentifier: c('DCM', '112039', 'Tracking Identifier'),
  trackingUniqueIdentifier: c('DCM', '112040', 'Tracking Unique Identifier'),
  finding: c('DCM', '121071', 'Finding'),
  findingSite: c('SCT', '363698007', 'Finding Site'),
  measurementMethod: c('SCT', '370129005', 'Measurement Method'),
  recist11: c('DCM', '126081', 'RECIST 1.1'),
  referencedSegment: c('DCM', '121191', 'Referenced Segment'),
  sourceSeriesForSegmentation: c('DCM', '121232', 'Source series for segmentation'),
  // TID 1502 Time Point Context
  timePoint: c('UMLS', 'C2348792', 'Time Point'),
  subjectTimePointIdentifier: c('DCM', '126070', 'Subject Time Point Identifier'),
  protocolTimePointIdentifier: c('DCM', '126071', 'Protocol Time Point Identifier'),
  // TID 4019 Algorithm Identification
  algorithmName: c('DCM', '111001', 'Algorithm Name'),
  algorithmVersion: c('DCM', '111003', 'Algorithm Version'),
  algorithmParameters: c('DCM', '111002', 'Algorithm Parameters'),
  artificialIntelligence: c('DCM', '123110', 'Artificial Intelligence'),
  // TID 300 / 320 measurements
  longAxis: c('SCT', '103339001', 'Long axis'),
  shortAxis: c('SCT', '103340004', 'Short axis'),
  volume: c('SCT', '118565006', 'Volume'),
  sourceOfMeasurement: c('DCM', '121112', 'Source of Measurement'),
  millimeter: c('UCUM', 'mm', 'millimeter'),
  cubicMillimeter: c('UCUM', 'mm3', 'cubic millimeter'),
  // SEG derivation
  segmentation: c('DCM', '113076', 'Segmentation'),
  sourceImageForProcessing: c('DCM', '121322', 'Source image for image processing operation'),
} as const;

export const SOP_CLASS = {
  ctImage: '1.2.840.10008.5.1.4.1.1.2',
  segmentation: '1.2.840.10008.5.1.4.1.1.66.4',
  comprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
} as const;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Implementation Class UID of this writer (fixed, deterministic). */
export const SR_IMPLEMENTATION_UID = '2.25.190144064547908401878764433232638025025';
export const SR_IMPLEMENTATION_VERSION = 'APP_SR_1_0';
