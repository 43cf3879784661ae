/**
 * The fast path of the public row-major writers (performance only; the output is byte-identical to the
 * reference writers, which tests/datasets/golden.test.ts, fast.test.ts and table.test.ts check): the
 * dataset goes through the columnar writer (`table.ts`: every value checked and encoded once per
 * distinct value, rows copied as bytes). If that throws for any reason, the public writer runs its
 * reference writer, so error codes, messages and their precedence never change.
 */
import type { Dataset, DatasetFileMeta } from './types';
import { datasetToTable, writeTableFile, type TableFormat } from './table';
import type { XptWriteOptions } from './xpt';

/**
 * How many writer calls took the fast path and how many fell back to the reference writer (bad input).
 * Tests use it to make sure the fast path is really taken.
 */
export const writerStats = { fast: 0, reference: 0 };

/** The dataset written through the columnar writer, or, if that fails, by `reference()`. */
export function fastOrReference(ds: Dataset, meta: DatasetFileMeta, format: TableFormat, reference: () => Buffer, opts: XptWriteOptions = {}): Buffer {
  let out: Buffer | null = null;
  try {
    out = writeTableFile(datasetToTable(ds), meta, format, opts);
  } catch {
    out = null;
  }
  if (out) {
    writerStats.fast++;
    return out;
  }
  writerStats.reference++;
  return reference();
}
