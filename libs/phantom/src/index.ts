export * from './types';
export { generatePhantomStudy, trajectoryScales, CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, PHANTOM_IMPLEMENTATION_UID } from './generate';
export { transcode, TRANSFER_SYNTAXES, type CompressedSyntax } from './transcode';
export { mulberry32, deriveSeed, phantomUid } from './prng';
export { makePhi, type PlantedPhi } from './phi';
