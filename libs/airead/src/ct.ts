import { InputError, sliceOf } from '@app/core';
import type { DicomHeader, Volume } from '@app/dicom';
import { segmentVolume, type ModelCard, type ModelHandle, type ModelProvenance } from '@app/inference';
import { connectedComponents3d, measureLesions, type LesionMeasurement } from '@app/measure';
import { checkComponentClassifier, componentFeatures, componentLesionProbability, type ComponentClassifier } from './component-features';

/** A coded concept (scheme, code, meaning). */
export interface Coded {
  scheme: string;
  code: string;
  meaning: string;
}

/** What a model's output class means, from its card. */
export interface ClassInfo {
  index: number;
  name: string;
  /** RECIST organ / site: the finding site's meaning upper-cased ('LIVER', 'LUNG', 'LYMPH NODE'), else the class name. */
  organ: string;
  /** Short lower-case site used in readable tracking ids ('T01 liver'). */
  site: string;
  nodal: boolean;
  category: Coded;
  type: Coded;
  findingSite?: Coded;
}

export function classesFromCard(card: ModelCard): Map<number, ClassInfo> {
  const out = new Map<number, ClassInfo>();
  for (const c of card.classes ?? []) {
    const site = (c.finding_site?.meaning ?? c.name).toLowerCase();
    out.set(c.index, { index: c.index, name: c.name, organ: site.toUpperCase(), site, nodal: !!c.nodal, category: c.category, type: c.type, findingSite: c.finding_site });
  }
  return out;
}

/** The largest component number a stored labelling holds: components are stored as int16 (NRRD `short`). */
export const MAX_STORED_COMPONENT = 32767;

/**
 * A CT analysis's component labelling as the int16 array it is stored as, narrowed in place: `components` is consumed
 * (its memory then holds the int16 values in its first half, and the returned array is a view of it), so storing the
 * labelling of a 300 x 512² volume allocates no second 157 MB array. InputError 'airead.too-many-components' when a
 * component number exceeds MAX_STORED_COMPONENT (the model's output is then no lesion map, and int16 would wrap): the
 * array is checked whole before anything is written, and left as it was.
 */
export function componentsAsInt16(components: Int32Array): Int16Array {
  let max = 0;
  for (let i = 0; i < components.length; i++) if (components[i]! > max) max = components[i]!;
  if (max > MAX_STORED_COMPONENT)
    throw new InputError('airead.too-many-components', `the model's output split into ${max} components (at most ${MAX_STORED_COMPONENT} are stored): not a lesion map`);
  const out = new Int16Array(components.buffer, components.byteOffset, components.length);
  // element i is written at bytes 2i..2i+1, which belong to int32 elements already read (i/2 <= i): safe in order
  for (let i = 0; i < components.length; i++) out[i] = components[i]!;
  return out;
}

/** One lesion found in one volume: a connected component of the model's foreground, measured. */
export interface CtLesion {
  /** Component number in `components` (1-based). */
  component: number;
  cls: number;
  className: string;
  organ: string;
  site: string;
  nodal: boolean;
  measurement: LesionMeasurement;
}

export interface CtAnalysis {
  /** Component number per voxel (0 = background), on the volume grid. */
  components: Int32Array;
  lesions: CtLesion[];
  provenance: ModelProvenance;
  sliceThicknessMm: number;
  minVoxels: number;
  windows: number;
  /** Components dropped by the card's post-processing rules, with why (audit of what the model proposed). */
  dropped?: { voxels: number; meanProbability: number; slices: number; rule: string; lesionProbability?: number }[];
  /** Set when the card's target_spacing_mm made the model run on another grid (segmentVolume); results are on the volume's. */
  resampled?: { fromSpacingMm: number[]; toSpacingMm: number[]; dims: [number, number, number] };
}

