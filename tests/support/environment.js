/**
 * The jest environment of every test file: jest-environment-node, with its vm context created without Node's
 * "contextify" interceptors (`vm.constants.DONT_CONTEXTIFY`, Node >= 20.18 / 22.8).
 *
 * Why: in a contextified context every access to a global (`Math`, `Float32Array`, `performance`...) goes through
 * C++ interceptors, and jest 30 adds a Proxy trap behind them, so V8 cannot optimise code that touches globals in a
 * hot loop. Measured on Node 20.20 (a micro-benchmark run both ways): a mulberry32 loop ran 30x slower and a typed
 * array loop with Math.round 100x slower under jest than in Node; the phantom renderer took 5.1 s instead of 1.6 s,
 * the CT segmentation's argmax 23 s of the model test's 125. Production code runs in Node's main context and was
 * never affected. With DONT_CONTEXTIFY the context's global object is an ordinary V8 global, as in production.
 *
 * What is given up: jest 30's global proxy (it tracks globals a test file sets, to delete them at teardown to help
 * the garbage collector); each file still gets a fresh context of its own.
 */
const vm = require('node:vm');
const { TestEnvironment } = require('jest-environment-node');

class Environment extends TestEnvironment {
  constructor(config, context) {
    const createContext = vm.createContext;
    // jest-environment-node calls vm.createContext(globalProxy) once, in its constructor
    vm.createContext = (_sandbox, options) => createContext(vm.constants.DONT_CONTEXTIFY, options);
    try {
      super(config, context);
    } finally {
      vm.createContext = createContext;
    }
  }
}

module.exports = Environment;
