/**
 * Review fixtures: a subject with imaging timepoints (studies, series, volumes with real geometry) and a tracking run
 * whose AI lesion proposals have the shape the `lesions.track` job writes (see libs/pipeline/src/stages/ai.ts
 * proposalValues), inserted through the repositories. Users through the real AuthService.
 */
import { randomBytes } from 'node:crypto';
import { AuthService, type AuthUser } from '@app/auth';
import { AiRepository, type Db, ImagingRepository } from '@app/db';
import type { Actor } from '@app/review';
import { testConfig } from '../support/services';

export const PASSWORD = 'correct horse battery staple';
export const MODEL = { id: 'ct-lesion-seg', version: '0.1.0', sha256: 'f'.repeat(64) };
/** Volume geometry of every fixture timepoint: 160 x 160 x 24, 2.25 x 2.25 x 5 mm, axial, origin (-180, -180, -60). */
export const DIMS = [160, 160, 24];
export const SPACING = [2.25, 2.25, 5];
export const AFFINE = [2.25, 0, 0, -180, 0, 2.25, 0, -180, 0, 0, 5, -60, 0, 0, 0, 1];
export const ijkToMm = (i: number, j: number, k: number): [number, number, number] => [2.25 * i - 180, 2.25 * j - 180, 5 * k - 60];

export interface FixtureLesion {
  uid: string;
  trackingId: string;
  organ: string;
  nodal: boolean;
  /** Long / short axis (mm) per timepoint; null = not present at that timepoint. */
  long: (number | null)[];
  short: (number | null)[];
  /** Status per timepoint (tracker): 'matched' | 'new' | 'disappeared'. */
  status?: string[];
}

export const addDaysYmd = (ymd: string, n: number) => {
  const d = new Date(Date.UTC(+ymd.slice(0, 4), +ymd.slice(4, 6) - 1, +ymd.slice(6, 8)) + n * 86400000);
  return d.toISOString().slice(0, 10).replace(/-/g, '');
};

/** A subject of `protocolId` with timepoints on the given shifted dates (YYYYMMDD) and a tracking run over them. */
export async function seedSubject(db: Db, o: { protocolId: string; subjectId: string; shiftDays: number; dates: string[]; lesions: FixtureLesion[]; withAi?: boolean; timePointIds?: string[] }) {
  const imaging = new ImagingRepository(db);
  const subject = await imaging.ensureSubject(o.protocolId, o.subjectId, o.shiftDays);
  const tps: { timePointId: string; date: string; volumeId: string; studyUid: string; seriesUid: string }[] = [];
  for (const [v, date] of o.dates.entries()) {
    const timePointId = o.timePointIds?.[v] ?? (v === 0 ? 'BL' : `FU${v}`);
    const tag = randomBytes(6).readUIntBE(0, 6);
    const studyUid = `2.25.${tag}1`;
    const seriesUid = `2.25.${tag}2`;
    const st = await imaging.ensureStudy(subject.id, studyUid, date, timePointId);
    const se = await imaging.ensureSeries(st.id, seriesUid, 'CT', 2);
    await db.updateTable('series').set({ selected: true, instance_count: 24 }).where('id', '=', se.id).execute();
    const vol = await db
      .insertInto('volumes')
      .values({ series_id: se.id, instance_set_sha256: `set-${tag}`, dims: JSON.stringify(DIMS), spacing: JSON.stringify(SPACING), affine: JSON.stringify(AFFINE), flags: '[]', data_key: `vol/${tag}.nrrd`, data_sha256: 'e'.repeat(64), provenance: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow();
    tps.push({ timePointId, date, volumeId: vol.id, studyUid, seriesUid });
  }
  let runId: string | null = null;
  if (o.withAi !== false) {
    const proposals = [];
    for (const [v, tp] of tps.entries())
      for (const l of o.lesions) {
        const present = l.long[v] !== null && l.long[v] !== undefined;
        const existsYet = l.long.slice(0, v + 1).some((x) => x !== null) || l.status?.[v] === 'disappeared';
        if (!existsYet) continue;
        proposals.push({
          kind: 'lesion' as const,
          subjectUuid: subject.id,
          timePointId: tp.timePointId,
          studyDate: tp.date,
          volumeId: tp.volumeId,
          trackingUid: l.uid,
          trackingId: l.trackingId,
          values: {
            trackingUid: l.uid,
            trackingId: l.trackingId,
            status: l.status?.[v] ?? (present ? 'matched' : 'disappeared'),
            present,
            organ: l.organ,
            nodal: l.nodal,
            longAxisMm: present ? l.long[v] : null,
            shortAxisMm: present ? l.short[v] : null,
            measurable: present,
            longAxis: present ? { k: 10, p1Ijk: [60, 70, 10], p2Ijk: [60 + Math.round(l.long[v]! / 2.25), 70, 10], p1Mm: ijkToMm(60, 70, 10), p2Mm: ijkToMm(60 + l.long[v]! / 2.25, 70, 10) } : null,
          },
          provenance: { fixture: true },
        });
      }
    const { run } = await new AiRepository(db).recordRun(
      { runKey: `track:${subject.id}:${randomBytes(4).toString('hex')}`, kind: 'track', subjectUuid: subject.id, inputSha256: 'c'.repeat(64), model: MODEL, outputs: {}, summary: {}, provenance: { fixture: true } },
      proposals,
    );
    runId = run.id;
  }
  return { subject, tps, runId };
}

/** The standard three lesions: a liver and a lung lesion and a node, shrinking over three timepoints. */
export const THREE_LESIONS: FixtureLesion[] = [
  { uid: '2.25.901', trackingId: 'T01 liver', organ: 'LIVER', nodal: false, long: [40, 30, 28], short: [25, 20, 18] },
  { uid: '2.25.902', trackingId: 'T02 lung', organ: 'LUNG', nodal: false, long: [25, 20, 18], short: [15, 12, 11] },
  { uid: '2.25.903', trackingId: 'T03 node', organ: 'LYMPH NODE', nodal: true, long: [24, 20, 17], short: [18, 15, 12] },
];

export const DATES = ['20240105', addDaysYmd('20240105', 49), addDaysYmd('20240105', 98)];

/** Users (real scrypt hashes, low cost) created through the AuthService; their Actor form. */
export async function makeUsers(db: Db, names: { username: string; roles: ('reader' | 'adjudicator' | 'admin' | 'biostatistician')[]; displayName?: string }[]) {
  const auth = new AuthService(db, testConfig({ AUTH_JWT_SECRET: 'x'.repeat(40) }), undefined, { log2N: 10, r: 8, p: 1 });
  const out: Record<string, Actor & AuthUser> = {};
  for (const n of names) {
    const u = await auth.createUser({ username: n.username, displayName: n.displayName ?? `Dr ${n.username}`, password: PASSWORD, roles: n.roles }, { actor: 'test-setup' });
    out[n.username] = { ...u };
  }
  return { auth, users: out };
}
