import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { signBody } from '@app/ingest';
import { TEST_SECRET } from '../support/services';

export const s3Event = (bucket: string, key: string, etag: string, size = 1) => ({
  Records: [
    {
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      eventName: 'ObjectCreated:Put',
      s3: { bucket: { name: bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), eTag: etag, size } },
    },
  ],
});

/** POST an event signed with HMAC-SHA256 of the exact body bytes. */
export function postSigned(app: INestApplication, body: unknown, secret = TEST_SECRET) {
  const raw = JSON.stringify(body);
  return request(app.getHttpServer()).post('/v1/events/s3').set('content-type', 'application/json').set('x-signature', signBody(raw, secret)).send(raw);
}
