import { randomBytes, randomUUID } from 'node:crypto';
import type { AppConfig, Logger } from '@app/core';
import { AuditRepository, type Db, type UserRow, UsersRepository } from '@app/db';
import { AuthError } from './errors';
import { createLoginLimiter, type LoginLimiter } from './limiter';
import { DEFAULT_SCRYPT, hashPassword, type ScryptParams, verifyPassword } from './password';
import { type AuthUser, auditActor, GRANTS, isGrant, isRole, ROLES, type Role } from './roles';
import { signToken, verifyToken } from './token';

export type AuthConfig = Pick<AppConfig, 'AUTH_JWT_SECRET' | 'AUTH_TOKEN_TTL_S' | 'AUTH_MAX_FAILED_LOGINS' | 'AUTH_LOCK_MINUTES' | 'AUTH_LOGIN_RATE_PER_MIN' | 'NODE_ENV'>;

export const toAuthUser = (u: UserRow): AuthUser => ({ id: u.id, username: u.username, displayName: u.display_name, roles: (u.roles ?? []).filter(isRole), grants: u.grants ?? [] });

export interface NewUser {
  username: string;
  displayName?: string;
  password: string;
  roles: string[];
  grants?: string[];
}

export interface LoginResult {
  token: string;
  expiresAt: Date;
  user: AuthUser;
}

const USERNAME = /^[a-z0-9][a-z0-9._-]{1,62}$/;
export const MIN_PASSWORD_LENGTH = 12;

/**
 * Users, logins and tokens. Every login attempt is audited (login.success / login.failure / login.locked /
 * login.rate-limited). Failures lock the account after AUTH_MAX_FAILED_LOGINS for AUTH_LOCK_MINUTES, and each client
 * address may fail at most AUTH_LOGIN_RATE_PER_MIN times a minute before it gets 429: counted by `loginLimiter`, in
 * this process's memory by default; the API passes createLoginLimiter(config), which counts in Redis across its
 * replicas when REDIS_URL is set (limiter.ts).
 */
export class AuthService {
  readonly users: UsersRepository;
  private readonly audit: AuditRepository;
  private secretKey?: Uint8Array;
  /** Where failed logins per address are counted: `store` 'redis' (across the API's replicas) or 'memory' (this process). */
  readonly loginLimiter: LoginLimiter;
  private dummyHash?: Promise<string>;

  constructor(
    db: Db,
    private readonly config: AuthConfig,
    private readonly log?: Pick<Logger, 'warn'>,
    private readonly scrypt: ScryptParams = DEFAULT_SCRYPT,
    loginLimiter?: LoginLimiter,
  ) {
    this.users = new UsersRepository(db);
    this.audit = new AuditRepository(db);
    if (!config.AUTH_JWT_SECRET && config.NODE_ENV === 'production') throw new Error('AUTH_JWT_SECRET is required in production');
    this.loginLimiter = loginLimiter ?? createLoginLimiter({ AUTH_LOGIN_RATE_PER_MIN: config.AUTH_LOGIN_RATE_PER_MIN });
  }

  /** Closes the login limiter's Redis connection, if it has one. */
  close(): Promise<void> {
    return this.loginLimiter.close();
  }

  /** The token key: AUTH_JWT_SECRET, or (outside production) a random per-process key, made and warned about on first use. */
  private get secret(): Uint8Array {
    if (!this.secretKey) {
      if (this.config.AUTH_JWT_SECRET) this.secretKey = new TextEncoder().encode(this.config.AUTH_JWT_SECRET);
      else {
        this.secretKey = randomBytes(32);
        this.log?.warn('AUTH_JWT_SECRET is not set: using a random secret for this process; tokens die with it and other processes cannot verify them. Set AUTH_JWT_SECRET (32+ characters) outside embedded demos.');
      }
    }
    return this.secretKey;
  }

  async createUser(input: NewUser, actor: { actor: string; actorRoles?: string[] }): Promise<AuthUser> {
    const username = String(input.username ?? '').trim().toLowerCase();
    if (!USERNAME.test(username)) throw new AuthError(400, 'user.invalid', 'username: 2-63 lower-case letters, digits, . _ - (starting with a letter or digit)');
    const roles = [...new Set(input.roles ?? [])];
    if (!roles.length || !roles.every(isRole)) throw new AuthError(400, 'user.invalid', `roles: one or more of ${ROLES.join(', ')}`);
    const grants = [...new Set(input.grants ?? [])];
    if (!grants.every(isGrant)) throw new AuthError(400, 'user.invalid', `grants: any of ${GRANTS.join(', ')}`);
    if (grants.includes('unblinding') && !roles.includes('biostatistician')) throw new AuthError(400, 'user.invalid', "the 'unblinding' grant is for biostatisticians only");
    if (typeof input.password !== 'string' || input.password.length < MIN_PASSWORD_LENGTH) throw new AuthError(400, 'user.invalid', `password: at least ${MIN_PASSWORD_LENGTH} characters`);
    if (await this.users.byUsername(username)) throw new AuthError(409, 'user.exists', `user ${username} already exists`);
    const row = await this.users.create({ username, displayName: (input.displayName ?? '').trim() || username, passwordHash: await hashPassword(input.password, this.scrypt), roles, grants });
    const user = toAuthUser(row);
    await this.audit.append({ ...actor, action: 'user.create', entityType: 'user', entityId: user.id, after: { username: user.username, displayName: user.displayName, roles: user.roles, grants: user.grants } });
    return user;
  }

