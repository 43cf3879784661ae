import { createHmac } from 'node:crypto';

/**
 * Consistent UID replacement: `2.25.` + the decimal value of the first 128 bits of
 * HMAC-SHA256(secret, original UID). 2.25 is the ISO/IEC 9834-8 UUID arc, whose integer must be
 * < 2^128, so the result has at most 44 characters (<= 64 as required for UI). The same secret and
 * UID always give the same replacement, so all of a subject's studies (and references between
 * them) stay consistent; without the secret the mapping cannot be reversed or recomputed.
 */
export function pseudonymUid(secret: string, uid: string): string {
  const h = createHmac('sha256', secret).update(`uid\u0000${uid}`).digest();
  return `2.25.${BigInt('0x' + h.subarray(0, 16).toString('hex')).toString(10)}`;
}

/**
 * A subject's constant date shift, derived from a secret: an integer number of days in
 * [-3650, -366] (1 to 10 years into the past), so shifted dates are never in the future and never
 * equal to the original date.
 */
export function deriveDateShiftDays(secret: string, subjectId: string): number {
  const h = createHmac('sha256', secret).update(`dateshift\u0000${subjectId}`).digest();
  return -(366 + (h.readUInt32BE(0) % (3650 - 366 + 1)));
}

const DAY = 86400000;
const p2 = (n: number): string => String(n).padStart(2, '0');

/** Shifts one DA value (YYYYMMDD; the ACR-NEMA form YYYY.MM.DD is accepted). null when not a valid date. */
export function shiftDA(value: string, days: number): string | null {
  const v = value.trim();
  if (v === '') return '';
  const m = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(v);
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3]);
  const d = new Date(t);
  if (d.getUTCFullYear() !== +m[1] || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3]) return null;
  const s = new Date(t + days * DAY);
  return `${String(s.getUTCFullYear()).padStart(4, '0')}${p2(s.getUTCMonth() + 1)}${p2(s.getUTCDate())}`;
}

/**
 * Shifts the date part of one DT value (YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]); the time of day and
 * UTC offset are kept. A DT with year or year-month precision is shifted as if on the 1st and
 * truncated back to its precision. null when not a valid DT.
 */
export function shiftDT(value: string, days: number): string | null {
  const v = value.trim();
  if (v === '') return '';
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?([+-]\d{4})?$/.exec(v);
  if (!m) return null;
  const date = `${m[1]}${m[2] ?? '01'}${m[3] ?? '01'}`;
  const shifted = shiftDA(date, days);
  if (shifted === null) return null;
  const precision = 4 + (m[2] ? 2 : 0) + (m[3] ? 2 : 0);
  return `${shifted.slice(0, precision)}${m[4] ?? ''}${m[8] ?? ''}`;
}
