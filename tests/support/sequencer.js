/**
 * Test order for a fresh clone (CI): jest orders by the durations of its previous run, but a fresh clone has no cache
 * and falls back to file size, which started the slowest files (the CT model re-validation, the browser test) late
 * and left one worker running them alone at the end. Files with a recorded duration (tests/support/durations.json,
 * seconds from a CI run; regenerate from a run's PASS lines when files are added) go first, longest first; others by
 * jest's own rules after them. With jest's cache present (a second local run) its own timings win.
 */
const Sequencer = require('@jest/test-sequencer').default;
const { relative } = require('node:path');
const recorded = require('./durations.json');

class SlowFirst extends Sequencer {
  sort(tests) {
    const root = (t) => relative(t.context.config.rootDir, t.path);
    const own = super.sort([...tests]);
    const cached = own.some((t) => t.duration != null);
    if (cached) return own;
    const known = own.filter((t) => recorded[root(t)] != null).sort((a, b) => recorded[root(b)] - recorded[root(a)]);
    const rest = own.filter((t) => recorded[root(t)] == null);
    return [...known, ...rest];
  }
}
module.exports = SlowFirst;
