import { isInputError } from '@app/core';

/** Asserts that `fn` throws an InputError with this code (and, optionally, a message matching `msg`). */
export function expectInputError(fn: () => unknown, code: string, msg?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isInputError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    if (msg) expect((e as Error).message).toMatch(msg);
    return;
  }
  throw new Error(`expected InputError ${code}`);
}
