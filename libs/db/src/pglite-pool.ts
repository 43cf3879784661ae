import type { PGlite } from '@electric-sql/pglite';

/**
 * A pg-Pool-shaped adapter over embedded PGlite, so Kysely's own PostgresDialect drives both
 * PostgreSQL and PGlite with the same compiled SQL. PGlite is one connection: `connect()` hands it
 * out exclusively (a FIFO mutex), which also keeps transactions isolated.
 * (kysely-pglite would do this, but it ships ESM with an import-only export map that CommonJS cannot
 * require; this adapter is the 40 lines it would have given us.)
 */
export class PGlitePool {
  private waiters: (() => void)[] = [];
  private held = false;
  constructor(readonly pg: PGlite) {}

  private async acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((r) => this.waiters.push(r));
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }

  async connect() {
    await this.acquire();
    let released = false;
    return {
      query: async (sql: string, params: readonly unknown[]) => {
        const r = await this.pg.query(sql, params as unknown[]);
        return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length, command: r.command ?? sql.trim().split(/\s+/)[0]!.toUpperCase() };
      },
      release: () => {
        if (released) return;
        released = true;
        this.release();
      },
    };
  }

  async end(): Promise<void> {
    await this.pg.close();
  }
}
