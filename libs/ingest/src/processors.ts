import type { AppConfig, Logger } from '@app/core';
import type { Db, ObjectKind, ObjectRow, ObjectsRepository } from '@app/db';
import type { JobContext, JobQueue } from '@app/queue';
import type { ObjectStore } from '@app/storage';

/** What a processor gets: the ports, never adapters. */
export interface PipelineContext {
  config: AppConfig;
  log: Logger;
  db: Db;
  store: ObjectStore;
  queue: JobQueue;
  objects: ObjectsRepository;
}

export interface ProcessOutcome {
  /** Structured, PHI-free summary merged into objects.detail. */
  detail?: Record<string, unknown>;
}

/**
 * A processor for one or more object kinds (one pipeline step with declared input: an ingested
 * object of that kind). It must be idempotent: it may run again for the same object after a crash or
 * a retry. Bad input: throw InputError (the object is quarantined with its message); anything else is
 * retried and finally marks the object failed.
 */
export interface KindProcessor {
  name: string;
  kinds: ObjectKind[];
  process(obj: ObjectRow, ctx: PipelineContext, job: JobContext<{ objectId: string }>): Promise<ProcessOutcome | void>;
}

export class ProcessorRegistry {
  private readonly byKind = new Map<ObjectKind, KindProcessor>();
  register(p: KindProcessor): void {
    for (const k of p.kinds) {
      if (this.byKind.has(k)) throw new Error(`kind ${k} already has processor ${this.byKind.get(k)!.name}`);
      this.byKind.set(k, p);
    }
  }
  for(kind: ObjectKind): KindProcessor | undefined {
    return this.byKind.get(kind);
  }
  kinds(): ObjectKind[] {
    return [...this.byKind.keys()];
  }
}
