export * from './types';
export { generatePhantomStudy, renderPhantomVisit, hardPhantomGroundTruth, trajectoryScales, CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN, PHANTOM_IMPLEMENTATION_UID } from './generate';
export { transcode, TRANSFER_SYNTAXES, type CompressedSyntax } from './transcode';
export { mulberry32, deriveSeed, phantomUid } from './prng';
export { makePhi, type PlantedPhi } from './phi';
export { hardPhantomGeometry, hardVisitTransform, labelsNrrd, renderVoxelOf, HARD_MOTION, type HardGeometry, type PhantomVisitRender, type Realism } from './hard';
