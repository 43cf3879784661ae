/**
 * The decoder sandbox: untrusted bytes are decoded in child processes, so that nothing a decoder does
 * can take the service down. A worker thread is not enough: V8 fatal errors ("Fatal JavaScript invalid
 * size error" when an array grows past V8's limit), native crashes and WASM runaways abort the whole
 * process, worker threads and resourceLimits included (verified: a worker thread growing an array
 * aborts its parent with SIGTRAP). A child process is the boundary that survives that.
 *
 * - A small pool of long-lived children (2 to 4 by cores, SANDBOX_PROCESSES), started on first use, reused (warm codecs),
 *   unref'd while idle (they never keep the parent alive) and restarted after a death.
 * - Each task runs with a time limit (default 8 s); a child is also killed when its resident memory
 *   passes `maxRssMb`, and its V8 heap is capped with --max-old-space-size.
 * - Task modules are loaded like worker-thread tasks (worker-loader.js): a module path without
 *   extension whose default export receives the payload. Payloads and results cross with the
 *   structured-clone ("advanced") serialization (typed arrays are copied).
 * - An InputError thrown by the task comes back as that InputError. A child that dies (signal, V8
 *   fatal error, heap limit), exceeds its memory or its time becomes an InputError naming the file and
 *   the step (`sandbox.crashed`, `sandbox.out-of-memory`, `sandbox.timeout`): the object is quarantined
 *   with that reason and the service keeps running. A crash is retried once on a fresh child (a crash
 *   caused by the input repeats; one caused by the machine does not).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { InputError } from './errors';

export const SANDBOX_CHILD = join(__dirname, 'sandbox-child.js');

export interface SandboxOptions {
  /** Child processes (concurrent tasks). Default: SANDBOX_PROCESSES, else 2 to 4 by cores. */
  processes?: number;
  /** Default per-task time limit in ms. Default 8000. */
  timeoutMs?: number;
  /** V8 old-space limit of each child (MB). Default 1024. */
  maxOldSpaceMb?: number;
  /** Resident memory limit of each child (MB); polled while a task runs. Default 2048. */
  maxRssMb?: number;
  /** Retry a task once on a fresh child after a crash. Default true. */
  retryCrash?: boolean;
}

export interface SandboxCall {
  /** The file (or object key) being decoded: named in errors. */
  file: string;
  /** What was being done, e.g. 'decoding tile 12 of level 0 (LZW)': named in errors. */
  step: string;
  timeoutMs?: number;
}

/** Counters (tests, metrics, the fuzz report). */
export const sandboxStats = { tasks: 0, crashes: 0, timeouts: 0, outOfMemory: 0, spawned: 0 };

interface Job {
  task: string;
  payload: unknown;
  call: SandboxCall;
  attempt: number;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

interface Child {
  proc: ChildProcess;
  /** The batch in flight and the index of the item running now. */
  items: Job[];
  index: number;
  batchId: number;
  stderr: string;
  timer?: NodeJS.Timeout;
  rssTimer?: NodeJS.Timeout;
  killedFor?: 'timeout' | 'memory';
  dead: boolean;
  /** Task modules this child has loaded (before that, a task gets STARTUP_MS to start). */
  loaded: Set<string>;
}

/** Time a child may take to start and load a task module before the task's own time limit starts. */
const STARTUP_MS = 60_000;

/** Most tasks sent to one child in one message (fewer round trips when e.g. a row of tiles is requested at once). */
const MAX_BATCH = 16;

const FATAL_LINE = /(Fatal[^\n]*|FATAL ERROR[^\n]*|out of memory[^\n]*|Aborted[^\n]*|RuntimeError[^\n]*|Segmentation fault[^\n]*|heap limit[^\n]*)/i;

function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ');
    return (Number(statm[1]) * 4096) / 1048576;
  } catch {
    return 0;
  }
}

type Reply = { id: number; index: number; loaded?: boolean; value?: unknown; inputError?: { code: string; message: string; detail?: Record<string, unknown> }; error?: { name: string; message: string } };

