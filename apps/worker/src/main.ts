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
  // METRICS_PORT set explicitly (the manifests do): a port in use stops the worker like any bad setting. Left at its
  // default (several workers on one development machine): the later ones run without an operator port, warned.
  const explicit = !!process.env.METRICS_PORT;
  const server =
    ops.METRICS_PORT > 0
      ? await startWorkerOpsServer(rt, ops).catch(async (e: NodeJS.ErrnoException) => {
          if (e.code === 'EADDRINUSE' && !explicit) {
            rt.log.warn({ port: ops.METRICS_PORT }, 'worker ops port in use: running without /metrics and health endpoints (set METRICS_PORT)');
            return undefined;
          }
          await rt.close();
          throw new Error(`METRICS_PORT: cannot listen on ${ops.METRICS_PORT} (${e.message})`);
        })
      : undefined;
  if (server) rt.log.info({ port: server.port }, 'worker ops port: /metrics, /health/live, /health/ready');
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(rt), { logger: new PinoNestLogger(rt.log) });
  app.enableShutdownHooks();
  await app.init();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void server?.close());
});
