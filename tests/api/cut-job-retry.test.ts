/**
 * A cut job that fails for good (the object store refuses every write) answers 500 `cut.job-failed` with its job id;
 * once the store is back, the same request again re-runs that job (not a new one) and makes the cut. The store is a
 * real tmpfs remounted read-only (root, as tests/faults/local-store.test.ts), not a mock.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { CUT_JOB, createRuntime, loadSimulatedStudy, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { authHeader } from '../helpers/auth';
import { quietLog, tempDir, testConfig } from '../support/services';

jest.setTimeout(120000);

const JWT = 'cut-job-retry-test-secret-0123456789abcdef';
const mount = (...args: string[]) => execFileSync('mount', args, { stdio: 'pipe' });
let dir: Awaited<ReturnType<typeof tempDir>>;
let mnt: string;
let mounted = false;
let rt: Runtime;
let app: INestApplication;

beforeAll(async () => {
  dir = await tempDir();
  mnt = join(dir.path, 'store');
  mkdirSync(mnt);
  try {
    mount('-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', mnt);
  } catch (e) {
    throw new Error(`this test mounts a tmpfs and must run as root (or with CAP_SYS_ADMIN): ${(e as Error).message}`);
  }
  mounted = true;
  rt = await createRuntime({ config: testConfig({ DATA_DIR: mnt, AUTH_JWT_SECRET: JWT, CUT_WAIT_MS: '60000', JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '50' }), log: quietLog(), pgliteDir: ':memory:' });
  app = await createApiApp(rt);
  await app.init();
  await loadSimulatedStudy(rt, 'CR-1', { subjects: 12, visits: 4, seed: 9, qlq: false, stepWeeks: 4 }, 'test');
});
afterAll(async () => {
  await app?.close();
  await rt?.close();
  if (mounted) {
    try {
      mount('-o', 'remount,rw', mnt);
    } catch {
      /* ignore */
    }
    execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
  }
  await dir?.remove();
});

test('a cut job failed for good: 500 cut.job-failed; the same request after the store is back re-runs that job and makes the cut', async () => {
  const bio = await authHeader(app, 'biostatistician');
  const body = { studyId: 'CR-1', cutoffDate: '2026-06-01', blinded: true };
  mount('-o', 'remount,ro', mnt);
  const failed = await request(app.getHttpServer()).post('/v1/cuts').set('authorization', bio).send(body).expect(500);
  expect(failed.body).toMatchObject({ code: 'cut.job-failed' });
  const jobId = failed.body.jobId as string;
  const row = await rt.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
  expect(row).toMatchObject({ name: CUT_JOB, status: 'failed', attempts: 2 });
  expect(row.error).toMatch(/read-only|EROFS/i);
  expect(await rt.db.selectFrom('data_cuts').select('cut_id').execute()).toEqual([]);

  mount('-o', 'remount,rw', mnt);
  const ok = await request(app.getHttpServer()).post('/v1/cuts').set('authorization', bio).send(body).expect(201);
  expect(ok.body.jobId).toBe(jobId);
  const cuts = await rt.db.selectFrom('data_cuts').select('cut_id').execute();
  expect(cuts.map((c) => c.cut_id)).toEqual([ok.body.cutId]);
  expect((await rt.db.selectFrom('jobs').select(['id', 'status']).where('name', '=', CUT_JOB).execute())).toEqual([{ id: jobId, status: 'completed' }]);
  const verify = await request(app.getHttpServer()).get(`/v1/cuts/${ok.body.cutId}/verify`).set('authorization', bio).expect(200);
  expect(verify.body).toMatchObject({ ok: true });
});
