import { sql } from 'kysely';
import type { Db } from './database';
import type { UserRow } from './schema';

export type NewUserInput = { username: string; displayName: string; passwordHash: string; roles: string[]; grants?: string[] };

/** Users and sessions (migration 0007_auth). Password hashes never leave libs/auth. */
export class UsersRepository {
  constructor(private readonly db: Db) {}

  async create(u: NewUserInput): Promise<UserRow> {
    return this.db
      .insertInto('users')
      .values({ username: u.username, display_name: u.displayName, password_hash: u.passwordHash, roles: u.roles, grants: u.grants ?? [] })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  byUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  byId(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  list(): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('username').execute();
  }

  /**
   * Count a failed login atomically; at `maxFailures` the account locks for `lockMinutes` and the counter restarts.
   * Returns the new count and the lock (if any).
   */
  async recordFailure(id: string, maxFailures: number, lockMinutes: number): Promise<{ failedLogins: number; lockedUntil: Date | null }> {
    const r = await sql<{ failed_logins: number; locked_until: Date | null }>`
      update users set
        failed_logins = case when failed_logins + 1 >= ${maxFailures} then 0 else failed_logins + 1 end,
        locked_until = case when failed_logins + 1 >= ${maxFailures} then now() + make_interval(mins => ${lockMinutes}) else locked_until end,
        updated_at = now()
      where id = ${id}
      returning failed_logins, locked_until`.execute(this.db);
    const row = r.rows[0]!;
    return { failedLogins: row.failed_logins, lockedUntil: row.locked_until ? new Date(row.locked_until) : null };
  }

  /** A successful login: reset the counter, clear an expired lock, open a session. */
  async recordSuccess(id: string, session: { id: string; expiresAt: Date; ip?: string | null }): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('users').set({ failed_logins: 0, locked_until: null, last_login_at: sql`now()` as never, updated_at: sql`now()` as never }).where('id', '=', id).execute();
      await trx.insertInto('sessions').values({ id: session.id, user_id: id, expires_at: session.expiresAt, ip: session.ip ?? null }).execute();
    });
  }

  /** The user behind a live session (not revoked, not expired, user not disabled), or undefined. */
  async bySession(sessionId: string): Promise<(UserRow & { session_expires_at: Date }) | undefined> {
    return this.db
      .selectFrom('sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .selectAll('u')
      .select('s.expires_at as session_expires_at')
      .where('s.id', '=', sessionId)
      .where('s.revoked_at', 'is', null)
      .where('s.expires_at', '>', sql<Date>`now()`)
      .where('u.disabled', '=', false)
      .executeTakeFirst() as Promise<(UserRow & { session_expires_at: Date }) | undefined>;
  }

  async revokeSession(sessionId: string): Promise<boolean> {
    const r = await this.db.updateTable('sessions').set({ revoked_at: sql`now()` as never }).where('id', '=', sessionId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setDisabled(id: string, disabled: boolean): Promise<void> {
    await this.db.updateTable('users').set({ disabled, updated_at: sql`now()` as never }).where('id', '=', id).execute();
    if (disabled) await this.db.updateTable('sessions').set({ revoked_at: sql`now()` as never }).where('user_id', '=', id).where('revoked_at', 'is', null).execute();
  }

  async setPassword(id: string, passwordHash: string): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: passwordHash, failed_logins: 0, locked_until: null, updated_at: sql`now()` as never }).where('id', '=', id).execute();
  }
}
