import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Runtime } from '@app/pipeline';
import { EventsController } from './events.controller';
import { HealthController } from './health.controller';
import { JobsController } from './jobs.controller';
import { ObjectsController } from './objects.controller';
import { RUNTIME, runtimeProvider } from './runtime.provider';
import { AdminController, ImagingController } from './imaging.controller';
import { SlidesController } from './slides.controller';
import { CutsController } from './cuts.controller';
import { AiController } from './ai.controller';

/** Controllers registered by later stages (slides, series, data cuts...) are listed here. */
export const apiControllers = [HealthController, EventsController, ObjectsController, JobsController, ImagingController, AdminController, SlidesController, CutsController, AiController];

@Module({})
export class ApiModule implements OnApplicationShutdown {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}

  static forRoot(opts: { runtime?: Runtime; ownsRuntime?: boolean } = {}): DynamicModule {
    return { module: ApiModule, controllers: apiControllers, providers: [runtimeProvider(opts.runtime), { provide: 'OWNS_RUNTIME', useValue: opts.ownsRuntime ?? !opts.runtime }] };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.rt.close();
  }
}
