import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@app/core';
import { detectKind, EventFormatError, ingestKey, parseS3Event, signBody, verifyWebhook } from '@app/ingest';

const fx = (p: string) => readFileSync(join(repoRoot(), 'tests/fixtures', p));

describe('detectKind', () => {
  test.each([
    ['dicom/small/CT_small.dcm', 'dicom', 'preamble'],
    ['dicom/encapsulated/image_dfl.dcm', 'dicom', 'preamble'],
    ['wsi/CMU-1-Small-Region.svs', 'tiff', 'classic'],
    ['wsi/boxes.tiff', 'tiff', 'classic'],
    ['wsi/boxes_0.dcm', 'dicom', 'preamble'],
  ])('%s is %s', (file, kind, variant) => {
    expect(detectKind(fx(file).subarray(0, 4096), file)).toMatchObject({ kind, variant });
  });

  test('a DICOM data set without preamble or meta header (raw, explicit VR) is DICOM', () => {
    // strip preamble + meta group from a real file: the data set starts at the first group-0008 element
    const f = fx('dicom/ct/CT1_UNC.explicit_little_endian.dcm');
    let off = 132;
    while (f.readUInt16LE(off) === 0x0002) {
      const vr = f.toString('latin1', off + 4, off + 6);
      off += ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr) ? 12 + f.readUInt32LE(off + 8) : 8 + f.readUInt16LE(off + 6);
    }
    expect(f.readUInt16LE(off)).toBe(0x0008);
    expect(detectKind(f.subarray(off, off + 4096), 'x')).toMatchObject({ kind: 'dicom', variant: 'no-preamble' });
  });

  test('BigTIFF headers', () => {
    expect(detectKind(Buffer.from('II+\0\x08\0\0\0', 'latin1'), 'a').kind).toBe('bigtiff');
    expect(detectKind(Buffer.from('MM\0+\0\x08\0\0', 'latin1'), 'a').kind).toBe('bigtiff');
    expect(detectKind(Buffer.from('MM\0*\0\0\0\x08', 'latin1'), 'a').kind).toBe('tiff');
  });

  test('unknown content gets an actionable reason; empty objects say so', () => {
    const d = detectKind(Buffer.from('%PDF-1.7 ...'), 'report.pdf');
    expect(d.kind).toBe('unknown');
    expect(d.reason).toMatch(/0x25504446.*not DICOM.*not TIFF.*ePRO/);
    expect(detectKind(Buffer.alloc(0), 'x').reason).toMatch(/empty/);
  });

  test('registered sniffers decide text formats', () => {
    const sniff = (b: Buffer) => (b.toString('utf8').startsWith('usubjid,') ? ('epro-csv' as const) : null);
    expect(detectKind(Buffer.from('usubjid,visit,q1\n'), 'a.csv', [sniff]).kind).toBe('epro-csv');
    expect(detectKind(Buffer.from('name,age\n'), 'a.csv', [sniff]).kind).toBe('unknown');
  });
});

describe('parseS3Event', () => {
  const rec = (key: string, eventName = 'ObjectCreated:Put') => ({ eventName, s3: { bucket: { name: 'b' }, object: { key, eTag: '"abc"', size: 3, versionId: 'v1' } } });

  test('S3/MinIO Records[], with URL-encoded keys', () => {
    expect(parseS3Event({ Records: [rec('incoming/site+01/a%2Bb.dcm'), rec('x', 'ObjectRemoved:Delete')] })).toEqual([
      { bucket: 'b', key: 'incoming/site 01/a+b.dcm', etag: '"abc"', versionId: 'v1', size: 3, eventName: 'ObjectCreated:Put' },
    ]);
  });

  test('SNS notification wrapping Records[]', () => {
    const sns = { Type: 'Notification', MessageId: 'm', TopicArn: 'arn:aws:sns:x', Message: JSON.stringify({ Records: [rec('a.dcm')] }) };
    expect(parseS3Event(sns).map((e) => e.key)).toEqual(['a.dcm']);
    expect(() => parseS3Event({ Type: 'SubscriptionConfirmation', SubscribeURL: 'https://x' })).toThrow(/SubscribeURL/);
  });

  test('EventBridge Object Created', () => {
    const eb = { source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: 'b' }, object: { key: 'dir/a b.dcm', etag: 'e', size: 9, 'version-id': 'v9' } } };
    expect(parseS3Event(eb)).toEqual([{ bucket: 'b', key: 'dir/a b.dcm', etag: 'e', versionId: 'v9', size: 9, eventName: 'ObjectCreated' }]);
  });

  test('test events yield nothing; malformed bodies throw', () => {
    expect(parseS3Event({ Event: 's3:TestEvent', Bucket: 'b' })).toEqual([]);
    expect(() => parseS3Event('x')).toThrow(EventFormatError);
    expect(() => parseS3Event({ Records: [{ eventName: 'ObjectCreated:Put', s3: {} }] })).toThrow(/Records\[0\]/);
  });
});

test('idempotency keys come from bucket + key + version or ETag', () => {
  expect(ingestKey({ bucket: 'b', key: 'k', etag: '"e1"' })).toBe('ingest:b/k@e:e1');
  expect(ingestKey({ bucket: 'b', key: 'k', etag: 'e1', versionId: 'v2' })).toBe('ingest:b/k@v:v2');
  expect(ingestKey({ bucket: 'b', key: 'k', etag: 'e1' })).not.toBe(ingestKey({ bucket: 'b', key: 'k', etag: 'e2' }));
});

test('webhook authentication: HMAC, bearer, token; anything else refused', () => {
  const secret = 's3cr3t-s3cr3t-s3cr3t';
  const body = Buffer.from('{"Records":[]}');
  expect(verifyWebhook({ 'x-signature': signBody(body, secret) }, body, secret)).toBe('hmac');
  expect(verifyWebhook({ 'x-signature': signBody(Buffer.from('{"Records":[1]}'), secret) }, body, secret)).toBeNull();
  expect(verifyWebhook({ authorization: `Bearer ${secret}` }, body, secret)).toBe('bearer');
  expect(verifyWebhook({ authorization: 'Bearer nope' }, body, secret)).toBeNull();
  expect(verifyWebhook({ 'x-webhook-token': secret }, body, secret)).toBe('token');
  expect(verifyWebhook({}, body, secret)).toBeNull();
});

test('a raw data set behind one stray byte (invalid/no_meta.dcm) is still detected as DICOM', () => {
  expect(detectKind(fx('dicom/invalid/no_meta.dcm').subarray(0, 4096), 'x')).toMatchObject({ kind: 'dicom', variant: 'no-preamble-offset-1' });
  expect(detectKind(Buffer.from('\x00\x00\x00\x00\x00\x00\x00\x00'), 'x').kind).toBe('unknown');
});
