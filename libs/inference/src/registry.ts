/**
 * Model registry built from folders: models/<id>/<version>/{model.onnx, card.json, licence files}. Dropping a
 * complete folder in is all it takes to add a model; a folder that fails any check is refused as a whole (never
 * half-loaded) and listed with its reason, without stopping the others.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError, repoRoot, sha256Hex } from '@app/core';
import {
  cardConsistencyErrors,
  cardSchemaErrors,
  checkTensorShape,
  expectedDims,
  licenceProblem,
  tensorLayout,
  type CardTensor,
  type ModelCard,
  type TensorDtype,
} from './card';

/** Realm-independent (jest's vm contexts, worker messages): is this buffer a SharedArrayBuffer? */
export function isShared(b: ArrayBufferLike): b is SharedArrayBuffer {
  return Object.prototype.toString.call(b) === '[object SharedArrayBuffer]';
}

/** Carried by every model output (stored with each derived record as `Provenance.model`). */
export interface ModelProvenance {
  id: string;
  version: string;
  sha256: string;
}
export type ExecutionProvider = 'cpu' | 'cuda';
/** What an input tensor may hold: float32, or uint8 for a model whose card says so (raw 8-bit image pixels). */
export type TensorData = Float32Array | Uint8Array;
/** A tensor; outputs are always float32, inputs are what the card's dtype says. */
export interface Tensor<D extends TensorData = Float32Array> {
  data: D;
  dims: number[];
}
/** An input tensor (Float32Array or Uint8Array data, as the card's dtype says). */
export type InputTensor = Tensor<TensorData>;

const typeName = (x: unknown) => Object.prototype.toString.call(x).slice(8, -1);
/**
 * Throws InputError 'inference.bad-dtype' unless `data` is the typed array the card's dtype asks for (Float32Array for
 * float32, Uint8Array for uint8). Realm-independent (jest contexts, worker messages).
 */
export function checkTensorDtype(model: string, name: string, dtype: TensorDtype, data: unknown): void {
  const want = dtype === 'uint8' ? 'Uint8Array' : 'Float32Array';
  if (typeName(data) !== want) throw new InputError('inference.bad-dtype', `model ${model}: input "${name}" must be a ${want} (card dtype ${dtype}), got ${typeName(data)}`, { model, tensor: name, dtype });
}
/** The onnxruntime tensor type of input data (Uint8Array: 'uint8', else 'float32'). */
export const ortType = (data: TensorData): 'uint8' | 'float32' => (typeName(data) === 'Uint8Array' ? 'uint8' : 'float32');

/**
 * A model folder, file, card or licence is not what it must be (wrong sha256, missing file, invalid card,
 * licence not allowed, unknown model). A deployment fault, not bad input: the job fails (and is retried then
 * marked failed), the object is not quarantined. `code` is stable; the message names the folder.
 */
export class ModelRegistryError extends Error {
  constructor(readonly code: string, message: string, readonly detail?: Record<string, unknown>) {
    super(message);
    this.name = 'ModelRegistryError';
  }
}

export interface RegistryOptions {
  /** Folder holding <id>/<version>/ model folders. Default: env MODELS_DIR, else <repo root>/models. */
  modelsDir?: string;
}

/** A model folder that passed every check. */
export interface RegisteredModel {
  id: string;
  version: string;
  /** Absolute path of the version folder. */
  dir: string;
  /** Absolute path of model.onnx. */
  file: string;
  card: ModelCard;
  /** sha256 of model.onnx as hashed now (equal to card.sha256). */
  sha256: string;
  provenance: ModelProvenance;
}
/** A folder the registry refused, with the reason. */
export interface RefusedFolder {
  /** `<id>/<version>` (or `<id>`) relative to the models folder. */
  folder: string;
  dir: string;
  code: string;
  reason: string;
}

