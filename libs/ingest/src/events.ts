import { createHmac, timingSafeEqual } from 'node:crypto';

export interface ObjectEvent {
  bucket: string;
  key: string;
  etag?: string;
  versionId?: string;
  size?: number;
  eventName: string;
}

export class EventFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventFormatError';
  }
}

/** S3 URL-encodes object keys in notifications, with '+' for spaces. */
const decodeKey = (k: string): string => decodeURIComponent(k.replace(/\+/g, ' '));

/**
 * Extract object-created events from an S3 event notification body, in any of the shapes it arrives:
 * - `{ Records: [...] }` as S3 sends to SQS/SNS/Lambda and as MinIO's webhook target sends;
 * - an SNS HTTP(S) delivery, `{ Type: 'Notification', Message: '<the Records JSON as a string>' }`;
 * - an EventBridge event, `{ source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket, object } }`.
 * `s3:TestEvent` and non-create events yield nothing. A malformed body throws EventFormatError.
 */
export function parseS3Event(body: unknown): ObjectEvent[] {
  if (typeof body !== 'object' || body === null) throw new EventFormatError('event body must be a JSON object');
  const b = body as Record<string, any>;
  if (b.Type === 'SubscriptionConfirmation' || b.Type === 'UnsubscribeConfirmation')
    throw new EventFormatError(`SNS ${b.Type}: confirm the subscription by visiting SubscribeURL from the SNS console; no objects in it`);
  if (b.Type === 'Notification' && typeof b.Message === 'string') {
    let inner: unknown;
    try {
      inner = JSON.parse(b.Message);
    } catch {
      throw new EventFormatError('SNS Notification whose Message is not JSON');
    }
    return parseS3Event(inner);
  }
  if (b.source === 'aws.s3' && b.detail) {
    if (b['detail-type'] !== 'Object Created') return [];
    const d = b.detail;
    if (typeof d?.bucket?.name !== 'string' || typeof d?.object?.key !== 'string') throw new EventFormatError('EventBridge detail lacks bucket.name or object.key');
    return [{ bucket: d.bucket.name, key: d.object.key, etag: d.object.etag, versionId: d.object['version-id'], size: d.object.size, eventName: 'ObjectCreated' }];
  }
  if (b.Event === 's3:TestEvent') return [];
  if (!Array.isArray(b.Records)) throw new EventFormatError('not an S3 event notification: expected Records[] (S3/MinIO), an SNS Notification, or an EventBridge Object Created event');
  const out: ObjectEvent[] = [];
  b.Records.forEach((r: any, i: number) => {
    const s3 = r?.s3;
    if (typeof s3?.bucket?.name !== 'string' || typeof s3?.object?.key !== 'string') throw new EventFormatError(`Records[${i}] lacks s3.bucket.name or s3.object.key`);
    const eventName = String(r.eventName ?? '');
    if (!/ObjectCreated/.test(eventName)) return;
    out.push({
      bucket: s3.bucket.name,
      key: decodeKey(s3.object.key),
      etag: s3.object.eTag ?? s3.object.etag,
      versionId: s3.object.versionId,
      size: typeof s3.object.size === 'number' ? s3.object.size : undefined,
      eventName,
    });
  });
  return out;
}

/** Idempotency key of one upload: bucket + key + version id (or ETag when unversioned). */
export function ingestKey(e: { bucket: string; key: string; etag?: string; versionId?: string }): string {
  const version = e.versionId ? `v:${e.versionId}` : e.etag ? `e:${e.etag.replace(/"/g, '')}` : 'unversioned';
  return `ingest:${e.bucket}/${e.key}@${version}`;
}

const safeEq = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export const signBody = (rawBody: Buffer | string, secret: string): string => `sha256=${createHmac('sha256', secret).update(rawBody).digest('hex')}`;

/**
 * Webhook authentication. Accepted, any one of:
 * - `X-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>` (our signer, `signBody`);
 * - `Authorization: Bearer <secret>` (MinIO's webhook auth_token);
 * - `X-Webhook-Token: <secret>`.
 * Constant-time comparisons. Returns the method used, or null when unauthenticated.
 */
export function verifyWebhook(headers: Record<string, string | string[] | undefined>, rawBody: Buffer | undefined, secret: string): 'hmac' | 'bearer' | 'token' | null {
  const h = (n: string): string | undefined => {
    const v = headers[n];
    return Array.isArray(v) ? v[0] : v;
  };
  const sig = h('x-signature');
  if (sig && rawBody && safeEq(sig, signBody(rawBody, secret))) return 'hmac';
  const auth = h('authorization');
  if (auth?.startsWith('Bearer ') && safeEq(auth.slice(7), secret)) return 'bearer';
  const tok = h('x-webhook-token');
  if (tok && safeEq(tok, secret)) return 'token';
  return null;
}