  async login(username: string, password: string, ctx: { ip?: string } = {}): Promise<LoginResult> {
    const name = String(username ?? '').trim().toLowerCase();
    const ip = ctx.ip ?? 'unknown';
    const audit = (action: string, entityId: string, detail: Record<string, unknown>, roles: string[] = []) =>
      this.audit.append({ actor: name || '(empty)', actorRoles: roles, action, entityType: 'user', entityId, detail: { ip, ...detail } });
    const rl = await this.loginLimiter.limiter.get(ip);
    if (rl && rl.consumedPoints >= this.config.AUTH_LOGIN_RATE_PER_MIN) {
      await audit('login.rate-limited', name || '(empty)', {});
      throw new AuthError(429, 'auth.rate-limited', `too many failed logins from this address: try again in ${Math.ceil(rl.msBeforeNext / 1000)} s`, { retryAfterS: Math.ceil(rl.msBeforeNext / 1000) });
    }
    const fail = async (entityId: string, reason: string, roles: string[] = []) => {
      await this.loginLimiter.limiter.penalty(ip, 1);
      await audit('login.failure', entityId, { reason }, roles);
      return new AuthError(401, 'auth.invalid-credentials', 'invalid username or password');
    };
    const row = name ? await this.users.byUsername(name) : undefined;
    if (!row) {
      // same work as a real check, so timing does not reveal which usernames exist
      await verifyPassword(String(password ?? ''), await (this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'), this.scrypt)));
      throw await fail(name || '(empty)', 'unknown-user');
    }
    if (row.locked_until && new Date(row.locked_until).getTime() > Date.now()) {
      await this.loginLimiter.limiter.penalty(ip, 1);
      await audit('login.failure', row.id, { reason: 'locked', lockedUntil: new Date(row.locked_until).toISOString() }, row.roles);
      throw new AuthError(423, 'auth.locked', `account locked after repeated failed logins until ${new Date(row.locked_until).toISOString()}`, { lockedUntil: new Date(row.locked_until).toISOString() });
    }
    const ok = await verifyPassword(String(password ?? ''), row.password_hash);
    if (!ok || row.disabled) {
      if (row.disabled) throw await fail(row.id, 'disabled', row.roles);
      const err = await fail(row.id, 'bad-password', row.roles);
      const f = await this.users.recordFailure(row.id, this.config.AUTH_MAX_FAILED_LOGINS, this.config.AUTH_LOCK_MINUTES);
      if (f.lockedUntil && f.failedLogins === 0) await audit('login.locked', row.id, { lockedUntil: f.lockedUntil.toISOString(), afterFailures: this.config.AUTH_MAX_FAILED_LOGINS }, row.roles);
      throw err;
    }
    const user = toAuthUser(row);
    const jti = randomUUID();
    const { token, expiresAt } = await signToken(this.secret, { sub: user.id, jti, username: user.username }, this.config.AUTH_TOKEN_TTL_S);
    await this.users.recordSuccess(user.id, { id: jti, expiresAt, ip });
    await this.audit.append({ actor: auditActor(user), actorRoles: user.roles, action: 'login.success', entityType: 'user', entityId: user.id, detail: { ip, session: jti, expiresAt: expiresAt.toISOString() } });
    return { token, expiresAt, user };
  }

  /** The user behind a bearer token: valid signature and expiry, a live session, an enabled user. */
  async authenticate(token: string): Promise<AuthUser & { sessionId: string }> {
    const claims = await verifyToken(this.secret, token);
    const row = await this.users.bySession(claims.jti);
    if (!row || row.id !== claims.sub) throw new AuthError(401, 'auth.session-ended', 'this session has ended (logged out, expired or the user was disabled): log in again');
    return { ...toAuthUser(row), sessionId: claims.jti };
  }

  async logout(user: AuthUser & { sessionId?: string }): Promise<void> {
    if (!user.sessionId) return;
    await this.users.revokeSession(user.sessionId);
    await this.audit.append({ actor: auditActor(user), actorRoles: user.roles, action: 'logout', entityType: 'user', entityId: user.id, detail: { session: user.sessionId } });
  }

  /** Re-check a password of an authenticated user (e-signatures re-enter it) without touching sessions; failures count towards the lock. */
  async checkPassword(userId: string, password: string): Promise<boolean> {
    const row = await this.users.byId(userId);
    if (!row || row.disabled) return false;
    if (row.locked_until && new Date(row.locked_until).getTime() > Date.now()) throw new AuthError(423, 'auth.locked', `account locked until ${new Date(row.locked_until).toISOString()}`);
    const ok = await verifyPassword(String(password ?? ''), row.password_hash);
    if (!ok) await this.users.recordFailure(row.id, this.config.AUTH_MAX_FAILED_LOGINS, this.config.AUTH_LOCK_MINUTES);
    return ok;
  }
}

export type { Role };
