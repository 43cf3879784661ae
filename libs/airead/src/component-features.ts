/**
 * Per-component features of a CT segmentation, and the card's optional false-positive classifier over them.
 *
 * A segmentation network proposes some components that are not lesions (vessel cross-sections, organ edges). The
 * card's `postprocessing.component_classifier` is a logistic regression over the features below, fitted offline on
 * tuning phantoms (see the model's train/ folder); components it scores below its threshold are dropped, like the
 * card's other component rules. Features are computed from what the pipeline has anyway: the labels, the argmax-class
 * confidence (uint8), the HU volume and its spacing. Deterministic: same inputs, same numbers.
 */

/** Feature names, in the order of the vectors componentFeatures returns (then one `class_<k>` per foreground class). */
export const COMPONENT_FEATURE_NAMES = [
  'mean_probability',
  'high_probability_fraction',
  'log_volume_mm3',
  'slices',
  'log_z_to_inplane',
  'mean_hu',
  'sd_hu',
  'shell_contrast_hu',
  'bbox_fill',
] as const;

export interface ComponentClassifier {
  /** Feature names the weights apply to, each one of COMPONENT_FEATURE_NAMES or `class_<k>` (1-based class index). */
  features: string[];
  /** Standardisation: (x - mean) / scale before the weights. */
  mean: number[];
  scale: number[];
  coef: number[];
  intercept: number;
  /** Components whose probability of being a lesion is below this are dropped. */
  min_probability: number;
  note?: string;
}

/**
 * Features of components 1..count (index c-1). `components` = connectedComponents3d's labelling of `labels`;
 * `classes[c-1]` its class; `confidence` the argmax-class probability quantised to 0-255. `hu`: the whole HU volume,
 * or a reader of HU slice k (only slices holding a component are read, once each).
 */
export function componentFeatures(
  hu: ArrayLike<number> | ((k: number) => ArrayLike<number>),
  dims: readonly [number, number, number] | readonly number[],
  spacing: readonly number[],
  components: Int32Array,
  count: number,
  classes: ArrayLike<number>,
  confidence: Uint8Array,
  classCount: number,
): Record<string, number>[] {
  const [nx, ny, nz] = dims as [number, number, number];
  const plane = nx * ny;
  const n = new Float64Array(count + 1);
  const conf = new Float64Array(count + 1);
  const high = new Float64Array(count + 1);
  const s1 = new Float64Array(count + 1);
  const s2 = new Float64Array(count + 1);
  const shell = new Float64Array(count + 1);
  const shellN = new Float64Array(count + 1);
  const lo = Array.from({ length: 3 }, () => new Int32Array(count + 1).fill(2 ** 30));
  const hi = Array.from({ length: 3 }, () => new Int32Array(count + 1).fill(-1));
  // per component, voxels on the slice being scanned (for the largest in-plane area)
  const sliceCount = new Float64Array(count + 1);
  const maxArea = new Float64Array(count + 1);
  const HIGH = Math.round(0.95 * 255);
  for (let k = 0; k < nz; k++) {
    sliceCount.fill(0);
    // HU of slice k: the whole array at an offset, or the slice read when it first holds a component voxel
    let hs: ArrayLike<number> | null = null;
    let off = 0;
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const v = k * plane + j * nx + i;
        const c = components[v];
        if (!c) continue;
        if (!hs) {
          if (typeof hu === 'function') {
            hs = hu(k);
            off = k * plane;
          } else hs = hu;
        }
        const h = hs[v - off]!;
        n[c]++;
        sliceCount[c]++;
        conf[c] += confidence[v];
        if (confidence[v] >= HIGH) high[c]++;
        s1[c] += h;
        s2[c] += h * h;
        if (i < lo[0][c]) lo[0][c] = i;
        if (i > hi[0][c]) hi[0][c] = i;
        if (j < lo[1][c]) lo[1][c] = j;
        if (j > hi[1][c]) hi[1][c] = j;
        if (k < lo[2][c]) lo[2][c] = k;
        if (k > hi[2][c]) hi[2][c] = k;
        // in-plane 4-neighbours outside every component: the tissue around the lesion
        const w = v - off;
        if (i > 0 && !components[v - 1]) (shell[c] += hs[w - 1]!), shellN[c]++;
        if (i < nx - 1 && !components[v + 1]) (shell[c] += hs[w + 1]!), shellN[c]++;
        if (j > 0 && !components[v - nx]) (shell[c] += hs[w - nx]!), shellN[c]++;
        if (j < ny - 1 && !components[v + nx]) (shell[c] += hs[w + nx]!), shellN[c]++;
      }
    }
    for (let c = 1; c <= count; c++) if (sliceCount[c] > maxArea[c]) maxArea[c] = sliceCount[c];
  }
  const [sx, sy, sz] = spacing;
  const out: Record<string, number>[] = [];
  for (let c = 1; c <= count; c++) {
    const m = s1[c] / n[c];
    const slices = hi[2][c] - lo[2][c] + 1;
    const inplane = Math.sqrt(maxArea[c] * sx * sy);
    const bbox = (hi[0][c] - lo[0][c] + 1) * (hi[1][c] - lo[1][c] + 1) * slices;
    const f: Record<string, number> = {
      mean_probability: conf[c] / n[c] / 255,
      high_probability_fraction: high[c] / n[c],
      log_volume_mm3: Math.log(n[c] * sx * sy * sz),
      slices,
      log_z_to_inplane: Math.log((slices * sz) / inplane),
      mean_hu: m,
      sd_hu: Math.sqrt(Math.max(0, s2[c] / n[c] - m * m)),
      shell_contrast_hu: shellN[c] ? m - shell[c] / shellN[c] : 0,
      bbox_fill: n[c] / bbox,
    };
    for (let k = 1; k <= classCount; k++) f[`class_${k}`] = classes[c - 1] === k ? 1 : 0;
    out.push(f);
  }
  return out;
}

/** The classifier's probability that a component with features `f` is a lesion. */
export function componentLesionProbability(f: Record<string, number>, m: ComponentClassifier): number {
  let z = m.intercept;
  for (let q = 0; q < m.features.length; q++) {
    const x = f[m.features[q]];
    if (x === undefined || !Number.isFinite(x)) throw new Error(`component classifier: feature "${m.features[q]}" is ${x}`);
    z += (m.coef[q] * (x - m.mean[q])) / m.scale[q];
  }
  return 1 / (1 + Math.exp(-z));
}

/** Throws a clear error when a card's component_classifier is malformed. */
export function checkComponentClassifier(m: ComponentClassifier, classCount: number): void {
  const known = new Set<string>([...COMPONENT_FEATURE_NAMES, ...Array.from({ length: classCount }, (_, k) => `class_${k + 1}`)]);
  const L = m?.features?.length;
  if (!L) throw new Error('component_classifier: no features');
  for (const f of m.features) if (!known.has(f)) throw new Error(`component_classifier: unknown feature "${f}" (known: ${[...known].join(', ')})`);
  for (const k of ['mean', 'scale', 'coef'] as const)
    if (!Array.isArray(m[k]) || m[k].length !== L || !m[k].every(Number.isFinite)) throw new Error(`component_classifier: ${k} must hold ${L} finite numbers`);
  if (m.scale.some((s) => !(s > 0))) throw new Error('component_classifier: every scale must be > 0');
  if (!Number.isFinite(m.intercept)) throw new Error('component_classifier: intercept must be a finite number');
  if (!(m.min_probability >= 0 && m.min_probability <= 1)) throw new Error('component_classifier: min_probability must be in [0, 1]');
}
