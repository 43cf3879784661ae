/* eslint-disable */
// Worker entry for DicomPool (plain CommonJS so it loads both from the compiled tree and from sources).
// From the compiled tree (dist/) the task is pool-task.js beside this file. From sources (jest, ts), a
// require hook compiles .ts files with @swc/core (a dev dependency) using the repository's .swcrc.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const compiled = path.join(__dirname, 'pool-task.js');
if (fs.existsSync(compiled)) {
  module.exports = require(compiled).default;
} else {
  let root = __dirname;
  while (!fs.existsSync(path.join(root, '.swcrc'))) {
    const up = path.dirname(root);
    if (up === root) throw new Error('pool-worker: cannot find .swcrc to compile TypeScript sources');
    root = up;
  }
  const swcrc = JSON.parse(fs.readFileSync(path.join(root, '.swcrc'), 'utf8'));
  delete swcrc.$schema;
  swcrc.jsc.baseUrl = root;
  swcrc.sourceMaps = false;
  const swc = require('@swc/core');
  const Module = require('node:module');
  Module._extensions['.ts'] = function (m, filename) {
    const src = fs.readFileSync(filename, 'utf8');
    const out = swc.transformSync(src, { ...swcrc, filename, swcrc: false });
    m._compile(out.code, filename);
  };
  module.exports = require(path.join(__dirname, 'pool-task.ts')).default;
}
