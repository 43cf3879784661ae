import { type ArgumentsHost, Catch, type CanActivate, type ExceptionFilter, type ExecutionContext, HttpException, Inject, Injectable } from '@nestjs/common';
import { type AuthService, AuthError, decide } from '@app/auth';
import { routePolicy } from './roles';

export const AUTH_SERVICE = Symbol('AUTH_SERVICE');

/** Codes the guard answers with (the route x role matrix test tells guard refusals from handler answers by them). */
export const GUARD_CODES = ['auth.required', 'auth.forbidden', 'auth.undeclared', 'auth.token-expired', 'auth.token-invalid', 'auth.session-ended'] as const;

export const authHttpError = (e: AuthError) =>
  new HttpException({ statusCode: e.status, error: e.status === 401 ? 'Unauthorized' : e.status === 403 ? 'Forbidden' : e.status === 423 ? 'Locked' : e.status === 429 ? 'Too Many Requests' : 'Bad Request', code: e.code, message: e.message, ...e.details }, e.status);

/**
 * The global guard (APP_GUARD): every route must declare @Public() or @Roles(...). For a non-public route it reads
 * `Authorization: Bearer <jwt>`, verifies it, loads the user and its live session from the database, attaches
 * `req.user`, and answers 401 (no or bad token) or 403 (wrong role, or no declaration) as JSON with a code.
 * A public route ignores the header (the upload webhook uses its own Bearer secret).
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(@Inject(AUTH_SERVICE) private readonly auth: AuthService) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return false;
    const req = ctx.switchToHttp().getRequest();
    const route = `${req.method} ${req.route?.path ?? req.path}`;
    const policy = routePolicy(ctx.getHandler(), ctx.getClass());
    if (!policy || policy.public) {
      const d = decide(policy, undefined, route);
      if (!d.allow) throw authHttpError(new AuthError(d.status, d.code, d.message));
      return true;
    }
    const h = req.headers?.authorization;
    let user;
    if (typeof h === 'string' && /^Bearer\s+\S/i.test(h)) {
      try {
        user = await this.auth.authenticate(h.replace(/^Bearer\s+/i, '').trim());
      } catch (e) {
        if (e instanceof AuthError) throw authHttpError(e);
        throw e;
      }
    }
    const d = decide(policy, user, route);
    if (!d.allow) throw authHttpError(new AuthError(d.status, d.code, d.message));
    req.user = user;
    return true;
  }
}

/** AuthError thrown anywhere in a handler becomes its JSON answer (status, code, message, details). */
@Catch(AuthError)
export class AuthErrorFilter implements ExceptionFilter {
  catch(e: AuthError, host: ArgumentsHost) {
    const res = host.switchToHttp().getResponse();
    const body = authHttpError(e).getResponse();
    if (e.status === 429 && typeof e.details.retryAfterS === 'number') res.setHeader('retry-after', String(e.details.retryAfterS));
    res.status(e.status).json(body);
  }
}
