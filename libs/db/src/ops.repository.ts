import type { Db } from './database';

/**
 * Read-only counts for operations (Prometheus gauges, issue "Operations" §5). Every answer is a count keyed by a
 * closed vocabulary (object status, job type, job status, quarantine reason code): never a key, a name or an id, so
 * nothing a metric carries can identify a patient or an upload.
 */
export class OpsRepository {
  constructor(private readonly db: Db) {}

  /** Objects per status (objects_status_idx). */
  async objectsByStatus(): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('objects').select(['status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('status').execute();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Quarantined objects per reason code (the InputError code; null = no code recorded). */
  async quarantinedByReason(): Promise<{ reasonCode: string | null; n: number }[]> {
    const rows = await this.db
      .selectFrom('objects')
      .select(['reason_code', (eb) => eb.fn.countAll<string>().as('n')])
      .where('status', '=', 'quarantined')
      .groupBy('reason_code')
      .execute();
    return rows.map((r) => ({ reasonCode: r.reason_code, n: Number(r.n) }));
  }

  /** The job ledger per job type and status (queued = waiting or backing off before a retry). */
  async jobsByNameAndStatus(): Promise<{ name: string; status: string; n: number }[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['name', 'status', (eb) => eb.fn.countAll<string>().as('n')])
      .groupBy(['name', 'status'])
      .execute();
    return rows.map((r) => ({ name: r.name, status: r.status, n: Number(r.n) }));
  }
}
