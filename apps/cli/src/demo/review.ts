import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuthService } from '@app/auth';
import { parseS3Event } from '@app/ingest';
import { generateSyntheticSlide } from '@app/pathology';
import { ReviewService } from '@app/review';
import type { Runtime } from '@app/pipeline';
import type { DemoStage } from '../demo';

const say = (s: string) => process.stdout.write(`${s}\n`);

/**
 * Demo accounts, one per role. FIXED DEMO PASSWORDS, printed on screen: for this local demo only (the demo's own
 * database under DATA_DIR); never create these users on a real deployment.
 */
export const DEMO_USERS = [
  { label: 'reader 1', username: 'reader1', displayName: 'Dr Demo Reader One', roles: ['reader'], grants: [], password: 'demo-reader1-pass' },
  { label: 'reader 2', username: 'reader2', displayName: 'Dr Demo Reader Two', roles: ['reader'], grants: [], password: 'demo-reader2-pass' },
  { label: 'adjudicator', username: 'adjudicator', displayName: 'Dr Demo Adjudicator', roles: ['adjudicator'], grants: [], password: 'demo-adjudicator-pass' },
  { label: 'biostatistician', username: 'biostat', displayName: 'Demo Biostatistician', roles: ['biostatistician'], grants: [], password: 'demo-biostat-pass' },
  { label: 'admin', username: 'admin', displayName: 'Demo Admin', roles: ['admin'], grants: [], password: 'demo-admin-pass' },
] as const;

export const demoReaderUrl = (rt: Runtime) => `http://localhost:${rt.config.PORT}/reader/`;

/**
 * Review stage (issue 12): demo users for every role, and the sample study's CT phantom subjects (the ones the AI
 * stage read: a lesion tracking run with proposals) assigned to reader 1 and reader 2 (seeded, recorded), with the
 * adjudicator named for disagreements; the first of them gets a synthetic H&E slide for the slide tab. Prints the reading app's URL and the credentials; `npm run demo -- --serve`
 * then keeps the API serving the app (apps/cli/src/demo.ts).
 */
export const makeReviewStage = (opts: { demoSlide: boolean }): DemoStage => ({
  name: 'review',
  async after(rt, outDir) {
    const auth = new AuthService(rt.db, rt.config);
    const users: Record<string, { id: string; username: string; displayName: string }> = {};
    for (const u of DEMO_USERS) {
      const existing = await auth.users.byUsername(u.username);
      users[u.username] = existing
        ? { id: existing.id, username: existing.username, displayName: existing.display_name }
        : await auth.createUser({ username: u.username, displayName: u.displayName, password: u.password, roles: [...u.roles], grants: [...u.grants] }, { actor: 'demo', actorRoles: ['admin'] });
    }
    const admin = users.admin!;
    const svc = new ReviewService({ db: rt.db, verifyPassword: (id, pw) => auth.checkPassword(id, pw) });
    // the subjects the AI read (CT phantom): a tracking run with lesion proposals, by study (protocol)
    const rows = await rt.db
      .selectFrom('subjects as s')
      .select(['s.protocol_id', 's.reading_id'])
      .where(({ exists, selectFrom }) => exists(selectFrom('ai_runs as r').select('r.id').whereRef('r.subject_uuid', '=', 's.id').where('r.kind', '=', 'track')))
      .orderBy('s.reading_id')
      .execute();
    const slide = rows.length && opts.demoSlide ? await slideForFirstCase(rt, rows[0]!.reading_id).catch((e: Error) => ({ error: e.message })) : null;
    const byStudy = new Map<string, string[]>();
    for (const r of rows) byStudy.set(r.protocol_id, [...(byStudy.get(r.protocol_id) ?? []), r.reading_id]);
    const assignments: { studyId: string; cases: { reader: string; readingId: string; slot: number; order: number }[] }[] = [];
    for (const [studyId, subjects] of byStudy) {
      const run = await svc.assign(
        { id: admin.id, username: admin.username, displayName: admin.displayName, roles: ['admin'] },
        { studyId, subjects, readers: ['reader1', 'reader2'], adjudicators: ['adjudicator'], capacity: subjects.length, seed: 20240115 },
      );
      assignments.push({ studyId, cases: run.cases.map((c) => ({ reader: c.reader, readingId: c.readingId, slot: c.slot, order: c.order })) });
    }
    const url = demoReaderUrl(rt);
    say(`demo: reading app ${url}${process.argv.includes('--serve') ? '' : '  (serve it: npm run demo -- --serve)'}`);
    say('  role             username      password (DEMO ONLY, fixed and printed on purpose; never reuse)');
    for (const u of DEMO_USERS) say(`  ${u.label.padEnd(16)} ${u.username.padEnd(13)} ${u.password}`);
    if (!assignments.length) say('  no subject has an AI read yet: nothing was assigned (see the AI stage above)');
    for (const a of assignments)
      for (const reader of ['reader1', 'reader2'])
        say(`  ${a.studyId} worklist of ${reader}: ${a.cases.filter((c) => c.reader === reader).sort((x, y) => x.order - y.order).map((c) => c.readingId).join(', ') || '(none)'}`);
    if (assignments.length) say('  adjudication: when reader 1 and reader 2 disagree on a subject (BOR or PD date), the adjudicator gets the task');
    if (slide && 'slideId' in slide) say(`  ${rows[0]!.reading_id} also has an H&E slide (${slide.slideId}) with AI metrics to accept or override in the slide tab: ${JSON.stringify(slide.metrics)}`);
    else if (slide) say(`  no demo slide for the slide tab: ${slide.error}`);
    const out = { url, users: DEMO_USERS.map((u) => ({ role: u.label, username: u.username })), assignments, slide };
    await writeFile(join(outDir, 'review.json'), JSON.stringify(out, null, 2));
    return out;
  },
});
export const reviewStage = makeReviewStage({ demoSlide: true });

