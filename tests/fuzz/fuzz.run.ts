/**
 * `npm run fuzz`: the large fuzz run (not in CI). Forks runner processes that run the targets in-process
 * (the decoders are sandboxed inside); this parent watches them, so that an input that still kills a
 * process or hangs is counted (`process_deaths`, `hangs`) and the run goes on with the next input.
 *
 *   npm run fuzz                           # 50,000 inputs, seed 1, 2 runners
 *   FUZZ_INPUTS=2000 FUZZ_SEED=7 FUZZ_WHICH=slide FUZZ_RUNNERS=2 npm run fuzz
 *
 * Ends with ONE JSON line: inputs, ok, input_errors, other_errors, crashes_contained (inputs refused
 * because a decoder died, ran out of memory or time in the sandbox), process_deaths, hangs, p99_ms,
 * peak_rss_mb (the runners' and the sandbox children's peak resident memory), codes (InputError counts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult } from './fuzz';

const N = Number(process.env.FUZZ_INPUTS ?? 50_000);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const RUNNERS = Number(process.env.FUZZ_RUNNERS ?? 2);
const WHICH = (process.env.FUZZ_WHICH ?? 'all') as 'all' | 'slide' | 'dicom';
const HANG_MS = Number(process.env.FUZZ_HANG_MS ?? 10_000);
const CHUNK = 250;

const results: CaseResult[] = [];
const deaths: Array<{ i: number; how: string; stderr: string }> = [];
const hangs: number[] = [];
let peakRss = 0;
let next = 0;

function descendantsRssMb(pid: number): number {
  // the runner plus its sandbox children (Linux /proc)
  let total = 0;
  try {
    total += (Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * 4096) / 1048576;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean);
    for (const k of kids) total += descendantsRssMb(Number(k));
  } catch {
    /* gone */
  }
  return total;
}

function runChunk(from: number, to: number): Promise<void> {
  return new Promise((resolve) => {
    let current = from;
    let stderr = '';
    let finished = false;
    const child: ChildProcess = fork(join(__dirname, 'runner.js'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
    let hangTimer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(hangTimer);
      hangTimer = setTimeout(() => {
        hangs.push(current);
        child.kill('SIGKILL');
      }, HANG_MS);
    };
    const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, descendantsRssMb(child.pid!))), 500);
    child.on('message', (m: { start?: number; result?: CaseResult; done?: boolean }) => {
      if (m.start !== undefined) {
        current = m.start;
        arm();
      } else if (m.result) {
        results.push(m.result);
        current = m.result.i + 1;
      } else if (m.done) {
        finished = true;
        child.kill();
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(hangTimer);
      clearInterval(rssTimer);
      if (!finished) {
        if (!hangs.includes(current)) deaths.push({ i: current, how: signal ?? `exit ${code}`, stderr: stderr.split('\n').filter((l) => /Fatal|FATAL|rror/.test(l)).slice(0, 2).join(' | ') });
        // go on after the input that killed the runner
        if (current + 1 < to) return void runChunk(current + 1, to).then(resolve);
      }
      resolve();
    });
    child.send({ baseSeed: SEED, from, to, which: WHICH });
  });
}

async function main() {
  const t0 = Date.now();
  const lanes = Array.from({ length: RUNNERS }, async () => {
    while (next < N) {
      const from = next;
      next = Math.min(N, next + CHUNK);
      await runChunk(from, next);
      if (process.env.FUZZ_PROGRESS) process.stderr.write(`fuzz: ${results.length}/${N} done, ${deaths.length} deaths, ${hangs.length} hangs\n`);
    }
  });
  await Promise.all(lanes);
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const codes: Record<string, number> = {};
  for (const r of results) if (r.code) codes[r.code] = (codes[r.code] ?? 0) + 1;
  const others = results.filter((r) => r.outcome === 'other-error');
  for (const o of others.slice(0, 10)) process.stderr.write(`other error: input ${o.i} (${o.seed}; ${o.ops.join(', ')}): ${o.message}\n`);
  for (const d of deaths.slice(0, 10)) process.stderr.write(`process death: input ${d.i} (${d.how}) ${d.stderr}\n`);
  for (const h of hangs.slice(0, 10)) process.stderr.write(`hang: input ${h}\n`);
  const summary = {
    bench: 'fuzz',
    seed: SEED,
    inputs: results.length + deaths.length + hangs.length,
    ok: results.filter((r) => r.outcome === 'ok').length,
    input_errors: results.filter((r) => r.outcome === 'input-error').length,
    other_errors: others.length,
    crashes_contained: results.filter((r) => r.code?.startsWith('sandbox.')).length,
    process_deaths: deaths.length,
    hangs: hangs.length,
    p50_ms: +(ms[Math.floor(ms.length * 0.5)] ?? 0).toFixed(1),
    p99_ms: +(ms[Math.floor(ms.length * 0.99)] ?? 0).toFixed(1),
    max_ms: +(ms[ms.length - 1] ?? 0).toFixed(1),
    peak_rss_mb: Math.round(peakRss),
    wall_s: Math.round((Date.now() - t0) / 1000),
    codes,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

void main();
