/**
 * @jest-environment ./tests/inference/ort-environment.js
 */
import { readFileSync, rmSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  cardSchemaErrors,
  compareSemver,
  formatModelList,
  listModels,
  loadModel,
  ModelRegistryError,
  modelsCommand,
  resolveModel,
} from '@app/inference';
import { isInputError, repoRoot } from '@app/core';
import { cleanup, copyTissue, tempModelsDir, TISSUE_DIR, writeModelFolder } from './helpers';

afterAll(cleanup);

const TISSUE_PROVENANCE = { id: 'tissue-unet', version: '0.0.1', sha256: '9588c4a5088eb9405ae12a37a8ce19fd1c56017e5d929ede79dfd868e571516d' };
const ID2D = { inC: 1, outC: 1, spatial: ['*', '*'] as (number | string)[], format: 'magnitude' };

/** The refusal of the single folder in a temp models dir. */
function refusalOf(root: string) {
  const l = listModels({ modelsDir: root });
  expect(l.models).toHaveLength(0);
  expect(l.refused).toHaveLength(1);
  return l.refused[0];
}

describe('shipped models', () => {
  it('tissue-unet: card sha256 equals an independent sha256sum of model.onnx; provenance unchanged; MIT licence ships', () => {
    const m = resolveModel('tissue-unet');
    const ref = execFileSync('sha256sum', [join(TISSUE_DIR, 'model.onnx')]).toString().split(/\s+/)[0];
    expect(m.card.sha256).toBe(ref);
    expect(m.provenance).toEqual(TISSUE_PROVENANCE);
    expect(readFileSync(join(TISSUE_DIR, 'LICENSE'), 'utf8')).toMatch(/MIT/);
    expect(m.card.licence.weights).toBe('MIT');
    expect(m.card.postprocessing?.threshold).toBe(0.6);
    expect(m.card.network_data_format.inputs.input).toMatchObject({ layout: 'NHWC', num_channels: 3, spatial_shape: [500, 500], format: 'rgb' });
  });

  it('the repository models/ folder lists tissue-unet; any incomplete folder is refused, never thrown', () => {
    const l = listModels();
    expect(l.models.map((m) => `${m.id}@${m.version}`)).toContain('tissue-unet@0.0.1');
    for (const r of l.refused) expect(r.reason).toContain(r.folder);
  });

  it('loads the U-Net in-process on CPU, runs it, and every output carries provenance; bad shapes are InputErrors', async () => {
    const m = await loadModel('tissue-unet', { executionProvider: 'cpu' });
    expect(m.executionProvider).toBe('cpu');
    expect(m.entry.params?.threshold).toBe(0.6);
    expect(m.entry.outputs[0].name).toBe('cropping2d_12');
    const data = new Float32Array(500 * 500 * 3).fill(0.95); // blank glass
    const r = await m.run({ input: { data, dims: [1, 500, 500, 3] } });
    const out = r.outputs['cropping2d_12'];
    expect(out.dims).toEqual([1, 500, 500, 1]);
    for (let i = 0; i < out.data.length; i += 997) expect(out.data[i]).toBeGreaterThanOrEqual(0);
    expect(r.provenance).toEqual(TISSUE_PROVENANCE);
    const err = await m.run({ input: { data, dims: [1, 500, 500] } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'InputError', code: 'inference.bad-shape' });
    expect((err as Error).message).toMatch(/tissue-unet@0\.0\.1.*"input"/);
    await m.close();
  });

  it('INFERENCE_EP=cuda falls back to CPU with a warning when CUDA is not available', async () => {
    const warnings: string[] = [];
    const m = await loadModel('tissue-unet', { executionProvider: 'cuda', warn: (w) => warnings.push(w) });
    if (m.executionProvider === 'cpu') expect(warnings.join('\n')).toMatch(/falling back to CPU/);
    else expect(m.executionProvider).toBe('cuda');
    await m.close();
  });
});

