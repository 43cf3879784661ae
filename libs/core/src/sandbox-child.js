/* eslint-disable */
// Entry of the decoder sandbox's child processes (see sandbox.ts). Plain CommonJS so it runs both from
// the compiled tree and from sources (task modules are loaded like worker threads load them, through
// worker-loader.js: compiled .js, or .ts compiled on the fly with @swc/core).
// In: { id, items: [{ task, payload }] }. Out, one message per item as it finishes, in order:
// { id, index, value } | { id, index, inputError } | { id, index, error }.
'use strict';
const run = require('./worker-loader.js');

// Fault injection, for tests only (never set in production): SANDBOX_FAULT_INJECTION is a JSON list of
// { "marker": "<hex bytes>", "fault": "abort" | "v8-fatal" | "hang" | "oom" }. A task whose payload holds a
// marker's bytes then dies the way a broken decoder would, for real: abort() (SIGABRT, as a native codec
// abort), an array grown past V8's limit ("Fatal JavaScript invalid size error", SIGTRAP), an endless
// loop, or a heap that grows until V8's heap limit kills the process.
let faults = [];
try {
  const f = process.env.SANDBOX_FAULT_INJECTION ? JSON.parse(process.env.SANDBOX_FAULT_INJECTION) : [];
  faults = (Array.isArray(f) ? f : [f]).map((x) => ({ marker: Buffer.from(x.marker, 'hex'), fault: x.fault }));
} catch {
  faults = [];
}
function injectFault(payload) {
  const views = [];
  const walk = (v, depth) => {
    if (depth > 3 || v === null || typeof v !== 'object') return;
    if (ArrayBuffer.isView(v)) return void views.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    for (const k of Object.keys(v)) walk(v[k], depth + 1);
  };
  walk(payload, 0);
  const hit = faults.find((f) => views.some((b) => b.includes(f.marker)));
  if (!hit) return;
  if (hit.fault === 'abort') process.abort();
  if (hit.fault === 'hang') for (;;);
  if (hit.fault === 'oom') {
    const keep = [];
    for (;;) keep.push(new Array(1e5).fill({ x: Math.random() }));
  }
  const a = [];
  for (let i = 0; ; i++) a.push(i & 255);
}

const loaded = new Set();

process.on('message', async (m) => {
  if (!m || typeof m.id !== 'number' || !Array.isArray(m.items)) return;
  for (let index = 0; index < m.items.length; index++) {
    const it = m.items[index];
    let reply;
    try {
      if (!loaded.has(it.task)) {
        // first use of a task module here: load (and, from sources, compile) it, then say so: the
        // parent starts the task's time limit now, not while the module loads
        run.load(it.task);
        loaded.add(it.task);
        process.send({ id: m.id, index, loaded: true });
      }
      if (faults.length) injectFault(it.payload);
      const r = await run({ task: it.task, payload: it.payload });
      reply = r && r.__inputError ? { id: m.id, index, inputError: r.__inputError } : { id: m.id, index, value: r };
    } catch (e) {
      reply = { id: m.id, index, error: { name: (e && e.name) || 'Error', message: String((e && e.message) || e) } };
    }
    try {
      process.send(reply);
    } catch (e) {
      process.send({ id: m.id, index, error: { name: 'Error', message: `sandbox: cannot send the result back: ${e.message}` } });
    }
  }
});
// the parent went away: nothing left to do
process.on('disconnect', () => process.exit(0));
