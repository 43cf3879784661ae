/**
 * Jest environment for tests that run onnxruntime-node.
 *
 * onnxruntime-node's native binding returns typed arrays from Node's main realm, while jest runs test code in a
 * separate vm realm whose `Float32Array` is a different constructor, so onnxruntime-common's
 * `data instanceof Float32Array` check fails ("A float32 tensor's data must be type of Float32Array").
 * Production code (no vm realm) is unaffected. This environment makes the sandbox use the main realm's typed
 * array constructors, as jest-environment-node already does for Uint8Array. It extends the suite's environment
 * (tests/support/environment.js: no contextify interceptors). Use with the docblock
 * `@jest-environment ./tests/inference/ort-environment.js`.
 */
const Environment = require('../support/environment');

class OrtEnvironment extends Environment {
  constructor(config, context) {
    super(config, context);
    for (const k of ['Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array', 'Uint16Array', 'Uint32Array',
      'Uint8ClampedArray', 'BigInt64Array', 'BigUint64Array', 'ArrayBuffer']) {
      this.global[k] = globalThis[k];
    }
  }
}
module.exports = OrtEnvironment;
