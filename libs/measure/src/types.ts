/** Public types of `@app/measure`. Coordinates: voxel indices (i, j, k) = (column, row, slice); patient LPS mm. */

export type Vec3 = [number, number, number];

/** 6 = faces, 18 = faces + edges, 26 = faces + edges + corners. */
export type Connectivity = 6 | 18 | 26;

export interface ComponentsOptions {
  /** Neighbourhood that joins two foreground voxels. Default 26. */
  connectivity?: Connectivity;
  /** Components with fewer voxels are dropped (set to 0) and the others renumbered, raster order kept. Default 1 (keep all). */
  minVoxels?: number;
  /** Compute `classes` (majority label per component). Default true; when false `classes` is all 0 (saves one pass). */
  classOf?: boolean;
}

export interface ComponentsResult {
  /** Same grid as the labels: 0 = background, 1..count = component id, numbered in raster order of each component's first voxel. */
  components: Int32Array;
  count: number;
  /** sizes[c - 1] = voxel count of component c. */
  sizes: number[];
  /** classes[c - 1] = majority label of component c (ties -> smallest label); 0 when `classOf: false`. */
  classes: number[];
}

/** The geometry (and optionally the HU data) of the grid the components live on; an `@app/dicom` Volume fits. */
export interface MeasureGrid {
  /** [x = columns, y = rows, z = slices]. */
  dims: readonly [number, number, number] | readonly number[];
  /** [column spacing, row spacing, slice spacing] in mm; must agree with the affine's column norms. */
  spacing: readonly [number, number, number] | readonly number[];
  /** Row-major 4x4 (or the first 12 values) mapping (i, j, k, 1) to patient LPS mm. */
  affine: readonly number[];
  /** HU values, voxel (i, j, k) = data[i + j*dims[0] + k*dims[0]*dims[1]]. */
  data?: Int16Array | Float32Array;
  /** Or HU slice k (X * Y values) read when asked (a volume file): only the slices that hold a lesion are read. */
  slice?: (k: number) => Int16Array | Float32Array;
}

export interface MeasureOptions {
  /** Reconstructed slice thickness in mm (RECIST minimum size = max(10 mm, 2 x thickness) for non-nodal lesions). */
  sliceThicknessMm: number;
  /** Whether component `componentIndex` (1-based) of class `cls` is a lymph node (short-axis rules). Default: none is. */
  nodal?: (componentIndex: number, cls: number) => boolean;
  /** classes[c - 1] = class of component c (e.g. `ComponentsResult.classes`); passed to `nodal`. Default 0. */
  classes?: readonly number[];
}

/** An in-plane (axial, constant k) chord between two voxel centres, measured edge to edge (see README). */
export interface AxisMeasurement {
  /** Edge-to-edge length in mm: centre-to-centre distance + the voxel's extent projected on the chord direction. */
  lengthMm: number;
  /** Centre-to-centre distance in mm (0 for a single-voxel chord). */
  centreLengthMm: number;
  /** Slice index of the chord. */
  k: number;
  /** Voxel centres of the two end voxels (p1 = the one first in raster order). Equal for a single-voxel chord. */
  p1Ijk: Vec3;
  p2Ijk: Vec3;
  /** Edge-to-edge end points in patient LPS mm (centres pushed outwards by half the projected voxel extent). */
  p1Mm: Vec3;
  p2Mm: Vec3;
  /** Unit direction p1 -> p2 in patient mm. */
  directionMm: Vec3;
}

export interface ShortAxisMeasurement extends AxisMeasurement {
  /** Actual angle between this chord and the long axis, degrees (90 = exactly perpendicular). */
  angleToLongAxisDeg: number;
  /**
   * Perpendicularity tolerance used: 1, 2, 3 or 5 degrees (the smallest whose longest chord is within one pixel of
   * the longest within 5 degrees; see README), 10/20/45 for tiny lesions, 0 for a single-voxel short axis.
   */
  toleranceDeg: number;
  /** True when no two-voxel chord qualified and the short axis is the extent of one voxel of the long axis. */
  singleVoxel: boolean;
}

export interface FeretMeasurement {
  /** Edge-to-edge 3D maximum caliper diameter in mm (centre distance + voxel extent projected on the direction). */
  lengthMm: number;
  centreLengthMm: number;
  p1Ijk: Vec3;
  p2Ijk: Vec3;
  p1Mm: Vec3;
  p2Mm: Vec3;
  directionMm: Vec3;
}

export type RecistCategory = 'measurable' | 'non-measurable' | 'normal-node';

export interface Measurability {
  measurable: boolean;
  category: RecistCategory;
  reason: string;
}

export interface LesionMeasurement {
  /** Component id (1-based). */
  component: number;
  /** Class from `opts.classes` (0 when not given). */
  cls: number;
  nodal: boolean;
  voxelCount: number;
  /** voxelCount x |det(affine 3x3)| (= product of the spacings for an orthonormal orientation). */
  volumeMm3: number;
  /** Mean voxel index. */
  centroidIjk: Vec3;
  /** Centroid in patient LPS mm (through the affine). */
  centroidMm: Vec3;
  /** Inclusive voxel bounding box. */
  bbox: { min: Vec3; max: Vec3 };
  /** HU mean and population SD (divide by N) over the finite HU values; absent without data. */
  huMean?: number;
  huSd?: number;
  longAxis: AxisMeasurement;
  shortAxis: ShortAxisMeasurement;
  feret: FeretMeasurement;
  /** = feret.lengthMm. */
  feretMm: number;
  measurability: Measurability;
}