export function modelsDir(opts: RegistryOptions = {}): string {
  const d = opts.modelsDir ?? process.env.MODELS_DIR ?? join(repoRoot(), 'models');
  return isAbsolute(d) ? d : resolve(repoRoot(), d);
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$/;
export const isSemver = (v: string) => SEMVER.test(v);
/** Semantic-version order (pre-releases before their release, compared field by field). */
export function compareSemver(a: string, b: string): number {
  const ma = SEMVER.exec(a);
  const mb = SEMVER.exec(b);
  if (!ma || !mb) throw new RangeError(`compareSemver: not semver: ${!ma ? a : b}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(ma[i]) - Number(mb[i]);
    if (d) return d < 0 ? -1 : 1;
  }
  const pa = ma[4];
  const pb = mb[4];
  if (pa === pb) return 0;
  if (pa === undefined) return 1;
  if (pb === undefined) return -1;
  const xa = pa.split('.');
  const xb = pb.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    if (xa[i] === undefined) return -1;
    if (xb[i] === undefined) return 1;
    const na = /^\d+$/.test(xa[i]);
    const nb = /^\d+$/.test(xb[i]);
    if (na && nb && Number(xa[i]) !== Number(xb[i])) return Number(xa[i]) < Number(xb[i]) ? -1 : 1;
    if (na !== nb) return na ? -1 : 1;
    if (xa[i] !== xb[i]) return xa[i] < xb[i] ? -1 : 1;
  }
  return 0;
}

const refuse = (code: string, folder: string, msg: string, detail?: Record<string, unknown>) =>
  new ModelRegistryError(code, `model folder ${folder}: ${msg}`, { folder, ...detail });

/**
 * Checks one version folder completely and returns it, or throws ModelRegistryError naming the folder:
 * inference.card-missing | card-invalid (JSON or schema: the ajv errors are listed) | card-mismatch (id/version
 * vs folder) | licence-noncommercial | licence-unknown | licence-unjustified | licence-missing | model-missing |
 * sha256-mismatch. `bytes`: the model bytes that were hashed (so a caller can create the session from exactly them).
 */
export function verifyModelFolder(dir: string, opts: { folder?: string; keepBytes?: boolean } = {}): RegisteredModel & { bytes?: Buffer } {
  const parts = dir.split(/[\\/]/).filter(Boolean);
  const version = parts[parts.length - 1];
  const id = parts[parts.length - 2];
  const folder = opts.folder ?? `${id}/${version}`;
  const cardPath = join(dir, 'card.json');
  if (!existsSync(cardPath)) throw refuse('inference.card-missing', folder, 'card.json is missing');
  let card: ModelCard;
  try {
    card = JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
  } catch (e) {
    throw refuse('inference.card-invalid', folder, `card.json is not valid JSON: ${(e as Error).message}`);
  }
  const schemaErrors = cardSchemaErrors(card);
  if (schemaErrors.length) {
    throw refuse('inference.card-invalid', folder, `card.json fails libs/inference/card.schema.json: ${schemaErrors.join('; ')}`, { errors: schemaErrors });
  }
  if (card.id !== id || card.version !== version) {
    throw refuse('inference.card-mismatch', folder, `card.json says ${card.id}@${card.version}; the folder is ${id}/${version} (they must match)`);
  }
  const consistency = cardConsistencyErrors(card);
  if (consistency.length) throw refuse('inference.card-invalid', folder, `card.json is inconsistent: ${consistency.join('; ')}`, { errors: consistency });
  const lic = licenceProblem(card);
  if (lic) throw refuse(lic.code, folder, lic.reason);
  const missingLicences = card.licence.files.filter((f) => !existsSync(join(dir, f)) || statSync(join(dir, f)).size === 0);
  if (missingLicences.length) {
    throw refuse('inference.licence-missing', folder, `licence file(s) ${missingLicences.join(', ')} missing or empty; licences must ship with the model`);
  }
  const file = join(dir, 'model.onnx');
  if (!existsSync(file)) throw refuse('inference.model-missing', folder, 'model.onnx is missing');
  const bytes = readFileSync(file);
  const actual = sha256Hex(bytes);
  if (actual !== card.sha256) {
    throw refuse(
      'inference.sha256-mismatch',
      folder,
      `sha256 of model.onnx is ${actual}, card.json says ${card.sha256}; refusing a model that is not the registered one`,
      { expected: card.sha256, actual },
    );
  }
  const provenance: ModelProvenance = Object.freeze({ id, version, sha256: actual });
  return { id, version, dir, file, card, sha256: actual, provenance, ...(opts.keepBytes ? { bytes } : {}) };
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Scans the models folder. Every <id>/<version>/ folder is verified (verifyModelFolder); good ones are listed
 * (sorted by id, then version descending), bad ones go to `refused` with their code and reason. Never throws
 * for a bad folder; throws ModelRegistryError('inference.models-dir-missing') when the folder itself is absent.
 */
export function listModels(opts: RegistryOptions = {}): { modelsDir: string; models: RegisteredModel[]; refused: RefusedFolder[] } {
  const root = modelsDir(opts);
  if (!isDir(root)) throw new ModelRegistryError('inference.models-dir-missing', `models folder ${root} does not exist (set MODELS_DIR or create it)`);
  const models: RegisteredModel[] = [];
  const refused: RefusedFolder[] = [];
  for (const id of readdirSync(root).sort()) {
    const idDir = join(root, id);
    if (id.startsWith('.') || !isDir(idDir)) continue;
    const versions = readdirSync(idDir).filter((v) => !v.startsWith('.') && isDir(join(idDir, v))).sort();
    if (!versions.length) {
      refused.push({ folder: id, dir: idDir, code: 'inference.no-versions', reason: `model folder ${id}: no <version>/ folder inside (expected ${id}/<semver>/model.onnx, card.json, licence)` });
      continue;
    }
    for (const v of versions) {
      const folder = `${id}/${v}`;
      const dir = join(idDir, v);
      if (!/^[a-z0-9][a-z0-9-]*$/.test(id) || !isSemver(v)) {
        refused.push({ folder, dir, code: 'inference.bad-folder', reason: `model folder ${folder}: expected <id>/<semver> with id in [a-z0-9-] and a version like 1.2.3` });
        continue;
      }
      try {
        const m = verifyModelFolder(dir, { folder });
        models.push(m);
      } catch (e) {
        const err = e as ModelRegistryError;
        refused.push({ folder, dir, code: err.code ?? 'inference.folder-error', reason: err.message });
      }
    }
  }
  models.sort((a, b) => (a.id === b.id ? compareSemver(b.version, a.version) : a.id < b.id ? -1 : 1));
  return { modelsDir: root, models, refused };
}

/** Splits "id" or "id@version". */
export function parseModelRef(ref: string): { id: string; version?: string } {
  const at = ref.indexOf('@');
  return at < 0 ? { id: ref } : { id: ref.slice(0, at), version: ref.slice(at + 1) };
}

/**
 * Finds a model by "id" (the highest semver version folder of that id) or "id@version" and verifies it.
 * The highest version is chosen among ALL version folders of the id: if that folder is refused, its refusal is
 * thrown (an older version is never used silently); ask for "id@version" to pin an older one.
 */
export function resolveModel(ref: string, opts: RegistryOptions & { keepBytes?: boolean } = {}): RegisteredModel & { bytes?: Buffer } {
  const { id, version } = parseModelRef(ref);
  const root = modelsDir(opts);
  const idDir = join(root, id);
  const known = () => (isDir(root) ? readdirSync(root).filter((x) => !x.startsWith('.') && isDir(join(root, x))).join(', ') : '(no models folder)');
  if (!/^[a-z0-9][a-z0-9-]*$/.test(id) || !isDir(idDir)) {
    throw new ModelRegistryError('inference.unknown-model', `no model "${id}" in ${root} (known: ${known()})`, { id });
  }
  const versions = readdirSync(idDir).filter((v) => isSemver(v) && isDir(join(idDir, v)));
  let v = version;
  if (v === undefined) {
    if (!versions.length) throw new ModelRegistryError('inference.unknown-model', `model "${id}" has no <semver>/ version folder in ${idDir}`, { id });
    v = versions.sort(compareSemver)[versions.length - 1];
  } else if (!versions.includes(v)) {
    throw new ModelRegistryError('inference.unknown-model', `no version ${v} of model "${id}" (has ${versions.join(', ') || 'none'})`, { id, version: v });
  }
  return verifyModelFolder(join(idDir, v), { keepBytes: opts.keepBytes });
}

/* ------------------------------------------------------------------------------------------------------------
 * In-process loading (kept for the tissue detector and small models; heavy or batched work: createInferencePool)
 * ---------------------------------------------------------------------------------------------------------- */

/** Legacy manifest-style view of a card (what `LoadedModel.entry` used to be). */
export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  /** -1 = any size. */
  shape: number[];
  layout?: string;
  range?: [number, number];
}
export interface ModelEntry {
  id: string;
  version: string;
  task: string;
  /** Absolute path of model.onnx. */
  file: string;
  sha256: string;
  /** SPDX id of the weights licence. */
  licence: string;
  source?: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** card.postprocessing (e.g. `threshold`). */
  params?: Record<string, unknown>;
}

function specOf(name: string, t: CardTensor): TensorSpec {
  const r = t.value_range;
  return {
    name,
    dtype: t.dtype,
    shape: expectedDims(t).map((d) => (typeof d === 'number' ? d : -1)),
    layout: tensorLayout(t),
    ...(r && r[0] !== null && r[1] !== null ? { range: [r[0], r[1]] as [number, number] } : {}),
  };
}
export function entryOf(m: RegisteredModel): ModelEntry {
  const c = m.card;
  return {
    id: m.id,
    version: m.version,
    task: c.task,
    file: m.file,
    sha256: m.sha256,
    licence: c.licence.weights,
    source: c.source,
    inputs: Object.entries(c.network_data_format.inputs).map(([n, t]) => specOf(n, t)),
    outputs: Object.entries(c.network_data_format.outputs).map(([n, t]) => specOf(n, t)),
    params: { ...(c.postprocessing ?? {}) },
  };
}

const warned = new Set<string>();
/** Logs `msg` once per process for `key` (the CUDA fallback warning). */
export function warnOnce(key: string, msg: string, warn: (m: string) => void = (m) => console.warn(m)): void {
  if (warned.has(key)) return;
  warned.add(key);
  warn(msg);
}

/**
 * What ran a model, for an AI run's provenance beside the model's { id, version, sha256 }: the onnxruntime build and
 * the execution provider the sessions really used (after any CUDA fallback). CPU and CUDA kernels round differently,
 * so two runs of the same model on the same input can differ in the last bits of a probability.
 */
export interface InferenceRuntime {
  onnxruntime: string;
  executionProvider: ExecutionProvider;
}
export function inferenceRuntime(h: { executionProvider: ExecutionProvider }): InferenceRuntime {
  return { onnxruntime: ort.env.versions.node ?? ort.env.versions.common, executionProvider: h.executionProvider };
}

/** `INFERENCE_EP` (cpu | cuda), default cpu. */
export function defaultExecutionProvider(): ExecutionProvider {
  return process.env.INFERENCE_EP === 'cuda' ? 'cuda' : 'cpu';
}

/** Creates a session on the wanted provider; CUDA falls back to CPU (reason returned). */
export async function createSession(
  bytes: Uint8Array,
  wanted: ExecutionProvider,
  extra: ort.InferenceSession.SessionOptions = {},
): Promise<{ session: ort.InferenceSession; ep: ExecutionProvider; fallback?: string }> {
  if (wanted === 'cuda') {
    try {
      return { session: await ort.InferenceSession.create(bytes, { ...extra, executionProviders: ['cuda'] }), ep: 'cuda' };
    } catch (e) {
      const session = await ort.InferenceSession.create(bytes, { ...extra, executionProviders: ['cpu'] });
      return { session, ep: 'cpu', fallback: (e as Error).message.split('\n')[0] };
    }
  }
  return { session: await ort.InferenceSession.create(bytes, { ...extra, executionProviders: ['cpu'] }), ep: 'cpu' };
}

/** Throws ModelRegistryError('inference.card-mismatch') when the card's tensor names are not the model's. */
export function checkCardAgainstSession(
  m: Pick<RegisteredModel, 'id' | 'version' | 'card'>,
  inputNames: readonly string[],
  outputNames: readonly string[],
  /** onnxruntime's element type per tensor name (session.inputMetadata / outputMetadata), where it reports one. */
  types: Record<string, string> = {},
): void {
  const cardTypes = (kind: 'input' | 'output', names: readonly string[], specs: Record<string, CardTensor>) => {
    for (const [n, t] of Object.entries(specs)) {
      if (!names.includes(n)) throw new ModelRegistryError('inference.card-mismatch', `model folder ${m.id}/${m.version}: card ${kind} "${n}" is not an ${kind} of model.onnx (has ${names.join(', ')})`);
      const actual = types[n];
      if (actual && actual !== t.dtype) throw new ModelRegistryError('inference.card-mismatch', `model folder ${m.id}/${m.version}: card ${kind} "${n}" has dtype ${t.dtype}, model.onnx's is ${actual}`);
    }
  };
  cardTypes('input', inputNames, m.card.network_data_format.inputs);
  cardTypes('output', outputNames, m.card.network_data_format.outputs);
}

