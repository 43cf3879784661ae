export * from './ai-read';
export * from './folder';
