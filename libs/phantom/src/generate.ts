import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { InputError } from '@app/core';
import { deriveSeed, mulberry32, phantomUid } from './prng';
import { makePhi, type PlantedPhi } from './phi';
import type { GroundTruthRow, Organ, PhantomFile, PhantomOptions, PhantomResult, Trajectory } from './types';
import { labelsNrrd, renderHardVisit, type PhantomVisitRender } from './hard';

// dcmjs ships no type declarations; we use a small typed view of what we call.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs = require('dcmjs') as {
  data: {
    DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(o?: object): ArrayBuffer };
    DicomMetaDictionary: { denaturalizeDataset(ds: Record<string, unknown>): Record<string, unknown> };
  };
};

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const PHANTOM_IMPLEMENTATION_UID = '2.25.186140233771391402233470165371364213027';
const HU_AIR = -1000;
const HU_BODY = 40;
const HU_LUNG = -850;
const HU_LIVER = 60;

interface LesionSpec {
  id: string;
  organ: Organ;
  nodal: boolean;
  cx: number;
  cy: number;
  cz: number;
  a: number;
  b: number;
  c: number;
  rotDeg: number;
  hu: number;
  /** First visit index at which it exists (0 = baseline). */
  appearsAt: number;
  /** Visit index from which it has disappeared (complete response of that lesion), or Infinity. */
  disappearsAt: number;
}

const DEFAULT_TRAJECTORIES: Trajectory[] = ['responder', 'progressor', 'stable', 'late-responder'];

/** Linear scale factor of every lesion semi-axis at each visit, and when a new lesion appears. */
export function trajectoryScales(t: Trajectory, visits: number): { name: string; scales: number[]; newLesionAt: number; lungCrAt: number } {
  const n = visits;
  const at = (f: (v: number) => number): number[] => Array.from({ length: n }, (_, v) => +f(v).toFixed(4));
  if (typeof t === 'object') {
    if (!Array.isArray(t.scales) || t.scales.length === 0 || t.scales.some((s) => !Number.isFinite(s) || s < 0 || s > 5)) {
      throw new InputError('phantom.bad-trajectory', `custom trajectory scales must be 1..${n} numbers in [0, 5], got ${JSON.stringify(t.scales)}`);
    }
    const scales = at((v) => t.scales[Math.min(v, t.scales.length - 1)]);
    return { name: t.name ?? 'custom', scales, newLesionAt: t.newLesionAtVisit ?? Infinity, lungCrAt: Infinity };
  }
  switch (t) {
    case 'responder':
      return { name: t, scales: at((v) => (v === 0 ? 1 : Math.max(0.3, 1 - 0.3 * v))), newLesionAt: Infinity, lungCrAt: 2 };
    case 'progressor':
      return { name: t, scales: at((v) => 1 + 0.15 * v), newLesionAt: Math.min(2, Math.max(1, n - 1)), lungCrAt: Infinity };
    case 'stable':
      return { name: t, scales: at((v) => [1, 1.04, 0.97, 1.02, 0.99][v % 5]), newLesionAt: Infinity, lungCrAt: Infinity };
    case 'late-responder':
      return { name: t, scales: at((v) => [1, 1.05, 0.8, 0.6][v] ?? Math.max(0.35, 0.6 - 0.05 * (v - 3))), newLesionAt: Infinity, lungCrAt: Infinity };
    default:
      throw new InputError('phantom.bad-trajectory', `unknown trajectory '${String(t)}'; expected responder, progressor, stable, late-responder or { scales: number[] }`);
  }
}

