/**
 * Inference pool: onnxruntime-node sessions on worker threads (piscina, via libs/core's worker-loader), never on
 * the caller's event loop. Sessions are created once per worker and reused (keyed by sha256); tensors are moved
 * (transferred) to and from the workers, not copied, or live in shared memory (RunOptions.outputs).
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { InputError, WORKER_LOADER, workerResult } from '@app/core';
import { checkTensorShape, type ModelCard } from './card';
import {
  checkCardAgainstSession,
  defaultExecutionProvider,
  isShared,
  ModelRegistryError,
  resolveModel,
  warnOnce,
  type ExecutionProvider,
  type ModelProvenance,
  type RegisteredModel,
  type RegistryOptions,
  checkTensorDtype,
  type InputTensor,
  type Tensor,
  type TensorData,
} from './registry';
import type { OrtTask, OrtTaskResult } from './ort-task';

const TASK = join(__dirname, 'ort-task');

export interface InferencePoolOptions extends RegistryOptions {
  /** Worker threads (pool size). Default env INFERENCE_THREADS, else defaultInferenceThreads(provider). */
  threads?: number;
  /**
   * onnxruntime intra-op threads per session. Default env INFERENCE_INTRAOP_THREADS, else 1 when the pool has several
   * threads (they share the cores), else onnxruntime's default.
   */
  intraOpNumThreads?: number;
  /** Default env INFERENCE_EP (cpu | cuda), else cpu. CUDA falls back to CPU with one warning per process. */
  executionProvider?: ExecutionProvider;
  /** Items per session.run in runBatch (and the default batch of sliding windows). Default env INFERENCE_BATCH, else 4. */
  batchSize?: number;
  /** Receives warnings (default console.warn). */
  warn?: (msg: string) => void;
}

export interface RunOptions {
  /** Copy the inputs to the worker instead of transferring them (default false: the caller's input buffers are detached after the call). */
  keepInputs?: boolean;
  /**
   * Shared-memory outputs: per output name a Float32Array over a SharedArrayBuffer, exactly the output's length. The
   * worker writes the result into it and run() returns views of these same buffers: nothing is allocated or moved
   * per call (segmentVolume's windows). Inputs over a SharedArrayBuffer are likewise read in place, never detached;
   * the caller must leave both alone until run() settles.
   */
  outputs?: Record<string, Float32Array>;
}

export interface ModelHandle {
  readonly card: ModelCard;
  readonly provenance: ModelProvenance;
  /** The provider the sessions run on (after any CUDA fallback). */
  readonly executionProvider: ExecutionProvider;
  /** Items per session.run in runBatch. */
  readonly batchSize: number;
  /** Worker threads of the pool (how many runs can go at once). */
  readonly threads: number;
  /** run() accepts shared-memory inputs and `outputs` (RunOptions). */
  readonly sharedMemory: true;
  /** One session.run on a worker; inputs by name, shapes checked against the card (InputError 'inference.bad-shape'). */
  run(inputs: Record<string, InputTensor>, opts?: RunOptions): Promise<{ outputs: Record<string, Tensor>; provenance: ModelProvenance }>;
  /**
   * Many items (each with its own batch dim, usually 1): concatenated along the batch dim into runs of at most
   * `batchSize` items, spread over the pool's threads, and split back per item (same order).
   */
  runBatch(items: Record<string, InputTensor>[], opts?: { batchSize?: number }): Promise<{ outputs: Record<string, Tensor>[]; provenance: ModelProvenance }>;
  /** Releases this model's sessions on the workers that have it (the pool stays open). */
  close(): Promise<void>;
}

export interface PoolStats {
  /** Sessions created so far (all workers). */
  sessionsCreated: number;
  /** session.run calls done. */
  runs: number;
  /** Worker thread ids that ran something (never the caller's thread). */
  threadIds: number[];
}

export interface InferencePool {
  readonly threads: number;
  /** Intra-op threads per session (undefined: onnxruntime's default). */
  readonly intraOpNumThreads: number | undefined;
  /** A handle to a registered model: "id", "id@version", a verified RegisteredModel or its card. */
  model(ref: string | RegisteredModel | ModelCard): Promise<ModelHandle>;
  stats(): PoolStats;
  close(): Promise<void>;
}

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InputError('inference.bad-option', `${name} must be a positive integer, got "${v}"`);
  return n;
};

/**
 * Pool threads when nothing is configured: on CPU one session per core, up to 4, each with one intra-op thread. The
 * shipped models are small: one session does not keep two cores busy (onnxruntime's default intra-op threads ran the
 * CT model as fast as one thread), while two single-threaded sessions ran a CT volume 1.6x faster on 2 cores, with
 * the same results (libs/inference/README.md). On CUDA one session: the GPU runs the batch.
 */
