import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { InputError } from '@app/core';
import type { DecodeLimits } from './decode';
import type { DicomHeader } from './parse';
import type { PoolResult, PoolTask } from './pool-task';
import { buildVolumeFromSlices, type BuildVolumeOptions, type SliceWithValues, type Volume } from './volume';

export interface DicomPoolOptions {
  /** Worker threads. Default: all cores (os.availableParallelism()). */
  threads?: number;
  limits?: Partial<DecodeLimits>;
}

export type LoadedInstance =
  | { path: string; header: DicomHeader; slices: SliceWithValues[]; error?: undefined }
  | { path: string; error: InputError; header?: undefined; slices?: undefined };

export interface VolumeFromFilesOptions extends BuildVolumeOptions {
  /** 'throw' (default): the first unreadable file throws its InputError; 'flag': it is left out and flagged. */
  onBadInstance?: 'throw' | 'flag';
}

/**
 * A worker-thread pool (piscina) that reads, parses and decodes DICOM files in parallel. Each thread
 * initialises the WASM codecs once. Call `destroy()` when done.
 */
export class DicomPool {
  private readonly pool: Piscina;
  private readonly limits?: Partial<DecodeLimits>;

  constructor(opts: DicomPoolOptions = {}) {
    const threads = Math.max(1, opts.threads ?? availableParallelism());
    this.limits = opts.limits;
    this.pool = new Piscina({ filename: join(__dirname, 'pool-worker.js'), minThreads: threads, maxThreads: threads });
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  /** Parses and decodes every file; bad files come back with their InputError (nothing is thrown for them). */
  async loadFiles(paths: string[], headerOnly = false): Promise<LoadedInstance[]> {
    return Promise.all(
      paths.map(async (path): Promise<LoadedInstance> => {
        const task: PoolTask = { path, limits: this.limits, headerOnly };
        const r = (await this.pool.run(task)) as PoolResult;
        if (!r.ok) return { path, error: new InputError(r.error.code, `${path}: ${r.error.message}`, r.error.detail) };
        const slices: SliceWithValues[] = r.frames.map((f) => ({
          sopInstanceUid: r.header.instance.sopInstanceUid ?? path,
          frameIndex: f.frameIndex,
          seriesInstanceUid: r.header.series.seriesInstanceUid,
          rows: r.header.image.rows ?? 0,
          columns: r.header.image.columns ?? 0,
          geometry: f.geometry,
          values: f.values,
        }));
        return { path, header: r.header, slices };
      }),
    );
  }

  /** Loads the files of one series in parallel and builds its HU volume. */
  async buildVolumeFromFiles(paths: string[], opts: VolumeFromFilesOptions = {}): Promise<Volume> {
    const loaded = await this.loadFiles(paths);
    const bad = loaded.filter((l) => l.error);
    if (bad.length && (opts.onBadInstance ?? 'throw') === 'throw') throw bad[0].error!;
    const slices = loaded.flatMap((l) => l.slices ?? []);
    const vol = buildVolumeFromSlices(slices, opts);
    for (const b of bad) vol.flags.push(`unreadable-instance: ${b.error!.code}: ${b.error!.message}; left out of the volume`);
    return vol;
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