/** onnxruntime's element type of each tensor input and output of a session, by name (for checkCardAgainstSession). */
export function sessionTensorTypes(s: Pick<ort.InferenceSession, 'inputMetadata' | 'outputMetadata'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const md of [...(s.inputMetadata ?? []), ...(s.outputMetadata ?? [])]) if (md.isTensor) out[md.name] = md.type;
  return out;
}

export interface LoadModelOptions extends RegistryOptions {
  /** Default: `INFERENCE_EP` env (`cpu` | `cuda`), else cpu. CUDA falls back to CPU with one logged warning per process. */
  executionProvider?: ExecutionProvider;
  /** Receives warnings (default console.warn). */
  warn?: (msg: string) => void;
}

export interface LoadedModel {
  /** Manifest-style view of the card (inputs/outputs with names and shapes, params = card.postprocessing). */
  readonly entry: ModelEntry;
  readonly card: ModelCard;
  readonly provenance: ModelProvenance;
  /** The provider the session actually runs on. */
  readonly executionProvider: ExecutionProvider;
  /** Runs the model in this thread's onnxruntime session; inputs by name, checked against the card. Results carry provenance. */
  run(inputs: Record<string, InputTensor>): Promise<{ outputs: Record<string, Tensor>; provenance: ModelProvenance }>;
  close(): Promise<void>;
}

