/**
 * The attributes of DICOM PS3.15 Table E.1-1 (Application Level Confidentiality Profile Attributes)
 * that this library handles by name, with the Basic Profile action as published and the action we apply.
 *
 * Published actions: D replace with a dummy value; Z zero-length (or dummy); X remove; K keep (clean
 * sequences); C clean; U replace UID consistently; combinations such as X/Z/D mean "the stricter
 * action allowed by the IOD". `action` is our resolution:
 * - 'X' remove; 'Z' keep the attribute with an empty value; 'D' dummy text 'DEIDENTIFIED' (a D sequence keeps
 *   its items, cleaned recursively with the same rules; other VRs are removed);
 * - 'U' consistent UID replacement;
 * - 'K' keep (sequences are cleaned recursively, UIDs inside are replaced);
 * - 'C' clean-descriptor (Clean Descriptors option): vocabulary-cleaned, removed if nothing safe remains;
 * - 'SUBJECT' PatientName/PatientID: replaced by the ClinicalTrialSubjectReadingID.
 * Compound actions resolve to X unless the attribute is Type 1/2 in a CT/enhanced CT/SR IOD (then D or Z:
 * DeviceSerialNumber D; ReferencedPerformedProcedureStepSequence Z in SR documents only), or is a reference sequence (X/Z/U*: kept
 * with its UIDs replaced, so image references stay valid). AcquisitionContextSequence (X) is emptied instead
 * (Type 2 in enhanced CT; an empty sequence carries nothing).
 * Under the Retain Longitudinal Temporal Information with Modified Dates option every DA/DT value that is
 * kept is shifted by the subject's constant offset; TM values are kept (see dates.ts); dates in
 * NEVER_RETAIN_TEMPORAL are removed/emptied whatever the option.
 *
 * Attributes not listed are kept, except the generic rules applied in deidentify.ts: every private
 * attribute (odd group) is removed, curve groups 50xx and overlay groups 60xx are removed whole, every
 * PN anywhere is emptied, every UI not in KEEP_UID_TAGS and not under the DICOM root 1.2.840.10008 is
 * replaced, group lengths and DataSetTrailingPadding are removed.
 */
export type ProfileAction = 'D' | 'Z' | 'X' | 'K' | 'C' | 'U' | 'X/Z' | 'X/D' | 'Z/D' | 'X/Z/D' | 'X/Z/U*' | 'X/Z/U';
export type AppliedAction = 'X' | 'Z' | 'D' | 'U' | 'K' | 'C' | 'SUBJECT';

export interface TableEntry {
  tag: number;
  keyword: string;
  profile: ProfileAction;
  action: AppliedAction;
}

