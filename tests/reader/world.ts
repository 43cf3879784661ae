/**
 * The reading world the browser tests (and a developer, through tests/reader/serve.ts) run against: the real API on
 * PostgreSQL with one phantom CT subject (baseline + one follow-up) read by the AI (the threshold ONNX fixture, so
 * the proposals are the phantom's lesions), one synthetic H&E slide of the same subject with its AI metrics and
 * heatmap, and the users of a BICR read (two readers, an adjudicator, an admin). Small on purpose: built in seconds.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { repoRoot } from '@app/core';
import { generateSyntheticSlide } from '@app/pathology';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime, type Runtime } from '@app/pipeline';
import type { AuthService } from '@app/auth';
import { createApiApp } from '../../apps/api/src/app';
import { AUTH_SERVICE } from '../../apps/api/src/auth/auth.guard';
import { createTempDatabase, quietLog, tempDir, testConfig } from '../support/services';
import { tempModelsDir, writeModelFolder, cleanup as cleanupModels } from '../inference/helpers';

export const PASSWORD = 'correct horse battery staple';
export const USERS = {
  reader1: { username: 'reader.one', displayName: 'Dr Ada Reader', roles: ['reader'] as const },
  reader2: { username: 'reader.two', displayName: 'Dr Ben Reader', roles: ['reader'] as const },
  adjudicator: { username: 'adjudicator', displayName: 'Dr Cleo Adjudicator', roles: ['adjudicator'] as const },
  admin: { username: 'admin', displayName: 'Trial Admin', roles: ['admin'] as const },
};

export interface ReaderWorld {
  rt: Runtime;
  app: INestApplication;
  base: string;
  readingId: string;
  studyId: string;
  slideId: string | null;
  /** Log in through the API: a bearer token. */
  login: (username: string) => Promise<string>;
  close: () => Promise<void>;
}

const SCT = (code: string, meaning: string) => ({ scheme: 'SCT', code, meaning });
const lesionClass = (index: number, name: string, site: [string, string], nodal: boolean) => ({ index, name, category: SCT('49755003', 'Morphologically abnormal structure'), type: SCT('52988006', 'Lesion'), finding_site: SCT(...site), nodal });

export async function buildReaderWorld(opts: { port?: number; slide?: boolean; visits?: number; assign?: boolean } = {}): Promise<ReaderWorld> {
  const dir = await tempDir('reader-');
  const db = await createTempDatabase();
  const models = tempModelsDir();
  writeModelFolder(models, 'ct-lesion-seg', '0.1.0', '../../airead/fixtures/ct-threshold.onnx', { inC: 3, outC: 4, spatial: [128, 128], preprocessing: { hu_window: [-200, 300], context_slices: 1, roi_size: [128, 128], overlap: 0.5, blending: 'gaussian', gaussian_sigma_scale: 0.125 } }, (card) => {
    card.classes = [lesionClass(1, 'liver lesion', ['10200004', 'Liver'], false), lesionClass(2, 'lung lesion', ['39607008', 'Lung'], false), lesionClass(3, 'lymph node lesion', ['59441001', 'Lymph node'], true)];
    card.postprocessing = { argmax: true, min_component_voxels: 10 };
  });
  cpSync(join(repoRoot(), 'models/he-tile-classifier'), join(models, 'he-tile-classifier'), { recursive: true });
  const rt = await createRuntime({
    config: testConfig({ DATABASE_URL: db.url, DATA_DIR: join(dir.path, 'data'), SERIES_QUIET_MS: '300', MODELS_DIR: models, JOB_ATTEMPTS: '1', AUTH_JWT_SECRET: 'reader-world-secret-0123456789abcdef', AUTH_TOKEN_TTL_S: '3600' }),
    log: quietLog(),
  });
  rt.queue.startWorker();
  const app = await createApiApp(rt);
  await app.listen(opts.port ?? 0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;

  const auth = app.get<AuthService>(AUTH_SERVICE);
  for (const u of Object.values(USERS)) await auth.createUser({ username: u.username, displayName: u.displayName, password: PASSWORD, roles: [...u.roles], grants: [] }, { actor: 'test-setup' });

  const events: { bucket: string; key: string; etag: string; eventName: string }[] = [];
  const put = async (key: string, body: Buffer) => {
    const info = await rt.store.put(key, body);
    events.push({ bucket: rt.store.bucket, key, etag: info.etag, eventName: 'ObjectCreated:Put' });
  };
  const ph = await generatePhantomStudy({ outDir: join(dir.path, 'ph'), subjects: 1, visits: opts.visits ?? 2, rows: 160, cols: 160, slices: 24, sliceThickness: 5, sliceSpacing: 5, noiseSigma: 5, seed: 21 });
  for (const f of ph.files) await put(`incoming/ct/${f.visit}/${f.sopInstanceUid}.dcm`, readFileSync(f.path));
  await rt.ingest.enqueueEvents(events.splice(0));
  await rt.queue.waitIdle({ timeoutMs: 150000 });
  const subject = await rt.db.selectFrom('subjects').innerJoin('studies', 'studies.subject_uuid', 'subjects.id').select(['subjects.reading_id', 'subjects.subject_id', 'subjects.protocol_id']).executeTakeFirstOrThrow();

  let slideId: string | null = null;
  if (opts.slide !== false) {
    const synth = await generateSyntheticSlide({ path: join(dir.path, 's.svs'), width: 1536, height: 1280, seed: 9003 });
    await put(`incoming/slides/subject-${subject.subject_id}/block-A.svs`, readFileSync(synth.path));
    await rt.ingest.enqueueEvents(events.splice(0));
    await rt.queue.waitIdle({ timeoutMs: 150000 });
    slideId = (await rt.db.selectFrom('slides').select('id').executeTakeFirst())?.id ?? null;
  }
  const failed = await rt.jobs.list({ status: 'failed' });
  if (failed.length) throw new Error(`reader world: jobs failed: ${failed.map((j) => `${j.name}: ${j.error}`).join('; ')}`);

  const login = async (username: string) => {
    const r = await fetch(`${base}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
    if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { token: string }).token;
  };
  if (opts.assign !== false) {
    // the admin assigns the subject to both readers (seeded) and names the adjudicator, through the API
    const r = await fetch(`${base}/v1/review/assignments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await login(USERS.admin.username)}` },
      body: JSON.stringify({ studyId: subject.protocol_id, readers: [USERS.reader1.username, USERS.reader2.username], capacity: 10, seed: 12345, adjudicators: [USERS.adjudicator.username] }),
    });
    if (!r.ok) throw new Error(`assignment: ${r.status} ${await r.text()}`);
  }

  return {
    rt,
    app,
    base,
    readingId: subject.reading_id,
    studyId: subject.protocol_id,
    slideId,
    login,
    close: async () => {
      await app.close();
      await rt.close();
      await db.drop();
      await dir.remove();
      cleanupModels();
    },
  };
}
