/** Import entry point: picks the reader from the file name's extension. */
import { gunzipSync } from 'node:zlib';
import { InputError } from '@app/core';
import type { Column, Dataset } from './types';
import { readCsv } from './csv';
import { readDatasetDsjc, readDatasetJson, readDatasetNdjson } from './dataset-json';
import { readXpt } from './xpt';

export interface ReadDatasetOptions {
  /** Known column metadata (by name). CSV columns are strings without it; XPT types are refined by it. */
  columns?: Column[];
  /** Dataset name for CSV (default: the file name without extension, upper case). */
  name?: string;
  label?: string;
  standard?: Dataset['standard'];
}

export const SUPPORTED_EXTENSIONS = ['.csv', '.json', '.ndjson', '.dsjc', '.xpt'] as const;

/**
 * Reads a dataset from bytes, dispatching on the extension: .csv, .json (Dataset-JSON), .ndjson, .dsjc, .xpt.
 * A trailing .gz (e.g. dm.csv.gz) is gunzipped first. Throws InputError for an unknown extension or bad content.
 */
export function readDataset(bytes: Buffer, filename: string, opts: ReadDatasetOptions = {}): Dataset {
  if (!Buffer.isBuffer(bytes)) throw new InputError('dataset.invalid', 'readDataset: expected the file content as a Buffer');
  let name = filename.replace(/^.*[\\/]/, '').toLowerCase();
  if (name.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new InputError('dataset.corrupt-gzip', `${filename}: not a valid gzip file (${(e as Error).message})`);
    }
    name = name.slice(0, -3);
  }
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot) : '';
  const base = (dot >= 0 ? name.slice(0, dot) : name).toUpperCase();
  switch (ext) {
    case '.csv':
      return readCsv(bytes, { ...opts, name: opts.name ?? base });
    case '.json':
      return readDatasetJson(bytes, opts);
    case '.ndjson':
      return readDatasetNdjson(bytes, opts);
    case '.dsjc':
      return readDatasetDsjc(bytes, opts);
    case '.xpt':
      return readXpt(bytes, opts);
    default:
      throw new InputError('dataset.unsupported-format', `${filename}: unsupported file type ${JSON.stringify(ext || '(none)')}; expected one of ${SUPPORTED_EXTENSIONS.join(', ')} (optionally .gz)`);
  }
}
