/**
 * Grid resampling for models that expect a fixed voxel size (card `preprocessing.target_spacing_mm`, as nnU-Net
 * plans and MONAI `Spacingd` declare): the image is resampled linearly to the target grid before inference and the
 * results are brought back to the image's own grid (labels by nearest neighbour, probabilities linearly), so every
 * downstream measurement stays in the acquisition's voxels.
 *
 * Geometry: both grids cover the same extent (voxel edges aligned, as skimage `resize` / nnU-Net's resampling do):
 * output voxel i' of n' samples the input at x = (i' + 0.5) n / n' - 0.5, clamped to [0, n - 1].
 */

/** Per output index: the input index below it, and the weight of the one above (0 at the edges). */
function linearTaps(nIn: number, nOut: number): { i0: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(nOut);
  const w = new Float32Array(nOut);
  const scale = nIn / nOut;
  for (let o = 0; o < nOut; o++) {
    const x = Math.min(nIn - 1, Math.max(0, (o + 0.5) * scale - 0.5));
    const f = Math.min(nIn - 2, Math.floor(x));
    if (f < 0) {
      i0[o] = 0;
      w[o] = 0;
    } else {
      i0[o] = f;
      w[o] = x - f;
    }
  }
  return { i0, w };
}

/** The nearest input index of each output index (round half up), clamped. */
export function nearestIndex(nIn: number, nOut: number): Int32Array {
  const idx = new Int32Array(nOut);
  const scale = nIn / nOut;
  for (let o = 0; o < nOut; o++) idx[o] = Math.min(nIn - 1, Math.max(0, Math.floor((o + 0.5) * scale - 0.5 + 0.5)));
  return idx;
}

/** Target grid size: round(n x spacing / target) per axis, at least 1. */
export function resampledDims(dims: readonly number[], spacing: readonly number[], target: readonly number[]): [number, number, number] {
  return [0, 1, 2].map((a) => Math.max(1, Math.round((dims[a]! * spacing[a]!) / target[a]!))) as [number, number, number];
}

/** One slice (X x Y, x fastest) resampled in plane to OX x OY: x, then y, linearly, in float32. */
function resamplePlane(src: ArrayLike<number>, X: number, Y: number, tx: ReturnType<typeof linearTaps>, ty: ReturnType<typeof linearTaps>, OX: number, OY: number): Float32Array {
  const a = new Float32Array(OX * Y);
  for (let r = 0; r < Y; r++) {
    const s = r * X;
    const d = r * OX;
    for (let o = 0; o < OX; o++) {
      const i = s + tx.i0[o]!;
      const w = tx.w[o]!;
      a[d + o] = w === 0 ? src[i]! : src[i]! * (1 - w) + src[i + 1]! * w;
    }
  }
  const b = new Float32Array(OX * OY);
  for (let o = 0; o < OY; o++) {
    const s0 = ty.i0[o]! * OX;
    const w = ty.w[o]!;
    const d = o * OX;
    if (w === 0) b.set(a.subarray(s0, s0 + OX), d);
    else for (let i = 0; i < OX; i++) b[d + i] = a[s0 + i]! * (1 - w) + a[s0 + OX + i]! * w;
  }
  return b;
}

/**
 * Trilinear resampling to `out` dims as a slice reader: output slice k' is made when asked from the (at most two)
 * input slices it lies between, each resampled in plane (x, then y), then blended along z, all in float32. Only the
 * last two in-plane results are kept, so a volume read slice by slice (a file) is never held whole. `slice(k)` gives
 * input slice k (X * Y values).
 */
export function resampledSlices(slice: (k: number) => ArrayLike<number>, dims: readonly [number, number, number], out: readonly [number, number, number]): (k: number) => Float32Array {
  const [X, Y, Z] = dims;
  const [OX, OY, OZ] = out;
  const tx = linearTaps(X, OX);
  const ty = linearTaps(Y, OY);
  const tz = linearTaps(Z, OZ);
  const P = OX * OY;
  const planes = new Map<number, Float32Array>();
  const plane = (k: number): Float32Array => {
    let p = planes.get(k);
    if (!p) {
      p = resamplePlane(slice(k), X, Y, tx, ty, OX, OY);
      if (planes.size >= 2) planes.delete(planes.keys().next().value!);
      planes.set(k, p);
    }
    return p;
  };
  return (o: number) => {
    if (!(o >= 0 && o < OZ)) throw new RangeError(`resampled slice ${o} outside 0..${OZ - 1}`);
    const w = tz.w[o]!;
    const p0 = plane(tz.i0[o]!);
    if (w === 0) return Float32Array.from(p0);
    const p1 = plane(tz.i0[o]! + 1);
    const c = new Float32Array(P);
    for (let i = 0; i < P; i++) c[i] = p0[i]! * (1 - w) + p1[i]! * w;
    return c;
  };
}

/**
 * Trilinear resampling of an x-fastest volume (voxel (i, j, k) = data[i + j X + k X Y]) to `out` dims; separable
 * (x, then y, then z), in float32. Same dims: a float32 copy. (resampledSlices, slice by slice: the same numbers.)
 */
export function resampleLinear(data: ArrayLike<number> & { subarray?: (a: number, b: number) => ArrayLike<number> }, dims: readonly [number, number, number], out: readonly [number, number, number]): Float32Array {
  const XY = dims[0] * dims[1];
  const sub = (k: number): ArrayLike<number> =>
    typeof data.subarray === 'function' ? data.subarray(k * XY, (k + 1) * XY) : Array.from({ length: XY }, (_, i) => data[k * XY + i]!);
  const next = resampledSlices(sub, dims, out);
  const P = out[0] * out[1];
  const c = new Float32Array(P * out[2]);
  for (let k = 0; k < out[2]; k++) c.set(next(k), k * P);
  return c;
}

/** Nearest-neighbour resampling of an x-fastest uint8 volume (labels, quantised confidence) to `out` dims. */
export function resampleNearest(data: Uint8Array, dims: readonly [number, number, number], out: readonly [number, number, number]): Uint8Array {
  const [X, Y] = dims;
  const [OX, OY, OZ] = out;
  const ix = nearestIndex(X, OX);
  const iy = nearestIndex(Y, OY);
  const iz = nearestIndex(dims[2], OZ);
  const res = new Uint8Array(OX * OY * OZ);
  let d = 0;
  for (let k = 0; k < OZ; k++) {
    for (let j = 0; j < OY; j++) {
      const row = (iz[k]! * Y + iy[j]!) * X;
      for (let i = 0; i < OX; i++) res[d++] = data[row + ix[i]!]!;
    }
  }
  return res;
}
