export * from './accept';
export * from './multipart';
export * from './json';
export * from './frames';
export * from './redact';
export * from './qido';
