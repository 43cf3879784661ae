import { multiply4, rigidFromEuler } from '@app/tracking';

/** Analytic torso phantom in "anatomy" mm: HU at a point. */
export function phantomHu(x: number, y: number, z: number): number {
  const ax = 120 + 12 * Math.sin(z / 45), ay = 85 + 8 * Math.cos(z / 60);
  const e = (x / ax) ** 2 + ((y - 5) / ay) ** 2;
  if (e > 1 || z < -400 || z > 400) return -1000;
  // spine: vertebral bodies (gaps = discs), posterior
  if ((x * x + (y - 55) ** 2) < 15 * 15 && ((z + 1000) % 30) < 22) return 500;
  // ribs-like ring segments at some z
  const sph = (cx: number, cy: number, cz: number, r: number): boolean => (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < r * r;
  const ell = (cx: number, cy: number, cz: number, rx: number, ry: number, rz: number): boolean =>
    ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 < 1;
  if (ell(-45, -5, 70, 32, 38, 55) || ell(48, -5, 75, 30, 36, 50)) return -820; // lungs
  if (sph(55, 35, -30, 22) || sph(-58, 38, -45, 20)) return 220; // enhancing kidneys
  if (sph(30, -40, 10, 12)) return 300; // contrast-filled vessel blob
  if (ell(-50, -10, 0, 45, 40, 35)) return 60; // liver
  return 35;
}

export interface TestVolume {
  dims: [number, number, number];
  spacing: [number, number, number];
  affine: number[];
  data: Int16Array;
}

/**
 * Render a volume whose patient frame relates to the anatomy frame by `patientToAnatomy`
 * (identity for the fixed scan). origin = patient position of voxel (0,0,0). Each voxel averages `zSub`
 * samples across its slice thickness (partial-volume effect of a real CT slice).
 */
export function renderVolume(
  dims: [number, number, number],
  spacing: [number, number, number],
  origin: [number, number, number],
  patientToAnatomy: number[],
  zSub = 3,
): TestVolume {
  const affine = [spacing[0], 0, 0, origin[0], 0, spacing[1], 0, origin[1], 0, 0, spacing[2], origin[2], 0, 0, 0, 1];
  const M = multiply4(patientToAnatomy, affine);
  const data = new Int16Array(dims[0] * dims[1] * dims[2]);
  let p = 0;
  for (let k = 0; k < dims[2]; k++) {
    for (let j = 0; j < dims[1]; j++) {
      for (let i = 0; i < dims[0]; i++) {
        let sum = 0;
        for (let s = 0; s < zSub; s++) {
          const kk = k + (s + 0.5) / zSub - 0.5;
          const x = M[0] * i + M[1] * j + M[2] * kk + M[3];
          const y = M[4] * i + M[5] * j + M[6] * kk + M[7];
          const z = M[8] * i + M[9] * j + M[10] * kk + M[11];
          sum += phantomHu(x, y, z);
        }
        data[p++] = Math.round(sum / zSub);
      }
    }
  }
  return { dims, spacing, affine, data };
}

export const centred = (dims: number[], spacing: number[], zOffset = 0): [number, number, number] => [
  (-(dims[0] - 1) / 2) * spacing[0],
  (-(dims[1] - 1) / 2) * spacing[1],
  (-(dims[2] - 1) / 2) * spacing[2] + zOffset,
];

export { rigidFromEuler };
