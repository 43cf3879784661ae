export * from './types';
export { openSlide } from './open';
export { TileCache } from './cache';
export { decodeStats, compressionName } from './decode';
export { DEFAULT_CACHE_BYTES, DEFAULT_MAX_LEVEL_PIXELS, MAX_REGION_PIXELS } from './base';
export { blindSlide, cleanAperioDescription, cleanOmeXml, APERIO_KEEP_KEYS, type BlindOptions, type BlindingReport } from './blind';
export { sandboxDefault } from './isolate';
export { resizeRgb } from './resize';
export { regionFromBlocks, regionTaskStats, type RegionTask } from './region-task';
