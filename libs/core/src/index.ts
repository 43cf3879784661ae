export * from './errors';
export * from './paths';
export * from './hash';
export * from './provenance';
export * from './config';
export * from './logger';
export * from './random';
export * from './threads';
