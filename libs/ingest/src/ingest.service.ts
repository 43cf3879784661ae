import { createHash } from 'node:crypto';
import { InputError, isInputError } from '@app/core';
import type { JobContext } from '@app/queue';
import { ObjectNotFoundError } from '@app/storage';
import { Admission } from './admission';
import { detectKind, type Sniffer } from './detect';
import { type ObjectEvent, ingestKey } from './events';
import type { PipelineContext, ProcessorRegistry } from './processors';

export const INGEST_JOB = 'ingest.object';
export const PROCESS_JOB = 'process.object';

export interface IngestPayload {
  bucket: string;
  key: string;
  etag?: string;
  versionId?: string;
  /** The idempotency key the event was enqueued under. */
  ingestKey: string;
}

export interface EnqueueSummary {
  accepted: number;
  duplicates: number;
  jobs: { jobId: string; duplicate: boolean }[];
}

/**
 * Upload-triggered ingest: events (webhook or poller) become one `ingest.object` job per upload;
 * the job records the object, detects its kind and dispatches it to the processor for that kind.
 */
export interface IngestOptions {
  /** Event requests enqueued at once by this process (default 8: below the database pool of 10). */
  maxInFlight?: number;
  /** Event requests waiting for a slot before new ones are refused with IngestBusyError (default 256). */
  maxWaiting?: number;
}

/** Events per enqueue call in poller mode: a listing of any size is enqueued page by page, never held whole. */
const POLL_CHUNK = 500;

export class IngestService {
  /** Bounds the event requests in progress (see admission.ts). */
  readonly admission: Admission;
  constructor(
    private readonly ctx: PipelineContext,
    private readonly processors: ProcessorRegistry,
    private readonly sniffers: readonly Sniffer[] = [],
    opts: IngestOptions = {},
  ) {
    this.admission = new Admission(opts.maxInFlight ?? 8, opts.maxWaiting ?? 256);
  }

  /**
   * Enqueue one ingest job per object; a repeated event (same bucket+key+etag/version) is a no-op. Throws
   * IngestBusyError (answer 503 + Retry-After) when too many event requests are already in progress.
   */
  enqueueEvents(events: ObjectEvent[]): Promise<EnqueueSummary> {
    return this.admission.run(() => this.enqueueNow(events));
  }

  private async enqueueNow(events: ObjectEvent[]): Promise<EnqueueSummary> {
    const out: EnqueueSummary = { accepted: 0, duplicates: 0, jobs: [] };
    for (const e of events) {
      if (e.bucket !== this.ctx.store.bucket) throw new InputError('event.bucket', `event for bucket '${e.bucket}', but this service reads bucket '${this.ctx.store.bucket}'`);
      let etag = e.etag;
      if (!etag && !e.versionId) {
        // Events without ETag/version (some webhooks): take it from the store so the key still names the content version.
        const head = await this.ctx.store.head(e.key);
        etag = head?.etag;
      }
      const k = ingestKey({ ...e, etag });
      const payload: IngestPayload = { bucket: e.bucket, key: e.key, etag, versionId: e.versionId, ingestKey: k };
      const r = await this.ctx.queue.enqueue(INGEST_JOB, payload, { idempotencyKey: k });
      out.jobs.push(r);
      if (r.duplicate) out.duplicates++;
      else out.accepted++;
    }
    return out;
  }

  /** Poller mode: list a prefix and enqueue every object (repeats are no-ops through the keys). */
  async pollOnce(prefix: string): Promise<EnqueueSummary> {
    const total: EnqueueSummary = { accepted: 0, duplicates: 0, jobs: [] };
    let events: ObjectEvent[] = [];
    const flush = async () => {
      const r = await this.enqueueNow(events);
      total.accepted += r.accepted;
      total.duplicates += r.duplicates;
      total.jobs.push(...r.jobs);
      events = [];
    };
    for await (const o of this.ctx.store.list(prefix)) {
      events.push({ bucket: this.ctx.store.bucket, key: o.key, etag: o.etag, versionId: o.versionId, size: o.size, eventName: 'Poll' });
      if (events.length >= POLL_CHUNK) await flush();
    }
    if (events.length) await flush();
    return total;
  }