/**
 * Loads a model in this process: verifies the whole folder (card schema, licences, sha256), then creates the
 * onnxruntime session from the very bytes that were hashed. `ref`: "id" (highest version) or "id@version".
 */
export async function loadModel(ref: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const m = resolveModel(ref, { modelsDir: opts.modelsDir, keepBytes: true });
  const bytes = m.bytes as Buffer;
  delete m.bytes;
  const wanted = opts.executionProvider ?? defaultExecutionProvider();
  const { session: s, ep, fallback } = await createSession(bytes, wanted);
  if (fallback) warnOnce('cuda-fallback', `inference: CUDA execution provider unavailable (${fallback}); falling back to CPU`, opts.warn);
  try {
    checkCardAgainstSession(m, s.inputNames, s.outputNames, sessionTensorTypes(s));
  } catch (e) {
    await s.release();
    throw e;
  }
  const card = m.card;
  const { provenance } = m;
  const label = `${m.id}@${m.version}`;
  return {
    entry: entryOf(m),
    card,
    provenance,
    executionProvider: ep,
    async run(inputs) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, spec] of Object.entries(card.network_data_format.inputs)) {
        const t = inputs[name];
        if (!t) throw new InputError('inference.missing-input', `model ${label}: input "${name}" not given`, { model: label, tensor: name });
        checkTensorDtype(label, name, spec.dtype, t.data);
        checkTensorShape(label, 'input', name, spec, t.dims, t.data.length);
        feeds[name] = new ort.Tensor(ortType(t.data), t.data, t.dims);
      }
      const res = await s.run(feeds);
      const outputs: Record<string, Tensor> = {};
      for (const [name, spec] of Object.entries(card.network_data_format.outputs)) {
        const o = res[name];
        outputs[name] = { data: o.data as Float32Array, dims: o.dims.map(Number) };
        checkTensorShape(label, 'output', name, spec, outputs[name].dims);
      }
      return { outputs, provenance };
    },
    async close() {
      await s.release();
    },
  };
}

const cache = new Map<string, Promise<LoadedModel>>();
/** Process-wide cached `loadModel(ref)` with default options (the tissue detector uses this). */
export function getModel(ref: string): Promise<LoadedModel> {
  let p = cache.get(ref);
  if (!p) {
    p = loadModel(ref);
    p.catch(() => cache.delete(ref));
    cache.set(ref, p);
  }
  return p;
}
