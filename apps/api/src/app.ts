import 'reflect-metadata';
import { type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Logger } from '@app/core';
import type { Runtime } from '@app/pipeline';
import { ApiModule } from './app.module';

/** Nest's own log lines, through our pino logger (JSON). */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}
  log(message: unknown, context?: string) {
    this.pino.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.pino.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.pino.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.pino.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.pino.trace({ context }, String(message));
  }
}

/**
 * Build the HTTP API around a runtime. Without Redis the API also runs the job processors
 * (single-process embedded mode); with Redis it only enqueues unless API_RUNS_WORKER=true.
 */
export async function createApiApp(rt: Runtime, opts: { ownsRuntime?: boolean } = {}): Promise<INestApplication> {
  const app = await NestFactory.create(ApiModule.forRoot({ runtime: rt, ownsRuntime: opts.ownsRuntime }), {
    rawBody: true,
    logger: new PinoNestLogger(rt.log.child({ component: 'nest' })),
  });
  app.enableShutdownHooks();
  // request log: method, route, status, duration; never bodies or object keys
  app.use((req: any, res: any, next: () => void) => {
    const t0 = process.hrtime.bigint();
    res.on('finish', () => {
      rt.log.info({ method: req.method, route: req.route?.path ?? req.path?.split('/').slice(0, 3).join('/'), status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }, 'http');
    });
    next();
  });
  const doc = new DocumentBuilder()
    .setTitle('Imaging & pathology endpoint service')
    .setDescription('Ingest, de-identification, measurements and endpoint datasets for blinded independent central review.')
    .setVersion('1')
    // every non-public route: Authorization: Bearer <JWT from POST /v1/auth/login>; each operation's x-access names its roles
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Token from POST /v1/auth/login' }, 'bearer')
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, doc));
  if (rt.queue.kind === 'in-process' || rt.config.API_RUNS_WORKER) rt.queue.startWorker();
  return app;
}
