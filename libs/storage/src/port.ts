import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  /** Opaque content version tag (S3 ETag without quotes; local: size + mtime). */
  etag: string;
  versionId?: string;
  lastModified: Date;
}

/** Inclusive byte range, like HTTP Range. `end` omitted = to the end. */
export interface ByteRange {
  start: number;
  end?: number;
}

/**
 * The object store port. The rest of the code sees only this; adapters: S3 and a local folder.
 * Nothing here deletes: originals and quarantined objects are never lost.
 */
export interface ObjectStore {
  /** 's3://bucket' or 'file:///abs/dir': used in provenance and idempotency keys. */
  readonly location: string;
  /** The bucket name (local adapter: 'local'). */
  readonly bucket: string;
  head(key: string): Promise<ObjectInfo | null>;
  /** Streaming GET, optionally a byte range. Throws ObjectNotFoundError. */
  get(key: string, range?: ByteRange): Promise<Readable>;
  getBuffer(key: string, range?: ByteRange): Promise<Buffer>;
  /** PUT from a buffer or a stream of any size (multipart on S3 for large bodies). */
  put(key: string, body: Buffer | Readable, opts?: { contentType?: string }): Promise<ObjectInfo>;
  /** Download to a local file (for tools that need a path, e.g. slide readers). */
  download(key: string, path: string): Promise<void>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Cheap reachability check for /health. */
  ping(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super('object not found in the store');
    this.name = 'ObjectNotFoundError';
  }
}

/** Object keys are relative POSIX paths; refuse anything that could escape a folder. */
export function assertSafeKey(key: string): void {
  if (!key || key.startsWith('/') || key.includes('\\') || key.split('/').some((p) => p === '..' || p === '.') || key.includes('\0'))
    throw new Error('invalid object key (must be a relative path without . or .. segments)');
}
