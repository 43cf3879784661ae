import { createHash } from 'node:crypto';
import { canonicalJson } from '@app/audit';

/** The meaning every read and adjudication signature carries (21 CFR 11.50(a)(3)); the client must show and send it. */
export const SIGNATURE_MEANING = 'I confirm this assessment is my own';

/** sha256 (hex) of the RFC 8785 canonical JSON of the signed content. */
export const contentSha256 = (content: unknown): string => createHash('sha256').update(canonicalJson(content)).digest('hex');

/** The signature manifestation (21 CFR 11.50): shown with every display and export of a signed record. */
export interface Manifestation {
  signatureId: string;
  entity: 'read' | 'adjudication';
  printedName: string;
  username: string;
  meaning: string;
  /** ISO 8601 UTC. */
  signedAt: string;
  contentSha256: string;
}

export function manifestation(s: { id: string; entity_type: 'read' | 'adjudication'; printed_name: string; signer_username: string; meaning: string; signed_at: Date | string; content_sha256: string }): Manifestation {
  return {
    signatureId: s.id,
    entity: s.entity_type,
    printedName: s.printed_name,
    username: s.signer_username,
    meaning: s.meaning,
    signedAt: new Date(s.signed_at).toISOString(),
    contentSha256: s.content_sha256,
  };
}
