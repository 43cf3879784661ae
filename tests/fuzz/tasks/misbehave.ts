/** Sandbox test task: behaves like a decoder that works, refuses, throws, aborts, loops, or eats memory. */
import { InputError } from '@app/core';

export default async function misbehave(p: { what: 'echo' | 'input-error' | 'throw' | 'abort' | 'segv' | 'hang' | 'oom'; bytes?: Uint8Array }) {
  switch (p.what) {
    case 'echo':
      return { pid: process.pid, bytes: p.bytes };
    case 'input-error':
      throw new InputError('test.bad', 'refused on purpose', { n: 1 });
    case 'throw':
      throw new TypeError('a bug');
    case 'abort':
      process.abort(); // a native abort (SIGABRT): uncatchable, like a codec's abort()
      break;
    case 'segv':
      process.kill(process.pid, 'SIGSEGV');
      await new Promise((r) => setTimeout(r, 10_000));
      break;
    case 'hang':
      for (;;);
    case 'oom': {
      const keep: unknown[] = [];
      for (;;) keep.push(new Array(1e5).fill({ x: Math.random() }));
    }
  }
  return null;
}
