/**
 * The route x role matrix (issue 12 §1): every operation in the OpenAPI document declares its access (x-access, set
 * by @Roles/@Public), and for every operation x {anonymous, each role} the guard refuses (401/403) exactly when that
 * declaration says so. A route without a declaration fails the walk; the negative test below proves it on a
 * deliberately undeclared controller. Then the data-level rules: unblinded cuts need the grant, simulate is refused
 * in production, the acting user comes from the token, and a cut's manifest anchors the audit chain.
 */
import { Controller, Get, type INestApplication, Module, Post } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { sql } from 'kysely';
import request from 'supertest';
import { type AuthUser, ROLES, type Role } from '@app/auth';
import { AuditRepository } from '@app/db';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { AUTH_SERVICE, AuthGuard, GUARD_CODES } from '../../apps/api/src/auth/auth.guard';
import { Roles } from '../../apps/api/src/auth/roles';
import { authHeader, loginAs } from '../helpers/auth';
import { quietLog, tempDir, testConfig } from '../support/services';

jest.setTimeout(180000);

type Who = Role | 'anonymous';
type Access = { public?: boolean; roles?: Role[] };
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const PLACEHOLDER = '00000000-0000-4000-8000-000000000000';

/** Fill path parameters with harmless values (a UUID, or 0 for numeric-looking ones): pipes run after the guard. */
const fill = (path: string) => path.replace(/\{([^}]+)\}/g, (_m, name: string) => (/^(index|level|frame|frames|number)$/i.test(name) ? '0' : PLACEHOLDER));

/**
 * Walk every operation of `doc` for every caller; return the problems (empty = the matrix holds).
 * `tokens[role]` is a bearer token of a user holding only that role. Operations whose path matches `last` run after
 * the others (logout revokes the token it is called with).
 */
export async function walkMatrix(app: INestApplication, doc: OpenAPIObject, tokens: Partial<Record<Role, string>>, opts: { last?: RegExp } = {}) {
  const problems: string[] = [];
  const rows: { op: string; access: string; results: Record<string, number> }[] = [];
  const ops: { method: (typeof METHODS)[number]; path: string; access?: Access }[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const method of METHODS) {
      const op = (item as Record<string, Record<string, unknown> | undefined>)[method];
      if (op) ops.push({ method, path, access: op['x-access'] as Access | undefined });
    }
  ops.sort((a, b) => Number(!!opts.last?.test(a.path)) - Number(!!opts.last?.test(b.path)));
  for (const o of ops) {
    const name = `${o.method.toUpperCase()} ${o.path}`;
    if (!o.access || (!o.access.public && !o.access.roles?.length)) {
      problems.push(`${name}: declares no access (@Roles or @Public)`);
    }
    const results: Record<string, number> = {};
    for (const who of ['anonymous', ...ROLES] as Who[]) {
      let req = request(app.getHttpServer())[o.method](fill(o.path));
      if (who !== 'anonymous') req = req.set('authorization', `Bearer ${tokens[who]}`);
      const res = o.method === 'get' || o.method === 'delete' ? await req : await req.send({});
      results[who] = res.status;
      const code = (res.body as { code?: string } | undefined)?.code;
      const guardRefused = (res.status === 401 || res.status === 403) && (GUARD_CODES as readonly string[]).includes(code ?? '');
      let expected: 'pass' | 401 | 403;
      if (!o.access || (!o.access.public && !o.access.roles?.length)) expected = 403;
      else if (o.access.public) expected = 'pass';
      else if (who === 'anonymous') expected = 401;
      else expected = o.access.roles!.includes(who) ? 'pass' : 403;
      if (expected === 'pass') {
        // a public route may still authenticate itself (the webhook's signature: its own 401, not the guard's)
        if (guardRefused || (res.status === 401 && !o.access?.public)) problems.push(`${name} as ${who}: expected to pass the guard, got ${res.status} ${code ?? ''} ${JSON.stringify(res.body).slice(0, 160)}`);
      } else if (res.status !== expected || !guardRefused) problems.push(`${name} as ${who}: expected the guard's ${expected}, got ${res.status} ${code ?? ''}`);
    }
    rows.push({ op: name, access: o.access?.public ? 'public' : (o.access?.roles ?? ['UNDECLARED']).join(','), results });
  }
  return { problems, rows, operations: ops.length };
}

