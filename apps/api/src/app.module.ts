import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuthService, createLoginLimiter } from '@app/auth';
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
import { DicomwebController } from './dicomweb.controller';
import { ReviewController } from './review.controller';
import { ReaderController } from './reader.controller';
import { ReportController } from './report.controller';
import { AuditController, AuthController, UsersController } from './auth/auth.controller';
import { AUTH_SERVICE, AuthErrorFilter, AuthGuard } from './auth/auth.guard';
import { opsControllers, opsImports, opsProviders } from './ops';

/** Controllers registered by later stages (slides, series, data cuts...) are listed here. */
export const apiControllers = [HealthController, EventsController, ObjectsController, JobsController, ImagingController, AdminController, SlidesController, CutsController, AiController, AuthController, UsersController, AuditController, DicomwebController, ReaderController, ReviewController, ReportController, ...opsControllers];

@Module({})
export class ApiModule implements OnApplicationShutdown {
  constructor(
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(AUTH_SERVICE) private readonly auth: AuthService,
  ) {}

  static forRoot(opts: { runtime?: Runtime; ownsRuntime?: boolean } = {}): DynamicModule {
    return {
      module: ApiModule,
      imports: opsImports,
      controllers: apiControllers,
      providers: [
        runtimeProvider(opts.runtime),
        { provide: 'OWNS_RUNTIME', useValue: opts.ownsRuntime ?? !opts.runtime },
        // identity and access on every route (issue 12): one AuthService per app, the guard refuses undeclared routes
        // failed logins per address counted in Redis across the API's replicas when REDIS_URL is set (closed at shutdown)
        {
          provide: AUTH_SERVICE,
          inject: [RUNTIME],
          useFactory: (rt: Runtime) => {
            const log = rt.log.child({ component: 'auth' });
            return new AuthService(rt.db, rt.config, log, undefined, createLoginLimiter(rt.config, log));
          },
        },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: AuthErrorFilter },
        // operations (issue Operations §5): metrics, queue dashboard, their settings
        ...opsProviders,
      ],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.auth.close();
    await this.rt.close();
  }
}
