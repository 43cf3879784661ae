import { InputError } from '@app/core';
import { checkPixelModule, decodeFrame, type DecodeLimits } from './decode';
import { frameGeometry, type DicomHeader, type FrameGeometry, type ParsedDicom, type Vec3 } from './parse';

/** A CT volume in Hounsfield units. Voxel (i, j, k) = data[i + j*dims[0] + k*dims[0]*dims[1]]. */
export interface Volume {
  seriesInstanceUid?: string;
  /** [x = columns, y = rows, z = slices]. */
  dims: [number, number, number];
  /** Voxel size in mm: [column spacing, row spacing, slice spacing (median gap)]. */
  spacing: [number, number, number];
  /** Row-major 4x4 matrix mapping (i, j, k, 1) voxel indices to patient LPS millimetres. */
  affine: number[];
  data: Int16Array | Float32Array;
  /** Everything unusual about the series: missing/duplicate slices, non-uniform spacing, shifts. */
  flags: string[];
  /** SOP Instance UID of each z slice (in volume order). */
  sliceSopInstanceUids: string[];
  /** Frame number (0-based) within that instance of each z slice. */
  sliceFrameIndices: number[];
  /** Position of each slice along the slice normal (mm). */
  slicePositions: number[];
}

/** Geometry of one candidate slice, without pixel data. */
export interface SliceRef {
  sopInstanceUid: string;
  frameIndex: number;
  seriesInstanceUid?: string;
  rows: number;
  columns: number;
  geometry: FrameGeometry;
}

/** A slice with its decoded HU values (e.g. from the worker pool). */
export interface SliceWithValues extends SliceRef {
  values: Int16Array | Float32Array;
}

export interface VolumePlan {
  seriesInstanceUid?: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  affine: number[];
  flags: string[];
  /** Indices into the input slice list, in volume (z) order, duplicates removed. */
  order: number[];
  slicePositions: number[];
}

export interface BuildVolumeOptions {
  /** Largest volume (bytes, computed at 4 bytes per voxel) accepted before allocating. Default 2 GiB. */
  maxVolumeBytes?: number;
  /** Pixel limits applied to every object. */
  limits?: Partial<DecodeLimits>;
  /** Two slices closer than this (mm) along the normal are duplicates. Default 0.01. */
  duplicateToleranceMm?: number;
  /** Allowed relative deviation of a gap from the median gap. Default 0.01 (1 %), at least 0.005 mm. */
  spacingTolerance?: number;
}

const sub = (a: Vec3, b: Vec3): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const dot = (a: Vec3, b: Vec3): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const cross = (a: Vec3, b: Vec3): Vec3 => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const norm = (a: Vec3): Vec3 => {
  const l = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / l, a[1] / l, a[2] / l];
};
const fmt = (x: number): string => String(Math.round(x * 1000) / 1000);