const p2 = (n: number): string => String(n).padStart(2, '0');
const daDate = (d: Date): string => `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}`;
const isoDate = (d: Date): string => d.toISOString().slice(0, 10);
/** Truncates to at most `max` UTF-8 bytes (VR lengths count bytes) without splitting a character. */
const fitBytes = (s: string, max: number): string => {
  let out = s;
  while (Buffer.byteLength(out, 'utf8') > max) out = out.slice(0, -1);
  return out.trimEnd();
};
/** DS values: at most 16 characters. */
const ds = (x: number): string => {
  let s = String(+x.toFixed(6));
  if (s.length > 16) s = String(+x.toPrecision(10));
  return s;
};

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new InputError('phantom.bad-option', `option ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}
function checkNum(name: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new InputError('phantom.bad-option', `option ${name} must be a number in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/**
 * Generates a synthetic CT trial data set: `subjects` x `visits` studies of one axial CT series each,
 * with ellipsoidal lesions following a trajectory, plus the analytic ground truth.
 *
 * Geometry conventions (LPS patient coordinates, mm): ImageOrientationPatient 1\0\0\0\1\0; pixel (col i,
 * row j) of slice k has its centre at x = -(cols-1)/2*ps + i*ps, y = -(rows-1)/2*ps + j*ps,
 * z = -(slices-1)/2*dz + k*dz (instance k+1, inferior to superior). A voxel belongs to a lesion when its
 * centre lies inside the ellipsoid (point sampling, no partial volume). Lesion centres are placed on a
 * slice centre, so the largest axial section (semi-axes a, b) is imaged; LD = 2a, SA = 2b, V = 4/3 pi abc.
 */
export async function generatePhantomStudy(opts: PhantomOptions): Promise<PhantomResult> {
  if (opts.realism === 'hard') return generateHardStudy(opts);
  if (opts.realism !== undefined && opts.realism !== 'basic') {
    throw new InputError('phantom.bad-option', `option realism must be 'basic' or 'hard', got ${String(opts.realism)}`);
  }
  if (opts.writeLabels || opts.extraLesions !== undefined) {
    throw new InputError('phantom.bad-option', "options writeLabels and extraLesions need realism: 'hard'");
  }
  const subjects = checkInt('subjects', opts.subjects ?? 2, 1, 10000);
  const visits = checkInt('visits', opts.visits ?? 3, 1, 50);
  const rows = checkInt('rows', opts.rows ?? 256, 32, 4096);
  const cols = checkInt('cols', opts.cols ?? 256, 32, 4096);
  const slices = checkInt('slices', opts.slices ?? 40, 1, 5000);
  const ps = checkNum('pixelSpacing', opts.pixelSpacing ?? Math.min(10, +(360 / cols).toFixed(4)), 0.05, 10);
  const dz = checkNum('sliceSpacing', opts.sliceSpacing ?? 2.5, 0.1, 20);
  const thick = checkNum('sliceThickness', opts.sliceThickness ?? dz, 0.1, 20);
  const sigma = checkNum('noiseSigma', opts.noiseSigma ?? 10, 0, 500);
  const seed = opts.seed ?? 1;
  const bitsStored = opts.bitsStored ?? 12;
  if (bitsStored !== 12 && bitsStored !== 16) throw new InputError('phantom.bad-option', `option bitsStored must be 12 or 16, got ${String(bitsStored)}`);
  const trajectories = opts.trajectories && opts.trajectories.length > 0 ? opts.trajectories : DEFAULT_TRAJECTORIES;
  const prefix = opts.subjectPrefix ?? 'SUBJ';
  const base0 = new Date(`${opts.baselineDate ?? '2024-01-15'}T00:00:00Z`);
  if (Number.isNaN(base0.getTime())) throw new InputError('phantom.bad-option', `option baselineDate must be YYYY-MM-DD, got ${opts.baselineDate}`);
  mkdirSync(opts.outDir, { recursive: true });

  const x0 = (-(cols - 1) / 2) * ps;
  const y0 = (-(rows - 1) / 2) * ps;
  const z0 = (-(slices - 1) / 2) * dz;
  const zHalf = ((slices - 1) / 2) * dz;
  const snapZ = (z: number): number => z0 + Math.round((z - z0) / dz) * dz;
  // Body ellipse and organs scale with the field of view (a 360 mm FOV gives a 330 x 250 mm torso).
  const bx = Math.min(165, 0.46 * cols * ps);
  const by = Math.min(125, 0.42 * rows * ps);

  const files: PhantomFile[] = [];
  const groundTruth: GroundTruthRow[] = [];
  const minStored = bitsStored === 12 ? 0 : -32768;
  const maxStored = bitsStored === 12 ? 4095 : 32767;
  const nPix = rows * cols;
  const hu = new Int16Array(nPix);
  const stored = bitsStored === 12 ? new Uint16Array(nPix) : new Int16Array(nPix);

  for (let s = 0; s < subjects; s++) {
    const subjectId = `${prefix}-${String(s + 1).padStart(3, '0')}`;
    const rand = mulberry32(deriveSeed(seed, 'subject', s));
    const traj = trajectoryScales(trajectories[s % trajectories.length], visits);
    const phi = makePhi(rand, s);
    const jit = (): number => 0.85 + 0.3 * rand();
    const lesions: LesionSpec[] = [
      { id: 'T01', organ: 'liver', nodal: false, cx: -0.45 * bx, cy: 0.15 * by, cz: snapZ(-0.3 * zHalf), a: 15 * jit(), b: 10 * jit(), c: 12 * jit(), rotDeg: 30 + 20 * (rand() - 0.5), hu: 140, appearsAt: 0, disappearsAt: Infinity },
      { id: 'T02', organ: 'lung', nodal: false, cx: 0.45 * bx, cy: -0.1 * by, cz: snapZ(0.3 * zHalf), a: 10 * jit(), b: 7.5 * jit(), c: 8 * jit(), rotDeg: -20 + 20 * (rand() - 0.5), hu: 100, appearsAt: 0, disappearsAt: traj.lungCrAt },
      { id: 'T03', organ: 'lymph node', nodal: true, cx: 0, cy: -0.05 * by, cz: snapZ(0), a: 12 * jit(), b: 9 * (0.95 + 0.2 * rand()), c: 9, rotDeg: 70 + 20 * (rand() - 0.5), hu: 110, appearsAt: 0, disappearsAt: Infinity },
      { id: 'NEW01', organ: 'liver', nodal: false, cx: -0.25 * bx, cy: 0.35 * by, cz: snapZ(-0.55 * zHalf), a: 8, b: 6, c: 6, rotDeg: 0, hu: 140, appearsAt: traj.newLesionAt, disappearsAt: Infinity },
    ];
    for (const l of lesions) if (l.b > l.a) [l.a, l.b] = [l.b, l.a];
    let visitDate = new Date(base0.getTime() + s * 9 * 86400000);
    for (let v = 0; v < visits; v++) {
      if (v > 0) visitDate = new Date(visitDate.getTime() + (42 + Math.floor(rand() * 15)) * 86400000);
      const visit = v === 0 ? 'BL' : `FU${v}`;
      const studyUid = phantomUid(seed, subjectId, visit, 'study');
      const seriesUid = phantomUid(seed, subjectId, visit, 'series');
      const forUid = phantomUid(seed, subjectId, visit, 'for');
      const da = daDate(visitDate);
      const hh = 8 + Math.floor(rand() * 9);
      const mm = Math.floor(rand() * 60);
      const studyTime = `${p2(hh)}${p2(mm)}${p2(Math.floor(rand() * 60))}`;
      const seriesTime = `${p2(hh)}${p2((mm + 4) % 60)}12`;
      const accession = `ACC${deriveSeed(seed, subjectId, visit) % 100000000}`;
      const scale = traj.scales[v];
      // Lesions at this visit (after scaling).
      const active = lesions.map((l) => {
        const present = v >= l.appearsAt && v < l.disappearsAt && scale > 0;
        const k = l.appearsAt > 0 ? 1 + 0.2 * (v - l.appearsAt) : scale; // new lesions keep growing
        return { l, present, a: present ? l.a * k : 0, b: present ? l.b * k : 0, c: present ? l.c * k : 0 };
      });
      for (const x of active) {
        if (x.l.appearsAt > visits) continue; // never appears in this trajectory: no rows
        groundTruth.push({
          subjectId, visit, visitIndex: v, visitDate: isoDate(visitDate), studyUid, seriesUid, trajectory: traj.name,
          lesionId: x.l.id, organ: x.l.organ, nodal: x.l.nodal, present: x.present, isNew: x.l.appearsAt > 0,
          centerX: +x.l.cx.toFixed(4), centerY: +x.l.cy.toFixed(4), centerZ: +x.l.cz.toFixed(4),
          semiA: +x.a.toFixed(4), semiB: +x.b.toFixed(4), semiC: +x.c.toFixed(4), rotationDeg: +x.l.rotDeg.toFixed(3),
          longestDiameterMm: +(2 * x.a).toFixed(4), shortAxisMm: +(2 * x.b).toFixed(4),
          volumeMm3: +((4 / 3) * Math.PI * x.a * x.b * x.c).toFixed(3), hu: x.l.hu,
        });
      }
      const present = active.filter((x) => x.present);
      const dir = join(opts.outDir, subjectId, visit);
      mkdirSync(dir, { recursive: true });
      const noiseRand = mulberry32(deriveSeed(seed, 'noise', subjectId, visit));
      for (let k = 0; k < slices; k++) {
        const z = z0 + k * dz;
        renderSlice(hu, rows, cols, x0, y0, ps, z, bx, by, present);
        toStored(hu, stored, sigma, noiseRand, minStored, maxStored);
        const sopUid = phantomUid(seed, subjectId, visit, 'sop', k);
        const ds0 = header({
          subjectId, phi: opts.withPhi ? phi : undefined, studyUid, seriesUid, forUid, sopUid, da, studyTime, seriesTime,
          accession, visit, k, rows, cols, ps, thick, dz, pos: [x0, y0, z], bitsStored, seed, visitIndex: v,
        });
        const path = writeCtSlice(dir, k, sopUid, ds0, stored.buffer.slice(0, nPix * 2), opts.withPhi ? phi : undefined, rows, cols);
        files.push({ path, subjectId, visit, visitIndex: v, studyUid, seriesUid, sopInstanceUid: sopUid, instanceNumber: k + 1 });
      }
    }
  }
  const groundTruthCsv = join(opts.outDir, 'ground_truth.csv');
  const groundTruthJson = join(opts.outDir, 'ground_truth.json');
  writeFileSync(groundTruthCsv, stringify(groundTruth, { header: true }));
  writeFileSync(groundTruthJson, JSON.stringify(groundTruth, null, 1));
  return { files, groundTruth, groundTruthCsv, groundTruthJson };
}

/**
 * Renders one visit of a 'hard' phantom in memory, without writing DICOM (fast training-data generation):
 * HU (noise and partial volume included), lesion labels (1 liver, 2 lung, 3 lymph node; voxel centre inside),
 * grid, affine, the visit's rigid patient transform and the ground-truth rows. Same pixels as the DICOM series
 * that `generatePhantomStudy({ ...opts, realism: 'hard' })` writes for that subject and visit.
 */
export function renderPhantomVisit(opts: Partial<PhantomOptions>, subjectIndex: number, visitIndex: number): PhantomVisitRender {
  if (opts.realism === 'basic') throw new InputError('phantom.bad-option', "renderPhantomVisit renders realism 'hard' only");
  return renderHardVisit(opts, subjectIndex, visitIndex, trajectoryScales);
}

/**
 * The ground-truth rows, grid and patient transform of one hard-phantom visit without rendering pixels
 * (`hu` and `labels` are empty). Same rows as renderPhantomVisit.
 */
export function hardPhantomGroundTruth(opts: Partial<PhantomOptions>, subjectIndex: number, visitIndex: number): PhantomVisitRender {
  return renderHardVisit(opts, subjectIndex, visitIndex, trajectoryScales, false);
}

/** Writes one CT slice file `<dir>/CT000k.dcm` (explicit VR little endian, file meta, optional raw PHI elements). */
function writeCtSlice(dir: string, k: number, sopUid: string, ds0: Record<string, unknown>, pixels: ArrayBuffer, phi: PlantedPhi | undefined, rows: number, cols: number): string {
  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: CT_IMAGE_STORAGE,
    MediaStorageSOPInstanceUID: sopUid,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: PHANTOM_IMPLEMENTATION_UID,
    ImplementationVersionName: 'PHANTOM_1_0',
    _vrMap: { FileMetaInformationVersion: 'OB' },
  });
  const dict = new dcmjs.data.DicomDict(meta);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds0);
  dict.dict['7FE00010'] = { vr: 'OW', Value: [pixels] };
  if (phi) addRawPhi(dict.dict, phi, rows, cols);
  const path = join(dir, `CT${String(k + 1).padStart(4, '0')}.dcm`);
  writeFileSync(path, Buffer.from(dict.write()));
  return path;
}

