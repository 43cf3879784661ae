export * from './ai-read';