  /** The `ingest.object` job. Idempotent: a re-run after a crash redoes only what is not recorded. */
  async ingest(job: JobContext<IngestPayload>): Promise<{ objectId: string; status: string }> {
    const { store, objects, config, log } = this.ctx;
    const p = job.payload;
    const { row } = await objects.upsertReceived({
      bucket: p.bucket,
      key: p.key,
      etag: p.etag ?? '',
      version_id: p.versionId ?? null,
      idempotency_key: p.ingestKey,
      size: 0,
    });
    // 'queued': the object was dispatched, but a crash between marking it queued and enqueueing its process job would
    // leave it waiting for ever: enqueue again (idempotent by key: a process job that exists is not run twice)
    if (row.status === 'queued' && row.kind && this.processors.for(row.kind)) {
      await this.ctx.queue.enqueue(PROCESS_JOB, { objectId: row.id }, { idempotencyKey: `process:${row.id}` });
      return { objectId: row.id, status: row.status };
    }
    // 'failed': the operator re-runs a finally failed ingest (cli jobs retry) once the fault (S3 down...) is fixed
    if (!['received', 'ingesting', 'failed'].includes(row.status)) return { objectId: row.id, status: row.status };
    await objects.setStatus(row.id, 'ingesting');
    const head = await store.head(p.key);
    if (!head) throw new ObjectNotFoundError(p.key); // eventual consistency: retried, then failed (never quarantined on a guess)
    await this.ctx.db.updateTable('objects').set({ size: head.size }).where('id', '=', row.id).execute();
    if (head.size > config.MAX_OBJECT_BYTES) {
      await objects.setStatus(row.id, 'quarantined', {
        reasonCode: 'ingest.too-large',
        reason: `object is ${head.size} bytes, above the MAX_OBJECT_BYTES limit of ${config.MAX_OBJECT_BYTES}; raise the limit if this is expected`,
      });
      return { objectId: row.id, status: 'quarantined' };
    }
    const sniff = head.size > 0 ? await store.getBuffer(p.key, { start: 0, end: Math.min(head.size, config.SNIFF_BYTES) - 1 }) : Buffer.alloc(0);
    await job.progress(20);
    const hash = createHash('sha256');
    for await (const chunk of await store.get(p.key)) hash.update(chunk as Buffer);
    const sha256 = hash.digest('hex');
    await job.progress(70);
    const filename = p.key.slice(p.key.lastIndexOf('/') + 1);
    const d = detectKind(sniff, filename, this.sniffers);
    const detail = { detectedVariant: d.variant ?? null, storeEtag: head.etag };
    if (d.kind === 'unknown') {
      await objects.setStatus(row.id, 'quarantined', { kind: 'unknown', sha256, reasonCode: 'ingest.unknown-kind', reason: d.reason!, detail });
      log.info({ objectId: row.id, sha256 }, 'object quarantined: unknown kind');
      return { objectId: row.id, status: 'quarantined' };
    }
    const proc = this.processors.for(d.kind);
    if (!proc) {
      await objects.setStatus(row.id, 'no-processor', {
        kind: d.kind,
        sha256,
        reasonCode: 'ingest.no-processor',
        reason: `no processor is registered for kind '${d.kind}' yet; the object waits here and is dispatched when one is (cli objects redispatch)`,
        detail,
      });
      return { objectId: row.id, status: 'no-processor' };
    }
    await objects.setStatus(row.id, 'queued', { kind: d.kind, sha256, reason: null, reasonCode: null, detail });
    await this.ctx.queue.enqueue(PROCESS_JOB, { objectId: row.id }, { idempotencyKey: `process:${row.id}` });
    log.info({ objectId: row.id, kind: d.kind, sha256 }, 'object ingested');
    return { objectId: row.id, status: 'queued' };
  }

  /** The `process.object` job: run the kind's processor; InputError quarantines, other errors retry. */
  async process(job: JobContext<{ objectId: string }>): Promise<{ status: string }> {
    const { objects, log } = this.ctx;
    const obj = await objects.byId(job.payload.objectId);
    if (!obj) throw new Error(`object ${job.payload.objectId} not in the database`);
    if (obj.status === 'processed' || obj.status === 'quarantined') return { status: obj.status };
    const proc = obj.kind ? this.processors.for(obj.kind) : undefined;
    if (!proc) {
      await objects.setStatus(obj.id, 'no-processor', { reasonCode: 'ingest.no-processor', reason: `no processor is registered for kind '${obj.kind}'` });
      return { status: 'no-processor' };
    }
    await objects.setStatus(obj.id, 'processing');
    try {
      const outcome = await proc.process(obj, this.ctx, job);
      await objects.setStatus(obj.id, 'processed', { reason: null, reasonCode: null, detail: outcome?.detail });
      return { status: 'processed' };
    } catch (e) {
      if (isInputError(e)) {
        await objects.setStatus(obj.id, 'quarantined', { reasonCode: e.code, reason: e.message, detail: e.detail ? { error: e.detail } : undefined });
        log.info({ objectId: obj.id, code: e.code }, 'object quarantined by its processor');
        return { status: 'quarantined' };
      }
      throw e;
    }
  }

  /** Final failure of either job: the object is marked failed with the error, and stays in the store. */
  async markFailed(objectIdOrKey: { objectId?: string; ingestKey?: string }, error: Error): Promise<void> {
    const { db, objects } = this.ctx;
    const row = objectIdOrKey.objectId
      ? await objects.byId(objectIdOrKey.objectId)
      : await db.selectFrom('objects').selectAll().where('idempotency_key', '=', objectIdOrKey.ingestKey!).executeTakeFirst();
    if (!row) return;
    const reason = error instanceof ObjectNotFoundError ? 'the event named an object that is not in the store' : `${error.name}: ${error.message}`;
    await objects.setStatus(row.id, 'failed', { reasonCode: error instanceof ObjectNotFoundError ? 'ingest.not-found' : 'job.failed', reason });
  }

  /**
   * Re-dispatch objects waiting for a processor (after a new processor is deployed), and objects left queued without a
   * process job (a crash between the two writes below). Returns how many were dispatched.
   */
  async redispatchWaiting(): Promise<number> {
    const waiting = await this.ctx.objects.list({ status: 'no-processor', limit: 1000 });
    let n = 0;
    for (const o of waiting) {
      if (!o.kind || !this.processors.for(o.kind)) continue;
      await this.ctx.objects.setStatus(o.id, 'queued');
      await this.ctx.queue.enqueue(PROCESS_JOB, { objectId: o.id }, { idempotencyKey: `process:${o.id}` });
      n++;
    }
    for (const o of await this.ctx.objects.list({ status: 'queued', limit: 1000 })) {
      if (!o.kind || !this.processors.for(o.kind)) continue;
      const r = await this.ctx.queue.enqueue(PROCESS_JOB, { objectId: o.id }, { idempotencyKey: `process:${o.id}` });
      if (!r.duplicate) n++;
    }
    return n;
  }
}