// [group, element, keyword, published basic-profile action, applied action]
const RAW: [number, number, string, ProfileAction, AppliedAction][] = [
  [0x0000, 0x1001, 'RequestedSOPInstanceUID', 'U', 'U'],
  [0x0002, 0x0003, 'MediaStorageSOPInstanceUID', 'U', 'U'],
  [0x0004, 0x1511, 'ReferencedSOPInstanceUIDInFile', 'U', 'U'],
  [0x0008, 0x0012, 'InstanceCreationDate', 'X/D', 'K'],
  [0x0008, 0x0013, 'InstanceCreationTime', 'X/Z/D', 'K'],
  [0x0008, 0x0014, 'InstanceCreatorUID', 'U', 'U'],
  [0x0008, 0x0015, 'InstanceCoercionDateTime', 'X', 'X'],
  [0x0008, 0x0018, 'SOPInstanceUID', 'U', 'U'],
  [0x0008, 0x0020, 'StudyDate', 'Z', 'K'],
  [0x0008, 0x0021, 'SeriesDate', 'X/D', 'K'],
  [0x0008, 0x0022, 'AcquisitionDate', 'X/Z', 'K'],
  [0x0008, 0x0023, 'ContentDate', 'Z/D', 'K'],
  [0x0008, 0x0024, 'OverlayDate', 'X', 'K'],
  [0x0008, 0x0025, 'CurveDate', 'X', 'K'],
  [0x0008, 0x002a, 'AcquisitionDateTime', 'X/D', 'K'],
  [0x0008, 0x0030, 'StudyTime', 'Z', 'K'],
  [0x0008, 0x0031, 'SeriesTime', 'X/D', 'K'],
  [0x0008, 0x0032, 'AcquisitionTime', 'X/Z', 'K'],
  [0x0008, 0x0033, 'ContentTime', 'Z/D', 'K'],
  [0x0008, 0x0034, 'OverlayTime', 'X', 'K'],
  [0x0008, 0x0035, 'CurveTime', 'X', 'K'],
  [0x0008, 0x0050, 'AccessionNumber', 'Z', 'Z'],
  [0x0008, 0x0055, 'StationAETitle', 'X', 'X'],
  [0x0008, 0x0058, 'FailedSOPInstanceUIDList', 'U', 'U'],
  [0x0008, 0x0080, 'InstitutionName', 'X/Z/D', 'X'],
  [0x0008, 0x0081, 'InstitutionAddress', 'X', 'X'],
  [0x0008, 0x0082, 'InstitutionCodeSequence', 'X/Z/D', 'X'],
  [0x0008, 0x0090, 'ReferringPhysicianName', 'Z', 'Z'],
  [0x0008, 0x0092, 'ReferringPhysicianAddress', 'X', 'X'],
  [0x0008, 0x0094, 'ReferringPhysicianTelephoneNumbers', 'X', 'X'],
  [0x0008, 0x0096, 'ReferringPhysicianIdentificationSequence', 'X', 'X'],
  [0x0008, 0x0201, 'TimezoneOffsetFromUTC', 'X', 'X'],
  [0x0008, 0x010d, 'ContextGroupExtensionCreatorUID', 'U', 'U'],
  [0x0008, 0x1010, 'StationName', 'X/Z/D', 'X'],
  [0x0008, 0x1030, 'StudyDescription', 'X', 'C'],
  [0x0008, 0x103e, 'SeriesDescription', 'X', 'C'],
  [0x0008, 0x1040, 'InstitutionalDepartmentName', 'X', 'X'],
  [0x0008, 0x1041, 'InstitutionalDepartmentTypeCodeSequence', 'X', 'X'],
  [0x0008, 0x1048, 'PhysiciansOfRecord', 'X', 'X'],
  [0x0008, 0x1049, 'PhysiciansOfRecordIdentificationSequence', 'X', 'X'],
  [0x0008, 0x1050, 'PerformingPhysicianName', 'X', 'X'],
  [0x0008, 0x1052, 'PerformingPhysicianIdentificationSequence', 'X', 'X'],
  [0x0008, 0x1060, 'NameOfPhysiciansReadingStudy', 'X', 'X'],
  [0x0008, 0x1062, 'PhysiciansReadingStudyIdentificationSequence', 'X', 'X'],
  [0x0008, 0x1070, 'OperatorsName', 'X/Z/D', 'X'],
  [0x0008, 0x1072, 'OperatorIdentificationSequence', 'X/D', 'X'],
  [0x0008, 0x1080, 'AdmittingDiagnosesDescription', 'X', 'X'],
  [0x0008, 0x1084, 'AdmittingDiagnosesCodeSequence', 'X', 'X'],
  [0x0008, 0x1110, 'ReferencedStudySequence', 'X/Z', 'X'],
  [0x0008, 0x1111, 'ReferencedPerformedProcedureStepSequence', 'X/Z/D', 'X'], // Z (empty) in SR documents, where it is Type 2
  [0x0008, 0x1120, 'ReferencedPatientSequence', 'X', 'X'],
  [0x0008, 0x1140, 'ReferencedImageSequence', 'X/Z/U*', 'K'],
  [0x0008, 0x1155, 'ReferencedSOPInstanceUID', 'U', 'U'],
  [0x0008, 0x1195, 'TransactionUID', 'U', 'U'],
  [0x0008, 0x2111, 'DerivationDescription', 'X', 'X'],
  [0x0008, 0x2112, 'SourceImageSequence', 'X/Z/U*', 'K'],
  [0x0008, 0x3010, 'IrradiationEventUID', 'U', 'U'],
  [0x0008, 0x4000, 'IdentifyingComments', 'X', 'X'],
  [0x0008, 0x9123, 'CreatorVersionUID', 'U', 'U'],
  [0x0010, 0x0010, 'PatientName', 'Z', 'SUBJECT'],
  [0x0010, 0x0020, 'PatientID', 'Z', 'SUBJECT'],
  [0x0010, 0x0021, 'IssuerOfPatientID', 'X', 'X'],
  [0x0010, 0x0022, 'TypeOfPatientID', 'X', 'X'],
  [0x0010, 0x0024, 'IssuerOfPatientIDQualifiersSequence', 'X', 'X'],
  [0x0010, 0x0030, 'PatientBirthDate', 'Z', 'Z'],
  [0x0010, 0x0032, 'PatientBirthTime', 'X', 'X'],
  [0x0010, 0x0040, 'PatientSex', 'Z', 'Z'],
  [0x0010, 0x0050, 'PatientInsurancePlanCodeSequence', 'X', 'X'],
  [0x0010, 0x0101, 'PatientPrimaryLanguageCodeSequence', 'X', 'X'],
  [0x0010, 0x0102, 'PatientPrimaryLanguageModifierCodeSequence', 'X', 'X'],
  [0x0010, 0x1000, 'OtherPatientIDs', 'X', 'X'],
  [0x0010, 0x1001, 'OtherPatientNames', 'X', 'X'],
  [0x0010, 0x1002, 'OtherPatientIDsSequence', 'X', 'X'],
  [0x0010, 0x1005, 'PatientBirthName', 'X', 'X'],
  [0x0010, 0x1010, 'PatientAge', 'X', 'X'],
  [0x0010, 0x1020, 'PatientSize', 'X', 'X'],
  [0x0010, 0x1030, 'PatientWeight', 'X', 'X'],
  [0x0010, 0x1040, 'PatientAddress', 'X', 'X'],
  [0x0010, 0x1050, 'InsurancePlanIdentification', 'X', 'X'],
  [0x0010, 0x1060, 'PatientMotherBirthName', 'X', 'X'],
  [0x0010, 0x1080, 'MilitaryRank', 'X', 'X'],
  [0x0010, 0x1081, 'BranchOfService', 'X', 'X'],
  [0x0010, 0x1090, 'MedicalRecordLocator', 'X', 'X'],
  [0x0010, 0x1100, 'ReferencedPatientPhotoSequence', 'X', 'X'],
  [0x0010, 0x2000, 'MedicalAlerts', 'X', 'X'],
  [0x0010, 0x2110, 'Allergies', 'X', 'X'],
  [0x0010, 0x2150, 'CountryOfResidence', 'X', 'X'],
  [0x0010, 0x2152, 'RegionOfResidence', 'X', 'X'],
  [0x0010, 0x2154, 'PatientTelephoneNumbers', 'X', 'X'],
  [0x0010, 0x2155, 'PatientTelecomInformation', 'X', 'X'],
  [0x0010, 0x2160, 'EthnicGroup', 'X', 'X'],
  [0x0010, 0x2180, 'Occupation', 'X', 'X'],
  [0x0010, 0x21a0, 'SmokingStatus', 'X', 'X'],
  [0x0010, 0x21b0, 'AdditionalPatientHistory', 'X', 'X'],
  [0x0010, 0x21c0, 'PregnancyStatus', 'X', 'X'],
  [0x0010, 0x21d0, 'LastMenstrualDate', 'X', 'X'],
  [0x0010, 0x21f0, 'PatientReligiousPreference', 'X', 'X'],
  [0x0010, 0x2203, 'PatientSexNeutered', 'X/Z', 'X'],
  [0x0010, 0x2297, 'ResponsiblePerson', 'X', 'X'],
  [0x0010, 0x2299, 'ResponsibleOrganization', 'X', 'X'],
  [0x0010, 0x4000, 'PatientComments', 'X', 'X'],
  [0x0018, 0x0010, 'ContrastBolusAgent', 'Z/D', 'C'],
  [0x0018, 0x1000, 'DeviceSerialNumber', 'X/Z/D', 'D'],
  [0x0018, 0x1002, 'DeviceUID', 'U', 'U'],
  [0x0018, 0x1004, 'PlateID', 'X', 'X'],
  [0x0018, 0x1005, 'GeneratorID', 'X', 'X'],
  [0x0018, 0x1007, 'CassetteID', 'X', 'X'],
  [0x0018, 0x1008, 'GantryID', 'X', 'X'],
  [0x0018, 0x1030, 'ProtocolName', 'X/D', 'C'],
  [0x0018, 0x1009, 'UniqueDeviceIdentifier', 'X', 'X'],
  [0x0018, 0x100a, 'UDISequence', 'X', 'X'],
  [0x0018, 0x1200, 'DateOfLastCalibration', 'X', 'X'],
  [0x0018, 0x1201, 'TimeOfLastCalibration', 'X', 'X'],
  [0x0018, 0x1400, 'AcquisitionDeviceProcessingDescription', 'X/D', 'C'],
  [0x0018, 0x4000, 'AcquisitionComments', 'X', 'X'],
  [0x0018, 0x700a, 'DetectorID', 'X/D', 'X'],
  [0x0018, 0x9424, 'AcquisitionProtocolDescription', 'X', 'X'],
  [0x0018, 0x9516, 'StartAcquisitionDateTime', 'X/D', 'K'],
  [0x0018, 0x9517, 'EndAcquisitionDateTime', 'X/D', 'K'],
  [0x0018, 0x9367, 'XRaySourceID', 'X', 'X'],
  [0x0018, 0x9371, 'XRayDetectorID', 'X', 'X'],
  [0x0018, 0x9373, 'XRayDetectorLabel', 'X', 'X'],
  [0x0018, 0x937b, 'MultienergyAcquisitionDescription', 'X', 'X'],
  [0x0018, 0x937f, 'DecompositionDescription', 'X', 'X'],
  [0x0018, 0xa002, 'ContributionDateTime', 'X/D', 'K'],
  [0x0018, 0xa003, 'ContributionDescription', 'X', 'X'],
  [0x0020, 0x000d, 'StudyInstanceUID', 'U', 'U'],
  [0x0020, 0x000e, 'SeriesInstanceUID', 'U', 'U'],
  [0x0020, 0x0010, 'StudyID', 'Z', 'Z'],
  [0x0020, 0x0052, 'FrameOfReferenceUID', 'U', 'U'],
  [0x0020, 0x0200, 'SynchronizationFrameOfReferenceUID', 'U', 'U'],
  [0x0020, 0x3401, 'ModifyingDeviceID', 'X', 'X'],
  [0x0020, 0x3404, 'ModifyingDeviceManufacturer', 'X', 'X'],
  [0x0020, 0x3406, 'ModifiedImageDescription', 'X', 'X'],
  [0x0020, 0x4000, 'ImageComments', 'X', 'X'],
  [0x0020, 0x9158, 'FrameComments', 'X', 'X'],
  [0x0020, 0x9161, 'ConcatenationUID', 'U', 'U'],
  [0x0020, 0x9164, 'DimensionOrganizationUID', 'U', 'U'],
  [0x0028, 0x1199, 'PaletteColorLookupTableUID', 'U', 'U'],
  [0x0028, 0x1214, 'LargePaletteColorLookupTableUID', 'U', 'U'],
  [0x0028, 0x4000, 'ImagePresentationComments', 'X', 'X'],
  [0x0032, 0x0012, 'StudyIDIssuer', 'X', 'X'],
  [0x0032, 0x1020, 'ScheduledStudyLocation', 'X', 'X'],
  [0x0032, 0x1021, 'ScheduledStudyLocationAETitle', 'X', 'X'],
  [0x0032, 0x1030, 'ReasonForStudy', 'X', 'X'],
  [0x0032, 0x1032, 'RequestingPhysician', 'X', 'X'],
  [0x0032, 0x1033, 'RequestingService', 'X', 'X'],
  [0x0032, 0x1060, 'RequestedProcedureDescription', 'X/Z', 'C'],
  [0x0032, 0x1070, 'RequestedContrastAgent', 'X', 'X'],
  [0x0032, 0x4000, 'StudyComments', 'X', 'X'],
  [0x0038, 0x0010, 'AdmissionID', 'X', 'X'],
  [0x0038, 0x0011, 'IssuerOfAdmissionID', 'X', 'X'],
  [0x0038, 0x001e, 'ScheduledPatientInstitutionResidence', 'X', 'X'],
  [0x0038, 0x0020, 'AdmittingDate', 'X', 'X'],
  [0x0038, 0x0021, 'AdmittingTime', 'X', 'X'],
  [0x0038, 0x0040, 'DischargeDiagnosisDescription', 'X', 'X'],
  [0x0038, 0x0050, 'SpecialNeeds', 'X', 'X'],
  [0x0038, 0x0060, 'ServiceEpisodeID', 'X', 'X'],
  [0x0038, 0x0061, 'IssuerOfServiceEpisodeID', 'X', 'X'],
  [0x0038, 0x0062, 'ServiceEpisodeDescription', 'X', 'X'],
  [0x0038, 0x0300, 'CurrentPatientLocation', 'X', 'X'],
  [0x0038, 0x0400, 'PatientInstitutionResidence', 'X', 'X'],
  [0x0038, 0x0500, 'PatientState', 'X', 'X'],
  [0x0038, 0x4000, 'VisitComments', 'X', 'X'],
  [0x0040, 0x0001, 'ScheduledStationAETitle', 'X', 'X'],
  [0x0040, 0x0002, 'ScheduledProcedureStepStartDate', 'X', 'X'],
  [0x0040, 0x0003, 'ScheduledProcedureStepStartTime', 'X', 'X'],
  [0x0040, 0x0004, 'ScheduledProcedureStepEndDate', 'X', 'X'],
  [0x0040, 0x0005, 'ScheduledProcedureStepEndTime', 'X', 'X'],
  [0x0040, 0x0006, 'ScheduledPerformingPhysicianName', 'X', 'X'],
  [0x0040, 0x0007, 'ScheduledProcedureStepDescription', 'X', 'X'],
  [0x0040, 0x0009, 'ScheduledProcedureStepID', 'X', 'X'],
  [0x0040, 0x000b, 'ScheduledPerformingPhysicianIdentificationSequence', 'X', 'X'],
  [0x0040, 0x0010, 'ScheduledStationName', 'X', 'X'],
  [0x0040, 0x0011, 'ScheduledProcedureStepLocation', 'X', 'X'],
  [0x0040, 0x0012, 'PreMedication', 'X', 'X'],
  [0x0040, 0x0241, 'PerformedStationAETitle', 'X', 'X'],
  [0x0040, 0x0242, 'PerformedStationName', 'X', 'X'],
  [0x0040, 0x0243, 'PerformedLocation', 'X', 'X'],
  [0x0040, 0x0244, 'PerformedProcedureStepStartDate', 'X', 'X'],
  [0x0040, 0x0245, 'PerformedProcedureStepStartTime', 'X', 'X'],
  [0x0040, 0x0250, 'PerformedProcedureStepEndDate', 'X', 'X'],
  [0x0040, 0x0251, 'PerformedProcedureStepEndTime', 'X', 'X'],
  [0x0040, 0x0253, 'PerformedProcedureStepID', 'X', 'X'],
  [0x0040, 0x0254, 'PerformedProcedureStepDescription', 'X', 'C'],
  [0x0040, 0x0275, 'RequestAttributesSequence', 'X', 'X'],
  [0x0040, 0x0280, 'CommentsOnThePerformedProcedureStep', 'X', 'X'],
  [0x0040, 0x0555, 'AcquisitionContextSequence', 'X', 'Z'],
  [0x0040, 0x1001, 'RequestedProcedureID', 'X', 'X'],
  [0x0040, 0x1002, 'ReasonForTheRequestedProcedure', 'X', 'X'],
  [0x0040, 0x1004, 'PatientTransportArrangements', 'X', 'X'],
  [0x0040, 0x1005, 'RequestedProcedureLocation', 'X', 'X'],
  [0x0040, 0x1010, 'NamesOfIntendedRecipientsOfResults', 'X', 'X'],
  [0x0040, 0x1011, 'IntendedRecipientsOfResultsIdentificationSequence', 'X', 'X'],
  [0x0040, 0x1101, 'PersonIdentificationCodeSequence', 'D', 'X'],
  [0x0040, 0x1102, 'PersonAddress', 'X', 'X'],
  [0x0040, 0x1103, 'PersonTelephoneNumbers', 'X', 'X'],
  [0x0040, 0x1400, 'RequestedProcedureComments', 'X', 'X'],
  [0x0040, 0x2001, 'ReasonForTheImagingServiceRequest', 'X', 'X'],
  [0x0040, 0x2004, 'IssueDateOfImagingServiceRequest', 'X', 'X'],
  [0x0040, 0x2005, 'IssueTimeOfImagingServiceRequest', 'X', 'X'],
  [0x0040, 0x2008, 'OrderEnteredBy', 'X', 'X'],
  [0x0040, 0x2009, 'OrderEntererLocation', 'X', 'X'],
  [0x0040, 0x2010, 'OrderCallbackPhoneNumber', 'X', 'X'],
  [0x0040, 0x2016, 'PlacerOrderNumberImagingServiceRequest', 'Z', 'Z'],
  [0x0040, 0x2017, 'FillerOrderNumberImagingServiceRequest', 'Z', 'Z'],
  [0x0040, 0x2400, 'ImagingServiceRequestComments', 'X', 'X'],
  [0x0040, 0x3001, 'ConfidentialityConstraintOnPatientDataDescription', 'X', 'X'],
  [0x0040, 0x4023, 'ReferencedGeneralPurposeScheduledProcedureStepTransactionUID', 'U', 'U'],
  [0x0040, 0x4025, 'ScheduledStationNameCodeSequence', 'X', 'X'],
  [0x0040, 0x4027, 'ScheduledStationGeographicLocationCodeSequence', 'X', 'X'],
  [0x0040, 0x4028, 'PerformedStationNameCodeSequence', 'X', 'X'],
  [0x0040, 0x4030, 'PerformedStationGeographicLocationCodeSequence', 'X', 'X'],
  [0x0040, 0x4034, 'ScheduledHumanPerformersSequence', 'X', 'X'],
  [0x0040, 0x4035, 'ActualHumanPerformersSequence', 'X', 'X'],
  [0x0040, 0x4036, 'HumanPerformerOrganization', 'X', 'X'],
  [0x0040, 0x4037, 'HumanPerformerName', 'X', 'X'],
  [0x0040, 0xa073, 'VerifyingObserverSequence', 'D', 'D'],
  [0x0040, 0xa075, 'VerifyingObserverName', 'D', 'D'],
  [0x0040, 0xa078, 'AuthorObserverSequence', 'X', 'X'],
  [0x0040, 0xa07a, 'ParticipantSequence', 'X', 'X'],
  [0x0040, 0xa07c, 'CustodialOrganizationSequence', 'X', 'X'],
  [0x0040, 0xa088, 'VerifyingObserverIdentificationCodeSequence', 'Z', 'Z'],
  [0x0040, 0xa123, 'PersonName', 'D', 'Z'],
  [0x0040, 0xa124, 'UID', 'U', 'U'],
  [0x0040, 0xa730, 'ContentSequence', 'X', 'X'],
  [0x0040, 0xa171, 'ObservationUID', 'U', 'U'],
  [0x0040, 0xa172, 'ReferencedObservationUIDTrial', 'U', 'U'],
  [0x0040, 0xa027, 'VerifyingOrganization', 'X', 'D'],
  [0x0040, 0xdb0c, 'TemplateExtensionOrganizationUID', 'U', 'U'],
  [0x0040, 0xdb0d, 'TemplateExtensionCreatorUID', 'U', 'U'],
  [0x0070, 0x0001, 'GraphicAnnotationSequence', 'D', 'X'],
  [0x0070, 0x0084, 'ContentCreatorName', 'Z', 'Z'],
  [0x0070, 0x0086, 'ContentCreatorIdentificationCodeSequence', 'X', 'X'],
  [0x0070, 0x031a, 'FiducialUID', 'U', 'U'],
  [0x0088, 0x0140, 'StorageMediaFileSetUID', 'U', 'U'],
  [0x0088, 0x0200, 'IconImageSequence', 'X', 'X'],
  [0x0088, 0x0904, 'TopicTitle', 'X', 'X'],
  [0x0088, 0x0906, 'TopicSubject', 'X', 'X'],
  [0x0088, 0x0910, 'TopicAuthor', 'X', 'X'],
  [0x0088, 0x0912, 'TopicKeywords', 'X', 'X'],
  [0x0400, 0x0100, 'DigitalSignatureUID', 'X', 'X'],
  [0x0400, 0x0402, 'ReferencedDigitalSignatureSequence', 'X', 'X'],
  [0x0400, 0x0403, 'ReferencedSOPInstanceMACSequence', 'X', 'X'],
  [0x0400, 0x0404, 'MAC', 'X', 'X'],
  [0x0400, 0x0550, 'ModifiedAttributesSequence', 'X', 'X'],
  [0x0400, 0x0561, 'OriginalAttributesSequence', 'X', 'X'],
  [0x2030, 0x0020, 'TextString', 'X', 'X'],
  [0x3006, 0x0002, 'StructureSetLabel', 'D', 'D'],
  [0x3006, 0x0004, 'StructureSetName', 'Z', 'Z'],
  [0x3006, 0x0006, 'StructureSetDescription', 'X', 'X'],
  [0x3006, 0x0024, 'ReferencedFrameOfReferenceUID', 'U', 'U'],
  [0x3006, 0x0026, 'ROIName', 'Z', 'Z'],
  [0x3006, 0x0028, 'ROIDescription', 'X', 'X'],
  [0x3006, 0x0085, 'ROIObservationLabel', 'X', 'X'],
  [0x3006, 0x0088, 'ROIObservationDescription', 'X', 'X'],
  [0x3006, 0x00a6, 'ROIInterpreter', 'Z', 'Z'],
  [0x3006, 0x00c2, 'RelatedFrameOfReferenceUID', 'U', 'U'],
  [0x300a, 0x0002, 'RTPlanLabel', 'D', 'D'],
  [0x300a, 0x0003, 'RTPlanName', 'X', 'X'],
  [0x300a, 0x0004, 'RTPlanDescription', 'X', 'X'],
  [0x300a, 0x0013, 'DoseReferenceUID', 'U', 'U'],
  [0x300e, 0x0008, 'ReviewerName', 'X/Z', 'X'],
  [0x4000, 0x0010, 'Arbitrary', 'X', 'X'],
  [0x4000, 0x4000, 'TextComments', 'X', 'X'],
  [0x4008, 0x0042, 'ResultsIDIssuer', 'X', 'X'],
  [0x4008, 0x0102, 'InterpretationRecorder', 'X', 'X'],
  [0x4008, 0x010a, 'InterpretationTranscriber', 'X', 'X'],
  [0x4008, 0x010b, 'InterpretationText', 'X', 'X'],
  [0x4008, 0x010c, 'InterpretationAuthor', 'X', 'X'],
  [0x4008, 0x0111, 'InterpretationApproverSequence', 'X', 'X'],
  [0x4008, 0x0114, 'PhysicianApprovingInterpretation', 'X', 'X'],
  [0x4008, 0x0115, 'InterpretationDiagnosisDescription', 'X', 'X'],
  [0x4008, 0x0118, 'ResultsDistributionListSequence', 'X', 'X'],
  [0x4008, 0x0119, 'DistributionName', 'X', 'X'],
  [0x4008, 0x011a, 'DistributionAddress', 'X', 'X'],
  [0x4008, 0x0202, 'InterpretationIDIssuer', 'X', 'X'],
  [0x4008, 0x0300, 'Impressions', 'X', 'X'],
  [0x4008, 0x4000, 'ResultsComments', 'X', 'X'],
  [0xfffa, 0xfffa, 'DigitalSignaturesSequence', 'X', 'X'],
  [0xfffc, 0xfffc, 'DataSetTrailingPadding', 'X', 'X'],
];

