/**
 * Errors of the analysis library. `AnalysisError` is an `InputError` (@app/core): the data cannot give
 * the statistic asked for (one arm for a hazard ratio, no events at all, a singular design...), so the API
 * maps it to a 4xx and the pipeline does not retry. `code` is stable (`analysis.*`), `message` says what
 * to do about it.
 */
import { InputError } from '@app/core';

export class AnalysisError extends InputError {
  constructor(code: `analysis.${string}`, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
    this.name = 'AnalysisError';
  }
}

/** A statistic that exists but cannot be estimated from these data, with the reason (never a silent NaN). */
export interface NotEstimable {
  code: `analysis.${string}`;
  message: string;
}

/** Runs `f`; an AnalysisError becomes null plus its reason in `notes`. Other errors propagate. */
export function orNote<T>(f: () => T, notes: NotEstimable[], what: string): T | null {
  try {
    return f();
  } catch (e) {
    if (e instanceof AnalysisError) {
      notes.push({ code: e.code as NotEstimable['code'], message: `${what}: ${e.message}` });
      return null;
    }
    throw e;
  }
}
