/**
 * A test pipeline stage for recovery tests: a processor for TIFF objects that writes derived rows (idempotently, like
 * every real processor: ON CONFLICT DO NOTHING on a natural key), records each execution, and — in a child process
 * started with CRASH=hang — stops inside the handler until the test kills the process with SIGKILL.
 */
import { sql } from 'kysely';
import type { PipelineModule } from '@app/pipeline';

/** Every execution of the handler, and its derived rows (created by the test before any worker starts). */
export const TEST_TABLES_SQL = [
  'CREATE TABLE IF NOT EXISTS test_runs (id serial PRIMARY KEY, object_id uuid NOT NULL, pid int NOT NULL, attempt int NOT NULL, finished boolean NOT NULL DEFAULT false)',
  'CREATE TABLE IF NOT EXISTS test_derived (object_id uuid NOT NULL, part int NOT NULL, PRIMARY KEY (object_id, part))',
];

export function crashModule(): PipelineModule {
  return {
    name: 'crash-test',
    processors: (ctx) => [
      {
        name: 'crash-tiff',
        kinds: ['tiff'],
        async process(obj, _c, job) {
          const db = ctx.db;
          const run = await sql<{ id: number }>`INSERT INTO test_runs (object_id, pid, attempt) VALUES (${obj.id}, ${process.pid}, ${job.attempt}) RETURNING id`.execute(db);
          for (const part of [1, 2, 3]) {
            await sql`INSERT INTO test_derived (object_id, part) VALUES (${obj.id}, ${part}) ON CONFLICT DO NOTHING`.execute(db);
            if (part === 2 && process.env.CRASH === 'hang') await new Promise(() => {}); // the test kills this process here
            if (part === 2 && process.env.CRASH === 'self') process.kill(process.pid, 'SIGKILL'); // kill -9 of itself
          }
          await sql`UPDATE test_runs SET finished = true WHERE id = ${run.rows[0]!.id}`.execute(db);
          return { detail: { parts: 3 } };
        },
      },
    ],
  };
}
