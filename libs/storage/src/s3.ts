import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  NoSuchKey,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DEFAULT_SOCKET_MAX_IDLE_MS, IdleCheckedHttpAgent, IdleCheckedHttpsAgent } from './agent';
import { S3StoreError } from './errors';
import { assertSafeKey, type ByteRange, type ObjectInfo, ObjectNotFoundError, type ObjectStore } from './port';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Multipart part size for `put` of streams and large buffers. */
  partSize: number;
  /** Attempts per request (SDK standard retry mode: exponential backoff with full jitter, retry quota). Default 5. */
  maxAttempts?: number;
  /** Milliseconds to establish a connection. Default 5000. */
  connectTimeoutMs?: number;
  /** Milliseconds for a request to get its response, and for an idle socket (stalled body) to be dropped. Default 120000. */
  requestTimeoutMs?: number;
  /**
   * Waits (ms) between the HEADs that confirm an upload when the store does not show it yet. AWS S3 is read-after-write
   * consistent and answers the first; some S3-compatible stores (eventually consistent gateways) take a moment.
   * Default [50, 100, 200, 400, 800]: about 1.5 s in all before `put` fails.
   */
  confirmWaitsMs?: number[];
  /**
   * Pairs appended to every request's User-Agent (as `name/value`). Default: this host and process
   * (`host/<hostname> pid/<pid>`), so S3 server access logs and CloudTrail name the worker that made each request.
   */
  userAgent?: [string, string][];
  /**
   * A pooled connection idle for longer than this (ms) is closed instead of reused, checked with the wall clock when a
   * request takes it: after the event loop was busy for seconds, requests on connections the server has closed meanwhile
   * would be reset and use up the client's retry quota (agent.ts). Default 4000.
   */
  socketMaxIdleMs?: number;
}

const CONFIRM_WAITS_MS = [50, 100, 200, 400, 800];

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');
const isNotFound = (e: unknown): boolean =>
  e instanceof NoSuchKey || e instanceof NotFound || (e as { name?: string })?.name === 'NotFound' || (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 404;

/** S3 (or any S3 API: MinIO, s3rver) through @aws-sdk/client-s3. */
export class S3ObjectStore implements ObjectStore {
  readonly client: S3Client;
  /** The client's connection pools (keep-alive, idle-checked: agent.ts). */
  readonly agents: { http: IdleCheckedHttpAgent; https: IdleCheckedHttpsAgent };
  readonly bucket: string;
  readonly location: string;
  constructor(private readonly opts: S3StoreOptions) {
    // Checksums only when an operation requires them: S3-compatible stores (MinIO, s3rver, older Ceph)
    // reject the SDK's default CRC32 trailers.
    const maxIdleMs = opts.socketMaxIdleMs ?? DEFAULT_SOCKET_MAX_IDLE_MS;
    this.agents = { http: new IdleCheckedHttpAgent({ maxSockets: 50, maxIdleMs }), https: new IdleCheckedHttpsAgent({ maxSockets: 50, maxIdleMs }) };
    const cfg: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle ?? !!opts.endpoint,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries: 5xx, throttling, timeouts, refused/reset connections are retried by the SDK's standard strategy
      // (exponential backoff with jitter) up to maxAttempts; then the error reaches the job, which retries with its
      // own backoff and finally fails with an S3StoreError naming the operation, key, endpoint and attempts.
      retryMode: 'standard',
      customUserAgent: opts.userAgent ?? [
        ['host', hostname()],
        ['pid', String(process.pid)],
      ],
      maxAttempts: opts.maxAttempts ?? 5,
      // Without timeouts a hung S3 endpoint hangs the job forever: connection, response and idle-socket limits.
      requestHandler: {
        // the SDK's own defaults (keep-alive, 50 sockets a host), plus the idle check of agent.ts
        httpAgent: this.agents.http,
        httpsAgent: this.agents.https,
        connectionTimeout: opts.connectTimeoutMs ?? 5000,
        requestTimeout: opts.requestTimeoutMs ?? 120_000,
        throwOnRequestTimeout: true,
        socketTimeout: opts.requestTimeoutMs ?? 120_000,
      },
    };
    if (opts.endpoint) cfg.endpoint = opts.endpoint;
    if (opts.credentials) cfg.credentials = opts.credentials;
    this.client = new S3Client(cfg);
    this.bucket = opts.bucket;
    this.location = `s3://${opts.bucket}`;
  }

  private get endpoint(): string {
    return this.opts.endpoint ?? `AWS S3 (${this.opts.region})`;
  }

  private fail(op: string, key: string | undefined, e: unknown): Error {
    if (e instanceof S3StoreError || e instanceof ObjectNotFoundError) return e;
    const err = e instanceof Error ? e : new Error(String(e));
    const meta = (e as { $metadata?: { attempts?: number; httpStatusCode?: number } })?.$metadata;
    return new S3StoreError(op, this.bucket, key, this.endpoint, meta?.attempts, meta?.httpStatusCode, err);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertSafeKey(key);
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: Number(r.ContentLength ?? 0), etag: unquote(r.ETag), versionId: r.VersionId, lastModified: r.LastModified ?? new Date(0) };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw this.fail('HeadObject', key, e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertSafeKey(key);
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined }),
      );
      return r.Body as Readable;
    } catch (e) {
      if (isNotFound(e)) throw new ObjectNotFoundError(key);
      throw this.fail('GetObject', key, e);
    }
  }

  async getBuffer(key: string, range?: ByteRange): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.get(key, range)) chunks.push(Buffer.from(c as Uint8Array));
    return Buffer.concat(chunks);
  }

  async put(key: string, body: Buffer | Readable, opts?: { contentType?: string }): Promise<ObjectInfo> {
    assertSafeKey(key);
    // lib-storage's Upload does a single PUT for small bodies and a multipart upload (parallel parts) for large ones.
    const up = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: opts?.contentType },
      partSize: this.opts.partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    try {
      await up.done();
    } catch (e) {
      throw this.fail('PutObject', key, e);
    }
    return this.confirm(key);
  }

  /** HEAD a just-uploaded object; where the store does not show it yet, wait and look again before failing. */
  private async confirm(key: string): Promise<ObjectInfo> {
    const waits = this.opts.confirmWaitsMs ?? CONFIRM_WAITS_MS;
    for (let i = 0; ; i++) {
      const info = await this.head(key);
      if (info) return info;
      if (i >= waits.length) break;
      await new Promise((r) => setTimeout(r, waits[i]));
    }
    const waited = waits.reduce((a, b) => a + b, 0);
    const why = new Error(`the upload was accepted but HEAD still finds no object after ${waited} ms: the store is not read-after-write consistent`);
    throw new S3StoreError('PutObject (confirming HEAD)', this.bucket, key, this.endpoint, waits.length + 1, 404, why);
  }

  async download(key: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await pipeline(await this.get(key), createWriteStream(path));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const r = await this.client
        .send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }))
        .catch((e: unknown) => {
          throw this.fail('ListObjectsV2', prefix, e);
        });
      for (const o of r.Contents ?? [])
        if (o.Key) yield { key: o.Key, size: Number(o.Size ?? 0), etag: unquote(o.ETag), lastModified: o.LastModified ?? new Date(0) };
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket })).catch((e: unknown) => {
      throw this.fail('HeadBucket', undefined, e);
    });
  }
}
