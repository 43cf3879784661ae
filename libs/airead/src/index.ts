export * from './ai-read';
export * from './folder';
export * from './ct';
export * from './track';
export * from './dicom-out';
export * from './component-features';
