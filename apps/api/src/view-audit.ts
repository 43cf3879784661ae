import { AuditRepository, type Db } from '@app/db';
import { auditActor, type AuthUser } from '@app/auth';
import { SubjectAccess } from './subject-access';

/**
 * Audits a reader or adjudicator opening blinded data outside the review API (issue 12 §7 "every case view"):
 * `subject.view` (imaging index), `images.view` (DICOMweb metadata), `slide.view`, `ai.slide-metrics.shown`.
 * Admin and pipeline reads are not audited here (they are operations, not reads).
 *
 * One entry per (user, action, entity) within `windowMs` (default 60 s) per API process: a viewer that asks for the
 * same slide descriptor or series metadata again while scrolling writes one entry, not one per request. The entry is
 * written before the data is sent (a failed audit write fails the request).
 */
export class ViewAudit {
  private readonly audit: AuditRepository;
  private readonly recent = new Map<string, number>();
  constructor(db: Db, private readonly windowMs = 60_000) {
    this.audit = new AuditRepository(db);
  }

  async record(user: AuthUser | undefined, action: string, entityType: string, entityId: string, detail: Record<string, unknown> = {}): Promise<void> {
    if (!user || SubjectAccess.seesAll(user)) return;
    const key = `${user.id}|${action}|${entityType}|${entityId}`;
    const now = Date.now();
    const at = this.recent.get(key);
    if (at !== undefined && now - at < this.windowMs) return;
    await this.audit.append({ actor: auditActor(user), actorRoles: user.roles, action, entityType, entityId, detail });
    if (this.recent.size > 50_000) this.recent.clear();
    this.recent.set(key, now);
  }
}
