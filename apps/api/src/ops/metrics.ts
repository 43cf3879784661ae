/**
 * Prometheus metrics (issue "Operations" §5), framework-free: the API and the worker both build one `OpsMetrics`.
 *
 * Two kinds of figures, because workers are separate processes:
 *  - deployment state (`stateGauges`): queue depth per job type, the job ledger per type and status, objects per status,
 *    quarantined objects per reason code, the transport's own counts. They live in PostgreSQL and Redis, so any one
 *    process can read them; the API does (at scrape time, cached `stateTtlMs`), workers do not (N workers would
 *    repeat the same queries). Every API replica reports the same numbers: aggregate them with max(), not sum().
 *  - per-process job execution (`jobEvents`): durations, completions, final failures, retries, recoveries, counted
 *    in the process that ran the job (each worker on its own /metrics port; the API in embedded mode or with
 *    API_RUNS_WORKER). Aggregate them with sum() over instances (rate() first for the counters).
 *
 * Labels only ever carry closed vocabularies (job type, job/object status, the InputError reason code, the state of
 * a transport): never an object key, a subject, a file name or an id, so a scrape cannot leak patient data.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { OpsRepository } from '@app/db';
import type { Runtime } from '@app/pipeline';

export const METRIC_PREFIX = 'endpoint_';

/** Every object status (schema.ts ObjectStatus): reported with 0 when absent, so alerts see a series. */
export const OBJECT_STATUSES = ['received', 'ingesting', 'no-processor', 'queued', 'processing', 'processed', 'quarantined', 'failed'] as const;
/** Queue states of an unfinished job (JobQueue.depth()). */
export const QUEUE_STATES = ['waiting', 'delayed', 'active', 'stuck'] as const;
/** Every job ledger status (schema.ts JobStatus). */
export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'enqueue-failed'] as const;

/** What the queue reports about each attempt (libs/queue JobQueue.observe). */
export interface OpsJobEvent {
  type: 'started' | 'completed' | 'failed' | 'retrying' | 'recovered';
  name: string;
  jobId: string;
  attempt: number;
  ms?: number;
  error?: string;
}

export interface OpsMetricsOptions {
  role: 'api' | 'worker';
  /** Deployment state from the database and the queue (the API: true; workers: false). */
  stateGauges: boolean;
  /** Count the jobs this process runs (true wherever a worker runs: the worker, the API in embedded mode). */
  jobEvents: boolean;
  /** Reuse a state snapshot for this long (several Prometheus replicas, several dashboards): default 5 s. */
  stateTtlMs?: number;
  /** Node.js process metrics (CPU, memory, event loop lag, GC): default true. */
  processMetrics?: boolean;
}

/** A reason code as a label: InputError codes are short dotted words; anything else is folded into 'other'. */
export const reasonLabel = (code: string | null): string => (code === null ? 'none' : /^[a-z0-9][a-z0-9._:-]{0,63}$/i.test(code) ? code : 'other');

const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

type Unsubscribe = () => void;
interface ObservableQueue {
  observe?: (listener: (e: OpsJobEvent) => void) => Unsubscribe | { unsubscribe(): void } | void;
  depth?: () => Promise<Record<string, number | Partial<Record<string, number>>>>;
}

export class OpsMetrics {
  readonly registry = new Registry();
  private readonly ops: OpsRepository;
  private readonly ttl: number;
  private snapshot?: { at: number; done: Promise<void> };
  private unsubscribe?: Unsubscribe;

  private readonly queueDepth: Gauge<'job'>;
  private readonly queueJobs: Gauge<'job' | 'state'>;
  private readonly transportJobs: Gauge<'state'>;
  private readonly ledgerJobs: Gauge<'job' | 'status'>;
  private readonly objects: Gauge<'status'>;
  private readonly quarantined: Gauge<'reason_code'>;
  private readonly stateUp: Gauge<'source'>;
  private readonly duration: Histogram<'job' | 'outcome'>;
  private readonly started: Counter<'job'>;
  private readonly completed: Counter<'job'>;
  private readonly failures: Counter<'job'>;
  private readonly retries: Counter<'job'>;
  private readonly recovered: Counter<'job'>;

