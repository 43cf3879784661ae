import { ConfigError } from '@app/core';

/**
 * Start-up wrapper for every entry point: a bad or missing setting, or an unreachable service,
 * stops the process with ONE clear line naming it (and exit code 1), not a stack trace.
 */
export async function runMain(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const msg = e instanceof ConfigError ? e.message : (e as Error)?.message ?? String(e);
    process.stderr.write(`${name}: cannot start: ${msg}\n`);
    process.exit(1);
  }
}
