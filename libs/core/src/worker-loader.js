/* eslint-disable */
// Generic worker-thread entry of the piscina pools (plain CommonJS so it loads both from the compiled
// tree and from sources). Each task is { task, payload }: `task` is a task module's path WITHOUT
// extension, whose default export is called with `payload` (an InputError it throws is sent back as data). From the compiled tree (dist/) <task>.js is
// loaded; from sources (jest) a require hook compiles .ts files with @swc/core (a dev dependency) using
// the repository's .swcrc. Modules are loaded once per thread.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const loaded = new Map();
let hooked = false;

function hookTypeScript(from) {
  if (hooked) return;
  let root = from;
  while (!fs.existsSync(path.join(root, '.swcrc'))) {
    const up = path.dirname(root);
    if (up === root) throw new Error('worker-loader: cannot find .swcrc to compile TypeScript sources');
    root = up;
  }
  const swcrc = JSON.parse(fs.readFileSync(path.join(root, '.swcrc'), 'utf8'));
  delete swcrc.$schema;
  swcrc.jsc.baseUrl = root;
  swcrc.sourceMaps = false;
  const swc = require('@swc/core');
  const Module = require('node:module');
  if (!Module._extensions['.ts']) {
    Module._extensions['.ts'] = function (m, filename) {
      const src = fs.readFileSync(filename, 'utf8');
      const out = swc.transformSync(src, { ...swcrc, filename, swcrc: false });
      m._compile(out.code, filename);
    };
  }
  hooked = true;
}

function load(task) {
  let fn = loaded.get(task);
  if (fn) return fn;
  if (fs.existsSync(`${task}.js`)) fn = require(`${task}.js`).default;
  else {
    hookTypeScript(path.dirname(task));
    fn = require(`${task}.ts`).default;
  }
  if (typeof fn !== 'function') throw new Error(`worker-loader: ${task} has no default export function`);
  loaded.set(task, fn);
  return fn;
}

// An Error crossing threads keeps only its message: an InputError (bad input, a stable code that
// decides quarantine vs retry) travels back as data instead, and runInWorker throws it again.
const INPUT_ERROR = '__inputError';

module.exports = async function run(msg) {
  if (!msg || typeof msg.task !== 'string') throw new Error('worker-loader: a task is { task: module path without extension, payload }');
  try {
    return await load(msg.task)(msg.payload);
  } catch (e) {
    if (e && e.name === 'InputError' && typeof e.code === 'string') return { [INPUT_ERROR]: { code: e.code, message: e.message, detail: e.detail } };
    throw e;
  }
};

// the sandbox's child processes load a task module before its time limit starts (sandbox-child.js)
module.exports.load = load;
