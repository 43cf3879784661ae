export * from './card';
export * from './registry';
export * from './pool';
export * from './sliding-window';
export * from './segment';
export * from './format';
export * from './resample';
