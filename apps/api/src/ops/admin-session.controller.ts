import { Body, Controller, Get, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { type AuthService, AuthError, type AuthUser } from '@app/auth';
import type { Runtime } from '@app/pipeline';
import { AUTH_SERVICE } from '../auth/auth.guard';
import { Public } from '../auth/roles';
import { RUNTIME } from '../runtime.provider';
import { cookieToken, DASHBOARD_PATH, LOGIN_PATH, page, SESSION_COOKIE } from './queue-dashboard';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const form = (message?: string) =>
  page(
    'Operations login',
    `${message ? `<p class="msg">${esc(message)}</p>` : ''}<p>The queue dashboard is for administrators.</p><form method="post" action="${LOGIN_PATH}"><label>Username <input name="username" autocomplete="username" required></label><label>Password <input name="password" type="password" autocomplete="current-password" required></label><button type="submit">Log in</button></form>`,
  );

/**
 * A browser session for the queue dashboard: bull-board's page and its XHRs cannot send a bearer header, so
 * POST /admin/login (the same AuthService.login: audited, rate-limited, locking) puts the access token in an HttpOnly,
 * SameSite=Strict cookie scoped to /admin (Secure in production), valid as long as the token (AUTH_TOKEN_TTL_S).
 * Only administrators get the cookie; for anyone else the new session is revoked at once.
 */
@ApiTags('operations')
@Controller('admin')
@Public()
export class AdminSessionController {
  constructor(
    @Inject(AUTH_SERVICE) private readonly auth: AuthService,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  @Get('login')
  @ApiOperation({ summary: 'The operations login form (HTML) for the queue dashboard' })
  loginForm(@Res() res: Response) {
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-frame-options', 'DENY');
    res.status(200).type('html').send(form());
  }

  @Post('login')
  @ApiOperation({ summary: 'Log in to the queue dashboard (admin only): sets an HttpOnly session cookie for /admin and redirects to /admin/queues/' })
  @ApiBody({ schema: { type: 'object', required: ['username', 'password'], properties: { username: { type: 'string' }, password: { type: 'string', format: 'password' } } } })
  async login(@Body() body: { username?: unknown; password?: unknown } | undefined, @Req() req: Request, @Res() res: Response) {
    res.setHeader('cache-control', 'no-store');
    if (typeof body?.username !== 'string' || typeof body?.password !== 'string' || !body.username || !body.password) {
      res.status(400).type('html').send(form('Enter a username and a password.'));
      return;
    }
    let r: { token: string; expiresAt: Date; user: AuthUser };
    try {
      r = await this.auth.login(body.username, body.password, { ip: req.ip });
    } catch (e) {
      if (!(e instanceof AuthError)) throw e;
      if (e.status === 429 && typeof e.details.retryAfterS === 'number') res.setHeader('retry-after', String(e.details.retryAfterS));
      res.status(e.status).type('html').send(form(e.message));
      return;
    }
    if (!r.user.roles.includes('admin')) {
      await this.auth.logout(await this.auth.authenticate(r.token));
      res.status(403).type('html').send(form('The queue dashboard is for the admin role only.'));
      return;
    }
    const maxAge = Math.max(0, Math.floor((r.expiresAt.getTime() - Date.now()) / 1000));
    res.setHeader('set-cookie', `${SESSION_COOKIE}=${encodeURIComponent(r.token)}; Path=/admin; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${this.secure(req) ? '; Secure' : ''}`);
    res.redirect(303, `${DASHBOARD_PATH}/`);
  }

  @Post('logout')
  @ApiOperation({ summary: "End the queue dashboard's cookie session (revokes it) and clear the cookie; a bearer header is ignored (POST /v1/auth/logout ends those)" })
  async logout(@Req() req: Request, @Res() res: Response) {
    const token = cookieToken(req);
    if (token) {
      const user = await this.auth.authenticate(token).catch(() => undefined);
      if (user) await this.auth.logout(user);
    }
    res.setHeader('set-cookie', `${SESSION_COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict${this.secure(req) ? '; Secure' : ''}`);
    res.redirect(303, LOGIN_PATH);
  }

  private secure(req: Request): boolean {
    return this.rt.config.NODE_ENV === 'production' || req.secure || req.headers['x-forwarded-proto'] === 'https';
  }
}