async function generateHardStudy(opts: PhantomOptions): Promise<PhantomResult> {
  const subjects = checkInt('subjects', opts.subjects ?? 2, 1, 10000);
  const visits = checkInt('visits', opts.visits ?? 3, 1, 50);
  const seed = opts.seed ?? 1;
  const bitsStored = opts.bitsStored ?? 12;
  if (bitsStored !== 12 && bitsStored !== 16) throw new InputError('phantom.bad-option', `option bitsStored must be 12 or 16, got ${String(bitsStored)}`);
  mkdirSync(opts.outDir, { recursive: true });
  const minStored = bitsStored === 12 ? 0 : -32768;
  const maxStored = bitsStored === 12 ? 4095 : 32767;
  const files: PhantomFile[] = [];
  const groundTruth: GroundTruthRow[] = [];
  for (let s = 0; s < subjects; s++) {
    const phi = makePhi(mulberry32(deriveSeed(seed, 'hard-phi', s)), s);
    for (let v = 0; v < visits; v++) {
      const r = renderHardVisit(opts, s, v, trajectoryScales);
      groundTruth.push(...r.groundTruth);
      const { subjectId, visit, studyUid, seriesUid } = r;
      const [cols, rows, slices] = r.dims;
      const [ps, , dz] = r.spacing;
      const nPix = rows * cols;
      const stored = bitsStored === 12 ? new Uint16Array(nPix) : new Int16Array(nPix);
      const forUid = phantomUid(seed, 'hard', subjectId, visit, 'for');
      const da = r.visitDate.replace(/-/g, '');
      const tr = mulberry32(deriveSeed(seed, 'hard-times', s, v));
      const hh = 8 + Math.floor(tr() * 9);
      const mm = Math.floor(tr() * 60);
      const studyTime = `${p2(hh)}${p2(mm)}${p2(Math.floor(tr() * 60))}`;
      const seriesTime = `${p2(hh)}${p2((mm + 4) % 60)}12`;
      const accession = `ACC${deriveSeed(seed, 'hard', subjectId, visit) % 100000000}`;
      const dir = join(opts.outDir, subjectId, visit);
      mkdirSync(dir, { recursive: true });
      for (let k = 0; k < slices; k++) {
        toStored(r.hu.subarray(k * nPix, (k + 1) * nPix), stored, 0, Math.random, minStored, maxStored);
        const sopUid = phantomUid(seed, 'hard', subjectId, visit, 'sop', k);
        const ds0 = header({
          subjectId, phi: opts.withPhi ? phi : undefined, studyUid, seriesUid, forUid, sopUid, da, studyTime, seriesTime,
          accession, visit, k, rows, cols, ps, thick: r.sliceThickness, dz, pos: [r.affine[3], r.affine[7], r.affine[11] + k * dz], bitsStored, seed, visitIndex: v,
        });
        const path = writeCtSlice(dir, k, sopUid, ds0, stored.buffer.slice(0, nPix * 2), opts.withPhi ? phi : undefined, rows, cols);
        files.push({ path, subjectId, visit, visitIndex: v, studyUid, seriesUid, sopInstanceUid: sopUid, instanceNumber: k + 1 });
      }
      if (opts.writeLabels) writeFileSync(join(dir, 'labels.nrrd'), labelsNrrd(r));
    }
  }
  const groundTruthCsv = join(opts.outDir, 'ground_truth.csv');
  const groundTruthJson = join(opts.outDir, 'ground_truth.json');
  writeFileSync(groundTruthCsv, stringify(groundTruth.map((g) => ({ ...g, patientTransform: (g.patientTransform ?? []).join(' ') })), { header: true }));
  writeFileSync(groundTruthJson, JSON.stringify(groundTruth, null, 1));
  return { files, groundTruth, groundTruthCsv, groundTruthJson };
}

