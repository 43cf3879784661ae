/**
 * Log in to a test API app as a role. The user `test-<role>[-<grants>]` is created once per app (through the app's own
 * AuthService) and logged in through POST /v1/auth/login, so tests exercise the real guard with a real token.
 *
 *   await request(app.getHttpServer()).get('/v1/objects').set('authorization', await authHeader(app, 'admin'))
 */
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import type { AuthService, AuthUser, Role } from '@app/auth';
import { AUTH_SERVICE } from '../../apps/api/src/auth/auth.guard';

export const TEST_PASSWORD = 'correct horse battery staple';

const cache = new WeakMap<INestApplication, Map<string, Promise<{ token: string; user: AuthUser }>>>();

/** A user with these roles/grants (created if missing) and a fresh login for it. */
export async function loginAs(app: INestApplication, roles: Role[], opts: { grants?: string[]; username?: string; displayName?: string } = {}): Promise<{ token: string; user: AuthUser }> {
  const grants = opts.grants ?? [];
  const username = opts.username ?? ['test', ...roles, ...grants].join('-').toLowerCase();
  const auth = app.get<AuthService>(AUTH_SERVICE);
  if (!(await auth.users.byUsername(username))) {
    await auth.createUser({ username, displayName: opts.displayName ?? `Test ${roles.join('/')}`, password: TEST_PASSWORD, roles, grants }, { actor: 'test-setup' }).catch(async (e) => {
      if (!(await auth.users.byUsername(username))) throw e; // lost a race with a parallel call: fine
    });
  }
  const res = await request(app.getHttpServer()).post('/v1/auth/login').send({ username, password: TEST_PASSWORD });
  if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.token as string, user: res.body.user as AuthUser };
}

/** `Bearer <token>` for a user holding `role` (and `grants`), cached per app. */
export async function authHeader(app: INestApplication, role: Role, grants: string[] = []): Promise<string> {
  let m = cache.get(app);
  if (!m) cache.set(app, (m = new Map()));
  const key = [role, ...grants].join('+');
  let p = m.get(key);
  if (!p) {
    p = loginAs(app, [role], { grants });
    m.set(key, p);
    p.catch(() => m!.delete(key));
  }
  return `Bearer ${(await p).token}`;
}
