import type { Provider } from '@nestjs/common';
import { createRuntime, type Runtime } from '@app/pipeline';

export const RUNTIME = Symbol('RUNTIME');

/** The framework-free runtime, as a Nest provider. Tests pass a ready runtime instead. */
export const runtimeProvider = (existing?: Runtime): Provider =>
  existing ? { provide: RUNTIME, useValue: existing } : { provide: RUNTIME, useFactory: () => createRuntime() };
