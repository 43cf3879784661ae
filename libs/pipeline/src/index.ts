export * from './runtime';
export * from './modules';
