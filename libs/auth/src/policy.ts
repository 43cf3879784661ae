import type { AuthUser, Role } from './roles';

/** What a route declares: public, or the roles of which any one suffices. Nothing declared = refused. */
export interface RoutePolicy {
  public?: boolean;
  roles?: readonly Role[];
}

export type Decision = { allow: true } | { allow: false; status: 401 | 403; code: string; message: string };

/**
 * The access decision for one request, framework-free. Order: an undeclared route is refused to everyone (a new
 * route cannot ship open); a public route is open; otherwise a user is required (401) holding one of the roles (403).
 */
export function decide(policy: RoutePolicy | undefined, user: AuthUser | undefined, route = 'this route'): Decision {
  if (!policy || (!policy.public && !policy.roles?.length))
    return { allow: false, status: 403, code: 'auth.undeclared', message: `${route} declares no access policy (@Roles or @Public) and is refused to everyone` };
  if (policy.public) return { allow: true };
  if (!user) return { allow: false, status: 401, code: 'auth.required', message: 'authentication required: send Authorization: Bearer <token> (POST /v1/auth/login)' };
  if (!policy.roles!.some((r) => user.roles.includes(r)))
    return { allow: false, status: 403, code: 'auth.forbidden', message: `${route} requires one of the roles ${policy.roles!.join(', ')}; you have ${user.roles.join(', ') || 'none'}` };
  return { allow: true };
}

export const hasGrant = (user: AuthUser | undefined, grant: string): boolean => !!user?.grants.includes(grant);

/** Unblinded cuts: a biostatistician holding the 'unblinding' grant, nobody else (admins included). */
export const canSeeUnblinded = (user: AuthUser | undefined): boolean => !!user && user.roles.includes('biostatistician') && hasGrant(user, 'unblinding');