describe('the API', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let rt: Runtime;
  let app: INestApplication;
  const tokens: Partial<Record<Role, string>> = {};
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    dir = await tempDir();
    rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path, AUTH_JWT_SECRET: 'matrix-test-secret-0123456789abcdef-xyz' }), log: quietLog(), pgliteDir: ':memory:' });
    app = await createApiApp(rt);
    await app.init();
    for (const r of ROLES) tokens[r] = (await loginAs(app, [r])).token;
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await dir?.remove();
  });

  it('every route x role: 401/403 exactly when the declared policy says so', async () => {
    const doc = (await http().get('/docs-json').expect(200)).body as OpenAPIObject;
    expect(doc.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // every route Express knows (Nest's, not the docs UI) is in the document: none escapes the walk
    const router = (app.getHttpAdapter().getInstance() as { router?: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] }; _router?: { stack: { route?: { path: string } }[] } }).router ?? (app.getHttpAdapter().getInstance() as { _router: { stack: { route?: { path: string } }[] } })._router;
    const routes = router.stack.filter((l) => l.route && !String(l.route.path).startsWith('/docs')).map((l) => String(l.route!.path).replace(/:([A-Za-z0-9_]+)/g, '{$1}'));
    const documented = new Set(Object.keys(doc.paths));
    expect(routes.filter((r) => !documented.has(r))).toEqual([]);

    const m = await walkMatrix(app, doc, tokens, { last: /\/auth\/logout$/ });
    expect(m.operations).toBeGreaterThan(30);
    expect(m.problems).toEqual([]);
    // spot checks of the declared policy itself (the table)
    const acc = (p: string, method = 'get') => (doc.paths[p] as Record<string, { 'x-access'?: Access }>)[method]!['x-access'];
    expect(acc('/v1/objects')).toEqual({ roles: ['admin', 'pipeline'] });
    expect(acc('/v1/jobs')).toEqual({ roles: ['admin', 'pipeline'] });
    expect(acc('/v1/admin/pseudonyms')).toEqual({ roles: ['admin'] });
    expect(acc('/v1/trials/{studyId}/simulate', 'post')).toEqual({ roles: ['admin'] });
    expect(acc('/v1/events/s3', 'post')).toEqual({ public: true });
    expect(acc('/v1/audit/verify')).toEqual({ roles: ['admin'] });
    // operations: probes and Prometheus cannot log in (metrics has its own METRICS_TOKEN; /admin/queues is tests/ops)
    for (const p of ['/health/live', '/health/ready', '/metrics', '/admin/login']) expect([p, acc(p)]).toEqual([p, { public: true }]);
    expect(acc('/v1/cuts', 'post')?.roles).not.toContain('reader');
    expect((doc.paths['/v1/objects'] as Record<string, { security?: unknown }>).get!.security).toEqual([{ bearer: [] }]);
  });

  it("unblinded cuts need a biostatistician with the 'unblinding' grant; the acting user comes from the token", async () => {
    await http().post('/v1/trials/MX-1/simulate').set('authorization', await authHeader(app, 'admin')).send({ subjects: 6, visits: 4, seed: 3 }).expect(201);
    const body = { studyId: 'MX-1', cutoffDate: '2026-01-01', blinded: false, requestedBy: 'mallory' };
    for (const who of [await authHeader(app, 'admin'), await authHeader(app, 'biostatistician')]) {
      const r = await http().post('/v1/cuts').set('authorization', who).send(body).expect(403);
      expect(r.body.code).toBe('access.unblinding-grant');
    }
    const unb = await authHeader(app, 'biostatistician', ['unblinding']);
    const cut = await http().post('/v1/cuts').set('authorization', unb).send(body).expect(201);
    expect(cut.body).toMatchObject({ blinded: false, createdBy: 'test-biostatistician-unblinding' });
    // listed, readable and downloadable only with the grant
    const plain = await authHeader(app, 'biostatistician');
    expect((await http().get('/v1/cuts').set('authorization', plain).expect(200)).body.items.map((c: { cutId: string }) => c.cutId)).not.toContain(cut.body.cutId);
    expect((await http().get('/v1/cuts').set('authorization', unb).expect(200)).body.items.map((c: { cutId: string }) => c.cutId)).toContain(cut.body.cutId);
    await http().get(`/v1/cuts/${cut.body.cutId}`).set('authorization', plain).expect(403);
    await http().get(`/v1/cuts/${cut.body.cutId}/files/manifest.json`).set('authorization', await authHeader(app, 'admin')).expect(403);
    await http().get(`/v1/cuts/${cut.body.cutId}/verify`).set('authorization', unb).expect(200);
    const blinded = await http().post('/v1/cuts').set('authorization', plain).send({ ...body, blinded: true }).expect(201);
    expect(blinded.body.createdBy).toBe('test-biostatistician');
    const ev = await new AuditRepository(rt.db).list({ action: 'cut.created', entityId: cut.body.cutId });
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ actor: 'test-biostatistician-unblinding', actorRoles: ['biostatistician'] });
    expect(JSON.stringify(await rt.db.selectFrom('data_cuts').select('created_by').execute())).not.toContain('mallory');
  });

  it("a cut's manifest anchors the audit chain; GET /v1/audit/verify names the first bad entry after tampering", async () => {
    const admin = await authHeader(app, 'admin');
    const bio = await authHeader(app, 'biostatistician');
    const r = await http().post('/v1/cuts').set('authorization', bio).send({ studyId: 'MX-1', cutoffDate: '2026-02-01', blinded: true }).expect(201);
    const manifest = (await http().get(`/v1/cuts/${r.body.cutId}/files/manifest.json`).set('authorization', bio).expect(200)).body as { auditHead: { seq: string; hash: string } };
    const audit = new AuditRepository(rt.db);
    const created = (await audit.list({ action: 'cut.created', entityId: r.body.cutId }))[0]!;
    // the anchored head is the entry right before cut.created, which records the manifest hash
    expect(created.prevHash).toBe(manifest.auditHead.hash);
    expect(created.after).toMatchObject({ manifestSha256: r.body.manifestSha256 });
    // the same request again: the same cut, its first manifest (and anchor) kept
    const again = await http().post('/v1/cuts').set('authorization', bio).send({ studyId: 'MX-1', cutoffDate: '2026-02-01', blinded: true }).expect(201);
    expect(again.body).toMatchObject({ created: false, cutId: r.body.cutId, manifestSha256: r.body.manifestSha256 });

    const ok = (await http().get('/v1/audit/verify').set('authorization', admin).expect(200)).body;
    expect(ok).toMatchObject({ ok: true });
    expect(BigInt(ok.head.seq)).toBeGreaterThan(BigInt(manifest.auditHead.seq));
    await http().get('/v1/audit/verify').set('authorization', bio).expect(403);
    // tamper with the anchored entry directly in SQL, triggers off (PGlite's superuser)
    await sql`set session_replication_role = replica`.execute(rt.db);
    await sql`update audit_log set actor = 'mallory' where seq = ${manifest.auditHead.seq}`.execute(rt.db);
    await sql`set session_replication_role = origin`.execute(rt.db);
    const bad = (await http().get('/v1/audit/verify').set('authorization', admin).expect(200)).body;
    expect(bad).toMatchObject({ ok: false, firstBad: { seq: manifest.auditHead.seq, problem: 'altered' } });
  });

  it('simulate is refused in production, even to an admin', async () => {
    const prodDir = await tempDir();
    const prod = await createRuntime({
      config: testConfig({ NODE_ENV: 'production', DATA_DIR: prodDir.path, DEID_SECRET: 'prod-deid-secret-0123456789', AUTH_JWT_SECRET: 'prod-jwt-secret-0123456789abcdef-0123456' }),
      log: quietLog(),
      pgliteDir: ':memory:',
    });
    const prodApp = await createApiApp(prod);
    await prodApp.init();
    try {
      const r = await request(prodApp.getHttpServer()).post('/v1/trials/MX-2/simulate').set('authorization', await authHeader(prodApp, 'admin')).send({ subjects: 2 }).expect(403);
      expect(r.body).toMatchObject({ code: 'access.production' });
      expect(await prod.db.selectFrom('study_inputs').select('id').execute()).toEqual([]);
    } finally {
      await prodApp.close();
      await prod.close();
      await prodDir.remove();
    }
  });
});

