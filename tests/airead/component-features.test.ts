/**
 * componentFeatures on hand-built volumes whose features follow from the numbers written here, and the card's
 * component classifier (a logistic regression over them) as a component rule.
 */
import { checkComponentClassifier, componentFeatures, componentLesionProbability, dropUnlikelyComponents, type ComponentClassifier } from '@app/airead';
import { connectedComponents3d } from '@app/measure';

// 8 x 8 x 4, spacing 0.5 x 0.5 x 2 mm. HU 0 everywhere except:
// A (class 1): a 2 x 3 block on slices 1-2 at HU 100 (one voxel 40), confidence 255 (one voxel 200);
// B (class 2): a single voxel at (6, 6, 0), HU -50, confidence 128, at the volume's corner edge.
const dims: [number, number, number] = [8, 8, 4];
const spacing = [0.5, 0.5, 2];
const idx = (i: number, j: number, k: number) => k * 64 + j * 8 + i;
function build() {
  const hu = new Int16Array(8 * 8 * 4);
  const labels = new Uint8Array(hu.length);
  const conf = new Uint8Array(hu.length);
  for (const k of [1, 2])
    for (let j = 2; j < 5; j++)
      for (let i = 2; i < 4; i++) {
        hu[idx(i, j, k)] = 100;
        labels[idx(i, j, k)] = 1;
        conf[idx(i, j, k)] = 255;
      }
  hu[idx(2, 2, 1)] = 40;
  conf[idx(3, 4, 2)] = 200;
  hu[idx(6, 6, 0)] = -50;
  labels[idx(6, 6, 0)] = 2;
  conf[idx(6, 6, 0)] = 128;
  return { hu, labels, conf };
}

describe('componentFeatures', () => {
  it('computes each feature as defined, per component', () => {
    const { hu, labels, conf } = build();
    const cc = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    expect(cc.count).toBe(2);
    const f = componentFeatures(hu, dims, spacing, cc.components, cc.count, cc.classes, conf, 3);
    const a = f[cc.classes[0] === 1 ? 0 : 1];
    const b = f[cc.classes[0] === 1 ? 1 : 0];
    // A: 12 voxels; HU eleven 100 and one 40
    const meanA = (11 * 100 + 40) / 12;
    expect(a.mean_probability).toBeCloseTo((11 * 255 + 200) / 12 / 255, 12);
    expect(a.high_probability_fraction).toBeCloseTo(11 / 12, 12);
    expect(a.log_volume_mm3).toBeCloseTo(Math.log(12 * 0.5 * 0.5 * 2), 12);
    expect(a.slices).toBe(2);
    expect(a.log_z_to_inplane).toBeCloseTo(Math.log((2 * 2) / Math.sqrt(6 * 0.25)), 12);
    expect(a.mean_hu).toBeCloseTo(meanA, 12);
    expect(a.sd_hu).toBeCloseTo(Math.sqrt((11 * 100 ** 2 + 40 ** 2) / 12 - meanA ** 2), 9);
    // every in-plane neighbour outside A is HU 0
    expect(a.shell_contrast_hu).toBeCloseTo(meanA, 12);
    expect(a.bbox_fill).toBe(1);
    expect([a.class_1, a.class_2, a.class_3]).toEqual([1, 0, 0]);
    // B: one voxel; 4 in-plane neighbours, all HU 0
    expect(b.mean_probability).toBeCloseTo(128 / 255, 12);
    expect(b.high_probability_fraction).toBe(0);
    expect(b.slices).toBe(1);
    expect(b.sd_hu).toBe(0);
    expect(b.shell_contrast_hu).toBe(-50);
    expect([b.class_1, b.class_2, b.class_3]).toEqual([0, 1, 0]);
  });

  it('reads HU slice by slice (a volume file) with the same features, only the slices holding a component', () => {
    const { hu, labels, conf } = build();
    const cc = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    const read: number[] = [];
    const sliced = componentFeatures((k) => (read.push(k), hu.slice(k * 64, (k + 1) * 64)), dims, spacing, cc.components, cc.count, cc.classes, conf, 3);
    expect(sliced).toEqual(componentFeatures(hu, dims, spacing, cc.components, cc.count, cc.classes, conf, 3));
    expect(read).toEqual([0, 1, 2]); // slice 3 holds no component; each slice read once
  });

  it('is deterministic', () => {
    const { hu, labels, conf } = build();
    const cc = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    expect(componentFeatures(hu, dims, spacing, cc.components, cc.count, cc.classes, conf, 3)).toEqual(componentFeatures(hu, dims, spacing, cc.components, cc.count, cc.classes, conf, 3));
  });
});

describe('the component classifier rule', () => {
  // lesion probability = sigmoid(-2 + 4 * (mean_probability - 0.5) / 0.25): A (about 0.98) -> 1.0, B (0.502) -> 0.12
  const clf: ComponentClassifier = { features: ['mean_probability'], mean: [0.5], scale: [0.25], coef: [4], intercept: -2, min_probability: 0.5 };

  it('scores a component with the logistic function of its standardised features', () => {
    const p = componentLesionProbability({ mean_probability: 0.75 }, clf);
    expect(p).toBeCloseTo(1 / (1 + Math.exp(-(-2 + 4))), 12);
    expect(() => componentLesionProbability({}, clf)).toThrow(/feature "mean_probability" is undefined/);
  });

  it('drops the components it scores below min_probability, with the probability in the record', () => {
    const { hu, labels, conf } = build();
    const cc = connectedComponents3d(labels, dims, { connectivity: 26, minVoxels: 1 });
    const dropped = dropUnlikelyComponents(labels, cc, conf, dims, { component_classifier: clf }, { hu, spacing, classCount: 3 });
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ voxels: 1, slices: 1 });
    const expected = 1 / (1 + Math.exp(-(-2 + (4 * (128 / 255 - 0.5)) / 0.25)));
    expect(dropped[0].lesionProbability).toBeCloseTo(expected, 4);
    expect(dropped[0].rule).toMatch(/component classifier: lesion probability 0\.1\d\d < 0\.5/);
    expect(labels[idx(6, 6, 0)]).toBe(0);
    expect(labels[idx(2, 2, 1)]).toBe(1);
    // the classifier needs the image
    expect(() => dropUnlikelyComponents(build().labels, cc, conf, dims, { component_classifier: clf })).toThrow(/pass the image/);
  });

  it('refuses a malformed classifier with a clear message', () => {
    expect(() => checkComponentClassifier({ ...clf, features: ['volume'] }, 3)).toThrow(/unknown feature "volume"/);
    expect(() => checkComponentClassifier({ ...clf, coef: [] }, 3)).toThrow(/coef must hold 1 finite numbers/);
    expect(() => checkComponentClassifier({ ...clf, scale: [0] }, 3)).toThrow(/scale must be > 0/);
    expect(() => checkComponentClassifier({ ...clf, min_probability: 2 }, 3)).toThrow(/min_probability/);
    expect(() => checkComponentClassifier({ ...clf, features: ['class_4'] }, 3)).toThrow(/unknown feature "class_4"/);
    expect(() => checkComponentClassifier({ ...clf, features: ['class_3'] }, 3)).not.toThrow();
  });
});