/** Fills one axial slice (HU, before noise). */
function renderSlice(
  hu: Int16Array, rows: number, cols: number, x0: number, y0: number, ps: number, z: number, bx: number, by: number,
  lesions: { l: LesionSpec; a: number; b: number; c: number }[],
): void {
  hu.fill(HU_AIR);
  const fillEllipse = (cx: number, cy: number, ax: number, ay: number, value: number): void => {
    for (let j = 0; j < rows; j++) {
      const y = y0 + j * ps;
      const t = (y - cy) / ay;
      if (t <= -1 || t >= 1) continue;
      const half = ax * Math.sqrt(1 - t * t);
      const i0 = Math.max(0, Math.ceil((cx - half - x0) / ps));
      const i1 = Math.min(cols - 1, Math.floor((cx + half - x0) / ps));
      if (i1 >= i0) hu.fill(value, j * cols + i0, j * cols + i1 + 1);
    }
  };
  fillEllipse(0, 0, bx, by, HU_BODY);
  if (z >= 0) {
    fillEllipse(-0.45 * bx, -0.1 * by, 0.35 * bx, 0.6 * by, HU_LUNG);
    fillEllipse(0.45 * bx, -0.1 * by, 0.35 * bx, 0.6 * by, HU_LUNG);
  } else {
    fillEllipse(-0.4 * bx, 0.1 * by, 0.45 * bx, 0.55 * by, HU_LIVER);
  }
  for (const { l, a, b, c } of lesions) {
    const tz = (z - l.cz) / c;
    if (tz * tz > 1) continue;
    const cos = Math.cos((l.rotDeg * Math.PI) / 180);
    const sin = Math.sin((l.rotDeg * Math.PI) / 180);
    const r = a; // a >= b bounds the section
    const j0 = Math.max(0, Math.floor((l.cy - r - y0) / ps));
    const j1 = Math.min(rows - 1, Math.ceil((l.cy + r - y0) / ps));
    const i0 = Math.max(0, Math.floor((l.cx - r - x0) / ps));
    const i1 = Math.min(cols - 1, Math.ceil((l.cx + r - x0) / ps));
    const lim = 1 - tz * tz;
    for (let j = j0; j <= j1; j++) {
      const dy = y0 + j * ps - l.cy;
      for (let i = i0; i <= i1; i++) {
        const dx = x0 + i * ps - l.cx;
        const u = (dx * cos + dy * sin) / a;
        const w = (-dx * sin + dy * cos) / b;
        if (u * u + w * w <= lim) hu[j * cols + i] = l.hu;
      }
    }
  }
}

