import { ForbiddenException } from '@nestjs/common';
import { type Db, ReviewRepository } from '@app/db';
import type { AuthUser } from '@app/auth';

/**
 * Who may see a subject's images and AI outputs: admin and pipeline every subject; readers and adjudicators only
 * subjects assigned to them (ReviewRepository.isAssigned: an active case, or an adjudication task). A yes is
 * cached for a few seconds per user and subject (a slide viewer asks once per tile); a no is never cached.
 */
export class SubjectAccess {
  private readonly review: ReviewRepository;
  private readonly cache = new Map<string, { ok: boolean; at: number }>();
  constructor(db: Db, private readonly ttlMs = 5000) {
    this.review = new ReviewRepository(db);
  }

  static seesAll(user: AuthUser | undefined): boolean {
    return !!user && (user.roles.includes('admin') || user.roles.includes('pipeline'));
  }

  async may(user: AuthUser | undefined, readingId: string | null | undefined): Promise<boolean> {
    if (!user) return false;
    if (SubjectAccess.seesAll(user)) return true;
    if (!readingId) return false;
    const key = `${user.id}|${readingId}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.ok;
    const ok = await this.review.isAssigned(user.id, readingId);
    // only a yes is cached (a new assignment works at once; a withdrawn one is refused within ttlMs)
    if (ok) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { ok, at: Date.now() });
    } else this.cache.delete(key);
    return ok;
  }

  /**
   * The reading ids a caller may see, for filtering list routes in one query: null = every subject (admin, pipeline);
   * otherwise the subjects of their active cases and adjudication tasks (not cached: lists are not tile bursts).
   */
  async scope(user: AuthUser | undefined): Promise<Set<string> | null> {
    if (SubjectAccess.seesAll(user)) return null;
    if (!user) return new Set();
    return new Set(await this.review.assignedReadingIds(user.id));
  }

  async assert(user: AuthUser | undefined, readingId: string | null | undefined, code = 'review.not-assigned'): Promise<void> {
    if (!(await this.may(user, readingId))) throw new ForbiddenException({ statusCode: 403, code, message: 'this subject is not assigned to you' });
  }
}
