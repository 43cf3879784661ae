/**
 * Identity on the real API (PGlite): login gives a short-lived JWT, /me reads it, logout and disabling revoke it,
 * an expired or forged token is refused with a clear code, failed logins lock the account and are rate-limited per
 * address, admins create users, and every attempt lands in the audit trail.
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { signToken, verifyPassword, hashPassword } from '@app/auth';
import { AuditRepository } from '@app/db';
import { loadConfig } from '@app/core';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader, loginAs, TEST_PASSWORD } from '../helpers/auth';
import { quietLog, tempDir, testConfig } from '../support/services';

const SECRET = 'test-jwt-secret-0123456789abcdef-0123456789';
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;
let app: INestApplication;
const http = () => request(app.getHttpServer());

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, AUTH_JWT_SECRET: SECRET, AUTH_MAX_FAILED_LOGINS: '3', AUTH_LOCK_MINUTES: '1', AUTH_LOGIN_RATE_PER_MIN: '8' }), log: quietLog(), pgliteDir: ':memory:' });
  app = await createApiApp(rt);
  await app.init();
});
afterAll(async () => {
  await app?.close();
  await rt?.close();
  await dir?.remove();
});

test('scrypt hashes verify only the right password and never store it', async () => {
  const h = await hashPassword('s3cret-password!');
  expect(h).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  expect(h).not.toContain('s3cret');
  expect(await verifyPassword('s3cret-password!', h)).toBe(true);
  expect(await verifyPassword('s3cret-password?', h)).toBe(false);
  expect(await hashPassword('s3cret-password!')).not.toBe(h); // salted
  expect(await verifyPassword('x', 'not-a-hash')).toBe(false);
});

test('login -> token -> /me; the token is a short-lived HS256 JWT; logout revokes it', async () => {
  const admin = await authHeader(app, 'admin');
  const me = await http().get('/v1/auth/me').set('authorization', admin).expect(200);
  expect(me.body).toMatchObject({ username: 'test-admin', roles: ['admin'], grants: [] });
  const { token } = await loginAs(app, ['reader']);
  const [h, p] = token.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url').toString()));
  expect(h.alg).toBe('HS256');
  expect(p.exp - p.iat).toBe(900); // AUTH_TOKEN_TTL_S default
  expect(p.sub).toBe((await http().get('/v1/auth/me').set('authorization', `Bearer ${token}`).expect(200)).body.id);
  await http().post('/v1/auth/logout').set('authorization', `Bearer ${token}`).expect(200);
  const after = await http().get('/v1/auth/me').set('authorization', `Bearer ${token}`).expect(401);
  expect(after.body.code).toBe('auth.session-ended');
});

test('no token, a forged one and an expired one are refused with clear codes', async () => {
  expect((await http().get('/v1/auth/me').expect(401)).body).toMatchObject({ code: 'auth.required', message: expect.stringMatching(/Bearer/) });
  const { token, user } = await loginAs(app, ['reader']);
  const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  expect((await http().get('/v1/auth/me').set('authorization', `Bearer ${forged}`).expect(401)).body.code).toBe('auth.token-invalid');
  const otherKey = await signToken(new TextEncoder().encode('another-secret-0123456789abcdef-012345'), { sub: user.id, jti: 'x', username: user.username }, 900);
  expect((await http().get('/v1/auth/me').set('authorization', `Bearer ${otherKey.token}`).expect(401)).body.code).toBe('auth.token-invalid');
  const old = await signToken(new TextEncoder().encode(SECRET), { sub: user.id, jti: 'x', username: user.username }, 60, new Date(Date.now() - 3600_000));
  const r = await http().get('/v1/auth/me').set('authorization', `Bearer ${old.token}`).expect(401);
  expect(r.body).toMatchObject({ code: 'auth.token-expired', message: expect.stringMatching(/expired/) });
  // a validly signed token without a session (never issued by login) is refused too
  const unissued = await signToken(new TextEncoder().encode(SECRET), { sub: user.id, jti: 'never-issued', username: user.username }, 60);
  expect((await http().get('/v1/auth/me').set('authorization', `Bearer ${unissued.token}`).expect(401)).body.code).toBe('auth.session-ended');
});

test('admins create users (audited); others may not; bad input is refused', async () => {
  const admin = await authHeader(app, 'admin');
  const created = await http().post('/v1/users').set('authorization', admin).send({ username: 'Bio.Stat', displayName: 'Dr B. Stat', password: 'long-enough-password', roles: ['biostatistician'], grants: ['unblinding'] }).expect(201);
  expect(created.body).toMatchObject({ username: 'bio.stat', displayName: 'Dr B. Stat', roles: ['biostatistician'], grants: ['unblinding'] });
  expect(created.body).not.toHaveProperty('passwordHash');
  await http().post('/v1/users').set('authorization', admin).send({ username: 'bio.stat', password: 'long-enough-password', roles: ['reader'] }).expect(409);
  await http().post('/v1/users').set('authorization', admin).send({ username: 'x2', password: 'short', roles: ['reader'] }).expect(400);
  await http().post('/v1/users').set('authorization', admin).send({ username: 'x3', password: 'long-enough-password', roles: ['superuser'] }).expect(400);
  await http().post('/v1/users').set('authorization', admin).send({ username: 'x4', password: 'long-enough-password', roles: ['reader'], grants: ['unblinding'] }).expect(400);
  await http().post('/v1/users').set('authorization', await authHeader(app, 'reader')).send({ username: 'x5', password: 'long-enough-password', roles: ['admin'] }).expect(403);
  const audit = await new AuditRepository(rt.db).list({ action: 'user.create', entityId: created.body.id });
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({ actor: 'test-admin', actorRoles: ['admin'], after: { username: 'bio.stat', roles: ['biostatistician'], grants: ['unblinding'] } });
  expect(JSON.stringify(audit[0])).not.toMatch(/long-enough-password|scrypt/);
  const list = await http().get('/v1/users').set('authorization', admin).expect(200);
  expect(JSON.stringify(list.body)).not.toMatch(/scrypt|password/i);
});

test('failed logins lock the account (423) and every attempt is audited; then per-address rate limiting answers 429', async () => {
  await loginAs(app, ['adjudicator'], { username: 'lock.me' });
  for (let i = 0; i < 3; i++) {
    const r = await http().post('/v1/auth/login').send({ username: 'lock.me', password: 'wrong password!!' }).expect(401);
    expect(r.body).toMatchObject({ code: 'auth.invalid-credentials', message: 'invalid username or password' });
  }
  const locked = await http().post('/v1/auth/login').send({ username: 'lock.me', password: TEST_PASSWORD }).expect(423);
  expect(locked.body.code).toBe('auth.locked');
  expect(Date.parse(locked.body.lockedUntil) - Date.now()).toBeGreaterThan(50_000);
  // an unknown user gets the same answer as a wrong password
  const unknown = await http().post('/v1/auth/login').send({ username: 'nobody', password: 'whatever-password' }).expect(401);
  expect(unknown.body.message).toBe('invalid username or password');
  const audit = new AuditRepository(rt.db);
  const user = (await rt.db.selectFrom('users').select('id').where('username', '=', 'lock.me').executeTakeFirstOrThrow()).id;
  const events = (await audit.list({ entityId: user, limit: 20 })).reverse().map((e) => [e.action, (e.detail as { reason?: string })?.reason ?? null]);
  expect(events).toEqual([
    ['user.create', null],
    ['login.success', null],
    ['login.failure', 'bad-password'],
    ['login.failure', 'bad-password'],
    ['login.failure', 'bad-password'],
    ['login.locked', null],
    ['login.failure', 'locked'],
  ]);
  expect((await audit.list({ entityId: 'nobody' }))[0]).toMatchObject({ action: 'login.failure', detail: { reason: 'unknown-user' } });
  // 5 failures from this address so far (limit 8 a minute): three more, then 429 even for a right password
  for (let i = 0; i < 3; i++) await http().post('/v1/auth/login').send({ username: 'nobody', password: 'whatever-password' }).expect(401);
  const limited = await http().post('/v1/auth/login').send({ username: 'test-admin', password: TEST_PASSWORD }).expect(429);
  expect(limited.body.code).toBe('auth.rate-limited');
  expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  expect((await audit.list({ action: 'login.rate-limited' })).length).toBe(1);
  expect((await audit.verify()).ok).toBe(true);
});

test('AUTH_JWT_SECRET is required in production and must be long enough', () => {
  const prod = { NODE_ENV: 'production', WEBHOOK_SECRET: 'w'.repeat(20), DEID_SECRET: 'd'.repeat(20) };
  expect(() => loadConfig(prod)).toThrow(/AUTH_JWT_SECRET: is required in production/);
  expect(() => loadConfig({ ...prod, AUTH_JWT_SECRET: 'too-short' })).toThrow(/AUTH_JWT_SECRET: must be at least 32 characters/);
  expect(loadConfig({ ...prod, AUTH_JWT_SECRET: 's'.repeat(32) }).AUTH_TOKEN_TTL_S).toBe(900);
});
