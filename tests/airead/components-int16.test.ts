/**
 * componentsAsInt16: the CT read's component labelling narrowed to the int16 it is stored as, in its own memory, and
 * the airead.too-many-components refusal of a labelling int16 cannot hold (a speckled model output).
 */
import { componentsAsInt16, MAX_STORED_COMPONENT } from '@app/airead';
import { connectedComponents3d } from '@app/measure';

/** Isolated foreground voxels at every even (i, j, k): with 26-connectivity each one is a component of its own. */
function speckle(nx: number, ny: number, nz: number): Uint8Array {
  const labels = new Uint8Array(nx * ny * nz);
  for (let k = 0; k < nz; k += 2) for (let j = 0; j < ny; j += 2) for (let i = 0; i < nx; i += 2) labels[i + j * nx + k * nx * ny] = 1;
  return labels;
}

describe('componentsAsInt16', () => {
  it('narrows a labelling in place: same values, same memory', () => {
    const dims: [number, number, number] = [40, 40, 20];
    const cc = connectedComponents3d(speckle(...dims), dims, { connectivity: 26, minVoxels: 1 });
    expect(cc.count).toBe(20 * 20 * 10);
    const before = Array.from(cc.components);
    const out = componentsAsInt16(cc.components);
    expect(out).toBeInstanceOf(Int16Array);
    expect(out.buffer).toBe(cc.components.buffer);
    expect(out.length).toBe(before.length);
    expect(Array.from(out)).toEqual(before);
  });

  it('keeps the largest storable component number', () => {
    const a = Int32Array.from([0, MAX_STORED_COMPONENT, 1, 0, 2]);
    expect(Array.from(componentsAsInt16(a))).toEqual([0, 32767, 1, 0, 2]);
  });

  it('refuses a labelling with more components than int16 holds, and leaves it as it was', () => {
    // 66 x 66 x 62 with a voxel at every even position: 33 x 33 x 31 = 33,759 components
    const dims: [number, number, number] = [66, 66, 62];
    const cc = connectedComponents3d(speckle(...dims), dims, { connectivity: 26, minVoxels: 1 });
    expect(cc.count).toBeGreaterThan(MAX_STORED_COMPONENT);
    const copy = Int32Array.from(cc.components);
    let err: unknown;
    try {
      componentsAsInt16(cc.components);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'airead.too-many-components', message: expect.stringMatching(new RegExp(`split into ${cc.count} components \\(at most 32767 are stored\\)`)) });
    expect(cc.components).toEqual(copy);
  });
});
