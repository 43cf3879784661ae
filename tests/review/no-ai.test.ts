/**
 * A study without AI proposals (PGlite): readers measure from scratch. Cases open with no proposals, lesions are added
 * with axes at the baseline and measured again at follow-ups by their lesion key, the engine computes the table, and a
 * signed read later gets a new timepoint only through a correction.
 */
import { createRuntime, type Runtime } from '@app/pipeline';
import { ReviewService, SIGNATURE_MEANING } from '@app/review';
import { quietLog, tempDir, testConfig } from '../support/services';
import { DATES, makeUsers, PASSWORD, seedSubject, THREE_LESIONS } from './fixtures';

jest.setTimeout(120000);
let dir: Awaited<ReturnType<typeof tempDir>>;
let rt: Runtime;

beforeAll(async () => {
  dir = await tempDir();
  rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path }), log: quietLog(), pgliteDir: ':memory:' });
});
afterAll(async () => {
  await rt?.close();
  await dir?.remove();
});

test('reading from scratch: add, re-measure by lesion key, values at follow-ups, sign', async () => {
  const { users, auth } = await makeUsers(rt.db, [{ username: 'ra', roles: ['reader'] }, { username: 'rb', roles: ['reader'] }, { username: 'ad', roles: ['admin'] }]);
  const svc = new ReviewService({ db: rt.db, verifyPassword: (id, pw) => auth.checkPassword(id, pw) });
  await seedSubject(rt.db, { protocolId: 'P-NOAI', subjectId: 'N1', shiftDays: -4, dates: DATES, lesions: THREE_LESIONS, withAi: false });
  const run = await svc.assign(users.ad!, { studyId: 'P-NOAI', readers: ['ra', 'rb'], capacity: 1, seed: 1 });
  const id = run.cases.find((c) => c.reader === 'ra')!.caseId;
  let v = await svc.openCase(users.ra!, id);
  expect(v.ai).toBeNull();
  expect(v.timepoints.every((t) => t.proposals.length === 0)).toBe(true);
  // two liver targets (20 px and 10 px long at 2.25 mm) and a non-target
  const bl = await svc.saveTimepoint(users.ra!, id, 'BL', {
    version: v.read.version,
    lesions: [
      { decision: 'add', classification: 'target', organ: 'LIVER', longAxis: { p1: { ijk: [20, 20, 5] }, p2: { ijk: [40, 20, 5] } } },
      { decision: 'add', classification: 'target', organ: 'liver', longAxis: { p1: { ijk: [80, 80, 9] }, p2: { ijk: [80, 90, 9] } } },
      { decision: 'add', classification: 'non-target', organ: 'BONE' },
    ],
  });
  expect(bl.timepoint.lesions.map((l) => [l.label, l.reader!.longAxisMm, l.classification])).toEqual([['R01', 45, 'target'], ['R02', 22.5, 'target'], ['R03', null, 'non-target']]);
  // a third liver target is refused by the endpoint engine (RECIST: at most 2 per organ)
  const third = svc.saveTimepoint(users.ra!, id, 'BL', { version: bl.version, lesions: [...Array(3)].map((_, i) => ({ decision: 'add' as const, classification: 'target' as const, organ: 'LIVER', longAxis: { p1: { ijk: [10, 10 + 10 * i, 5] as [number, number, number] }, p2: { ijk: [30, 10 + 10 * i, 5] as [number, number, number] } } })) });
  await expect(third).rejects.toMatchObject({ status: 400, code: 'review.recist' });
  const keys = Object.fromEntries(bl.timepoint.lesions.map((l) => [l.label, l.lesionKey]));
  v = await svc.openCase(users.ra!, id);
  const fu1 = await svc.saveTimepoint(users.ra!, id, 'FU1', {
    version: v.read.version,
    lesions: [
      { decision: 'add', lesionKey: keys.R01, longAxis: { p1: { ijk: [20, 20, 5] }, p2: { ijk: [32, 20, 5] } } },
      { decision: 'add', lesionKey: keys.R02, value: 'TOO_SMALL' },
      { decision: 'add', lesionKey: keys.R03, status: 'PRESENT' },
    ],
  });
  // 45 + 22.5 = 67.5 -> 27 + 5 (too small) = 32: -52.6 % -> PR
  expect(fu1.recist.rows[1]).toMatchObject({ sumMm: 32, targetResponse: 'PR', nonTargetResponse: 'NON-CR/NON-PD', overallResponse: 'PR' });
  const fu2 = await svc.saveTimepoint(users.ra!, id, 'FU2', {
    version: fu1.version,
    lesions: [
      { decision: 'add', lesionKey: keys.R01, value: 'DISAPPEARED' },
      { decision: 'add', lesionKey: keys.R02, value: 'DISAPPEARED' },
      { decision: 'add', lesionKey: keys.R03, status: 'UNEQUIVOCAL_PROGRESSION' },
    ],
  });
  expect(fu2.recist.rows[2]).toMatchObject({ sumMm: 0, targetResponse: 'CR', nonTargetResponse: 'PD', overallResponse: 'PD' });
  const signed = await svc.sign(users.ra!, id, { version: fu2.version, password: PASSWORD, meaning: SIGNATURE_MEANING });
  // a new scan arrives after signing: the worklist says so, and only a correction can add it
  await seedSubject(rt.db, { protocolId: 'P-NOAI', subjectId: 'N1', shiftDays: -4, dates: ['20240801'], lesions: [], withAi: false, timePointIds: ['FU3'] });
  const wl = await svc.worklist(users.ra!);
  expect(wl.cases[0]).toMatchObject({ status: 'signed-new-timepoint', timepoints: 4, saved: 3 });
  await expect(svc.saveTimepoint(users.ra!, id, 'BL', { version: signed.version, lesions: [] })).rejects.toMatchObject({ code: 'review.read-signed' });
  const corr = await svc.startCorrection(users.ra!, id, { version: signed.version, reason: 'new timepoint available' });
  v = await svc.openCase(users.ra!, id);
  expect(v.timepoints.map((t) => t.state)).toEqual(['saved', 'saved', 'saved', 'next']);
  expect(corr.revision).toBe(2);
});
