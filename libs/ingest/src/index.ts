export * from './admission';
export * from './detect';
export * from './events';
export * from './processors';
export * from './ingest.service';
