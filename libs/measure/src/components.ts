import { InputError } from '@app/core';
import type { ComponentsOptions, ComponentsResult } from './types';
import { checkDims, checkLength } from './validate';

/** Backward half-neighbourhood (voxels already visited in raster order) for each connectivity. */
function backwardOffsets(connectivity: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let dk = -1; dk <= 0; dk++) {
    for (let dj = -1; dj <= 1; dj++) {
      for (let di = -1; di <= 1; di++) {
        // strictly before (0,0,0) in raster order (k slowest, then j, then i)
        if (dk === 0 && (dj > 0 || (dj === 0 && di >= 0))) continue;
        const order = Math.abs(di) + Math.abs(dj) + Math.abs(dk);
        if (connectivity === 6 && order > 1) continue;
        if (connectivity === 18 && order > 2) continue;
        out.push([di, dj, dk]);
      }
    }
  }
  return out;
}

/**
 * 3D connected components of the foreground (label > 0) of a label volume.
 *
 * Two-pass labelling with union-find over provisional labels (typed arrays only). Voxels of different
 * non-zero labels that touch are one component; its class is the majority label (ties -> smallest label).
 * Components are numbered 1..count in raster order (i fastest, then j, then k) of their first voxel.
 * Components smaller than `minVoxels` are removed and the rest renumbered keeping that order.
 * An all-background volume gives count 0 (not an error).
 */
export function connectedComponents3d(
  labels: Uint8Array,
  dims: readonly [number, number, number] | readonly number[],
  opts: ComponentsOptions = {},
): ComponentsResult {
  const { nx, ny, nz, n } = checkDims(dims);
  if (!(labels instanceof Uint8Array)) {
    throw new InputError('measure.bad-shape', 'labels must be a Uint8Array (0 = background, 1..255 = class)');
  }
  checkLength(labels.length, n, 'labels', [nx, ny, nz]);
  const connectivity = opts.connectivity ?? 26;
  if (connectivity !== 6 && connectivity !== 18 && connectivity !== 26) {
    throw new InputError('measure.bad-option', `connectivity must be 6, 18 or 26, got ${String(connectivity)}`);
  }
  const minVoxels = opts.minVoxels ?? 1;
  if (!Number.isFinite(minVoxels) || minVoxels < 0) {
    throw new InputError('measure.bad-option', `minVoxels must be a finite number >= 0, got ${minVoxels}`);
  }
  const classOf = opts.classOf ?? true;

  const nxy = nx * ny;
  const offs = backwardOffsets(connectivity);
  const nOff = offs.length;
  const odi = Int32Array.from(offs.map((o) => o[0]));
  const odj = Int32Array.from(offs.map((o) => o[1]));
  const odk = Int32Array.from(offs.map((o) => o[2]));
  const odelta = Int32Array.from(offs.map((o) => o[0] + o[1] * nx + o[2] * nxy));

  const out = new Int32Array(n);
  let parent = new Int32Array(4096);
  let next = 1;
  let maxLabel = 0;
  let firstLabel = 0;
  let mixed = false;

  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };

  // Pass 1: provisional labels; parent[] always points to a smaller (or equal) label.
  let idx = 0;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++, idx++) {
        const v = labels[idx];
        if (v === 0) continue;
        if (v !== firstLabel) {
          if (firstLabel === 0) firstLabel = v;
          else mixed = true;
        }
        if (v > maxLabel) maxLabel = v;
        let lab = 0;
        for (let o = 0; o < nOff; o++) {
          const ii = i + odi[o];
          if (ii < 0 || ii >= nx) continue;
          const jj = j + odj[o];
          if (jj < 0 || jj >= ny) continue;
          if (k + odk[o] < 0) continue;
          const nl = out[idx + odelta[o]];
          if (nl === 0) continue;
          const r = find(nl);
          if (lab === 0) lab = r;
          else if (r !== lab) {
            if (r < lab) {
              parent[lab] = r;
              lab = r;
            } else parent[r] = lab;
          }
        }
        if (lab === 0) {
          lab = next++;
          if (lab >= parent.length) {
            const p = new Int32Array(parent.length * 2);
            p.set(parent);
            parent = p;
          }
          parent[lab] = lab;
        }
        out[idx] = lab;
      }
    }
  }
  // Flatten: processing labels in increasing order, parent[parent[l]] is already a root.
  for (let l = 1; l < next; l++) parent[l] = parent[parent[l]];

  // Pass 2: final ids in raster order of first voxel, sizes and (when affordable) class votes. Only foreground
  // voxels of `out` are read or written: its background pages are never touched here.
  const remap = new Int32Array(next);
  const sizes = new Float64Array(next + 1);
  const stride = maxLabel + 1;
  const voteInline = classOf && mixed && next * stride <= 1 << 25;
  const votes = voteInline ? new Float64Array(next * stride) : null;
  let count = 0;
  for (let p = 0; p < n; p++) {
    const v = labels[p];
    if (v === 0) continue;
    const r = parent[out[p]];
    let id = remap[r];
    if (id === 0) id = remap[r] = ++count;
    out[p] = id;
    sizes[id]++;
    if (votes) votes[id * stride + v]++;
  }

  let classesAll: number[] | null = null; // indexed by id - 1 before minVoxels
  if (!classOf) classesAll = new Array(count).fill(0);
  else if (!mixed) classesAll = new Array(count).fill(firstLabel);
  else if (votes) {
    classesAll = votedClasses(votes, count, stride);
  }

  // minVoxels: drop small components, renumber keeping raster order.
  let sizeList: number[] = [];
  for (let c = 1; c <= count; c++) sizeList.push(sizes[c]);
  if (minVoxels > 1 && count > 0) {
    const keep = new Int32Array(count + 1);
    let m = 0;
    for (let c = 1; c <= count; c++) if (sizes[c] >= minVoxels) keep[c] = ++m;
    if (m !== count) {
      for (let p = 0; p < n; p++) if (labels[p] !== 0) out[p] = keep[out[p]];
      sizeList = sizeList.filter((_, q) => keep[q + 1] !== 0);
      if (classesAll) classesAll = classesAll.filter((_, q) => keep[q + 1] !== 0);
      count = m;
    }
  }
  const classes = classesAll ?? majorityClasses(labels, out, count, maxLabel);
  return { components: out, count, sizes: sizeList, classes };
}

