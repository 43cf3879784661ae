export * from './runtime';
export * from './modules';
export * from './protocol';
export { encodeNrrd, decodeNrrd, openNrrdSlices, type NrrdSlices } from './stages/nrrd';
export { dicomModule, SERIES_CHECK_JOB, VOLUME_JOB } from './stages/dicom';
export { wsiModule, PATCHES_JOB, PATCH_SPEC, subjectFromKey } from './stages/wsi';
export * from './stages/endpoints';
export { aiModule, CT_INFERENCE_JOB, TRACK_JOB, SLIDE_INFERENCE_JOB, closeAiPool, slideSpec, tilePredictor, addAiReadStudyInput, aiReadStudyId } from './stages/ai';
export * from './stages/report';
