/**
 * The decoder sandbox (@app/core): whatever a task does to its process, the caller gets a value or an
 * InputError, and this (jest) process keeps running. The tasks really abort, segfault, loop and exhaust
 * V8's heap in the child.
 */
import { join } from 'node:path';
import { InputError, Sandbox, isInputError } from '@app/core';

const TASK = join(__dirname, 'tasks', 'misbehave');
let sb: Sandbox;
beforeAll(() => {
  sb = new Sandbox({ processes: 2, timeoutMs: 3000, maxOldSpaceMb: 96, maxRssMb: 1024 });
});
afterAll(() => sb.close());

const call = (step: string) => ({ file: 'fixture.svs', step });
async function refusal(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (e) {
    expect(isInputError(e)).toBe(true);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

test('values and InputErrors cross as they are; other errors stay ordinary errors', async () => {
  const r = await sb.run<{ pid: number; bytes: Uint8Array }>(TASK, { what: 'echo', bytes: new Uint8Array([1, 2, 3]) }, call('echo'));
  expect(r.pid).not.toBe(process.pid);
  expect([...r.bytes]).toEqual([1, 2, 3]);
  const ie = await refusal(sb.run(TASK, { what: 'input-error' }, call('refusing')));
  expect(ie).toBeInstanceOf(InputError);
  expect(ie).toMatchObject({ code: 'test.bad', message: 'refused on purpose', detail: { n: 1 } });
  await expect(sb.run(TASK, { what: 'throw' }, call('a buggy step'))).rejects.toThrow(/fixture\.svs: a buggy step: a bug/);
  await expect(sb.run(TASK, { what: 'throw' }, call('x'))).rejects.not.toBeInstanceOf(InputError);
});

test('a native abort and a segfault become sandbox.crashed naming the file and the step; the next task runs', async () => {
  const before = sb.pids;
  const a = await refusal(sb.run(TASK, { what: 'abort' }, call('decoding tile 3 of level 0 (JPEG)')));
  expect(a.code).toBe('sandbox.crashed');
  expect(a.message).toMatch(/^fixture\.svs: decoding tile 3 of level 0 \(JPEG\) crashed the decoder process \(signal SIGABRT/);
  const s = await refusal(sb.run(TASK, { what: 'segv' }, call('decoding strip 0')));
  expect(s.code).toBe('sandbox.crashed');
  expect(s.message).toMatch(/SIGSEGV/);
  const r = await sb.run<{ pid: number }>(TASK, { what: 'echo' }, call('echo'));
  expect(r.pid).toBeGreaterThan(0);
  expect(sb.pids.length).toBeGreaterThan(0);
  expect(sb.pids).not.toEqual(before); // crashed children were replaced
});

test('an endless loop is stopped at the time limit (sandbox.timeout)', async () => {
  const t0 = Date.now();
  const h = await refusal(sb.run(TASK, { what: 'hang' }, { file: 'f.tif', step: 'decoding strip 7', timeoutMs: 1500 }));
  expect(h.code).toBe('sandbox.timeout');
  expect(h.message).toMatch(/^f\.tif: decoding strip 7 did not finish within 1500 ms/);
  expect(Date.now() - t0).toBeLessThan(6000);
});

test("V8's heap limit in the child becomes sandbox.out-of-memory", async () => {
  const o = await refusal(sb.run(TASK, { what: 'oom' }, { file: 'f.dcm', step: 'DICOM pixel decoding', timeoutMs: 20_000 }));
  expect(o.code).toBe('sandbox.out-of-memory');
  expect(o.message).toMatch(/^f\.dcm: DICOM pixel decoding ran out of memory/);
});

test('tasks batched with a crashing one still get their own results', async () => {
  const jobs = [
    sb.run<{ bytes: Uint8Array }>(TASK, { what: 'echo', bytes: new Uint8Array([1]) }, call('a')),
    sb.run(TASK, { what: 'abort' }, call('b')),
    sb.run<{ bytes: Uint8Array }>(TASK, { what: 'echo', bytes: new Uint8Array([3]) }, call('c')),
    sb.run<{ bytes: Uint8Array }>(TASK, { what: 'echo', bytes: new Uint8Array([4]) }, call('d')),
  ];
  const r = await Promise.allSettled(jobs);
  expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  expect((r[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'sandbox.crashed' });
  expect([...(r[3] as PromiseFulfilledResult<{ bytes: Uint8Array }>).value.bytes]).toEqual([4]);
});
