/**
 * Renders 'hard' CT phantoms in memory (libs/phantom renderPhantomVisit) and writes training crops (or full
 * evaluation volumes) as raw little-endian files + a JSON index under /tmp/ctseg-data (never the repo).
 *
 *   node -r @swc-node/register models/ct-lesion-seg/0.1.0/train/make_data.ts train <firstSeed> <count> [part]
 *   node -r @swc-node/register models/ct-lesion-seg/0.1.0/train/make_data.ts eval           # seeds 9000-9019
 *
 * Training seeds are 1000+ (the card says 1000-1199); evaluation seeds 9000-9019 are refused for training.
 * Volume for seed S: subject index S % 4 (trajectory), visit S % 3 of a 3-visit study (so motion varies).
 * Training crop: 3 adjacent slices (k-1, k, k+1; edges replicated) x 160 x 160 of HU (int16) + the labels of
 * slice k (uint8); 60 % centred near a lesion voxel (jitter +-40 px), 40 % at random in the body.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32, renderPhantomVisit } from '@app/phantom';

const OUT = process.env.CTSEG_DATA ?? '/tmp/ctseg-data';
const C = 160;
const CROPS = 48;

export function volumeFor(seed: number): ReturnType<typeof renderPhantomVisit> {
  return renderPhantomVisit({ seed, visits: 3 }, seed % 4, seed % 3);
}

/** Crop centre (slice k, row j, column i). */
export type CropCentre = [number, number, number];
/**
 * Extra crop centres for a seed, drawn after the usual 48 (so those stay the same draws): the hard-negatives
 * experiment (hard-negatives/make_data.ts) adds crops where 0.1.0 proposed false positives.
 */
export type ExtraCentres = (seed: number, r: ReturnType<typeof renderPhantomVisit>, rand: () => number) => CropCentre[];

export function train(first: number, count: number, part: string, extra?: ExtraCentres, refuse: (seed: number) => boolean = (s) => s >= 9000 && s <= 9019): void {
  mkdirSync(OUT, { recursive: true });
  const x: Int16Array[] = [];
  const y: Uint8Array[] = [];
  const index: unknown[] = [];
  for (let seed = first; seed < first + count; seed++) {
    if (refuse(seed)) throw new Error(`seed ${seed} is an evaluation (or tuning) seed`);
    const t = Date.now();
    const r = volumeFor(seed);
    const [cols, rows, slices] = r.dims;
    const plane = rows * cols;
    const rand = mulberry32(seed * 7919 + 17);
    const lesionVox: number[] = [];
    for (let i = 0; i < r.labels.length; i++) if (r.labels[i]) lesionVox.push(i);
    const centres: CropCentre[] = [];
    for (let n = 0; n < CROPS; n++) {
      let k: number, cj: number, ci: number;
      if (lesionVox.length > 0 && rand() < 0.6) {
        const v = lesionVox[Math.floor(rand() * lesionVox.length)];
        k = Math.floor(v / plane);
        cj = Math.floor((v % plane) / cols) + Math.round((rand() - 0.5) * 80);
        ci = (v % cols) + Math.round((rand() - 0.5) * 80);
      } else {
        k = Math.floor(rand() * slices);
        cj = Math.round(rows * (0.15 + 0.7 * rand()));
        ci = Math.round(cols * (0.1 + 0.8 * rand()));
      }
      centres.push([k, cj, ci]);
    }
    const nExtra = extra ? centres.push(...extra(seed, r, rand)) - CROPS : 0;
    for (const [k, cj, ci] of centres) {
      const j0 = Math.max(0, Math.min(rows - C, cj - C / 2));
      const i0 = Math.max(0, Math.min(cols - C, ci - C / 2));
      const xs = new Int16Array(3 * C * C);
      const ys = new Uint8Array(C * C);
      for (let c = 0; c < 3; c++) {
        const kk = Math.max(0, Math.min(slices - 1, k + c - 1));
        for (let j = 0; j < C; j++) {
          const src = kk * plane + (j0 + j) * cols + i0;
          xs.set(r.hu.subarray(src, src + C), c * C * C + j * C);
          if (c === 1) ys.set(r.labels.subarray(src, src + C), j * C);
        }
      }
      x.push(xs);
      y.push(ys);
    }
    index.push({ seed, dims: r.dims, spacing: r.spacing, noise: r.noiseSigma, lesions: r.groundTruth.filter((g) => g.present).length, ...(extra ? { extraCrops: nExtra } : {}), ms: Date.now() - t });
    process.stdout.write(`seed ${seed} ${r.dims.join('x')} ${Date.now() - t} ms\n`);
  }
  const cat = <T extends Int16Array | Uint8Array>(arrs: T[], ctor: new (n: number) => T): T => {
    const out = new ctor(arrs.reduce((s, a) => s + a.length, 0));
    let o = 0;
    for (const a of arrs) { out.set(a, o); o += a.length; }
    return out;
  };
  const X = cat(x, Int16Array);
  const Y = cat(y, Uint8Array);
  writeFileSync(join(OUT, `train-${part}-x.i16`), Buffer.from(X.buffer));
  writeFileSync(join(OUT, `train-${part}-y.u8`), Buffer.from(Y.buffer));
  writeFileSync(join(OUT, `train-${part}.json`), JSON.stringify({ n: x.length, crop: C, volumes: index }, null, 1));
}

function evalData(): void {
  const dir = join(OUT, 'eval');
  mkdirSync(dir, { recursive: true });
  for (let seed = 9000; seed <= 9019; seed++) {
    const r = volumeFor(seed);
    writeFileSync(join(dir, `${seed}-hu.i16`), Buffer.from(r.hu.buffer));
    writeFileSync(join(dir, `${seed}-labels.u8`), Buffer.from(r.labels.buffer));
    writeFileSync(join(dir, `${seed}.json`), JSON.stringify({ seed, dims: r.dims, spacing: r.spacing, affine: r.affine, patientTransform: r.patientTransform, noiseSigma: r.noiseSigma, groundTruth: r.groundTruth }));
    process.stdout.write(`eval ${seed} ${r.dims.join('x')}\n`);
  }
}

if (require.main === module) {
  const [mode, a, b, part] = process.argv.slice(2);
  if (mode === 'train') train(Number(a ?? 1000), Number(b ?? 200), part ?? 'a');
  else if (mode === 'eval') evalData();
  else throw new Error('usage: make_data.ts train <firstSeed> <count> [part] | eval');
}
