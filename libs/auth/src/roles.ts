/** The roles of issue 12 §1. A user may hold several. */
export const ROLES = ['reader', 'adjudicator', 'biostatistician', 'pipeline', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Grants beyond a role. 'unblinding': a biostatistician may run and read unblinded cuts. */
export const GRANTS = ['unblinding'] as const;
export type Grant = (typeof GRANTS)[number];

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

export const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);
export const isGrant = (g: string): g is Grant => (GRANTS as readonly string[]).includes(g);

/** The actor recorded in the audit trail for a user (usernames never change). */
export const auditActor = (u: Pick<AuthUser, 'username'>): string => u.username;
