/**
 * Hard-negative mining for the 0.2.0 candidate (README.md): runs the previous version (ct-lesion-seg@0.1.0) through segmentVolume on
 * training seeds it never saw (1200-1229 by default: neither 0.1.0's training seeds 1000-1199, nor the tuning seeds
 * 8000-8049, nor the evaluation seeds 9000-9039) and writes, per predicted component that overlaps no ground-truth
 * lesion voxel (a false positive, however small or unsure), the slice where it has most voxels and its centre there.
 * make_data.ts then cuts extra training crops centred on these places (with their true labels: background there), so the new model learns
 * exactly the enhancing vessels, bowel walls and lung/fat blobs the old one mistook for lesions.
 *
 *   node -r @swc-node/register models/ct-lesion-seg/0.1.0/train/hard-negatives/mine_hard_negatives.ts [first=1200] [count=30] > $CTSEG_DATA/hard-negatives.jsonl
 */
import { createInferencePool, segmentVolume } from '@app/inference';
import { connectedComponents3d } from '@app/measure';
import { isHeldOut, volumeFor } from './make_data';

async function main(): Promise<void> {
  const first = Number(process.argv[2] ?? 1200);
  const count = Number(process.argv[3] ?? 30);
  const pool = createInferencePool({ threads: 1, intraOpNumThreads: 2, batchSize: 16 });
  const model = await pool.model('ct-lesion-seg@0.1.0');
  for (let s = first; s < first + count; s++) {
    if (isHeldOut(s)) throw new Error(`seed ${s} is an evaluation or tuning seed`);
    const t0 = Date.now();
    const r = volumeFor(s);
    // overlap 0 (one window per pixel, a third of the card's windows): mining only needs where the model errs
    const seg = await segmentVolume({ dims: r.dims, data: r.hu }, model, { batchSize: 16, probabilities: [0], overlap: 0 });
    const P = connectedComponents3d(seg.labels, r.dims, { connectivity: 26, minVoxels: 1 });
    const bg = seg.probabilities![0];
    const [nx, ny, nz] = r.dims;
    const plane = nx * ny;
    const hitsGt = new Uint8Array(P.count + 1);
    const vox = new Float64Array(P.count + 1);
    const fg = new Float64Array(P.count + 1);
    const perSlice = new Float64Array((P.count + 1) * nz);
    for (let i = 0; i < P.components.length; i++) {
      const c = P.components[i];
      if (!c) continue;
      if (r.labels[i]) hitsGt[c] = 1;
      vox[c]++;
      fg[c] += 1 - bg[i];
      perSlice[c * nz + Math.floor(i / plane)]++;
    }
    let n = 0;
    for (let c = 1; c <= P.count; c++) {
      if (hitsGt[c]) continue;
      let k = 0;
      let slices = 0;
      for (let z = 0; z < nz; z++) {
        if (perSlice[c * nz + z] > 0) slices++;
        if (perSlice[c * nz + z] > perSlice[c * nz + k]) k = z;
      }
      let si = 0, sj = 0, m = 0;
      for (let p = k * plane; p < (k + 1) * plane; p++) {
        if (P.components[p] !== c) continue;
        const q = p - k * plane;
        si += q % nx; sj += Math.floor(q / nx); m++;
      }
      console.log(JSON.stringify({ seed: s, k, j: Math.round(sj / m), i: Math.round(si / m), vox: vox[c], slices, cls: P.classes[c - 1], meanFg: +(fg[c] / vox[c]).toFixed(4) }));
      n++;
    }
    console.error(`seed ${s} ${r.dims.join('x')} fp components ${n} ${Date.now() - t0} ms`);
  }
  await model.close();
  await pool.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
