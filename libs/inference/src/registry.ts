import { readFileSync, existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import * as ort from 'onnxruntime-node';
import { InputError, repoRoot, sha256Hex } from '@app/core';

/** Where the registry manifest lives (owned by libs/inference). */
export const DEFAULT_MANIFEST = 'libs/inference/models.json';

const tensorSpec = z.object({
  name: z.string().min(1),
  dtype: z.literal('float32'),
  /** -1 = any size (batch). */
  shape: z.array(z.number().int().min(-1)).min(1),
  layout: z.string().optional(),
  range: z.tuple([z.number(), z.number()]).optional(),
});
const modelEntry = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  version: z.string().min(1),
  task: z.string().min(1),
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  licence: z.string().min(1),
  citation: z.string().optional(),
  source: z.string().optional(),
  inputs: z.array(tensorSpec).min(1),
  outputs: z.array(tensorSpec).min(1),
  params: z.record(z.string(), z.unknown()).optional(),
});
const manifestSchema = z.object({ $comment: z.string().optional(), models: z.array(modelEntry) });

export type TensorSpec = z.infer<typeof tensorSpec>;
export type ModelEntry = z.infer<typeof modelEntry>;
/** Carried by every model output (stored with each derived record as `Provenance.model`). */
export interface ModelProvenance {
  id: string;
  version: string;
  sha256: string;
}
export type ExecutionProvider = 'cpu' | 'cuda';
export interface Tensor {
  data: Float32Array;
  dims: number[];
}

/**
 * The model file, licence or manifest is not what the registry says (wrong sha256, missing file, bad manifest).
 * A deployment fault, not bad input: the job fails (and is retried then marked failed), the object is not quarantined.
 */
export class ModelRegistryError extends Error {
  constructor(readonly code: string, message: string, readonly detail?: Record<string, unknown>) {
    super(message);
    this.name = 'ModelRegistryError';
  }
}

