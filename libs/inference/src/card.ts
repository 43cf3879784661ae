/**
 * Model cards (models/<id>/<version>/card.json): types, JSON Schema validation (libs/inference/card.schema.json,
 * ajv + ajv-formats), licence rules and the tensor shape a card promises.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { InputError, repoRoot } from '@app/core';

/** One size of a tensor: a number, -1 or '*' (any), or 'k*n' (any multiple of k). */
export type CardDim = number | string;
export type TensorLayout = 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC' | 'NC';
export type TensorDtype = 'float32' | 'uint8';

export interface CardTensor {
  type: 'image' | 'tensor' | 'vector';
  format: string;
  modality?: string;
  num_channels: number;
  spatial_shape: CardDim[];
  /** Inputs: float32, or uint8 (an image model that takes raw 8-bit pixels and converts inside its graph). Outputs: float32. */
  dtype: TensorDtype;
  value_range?: [number | null, number | null];
  /** Default: channel-first (NCHW / NCDHW; NC without spatial dims). */
  layout?: TensorLayout;
  is_patch_data?: boolean;
  channel_def?: Record<string, string>;
}
export interface CodedConcept {
  scheme: string;
  code: string;
  meaning: string;
}
export interface CardClass {
  index: number;
  name: string;
  category: CodedConcept;
  type: CodedConcept;
  finding_site?: CodedConcept;
  nodal?: boolean;
}
export interface CardPreprocessing {
  hu_window?: [number, number];
  normalisation?: string;
  target_spacing_mm?: number[] | null;
  spacing_note?: string;
  /** 2.5D: c slices either side; the input has 2c+1 channels (edge slices replicated). */
  context_slices?: number;
  roi_size?: number[];
  overlap?: number;
  blending?: 'gaussian' | 'constant';
  gaussian_sigma_scale?: number;
  [k: string]: unknown;
}
export interface ModelCard {
  schema_version: '1.0';
  id: string;
  version: string;
  task: string;
  description: string;
  authors?: string[];
  created?: string;
  file: 'model.onnx';
  sha256: string;
  licence: {
    weights: string;
    training_data: string;
    training_data_source?: string;
    training_data_justification?: string;
    files: string[];
  };
  source: string;
  origin?: { url: string; path?: string; retrieved?: string };
  network_data_format: { inputs: Record<string, CardTensor>; outputs: Record<string, CardTensor> };
  classes?: CardClass[];
  preprocessing?: CardPreprocessing;
  postprocessing?: Record<string, unknown>;
  intended_use: string;
  limitations: string[];
  evaluation: { data?: string; metrics: Record<string, unknown>; command: string; note?: string };
  [k: string]: unknown;
}

