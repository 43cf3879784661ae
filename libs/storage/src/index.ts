import { join } from 'node:path';
import type { AppConfig } from '@app/core';
import { LocalObjectStore } from './local';
import type { ObjectStore } from './port';
import { S3ObjectStore } from './s3';

export * from './port';
export { LocalObjectStore } from './local';
export { S3ObjectStore } from './s3';
export { DEFAULT_SOCKET_MAX_IDLE_MS, IdleCheckedHttpAgent, IdleCheckedHttpsAgent } from './agent';
export { LocalStoreError, S3StoreError } from './errors';

/** The adapter the configuration asks for: S3 when S3_BUCKET is set, else DATA_DIR/objects. */
export function createObjectStore(config: AppConfig): ObjectStore {
  if (config.S3_BUCKET)
    return new S3ObjectStore({
      bucket: config.S3_BUCKET,
      region: config.S3_REGION,
      endpoint: config.S3_ENDPOINT,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      credentials: config.S3_ACCESS_KEY_ID ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY! } : undefined,
      partSize: config.S3_PART_SIZE,
      maxAttempts: config.S3_MAX_ATTEMPTS,
      connectTimeoutMs: config.S3_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: config.S3_REQUEST_TIMEOUT_MS,
    });
  return new LocalObjectStore(join(config.dataDir, 'objects'));
}