/** Card post-processing rules applied to connected components (all optional). */
export interface ComponentRules {
  /** Drop components with fewer voxels (default 10). */
  min_component_voxels?: number;
  /** Drop components whose mean argmax-class probability is below this (0-1). */
  min_component_mean_probability?: number;
  /** Stricter mean probability for components seen on one axial slice only (0-1). */
  min_single_slice_mean_probability?: number;
  /** A logistic regression over componentFeatures; components it scores below its min_probability are dropped. */
  component_classifier?: ComponentClassifier;
}

export interface AnalyseOptions {
  /** Components smaller than this are dropped (default card.postprocessing.min_component_voxels, else 10). */
  minVoxels?: number;
  /** Default: the slices' SliceThickness, else the slice spacing. */
  sliceThicknessMm?: number;
}

/**
 * Refuses what would give wrong measurements: slices missing or non-uniformly spaced, sheared stacks.
 * (Mixed geometry never reaches here: the volume builder refuses it.)
 */
export function assertMeasurableVolume(volume: Pick<Volume, 'flags' | 'dims'>, what = 'volume'): void {
  const bad = volume.flags.filter((f) => /^(missing-slices|non-uniform-spacing|in-plane-shift|single-slice)/.test(f));
  if (bad.length) throw new InputError('airead.volume-unusable', `${what} cannot be measured in mm: ${bad.join('; ')}`, { flags: bad });
}

/** Slice thickness from the headers (largest), else the slice spacing. */
export function sliceThicknessOf(volume: Pick<Volume, 'spacing'>, headers?: (DicomHeader | undefined)[]): number {
  let t = 0;
  for (const h of headers ?? []) t = Math.max(t, h?.image.sliceThickness ?? 0);
  return t > 0 ? t : volume.spacing[2];
}

/**
 * A CT volume as the AI read needs it: geometry and flags, and HU either whole (`data`) or read slice by slice
 * (`slice`, e.g. openNrrdSlices over the stored volume file: the read then never holds the HU volume whole).
 */
export type CtImage = Pick<Volume, 'dims' | 'spacing' | 'affine' | 'flags'> & { data?: Volume['data']; slice?: (k: number) => Volume['data'] };

/**
 * Segments a CT volume with a card-driven model, splits the foreground into 3D connected components (26-connected)
 * and measures each as RECIST does (long / short axis on the axial slice, Feret, volume, HU). An empty result is
 * not an error (no lesion found); an unusable volume is (`airead.volume-unusable`).
 */
export async function analyseCtVolume(volume: CtImage, model: ModelHandle, opts: AnalyseOptions = {}): Promise<CtAnalysis> {
  assertMeasurableVolume(volume);
  const card = model.card;
  const rules = (card.postprocessing ?? {}) as ComponentRules;
  const scored = rules.min_component_mean_probability != null || rules.min_single_slice_mean_probability != null || rules.component_classifier != null;
  const classes = classesFromCard(card);
  const classCount = Math.max(0, ...classes.keys());
  if (rules.component_classifier) {
    try {
      checkComponentClassifier(rules.component_classifier, classCount);
    } catch (e) {
      throw new InputError('airead.bad-card', `model ${card.id}@${card.version}: postprocessing.${(e as Error).message}`);
    }
  }
  const seg = await segmentVolume(volume, model, { confidence: scored });
  const minVoxels = opts.minVoxels ?? Number(rules.min_component_voxels ?? 10);
  let cc = connectedComponents3d(seg.labels, volume.dims, { connectivity: 26, minVoxels });
  const dropped = scored ? dropUnlikelyComponents(seg.labels, cc, seg.confidence!, volume.dims, rules, { hu: volume.data ?? ((k: number) => sliceOf(volume, k, 'airead.bad-volume')), spacing: volume.spacing, classCount }) : [];
  if (dropped.length) {
    cc = undefined as unknown as typeof cc; // the first labelling (4 bytes a voxel) can go before the second is made
    cc = connectedComponents3d(seg.labels, volume.dims, { connectivity: 26, minVoxels });
  }
  const sliceThicknessMm = opts.sliceThicknessMm ?? volume.spacing[2];
  const lesions: CtLesion[] = [];
  if (cc.count > 0) {
    const measured = measureLesions(volume, cc.components, cc.count, { classes: cc.classes, sliceThicknessMm, nodal: (_c, cls) => classes.get(cls)?.nodal ?? false });
    for (const m of measured) {
      const info = classes.get(m.cls);
      lesions.push({ component: m.component, cls: m.cls, className: info?.name ?? `class ${m.cls}`, organ: info?.organ ?? `CLASS ${m.cls}`, site: info?.site ?? `class${m.cls}`, nodal: m.nodal, measurement: m });
    }
  }
  return { components: cc.components, lesions, provenance: seg.provenance, sliceThicknessMm, minVoxels, windows: seg.stats.windows, dropped, ...(seg.resampled ? { resampled: seg.resampled } : {}) };
}

