export * from './types';
export { CODES, SOP_CLASS, SR_IMPLEMENTATION_UID } from './codes';
export { formatDS, dsIsExact, uidFrom } from './encode';
export { writeSeg, readSegSegments } from './seg';
export { writeSr } from './sr';
export { readSrMeasurements } from './read-sr';
