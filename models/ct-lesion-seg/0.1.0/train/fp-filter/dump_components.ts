// Per seed, every predicted component of ct-lesion-seg 0.1.0 (at least min_component_voxels, before the card's
// probability rules) with its features (libs/airead componentFeatures: the production code) and the ground-truth
// lesion components it overlaps; and every ground-truth lesion imaged at its centre with its longest diameter.
// Usage: node -r @swc-node/register dump_components.ts FIRST COUNT > out.jsonl
// The same segmentation call as analyseCtVolume (segmentVolume with confidence, the pool's batch).
import { componentFeatures } from '@app/airead';
import { createInferencePool, segmentVolume } from '@app/inference';
import { connectedComponents3d } from '@app/measure';
import { renderVoxelOf } from '@app/phantom';
import { volumeFor } from '../make_data';

async function main() {
  const pool = createInferencePool({ threads: 1, intraOpNumThreads: 2 });
  const model = await pool.model('ct-lesion-seg@0.1.0');
  const minVoxels = Number((model.card.postprocessing as Record<string, unknown>).min_component_voxels ?? 10);
  const first = Number(process.argv[2]);
  const count = Number(process.argv[3]);
  for (let s = first; s < first + count; s++) {
    const t = Date.now();
    const r = volumeFor(s);
    const seg = await segmentVolume({ dims: r.dims, data: r.hu }, model, { confidence: true });
    const P = connectedComponents3d(seg.labels, r.dims, { connectivity: 26, minVoxels });
    const G = connectedComponents3d(r.labels, r.dims, { connectivity: 26, minVoxels: 1 });
    const feats = componentFeatures(r.hu, r.dims, r.spacing, P.components, P.count, P.classes, seg.confidence!, 3);
    const gts = Array.from({ length: P.count }, () => new Set<number>());
    for (let i = 0; i < P.components.length; i++) if (P.components[i] && G.components[i]) gts[P.components[i] - 1].add(G.components[i]);
    const [nx, ny] = r.dims;
    const lesions: { gc: number; ld: number }[] = [];
    for (const g of r.groundTruth.filter((x) => x.present)) {
      const v = renderVoxelOf(r, g.centerX, g.centerY, g.centerZ);
      const gc = v ? G.components[v[2] * nx * ny + v[1] * nx + v[0]] : 0;
      if (gc) lesions.push({ gc, ld: g.longestDiameterMm });
    }
    const comps = feats.map((f, c) => ({ id: c + 1, cls: P.classes[c], f, gts: [...gts[c]] }));
    process.stdout.write(JSON.stringify({ seed: s, dims: r.dims, spacing: r.spacing, comps, lesions, seconds: (Date.now() - t) / 1000 }) + '\n');
    console.error('seed', s, 'components', P.count, `${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  await model.close();
  await pool.close();
}
main();
