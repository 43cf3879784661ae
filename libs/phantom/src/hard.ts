import { InputError } from '@app/core';
import { deriveSeed, mulberry32, phantomUid } from './prng';
import type { GroundTruthRow, Organ, PhantomOptions, Trajectory } from './types';

/**
 * 'hard' realism: heterogeneous lesions with partial-volume edges, low-contrast lesions, similar-density
 * distractors (contrast-enhanced aorta/IVC, kidneys with enhancing cortex, spleen, bowel, spine), per-visit noise,
 * per-subject pixel spacing / slice thickness and a per-visit rigid patient motion (table shift + small rotation).
 *
 * Coordinates: the scanner grid is the same for every visit of a subject (LPS, ImageOrientationPatient 1\0\0\0\1\0,
 * centred like the basic phantom). The anatomy is defined in BASELINE patient mm; at visit v it is moved by the
 * rigid transform T_v (q = R p + t, `patientTransform`, 4x4 row-major, identity at baseline), so ground-truth
 * centres are reported in the patient coordinates of that visit.
 */

export type Realism = 'basic' | 'hard';

// Module-level aliases: global lookups (Math.*, Infinity) are slow inside vm contexts such as jest's.
const { PI: M_PI, abs: M_abs, atan2: M_atan2, ceil: M_ceil, cos: M_cos, floor: M_floor, hypot: M_hypot, log: M_log, max: M_max, min: M_min, round: M_round, sin: M_sin, sqrt: M_sqrt } = Math;
const POS_INF = Number.POSITIVE_INFINITY;

const DEFAULT_TRAJECTORIES: Trajectory[] = ['responder', 'progressor', 'stable', 'late-responder'];
const THICKNESSES = [1.25, 1.5, 2, 2.5, 3, 3.75, 5];
/** Max |shift| (mm) and rotation (degrees) of the patient between visits. */
export const HARD_MOTION = { shiftXY: 25, shiftZ: 15, rotZDeg: 3, rotXDeg: 1 };
const LABEL: Record<Organ, number> = { liver: 1, lung: 2, 'lymph node': 3 };

/** Per-subject acquisition geometry of a hard phantom (seeded; options pin any of them). */
export interface HardGeometry {
  rows: number;
  cols: number;
  slices: number;
  pixelSpacing: number;
  sliceThickness: number;
  sliceSpacing: number;
}

/** One rendered visit (HU includes noise and partial volume; labels are point-sampled at voxel centres). */
export interface PhantomVisitRender {
  subjectId: string;
  visit: string;
  visitIndex: number;
  /** HU, x fastest: index = k*rows*cols + j*cols + i. */
  hu: Int16Array;
  /** 0 background, 1 liver lesion, 2 lung lesion, 3 lymph node lesion (voxel centre inside the lesion). */
  labels: Uint8Array;
  /** [cols, rows, slices]. */
  dims: [number, number, number];
  /** [pixel spacing x, pixel spacing y, slice spacing] mm. */
  spacing: [number, number, number];
  sliceThickness: number;
  /** 4x4 row-major voxel (i, j, k, 1) -> patient mm (LPS). */
  affine: number[];
  /** 4x4 row-major baseline patient mm -> this visit's patient mm (identity at baseline). */
  patientTransform: number[];
  noiseSigma: number;
  groundTruth: GroundTruthRow[];
  /** ISO date and UIDs used for the DICOM series of this visit. */
  visitDate: string;
  studyUid: string;
  seriesUid: string;
}

interface Layer { rho: number; hu: number }
interface Shape {
  name: string;
  /** Label written at voxel centres inside (lesions only). */
  label: number;
  cx: number; cy: number; cz: number;
  a: number; b: number; c: number; // c = Infinity: cylinder along z
  cos: number; sin: number;
  z1: number; z2: number; // cut planes (baseline z), -Infinity / Infinity when none
  /** HU by normalised radius: first layer with rho <= layer.rho. */
  layers: Layer[];
}

interface LesionPlan {
  id: string; organ: Organ; nodal: boolean; isNew: boolean;
  cx: number; cy: number; cz: number; a: number; b: number; c: number; rotDeg: number;
  hu: number; appearsAt: number; disappearsAt: number;
  coreRho: number; coreHu: number; rimRho: number; rimHu: number; lowContrast: boolean;
}