/**
 * The sample slides belong to slide-only subjects (the slides stage links them by upload path), and a case is a
 * subject with CT: so the slide tab of the demo's cases shows a synthetic H&E slide uploaded for the first AI-read
 * subject (its folder `subject-<SubjectID>` links it, as for any slide), through the same ingest, blinding and AI
 * slide inference as every upload. Nothing is done when the subject already has a slide.
 */
async function slideForFirstCase(rt: Runtime, readingId: string) {
  const subject = await rt.db.selectFrom('subjects').select(['id', 'subject_id']).where('reading_id', '=', readingId).executeTakeFirstOrThrow();
  const has = () => rt.db.selectFrom('slides').select('id').where('subject_uuid', '=', subject.id).executeTakeFirst();
  if (!(await has())) {
    const work = join(rt.config.dataDir, 'work');
    await mkdir(work, { recursive: true });
    const synth = await generateSyntheticSlide({ path: join(work, 'review-slide.svs'), width: 8000, height: 6000, seed: 29 });
    const key = `incoming/slides/subject-${subject.subject_id}/block-B1.svs`;
    const info = await rt.store.put(key, await readFile(synth.path));
    await rt.ingest.enqueueEvents(parseS3Event({ Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: rt.store.bucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), eTag: info.etag, size: info.size } } }] }));
    say(`demo: [review] uploaded a synthetic H&E slide for ${readingId}; waiting for its blinding, pyramid and AI read`);
    await rt.queue.waitIdle({ timeoutMs: 15 * 60_000, pollMs: 250 });
  }
  const s = await has();
  if (!s) throw new Error('the slide was not ingested (see the jobs)');
  const run = await rt.db.selectFrom('ai_runs').select(['id', 'summary']).where('slide_id', '=', s.id).where('kind', '=', 'slide').orderBy('created_at', 'desc').executeTakeFirst();
  const m = (run?.summary ?? {}) as { stromalTilPercent?: number; tumourFraction?: number; tumourBedCellularity?: number };
  return { slideId: s.id, aiRunId: run?.id ?? null, metrics: run ? { stromalTilPercent: m.stromalTilPercent ?? null, tumourFraction: m.tumourFraction ?? null, tumourBedCellularity: m.tumourBedCellularity ?? null } : null };
}
