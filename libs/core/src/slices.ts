/**
 * A scalar volume (CT HU) as its consumers read it: axial slice by axial slice. Either the whole array is in memory
 * (`data`), or each slice is read on demand (`slice`, e.g. from the stored NRRD file: a 300 x 512² series is then never
 * held whole). Voxel (i, j, k) is value i + j * X of slice k.
 */
import { InputError } from './errors';

export type ScalarArray = Int16Array | Float32Array;

export interface SlicedVolume {
  /** [x (columns), y (rows), z (slices)]. */
  dims: readonly [number, number, number] | readonly number[];
  /** The whole volume, x fastest. */
  data?: ScalarArray;
  /**
   * Or slice k (X * Y values), read when asked. A fresh array or a view the caller may keep until it asks again: the
   * readers here use a slice before asking for the next one, or copy it.
   */
  slice?: (k: number) => ScalarArray;
}

/**
 * Slice k of a volume: a view into `data`, or `slice(k)` checked for its length (InputError `code` otherwise, its
 * message starting with `what`).
 */
export function sliceOf(v: SlicedVolume, k: number, code = 'volume.bad-shape', what = ''): ScalarArray {
  const plane = v.dims[0]! * v.dims[1]!;
  if (v.data) return v.data.subarray(k * plane, (k + 1) * plane);
  if (!v.slice) throw new InputError(code, `${what}the volume has neither data nor a slice reader`);
  const s = v.slice(k);
  if (!s || s.length !== plane) throw new InputError(code, `${what}slice ${k} has ${s?.length ?? 0} values, dims [${[...v.dims]}] need ${plane}`);
  return s;
}

/** Whether a volume can be read: `data` of the right length, or a slice reader. Returns the problem, or null. */
export function slicedVolumeProblem(v: SlicedVolume): string | null {
  const n = v.dims[0]! * v.dims[1]! * v.dims[2]!;
  if (v.data) return v.data.length === n ? null : `data has ${v.data.length} voxels, dims [${[...v.dims]}] need ${n}`;
  return typeof v.slice === 'function' ? null : 'the volume has neither data nor a slice reader';
}

/** Every slice into one array (for code that needs the whole volume at once); `data` itself when present. */
export function wholeVolume(v: SlicedVolume): ScalarArray {
  if (v.data) return v.data;
  const [X, Y, Z] = v.dims as [number, number, number];
  const first = sliceOf(v, 0);
  const out = first instanceof Int16Array ? new Int16Array(X * Y * Z) : new Float32Array(X * Y * Z);
  out.set(first, 0);
  for (let k = 1; k < Z; k++) out.set(sliceOf(v, k), k * X * Y);
  return out;
}