/** Table E.1-1 entries handled by name, keyed by tag (group << 16 | element). */
export const PROFILE_TABLE: ReadonlyMap<number, TableEntry> = new Map(
  RAW.map(([g, e, keyword, profile, action]) => [((g << 16) | e) >>> 0, { tag: ((g << 16) | e) >>> 0, keyword, profile, action }]),
);

/** Repeating-group rules of Table E.1-1: Curve Data (50xx,xxxx) X; Overlay Data (60xx,3000) and Overlay Comments (60xx,4000) X.
 * We remove the whole 50xx and 60xx groups (an overlay module without its data is inconsistent). */
export const isCurveOrOverlayGroup = (group: number): boolean => (group & 0xff01) === 0x5000 || (group & 0xff01) === 0x6000;

/** UI attributes that name a class or syntax (never an instance) and are kept as is. */
export const KEEP_UID_TAGS: ReadonlySet<number> = new Set([
  0x00020002, 0x00020010, 0x00020012, 0x00080016, 0x00081150, 0x0008001a, 0x0008001b, 0x00080062, 0x00041510, 0x00041512,
  0x0008010c, 0x00080117, 0x00080118,
]);

/** Temporal attributes removed/emptied even under the Retain Longitudinal Temporal Information option. */
export const NEVER_RETAIN_TEMPORAL: ReadonlySet<number> = new Set([0x00100030, 0x00100032, 0x001021d0, 0x00380020, 0x00380021]);