interface SubjectPlan {
  subjectId: string;
  geometry: HardGeometry;
  trajectory: string;
  scales: number[];
  bx: number; by: number; zs: number;
  lesions: LesionPlan[];
  bowel: { cx: number; cy: number; cz: number; a: number; b: number; c: number; rot: number; wall: number; content: number }[];
  dates: string[];
}

const round = (x: number, d: number): number => +x.toFixed(d);

function checkNum(name: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new InputError('phantom.bad-option', `option ${name} must be a number in [${min}, ${max}], got ${v}`);
  }
  return v;
}
function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InputError('phantom.bad-option', `option ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/**
 * The voxel (i, j, k) of a render's grid whose centre is nearest to the patient point (x, y, z) mm, e.g. a ground-truth
 * lesion's centre; null outside the grid. The render's grid is axis-aligned (its affine is diagonal); the linear index
 * into `hu` / `labels` is k * cols * rows + j * cols + i.
 */
export function renderVoxelOf(r: Pick<PhantomVisitRender, 'dims' | 'affine'>, x: number, y: number, z: number): [number, number, number] | null {
  const a = r.affine;
  // + 0: Math.round(-0.3) is -0
  const i = M_round((x - a[3]) / a[0]) + 0;
  const j = M_round((y - a[7]) / a[5]) + 0;
  const k = M_round((z - a[11]) / a[10]) + 0;
  const [nx, ny, nz] = r.dims;
  return i >= 0 && j >= 0 && k >= 0 && i < nx && j < ny && k < nz ? [i, j, k] : null;
}

/**
 * The acquisition geometry of hard-phantom subject `subjectIndex` (cheap; no rendering): pixel spacing in
 * [0.6, 0.9] mm, slice thickness = spacing from {1.25, 1.5, 2, 2.5, 3, 3.75, 5} mm, a 360 mm field of view
 * and 180 mm of z coverage unless options pin rows/cols/slices/pixelSpacing/sliceThickness/sliceSpacing.
 */
export function hardPhantomGeometry(opts: Partial<PhantomOptions>, subjectIndex: number): HardGeometry {
  const seed = opts.seed ?? 1;
  const r = mulberry32(deriveSeed(seed, 'hard-geometry', subjectIndex));
  const psR = r();
  const dzR = r();
  const ps = checkNum('pixelSpacing', opts.pixelSpacing ?? round(0.6 + 0.3 * psR, 3), 0.05, 10);
  const dz = checkNum('sliceSpacing', opts.sliceSpacing ?? opts.sliceThickness ?? THICKNESSES[M_floor(dzR * THICKNESSES.length)], 0.1, 20);
  const thick = checkNum('sliceThickness', opts.sliceThickness ?? dz, 0.1, 20);
  const cols = checkInt('cols', opts.cols ?? 2 * M_round(180 / ps), 32, 4096);
  const rows = checkInt('rows', opts.rows ?? cols, 32, 4096);
  const slices = checkInt('slices', opts.slices ?? M_round(180 / dz) + 1, 1, 5000);
  return { rows, cols, slices, pixelSpacing: ps, sliceThickness: thick, sliceSpacing: dz };
}

/** Visit transform: rotation about x then z, then shift; baseline = identity. Row-major 4x4. */
export function hardVisitTransform(opts: Partial<PhantomOptions>, subjectIndex: number, visitIndex: number, g?: HardGeometry): number[] {
  if (visitIndex === 0) return [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
  const geom = g ?? hardPhantomGeometry(opts, subjectIndex);
  const r = mulberry32(deriveSeed(opts.seed ?? 1, 'hard-motion', subjectIndex, visitIndex));
  const sym = (m: number): number => m * (2 * r() - 1);
  const fov = M_min(geom.cols, geom.rows) * geom.pixelSpacing;
  // never push the body (0.4 / 0.31 of the FOV) out of the field of view
  const sxy = M_max(0, M_min(HARD_MOTION.shiftXY, 0.5 * fov - 0.41 * fov - 3));
  const tx = sym(sxy);
  const ty = sym(sxy);
  const tz = sym(HARD_MOTION.shiftZ);
  const az = (sym(HARD_MOTION.rotZDeg) * M_PI) / 180;
  const ax = (sym(HARD_MOTION.rotXDeg) * M_PI) / 180;
  const [cz, sz, cx, sx] = [M_cos(az), M_sin(az), M_cos(ax), M_sin(ax)];
  // R = Rz * Rx
  const R = [
    [cz, -sz * cx, sz * sx],
    [sz, cz * cx, -cz * sx],
    [0, sx, cx],
  ];
  const t = [tx, ty, tz];
  const out: number[] = [];
  for (let i = 0; i < 3; i++) out.push(R[i][0], R[i][1], R[i][2], t[i]);
  out.push(0, 0, 0, 1);
  return out.map((x) => round(x, 9));
}

function trajectoryOf(opts: Partial<PhantomOptions>, s: number, visits: number, trajectoryScales: TrajFn): ReturnType<TrajFn> {
  const list = opts.trajectories && opts.trajectories.length > 0 ? opts.trajectories : DEFAULT_TRAJECTORIES;
  return trajectoryScales(list[s % list.length], visits);
}
type TrajFn = (t: Trajectory, visits: number) => { name: string; scales: number[]; newLesionAt: number; lungCrAt: number };

/** Anatomy shapes (baseline coordinates) for one visit's contrast phase, in painter's order. */
function anatomy(p: SubjectPlan, vr: () => number): Shape[] {
  const { bx, by, zs } = p;
  const INF = Infinity;
  const sh = (name: string, cx: number, cy: number, cz: number, a: number, b: number, c: number, layers: Layer[], z1 = -INF, z2 = INF, rotDeg = 0): Shape => ({
    name, label: 0, cx, cy, cz, a, b, c, cos: M_cos((rotDeg * M_PI) / 180), sin: M_sin((rotDeg * M_PI) / 180), z1, z2, layers,
  });
  const liverHu = 95 + 25 * vr();
  const aortaHu = 150 + 110 * vr();
  const ivcHu = 110 + 60 * vr();
  const cortexHu = 160 + 60 * vr();
  const spleenHu = liverHu + 5 + 15 * vr();
  const shapes: Shape[] = [
    sh('body', 0, 0, 0, bx, by, INF, [{ rho: 0.9, hu: 45 }, { rho: 1, hu: -100 }]),
    sh('fat', 0.03 * bx, 0.02 * by, 0, 0.3 * bx, 0.45 * by, INF, [{ rho: 1, hu: -95 }]),
    sh('liver', -0.45 * bx, -0.05 * by, 0, 0.42 * bx, 0.55 * by, INF, [{ rho: 1, hu: liverHu }], -INF, zs),
    sh('spleen', 0.62 * bx, 0.22 * by, zs - 0.18 * (zs + 90), 0.16 * bx, 0.3 * by, 35, [{ rho: 1, hu: spleenHu }], -INF, zs),
    sh('kidney-r', -0.36 * bx, 0.5 * by, zs - 55, 0.1 * bx, 0.16 * by, 28, [{ rho: 0.65, hu: 115 }, { rho: 1, hu: cortexHu }], -INF, zs, 20),
    sh('kidney-l', 0.36 * bx, 0.5 * by, zs - 50, 0.1 * bx, 0.16 * by, 28, [{ rho: 0.65, hu: 115 }, { rho: 1, hu: cortexHu }], -INF, zs, -20),
  ];
  for (const [i, b] of p.bowel.entries()) {
    shapes.push(sh(`bowel-${i}`, b.cx, b.cy, b.cz, b.a, b.b, b.c, [{ rho: 0.75, hu: b.content }, { rho: 1, hu: b.wall }], -INF, zs, b.rot));
  }
  shapes.push(
    sh('lung-r', -0.47 * bx, -0.05 * by, 0, 0.32 * bx, 0.6 * by, INF, [{ rho: 1, hu: -860 }], zs, INF),
    sh('lung-l', 0.47 * bx, -0.05 * by, 0, 0.32 * bx, 0.6 * by, INF, [{ rho: 1, hu: -860 }], zs, INF),
    sh('aorta', 0.07 * bx, 0.3 * by, 0, 11, 11, INF, [{ rho: 1, hu: aortaHu }]),
    sh('ivc', -0.12 * bx, 0.28 * by, 0, 9, 12, INF, [{ rho: 1, hu: ivcHu }]),
    sh('spine', 0, 0.66 * by, 0, 0.13 * by, 0.12 * by, INF, [{ rho: 0.8, hu: 300 }, { rho: 1, hu: 650 }]),
  );
  return shapes;
}

function lesionShape(l: LesionPlan, k: number): Shape {
  const th = (l.rotDeg * M_PI) / 180;
  return {
    name: l.id, label: LABEL[l.organ], cx: l.cx, cy: l.cy, cz: l.cz, a: l.a * k, b: l.b * k, c: l.c * k,
    cos: M_cos(th), sin: M_sin(th), z1: -Infinity, z2: Infinity,
    layers: [{ rho: l.coreRho, hu: l.coreHu }, { rho: l.rimRho, hu: l.hu }, { rho: 1, hu: l.rimHu }],
  };
}

/** Normalised radius of p in a shape and whether p is inside. */
function rhoOf(s: Shape, x: number, y: number, z: number): number {
  const dx = x - s.cx;
  const dy = y - s.cy;
  const u = (dx * s.cos + dy * s.sin) / s.a;
  const w = (-dx * s.sin + dy * s.cos) / s.b;
  const t = s.c === POS_INF ? 0 : (z - s.cz) / s.c;
  return M_sqrt(u * u + w * w + t * t);
}
const insideShape = (s: Shape, x: number, y: number, z: number): boolean => z >= s.z1 && z <= s.z2 && rhoOf(s, x, y, z) <= 1;
const layerHu = (s: Shape, rho: number): number => {
  for (const l of s.layers) if (rho <= l.rho) return l.hu;
  return s.layers[s.layers.length - 1].hu;
};

/** Builds the seeded plan of a subject: body size, lesions (placed inside their organ for every visit), bowel. */
function planSubject(opts: Partial<PhantomOptions>, s: number, visits: number, trajectoryScales: TrajFn): SubjectPlan {
  const seed = opts.seed ?? 1;
  const geometry = hardPhantomGeometry(opts, s);
  const { rows, cols, slices, pixelSpacing: ps, sliceSpacing: dz } = geometry;
  const fov = M_min(rows, cols) * ps;
  const rand = mulberry32(deriveSeed(seed, 'hard-subject', s));
  const jit = (lo: number, hi: number): number => lo + (hi - lo) * rand();
  const bx = 0.4 * fov * jit(0.94, 1.0);
  const by = 0.31 * fov * jit(0.94, 1.0);
  const zHalf = ((slices - 1) / 2) * dz;
  const zs = -0.1 * zHalf; // diaphragm: lungs above, abdomen below
  const traj = trajectoryOf(opts, s, visits, trajectoryScales);
  const prefix = opts.subjectPrefix ?? 'SUBJ';
  const subjectId = `${prefix}-${String(s + 1).padStart(3, '0')}`;
  const bowel: SubjectPlan['bowel'] = [];
  const nb = 3 + M_floor(rand() * 4);
  for (let i = 0; i < nb; i++) {
    const a = jit(9, 22);
    bowel.push({
      cx: jit(-0.05, 0.45) * bx, cy: jit(-0.75, -0.3) * by, cz: jit(-zHalf, zs - 10), a, b: a * jit(0.6, 1), c: a * jit(0.8, 2),
      rot: jit(0, 180), wall: jit(100, 160), content: rand() < 0.3 ? -700 : jit(0, 50),
    });
  }
  const plan: SubjectPlan = { subjectId, geometry, trajectory: traj.name, scales: traj.scales, bx, by, zs, lesions: [], bowel, dates: [] };
  const probe = anatomy(plan, () => 0.5);
  const organAt = (x: number, y: number, z: number): string => {
    let name = 'air';
    for (const sh of probe) if (insideShape(sh, x, y, z)) name = sh.name;
    return name;
  };
  const want: Record<Organ, (n: string) => boolean> = { liver: (n) => n === 'liver', lung: (n) => n.startsWith('lung'), 'lymph node': (n) => n === 'fat' };
  const maxScale = M_max(...traj.scales);
  const margin = HARD_MOTION.shiftZ + M_sin((HARD_MOTION.rotXDeg * M_PI) / 180) * (by + 30) + 2;
  // points on a unit sphere used to check that a lesion's bounding ellipsoid stays inside its organ
  const dirs: [number, number, number][] = [[0, 0, 0]];
  for (let e = -2; e <= 2; e++) {
    const el = (e * M_PI) / 5;
    const n = e === -2 || e === 2 ? 4 : 12;
    for (let q = 0; q < n; q++) dirs.push([M_cos(el) * M_cos((2 * M_PI * q) / n), M_cos(el) * M_sin((2 * M_PI * q) / n), M_sin(el)]);
  }
  dirs.push([0, 0, 1], [0, 0, -1]);
  const place = (organ: Organ, a0: number, b0: number, c0: number, grow: number, zRange: [number, number]): { cx: number; cy: number; cz: number; a: number; b: number; c: number } | null => {
    let a = a0;
    let b = b0;
    let c = c0;
    for (let attempt = 0; attempt < 400; attempt++) {
      if (attempt > 0 && attempt % 50 === 0) { a *= 0.85; b *= 0.85; c *= 0.85; }
      const R = a * grow + 2.5;
      const Rz = c * grow + 2.5;
      const zlo = M_max(-zHalf + margin + Rz, zRange[0]);
      const zhi = M_min(zHalf - margin - Rz, zRange[1]);
      if (zhi < zlo) continue;
      const cx = jit(-0.9, 0.9) * bx;
      const cy = jit(-0.9, 0.9) * by;
      const cz = jit(zlo, zhi);
      if (!dirs.every(([ux, uy, uz]) => want[organ](organAt(cx + R * ux, cy + R * uy, cz + Rz * uz)))) continue;
      const clash = plan.lesions.some((o) => {
        const d = M_hypot(o.cx - cx, o.cy - cy, o.cz - cz);
        return d < M_max(R, Rz) + M_max(o.a, o.c) * maxScale * 1.5 + 4;
      });
      if (clash) continue;
      return { cx, cy, cz, a, b, c };
    }
    return null;
  };
  const addLesion = (id: string, organ: Organ, a: number, b: number, c: number, appearsAt: number, disappearsAt: number, grow: number): void => {
    if (b > a) [a, b] = [b, a];
    const zRange: [number, number] = organ === 'lung' ? [zs + 5, Infinity] : organ === 'liver' ? [-Infinity, zs - 5] : [-Infinity, Infinity];
    const pos = place(organ, a, b, c, grow, zRange);
    const rotDeg = jit(-90, 90);
    // attenuation
    const lowContrast = organ === 'liver' && rand() < 0.35;
    const liverHu = 107; // mid of the per-visit liver enhancement range 95..120
    let hu: number;
    if (organ === 'liver') {
      const d = lowContrast ? jit(15, 28) : jit(40, 80);
      hu = rand() < 0.7 ? liverHu - d : liverHu + d;
    } else if (organ === 'lung') hu = jit(15, 60);
    else hu = jit(25, 70);
    hu = M_round(hu);
    const necrotic = a >= 7 && rand() < (organ === 'lung' ? 0.3 : 0.6);
    const coreRho = necrotic ? jit(0.4, 0.6) : -1;
    const coreHu = M_round(jit(5, 25));
    const rim = a >= 6 && rand() < 0.6;
    const rimRho = rim ? jit(0.75, 0.85) : 1;
    const rimHu = M_round(hu + jit(20, 45));
    if (!pos) return; // no room (tiny field of view): lesion omitted, no rows
    plan.lesions.push({
      id, organ, nodal: organ === 'lymph node', isNew: appearsAt > 0, cx: pos.cx, cy: pos.cy, cz: pos.cz, a: pos.a, b: pos.b, c: pos.c,
      rotDeg, hu, appearsAt, disappearsAt, coreRho, coreHu, rimRho, rimHu, lowContrast,
    });
  };
  const j = (): number => jit(0.85, 1.15);
  addLesion('T01', 'liver', 15 * j(), 10 * j(), 12 * j(), 0, Infinity, maxScale);
  addLesion('T02', 'lung', 10 * j(), 7.5 * j(), 8 * j(), 0, traj.lungCrAt, maxScale);
  addLesion('T03', 'lymph node', 12 * j(), 9 * jit(0.95, 1.15), 9, 0, Infinity, maxScale);
  if (traj.newLesionAt < visits) addLesion('NEW01', 'liver', 8, 6, 6, traj.newLesionAt, Infinity, 1 + 0.2 * (visits - 1 - traj.newLesionAt));
  const nExtra = opts.extraLesions ?? 2 + M_floor(rand() * 4);
  checkInt('extraLesions', nExtra, 0, 20);
  const organs: Organ[] = ['liver', 'lung', 'lymph node'];
  for (let e = 0; e < nExtra; e++) {
    const organ = organs[M_floor(rand() * 3)];
    const ld = rand() < 0.3 ? jit(8, 10) : jit(10, 40); // some small (< 10 mm) lesions
    const a = ld / 2;
    addLesion(`E${String(e + 1).padStart(2, '0')}`, organ, a, a * jit(0.6, 1), a * jit(0.7, 1), 0, Infinity, maxScale);
  }
  const dr = mulberry32(deriveSeed(seed, 'hard-dates', s));
  const base0 = new Date(`${opts.baselineDate ?? '2024-01-15'}T00:00:00Z`);
  if (Number.isNaN(base0.getTime())) throw new InputError('phantom.bad-option', `option baselineDate must be YYYY-MM-DD, got ${opts.baselineDate}`);
  let d = new Date(base0.getTime() + s * 9 * 86400000);
  for (let v = 0; v < visits; v++) {
    if (v > 0) d = new Date(d.getTime() + (42 + M_floor(dr() * 15)) * 86400000);
    plan.dates.push(d.toISOString().slice(0, 10));
  }
  return plan;
}

/**
 * Renders one visit of a hard phantom in memory (no DICOM): HU with partial volume and noise, lesion labels
 * (voxel centre inside), the grid, the visit's rigid patient transform and the ground-truth rows.
 * Deterministic per (seed, subjectIndex, visitIndex, options). `opts.outDir` is not used.
 */
export function renderHardVisit(opts: Partial<PhantomOptions>, subjectIndex: number, visitIndex: number, trajectoryScales: TrajFn, pixels = true): PhantomVisitRender {
  const visits = checkInt('visits', opts.visits ?? 3, 1, 50);
  checkInt('subjectIndex', subjectIndex, 0, 9999);
  checkInt('visitIndex', visitIndex, 0, visits - 1);
  const seed = opts.seed ?? 1;
  const plan = planSubject(opts, subjectIndex, visits, trajectoryScales);
  const g = plan.geometry;
  const { rows, cols, slices, pixelSpacing: ps, sliceSpacing: dz, sliceThickness: thick } = g;
  const T = hardVisitTransform(opts, subjectIndex, visitIndex, g);
  const vr = mulberry32(deriveSeed(seed, 'hard-visit', subjectIndex, visitIndex));
  const sigma = opts.noiseSigma !== undefined ? checkNum('noiseSigma', opts.noiseSigma, 0, 500) : round(8 + 17 * vr(), 2);
  const shapes = anatomy(plan, vr);
  const v = visitIndex;
  const scale = plan.scales[v];
  const visit = v === 0 ? 'BL' : `FU${v}`;
  const studyUid = phantomUid(seed, 'hard', plan.subjectId, visit, 'study');
  const seriesUid = phantomUid(seed, 'hard', plan.subjectId, visit, 'series');
  const groundTruth: GroundTruthRow[] = [];
  const apply = (x: number, y: number, z: number): [number, number, number] => [
    T[0] * x + T[1] * y + T[2] * z + T[3], T[4] * x + T[5] * y + T[6] * z + T[7], T[8] * x + T[9] * y + T[10] * z + T[11]];
  const rotZ = (M_atan2(T[4], T[0]) * 180) / M_PI;
  for (const l of plan.lesions) {
    const present = v >= l.appearsAt && v < l.disappearsAt && scale > 0;
    const k = l.appearsAt > 0 ? 1 + 0.2 * (v - l.appearsAt) : scale;
    const [a, b, c] = present ? [l.a * k, l.b * k, l.c * k] : [0, 0, 0];
    if (present) shapes.push(lesionShape(l, k));
    const [qx, qy, qz] = apply(l.cx, l.cy, l.cz);
    let rot = l.rotDeg + rotZ;
    while (rot > 90) rot -= 180;
    while (rot <= -90) rot += 180;
    groundTruth.push({
      subjectId: plan.subjectId, visit, visitIndex: v, visitDate: plan.dates[v], studyUid, seriesUid, trajectory: plan.trajectory,
      lesionId: l.id, organ: l.organ, nodal: l.nodal, present, isNew: l.isNew,
      centerX: round(qx, 4), centerY: round(qy, 4), centerZ: round(qz, 4),
      semiA: round(a, 4), semiB: round(b, 4), semiC: round(c, 4), rotationDeg: round(rot, 3),
      longestDiameterMm: round(2 * a, 4), shortAxisMm: round(2 * b, 4), volumeMm3: round((4 / 3) * M_PI * a * b * c, 3), hu: l.hu,
      realism: 'hard', lowContrast: l.lowContrast, necroticCore: l.coreRho > 0, patientTransform: T.slice(),
    });
  }

  const affine = [ps, 0, 0, (-(cols - 1) / 2) * ps, 0, ps, 0, (-(rows - 1) / 2) * ps, 0, 0, dz, (-(slices - 1) / 2) * dz, 0, 0, 0, 1];
  const result = {
    subjectId: plan.subjectId, visit, visitIndex: v, hu: new Int16Array(0), labels: new Uint8Array(0), dims: [cols, rows, slices] as [number, number, number],
    spacing: [ps, ps, dz] as [number, number, number], sliceThickness: thick, affine, patientTransform: T, noiseSigma: sigma, groundTruth,
    visitDate: plan.dates[v], studyUid, seriesUid,
  };
  if (!pixels) return result;
  // ---- rasterise (painter's order) ----
  const n = rows * cols * slices;
  const work = new Float32Array(n).fill(-1000);
  const labels = new Uint8Array(n);
  const x0 = (-(cols - 1) / 2) * ps;
  const y0 = (-(rows - 1) / 2) * ps;
  const z0 = (-(slices - 1) / 2) * dz;
  // inverse transform: p = R^T (q - t)
  const Ri = [T[0], T[4], T[8], T[1], T[5], T[9], T[2], T[6], T[10]];
  const tq = [T[3], T[7], T[11]];
  const hd = 0.5 * M_sqrt(2 * ps * ps + thick * thick);
  const sub = [-1 / 3, 0, 1 / 3];
  const zExt = M_abs(z0) + 60;
  for (const s of shapes) {
    // bounding box of the shape in this visit's voxel indices (transform the baseline box corners)
    const ex = s.a * M_abs(s.cos) + s.b * M_abs(s.sin);
    const ey = s.a * M_abs(s.sin) + s.b * M_abs(s.cos);
    const zlo = M_max(s.c === Infinity ? -zExt : s.cz - s.c, s.z1 === -Infinity ? -zExt : s.z1);
    const zhi = M_min(s.c === Infinity ? zExt : s.cz + s.c, s.z2 === Infinity ? zExt : s.z2);
    if (zhi < zlo) continue;
    let [i0, i1, j0, j1, k0, k1] = [Infinity, -Infinity, Infinity, -Infinity, Infinity, -Infinity];
    for (const cx of [s.cx - ex, s.cx + ex]) for (const cy of [s.cy - ey, s.cy + ey]) for (const cz of [zlo, zhi]) {
      const [qx, qy, qz] = apply(cx, cy, cz);
      i0 = M_min(i0, (qx - x0) / ps); i1 = M_max(i1, (qx - x0) / ps);
      j0 = M_min(j0, (qy - y0) / ps); j1 = M_max(j1, (qy - y0) / ps);
      k0 = M_min(k0, (qz - z0) / dz); k1 = M_max(k1, (qz - z0) / dz);
    }
    const I0 = M_max(0, M_floor(i0) - 1);
    const I1 = M_min(cols - 1, M_ceil(i1) + 1);
    const J0 = M_max(0, M_floor(j0) - 1);
    const J1 = M_min(rows - 1, M_ceil(j1) + 1);
    const K0 = M_max(0, M_floor(k0) - 1);
    const K1 = M_min(slices - 1, M_ceil(k1) + 1);
    const minSemi = M_min(s.a, s.b, s.c);
    const infZ = s.c === Infinity;
    for (let k = K0; k <= K1; k++) {
      const qz = z0 + k * dz - tq[2];
      for (let j = J0; j <= J1; j++) {
        const qy = y0 + j * ps - tq[1];
        const row = k * rows * cols + j * cols;
        for (let i = I0; i <= I1; i++) {
          const qx = x0 + i * ps - tq[0];
          const px = Ri[0] * qx + Ri[1] * qy + Ri[2] * qz;
          const py = Ri[3] * qx + Ri[4] * qy + Ri[5] * qz;
          const pz = Ri[6] * qx + Ri[7] * qy + Ri[8] * qz;
          const dx = px - s.cx;
          const dy = py - s.cy;
          const u = (dx * s.cos + dy * s.sin) / s.a;
          const w = (-dx * s.sin + dy * s.cos) / s.b;
          const t = infZ ? 0 : (pz - s.cz) / s.c;
          const rho = M_sqrt(u * u + w * w + t * t);
          const d = M_max((rho - 1) * minSemi, s.z1 - pz, pz - s.z2);
          if (d > hd) continue;
          const idx = row + i;
          if (s.label && d <= 0) labels[idx] = s.label;
          if (d < -hd) {
            work[idx] = layerHu(s, rho);
            continue;
          }
          // partial volume: 3 x 3 in-plane x 3 through the slice thickness
          let cnt = 0;
          let sum = 0;
          for (const fz of sub) for (const fy of sub) for (const fx of sub) {
            const sx = qx + fx * ps;
            const sy = qy + fy * ps;
            const sz = qz + fz * thick;
            const ax = Ri[0] * sx + Ri[1] * sy + Ri[2] * sz;
            const ay = Ri[3] * sx + Ri[4] * sy + Ri[5] * sz;
            const az = Ri[6] * sx + Ri[7] * sy + Ri[8] * sz;
            if (az < s.z1 || az > s.z2) continue;
            const r2 = rhoOf(s, ax, ay, az);
            if (r2 > 1) continue;
            cnt++;
            sum += layerHu(s, r2);
          }
          if (cnt > 0) {
            const f = cnt / 27;
            work[idx] = work[idx] * (1 - f) + (sum / cnt) * f;
          }
        }
      }
    }
  }
  // ---- noise, rounding ----
  const hu = new Int16Array(n);
  const nr = mulberry32(deriveSeed(seed, 'hard-noise', subjectIndex, visitIndex));
  for (let i = 0; i < n; i += 2) {
    let g1 = 0;
    let g2 = 0;
    if (sigma > 0) {
      let uu = nr();
      if (uu < 1e-12) uu = 1e-12;
      const r = sigma * M_sqrt(-2 * M_log(uu));
      const th = 6.283185307179586 * nr();
      g1 = r * M_cos(th);
      g2 = r * M_sin(th);
    }
    hu[i] = M_max(-1024, M_min(3071, M_round(work[i] + g1)));
    if (i + 1 < n) hu[i + 1] = M_max(-1024, M_min(3071, M_round(work[i + 1] + g2)));
  }
  return { ...result, hu, labels };
}

/** Minimal NRRD (raw, little endian, uint8) on the DICOM grid (LPS). */
export function labelsNrrd(r: PhantomVisitRender): Buffer {
  const [cols, rows, slices] = r.dims;
  const [psx, psy, dz] = r.spacing;
  const f = (x: number): string => String(round(x, 6));
  const header = [
    'NRRD0004',
    '# lesion labels: 0 background, 1 liver lesion, 2 lung lesion, 3 lymph node lesion',
    'type: uint8',
    'dimension: 3',
    'space: left-posterior-superior',
    `sizes: ${cols} ${rows} ${slices}`,
    `space directions: (${f(psx)},0,0) (0,${f(psy)},0) (0,0,${f(dz)})`,
    'kinds: domain domain domain',
    'endian: little',
    'encoding: raw',
    `space origin: (${f(r.affine[3])},${f(r.affine[7])},${f(r.affine[11])})`,
    '',
    '',
  ].join('\n');
  return Buffer.concat([Buffer.from(header, 'ascii'), Buffer.from(r.labels.buffer, r.labels.byteOffset, r.labels.byteLength)]);
}