// --- negative: a route with no declaration is refused by the guard, and the matrix walk reports it ---------------
@Controller('neg')
class UndeclaredController {
  @Get('open')
  open() {
    return { leaked: true };
  }
}
@Controller('neg2')
@Roles('admin')
class DeclaredController {
  @Post('x')
  x() {
    return { ok: true };
  }
}
const fakeUsers: Record<string, AuthUser> = Object.fromEntries(ROLES.map((r) => [`tok-${r}`, { id: r, username: r, displayName: r, roles: [r], grants: [] }]));
@Module({
  controllers: [UndeclaredController, DeclaredController],
  providers: [
    { provide: AUTH_SERVICE, useValue: { authenticate: async (t: string) => fakeUsers[t] ?? Promise.reject(new Error('bad token')) } },
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
})
class NegativeModule {}

describe('the guard, on a deliberately undeclared route', () => {
  it('refuses it to everyone with 403 auth.undeclared, and the matrix walk fails on it', async () => {
    const app = await NestFactory.create(NegativeModule, { logger: false });
    await app.init();
    try {
      for (const auth of [undefined, 'Bearer tok-admin', 'Bearer tok-reader']) {
        let req = request(app.getHttpServer()).get('/neg/open');
        if (auth) req = req.set('authorization', auth);
        const r = await req.expect(403);
        expect(r.body).toMatchObject({ code: 'auth.undeclared', message: expect.stringMatching(/declares no access policy/) });
        expect(JSON.stringify(r.body)).not.toContain('leaked');
      }
      await request(app.getHttpServer()).post('/neg2/x').set('authorization', 'Bearer tok-admin').expect(201);
      await request(app.getHttpServer()).post('/neg2/x').set('authorization', 'Bearer tok-reader').expect(403);
      const doc = SwaggerModule.createDocument(app, new DocumentBuilder().build());
      const m = await walkMatrix(app, doc, Object.fromEntries(ROLES.map((r) => [r, `tok-${r}`])));
      expect(m.problems).toEqual(['GET /neg/open: declares no access (@Roles or @Public)']);
    } finally {
      await app.close();
    }
  });
});
