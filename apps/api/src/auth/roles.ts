import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';

/**
 * The access contract every route declares (issue 12). A global guard (auth.guard.ts) refuses any route
 * that declares neither `@Roles(...)` nor `@Public()`, so a new route without a declaration cannot ship open.
 */
export const ROLES = ['reader', 'adjudicator', 'biostatistician', 'pipeline', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** The acting user, always from the verified token, never from the request body. */
export interface AuthUser {
  /** users.id */
  id: string;
  username: string;
  /** printed name used in signature manifestations */
  displayName: string;
  roles: Role[];
  /** grants beyond the role, e.g. 'unblinding' for a biostatistician allowed unblinded cuts */
  grants: string[];
}

export const ROLES_KEY = 'auth:roles';
export const PUBLIC_KEY = 'auth:public';
/** The roles allowed on a route (any one suffices). Put it on the handler or on the controller class. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
/** A route anyone may call (health, login, the reader app's static files). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/** Handler parameter: the authenticated user the guard attached to the request. */
export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext): AuthUser | undefined => ctx.switchToHttp().getRequest().user);
