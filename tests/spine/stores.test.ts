/** The object store port, against both adapters: a real S3 HTTP API (s3rver) and a local folder. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { LocalObjectStore, ObjectNotFoundError, type ObjectStore, S3ObjectStore } from '@app/storage';
import { startS3, type S3Server, tempDir } from '../support/services';

let s3: S3Server;
let dir: { path: string; remove: () => Promise<void> };
const stores: Record<string, ObjectStore> = {};

beforeAll(async () => {
  s3 = await startS3('store-test');
  dir = await tempDir();
  stores.s3 = new S3ObjectStore({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, partSize: 5 * 1024 * 1024 });
  stores.local = new LocalObjectStore(join(dir.path, 'objects'));
});
afterAll(async () => {
  (stores.s3 as S3ObjectStore | undefined)?.client.destroy();
  await s3?.stop();
  await dir?.remove();
});

describe.each(['s3', 'local'])('%s adapter', (name) => {
  const store = () => stores[name]!;
  const data = randomBytes(64 * 1024);

  test('put, head, get whole and byte ranges', async () => {
    const info = await store().put('a/b/obj.bin', data);
    expect(info.size).toBe(data.length);
    expect((await store().head('a/b/obj.bin'))!.etag).toBe(info.etag);
    expect(Buffer.compare(await store().getBuffer('a/b/obj.bin'), data)).toBe(0);
    expect(Buffer.compare(await store().getBuffer('a/b/obj.bin', { start: 100, end: 199 }), data.subarray(100, 200))).toBe(0);
    const chunks: Buffer[] = [];
    for await (const c of await store().get('a/b/obj.bin', { start: 60000 })) chunks.push(c as Buffer);
    expect(Buffer.compare(Buffer.concat(chunks), data.subarray(60000))).toBe(0);
  });

  test('a streamed upload larger than the part size (multipart on S3) round-trips', async () => {
    const commands: string[] = [];
    if (name === 's3')
      (store() as S3ObjectStore).client.middlewareStack.add(
        (next, context) => async (args) => {
          commands.push(context.commandName as string);
          return next(args);
        },
        { step: 'initialize', name: `spy-${Date.now()}` },
      );
    const big = randomBytes(11 * 1024 * 1024 + 123);
    const parts = [big.subarray(0, 4e6), big.subarray(4e6, 9e6), big.subarray(9e6)];
    await store().put('big/volume.raw', Readable.from(parts));
    expect((await store().head('big/volume.raw'))!.size).toBe(big.length);
    const out = join(dir.path, `${name}-dl.raw`);
    await store().download('big/volume.raw', out);
    expect(Buffer.compare(await readFile(out), big)).toBe(0);
    if (name === 's3') {
      expect(commands.filter((c) => c === 'CreateMultipartUploadCommand')).toHaveLength(1);
      expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(3); // 5 MiB parts
      expect(commands).toContain('CompleteMultipartUploadCommand');
    }
  });

  test('list by prefix, missing objects, unsafe keys', async () => {
    await store().put('list/x/1.dcm', Buffer.from('1'));
    await store().put('list/x/2.dcm', Buffer.from('2'));
    await store().put('list/y.dcm', Buffer.from('3'));
    const keys: string[] = [];
    for await (const o of store().list('list/x/')) keys.push(o.key);
    expect(keys.sort()).toEqual(['list/x/1.dcm', 'list/x/2.dcm']);
    expect(await store().head('nope')).toBeNull();
    await expect(store().getBuffer('nope')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store().put('../escape', Buffer.from('x'))).rejects.toThrow(/invalid object key/);
    await expect(store().ping()).resolves.toBeUndefined();
  });
});
