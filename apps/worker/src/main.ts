import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { createRuntime } from '@app/pipeline';
import { PinoNestLogger } from '../../api/src/app';
import { runMain } from '../../cli/src/run-main';
import { WorkerModule } from './worker.module';

void runMain('worker', async () => {
  const rt = await createRuntime();
  if (rt.queue.kind !== 'bull') rt.log.warn('REDIS_URL is not set: this worker only sees jobs enqueued in its own process');
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(rt), { logger: new PinoNestLogger(rt.log) });
  app.enableShutdownHooks();
  await app.init();
});
