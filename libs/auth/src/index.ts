export * from './roles';
export * from './errors';
export * from './password';
export * from './token';
export * from './policy';
export * from './service';
export * from './limiter';