/** Per component 1..count, the label with the most votes (votes[c * stride + label]); ties -> smallest label. */
function votedClasses(votes: ArrayLike<number>, count: number, stride: number): number[] {
  const out: number[] = new Array(count);
  for (let c = 1; c <= count; c++) {
    let best = 0;
    let bestN = 0;
    for (let v = 1; v < stride; v++) {
      const x = votes[c * stride + v];
      if (x > bestN) {
        bestN = x;
        best = v;
      }
    }
    out[c - 1] = best;
  }
  return out;
}

/** Majority label per component; ties -> smallest label. */
function majorityClasses(labels: Uint8Array, comps: Int32Array, count: number, maxLabel: number): number[] {
  const stride = maxLabel + 1;
  const n = comps.length;
  const result: number[] = new Array(count).fill(0);
  if ((count + 1) * stride <= 1 << 25) {
    const votes = new Float64Array((count + 1) * stride);
    for (let p = 0; p < n; p++) {
      if (labels[p] === 0) continue;
      const c = comps[p];
      if (c !== 0) votes[c * stride + labels[p]]++;
    }
    return votedClasses(votes, count, stride);
  }
  // Very many components: sparse votes.
  const votes = new Map<number, number>();
  for (let p = 0; p < n; p++) {
    if (labels[p] === 0) continue;
    const c = comps[p];
    if (c !== 0) {
      const key = c * stride + labels[p];
      votes.set(key, (votes.get(key) ?? 0) + 1);
    }
  }
  const bestN = new Float64Array(count + 1);
  for (const [key, x] of votes) {
    const c = Math.floor(key / stride);
    const v = key - c * stride;
    if (x > bestN[c] || (x === bestN[c] && v < result[c - 1])) {
      bestN[c] = x;
      result[c - 1] = v;
    }
  }
  return result;
}
