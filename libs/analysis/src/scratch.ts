/**
 * Reusable scratch typed arrays for the analyses that run over every reader row of a cut (hundreds of thousands of
 * rows: readerAgreement, the ICC).
 *
 * Why: a typed array's buffer is off-heap memory, and once about 64 MB of it has been allocated since the last full
 * collection, V8 starts another full mark-compact of the whole heap ("external memory pressure"). A worker holding a
 * cut's datasets (about 1 GB of rows for 10,000 subjects with reader-level reads) pays about 0.65 s for each, and one
 * agreement section allocated enough scratch to set off one every time. Scratch buffers taken here are handed back
 * when the analysis ends and reused by the next one.
 *
 * Released buffers are held strongly while analyses keep coming (a worker making report after report), and only
 * weakly once none has run for SCRATCH_IDLE_MS: a weak-only cache let every full collection free the buffers, and
 * the next report's reallocation (about 150 MB for 10,000 subjects) set off the next full collection, so that every
 * other report paid for one or two (0.5-1 s each on a 1 GB heap). An idle process still gives the memory back.
 *
 * A view taken from a Scratch must not outlive its release(): results that are returned are copied into fresh arrays.
 */
const cache: WeakRef<ArrayBuffer>[] = [];
/** The released buffers, held strongly until the process has been idle for SCRATCH_IDLE_MS. */
const strong = new Set<ArrayBuffer>();
export const SCRATCH_IDLE_MS = 30_000;
let idleTimer: NodeJS.Timeout | undefined;

/** After SCRATCH_IDLE_MS without a release, the cache holds its buffers only weakly again. */
function holdUntilIdle(): void {
  if (idleTimer) idleTimer.refresh();
  else {
    idleTimer = setTimeout(() => {
      strong.clear();
      idleTimer = undefined;
    }, SCRATCH_IDLE_MS);
    idleTimer.unref();
  }
}

/** Drops the strong references now (tests; a process that knows it is done with analyses). */
export function releaseScratchMemory(): void {
  strong.clear();
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
}

/** The smallest cached buffer of at least `bytes` bytes (removed from the cache), or a new one. */
function takeBuffer(bytes: number): ArrayBuffer {
  let best = -1;
  for (let i = cache.length - 1; i >= 0; i--) {
    const b = cache[i]!.deref();
    if (!b) {
      cache.splice(i, 1);
      if (best > i) best--;
      continue;
    }
    if (b.byteLength >= bytes && (best < 0 || b.byteLength < cache[best]!.deref()!.byteLength)) best = i;
  }
  if (best >= 0) {
    const b = cache.splice(best, 1)[0]!.deref()!;
    strong.delete(b);
    return b;
  }
  // rounded up to a power of two (at least 64 KiB), so that the next cut's slightly larger columns fit too
  return new ArrayBuffer(Math.max(65536, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1)))));
}

export class Scratch {
  private readonly taken: ArrayBuffer[] = [];

  private buffer(bytes: number): ArrayBuffer {
    const b = takeBuffer(bytes);
    this.taken.push(b);
    return b;
  }

  /** n doubles, each `fill`. */
  f64(n: number, fill = 0): Float64Array {
    return new Float64Array(this.buffer(n * 8), 0, n).fill(fill);
  }

  /** n 32-bit integers, each `fill`. */
  i32(n: number, fill = 0): Int32Array {
    return new Int32Array(this.buffer(n * 4), 0, n).fill(fill);
  }

  /** n bytes, each `fill`. */
  u8(n: number, fill = 0): Uint8Array {
    return new Uint8Array(this.buffer(n), 0, n).fill(fill);
  }

  /** Hands every buffer back for reuse. The views taken from this Scratch must not be used afterwards. */
  release(): void {
    for (const b of this.taken.splice(0)) {
      cache.push(new WeakRef(b));
      strong.add(b);
    }
    holdUntilIdle();
  }
}

/** Runs f with a Scratch that is released when f returns or throws. */
export function withScratch<T>(f: (s: Scratch) => T): T {
  const s = new Scratch();
  try {
    return f(s);
  } finally {
    s.release();
  }
}
