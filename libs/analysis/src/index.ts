export * from './errors';
export * from './distributions';
export * from './data';
export * from './km';
export * from './logrank';
export * from './cox';
export * from './response';
export * from './summary';
