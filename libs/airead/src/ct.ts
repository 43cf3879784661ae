import { InputError } from '@app/core';
import type { DicomHeader, Volume } from '@app/dicom';
import { segmentVolume, type ModelCard, type ModelHandle, type ModelProvenance } from '@app/inference';
import { connectedComponents3d, measureLesions, type LesionMeasurement } from '@app/measure';

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
 * Segments a CT volume with a card-driven model, splits the foreground into 3D connected components (26-connected)
 * and measures each as RECIST does (long / short axis on the axial slice, Feret, volume, HU). An empty result is
 * not an error (no lesion found); an unusable volume is (`airead.volume-unusable`).
 */
export async function analyseCtVolume(volume: Volume, model: ModelHandle, opts: AnalyseOptions = {}): Promise<CtAnalysis> {
  assertMeasurableVolume(volume);
  const seg = await segmentVolume(volume, model);
  const card = model.card;
  const classes = classesFromCard(card);
  const minVoxels = opts.minVoxels ?? Number((card.postprocessing as { min_component_voxels?: number } | undefined)?.min_component_voxels ?? 10);
  const cc = connectedComponents3d(seg.labels, volume.dims, { connectivity: 26, minVoxels });
  const sliceThicknessMm = opts.sliceThicknessMm ?? volume.spacing[2];
  const lesions: CtLesion[] = [];
  if (cc.count > 0) {
    const measured = measureLesions(volume, cc.components, cc.count, { classes: cc.classes, sliceThicknessMm, nodal: (_c, cls) => classes.get(cls)?.nodal ?? false });
    for (const m of measured) {
      const info = classes.get(m.cls);
      lesions.push({ component: m.component, cls: m.cls, className: info?.name ?? `class ${m.cls}`, organ: info?.organ ?? `CLASS ${m.cls}`, site: info?.site ?? `class${m.cls}`, nodal: m.nodal, measurement: m });
    }
  }
  return { components: cc.components, lesions, provenance: seg.provenance, sliceThicknessMm, minVoxels, windows: seg.stats.windows };
}
