export * from './synthetic';
export * from './region';
export * from './tissue';
export { extractPatches, planPatches, maskFraction, type PatchOptions, type PatchCoord, type PatchBatch, type PatchPlan } from './patches';
export * from './dzi';
export * from './ai';