  constructor(
    private readonly rt: Pick<Runtime, 'db' | 'queue' | 'config'>,
    private readonly opts: OpsMetricsOptions,
  ) {
    this.ops = new OpsRepository(rt.db);
    this.ttl = opts.stateTtlMs ?? 5000;
    const registers = [this.registry];
    this.registry.setDefaultLabels({ role: opts.role });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const p = METRIC_PREFIX;
    this.queueDepth = new Gauge({ name: `${p}queue_depth`, help: 'Queue depth per job type: jobs not yet running (waiting + delayed, incl. backing off before a retry) (deployment-wide)', labelNames: ['job'], registers });
    this.queueJobs = new Gauge({ name: `${p}queue_jobs`, help: 'Unfinished jobs per job type and state: waiting (due), delayed (not yet due, or backing off before a retry), active (running), stuck (its worker died; being recovered) (deployment-wide)', labelNames: ['job', 'state'], registers });
    this.transportJobs = new Gauge({ name: `${p}queue_transport_jobs`, help: "Jobs in the transport per state, as Bull (or the in-process runner) counts them (deployment-wide for Bull)", labelNames: ['state'], registers });
    this.ledgerJobs = new Gauge({ name: `${p}jobs`, help: 'The job ledger (every job ever enqueued) per job type and status (deployment-wide)', labelNames: ['job', 'status'], registers });
    this.objects = new Gauge({ name: `${p}objects`, help: 'Uploaded objects per status (deployment-wide)', labelNames: ['status'], registers });
    this.quarantined = new Gauge({ name: `${p}quarantined_objects`, help: "Quarantined objects per reason code (the InputError code; 'none' = no code recorded)", labelNames: ['reason_code'], registers });
    this.stateUp = new Gauge({ name: `${p}ops_state_up`, help: 'Whether the last read of the deployment state from this source succeeded (1) or not (0)', labelNames: ['source'], registers });
    this.duration = new Histogram({ name: `${p}job_duration_seconds`, help: 'Wall time of each job attempt run by this process, by outcome (completed, failed = last attempt failed, retrying = failed and will be retried)', labelNames: ['job', 'outcome'], buckets: DURATION_BUCKETS, registers });
    this.started = new Counter({ name: `${p}jobs_started_total`, help: 'Job attempts started by this process', labelNames: ['job'], registers });
    this.completed = new Counter({ name: `${p}jobs_completed_total`, help: 'Jobs completed by this process', labelNames: ['job'], registers });
    this.failures = new Counter({ name: `${p}job_failures_total`, help: 'Jobs whose last attempt failed in this process (kept as failed in the ledger)', labelNames: ['job'], registers });
    this.retries = new Counter({ name: `${p}job_retries_total`, help: 'Job attempts that failed in this process and were scheduled for a retry', labelNames: ['job'], registers });
    this.recovered = new Counter({ name: `${p}jobs_recovered_total`, help: 'Jobs this process picked up again after a crashed or stalled attempt', labelNames: ['job'], registers });
    this.zeroFill();
    if (opts.jobEvents) this.subscribe();
  }

  private zeroFill(): void {
    for (const job of this.rt.queue.names()) {
      if (this.opts.jobEvents) for (const c of [this.started, this.completed, this.failures, this.retries, this.recovered]) c.inc({ job }, 0);
    }
  }

  private subscribe(): void {
    const q = this.rt.queue as unknown as ObservableQueue;
    if (typeof q.observe !== 'function') return;
    const r = q.observe((e) => this.onJobEvent(e));
    this.unsubscribe = typeof r === 'function' ? r : r && typeof r.unsubscribe === 'function' ? () => r.unsubscribe() : undefined;
  }

  /** One job event from the queue (public for the queue's observer; the tests drive it through real jobs). */
  onJobEvent(e: OpsJobEvent): void {
    const job = e.name;
    const seconds = typeof e.ms === 'number' && Number.isFinite(e.ms) ? e.ms / 1000 : undefined;
    switch (e.type) {
      case 'started':
        this.started.inc({ job });
        break;
      case 'completed':
        this.completed.inc({ job });
        if (seconds !== undefined) this.duration.observe({ job, outcome: 'completed' }, seconds);
        break;
      case 'retrying':
        this.retries.inc({ job });
        if (seconds !== undefined) this.duration.observe({ job, outcome: 'retrying' }, seconds);
        break;
      case 'failed':
        this.failures.inc({ job });
        if (seconds !== undefined) this.duration.observe({ job, outcome: 'failed' }, seconds);
        break;
      case 'recovered':
        this.recovered.inc({ job });
        break;
    }
  }

