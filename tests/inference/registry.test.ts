/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
import { mkdtempSync, writeFileSync, copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadModel, loadManifest, getModelEntry, ModelRegistryError } from '@app/inference';
import { repoRoot, isInputError } from '@app/core';

const root = repoRoot();
const dirs: string[] = [];
const tmpDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'reg-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('model registry', () => {
  it('manifest sha256 matches an independent hash of the shipped file (sha256sum)', () => {
    const e = getModelEntry('tissue-unet');
    const ref = execFileSync('sha256sum', [join(root, e.file)]).toString().split(/\s+/)[0];
    expect(e.sha256).toBe(ref);
    expect(readFileSync(join(root, e.licence), 'utf8')).toMatch(/MIT/);
  });

  it('loads the U-Net on CPU, runs it, and every output carries provenance', async () => {
    const m = await loadModel('tissue-unet', { executionProvider: 'cpu' });
    expect(m.executionProvider).toBe('cpu');
    const data = new Float32Array(500 * 500 * 3).fill(0.95); // blank glass
    const r = await m.run({ input: { data, dims: [1, 500, 500, 3] } });
    const out = r.outputs['cropping2d_12'];
    expect(out.dims).toEqual([1, 500, 500, 1]);
    for (let i = 0; i < out.data.length; i += 997) expect(out.data[i]).toBeGreaterThanOrEqual(0);
    expect(r.provenance).toEqual({ id: 'tissue-unet', version: '0.0.1', sha256: getModelEntry('tissue-unet').sha256 });
    await expect(m.run({ input: { data, dims: [1, 500, 500] } })).rejects.toMatchObject({ name: 'InputError', code: 'inference.bad-shape' });
    await m.close();
  });

  it('refuses a model whose sha256 does not match the manifest', async () => {
    const dir = tmpDir();
    mkdirSync(join(dir, 'models/tissue-unet'), { recursive: true });
    const e = getModelEntry('tissue-unet');
    const bytes = readFileSync(join(root, e.file));
    bytes[bytes.length - 1] ^= 0xff; // one flipped byte
    writeFileSync(join(dir, e.file), bytes);
    copyFileSync(join(root, e.licence), join(dir, e.licence));
    const err = await loadModel('tissue-unet', { root: dir }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ModelRegistryError);
    expect((err as ModelRegistryError).code).toBe('inference.sha256-mismatch');
    expect((err as Error).message).toContain(e.sha256);
    expect(isInputError(err)).toBe(false);
  });

  it('refuses a model without its licence, an unknown id and an invalid manifest', async () => {
    const dir = tmpDir();
    mkdirSync(join(dir, 'models/tissue-unet'), { recursive: true });
    const e = getModelEntry('tissue-unet');
    copyFileSync(join(root, e.file), join(dir, e.file));
    await expect(loadModel('tissue-unet', { root: dir })).rejects.toMatchObject({ code: 'inference.licence-missing' });
    await expect(loadModel('nope')).rejects.toMatchObject({ code: 'inference.unknown-model' });
    const bad = join(dir, 'm.json');
    writeFileSync(bad, JSON.stringify({ models: [{ ...e, sha256: 'xyz' }] }));
    expect(() => loadManifest(bad)).toThrow(/invalid/);
  });

  it('INFERENCE_EP=cuda falls back to CPU with a warning when CUDA is not available', async () => {
    const warnings: string[] = [];
    const m = await loadModel('tissue-unet', { executionProvider: 'cuda', warn: (w) => warnings.push(w) });
    if (m.executionProvider === 'cpu') expect(warnings.join('\n')).toMatch(/falling back to CPU/);
    else expect(m.executionProvider).toBe('cuda');
    await m.close();
  });
});