/** HU + Gaussian noise -> stored values (stored = HU + 1024, clamped to the BitsStored range). */
function toStored(hu: Int16Array, out: Uint16Array | Int16Array, sigma: number, rand: () => number, lo: number, hi: number): void {
  const n = hu.length;
  if (sigma === 0) {
    for (let i = 0; i < n; i++) {
      const v = hu[i] + 1024;
      out[i] = v < lo ? lo : v > hi ? hi : v;
    }
    return;
  }
  for (let i = 0; i < n; i += 2) {
    let u = rand();
    if (u < 1e-12) u = 1e-12;
    const r = sigma * Math.sqrt(-2 * Math.log(u));
    const th = 6.283185307179586 * rand();
    let v = Math.round(hu[i] + 1024 + r * Math.cos(th));
    out[i] = v < lo ? lo : v > hi ? hi : v;
    if (i + 1 < n) {
      v = Math.round(hu[i + 1] + 1024 + r * Math.sin(th));
      out[i + 1] = v < lo ? lo : v > hi ? hi : v;
    }
  }
}

interface HeaderArgs {
  subjectId: string; phi?: PlantedPhi; studyUid: string; seriesUid: string; forUid: string; sopUid: string; da: string;
  studyTime: string; seriesTime: string; accession: string; visit: string; visitIndex: number; k: number; rows: number; cols: number;
  ps: number; thick: number; dz: number; pos: [number, number, number]; bitsStored: 12 | 16; seed: number;
}

