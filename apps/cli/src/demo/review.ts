import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuthService } from '@app/auth';
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
 * adjudicator named for disagreements. Prints the reading app's URL and the credentials; `npm run demo -- --serve`
 * then keeps the API serving the app (apps/cli/src/demo.ts).
 */
export const reviewStage: DemoStage = {
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
    const out = { url, users: DEMO_USERS.map((u) => ({ role: u.label, username: u.username })), assignments };
    await writeFile(join(outDir, 'review.json'), JSON.stringify(out, null, 2));
    return out;
  },
};
