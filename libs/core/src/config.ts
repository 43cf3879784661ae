import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors';

/**
 * Process configuration, read once from the environment and validated at start-up.
 *
 * Nothing configured = embedded defaults: local folder under DATA_DIR, PGlite under DATA_DIR,
 * in-process job runner. Setting S3_BUCKET, DATABASE_URL or REDIS_URL switches each port to its
 * production adapter independently.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number) => z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be >= ${min}`);
const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.join(' or ')}//`);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATA_DIR: z.string().min(1).default('./data'),
  OUT_DIR: z.string().min(1).default('./out'),
  PORT: int(1).max(65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),

  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  /**
   * How long opening a PostgreSQL connection may take. Well above the event loop's longest synchronous stretches (a
   * 10,000-subject cut or report: 5-7 s), which make an attempt in flight look slow: its timer fires before the
   * socket's callback can run, and the query failed ("connection timeout") with the database up.
   */
  DB_CONNECT_TIMEOUT_MS: int(100).default(30000),
  QUEUE_NAME: z.string().regex(/^[a-z0-9-]+$/, 'lower-case letters, digits and dashes only').default('pipeline'),
  QUEUE_CONCURRENCY: int(1).default(2),
  JOB_ATTEMPTS: int(1).default(3),
  JOB_BACKOFF_MS: int(0).default(2000),
  /** Per-worker limit of each heavy job type (volume building, slide patches, inference), in a lane of its own. */
  QUEUE_CONCURRENCY_HEAVY: int(1).default(1),
  /** A worker's lease on the job it runs, renewed every third of it; a running job past its lease is stuck (worker died). */
  JOB_LEASE_MS: int(300).default(30000),
  /** How often each worker recovers stuck jobs (also once at start-up); 0 = only at start-up. */
  JOB_RECLAIM_INTERVAL_MS: int(0).default(15000),
  /** Bull stalled-job detection: lock on an active job, interval of the stalled check, stalls before Bull fails a job. */
  BULL_LOCK_DURATION_MS: int(100).default(30000),
  BULL_STALLED_INTERVAL_MS: int(100).default(30000),
  BULL_MAX_STALLED_COUNT: int(0).default(1),
  /** Run the job processors inside the API process too (always true without REDIS_URL). */
  API_RUNS_WORKER: bool.optional(),
  /** POST /v1/cuts waits this long for its cut job, then answers 202 with the job to poll (GET /v1/cut-jobs/:id). */
  CUT_WAIT_MS: int(0).default(60000),
  /**
   * GET of a cut's report that is not made yet waits this long for its report job (cut.report), then answers 202 with
   * Retry-After (ask the same URL again).
   */
  REPORT_WAIT_MS: int(0).default(30000),

  S3_BUCKET: z.string().min(3).optional(),
  S3_ENDPOINT: url(['http:', 'https:']).optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  S3_FORCE_PATH_STYLE: bool.optional(),
  /** Bytes per part for multipart uploads of large outputs. */
  S3_PART_SIZE: int(5 * 1024 * 1024).default(16 * 1024 * 1024),
  /** Attempts per S3 request (the SDK's standard retry: exponential backoff with jitter) before the error reaches the job. */
  S3_MAX_ATTEMPTS: int(1).default(5),
  /** Milliseconds to open a connection to S3, and for an S3 request to get its response (or a stalled socket to be dropped). */
  S3_CONNECT_TIMEOUT_MS: int(1).default(5000),
  S3_REQUEST_TIMEOUT_MS: int(1).default(120000),

  /** Shared secret for POST /v1/events/s3 (Bearer token, X-Webhook-Token, or HMAC-SHA256 of the body in X-Signature). */
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),

  /** Objects larger than this are quarantined unread. */
  MAX_OBJECT_BYTES: int(1).default(20 * 1024 ** 3),
  /** Bytes read from the start of each object to detect its kind. */
  SNIFF_BYTES: int(132).default(64 * 1024),

  /** Trial protocol this deployment serves (default for objects that do not carry ClinicalTrialProtocolID). */
  PROTOCOL_ID: z.string().min(1).default('DEMO-001'),
  /** Optional JSON file with protocol settings (series selection rules, RECIST settings). */
  PROTOCOL_CONFIG: z.string().optional(),
  /** Secret for pseudonymous UIDs and per-subject date shifts: keep it for the trial's lifetime. */
  DEID_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  /** A series is complete after this long without a new instance (then its volume is built). */
  SERIES_QUIET_MS: int(0).default(60000),
  /** HS256 secret for access tokens (32+ characters). Required in production; unset elsewhere = a random per-process secret (warned). */
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Access token lifetime in seconds. */
  AUTH_TOKEN_TTL_S: int(30).max(86400).default(900),
  /** Failed logins in a row that lock an account, and for how long. */
  AUTH_MAX_FAILED_LOGINS: int(1).default(5),
  AUTH_LOCK_MINUTES: int(1).default(15),
  /** Failed logins per client address per minute (per process) before 429. */
  AUTH_LOGIN_RATE_PER_MIN: int(1).default(30),

  POLL_PREFIX: z.string().default('incoming/'),
  POLL_INTERVAL_MS: int(1000).default(30000),

  /** AI read: the CT lesion model and the H&E tile model (`id` = newest version, or `id@version`); 'off' disables the step. */
  AI_CT_MODEL: z.string().min(1).default('ct-lesion-seg'),
  AI_SLIDE_MODEL: z.string().min(1).default('he-tile-classifier'),
  /** The exploratory response model behind ADPRED (cuts made with predictions). */
  AI_RESPONSE_MODEL: z.string().min(1).default('response-model'),
  /** Folder of model folders (models/<id>/<version>/); default <repo>/models. */
  MODELS_DIR: z.string().optional(),
  /**
   * Inference worker threads per process (default: on CPU one per core up to 4, on CUDA 1: defaultInferenceThreads),
   * onnxruntime intra-op threads per session (default 1 with several threads, else onnxruntime's), windows per run.
   */
  INFERENCE_THREADS: int(1).max(64).optional(),
  INFERENCE_INTRAOP_THREADS: int(1).max(64).optional(),
  INFERENCE_BATCH: int(1).max(1024).default(8),
  /** 'cuda' tries the CUDA execution provider and falls back to CPU with one warning. */
  INFERENCE_EP: z.enum(['cpu', 'cuda']).default('cpu'),
});

