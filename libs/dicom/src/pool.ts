import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { InputError, WORKER_LOADER, workerResult } from '@app/core';
import type { DecodeLimits } from './decode';
import type { DicomHeader } from './parse';
import type { DecodeResult, DecodeTask, HeaderResult, PoolError, PoolResult, PoolTask } from './pool-task';
import { planVolume, sliceRefs, volumeFromPlan, type BuildVolumeOptions, type SliceWithValues, type Volume } from './volume';

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
const POOL_TASK = join(__dirname, 'pool-task');
const toInputError = (r: PoolError): InputError => new InputError(r.error.code, `${r.path}: ${r.error.message}`, r.error.detail);
const frameCount = (h: DicomHeader): number => (Number.isFinite(h.image.numberOfFrames) ? h.image.numberOfFrames : 1);

export class DicomPool {
  private readonly pool: Piscina;
  private readonly limits?: Partial<DecodeLimits>;
  private readonly nThreads: number;

  constructor(opts: DicomPoolOptions = {}) {
    const threads = Math.max(1, opts.threads ?? availableParallelism());
    this.nThreads = threads;
    this.limits = opts.limits;
    this.pool = new Piscina({ filename: WORKER_LOADER, minThreads: threads, maxThreads: threads, concurrentTasksPerWorker: 1 });
  }

  /** Splits work into about 4 batches per thread: few thread round trips, still balanced. */
  private chunks<T>(xs: T[]): T[][] {
    const size = Math.max(1, Math.ceil(xs.length / (this.nThreads * 4)));
    const out: T[][] = [];
    for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
    return out;
  }

  /** One task on a pool thread (the generic worker entry runs pool-task's default export). */
  private async run(task: PoolTask): Promise<unknown> {
    return workerResult(await this.pool.run({ task: POOL_TASK, payload: task }));
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  /** Parses and decodes every file; bad files come back with their InputError (nothing is thrown for them). */
  async loadFiles(paths: string[], headerOnly = false): Promise<LoadedInstance[]> {
    return Promise.all(
      paths.map(async (path): Promise<LoadedInstance> => {
        const task: PoolTask = { path, limits: this.limits, headerOnly };
        const r = (await this.run(task)) as PoolResult;
        if (!r.ok) return { path, error: toInputError(r) };
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

  /**
   * Builds the HU volume of one series from its files, in two parallel phases: (1) headers only (a
   * prefix of each file) -> sort, geometry checks, flags and the memory limit, before any pixel is
   * decoded; (2) each worker decodes its frames straight into the volume's SharedArrayBuffer at their
   * sorted position (no copies through the main thread). `Volume.data` is backed by that
   * SharedArrayBuffer.
   */
  async buildVolumeFromFiles(paths: string[], opts: VolumeFromFilesOptions = {}): Promise<Volume> {
    const heads = (
      await Promise.all(
        this.chunks(paths).map((c) => this.run({ kind: 'headers', tasks: c.map((path) => ({ kind: 'header', path, limits: this.limits })) } as PoolTask)),
      )
    ).flat() as HeaderResult[];
    const bad = heads.filter((h): h is PoolError => !h.ok);
    if (bad.length && (opts.onBadInstance ?? 'throw') === 'throw') throw toInputError(bad[0]);
    const good = heads.filter((h): h is Extract<HeaderResult, { ok: true }> => h.ok);
    const refs = sliceRefs(good);
    const owner: string[] = good.flatMap((g) => Array.from({ length: frameCount(g.header) }, () => g.path));
    const plan = planVolume(refs, opts);
    const per = plan.dims[0] * plan.dims[1];
    const decodeInto = async (dtype: 'int16' | 'float32'): Promise<SharedArrayBuffer | undefined> => {
      const target = new SharedArrayBuffer(per * plan.dims[2] * (dtype === 'int16' ? 2 : 4));
      const byFile = new Map<string, Array<{ frameIndex: number; offset: number }>>();
      plan.order.forEach((i, k) => {
        const path = owner[i];
        if (!byFile.has(path)) byFile.set(path, []);
        byFile.get(path)!.push({ frameIndex: refs[i].frameIndex, offset: k * per });
      });
      const tasks: DecodeTask[] = [...byFile].map(([path, frames]) => ({ kind: 'decode', path, limits: this.limits, target, dtype, frames }));
      const res = (await Promise.all(this.chunks(tasks).map((c) => this.run({ kind: 'decodes', tasks: c } as PoolTask)))).flat() as DecodeResult[];
      const err = res.find((r): r is PoolError => !r.ok);
      if (err) throw toInputError(err);
      return res.some((r) => r.ok && r.needsFloat) ? undefined : target;
    };
    let data: Int16Array | Float32Array;
    const i16 = await decodeInto('int16');
    if (i16) data = new Int16Array(i16);
    else data = new Float32Array((await decodeInto('float32'))!);
    const vol: Volume = volumeFromPlan(plan, refs, data);
    for (const b of bad) vol.flags.push(`unreadable-instance: ${b.error.code}: ${b.path}: ${b.error.message}; left out of the volume`);
    return vol;
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