/** SPDX ids allowed for model weights (and for training data). Anything else, and anything non-commercial, is refused. */
export const ALLOWED_LICENCES: readonly string[] = Object.freeze(['MIT', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', 'CC0-1.0', 'CC-BY-4.0', 'ISC']);
/** Non-SPDX values allowed for `licence.training_data`, each requiring `licence.training_data_justification`. */
export const TRAINING_DATA_SPECIAL: readonly string[] = Object.freeze(['synthetic', 'unspecified-upstream']);

export const CARD_SCHEMA_PATH = 'libs/inference/card.schema.json';

let validator: ValidateFunction | undefined;
function cardValidator(): ValidateFunction {
  if (!validator) {
    const schema = JSON.parse(readFileSync(join(repoRoot(), CARD_SCHEMA_PATH), 'utf8'));
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    validator = ajv.compile(schema);
  }
  return validator;
}

const fmtErr = (e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? e.keyword}${e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : ''}`;

/** A licence check result: null = allowed, else the reason it is refused. */
export function licenceProblem(card: Pick<ModelCard, 'licence'>): { code: string; reason: string } | null {
  const isNc = (s: string) => /(^|[-_ ])NC([-_ ]|$)|non-?commercial/i.test(s);
  const w = card.licence.weights;
  if (isNc(w)) return { code: 'inference.licence-noncommercial', reason: `weights licence "${w}" is non-commercial; only ${ALLOWED_LICENCES.join(', ')} are allowed` };
  if (!ALLOWED_LICENCES.includes(w)) return { code: 'inference.licence-unknown', reason: `weights licence "${w}" is not on the allow-list (${ALLOWED_LICENCES.join(', ')})` };
  const t = card.licence.training_data;
  if (isNc(t)) return { code: 'inference.licence-noncommercial', reason: `training data licence "${t}" is non-commercial` };
  if (TRAINING_DATA_SPECIAL.includes(t)) {
    if (!card.licence.training_data_justification) {
      return { code: 'inference.licence-unjustified', reason: `training data licence "${t}" needs licence.training_data_justification (why the model may be used)` };
    }
  } else if (!ALLOWED_LICENCES.includes(t)) {
    return { code: 'inference.licence-unknown', reason: `training data licence "${t}" is neither an allowed SPDX id (${ALLOWED_LICENCES.join(', ')}) nor one of ${TRAINING_DATA_SPECIAL.join(', ')}` };
  }
  return null;
}

/** Schema errors of a card (empty = valid), as "path message" lines from ajv. */
export function cardSchemaErrors(card: unknown): string[] {
  const v = cardValidator();
  if (v(card)) return [];
  return (v.errors ?? []).map(fmtErr);
}

/** Channel-first unless the card says otherwise. */
export function tensorLayout(t: CardTensor): TensorLayout {
  if (t.layout) return t.layout;
  return t.spatial_shape.length === 0 ? 'NC' : t.spatial_shape.length === 3 ? 'NCDHW' : 'NCHW';
}

/** The dims a tensor must have, batch first: [N, C, ...spatial] or [N, ...spatial, C]; 'N' = any batch. */
export function expectedDims(t: CardTensor): CardDim[] {
  const l = tensorLayout(t);
  return l === 'NHWC' || l === 'NDHWC' ? ['N', ...t.spatial_shape, t.num_channels] : ['N', t.num_channels, ...t.spatial_shape];
}

export function dimFits(spec: CardDim, d: number): boolean {
  if (spec === 'N' || spec === -1 || spec === '*') return d >= 1;
  if (typeof spec === 'number') return spec === d;
  const m = /^([1-9][0-9]*)\*n$/.exec(spec);
  return !!m && d >= 1 && d % Number(m[1]) === 0;
}

/** Throws InputError('inference.bad-shape') naming the model and tensor when dims do not fit the card's spec. */
export function checkTensorShape(model: string, kind: 'input' | 'output', name: string, t: CardTensor, dims: readonly number[], length?: number): void {
  const exp = expectedDims(t);
  if (dims.length !== exp.length || !exp.every((s, i) => dimFits(s, dims[i]))) {
    throw new InputError(
      'inference.bad-shape',
      `model ${model}: ${kind} "${name}" has shape [${dims.join(',')}], the model card expects [${exp.join(',')}] (${tensorLayout(t)})`,
      { model, tensor: name, dims: [...dims], expected: exp },
    );
  }
  if (length !== undefined) {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== length) throw new InputError('inference.bad-shape', `model ${model}: ${kind} "${name}" has ${length} values, its shape [${dims.join(',')}] needs ${n}`, { model, tensor: name });
  }
}

/** Fixed spatial sizes of a tensor, or null when some are open. */
export function fixedSpatial(t: CardTensor): number[] | null {
  return t.spatial_shape.every((s) => typeof s === 'number' && s > 0) ? (t.spatial_shape as number[]) : null;
}

/**
 * Cross-field rules the schema cannot say. Returns problems (empty = consistent):
 * - preprocessing.context_slices c: the (first) input has 2c+1 channels and 2 spatial dims;
 * - preprocessing.roi_size: as many dims as the input's spatial_shape, and equal to it where that is fixed;
 * - classes: unique indices, below the (first) output's num_channels when that is a probability/logit map;
 * - every output is float32 (what this runtime reads back); a uint8 input is an image in [0, 255];
 * - preprocessing.target_spacing_mm: null or 3 positive numbers.
 */
export function cardConsistencyErrors(card: ModelCard): string[] {
  const errs: string[] = [];
  const [inName, input] = Object.entries(card.network_data_format.inputs)[0];
  const [, output] = Object.entries(card.network_data_format.outputs)[0];
  const pre = card.preprocessing ?? {};
  if (pre.context_slices !== undefined) {
    if (input.num_channels !== 2 * pre.context_slices + 1) errs.push(`preprocessing.context_slices ${pre.context_slices} needs input "${inName}" num_channels ${2 * pre.context_slices + 1}, card says ${input.num_channels}`);
    if (input.spatial_shape.length !== 2) errs.push('preprocessing.context_slices applies to 2D (2.5D) inputs only');
  }
  if (pre.roi_size) {
    if (pre.roi_size.length !== input.spatial_shape.length) errs.push(`preprocessing.roi_size has ${pre.roi_size.length} dims, input "${inName}" spatial_shape has ${input.spatial_shape.length}`);
    else if (!pre.roi_size.every((r, i) => dimFits(input.spatial_shape[i], r))) errs.push(`preprocessing.roi_size [${pre.roi_size}] does not fit input "${inName}" spatial_shape [${input.spatial_shape}]`);
  }
  for (const [n, o] of Object.entries(card.network_data_format.outputs)) if (o.dtype !== 'float32') errs.push(`output "${n}" has dtype ${o.dtype}; outputs must be float32`);
  for (const [n, t] of Object.entries(card.network_data_format.inputs)) {
    if (t.dtype !== 'uint8') continue;
    if (t.type !== 'image') errs.push(`input "${n}" has dtype uint8, which only an image input may have`);
    if (t.value_range && (t.value_range[0] !== 0 || t.value_range[1] !== 255)) errs.push(`input "${n}" has dtype uint8 and value_range [${t.value_range}]; a uint8 image's range is [0, 255]`);
  }
  const ts = pre.target_spacing_mm;
  if (ts !== undefined && ts !== null && !(Array.isArray(ts) && ts.length === 3 && ts.every((t) => typeof t === 'number' && Number.isFinite(t) && t > 0))) {
    errs.push(`preprocessing.target_spacing_mm must be null or 3 positive numbers (mm, x y z), got ${JSON.stringify(ts)}`);
  }
  if (pre.hu_window && !(pre.hu_window[1] > pre.hu_window[0])) errs.push('preprocessing.hu_window must be [low, high] with high > low');
  if (card.classes) {
    const seen = new Set<number>();
    for (const c of card.classes) {
      if (seen.has(c.index)) errs.push(`classes: index ${c.index} appears twice`);
      seen.add(c.index);
      if ((output.format === 'probabilities' || output.format === 'logits') && output.num_channels > 1 && c.index >= output.num_channels) {
        errs.push(`classes: index ${c.index} >= output num_channels ${output.num_channels}`);
      }
    }
  }
  return errs;
}