  /** Read the deployment state (at most once per stateTtlMs; concurrent scrapes share one read). */
  private refreshState(): Promise<void> {
    const now = Date.now();
    if (this.snapshot && now - this.snapshot.at < this.ttl) return this.snapshot.done;
    const done = this.readState();
    this.snapshot = { at: now, done };
    return done;
  }

  private async readState(): Promise<void> {
    const names = this.rt.queue.names();
    const [db, depth, transport] = await Promise.all([
      Promise.all([this.ops.objectsByStatus(), this.ops.quarantinedByReason(), this.ops.jobsByNameAndStatus()]).then(
        (v) => ({ ok: true as const, v }),
        (e: Error) => ({ ok: false as const, e }),
      ),
      this.queueStatesByJob().then(
        (v) => ({ ok: true as const, v }),
        (e: Error) => ({ ok: false as const, e }),
      ),
      this.rt.queue.driver.counts().then(
        (v) => ({ ok: true as const, v }),
        (e: Error) => ({ ok: false as const, e }),
      ),
    ]);
    this.stateUp.set({ source: 'database' }, db.ok ? 1 : 0);
    this.stateUp.set({ source: 'queue' }, transport.ok ? 1 : 0);
    if (db.ok) {
      const [objects, quarantine, ledger] = db.v;
      this.objects.reset();
      for (const s of new Set([...OBJECT_STATUSES, ...Object.keys(objects)])) this.objects.set({ status: s }, objects[s] ?? 0);
      this.quarantined.reset();
      const byReason = new Map<string, number>();
      for (const q of quarantine) byReason.set(reasonLabel(q.reasonCode), (byReason.get(reasonLabel(q.reasonCode)) ?? 0) + q.n);
      for (const [reason_code, n] of byReason) this.quarantined.set({ reason_code }, n);
      this.ledgerJobs.reset();
      const known = new Set(names);
      for (const job of names) for (const status of JOB_STATUSES) this.ledgerJobs.set({ job, status }, 0);
      for (const r of ledger) this.ledgerJobs.set({ job: known.has(r.name) ? r.name : 'unregistered', status: r.status }, r.n);
    }
    if (depth.ok) {
      this.queueDepth.reset();
      this.queueJobs.reset();
      for (const job of new Set([...names, ...Object.keys(depth.v)])) {
        const st = depth.v[job] ?? {};
        this.queueDepth.set({ job }, (st.waiting ?? 0) + (st.delayed ?? 0));
        for (const state of QUEUE_STATES) this.queueJobs.set({ job, state }, st[state] ?? 0);
      }
    }
    if (transport.ok) {
      this.transportJobs.reset();
      for (const [state, n] of Object.entries(transport.v)) if (typeof n === 'number') this.transportJobs.set({ state }, n);
    }
  }

  /**
   * Jobs per job type and queue state. The queue's own depth() when it has one (from the ledger: waiting = due,
   * delayed = before its time or backing off before a retry, active, stuck = its worker died, being recovered);
   * otherwise the ledger's queued jobs count as waiting.
   */
  private async queueStatesByJob(): Promise<Record<string, Record<string, number>>> {
    const q = this.rt.queue as unknown as ObservableQueue;
    const out: Record<string, Record<string, number>> = {};
    if (typeof q.depth === 'function') {
      for (const [job, v] of Object.entries(await q.depth())) {
        out[job] = {};
        if (typeof v === 'number') out[job].waiting = v;
        else for (const state of QUEUE_STATES) out[job][state] = Number(v[state]) || 0;
      }
      return out;
    }
    for (const r of await this.ops.jobsByNameAndStatus()) {
      const s = r.status === 'queued' ? 'waiting' : r.status === 'running' ? 'active' : undefined;
      if (s) (out[r.name] ??= {})[s] = ((out[r.name] ??= {})[s] ?? 0) + r.n;
    }
    return out;
  }

  /** The text exposition format (and its content type), state refreshed first when this process reports it. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.zeroFill();
    if (this.opts.stateGauges) await this.refreshState();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
