/**
 * s3rver 3.7.1 answers a PUT (and an UploadPart, its putPart) before the bytes are on disk: its filesystem store resolves as soon
 * as it has handed the body to an fs.WriteStream, which has not even opened the file yet. A HEAD or GET that arrives
 * straight after the 200 can then see no object (404) or a short one. Real S3 is read-after-write consistent, and
 * our S3 adapter checks it (HEAD after every upload), so on a busy CI box the emulator's race failed a test
 * ("object missing right after upload").
 *
 * This replaces the two writers with ones that write to a temporary file, wait until it is closed, and rename it
 * into place: the reply goes out only when the whole object is visible, and a reader never sees a partial one.
 * Everything else (metadata, md5 files, the HTTP layer) is s3rver's own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, unknown>;
}
interface FilesystemStoreProto {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, unknown>, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ size: number; md5: string }>;
  __durable?: true;
}

/** Write `content` to `path` completely (temp file, closed, renamed into place); its size and md5 hex. */
export async function writeDurably(path: string, content: Buffer | Readable): Promise<{ size: number; md5: string }> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.partial`;
  const md5 = createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      md5.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Buffer.isBuffer(content) ? Readable.from([content]) : content, count, createWriteStream(tmp));
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return { size, md5: md5.digest('hex') };
}

/** Patch s3rver's FilesystemStore once per process (idempotent). */
export function makeS3rverDurable(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const FilesystemStore = require('s3rver/lib/stores/filesystem') as { prototype: FilesystemStoreProto };
  const proto = FilesystemStore.prototype;
  if (proto.__durable) return;
  proto.putObject = async function (this: FilesystemStoreProto, object: S3rverObject) {
    const r = await writeDurably(this.getResourcePath(object.bucket, object.key, 'object'), object.content);
    await this.putMetadata(object.bucket, object.key, object.metadata, r.md5);
    return r;
  };
  proto.putPart = async function (this: FilesystemStoreProto, bucket: string, uploadId: string, partNumber: number, content: Readable) {
    const partPath = join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const r = await writeDurably(partPath, content);
    await writeFile(`${partPath}.md5`, r.md5);
    return r;
  };
  proto.__durable = true;
}