/**
 * Clean Descriptors option: the descriptor attributes we keep after cleaning to a safe vocabulary
 * (every token must be in SAFE_DESCRIPTOR_WORDS or be a short number such as 2.5 or 120; everything
 * else, including names, identifiers, dates, visit labels, is dropped). Other free-text attributes of
 * Table E.1-1 are removed.
 */
export const SAFE_DESCRIPTOR_WORDS: ReadonlySet<string> = new Set(
  (
    'CT MR PET CHEST THORAX LUNG LUNGS ABDOMEN ABD PELVIS HEAD NECK BRAIN LIVER BONE SOFT TISSUE MEDIASTINUM ' +
    'AXIAL AX CORONAL COR SAGITTAL SAG OBLIQUE MPR MIP RECON RECONSTRUCTION THIN THICK SLICE SLICES MM CM ' +
    'WITH WITHOUT W WO CONTRAST IV ORAL NON NONCONTRAST ENHANCED ARTERIAL VENOUS PORTAL DELAYED PHASE NATIVE ' +
    'HELICAL SPIRAL SEQUENTIAL STANDARD SHARP SMOOTH KERNEL LOW DOSE ROUTINE STAGING RESTAGING FOLLOW UP ' +
    'BASELINE SCOUT TOPOGRAM LOCALIZER SURVIEW ONCOLOGY ONCO TUMOR TUMOUR LESION WHOLE BODY AND OF FOR THE ' +
    'T1 T2 FLAIR DWI ADC GAD POST PRE IMAGE IMAGES SERIES SCAN SCREENING'
  ).split(/\s+/),
);