/**
 * The card's component rules: a component whose mean probability (of its voxels' argmax class) is below
 * `min_component_mean_probability`, or below `min_single_slice_mean_probability` when it lies on one axial slice
 * only, or (with `component_classifier`, which needs `image`) whose classifier probability of being a lesion is
 * below the classifier's `min_probability`, is set to background in `labels`. Thresholds are chosen on tuning
 * phantoms (see the model's card).
 */
export function dropUnlikelyComponents(
  labels: Uint8Array,
  cc: { components: Int32Array; count: number; classes: ArrayLike<number> },
  confidence: Uint8Array,
  dims: [number, number, number],
  rules: ComponentRules,
  image?: { hu: ArrayLike<number> | ((k: number) => ArrayLike<number>); spacing: readonly number[]; classCount: number },
): NonNullable<CtAnalysis['dropped']> {
  const clf = rules.component_classifier;
  if (clf && !image) throw new Error('dropUnlikelyComponents: the card has a component_classifier; pass the image (HU, spacing)');
  const feats = clf ? componentFeatures(image!.hu, dims, image!.spacing, cc.components, cc.count, cc.classes, confidence, image!.classCount) : null;
  const plane = dims[0] * dims[1];
  const n = new Float64Array(cc.count + 1);
  const sum = new Float64Array(cc.count + 1);
  const zMin = new Int32Array(cc.count + 1).fill(2 ** 30);
  const zMax = new Int32Array(cc.count + 1).fill(-1);
  for (let i = 0; i < cc.components.length; i++) {
    const c = cc.components[i];
    if (!c) continue;
    n[c]++;
    sum[c] += confidence[i];
    const z = Math.floor(i / plane);
    if (z < zMin[c]) zMin[c] = z;
    if (z > zMax[c]) zMax[c] = z;
  }
  const drop = new Uint8Array(cc.count + 1);
  const out: NonNullable<CtAnalysis['dropped']> = [];
  for (let c = 1; c <= cc.count; c++) {
    const mean = sum[c] / n[c] / 255;
    const slices = zMax[c] - zMin[c] + 1;
    const lesionP = feats ? componentLesionProbability(feats[c - 1], clf!) : undefined;
    const rule =
      rules.min_component_mean_probability != null && mean < rules.min_component_mean_probability ? `mean probability ${mean.toFixed(3)} < ${rules.min_component_mean_probability}`
      : rules.min_single_slice_mean_probability != null && slices === 1 && mean < rules.min_single_slice_mean_probability ? `single slice, mean probability ${mean.toFixed(3)} < ${rules.min_single_slice_mean_probability}`
      : lesionP !== undefined && lesionP < clf!.min_probability ? `component classifier: lesion probability ${lesionP.toFixed(3)} < ${clf!.min_probability}`
      : null;
    if (rule) {
      drop[c] = 1;
      out.push({ voxels: n[c], meanProbability: +mean.toFixed(4), slices, rule, ...(lesionP !== undefined ? { lesionProbability: +lesionP.toFixed(4) } : {}) });
    }
  }
  if (out.length) for (let i = 0; i < labels.length; i++) if (drop[cc.components[i]]) labels[i] = 0;
  return out;
}