/** Slice references of every frame of the given objects. */
export function sliceRefs(instances: Array<{ header: DicomHeader }>): SliceRef[] {
  const out: SliceRef[] = [];
  for (const p of instances) {
    const h = p.header;
    const n = Number.isFinite(h.image.numberOfFrames) ? h.image.numberOfFrames : 1;
    for (let f = 0; f < n; f++) {
      out.push({
        sopInstanceUid: h.instance.sopInstanceUid ?? '(no SOPInstanceUID)',
        frameIndex: f,
        seriesInstanceUid: h.series.seriesInstanceUid,
        rows: h.image.rows ?? 0,
        columns: h.image.columns ?? 0,
        geometry: frameGeometry(h, f),
      });
    }
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Sorts slices along the slice normal (cross product of the IOP row and column directions, dotted with
 * IPP), checks that orientation, size and pixel spacing agree (else `dicom.mixed-geometry`), flags
 * duplicate and missing slices and non-uniform spacing, and computes dims/spacing/affine. Pure: no
 * pixel data is touched.
 */
export function planVolume(slices: SliceRef[], opts: BuildVolumeOptions = {}): VolumePlan {
  if (!slices.length) throw new InputError('dicom.empty-series', 'No slices were given to build a volume');
  const flags: string[] = [];
  const series = new Set(slices.map((s) => s.seriesInstanceUid ?? ''));
  if (series.size > 1) {
    throw new InputError('dicom.mixed-series', `Slices come from ${series.size} different series (${[...series].join(', ')}); build one volume per series`);
  }
  const first = slices[0];
  for (const s of slices) {
    const g = s.geometry;
    const what = `${s.sopInstanceUid} frame ${s.frameIndex}`;
    if (!g.imagePositionPatient || !g.imageOrientationPatient || !g.pixelSpacing) {
      const miss = [
        !g.imagePositionPatient && 'ImagePositionPatient',
        !g.imageOrientationPatient && 'ImageOrientationPatient',
        !g.pixelSpacing && 'PixelSpacing',
      ].filter(Boolean);
      throw new InputError('dicom.missing-geometry', `Slice ${what} has no ${miss.join(', ')}; it cannot be placed in a volume`, {
        sopInstanceUid: s.sopInstanceUid,
      });
    }
    if (s.rows !== first.rows || s.columns !== first.columns) {
      throw new InputError(
        'dicom.mixed-geometry',
        `Slice ${what} is ${s.columns} x ${s.rows} but slice ${first.sopInstanceUid} is ${first.columns} x ${first.rows}: mixed image sizes in one series`,
        { sopInstanceUid: s.sopInstanceUid },
      );
    }
    const o0 = first.geometry.imageOrientationPatient!;
    const o = g.imageOrientationPatient;
    if (o.some((v, k) => Math.abs(v - o0[k]) > 1e-3)) {
      throw new InputError(
        'dicom.mixed-geometry',
        `Slice ${what} has ImageOrientationPatient [${o.join(', ')}] but slice ${first.sopInstanceUid} has [${o0.join(', ')}]: mixed orientations in one series`,
        { sopInstanceUid: s.sopInstanceUid },
      );
    }
    const p0 = first.geometry.pixelSpacing!;
    if (Math.abs(g.pixelSpacing[0] - p0[0]) > 1e-3 || Math.abs(g.pixelSpacing[1] - p0[1]) > 1e-3) {
      throw new InputError(
        'dicom.mixed-geometry',
        `Slice ${what} has PixelSpacing ${g.pixelSpacing.join('\\')} but slice ${first.sopInstanceUid} has ${p0.join('\\')}: mixed pixel spacing in one series`,
        { sopInstanceUid: s.sopInstanceUid },
      );
    }
  }
  const iop = first.geometry.imageOrientationPatient!;
  const r = norm([iop[0], iop[1], iop[2]]);
  const c = norm([iop[3], iop[4], iop[5]]);
  if (Math.abs(dot(r, c)) > 1e-3) {
    throw new InputError('dicom.invalid-orientation', `ImageOrientationPatient [${iop.join(', ')}] row and column directions are not orthogonal`);
  }
  const n = norm(cross(r, c));
  const ps = first.geometry.pixelSpacing!;
  const pos = slices.map((s) => dot(n, s.geometry.imagePositionPatient!));
  const idx = slices.map((_, i) => i);
  idx.sort(
    (a, b) =>
      pos[a] - pos[b] ||
      (slices[a].sopInstanceUid < slices[b].sopInstanceUid ? -1 : slices[a].sopInstanceUid > slices[b].sopInstanceUid ? 1 : 0) ||
      slices[a].frameIndex - slices[b].frameIndex,
  );

  // Duplicates: same position along the normal.
  const dupTol = opts.duplicateToleranceMm ?? 0.01;
  const order: number[] = [];
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    const prev = order[order.length - 1];
    if (prev !== undefined && Math.abs(pos[i] - pos[prev]) < dupTol) {
      flags.push(
        `duplicate-slice: ${slices[i].sopInstanceUid} frame ${slices[i].frameIndex} is at the same position (${fmt(pos[i])} mm along the normal) as ${slices[prev].sopInstanceUid} frame ${slices[prev].frameIndex}; kept ${slices[prev].sopInstanceUid} (volume index ${order.length - 1}), dropped ${slices[i].sopInstanceUid}`,
      );
      continue;
    }
    order.push(i);
  }

  // In-plane shift (gantry tilt / shear): IPP projected onto the row and column directions should not move.
  const ipp0 = slices[order[0]].geometry.imagePositionPatient!;
  for (let k = 1; k < order.length; k++) {
    const d = sub(slices[order[k]].geometry.imagePositionPatient!, ipp0);
    const dr = dot(d, r);
    const dc = dot(d, c);
    if (Math.abs(dr) > 0.01 || Math.abs(dc) > 0.01) {
      flags.push(
        `in-plane-shift: slice ${k} (${slices[order[k]].sopInstanceUid}) is shifted ${fmt(dr)} mm along rows and ${fmt(dc)} mm along columns relative to slice 0 (gantry tilt or sheared stack); not resampled`,
      );
      break;
    }
  }

  const positions = order.map((i) => pos[i]);
  let dz: number;
  if (order.length < 2) {
    const g = slices[order[0]].geometry;
    dz = g.spacingBetweenSlices ?? g.sliceThickness ?? 1;
    flags.push(`single-slice: z spacing ${fmt(dz)} mm taken from ${g.spacingBetweenSlices ? 'SpacingBetweenSlices' : g.sliceThickness ? 'SliceThickness' : 'a default of 1 mm'}`);
  } else {
    const gaps = positions.slice(1).map((p, k) => p - positions[k]);
    dz = median(gaps);
    const relTol = opts.spacingTolerance ?? 0.01;
    const tol = Math.max(0.005, relTol * dz);
    gaps.forEach((g, k) => {
      if (Math.abs(g - dz) <= tol) return;
      const mult = Math.round(g / dz);
      if (mult >= 2 && Math.abs(g - mult * dz) <= tol * mult) {
        flags.push(
          `missing-slices: gap of ${fmt(g)} mm between volume slices ${k} and ${k + 1} (${fmt(positions[k])} to ${fmt(positions[k + 1])} mm) is ${mult} x the ${fmt(dz)} mm spacing: ${mult - 1} slice(s) missing; not interpolated`,
        );
      } else {
        flags.push(
          `non-uniform-spacing: gap of ${fmt(g)} mm between volume slices ${k} and ${k + 1} (${fmt(positions[k])} to ${fmt(positions[k + 1])} mm) differs from the median spacing ${fmt(dz)} mm; not resampled`,
        );
      }
    });
  }
  const dims: [number, number, number] = [first.columns, first.rows, order.length];
  const spacing: [number, number, number] = [ps[1], ps[0], dz];
  const affine = [
    r[0] * ps[1], c[0] * ps[0], n[0] * dz, ipp0[0],
    r[1] * ps[1], c[1] * ps[0], n[1] * dz, ipp0[1],
    r[2] * ps[1], c[2] * ps[0], n[2] * dz, ipp0[2],
    0, 0, 0, 1,
  ].map((x) => (x === 0 ? 0 : x)); // no -0 in stored JSON
  const maxBytes = opts.maxVolumeBytes ?? 2 * 1024 ** 3;
  const bytes = dims[0] * dims[1] * dims[2] * 4;
  if (bytes > maxBytes) {
    throw new InputError(
      'dicom.volume-too-large',
      `Volume ${dims.join(' x ')} needs up to ${bytes} bytes, above the limit of ${maxBytes}; refused before allocation`,
      { dims, bytes, limit: maxBytes },
    );
  }
  return { seriesInstanceUid: first.seriesInstanceUid, dims, spacing, affine, flags, order, slicePositions: positions };
}

/** Applies a plan to slices whose HU values are already decoded. */
function assemble(plan: VolumePlan, slices: SliceRef[], getValues: (i: number) => Int16Array | Float32Array): Volume {
  const [nx, ny, nz] = plan.dims;
  const per = nx * ny;
  let data: Int16Array | Float32Array = new Int16Array(per * nz);
  for (let k = 0; k < nz; k++) {
    const v = getValues(plan.order[k]);
    if (v.length !== per) {
      throw new InputError('dicom.mixed-geometry', `Slice ${slices[plan.order[k]].sopInstanceUid} decoded to ${v.length} values, expected ${per}`);
    }
    if (v instanceof Float32Array && data instanceof Int16Array) data = Float32Array.from(data);
    data.set(v, k * per);
  }
  return volumeFromPlan(plan, slices, data);
}

/** The Volume a plan describes, over `data` filled in plan order. */
export function volumeFromPlan(plan: VolumePlan, slices: SliceRef[], data: Int16Array | Float32Array): Volume {
  return {
    seriesInstanceUid: plan.seriesInstanceUid,
    dims: plan.dims,
    spacing: plan.spacing,
    affine: plan.affine,
    data,
    flags: plan.flags,
    sliceSopInstanceUids: plan.order.map((i) => slices[i].sopInstanceUid),
    sliceFrameIndices: plan.order.map((i) => slices[i].frameIndex),
    slicePositions: plan.slicePositions,
  };
}

/** Builds a volume from slices already decoded (e.g. by `DicomPool`). */
export function buildVolumeFromSlices(slices: SliceWithValues[], opts: BuildVolumeOptions = {}): Volume {
  const plan = planVolume(slices, opts);
  return assemble(plan, slices, (i) => slices[i].values);
}

/** An instance given as its header plus a getter for the HU values of one frame (e.g. lazily from storage). */
export interface InstanceWithFrames {
  header: DicomHeader;
  getFrame: (frameIndex: number) => Promise<Int16Array | Float32Array> | Int16Array | Float32Array;
}

const isParsed = (x: ParsedDicom | InstanceWithFrames): x is ParsedDicom => (x as ParsedDicom).dataSet !== undefined;

/**
 * Builds a HU volume from the instances of one series: plans (sort, checks, memory limit) first from
 * the headers, then decodes / fetches only the kept frames. Instances are parsed objects, or headers
 * with a frame getter.
 */
export async function buildVolume(instances: Array<ParsedDicom | InstanceWithFrames>, opts: BuildVolumeOptions = {}): Promise<Volume> {
  for (const p of instances) checkPixelModule(p.header, opts.limits);
  const refs = sliceRefs(instances);
  const owner: Array<ParsedDicom | InstanceWithFrames> = [];
  for (const p of instances) {
    const n = Number.isFinite(p.header.image.numberOfFrames) ? p.header.image.numberOfFrames : 1;
    for (let f = 0; f < n; f++) owner.push(p);
  }
  const plan = planVolume(refs, opts);
  const decoded = new Map<number, Int16Array | Float32Array>();
  for (const i of plan.order) {
    const o = owner[i];
    let values: Int16Array | Float32Array | undefined;
    if (isParsed(o)) values = (await decodeFrame(o, refs[i].frameIndex, { limits: opts.limits })).values;
    else values = await o.getFrame(refs[i].frameIndex);
    if (!values) throw new InputError('dicom.not-monochrome', `Slice ${refs[i].sopInstanceUid} is not monochrome; a volume needs greyscale slices`);
    decoded.set(i, values);
  }
  return assemble(plan, refs, (i) => decoded.get(i)!);
}

/** Voxel index (i, j, k) -> patient LPS mm through a volume's affine. */
export function voxelToPatient(affine: number[], ijk: Vec3): Vec3 {
  const [i, j, k] = ijk;
  return [
    affine[0] * i + affine[1] * j + affine[2] * k + affine[3],
    affine[4] * i + affine[5] * j + affine[6] * k + affine[7],
    affine[8] * i + affine[9] * j + affine[10] * k + affine[11],
  ];
}

/** True once no new instance has arrived for `quietMs` (the "series complete" quiet period). */
export function isSeriesStable(lastInstanceAt: Date, now: Date, quietMs: number): boolean {
  return now.getTime() - lastInstanceAt.getTime() >= quietMs;
}