export function defaultInferenceThreads(ep: ExecutionProvider): number {
  return ep === 'cpu' ? Math.max(1, Math.min(4, availableParallelism())) : 1;
}

export function createInferencePool(opts: InferencePoolOptions = {}): InferencePool {
  const ep = opts.executionProvider ?? defaultExecutionProvider();
  const threads = opts.threads ?? envInt('INFERENCE_THREADS') ?? defaultInferenceThreads(ep);
  const intraOp = opts.intraOpNumThreads ?? envInt('INFERENCE_INTRAOP_THREADS') ?? (threads > 1 ? 1 : undefined);
  const batchSize = opts.batchSize ?? envInt('INFERENCE_BATCH') ?? 4;
  for (const [k, v] of Object.entries({ threads, batchSize, intraOpNumThreads: intraOp ?? 1 })) {
    if (!Number.isInteger(v) || v < 1) throw new InputError('inference.bad-option', `createInferencePool: ${k} must be a positive integer, got ${v}`);
  }
  const piscina = new Piscina({ filename: WORKER_LOADER, minThreads: threads, maxThreads: threads, idleTimeout: 30_000, concurrentTasksPerWorker: 1 });
  const stats = { sessionsCreated: 0, runs: 0, threadIds: new Set<number>() };
  let closed = false;

  const exec = async (t: OrtTask, transfer: ArrayBuffer[] = []): Promise<OrtTaskResult> => {
    if (closed) throw new Error('inference pool is closed');
    const r = workerResult<OrtTaskResult>(await piscina.run({ task: TASK, payload: t }, transfer.length ? { transferList: transfer } : {}));
    if (r.created) stats.sessionsCreated++;
    if (typeof r.threadId === 'number') stats.threadIds.add(r.threadId);
    if (r.fallback) warnOnce('cuda-fallback', `inference: CUDA execution provider unavailable (${r.fallback}); falling back to CPU`, opts.warn);
    return r;
  };

  async function model(ref: string | RegisteredModel | ModelCard): Promise<ModelHandle> {
    let m: RegisteredModel;
    if (typeof ref === 'string') m = resolveModel(ref, opts);
    else if ('dir' in ref && 'card' in ref) m = ref as RegisteredModel;
    else {
      const c = ref as ModelCard;
      m = resolveModel(`${c.id}@${c.version}`, opts);
      if (m.sha256 !== c.sha256) throw new ModelRegistryError('inference.sha256-mismatch', `model ${c.id}@${c.version}: the card given says sha256 ${c.sha256}, the registered model is ${m.sha256}`);
    }
    const label = `${m.id}@${m.version}`;
    const card = m.card;
    const base = { file: m.file, sha256: m.sha256, ep, intraOpNumThreads: intraOp };
    const loaded = await exec({ op: 'load', ...base });
    checkCardAgainstSession(m, loaded.inputNames, loaded.outputNames, loaded.types);
    const inSpecs = Object.entries(card.network_data_format.inputs);
    const outSpecs = Object.entries(card.network_data_format.outputs);
    const outputNames = outSpecs.map(([n]) => n);

    const check = (inputs: Record<string, InputTensor>) => {
      if (!inputs || typeof inputs !== 'object') throw new InputError('inference.missing-input', `model ${label}: inputs must be an object of named tensors`);
      for (const [name, spec] of inSpecs) {
        const t = inputs[name];
        if (!t) throw new InputError('inference.missing-input', `model ${label}: input "${name}" not given (the card names ${inSpecs.map(([n]) => n).join(', ')})`, { model: label, tensor: name });
        checkTensorDtype(label, name, spec.dtype, t.data);
        checkTensorShape(label, 'input', name, spec, t.dims, t.data.length);
      }
      for (const k of Object.keys(inputs)) {
        if (!card.network_data_format.inputs[k]) throw new InputError('inference.unknown-input', `model ${label}: no input "${k}" (the card names ${inSpecs.map(([n]) => n).join(', ')})`, { model: label, tensor: k });
      }
    };

    const runChecked = async (inputs: Record<string, InputTensor>, keep: boolean, outBuffers?: Record<string, Float32Array>) => {
      const feeds: Record<string, InputTensor> = {};
      const transfer: ArrayBuffer[] = [];
      for (const [name] of inSpecs) {
        const t = inputs[name];
        // transfer only a buffer the tensor owns completely; otherwise (a view into a larger buffer, a shared one,
        // or keepInputs) send a compact copy so nothing else of the caller's is detached
        if (isShared(t.data.buffer)) {
          feeds[name] = { data: t.data, dims: [...t.dims] }; // shared: the worker reads it in place
          continue;
        }
        const owns = !keep && t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength;
        const data = owns ? t.data : (t.data.slice() as TensorData);
        feeds[name] = { data, dims: [...t.dims] };
        if (!transfer.includes(data.buffer as ArrayBuffer)) transfer.push(data.buffer as ArrayBuffer);
      }
      let into: Record<string, Float32Array> | undefined;
      if (outBuffers) {
        into = {};
        for (const [name, b] of Object.entries(outBuffers)) {
          if (!outSpecs.some(([n]) => n === name)) throw new InputError('inference.bad-option', `model ${label}: run outputs names "${name}", not an output of the card`);
          if (Object.prototype.toString.call(b) !== '[object Float32Array]' || !isShared(b.buffer)) throw new InputError('inference.bad-option', `model ${label}: run outputs.${name} must be a Float32Array over a SharedArrayBuffer`);
          into[name] = b;
        }
      }
      const r = await exec({ op: 'run', ...base, feeds, outputNames, ...(into ? { into } : {}) }, transfer);
      stats.runs++;
      const outputs = r.outputs as Record<string, Tensor>;
      for (const [name, spec] of outSpecs) checkTensorShape(label, 'output', name, spec, outputs[name].dims, outputs[name].data.length);
      return outputs;
    };

    return {
      card,
      provenance: m.provenance,
      executionProvider: loaded.ep,
      batchSize,
      threads,
      sharedMemory: true,
      async run(inputs, ro = {}) {
        check(inputs);
        return { outputs: await runChecked(inputs, !!ro.keepInputs, ro.outputs), provenance: m.provenance };
      },
      async runBatch(items, bo = {}) {
        const bs = bo.batchSize ?? batchSize;
        if (!Number.isInteger(bs) || bs < 1) throw new InputError('inference.bad-option', `runBatch: batchSize must be a positive integer, got ${bs}`);
        items.forEach((it) => check(it));
        const chunks: Record<string, InputTensor>[][] = [];
        for (let i = 0; i < items.length; i += bs) chunks.push(items.slice(i, i + bs));
        const results = await Promise.all(
          chunks.map(async (chunk) => {
            const inputs: Record<string, InputTensor> = {};
            for (const [name, spec] of inSpecs) {
              const parts = chunk.map((c) => c[name]);
              const n = parts.reduce((a, p) => a + p.dims[0], 0);
              const len = parts.reduce((a, p) => a + p.data.length, 0);
              const data: TensorData = spec.dtype === 'uint8' ? new Uint8Array(len) : new Float32Array(len);
              let off = 0;
              for (const p of parts) {
                (data as Uint8Array).set(p.data as Uint8Array, off);
                off += p.data.length;
              }
              inputs[name] = { data, dims: [n, ...parts[0].dims.slice(1)] };
              for (const p of parts.slice(1)) {
                if (p.dims.slice(1).join() !== parts[0].dims.slice(1).join()) {
                  throw new InputError('inference.bad-shape', `model ${label}: runBatch items of input "${name}" differ in shape ([${p.dims}] vs [${parts[0].dims}]); batch them separately`, { model: label, tensor: name });
                }
              }
            }
            const out = await runChecked(inputs, false);
            // split back per item along dim 0
            const per: Record<string, Tensor>[] = chunk.map(() => ({}));
            for (const name of outputNames) {
              const o = out[name];
              const itemSize = o.data.length / o.dims[0];
              let row = 0;
              chunk.forEach((c, k) => {
                const n = c[inSpecs[0][0]].dims[0];
                per[k][name] = { data: o.data.slice(row * itemSize, (row + n) * itemSize), dims: [n, ...o.dims.slice(1)] };
                row += n;
              });
            }
            return per;
          }),
        );
        return { outputs: results.flat(), provenance: m.provenance };
      },
      async close() {
        // release on every worker that may hold it: one release task per thread (idle workers pick them up)
        await Promise.all(Array.from({ length: threads }, () => exec({ op: 'release', sha256: m.sha256 } as OrtTask).catch(() => undefined)));
      },
    };
  }

  return {
    threads,
    intraOpNumThreads: intraOp,
    model,
    stats: () => ({ sessionsCreated: stats.sessionsCreated, runs: stats.runs, threadIds: [...stats.threadIds].sort((a, b) => a - b) }),
    async close() {
      if (closed) return;
      closed = true;
      await piscina.destroy();
    },
  };
}