/** Reads and validates the manifest. Model ids must be unique. */
export function loadManifest(manifestPath?: string): ModelEntry[] {
  const p = manifestPath ?? join(repoRoot(), DEFAULT_MANIFEST);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new ModelRegistryError('inference.manifest-unreadable', `model manifest ${p} cannot be read as JSON: ${(e as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ModelRegistryError('inference.manifest-invalid', `model manifest ${p} is invalid: ${parsed.error.message}`);
  }
  const seen = new Set<string>();
  for (const m of parsed.data.models) {
    if (seen.has(m.id)) throw new ModelRegistryError('inference.manifest-invalid', `model manifest ${p}: duplicate id ${m.id}`);
    seen.add(m.id);
  }
  return parsed.data.models;
}

export function getModelEntry(id: string, manifest: ModelEntry[] = loadManifest()): ModelEntry {
  const m = manifest.find((x) => x.id === id);
  if (!m) {
    throw new ModelRegistryError('inference.unknown-model', `no model "${id}" in the registry (known: ${manifest.map((x) => x.id).join(', ')})`);
  }
  return m;
}

export interface LoadModelOptions {
  /** Manifest to use (default libs/inference/models.json). */
  manifestPath?: string;
  /** Folder model paths are relative to (default the repository root). */
  root?: string;
  /** Default: `INFERENCE_EP` env (`cpu` | `cuda`), else cpu. CUDA falls back to CPU with a logged warning. */
  executionProvider?: ExecutionProvider;
  /** Receives warnings (default console.warn). */
  warn?: (msg: string) => void;
}

export interface LoadedModel {
  readonly entry: ModelEntry;
  readonly provenance: ModelProvenance;
  /** The provider the session actually runs on. */
  readonly executionProvider: ExecutionProvider;
  /** Runs the model; inputs by name, checked against the manifest shapes. Every result carries provenance. */
  run(inputs: Record<string, Tensor>): Promise<{ outputs: Record<string, Tensor>; provenance: ModelProvenance }>;
  close(): Promise<void>;
}

function checkShape(kind: string, spec: TensorSpec, dims: readonly number[], modelId: string): void {
  const ok = dims.length === spec.shape.length && spec.shape.every((s, i) => s === -1 || s === dims[i]);
  if (!ok) {
    throw new InputError(
      'inference.bad-shape',
      `model ${modelId}: ${kind} "${spec.name}" has shape [${dims.join(',')}], expected [${spec.shape.map((s) => (s === -1 ? 'N' : s)).join(',')}]`,
      { model: modelId, tensor: spec.name, dims: [...dims], expected: spec.shape },
    );
  }
}

/**
 * Loads a registered model: reads the file once, verifies its sha256 against the manifest (refuses a
 * mismatch), checks the licence file is present, and creates an onnxruntime session from the verified bytes
 * (so what runs is exactly what was hashed).
 */
export async function loadModel(id: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const entry = getModelEntry(id, loadManifest(opts.manifestPath));
  const root = opts.root ?? repoRoot();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(root, p));
  const file = abs(entry.file);
  if (!existsSync(file)) throw new ModelRegistryError('inference.model-missing', `model ${id}@${entry.version}: file ${entry.file} not found under ${root}`);
  if (!existsSync(abs(entry.licence))) {
    throw new ModelRegistryError('inference.licence-missing', `model ${id}@${entry.version}: licence ${entry.licence} not found; the licence must ship with the model`);
  }
  const bytes = readFileSync(file);
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256) {
    throw new ModelRegistryError(
      'inference.sha256-mismatch',
      `model ${id}@${entry.version}: sha256 of ${entry.file} is ${actual}, the registry expects ${entry.sha256}; refusing to load a model that is not the registered one`,
      { id, version: entry.version, expected: entry.sha256, actual },
    );
  }
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const wanted: ExecutionProvider = opts.executionProvider ?? (process.env.INFERENCE_EP === 'cuda' ? 'cuda' : 'cpu');
  let session: ort.InferenceSession | undefined;
  let ep: ExecutionProvider = 'cpu';
  if (wanted === 'cuda') {
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ['cuda'] });
      ep = 'cuda';
    } catch (e) {
      warn(`inference: CUDA execution provider unavailable for ${id} (${(e as Error).message.split('\n')[0]}); falling back to CPU`);
    }
  }
  session ??= await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  const s = session;
  for (const spec of entry.inputs) {
    if (!s.inputNames.includes(spec.name)) {
      throw new ModelRegistryError('inference.manifest-mismatch', `model ${id}: manifest input "${spec.name}" not in the model (has ${s.inputNames.join(', ')})`);
    }
  }
  for (const spec of entry.outputs) {
    if (!s.outputNames.includes(spec.name)) {
      throw new ModelRegistryError('inference.manifest-mismatch', `model ${id}: manifest output "${spec.name}" not in the model (has ${s.outputNames.join(', ')})`);
    }
  }
  const provenance: ModelProvenance = Object.freeze({ id: entry.id, version: entry.version, sha256: actual });
  return {
    entry,
    provenance,
    executionProvider: ep,
    async run(inputs) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const spec of entry.inputs) {
        const t = inputs[spec.name];
        if (!t) throw new InputError('inference.missing-input', `model ${id}: input "${spec.name}" not given`);
        checkShape('input', spec, t.dims, id);
        const n = t.dims.reduce((a, b) => a * b, 1);
        if (t.data.length !== n) {
          throw new InputError('inference.bad-shape', `model ${id}: input "${spec.name}" has ${t.data.length} values, its shape [${t.dims.join(',')}] needs ${n}`);
        }
        feeds[spec.name] = new ort.Tensor('float32', t.data, t.dims);
      }
      const res = await s.run(feeds);
      const outputs: Record<string, Tensor> = {};
      for (const spec of entry.outputs) {
        const o = res[spec.name];
        outputs[spec.name] = { data: o.data as Float32Array, dims: o.dims.map(Number) };
        checkShape('output', spec, outputs[spec.name].dims, id);
      }
      return { outputs, provenance };
    },
    async close() {
      await s.release();
    },
  };
}

const cache = new Map<string, Promise<LoadedModel>>();
/** Process-wide cached `loadModel(id)` with default options (the worker calls this). */
export function getModel(id: string): Promise<LoadedModel> {
  let p = cache.get(id);
  if (!p) {
    p = loadModel(id);
    p.catch(() => cache.delete(id));
    cache.set(id, p);
  }
  return p;
}
