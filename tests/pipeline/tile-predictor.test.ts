/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * tilePredictor (the slide path's feed to the inference pool): batches go through a few reused shared-memory
 * buffers. What it must keep: the classifier's own batch buffers stay intact (it reuses them), batches in flight at
 * once never share a buffer, and the probabilities equal an in-process onnxruntime run of the same tiles; for a
 * float32-input model (0.1.0) and a uint8-input one (0.2.0), each fed what its card says.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { mulberry32, repoRoot } from '@app/core';
import { createInferencePool, type InferencePool } from '@app/inference';
import { ortPredictor } from '@app/pathology';
import { tilePredictor } from '@app/pipeline';

const MODELS = join(repoRoot(), 'models');
let pool: InferencePool;
beforeAll(() => {
  pool = createInferencePool({ modelsDir: MODELS, threads: 2, intraOpNumThreads: 1 });
});
afterAll(async () => {
  await pool.close();
});

it.each([
  ['he-tile-classifier@0.1.0', 'float32'],
  ['he-tile-classifier', 'uint8'], // the newest version (0.2.0) takes the tiles' bytes
])('%s: concurrent %s batches through reused shared buffers give the in-process probabilities; the caller batches stay intact', async (ref, dtype) => {
  const model = await pool.model(ref);
  expect(model.card.network_data_format.inputs.image!.dtype).toBe(dtype);
  const T = Number(model.card.preprocessing!.tile_size);
  const predict = tilePredictor(model, T);
  const session = await ort.InferenceSession.create(readFileSync(join(MODELS, 'he-tile-classifier', model.card.version, 'model.onnx')));
  const reference = ortPredictor(session, { tileSize: T });
  const rand = mulberry32(7);
  // batches of different sizes, each buffer longer than its batch (as the classifier's are)
  const sizes = [64, 17, 64, 5, 64, 33];
  const batches = sizes.map((n) =>
    dtype === 'uint8' ? Uint8Array.from({ length: 64 * 3 * T * T }, () => Math.floor(rand() * 256)) : Float32Array.from({ length: 64 * 3 * T * T }, () => rand()),
  );
  const before = batches.map((b) => b.slice());
  for (let round = 0; round < 2; round++) {
    const got = await Promise.all(batches.map((b, i) => predict(b, sizes[i]!)));
    for (const [i, b] of batches.entries()) {
      expect(b.length).toBe(before[i]!.length); // not detached
      expect(Buffer.from(b.buffer).equals(Buffer.from(before[i]!.buffer))).toBe(true); // not written
      const want = await reference(b.slice(0, sizes[i]! * 3 * T * T), sizes[i]!);
      expect(got[i]!.length).toBe(want.length);
      for (let k = 0; k < want.length; k++) expect(got[i]![k]).toBeCloseTo(want[k]!, 5);
    }
  }
  await session.release();
}, 60_000);
