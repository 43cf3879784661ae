/**
 * Speed + accuracy on a CT-sized grid with 5 ellipsoid lesions (one of 100 mm at 0.7 mm pixels).
 * Default: 512 x 512 x 48 (fast). MEASURE_PERF_FULL=1: 512 x 512 x 300 (needs ~1 GB of memory).
 * Time limits are generous (shared CI machines); the measured times are printed.
 */
import { connectedComponents3d, measureLesions } from '@app/measure';

const FULL = process.env.MEASURE_PERF_FULL === '1';

test(`512 x 512 x ${FULL ? 300 : 48} with 5 lesions: components + measurements`, () => {
  const nz = FULL ? 300 : 48;
  const dims: [number, number, number] = [512, 512, nz];
  const sp: [number, number, number] = [0.7, 0.7, 2.5];
  const n = dims[0] * dims[1] * nz;
  const lab = new Uint8Array(n);
  const data = new Int16Array(n).fill(-1000);
  const zc = (nz / 2) * sp[2];
  // [cx, cy, cz (mm), a, b, c (semi-axes mm), in-plane angle (deg), class]; each centred on a slice
  const lesions = [
    [180, 180, zc, 50, 40, 35, 20, 1],
    [80, 250, zc - 20, 12, 8, 6, 45, 1],
    [270, 90, zc + 10, 20, 15, 10, 110, 2],
    [300, 300, zc - 10, 9, 7, 5, 0, 2],
    [60, 60, zc + 20, 30, 12, 15, 70, 1],
  ];
  for (const [cx, cy, cz, a, b, c, deg, cls] of lesions) {
    const th = (deg * Math.PI) / 180;
    const r = Math.max(a, b, c);
    for (let k = Math.max(0, Math.floor((cz - r) / sp[2])); k <= Math.min(nz - 1, Math.ceil((cz + r) / sp[2])); k++) {
      for (let j = Math.max(0, Math.floor((cy - r) / sp[1])); j <= Math.min(511, Math.ceil((cy + r) / sp[1])); j++) {
        for (let i = Math.max(0, Math.floor((cx - r) / sp[0])); i <= Math.min(511, Math.ceil((cx + r) / sp[0])); i++) {
          const x = i * sp[0] - cx;
          const y = j * sp[1] - cy;
          const z = k * sp[2] - cz;
          const u = x * Math.cos(th) + y * Math.sin(th);
          const v = -x * Math.sin(th) + y * Math.cos(th);
          if ((u / a) ** 2 + (v / b) ** 2 + (z / c) ** 2 <= 1) {
            const p = i + j * 512 + k * 512 * 512;
            lab[p] = cls;
            data[p] = 40;
          }
        }
      }
    }
  }
  let t = Date.now();
  const cc = connectedComponents3d(lab, dims);
  const tCc = Date.now() - t;
  t = Date.now();
  const res = measureLesions({ dims, spacing: sp, affine: [0.7, 0, 0, 0, 0, 0.7, 0, 0, 0, 0, 2.5, 0, 0, 0, 0, 1], data }, cc.components, cc.count, {
    sliceThicknessMm: 2.5, classes: cc.classes, nodal: (_c, cls) => cls === 2,
  });
  const tMeasure = Date.now() - t;
  // eslint-disable-next-line no-console
  console.log(`measure perf ${dims.join('x')}: connectedComponents3d ${tCc} ms, measureLesions ${tMeasure} ms`);
  expect(cc.count).toBe(5);
  expect(res).toHaveLength(5);
  // match lesions by centroid and check their sizes against the analytic shapes
  const diag = Math.hypot(sp[0], sp[1]);
  for (const [cx, cy, cz, a, b, c, , cls] of lesions) {
    const m = res.find((r) => Math.hypot(r.centroidMm[0] - cx, r.centroidMm[1] - cy, r.centroidMm[2] - cz) < 1)!;
    expect(m).toBeDefined();
    expect(m.cls).toBe(cls);
    expect(m.longAxis.k).toBe(Math.round(cz / sp[2]));
    expect(Math.abs(m.longAxis.lengthMm - 2 * a)).toBeLessThanOrEqual(diag);
    expect(Math.abs(m.shortAxis.lengthMm - 2 * b)).toBeLessThanOrEqual(diag);
    expect(m.shortAxis.angleToLongAxisDeg).toBeGreaterThanOrEqual(89);
    // volume: the sampled slices hold exact elliptical sections of area pi*a*b*(1 - z^2/c^2) (coarse z sampling)
    let vRef = 0;
    for (let k = 0; k < nz; k++) vRef += sp[2] * Math.PI * a * b * Math.max(0, 1 - ((k * sp[2] - cz) / c) ** 2);
    expect(Math.abs(m.volumeMm3 / vRef - 1)).toBeLessThan(0.03);
    expect(m.huMean).toBe(40);
  }
  expect(tCc).toBeLessThan(FULL ? 15000 : 5000);
  expect(tMeasure).toBeLessThan(FULL ? 15000 : 5000);
});
