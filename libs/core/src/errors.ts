/**
 * Errors shared by every domain library.
 *
 * The pipeline treats them differently:
 * - `InputError`: the object itself is bad (not DICOM, truncated, absurd size...). Retrying cannot help,
 *   so the object is quarantined with `message` as the human-actionable reason. Never thrown for
 *   transient faults.
 * - anything else: treated as transient (I/O, network, bug); the job is retried with backoff and then
 *   marked failed with its error. The object is never deleted.
 */
export class InputError extends Error {
  /** A short stable code, e.g. `dicom.truncated`, `wsi.unsupported-compression`. */
  readonly code: string;
  /** Optional structured detail, safe to store and show (never patient data). */
  readonly detail?: Record<string, unknown>;
  constructor(code: string, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'InputError';
    this.code = code;
    this.detail = detail;
  }
}

export const isInputError = (e: unknown): e is InputError =>
  e instanceof InputError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'InputError');

/** A configuration value is missing or invalid; the message names the setting. */
export class ConfigError extends Error {
  constructor(readonly setting: string, message: string) {
    super(`config: ${setting}: ${message}`);
    this.name = 'ConfigError';
  }
}
