import { type DynamicModule, Inject, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Runtime } from '@app/pipeline';
import { RUNTIME, runtimeProvider } from '../../api/src/runtime.provider';

/**
 * The Bull worker: consumes every registered job type (ingest, processors, later stages) from the
 * queue. Run as many as needed on as many machines as needed, against the same Redis, Postgres and S3.
 */
@Module({})
export class WorkerModule implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(RUNTIME) private readonly rt: Runtime) {}
  static forRoot(runtime?: Runtime): DynamicModule {
    return { module: WorkerModule, providers: [runtimeProvider(runtime)] };
  }
  onApplicationBootstrap(): void {
    this.rt.queue.startWorker();
    this.rt.log.info({ jobs: this.rt.queue.names(), concurrency: this.rt.config.QUEUE_CONCURRENCY, queue: this.rt.queue.kind }, 'worker started');
  }
  async onApplicationShutdown(): Promise<void> {
    await this.rt.close();
  }
}
