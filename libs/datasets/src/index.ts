export * from './types';
export * from './values';
export * from './csv';
export * from './dataset-json';
export * from './xpt';
export * from './read';
export * from './cut';
export { writerStats } from './fast';
export * from './table';
