/**
 * Tuning diagnostics for the card's component rule, on seeds 8000-8049 (neither training 1000-1229 nor evaluation
 * 9000-9039). Runs exactly what analyseCtVolume runs before its rule (segmentVolume with per-voxel confidence, 26-
 * connected components of at least min_component_voxels) and prints, per component, its voxels, axial slices, class,
 * mean argmax-class probability (the quantity the rule thresholds) and the ground-truth components it overlaps; per
 * ground-truth lesion (present, imaged at its centre) its component and analytic long axis. tune_rule.py reads this.
 *
 *   node -r @swc-node/register models/ct-lesion-seg/0.1.0/train/hard-negatives/diag_fp.ts [first=8000] [count=50] > /tmp/fp.jsonl
 */
import { createInferencePool, segmentVolume } from '@app/inference';
import { connectedComponents3d } from '@app/measure';
import { renderVoxelOf } from '@app/phantom';
import { volumeFor } from './make_data';

async function main(): Promise<void> {
  const pool = createInferencePool({ threads: 1, intraOpNumThreads: 2, batchSize: 16 });
  const model = await pool.model('ct-lesion-seg@0.2.0'); // the candidate, rebuilt as README.md says
  const minVoxels = Number(model.card.postprocessing?.min_component_voxels ?? 10);
  const first = Number(process.argv[2] ?? 8000);
  for (let s = first; s < first + Number(process.argv[3] ?? 50); s++) {
    if (s < 8000 || s > 8049) throw new Error(`seed ${s} is not a tuning seed (8000-8049)`);
    const r = volumeFor(s);
    const seg = await segmentVolume({ dims: r.dims, data: r.hu }, model, { batchSize: 16, confidence: true });
    const P = connectedComponents3d(seg.labels, r.dims, { connectivity: 26, minVoxels });
    const G = connectedComponents3d(r.labels, r.dims, { connectivity: 26, minVoxels: 1 });
    const plane = r.dims[0] * r.dims[1];
    const st = Array.from({ length: P.count }, () => ({ n: 0, conf: 0, zMin: Infinity, zMax: -1, gts: new Set<number>() }));
    for (let i = 0; i < P.components.length; i++) {
      const c = P.components[i];
      if (!c) continue;
      const e = st[c - 1];
      const z = Math.floor(i / plane);
      e.n++; e.conf += seg.confidence![i];
      if (z < e.zMin) e.zMin = z;
      if (z > e.zMax) e.zMax = z;
      if (G.components[i]) e.gts.add(G.components[i]);
    }
    st.forEach((e, c) => console.log(JSON.stringify({ t: 'comp', seed: s, id: c + 1, cls: P.classes[c], vox: e.n, slices: e.zMax - e.zMin + 1, thick: r.spacing[2], gt: [...e.gts], meanProb: +(e.conf / e.n / 255).toFixed(5) })));
    const nx = r.dims[0];
    for (const g of r.groundTruth.filter((x) => x.present)) {
      const v = renderVoxelOf(r, g.centerX, g.centerY, g.centerZ);
      const gc = v ? G.components[v[2] * plane + v[1] * nx + v[0]] : 0;
      if (gc) console.log(JSON.stringify({ t: 'gt', seed: s, gc, ld: g.longestDiameterMm }));
    }
    console.error('seed', s, 'done');
  }
  await model.close();
  await pool.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