function header(h: HeaderArgs): Record<string, unknown> {
  const signed = h.bitsStored === 16;
  const acqTime = `${h.seriesTime.slice(0, 4)}${p2(20 + Math.floor(h.k / 10) % 40)}.${String(h.k % 10)}00000`.slice(0, 13);
  const ds0: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    SOPClassUID: CT_IMAGE_STORAGE,
    SOPInstanceUID: h.sopUid,
    StudyDate: h.da, SeriesDate: h.da, AcquisitionDate: h.da, ContentDate: h.da,
    StudyTime: h.studyTime, SeriesTime: h.seriesTime, AcquisitionTime: acqTime, ContentTime: acqTime,
    AccessionNumber: h.accession,
    Modality: 'CT',
    Manufacturer: 'PhantomWorks',
    ReferringPhysicianName: h.phi ? h.phi.referringPhysician : '',
    StudyDescription: h.phi ? `CT CHEST ABD ${h.visit} ${h.phi.patientName.split('^')[0]}` : `CT CHEST ABDOMEN ${h.visit}`,
    SeriesDescription: h.phi ? `AXIAL 2.5 SOFT TISSUE for ${h.phi.patientName.split('^')[0]}` : 'AXIAL SOFT TISSUE',
    ManufacturerModelName: 'Phantom CT 1',
    PatientName: h.phi ? h.phi.patientName : `PHANTOM^${h.subjectId}`,
    PatientID: h.phi ? h.phi.patientId : h.subjectId,
    PatientBirthDate: h.phi ? h.phi.birthDate : '',
    PatientSex: h.phi ? h.phi.sex : 'O',
    BodyPartExamined: 'CHEST',
    SliceThickness: ds(h.thick),
    KVP: '120',
    SoftwareVersions: 'phantom 1.0',
    ConvolutionKernel: 'STANDARD',
    PatientPosition: 'HFS',
    StudyInstanceUID: h.studyUid,
    SeriesInstanceUID: h.seriesUid,
    StudyID: h.phi ? `ST${h.phi.patientId.slice(3, 9)}${h.visitIndex}` : h.visit,
    SeriesNumber: '2',
    AcquisitionNumber: '1',
    InstanceNumber: String(h.k + 1),
    ImagePositionPatient: h.pos.map(ds),
    ImageOrientationPatient: ['1', '0', '0', '0', '1', '0'],
    FrameOfReferenceUID: h.forUid,
    PositionReferenceIndicator: '',
    SliceLocation: ds(h.pos[2]),
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: h.rows,
    Columns: h.cols,
    PixelSpacing: [ds(h.ps), ds(h.ps)],
    BitsAllocated: 16,
    BitsStored: h.bitsStored,
    HighBit: h.bitsStored - 1,
    PixelRepresentation: signed ? 1 : 0,
    WindowCenter: '40',
    WindowWidth: '400',
    RescaleIntercept: '-1024',
    RescaleSlope: '1',
    RescaleType: 'HU',
  };
  if (h.phi) {
    const p = h.phi;
    Object.assign(ds0, {
      InstanceCreationDate: h.da, InstanceCreationTime: h.seriesTime,
      AcquisitionDateTime: `${h.da}${acqTime}`,
      InstitutionName: p.institution, InstitutionAddress: p.institutionAddress, InstitutionalDepartmentName: p.department,
      StationName: p.stationName, DeviceSerialNumber: p.deviceSerial,
      PhysiciansOfRecord: p.physicianOfRecord, PerformingPhysicianName: p.performingPhysician,
      NameOfPhysiciansReadingStudy: p.readingPhysician, OperatorsName: p.operator,
      IssuerOfPatientID: p.issuerOfPatientId, PatientBirthTime: p.birthTime,
      OtherPatientIDs: p.otherPatientId, OtherPatientNames: p.otherPatientName, PatientBirthName: p.birthName,
      PatientAge: `${String(Number(h.da.slice(0, 4)) - Number(p.birthDate.slice(0, 4))).padStart(3, '0')}Y`,
      PatientSize: p.sizeM, PatientWeight: p.weightKg, MedicalRecordLocator: p.medicalRecordLocator,
      PatientAddress: p.address, PatientMotherBirthName: p.motherBirthName, PatientTelephoneNumbers: p.telephone,
      EthnicGroup: p.ethnicGroup, Occupation: p.occupation, AdditionalPatientHistory: p.additionalHistory,
      PatientComments: p.patientComments, AdmittingDiagnosesDescription: p.admittingDiagnoses,
      ProtocolName: `ONCO CHEST ${p.institution}`,
      PerformedProcedureStepStartDate: h.da, PerformedProcedureStepStartTime: h.studyTime,
      PerformedProcedureStepID: `PPS${p.patientId.slice(3)}`,
      PerformedProcedureStepDescription: `CT staging for ${p.patientName.replace(/\^/g, ' ').trim()}`,
      RequestingPhysician: p.requestingPhysician,
      RequestedProcedureDescription: `Restaging CT requested by ${p.requestingPhysician.split('^')[0]}`,
      ImageComments: `Tech note: ${p.patientName.split('^')[0]} moved during scan, room ${p.stationName}`,
      DerivationDescription: `Reconstructed at ${p.institution}`,
      IrradiationEventUID: phantomUid(h.seed, h.subjectId, h.visit, 'irradiation'),
      OtherPatientIDsSequence: [{ PatientID: p.otherPatientId, IssuerOfPatientID: 'NHS', TypeOfPatientID: 'TEXT' }],
      ReferencedPatientSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.3.1.2.1.1', ReferencedSOPInstanceUID: phantomUid(h.seed, h.subjectId, 'patient') }],
      ReferencedStudySequence: [{ ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.1', ReferencedSOPInstanceUID: h.studyUid }],
      ReferencedPerformedProcedureStepSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.3.1.2.3.3', ReferencedSOPInstanceUID: phantomUid(h.seed, h.subjectId, h.visit, 'pps') }],
      RequestAttributesSequence: [{
        RequestedProcedureID: `RP${p.patientId.slice(3)}${h.visitIndex}`,
        ScheduledProcedureStepID: `SPS${p.patientId.slice(3)}${h.visitIndex}`,
        ScheduledProcedureStepDescription: `CT for ${p.patientName.split('^')[0]} at ${p.institution}`,
        ReasonForTheRequestedProcedure: fitBytes(`Follow-up of ${p.admittingDiagnoses}`, 64),
        AccessionNumber: h.accession,
        StudyInstanceUID: h.studyUid,
      }],
      // A previous slice of the same series, when there is one (tests UID mapping inside sequences).
      ...(h.k > 0
        ? { ReferencedImageSequence: [{ ReferencedSOPClassUID: CT_IMAGE_STORAGE, ReferencedSOPInstanceUID: phantomUid(h.seed, h.subjectId, h.visit, 'sop', h.k - 1) }] }
        : {}),
    });
  }
  return ds0;
}

/** Elements dcmjs cannot name: a private block (also nested in a sequence) and an overlay plane with comments. */
function addRawPhi(dict: Record<string, unknown>, p: PlantedPhi, rows: number, cols: number): void {
  dict['00090010'] = { vr: 'LO', Value: [p.privateCreator] };
  dict['00091001'] = { vr: 'LO', Value: [p.privateText] };
  dict['00091002'] = { vr: 'DA', Value: [p.birthDate] };
  dict['00091003'] = { vr: 'UT', Value: [`${p.address}; tel ${p.telephone}`] };
  const req = dict['00400275'] as { Value: Record<string, unknown>[] } | undefined;
  if (req?.Value?.[0]) {
    req.Value[0]['00410010'] = { vr: 'LO', Value: [p.privateCreator] };
    req.Value[0]['00411001'] = { vr: 'LO', Value: [`nested ${p.privateText}`] };
  }
  // also inside a sequence that de-identification keeps (so recursive cleaning is exercised)
  const refImg = dict['00081140'] as { Value: Record<string, unknown>[] } | undefined;
  if (refImg?.Value?.[0]) {
    refImg.Value[0]['00430010'] = { vr: 'LO', Value: [p.privateCreator] };
    refImg.Value[0]['00431001'] = { vr: 'LO', Value: [`ref ${p.patientId} ${p.telephone}`] };
  }
  const ovRows = Math.min(rows, 64);
  const ovCols = Math.min(cols, 64);
  const bits = new Uint8Array(Math.ceil((ovRows * ovCols) / 8 / 2) * 2);
  for (let i = 0; i < bits.length; i += 3) bits[i] = 0x55;
  dict['60000010'] = { vr: 'US', Value: [ovRows] };
  dict['60000011'] = { vr: 'US', Value: [ovCols] };
  dict['60000040'] = { vr: 'CS', Value: ['G'] };
  dict['60000050'] = { vr: 'SS', Value: [1, 1] };
  dict['60000100'] = { vr: 'US', Value: [1] };
  dict['60000102'] = { vr: 'US', Value: [0] };
  dict['60003000'] = { vr: 'OW', Value: [bits.buffer] };
  dict['60004000'] = { vr: 'LT', Value: [`Annotated by ${p.readingPhysician} for ${p.patientName}`] };
}
