/**
 * The demo's review stage and `npm run demo -- --serve` (apps/cli/src/demo/review.ts, demo.ts): demo users for every
 * role with the printed fixed passwords, the subjects the AI read (a lesion tracking run) assigned to reader 1 and
 * reader 2 (a subject without an AI read is left out), the reading app's URL printed; with serve the API keeps serving
 * on PORT and the printed credentials log in: reader 1 sees their cases, the adjudicator / biostatistician / admin
 * their own routes. The demo's earlier stages (phantom, pipeline, models) are replaced by a stage that seeds the
 * imaging and AI rows the same way as the review tests (tests/review/fixtures.ts), so this runs in seconds (and without
 * the extra synthetic slide the real demo ingests for the slide tab: that one goes through WSI ingest and the models).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type DemoStage, runDemo, stopDemoServer } from '../../apps/cli/src/demo';
import { DEMO_USERS, makeReviewStage } from '../../apps/cli/src/demo/review';
import { tempDir } from '../support/services';
import { DATES, seedSubject, THREE_LESIONS } from './fixtures';

jest.setTimeout(120000);

const freePort = () =>
  new Promise<number>((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });

test('npm run demo -- --serve: demo users, the AI-read subjects assigned to both readers, credentials that log in', async () => {
  const dir = await tempDir();
  const port = await freePort();
  const saved = { ...process.env };
  Object.assign(process.env, { DATA_DIR: join(dir.path, 'data'), OUT_DIR: join(dir.path, 'out'), PORT: String(port), AUTH_JWT_SECRET: 'demo-test-secret-0123456789abcdef-0123', LOG_LEVEL: 'silent', PROTOCOL_ID: 'DEMO-T' });
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'S3_BUCKET']) delete process.env[k];
  const seeded: Record<string, string> = {};
  const seedStage: DemoStage = {
    name: 'seed',
    async after(rt) {
      for (const [id, withAi] of [['P1', true], ['P2', true], ['NOAI', false]] as const)
        seeded[id] = (await seedSubject(rt.db, { protocolId: 'DEMO-T', subjectId: id, shiftDays: 12, dates: DATES.slice(0, 2), lesions: THREE_LESIONS, withAi })).subject.reading_id;
      return {};
    },
  };
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    lines.push(String(s));
    return true;
  });
  try {
    const summary = (await runDemo([seedStage, makeReviewStage({ demoSlide: false })], { serve: true })) as { review: { url: string; assignments: { studyId: string; cases: { reader: string; readingId: string }[] }[] } };
    spy.mockRestore();
    const out = lines.join('');
    const url = `http://localhost:${port}/reader/`;
    expect(out).toContain(`demo: reading app ${url}`);
    for (const u of DEMO_USERS) expect(out).toMatch(new RegExp(`${u.label}\\s+${u.username}\\s+${u.password}`));
    expect(out).toContain(`serving the API and the reading app at ${url}`);
    // only the AI-read subjects, each to both readers
    const a = summary.review.assignments;
    expect(a.map((x) => x.studyId)).toEqual(['DEMO-T']);
    const cases = a[0]!.cases;
    expect(cases.map((c) => `${c.reader} ${c.readingId}`).sort()).toEqual([`reader1 ${seeded.P1}`, `reader1 ${seeded.P2}`, `reader2 ${seeded.P1}`, `reader2 ${seeded.P2}`].sort());
    expect(JSON.parse(readFileSync(join(dir.path, 'out', 'review.json'), 'utf8'))).toMatchObject({ url });

    // the server keeps serving; every printed credential logs in
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const app = await fetch(`${base}/reader/`);
    expect([200, 503]).toContain(app.status); // 503 only when the reader app was not built (npm run build:reader)
    const token: Record<string, string> = {};
    for (const u of DEMO_USERS) {
      const r = await fetch(`${base}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u.username, password: u.password }) });
      expect(r.status).toBe(200);
      token[u.username] = ((await r.json()) as { token: string }).token;
    }
    const get = (path: string, who: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token[who]}` } });
    const wl = (await (await get('/v1/review/worklist', 'reader1')).json()) as { cases: { readingId: string }[] };
    expect(wl.cases.map((c) => c.readingId).sort()).toEqual([seeded.P1, seeded.P2].sort());
    const subjects = (await (await get('/v1/subjects', 'reader2')).json()) as { items: { readingId: string }[] };
    expect(subjects.items.map((s) => s.readingId)).not.toContain(seeded.NOAI);
    expect((await get('/v1/review/worklist', 'adjudicator')).status).toBe(200);
    expect((await get(`/v1/review/studies/DEMO-T/summary`, 'biostat')).status).toBe(200);
    expect((await get('/v1/admin/pseudonyms', 'admin')).status).toBe(200);
    expect((await get('/v1/admin/pseudonyms', 'reader1')).status).toBe(403);
  } finally {
    spy.mockRestore();
    await stopDemoServer();
    process.env = saved;
    await dir.remove();
  }
});
