/**
 * Worker-thread task of the inference pool (runs under libs/core's worker-loader). Each worker keeps its
 * onnxruntime sessions, keyed by sha256 + provider + intra-op threads, for the life of the thread: a session is
 * created once (from bytes read and hashed in this thread: what runs is what was verified) and reused.
 * Input buffers arrive transferred; output buffers go back transferred (moveResult), never copied across threads.
 * Or, for callers that run the same shapes again and again (segmentVolume's windows), both live in shared memory:
 * a SharedArrayBuffer input (float32, or uint8 for a uint8-input model) is copied into this thread's reused scratch
 * (onnxruntime-node refuses shared memory) and the outputs are written into the caller's shared `into` buffers, so
 * no call allocates in either thread.
 */
import { readFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { moveResult, sha256Hex } from '@app/core';
import { createSession, isShared, ortType, sessionTensorTypes, type ExecutionProvider, type TensorData } from './registry';

export interface OrtTaskLoad {
  op: 'load';
  file: string;
  sha256: string;
  ep: ExecutionProvider;
  intraOpNumThreads?: number;
}
export interface OrtTaskRun extends Omit<OrtTaskLoad, 'op'> {
  op: 'run';
  feeds: Record<string, { data: TensorData; dims: number[] }>;
  outputNames: string[];
  /** SharedArrayBuffer-backed views to write the outputs into (each exactly the output's length). */
  into?: Record<string, Float32Array>;
}
export interface OrtTaskRelease {
  op: 'release';
  sha256: string;
}
export type OrtTask = OrtTaskLoad | OrtTaskRun | OrtTaskRelease;
export interface OrtTaskResult {
  threadId: number;
  ep: ExecutionProvider;
  /** The CUDA error when CUDA was asked for and CPU is used instead. */
  fallback?: string;
  /** True when this call created the session (false: reused). */
  created: boolean;
  inputNames: string[];
  outputNames: string[];
  /** onnxruntime's element type per input and output name (for the card check). */
  types: Record<string, string>;
  outputs?: Record<string, { data: Float32Array; dims: number[] }>;
}

interface Entry {
  session: ort.InferenceSession;
  ep: ExecutionProvider;
  fallback?: string;
}
const sessions = new Map<string, Promise<Entry>>();
/** Per input name, this thread's reused copy of shared-memory inputs (onnxruntime-node needs non-shared memory). */
const scratch = new Map<string, TensorData>();

function unshared(name: string, x: TensorData): TensorData {
  if (!isShared(x.buffer)) return x;
  const key = `${name}|${ortType(x)}`;
  let s = scratch.get(key);
  if (!s || s.length < x.length) {
    s = ortType(x) === 'uint8' ? new Uint8Array(x.length) : new Float32Array(x.length);
    scratch.set(key, s);
  }
  const view = s.length === x.length ? s : s.subarray(0, x.length);
  (view as Uint8Array).set(x as Uint8Array);
  return view;
}

async function session(t: OrtTaskLoad | OrtTaskRun): Promise<{ e: Entry; created: boolean }> {
  const key = `${t.sha256}|${t.ep}|${t.intraOpNumThreads ?? 0}`;
  let p = sessions.get(key);
  let created = false;
  if (!p) {
    created = true;
    p = (async () => {
      const bytes = readFileSync(t.file);
      const actual = sha256Hex(bytes);
      if (actual !== t.sha256) throw new Error(`inference worker: sha256 of ${t.file} is now ${actual}, expected ${t.sha256} (file changed after verification); refusing`);
      const opts: ort.InferenceSession.SessionOptions = t.intraOpNumThreads ? { intraOpNumThreads: t.intraOpNumThreads, interOpNumThreads: 1 } : {};
      return createSession(bytes, t.ep, opts);
    })();
    p.catch(() => sessions.delete(key));
    sessions.set(key, p);
  }
  return { e: await p, created };
}

export default async function ortTask(t: OrtTask): Promise<OrtTaskResult | { released: number }> {
  if (t.op === 'release') {
    let n = 0;
    for (const [k, p] of sessions) {
      if (!k.startsWith(`${t.sha256}|`)) continue;
      sessions.delete(k);
      await (await p).session.release();
      n++;
    }
    return { released: n };
  }
  const { e, created } = await session(t);
  const base = { threadId, ep: e.ep, fallback: e.fallback, created, inputNames: [...e.session.inputNames], outputNames: [...e.session.outputNames], types: sessionTensorTypes(e.session) };
  if (t.op === 'load') return base;
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, x] of Object.entries(t.feeds)) feeds[name] = new ort.Tensor(ortType(x.data), unshared(name, x.data), x.dims);
  const res = await e.session.run(feeds);
  const outputs: Record<string, { data: Float32Array; dims: number[] }> = {};
  const buffers: ArrayBuffer[] = [];
  for (const name of t.outputNames) {
    const o = res[name];
    const into = t.into?.[name];
    if (into) {
      const src = o.data as Float32Array;
      if (into.length !== src.length) {
        for (const v of Object.values(res)) v.dispose?.();
        throw new Error(`inference worker: output "${name}" has ${src.length} values, the shared buffer given for it ${into.length}`);
      }
      into.set(src);
      outputs[name] = { data: into, dims: o.dims.map(Number) };
      continue;
    }
    // copy once inside this thread into a plain ArrayBuffer we own, then move it to the caller (no cross-thread copy)
    const data = new Float32Array(o.data as Float32Array);
    outputs[name] = { data, dims: o.dims.map(Number) };
    buffers.push(data.buffer as ArrayBuffer);
  }
  for (const o of Object.values(res)) o.dispose?.();
  return moveResult({ ...base, outputs }, buffers);
}
