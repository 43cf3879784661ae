import { applyDecorators, createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import { type AuthUser, ROLES, type Role, type RoutePolicy } from '@app/auth';

/**
 * The access contract every route declares (issue 12). A global guard (auth.guard.ts) refuses any route
 * that declares neither `@Roles(...)` nor `@Public()`, so a new route without a declaration cannot ship open.
 * Role and user types live in libs/auth (framework-free) and are re-exported here unchanged.
 */
export { ROLES };
export type { AuthUser, Role };

export const ROLES_KEY = 'auth:roles';
export const PUBLIC_KEY = 'auth:public';
/** OpenAPI extension on every operation: `{ public: true }` or `{ roles: [...] }` (the route x role matrix test reads it). */
export const ACCESS_EXTENSION = 'x-access';
/** The OpenAPI security scheme name (app.ts registers it). */
export const BEARER = 'bearer';

/** The roles allowed on a route (any one suffices). Put it on the handler or on the controller class; the handler's wins. */
export const Roles = (...roles: Role[]) => applyDecorators(SetMetadata(ROLES_KEY, roles), ApiBearerAuth(BEARER), ApiExtension(ACCESS_EXTENSION, { roles }));
/** A route anyone may call (health, login, the reader app's static files, the signed upload webhook). */
export const Public = () => applyDecorators(SetMetadata(PUBLIC_KEY, true), ApiExtension(ACCESS_EXTENSION, { public: true }));

/** Handler parameter: the authenticated user the guard attached to the request. */
export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext): AuthUser | undefined => ctx.switchToHttp().getRequest().user);

/**
 * The policy of a route: the handler's own declaration if it has one, else the controller's. Undefined = undeclared.
 * The guard and the OpenAPI document use this one rule.
 */
export function routePolicy(handler: object, controller: object): RoutePolicy | undefined {
  for (const target of [handler, controller]) {
    const pub = Reflect.getMetadata(PUBLIC_KEY, target) as boolean | undefined;
    const roles = Reflect.getMetadata(ROLES_KEY, target) as Role[] | undefined;
    if (pub) return { public: true };
    if (roles) return { roles };
  }
  return undefined;
}
