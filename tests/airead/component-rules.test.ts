/**
 * The card's component rules (min_component_mean_probability, min_single_slice_mean_probability) on a hand-built
 * label volume: which components are dropped follows from the confidences written here.
 */
import { dropUnlikelyComponents } from '@app/airead';
import { connectedComponents3d } from '@app/measure';

describe('dropUnlikelyComponents', () => {
  // 6 x 6 x 3: A = 2x2 block on slices 0-1 (confidence 250), B = 2x2 on slice 2 only (confidence 230),
  // C = 2x2 on slices 0-2 far corner (confidence 150)
  const dims: [number, number, number] = [6, 6, 3];
  const build = () => {
    const labels = new Uint8Array(6 * 6 * 3);
    const conf = new Uint8Array(labels.length);
    const put = (i: number, j: number, k: number, c: number) => {
      labels[k * 36 + j * 6 + i] = 1;
      conf[k * 36 + j * 6 + i] = c;
    };
    for (const [i, j] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      put(i, j, 0, 250); put(i, j, 1, 250);
      put(i + 4, j, 2, 230);
      for (const k of [0, 1, 2]) put(i + 4, j + 4, k, 150);
    }
    return { labels, conf };
  };

  it('drops low-probability components and stricter single-slice ones, and records why', () => {
    const { labels, conf } = build();
    const cc = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    expect(cc.count).toBe(3);
    const dropped = dropUnlikelyComponents(labels, cc, conf, dims, { min_component_mean_probability: 0.7, min_single_slice_mean_probability: 0.95 });
    expect(dropped.map((d) => [d.voxels, d.slices]).sort((a, b) => a[0] - b[0])).toEqual([[4, 1], [12, 3]]);
    expect(dropped.find((d) => d.slices === 3)!.rule).toMatch(/mean probability 0\.588 < 0\.7/);
    expect(dropped.find((d) => d.slices === 1)!.rule).toMatch(/single slice, mean probability 0\.902 < 0\.95/);
    const left = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    expect(left.count).toBe(1);
    expect(left.sizes).toEqual([8]);
  });

  it('keeps everything when no rule is set', () => {
    const { labels, conf } = build();
    const cc = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    expect(dropUnlikelyComponents(labels, cc, conf, dims, {})).toEqual([]);
    expect(labels.reduce((a, v) => a + v, 0)).toBe(4 * 2 + 4 + 12);
  });
});
