import { ForbiddenException, NotFoundException } from '@nestjs/common';
import { type AuthUser, canSeeUnblinded } from '@app/auth';
import type { DataCutRow, EndpointsRepository } from '@app/db';

/** 403 for an unblinded cut (or its report) asked for without the 'unblinding' grant. */
export const unblindingRefused = (what: string) =>
  new ForbiddenException({ statusCode: 403, error: 'Forbidden', code: 'access.unblinding-grant', message: `${what} for biostatisticians holding the 'unblinding' grant` });

/**
 * A cut this user may see: blinded cuts for the route's roles, unblinded ones only with the 'unblinding' grant.
 * `what` names the thing in the refusal ("unblinded cuts are", "the report of an unblinded cut is").
 */
export async function visibleCut(repo: EndpointsRepository, cutId: string, user: AuthUser, what = 'unblinded cuts are'): Promise<DataCutRow> {
  const c = await repo.cutById(cutId);
  if (!c) throw new NotFoundException('no such cut');
  if (!c.blinded && !canSeeUnblinded(user)) throw unblindingRefused(what);
  return c;
}
