/**
 * One jest config for the whole monorepo.
 *
 * Module decision (documented in README "ESM packages"): the code is compiled to CommonJS by swc.
 * NestJS 12 and geotiff 3 ship ESM only. Node >= 20.19 `require()`s them natively at run time,
 * but jest's own module loader does not, so under jest swc also transforms those packages
 * (and their ESM-only dependencies) to CommonJS. Nothing else in node_modules is transformed.
 */
const fs = require('node:fs');
const swcrc = JSON.parse(fs.readFileSync(`${__dirname}/.swcrc`, 'utf8'));
delete swcrc.$schema;
swcrc.jsc.baseUrl = __dirname;

const esmOnly = [
  '@nestjs', 'geotiff', '@electric-sql', 'quick-lru', 'xml-utils', 'zstddec', 'lerc', 'web-worker', 'parse-headers',
  '@petamoriken', 'uuid', 'file-type', 'strtok3', 'token-types', 'peek-readable', '@tokenizer', 'jose', 'canonicalize',
];

module.exports = {
  // jest-environment-node without vm contextify interceptors (see the file): hot loops run at Node's speed
  testEnvironment: '<rootDir>/tests/support/environment.js',
  roots: ['<rootDir>/tests', '<rootDir>/libs', '<rootDir>/apps'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj|cj)s$': ['@swc/jest', { ...swcrc, swcrc: false }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: { '^@app/([^/]+)$': '<rootDir>/libs/$1/src' },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json', 'node'],
  testTimeout: 60000,
  testSequencer: '<rootDir>/tests/support/sequencer.js',
  // 3 workers on 2 cores: many files wait on servers, child processes and job polling rather than compute
  maxWorkers: 3,
};
