/**
 * Clear errors for a store that cannot do its job. Both are ordinary (transient) errors for the job queue:
 * the job is retried with backoff and, if the fault persists, fails with this message recorded on the job
 * and on the object. Nothing is lost: the original stays in the store and the object can be re-processed.
 */

/** The local store's disk is full or not writable (ENOSPC, EDQUOT, EROFS, EACCES, EPERM). */
export class LocalStoreError extends Error {
  constructor(
    readonly code: string,
    readonly path: string,
    readonly root: string,
    readonly op: string,
    cause: Error,
  ) {
    super(LocalStoreError.describe(code, path, root, op), { cause });
    this.name = 'LocalStoreError';
  }

  static readonly codes = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

  private static describe(code: string, path: string, root: string, op: string): string {
    const what =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? `the local object store is full (${code})`
        : code === 'EROFS'
          ? 'the local object store is on a read-only file system (EROFS)'
          : `the local object store is not writable by this process (${code})`;
    const fix =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? 'free space there, or set DATA_DIR to a larger volume (or S3_BUCKET to use S3)'
        : 'make it writable for the service user, or set DATA_DIR to a writable folder (or S3_BUCKET to use S3)';
    return `${what}: cannot ${op} ${path} under ${root} (DATA_DIR/objects); ${fix}`;
  }

  /** Wrap a file system error when it is one of the "store unusable" codes; else return it unchanged. */
  static wrap(e: unknown, path: string, root: string, op: string): unknown {
    const code = (e as NodeJS.ErrnoException)?.code;
    return code && LocalStoreError.codes.has(code) ? new LocalStoreError(code, path, root, op, e as Error) : e;
  }
}

/** An S3 request that still failed after the SDK's retries (5xx, timeouts, refused connections, ...). */
export class S3StoreError extends Error {
  constructor(
    readonly op: string,
    readonly bucket: string,
    readonly key: string | undefined,
    readonly endpoint: string,
    readonly attempts: number | undefined,
    readonly status: number | undefined,
    cause: Error,
  ) {
    const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
    const why = `${status ? `HTTP ${status} ` : ''}${cause.name}${(cause as NodeJS.ErrnoException).code && (cause as NodeJS.ErrnoException).code !== cause.name ? ` ${(cause as NodeJS.ErrnoException).code}` : ''}: ${cause.message || 'no message'}`;
    super(
      `S3 ${op} ${where} failed after ${attempts ?? '?'} attempt(s) against ${endpoint} (${why}); ` +
        'the job is retried with backoff (JOB_ATTEMPTS, JOB_BACKOFF_MS); check S3_ENDPOINT and the S3 service, S3_MAX_ATTEMPTS / S3_REQUEST_TIMEOUT_MS / S3_CONNECT_TIMEOUT_MS tune the per-request retries',
      { cause },
    );
    this.name = 'S3StoreError';
  }
}