describe('registry from folders (temp models dirs)', () => {
  it('a good folder dropped into an empty models dir is listed and loads; MODELS_DIR overrides the default', async () => {
    const root = tempModelsDir();
    writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D);
    const l = listModels({ modelsDir: root });
    expect(l.refused).toEqual([]);
    expect(l.models.map((m) => [m.id, m.version])).toEqual([['toy', '1.0.0']]);
    const old = process.env.MODELS_DIR;
    process.env.MODELS_DIR = root;
    try {
      expect(listModels().models.map((m) => m.id)).toEqual(['toy']);
      const m = await loadModel('toy');
      const x = new Float32Array([1, 2, 3, 4, 5, 6]);
      const r = await m.run({ image: { data: x, dims: [1, 1, 2, 3] } });
      expect(Array.from(r.outputs.pred.data)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(r.provenance.sha256).toBe(l.models[0].sha256);
      await m.close();
    } finally {
      if (old === undefined) delete process.env.MODELS_DIR;
      else process.env.MODELS_DIR = old;
    }
  });

  it('refuses a sha256 mismatch (one flipped byte), naming the folder and both hashes', async () => {
    const root = tempModelsDir();
    const dir = copyTissue(root);
    const bytes = readFileSync(join(dir, 'model.onnx'));
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(join(dir, 'model.onnx'), bytes);
    const r = refusalOf(root);
    expect(r.code).toBe('inference.sha256-mismatch');
    expect(r.reason).toContain('tissue-unet/0.0.1');
    expect(r.reason).toContain(TISSUE_PROVENANCE.sha256);
    const err = await loadModel('tissue-unet', { modelsDir: root }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRegistryError);
    expect((err as ModelRegistryError).code).toBe('inference.sha256-mismatch');
    expect(isInputError(err)).toBe(false);
  });

  it.each([
    ['missing card', 'inference.card-missing', (d: string) => unlinkSync(join(d, 'card.json')), /card\.json is missing/],
    ['missing model.onnx', 'inference.model-missing', (d: string) => unlinkSync(join(d, 'model.onnx')), /model\.onnx is missing/],
    ['missing licence', 'inference.licence-missing', (d: string) => unlinkSync(join(d, 'LICENSE')), /LICENSE/],
    ['card not JSON', 'inference.card-invalid', (d: string) => writeFileSync(join(d, 'card.json'), '{ "id": '), /not valid JSON/],
    [
      'a component classifier with a zero scale',
      'inference.card-invalid',
      (d: string) => {
        const c = JSON.parse(readFileSync(join(d, 'card.json'), 'utf8'));
        c.postprocessing = { ...c.postprocessing, component_classifier: { features: ['mean_probability'], mean: [0.5], scale: [0], coef: [1], intercept: 0, min_probability: 0.5 } };
        writeFileSync(join(d, 'card.json'), JSON.stringify(c));
      },
      /component_classifier\/scale\/0/,
    ],
  ])('refuses a folder with %s', (_name, code, spoil, msg) => {
    const root = tempModelsDir();
    const dir = writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D);
    spoil(dir);
    const r = refusalOf(root);
    expect(r.code).toBe(code);
    expect(r.reason).toMatch(/^model folder toy\/1\.0\.0: /);
    expect(r.reason).toMatch(msg);
  });

  it('refuses a card failing the JSON Schema and lists the ajv errors', () => {
    const root = tempModelsDir();
    writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => {
      delete c.intended_use;
      c.network_data_format.inputs.image.format = 'jpeg';
    });
    const r = refusalOf(root);
    expect(r.code).toBe('inference.card-invalid');
    expect(r.reason).toContain("must have required property 'intended_use'");
    expect(r.reason).toContain('/network_data_format/inputs/image/format must be equal to one of the allowed values');
    // the same errors from the exported validator
    const card = JSON.parse(readFileSync(join(root, 'toy/1.0.0/card.json'), 'utf8'));
    expect(cardSchemaErrors(card).length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['CC-BY-NC-4.0', 'inference.licence-noncommercial'],
    ['CC-BY-NC-SA-4.0', 'inference.licence-noncommercial'],
    ['GPL-3.0-only', 'inference.licence-unknown'],
    ['proprietary', 'inference.licence-unknown'],
  ])('refuses weights licensed %s (%s)', (licence, code) => {
    const root = tempModelsDir();
    writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => (c.licence.weights = licence));
    const r = refusalOf(root);
    expect(r.code).toBe(code);
    expect(r.reason).toContain(licence);
  });

  it('training-data licence: NC or unknown refused; "synthetic"/"unspecified-upstream" need a justification', () => {
    const cases: [Record<string, unknown>, string | null][] = [
      [{ training_data: 'CC-BY-NC-4.0' }, 'inference.licence-noncommercial'],
      [{ training_data: 'TCIA restricted' }, 'inference.licence-unknown'],
      [{ training_data: 'unspecified-upstream', training_data_justification: undefined }, 'inference.licence-unjustified'],
      [{ training_data: 'CC0-1.0', training_data_justification: undefined }, null],
    ];
    for (const [lic, code] of cases) {
      const root = tempModelsDir();
      writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => Object.assign(c.licence, lic));
      const l = listModels({ modelsDir: root });
      if (code === null) expect(l.refused).toEqual([]);
      else expect(l.refused.map((r) => r.code)).toEqual([code]);
    }
  });

  it('refuses a card whose id or version does not match its folder', () => {
    for (const edit of [(c: Record<string, any>) => (c.id = 'other'), (c: Record<string, any>) => (c.version = '1.0.1')]) {
      const root = tempModelsDir();
      writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, edit);
      const r = refusalOf(root);
      expect(r.code).toBe('inference.card-mismatch');
      expect(r.reason).toMatch(/folder is toy\/1\.0\.0/);
    }
  });

  it('refuses inconsistent cards (context_slices vs channels) and card tensor names the model lacks (at load)', async () => {
    const root = tempModelsDir();
    writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => (c.preprocessing = { context_slices: 1 }));
    expect(refusalOf(root)).toMatchObject({ code: 'inference.card-invalid' });
    const root2 = tempModelsDir();
    writeModelFolder(root2, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => {
      c.network_data_format.outputs = { logits: c.network_data_format.outputs.pred };
    });
    await expect(loadModel('toy', { modelsDir: root2 })).rejects.toMatchObject({ code: 'inference.card-mismatch' });
  });

  it('uint8 inputs: a uint8 image model runs on a Uint8Array; a Float32Array is an InputError; a card whose dtype is not the model\'s is refused at load', async () => {
    const u8 = (c: Record<string, any>) => {
      c.network_data_format.inputs.image.dtype = 'uint8';
      c.network_data_format.inputs.image.value_range = [0, 255];
    };
    const root = tempModelsDir();
    writeModelFolder(root, 'bytes', '1.0.0', 'bytes2d.onnx', ID2D, u8);
    const m = await loadModel('bytes', { modelsDir: root });
    expect(m.entry.inputs[0]).toMatchObject({ dtype: 'uint8', range: [0, 255] });
    const x = Uint8Array.from([0, 1, 2, 127, 128, 254, 255, 51]);
    const r = await m.run({ image: { data: x, dims: [1, 1, 2, 4] } });
    expect(Array.from(r.outputs.pred.data)).toEqual(Array.from(x, (v) => Math.fround(v / 255)));
    const err = await m.run({ image: { data: new Float32Array(8), dims: [1, 1, 2, 4] } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'InputError', code: 'inference.bad-dtype' });
    expect((err as Error).message).toMatch(/bytes@1\.0\.0: input "image" must be a Uint8Array \(card dtype uint8\), got Float32Array/);
    await m.close();
    // the other way round: a float32 model fed bytes
    const root1 = tempModelsDir();
    writeModelFolder(root1, 'toy', '1.0.0', 'identity2d.onnx', ID2D);
    const f = await loadModel('toy', { modelsDir: root1 });
    await expect(f.run({ image: { data: new Uint8Array(4), dims: [1, 1, 2, 2] } })).rejects.toMatchObject({ code: 'inference.bad-dtype' });
    await f.close();
    // the card says float32, model.onnx takes uint8 (and the reverse): passes the folder checks, refused when a session shows the types
    const root2 = tempModelsDir();
    writeModelFolder(root2, 'bytes', '1.0.0', 'bytes2d.onnx', ID2D);
    expect(listModels({ modelsDir: root2 }).models).toHaveLength(1);
    await expect(loadModel('bytes', { modelsDir: root2 })).rejects.toThrow(/card input "image" has dtype float32, model\.onnx's is uint8/);
    const root3 = tempModelsDir();
    writeModelFolder(root3, 'toy', '1.0.0', 'identity2d.onnx', ID2D, u8);
    await expect(loadModel('toy', { modelsDir: root3 })).rejects.toMatchObject({ code: 'inference.card-mismatch' });
  });

  it('uint8 is for image inputs in [0, 255] only; outputs are float32', () => {
    for (const [edit, msg] of [
      [(c: Record<string, any>) => (c.network_data_format.outputs.pred.dtype = 'uint8'), /output "pred" has dtype uint8; outputs must be float32/],
      [(c: Record<string, any>) => (c.network_data_format.inputs.image.dtype = 'uint8'), /dtype uint8 and value_range \[0,1\]/],
      [
        (c: Record<string, any>) => Object.assign(c.network_data_format.inputs.image, { dtype: 'uint8', value_range: [0, 255], type: 'tensor' }),
        /input "image" has dtype uint8, which only an image input may have/,
      ],
      [(c: Record<string, any>) => (c.network_data_format.inputs.image.dtype = 'int8'), /dtype must be equal to one of the allowed values \(float32, uint8\)/],
    ] as const) {
      const root = tempModelsDir();
      writeModelFolder(root, 'bytes', '1.0.0', 'bytes2d.onnx', ID2D, edit);
      const r = refusalOf(root);
      expect(r.code).toBe('inference.card-invalid');
      expect(r.reason).toMatch(msg);
    }
  });

  it('a bad folder does not stop the others; half-written folders (no version, no files) are refused', () => {
    const root = tempModelsDir();
    writeModelFolder(root, 'good', '0.1.0', 'identity2d.onnx', ID2D);
    writeModelFolder(root, 'bad', '0.1.0', 'identity2d.onnx', ID2D, (c) => (c.licence.weights = 'CC-BY-NC-4.0'));
    mkdirSync(join(root, 'empty'));
    mkdirSync(join(root, 'half', '0.1.0'), { recursive: true });
    writeFileSync(join(root, 'half', '0.1.0', 'model.onnx'), 'partial');
    mkdirSync(join(root, 'oddver', 'latest'), { recursive: true });
    writeFileSync(join(root, 'README.md'), '# models');
    const l = listModels({ modelsDir: root });
    expect(l.models.map((m) => m.id)).toEqual(['good']);
    expect(Object.fromEntries(l.refused.map((r) => [r.folder, r.code]))).toEqual({
      'bad/0.1.0': 'inference.licence-noncommercial',
      empty: 'inference.no-versions',
      'half/0.1.0': 'inference.card-missing',
      'oddver/latest': 'inference.bad-folder',
    });
  });

  it('several versions: getModel/resolve take the highest semver unless id@version; a refused highest version is not skipped', () => {
    const root = tempModelsDir();
    for (const v of ['0.9.0', '0.10.0', '0.10.0-rc.1']) writeModelFolder(root, 'toy', v, 'identity2d.onnx', ID2D);
    expect(resolveModel('toy', { modelsDir: root }).version).toBe('0.10.0');
    expect(resolveModel('toy@0.9.0', { modelsDir: root }).version).toBe('0.9.0');
    expect(() => resolveModel('toy@2.0.0', { modelsDir: root })).toThrow(/no version 2\.0\.0/);
    expect(() => resolveModel('nope', { modelsDir: root })).toThrow(expect.objectContaining({ code: 'inference.unknown-model' }));
    expect(listModels({ modelsDir: root }).models.map((m) => m.version)).toEqual(['0.10.0', '0.10.0-rc.1', '0.9.0']);
    writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => (c.sha256 = '0'.repeat(64)));
    expect(() => resolveModel('toy', { modelsDir: root })).toThrow(expect.objectContaining({ code: 'inference.sha256-mismatch' }));
    expect(resolveModel('toy@0.10.0', { modelsDir: root }).version).toBe('0.10.0');
  });

  it('compareSemver orders pre-releases before releases and numerically', () => {
    const vs = ['1.0.0', '0.10.0', '0.9.9', '1.0.0-alpha', '1.0.0-alpha.2', '1.0.0-alpha.10', '1.0.0-beta'];
    expect([...vs].sort(compareSemver)).toEqual(['0.9.9', '0.10.0', '1.0.0-alpha', '1.0.0-alpha.2', '1.0.0-alpha.10', '1.0.0-beta', '1.0.0']);
  });

  it('the `cli models` listing shows id, version, task, short sha256, licences and refused folders with reasons', () => {
    const root = tempModelsDir();
    copyTissue(root);
    writeModelFolder(root, 'toy', '1.0.0', 'identity2d.onnx', ID2D, (c) => (c.licence.weights = 'CC-BY-NC-4.0'));
    const text = modelsCommand({ modelsDir: root });
    expect(text).toBe(formatModelList(listModels({ modelsDir: root })));
    const lines = text.split('\n');
    expect(lines[0]).toBe(`models in ${root}: 1 usable, 1 refused`);
    expect(lines[1].split(/\s{2,}/)).toEqual(['id', 'version', 'task', 'sha256', 'weights', 'training data']);
    expect(lines[2].split(/\s{2,}/)).toEqual(['tissue-unet', '0.0.1', 'tissue-segmentation', TISSUE_PROVENANCE.sha256.slice(0, 12), 'MIT', 'unspecified-upstream']);
    expect(text).toMatch(/refused:\n {2}toy\/1\.0\.0 {2}\[inference\.licence-noncommercial\] {2}model folder toy\/1\.0\.0: weights licence "CC-BY-NC-4.0"/);
    rmSync(join(root, 'toy'), { recursive: true });
  });

  it('the shipped card is valid against the schema file at libs/inference/card.schema.json', () => {
    const card = JSON.parse(readFileSync(join(TISSUE_DIR, 'card.json'), 'utf8'));
    expect(cardSchemaErrors(card)).toEqual([]);
    expect(JSON.parse(readFileSync(join(repoRoot(), 'libs/inference/card.schema.json'), 'utf8')).properties.licence.required).toEqual(['weights', 'training_data', 'files']);
  });
});
