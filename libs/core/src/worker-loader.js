/* eslint-disable */
// Generic worker-thread entry for piscina pools (plain CommonJS so it loads both from the compiled tree
// and from sources). workerData.task is the task module's path WITHOUT extension: from the compiled tree
// (dist/) <task>.js is loaded; from sources (jest, ts-node-less runs) a require hook compiles .ts files
// with @swc/core (a dev dependency) using the repository's .swcrc. The module's default export is the
// task function.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { workerData } = require('node:worker_threads');

const task = workerData && workerData.task;
if (typeof task !== 'string') throw new Error('worker-loader: workerData.task (module path without extension) is required');
if (fs.existsSync(`${task}.js`)) {
  module.exports = require(`${task}.js`).default;
} else {
  let root = path.dirname(task);
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
  module.exports = require(`${task}.ts`).default;
}
