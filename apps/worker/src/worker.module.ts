import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Runtime } from '@app/pipeline';
import { RUNTIME, runtimeProvider } from '../../api/src/runtime.provider';

/**
 * The Bull worker: consumes every registered job type (ingest, processors, later stages) from the
 * queue. Run as many as needed on as many machines as needed, against the same Redis, Postgres and S3.
 * Heavy types run in lanes of their own (QUEUE_CONCURRENCY_HEAVY each); at start-up and every
 * JOB_RECLAIM_INTERVAL_MS the worker recovers jobs whose worker died (see libs/queue README).
 */
@Module({})
export class WorkerModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}
  static forRoot(runtime?: Runtime): DynamicModule {
    return { module: WorkerModule, providers: [runtimeProvider(runtime)] };
  }
  onApplicationBootstrap(): void {
    this.rt.queue.startWorker();
    this.rt.log.info({ jobs: this.rt.queue.names(), concurrency: this.rt.queue.concurrency(), queue: this.rt.queue.kind, workerId: this.rt.queue.workerId, leaseMs: this.rt.queue.leaseMs }, 'worker started');
  }
  async onApplicationShutdown(): Promise<void> {
    await this.rt.close();
  }
}