export type AppConfig = z.infer<typeof schema> & {
  /** Absolute DATA_DIR. */
  dataDir: string;
  outDir: string;
  mode: { store: 's3' | 'local'; db: 'postgres' | 'pglite'; queue: 'bull' | 'in-process' };
};

/**
 * The settings of `shape` from the environment (unset and empty values left to the defaults), validated; throws
 * ConfigError naming the first bad setting. Shared by every settings schema (the app's, the operator surface's).
 */
export function parseEnvSettings<S extends z.ZodObject>(shape: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(shape.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') cleaned[key] = v;
  }
  const parsed = shape.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  return parsed.data;
}

/** Parse and validate; throws ConfigError naming the first bad setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const c = parseEnvSettings(schema, env);
  if (c.S3_BUCKET && !!c.S3_ACCESS_KEY_ID !== !!c.S3_SECRET_ACCESS_KEY)
    throw new ConfigError(c.S3_ACCESS_KEY_ID ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID', 'set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither (to use the default AWS credential chain)');
  if (c.NODE_ENV === 'production' && !c.WEBHOOK_SECRET)
    throw new ConfigError('WEBHOOK_SECRET', 'is required in production (upload events must be authenticated)');
  if (c.NODE_ENV === 'production' && !c.AUTH_JWT_SECRET)
    throw new ConfigError('AUTH_JWT_SECRET', 'is required in production (access tokens must be verifiable by every process and survive restarts)');
  if (c.NODE_ENV === 'production' && !c.DEID_SECRET)
    throw new ConfigError('DEID_SECRET', 'is required in production (pseudonyms and date shifts must be stable and secret)');
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(process.cwd(), p));
  return {
    ...c,
    dataDir: abs(c.DATA_DIR),
    outDir: abs(c.OUT_DIR),
    mode: {
      store: c.S3_BUCKET ? 's3' : 'local',
      db: c.DATABASE_URL ? 'postgres' : 'pglite',
      queue: c.REDIS_URL ? 'bull' : 'in-process',
    },
  };
}

/** Development-only fallback; production refuses to start without DEID_SECRET. */
export const DEV_DEID_SECRET = 'dev-only-deid-secret-change-me';

/** Development-only fallback secret; production refuses to start without WEBHOOK_SECRET. */
export const DEV_WEBHOOK_SECRET = 'dev-only-webhook-secret-change-me';
