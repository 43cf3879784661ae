/**
 * @app/measure — label volumes -> measured lesions (RECIST 1.1 long/short axis, 3D Feret, volume, HU stats).
 * Plain TypeScript, no NestJS. See README.md for conventions.
 */
export * from './types';
export { connectedComponents3d } from './components';
export { measureLesions } from './measure';
export { recistMeasurability, RECIST_TOLERANCE_MM } from './recist';
export { LENGTH_EPS_MM, checkDims, checkGeometry, toMm, type Geometry } from './validate';
export { ALL_PIXELS_MAX, SHORT_AXIS_TOLERANCES_DEG } from './chords';
export { FERET_ALL_VOXELS_MAX } from './feret';
