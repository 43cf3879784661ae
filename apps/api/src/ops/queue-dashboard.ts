/**
 * The queue dashboard (bull-board) at /admin/queues, for the admin role only (issue "Operations" §5).
 *
 * bull-board is Express middleware outside Nest's router, so the global guard does not see it: `dashboardAuth`
 * applies the same rule itself: a valid session token (Authorization: Bearer, or the HttpOnly cookie set by
 * POST /admin/login so that a browser can open the dashboard) of a user holding 'admin'; 401 without one, 403 for any
 * other role. The board is read-only: retrying or removing jobs in Redis behind the job ledger's back would desync it
 * (ledger-aware retry: POST /v1/jobs/:id/retry or `cli retry`). With the in-process runner there is no Bull queue to
 * show: admins get a page saying so.
 */
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { type AuthService, AuthError, type AuthUser } from '@app/auth';
import type { Runtime } from '@app/pipeline';
import { BullDriver } from '@app/queue';
import { AUTH_SERVICE } from '../auth/auth.guard';
import { RUNTIME } from '../runtime.provider';

export const DASHBOARD_PATH = '/admin/queues';
export const LOGIN_PATH = '/admin/login';
/** The dashboard's session cookie: the access token itself, HttpOnly, SameSite=Strict, only sent under /admin. */
export const SESSION_COOKIE = 'es_admin_session';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const page = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><meta name="viewport" content="width=device-width"><style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.6rem 0}input{font:inherit;padding:.3rem;width:100%}button{font:inherit;padding:.4rem 1rem}.msg{color:#a00}</style></head><body><h1>${esc(title)}</h1>${body}</body></html>`;

/** The token a request carries: the Authorization header first, else the dashboard cookie. */
export function requestToken(req: Request): string | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string' && /^Bearer\s+\S/i.test(h)) return h.replace(/^Bearer\s+/i, '').trim();
  return cookieToken(req);
}

/** The dashboard cookie's token, if any. */
export function cookieToken(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) return decodeURIComponent(part.slice(i + 1).trim()) || undefined;
  }
  return undefined;
}

const wantsHtml = (req: Request) => /text\/html/.test(String(req.headers.accept ?? ''));

function refuse(req: Request, res: Response, status: 401 | 403, code: string, message: string) {
  res.setHeader('cache-control', 'no-store');
  if (wantsHtml(req)) {
    const link = status === 401 ? `<p><a href="${LOGIN_PATH}">Log in as an administrator</a></p>` : `<p>Log in with an administrator account: <a href="${LOGIN_PATH}">log in</a>.</p>`;
    res.status(status).type('html').send(page(status === 401 ? 'Login required' : 'Administrators only', `<p class="msg">${esc(message)}</p>${link}`));
  } else res.status(status).json({ statusCode: status, error: status === 401 ? 'Unauthorized' : 'Forbidden', code, message });
}

/** The admin-only gate in front of the dashboard (same session rules as the API guard). */
export function dashboardAuth(auth: Pick<AuthService, 'authenticate'>) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const token = requestToken(req);
      if (!token) return refuse(req, res, 401, 'auth.required', 'the queue dashboard needs an administrator session');
      let user: AuthUser;
      try {
        user = await auth.authenticate(token);
      } catch (e) {
        if (e instanceof AuthError) return refuse(req, res, 401, e.code, e.message);
        throw e;
      }
      if (!user.roles.includes('admin')) return refuse(req, res, 403, 'auth.forbidden', 'the queue dashboard is for the admin role only');
      (req as Request & { user?: AuthUser }).user = user;
      next();
    } catch (e) {
      next(e);
    }
  };
}

/** Mounts the dashboard on the API's Express instance (before Nest's 404 handler, which init() adds after module init). */
@Injectable()
export class QueueDashboard implements OnModuleInit {
  constructor(
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(AUTH_SERVICE) private readonly auth: AuthService,
    private readonly host: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const app = this.host.httpAdapter.getInstance();
    const driver = this.rt.queue.driver;
    if (driver instanceof BullDriver) {
      const server = new ExpressAdapter();
      server.setBasePath(DASHBOARD_PATH);
      createBullBoard({
        // the main queue and one per heavy job type's lane (<QUEUE_NAME>.<type>)
        queues: driver.queues().map((q, i) => new BullAdapter(q, { readOnlyMode: true, description: i === 0 ? 'pipeline jobs (read-only: retry through the job ledger)' : 'heavy job lane (read-only)' })),
        serverAdapter: server,
        options: { uiConfig: { boardTitle: 'Endpoint service' } },
      });
      app.use(DASHBOARD_PATH, dashboardAuth(this.auth), (req: Request, res: Response, next: NextFunction) => {
        res.setHeader('cache-control', 'no-store');
        res.setHeader('x-frame-options', 'DENY');
        next();
      }, server.getRouter());
    } else {
      app.use(DASHBOARD_PATH, dashboardAuth(this.auth), (_req: Request, res: Response) => {
        res
          .status(200)
          .type('html')
          .send(
            page(
              'Queue dashboard',
              `<p>This deployment runs its jobs in-process (no <code>REDIS_URL</code>), so there is no Bull queue to show.</p><p>Jobs and their outcome: <code>GET /v1/jobs</code> (admin, pipeline) or <code>cli jobs</code>; counts: <code>GET /metrics</code>. Set <code>REDIS_URL</code> to run Bull and this dashboard.</p>`,
            ),
          );
      });
    }
  }
}