export class Sandbox {
  private readonly children: Child[] = [];
  private readonly queue: Job[] = [];
  private seq = 0;
  private closed = false;
  private pumpScheduled = false;
  readonly opts: Required<SandboxOptions>;

  constructor(opts: SandboxOptions = {}) {
    this.opts = {
      processes: Math.max(1, opts.processes ?? (Number(process.env.SANDBOX_PROCESSES) || Math.max(2, Math.min(4, availableParallelism())))),
      timeoutMs: opts.timeoutMs ?? 8000,
      maxOldSpaceMb: opts.maxOldSpaceMb ?? 1024,
      maxRssMb: opts.maxRssMb ?? 2048,
      retryCrash: opts.retryCrash ?? true,
    };
  }

  /** Runs `task` (module path without extension) with `payload` in a child; see the module comment. */
  run<T>(task: string, payload: unknown, call: SandboxCall): Promise<T> {
    if (this.closed) return Promise.reject(new Error('sandbox is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task, payload, call, attempt: 0, resolve: resolve as (v: unknown) => void, reject });
      this.schedulePump();
    });
  }

  /** Live child processes (for tests). */
  get pids(): number[] {
    return this.children.filter((c) => !c.dead).map((c) => c.proc.pid!);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error('sandbox closed'));
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((res) => {
            if (c.dead) return res();
            c.proc.once('exit', () => res());
            c.proc.kill('SIGKILL');
          }),
      ),
    );
  }

  // tasks requested in the same tick (e.g. a row of tiles) are batched: pump once they are all queued
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private spawn(): Child {
    const proc = fork(SANDBOX_CHILD, [], {
      serialization: 'advanced',
      execArgv: [`--max-old-space-size=${this.opts.maxOldSpaceMb}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: process.env,
    });
    sandboxStats.spawned++;
    const c: Child = { proc, items: [], index: 0, batchId: -1, stderr: '', dead: false, loaded: new Set() };
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      c.stderr = (c.stderr + d).slice(-4096);
    });
    (proc.stderr as unknown as { unref?: () => void }).unref?.();
    proc.on('message', (m: Reply) => this.onReply(c, m));
    proc.on('exit', (code, signal) => this.onExit(c, code, signal));
    proc.on('error', () => undefined); // 'exit' follows
    this.children.push(c);
    return c;
  }

  private onReply(c: Child, m: Reply): void {
    if (m.id !== c.batchId || m.index !== c.index) return;
    const job = c.items[c.index];
    if (m.loaded) {
      c.loaded.add(job.task);
      this.armTimer(c);
      return;
    }
    if (m.inputError) job.reject(new InputError(m.inputError.code, m.inputError.message, m.inputError.detail));
    else if (m.error) {
      const e = new Error(`${job.call.file}: ${job.call.step}: ${m.error.message}`);
      e.name = m.error.name;
      job.reject(e);
    } else job.resolve(m.value);
    c.index++;
    if (c.index < c.items.length) this.armTimer(c);
    else {
      this.release(c);
      this.pump();
    }
  }

  private release(c: Child): void {
    clearTimeout(c.timer);
    clearInterval(c.rssTimer);
    c.items = [];
    c.index = 0;
    c.batchId = -1;
    // idle children never keep the parent process alive
    c.proc.unref();
    (c.proc.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
  }

  private onExit(c: Child, code: number | null, signal: NodeJS.Signals | null): void {
    c.dead = true;
    const i = this.children.indexOf(c);
    if (i >= 0) this.children.splice(i, 1);
    const job = c.items[c.index] as Job | undefined;
    const rest = c.items.slice(c.index + 1);
    const killedFor = c.killedFor;
    this.release(c);
    // the items after the one that died were not at fault: back to the queue as they were
    this.queue.unshift(...rest);
    if (job) {
      const { file, step } = job.call;
      const fatal = FATAL_LINE.exec(c.stderr)?.[1]?.trim().slice(0, 200);
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (killedFor === 'timeout') {
        sandboxStats.timeouts++;
        job.reject(new InputError('sandbox.timeout', `${file}: ${step} did not finish within ${job.call.timeoutMs ?? this.opts.timeoutMs} ms; the decoder was stopped (corrupt or hostile data)`, { file, step }));
      } else if (killedFor === 'memory' || /heap limit|out of memory/i.test(c.stderr)) {
        sandboxStats.outOfMemory++;
        job.reject(new InputError('sandbox.out-of-memory', `${file}: ${step} ran out of memory (limit ${killedFor === 'memory' ? `${this.opts.maxRssMb} MB resident` : `${this.opts.maxOldSpaceMb} MB heap`}); the decoder was stopped (corrupt or hostile data)`, { file, step }));
      } else if (this.opts.retryCrash && job.attempt === 0 && !this.closed) {
        job.attempt++; // retried alone on a fresh child
        this.queue.unshift(job);
      } else {
        sandboxStats.crashes++;
        job.reject(new InputError('sandbox.crashed', `${file}: ${step} crashed the decoder process (${how}${fatal ? `: ${fatal}` : ''}); the data is corrupt or hostile`, { file, step, signal, exitCode: code }));
      }
    }
    this.pump();
  }

  private pump(): void {
    while (this.queue.length && !this.closed) {
      let idle = this.children.filter((x) => !x.items.length && !x.dead);
      if (!idle.length) {
        if (this.children.length >= this.opts.processes) return;
        idle = [this.spawn()];
      }
      // spread the queue over the idle children (and the ones that may still be started)
      const slots = idle.length + Math.max(0, this.opts.processes - this.children.length);
      const per = Math.min(MAX_BATCH, Math.max(1, Math.ceil(this.queue.length / slots)));
      const c = idle[0];
      const batch: Job[] = [];
      while (batch.length < per && this.queue.length) {
        const j = this.queue[0];
        if (j.attempt > 0 && batch.length) break; // a retry runs alone
        batch.push(this.queue.shift()!);
        if (j.attempt > 0) break;
      }
      this.dispatch(c, batch);
    }
  }

  private armTimer(c: Child): void {
    clearTimeout(c.timer);
    const job = c.items[c.index];
    const limit = c.loaded.has(job.task) ? (job.call.timeoutMs ?? this.opts.timeoutMs) : STARTUP_MS + (job.call.timeoutMs ?? this.opts.timeoutMs);
    c.timer = setTimeout(() => {
      c.killedFor = 'timeout';
      c.proc.kill('SIGKILL');
    }, limit);
  }

  private dispatch(c: Child, batch: Job[]): void {
    c.items = batch;
    c.index = 0;
    c.batchId = ++this.seq;
    c.killedFor = undefined;
    c.stderr = '';
    sandboxStats.tasks += batch.length;
    c.proc.ref();
    (c.proc.channel as unknown as { ref?: () => void } | undefined)?.ref?.();
    this.armTimer(c);
    c.rssTimer = setInterval(() => {
      if (rssMb(c.proc.pid) > this.opts.maxRssMb) {
        c.killedFor = 'memory';
        c.proc.kill('SIGKILL');
      }
    }, 200);
    c.rssTimer.unref();
    try {
      c.proc.send({ id: c.batchId, items: batch.map((j) => ({ task: j.task, payload: j.payload })) });
    } catch (e) {
      this.release(c);
      for (const j of batch) j.reject(e);
    }
  }
}

let shared: Sandbox | undefined;
let sharedOpts: SandboxOptions = {};

/** Options of the process-wide sandbox (call before first use; replaces a running one). */
export function configureSandbox(opts: SandboxOptions): void {
  sharedOpts = opts;
  const old = shared;
  shared = undefined;
  void old?.close();
}

/** The process-wide sandbox (lazily started). */
export function sandbox(): Sandbox {
  shared ??= new Sandbox(sharedOpts);
  return shared;
}

/** Runs a task in the process-wide sandbox. */
export function runSandboxed<T>(task: string, payload: unknown, call: SandboxCall): Promise<T> {
  return sandbox().run<T>(task, payload, call);
}
