import { type Kysely, sql } from 'kysely';

/**
 * Job leases (operations: "no job is ever stuck").
 *
 * - `owner`: the worker (host:pid:random) executing the row's current attempt (embedded mode: also the process whose
 *   in-memory queue holds a queued row);
 * - `lease_until`: renewed every few seconds by that worker while it lives; a `running` row whose lease has expired is
 *   stuck (its process died) and is reclaimed: re-run (attempt counted) or failed after its attempts;
 * - `not_before`: a queued row waits until then (delay or retry backoff): the waiting/delayed split of the queue depth;
 * - `transport_id`: the Bull job id of the row's current transport job (reconciliation looks it up);
 * - `started_at`: when the current attempt started; `recoveries`: how many times the row was reclaimed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('jobs')
    .addColumn('owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('not_before', 'timestamptz')
    .addColumn('transport_id', 'text')
    .addColumn('started_at', 'timestamptz')
    .addColumn('recoveries', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Only unfinished rows are ever looked up by lease (stuck detection, heartbeat).
  await sql`CREATE INDEX jobs_lease_idx ON jobs (lease_until) WHERE status IN ('queued', 'running')`.execute(db);
  await sql`CREATE INDEX jobs_owner_idx ON jobs (owner) WHERE status IN ('queued', 'running')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX IF EXISTS jobs_owner_idx`.execute(db);
  await sql`DROP INDEX IF EXISTS jobs_lease_idx`.execute(db);
  for (const c of ['owner', 'lease_until', 'not_before', 'transport_id', 'started_at', 'recoveries']) await db.schema.alterTable('jobs').dropColumn(c).execute();
}
