import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The readers' web app: static files built into dist/reader and served by apps/api at /reader/.
 * Cornerstone3D's DICOM image loader decodes in a module web worker (bundled by Vite from its `new URL(..., import.meta.url)`).
 */
const root = fileURLToPath(new URL('.', import.meta.url));
export default defineConfig({
  root,
  base: '/reader/',
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL('../../dist/reader', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 6000,
    sourcemap: false,
  },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['@cornerstonejs/dicom-image-loader'], include: ['dicom-parser'] },
  logLevel: 'error',
});
