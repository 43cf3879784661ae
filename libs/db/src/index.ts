export * from './schema';
export * from './database';
export * from './objects.repository';
export * from './jobs.repository';
export * from './imaging.repository';
export * from './slides.repository';
export * from './endpoints.repository';
export * from './ai.repository';
