import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { createRuntime } from '@app/pipeline';
import { PinoNestLogger } from '../../api/src/app';
import { loadOpsConfig } from '../../api/src/ops/ops-config';
import { runMain } from '../../cli/src/run-main';
import { startWorkerOpsServer } from './ops-server';
import { WorkerModule } from './worker.module';

void runMain('worker', async () => {
  const ops = loadOpsConfig();
  const rt = await createRuntime();
  if (rt.queue.kind !== 'bull') rt.log.warn('REDIS_URL is not set: this worker only sees jobs enqueued in its own process');
  // the operator port first: its metrics observe the queue before the first job starts
  const server = ops.METRICS_PORT > 0 ? await startWorkerOpsServer(rt, ops) : undefined;
  if (server) rt.log.info({ port: server.port }, 'worker ops port: /metrics, /health/live, /health/ready');
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(rt), { logger: new PinoNestLogger(rt.log) });
  app.enableShutdownHooks();
  await app.init();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void server?.close());
});
