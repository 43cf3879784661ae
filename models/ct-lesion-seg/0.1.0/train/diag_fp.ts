// tuning diagnostics on seeds 8000+ (neither training nor evaluation): per predicted component its size, slices and
// mean foreground probability; per ground-truth lesion >= 10 mm the predicted components overlapping it.
import { createInferencePool, segmentVolume } from '@app/inference';
import { connectedComponents3d } from '@app/measure';
import { renderVoxelOf } from '@app/phantom';
import { volumeFor } from './make_data';
async function main() {
  const pool = createInferencePool({ threads: 1, intraOpNumThreads: 2, batchSize: 16 });
  const model = await pool.model('ct-lesion-seg@0.1.0');
  const first = Number(process.argv[2] ?? 8000);
  for (let s = first; s < first + Number(process.argv[3] ?? 20); s++) {
    const r = volumeFor(s);
    const seg = await segmentVolume({ dims: r.dims, data: r.hu }, model, { batchSize: 16, probabilities: [0] });
    const P = connectedComponents3d(seg.labels, r.dims, { connectivity: 26, minVoxels: 1 });
    const G = connectedComponents3d(r.labels, r.dims, { connectivity: 26, minVoxels: 1 });
    const bg = seg.probabilities![0];
    const plane = r.dims[0] * r.dims[1];
    const st = Array.from({ length: P.count }, () => ({ n: 0, gt: 0, fg: 0, zs: new Set<number>(), gts: new Set<number>() }));
    for (let i = 0; i < P.components.length; i++) {
      const c = P.components[i];
      if (!c) continue;
      const e = st[c - 1];
      e.n++; e.fg += 1 - bg[i]; e.zs.add(Math.floor(i / plane));
      if (G.components[i]) e.gts.add(G.components[i]);
    }
    st.forEach((e, c) => console.log(JSON.stringify({ t: 'comp', seed: s, id: c + 1, cls: P.classes[c], vox: e.n, vv: r.spacing[0] * r.spacing[1] * r.spacing[2], slices: e.zs.size, thick: r.spacing[2], gt: [...e.gts], meanFg: e.fg / e.n })));
    const nx = r.dims[0];
    for (const g of r.groundTruth.filter((x) => x.present)) {
      const v = renderVoxelOf(r, g.centerX, g.centerY, g.centerZ);
      const gc = v ? G.components[v[2] * plane + v[1] * nx + v[0]] : 0;
      if (gc) console.log(JSON.stringify({ t: 'gt', seed: s, gc, ld: g.longestDiameterMm }));
    }
    console.error('seed', s, 'done');
  }
  await model.close(); await pool.close();
}
main();
