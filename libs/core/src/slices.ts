/**
 * A scalar volume (CT HU) as its consumers read it: axial slice by axial slice. Either the whole array is in memory
 * (`data`), or each slice is read on demand (`slice`, e.g. from the stored NRRD file: a 300 x 512² series is then never
 * held whole). Voxel (i, j, k) is value i + j * X of slice k.
 */
import { InputError } from './errors';

export interface SlicedVolume<A extends ArrayLike<number> = Int16Array | Float32Array> {
  /** [x (columns), y (rows), z (slices)]. */
  dims: ArrayLike<number>;
  /** The whole volume, x fastest. */
  data?: A & { subarray(begin: number, end: number): A };
  /**
   * Or slice k (X * Y values), read when asked. A fresh array or a view the caller may keep until it asks again: the
   * readers here use a slice before asking for the next one, or copy it.
   */
  slice?: (k: number) => A;
}

/**
 * Slice k of a volume: a view into `data`, or `slice(k)` checked for its length (InputError `code` otherwise, its
 * message starting with `what`).
 */
export function sliceOf<A extends ArrayLike<number>>(v: SlicedVolume<A>, k: number, code = 'volume.bad-shape', what = ''): A {
  const plane = v.dims[0]! * v.dims[1]!;
  if (v.data) return v.data.subarray(k * plane, (k + 1) * plane);
  if (!v.slice) throw new InputError(code, `${what}the volume has neither data nor a slice reader`);
  const s = v.slice(k);
  if (!s || s.length !== plane) throw new InputError(code, `${what}slice ${k} has ${s?.length ?? 0} values, dims [${Array.from(v.dims).join(',')}] need ${plane}`);
  return s;
}
