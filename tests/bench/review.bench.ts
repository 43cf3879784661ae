/**
 * Benchmark: the reading service under 100 concurrent readers (issue 12, Benchmark).
 *
 * Setup (PostgreSQL at TEST_DATABASE_URL / DATABASE_URL / postgres://postgres@127.0.0.1:5432/test; a database of its
 * own, created and dropped): 100 readers and an admin (real scrypt hashes), SUBJECTS subjects with a baseline and a
 * follow-up CT each. The CT series are the phantom's (@app/phantom, 512 x 512, SLICES slices, 16-bit) put through the
 * real de-identification (@app/deid, one UID secret per subject, so every subject's instances are distinct bytes) and
 * indexed as the DICOM stage does (studies, series, instances with their de-identified headers, a volume row per
 * series); each subject gets a lesion tracking run with 3 AI proposals per timepoint. The review workflow assigns every
 * subject to 2 of the 100 readers (seeded). Then the API runs as its own process (`node dist/apps/api/src/main.js`,
 * loopback), the bench process logs every reader in and drives it:
 *
 * - worklist: autocannon, 100 connections (one per reader, each with its own token), GET /v1/review/worklist for
 *   DURATION_S seconds; p50 / p95 / p99 over every response time (recorded per response, not autocannon's histogram
 *   buckets). Twice: paced, each reader independently asking BENCH_WORKLIST_RATE times a second (default 1, i.e.
 *   ~100 requests/s from 100 readers at random phases: the `worklist_*` figures), and back to back with no pause
 *   (closed loop, 100 requests always in flight: `worklist_saturated_*`, the throughput limit; its latency is
 *   ~100 / throughput by construction);
 * - case open (time to the first slice's frames): GET /v1/review/cases/:id (JSON; audits case.view and
 *   proposal.shown, creates the draft on first open) -> WADO-RS metadata of the baseline series (what a viewer asks
 *   first) -> WADO-RS frames of its first slice (multipart, uncompressed), always on a case never opened before (cold).
 *   `case_open_ms` / `_p95_ms`: BENCH_LOADED_OPENS (30) readers open a case one after another while all 100 readers'
 *   worklists run paced in the background; `case_open_single_ms`: one reader on an idle server; `case_open_burst_*`:
 *   every reader opens a case at the same instant (a worst case: 100 x 16 instances' metadata at once);
 * - case API under load: each reader re-opening its first case (GET case JSON; audits case.view each time) for
 *   DURATION_S seconds, paced like the worklist (`case_api_*`) and back to back (`case_api_saturated_*`).
 *
 * Run: npm run bench:review   Ends with ONE JSON line. Env: BENCH_SUBJECTS (default 250), BENCH_SLICES (16),
 * BENCH_DURATION_S (15), BENCH_READERS (100), BENCH_WORKLIST_RATE (1), BENCH_API_NODE_ARGS (e.g. --cpu-prof), BENCH_KEEP_DB=1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import { AuthService } from '@app/auth';
import { loadConfig, repoRoot, sha256Hex } from '@app/core';
import { AiRepository, ImagingRepository } from '@app/db';
import { buildVolume, parseDicom } from '@app/dicom';
import { deidentify } from '@app/deid';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime } from '@app/pipeline';
import { ReviewService } from '@app/review';
import { createTempDatabase, quietLog } from '../support/services';

const READERS = Number(process.env.BENCH_READERS ?? 100);
const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 250);
const SLICES = Number(process.env.BENCH_SLICES ?? 16);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
/** Requests per second per reader in the paced runs (1: a worklist refresh / case open every second, far above a human's pace). */
const RATE = Number(process.env.BENCH_WORKLIST_RATE ?? 1);
/** Cold case opens measured one after another while every reader works (the `case_open_*` figures). */
const LOADED_OPENS = Number(process.env.BENCH_LOADED_OPENS ?? 30);
const SIZE = 512;
const STUDY = 'BENCH-BICR';
const PASSWORD = 'bench reader password 2024';
const ROOT = join(repoRoot(), '.bench', 'review');
const TEMPLATE = join(ROOT, `template-${SIZE}x${SLICES}`);
const DATA = join(ROOT, 'data');
const log = (s: string) => process.stderr.write(`bench:review: ${s}\n`);

const pct = (xs: number[], p: number) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  // nearest rank
  return Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! * 100) / 100;
};
const freePort = () =>
  new Promise<number>((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });

/** The phantom's baseline and follow-up series (once, cached under .bench/review). */
async function templates(): Promise<{ visit: number; files: Buffer[] }[]> {
  const done = join(TEMPLATE, '.complete');
  if (!existsSync(done)) {
    rmSync(TEMPLATE, { recursive: true, force: true });
    const r = await generatePhantomStudy({ outDir: TEMPLATE, subjects: 1, visits: 2, rows: SIZE, cols: SIZE, slices: SLICES, seed: 12, bitsStored: 16 });
    writeFileSync(join(TEMPLATE, 'files.json'), JSON.stringify(r.files));
    writeFileSync(done, new Date().toISOString());
  }
  const files = JSON.parse(readFileSync(join(TEMPLATE, 'files.json'), 'utf8')) as { path: string; visitIndex: number; instanceNumber: number }[];
  return [0, 1].map((v) => ({ visit: v, files: files.filter((f) => f.visitIndex === v).sort((a, b) => a.instanceNumber - b.instanceNumber).map((f) => readFileSync(f.path)) }));
}

async function seed(dbUrl: string) {
  rmSync(DATA, { recursive: true, force: true });
  mkdirSync(DATA, { recursive: true });
  const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL: dbUrl, DATA_DIR: DATA, LOG_LEVEL: 'warn' };
  delete env.REDIS_URL; // in-process runner and a local store: the bench measures the API, not the queue
  delete env.S3_BUCKET;
  const config = loadConfig(env);
  const rt = await createRuntime({ config, log: quietLog() });
  try {
    const t0 = performance.now();
    const auth = new AuthService(rt.db, rt.config);
    const readers: { id: string; username: string }[] = [];
    for (let i = 1; i <= READERS; i++) {
      const u = await auth.createUser({ username: `reader${String(i).padStart(3, '0')}`, displayName: `Dr Reader ${i}`, password: PASSWORD, roles: ['reader'] }, { actor: 'bench' });
      readers.push({ id: u.id, username: u.username });
    }
    const admin = await auth.createUser({ username: 'bench-admin', displayName: 'Bench Admin', password: PASSWORD, roles: ['admin'] }, { actor: 'bench' });
    log(`users: ${READERS} readers + admin in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const tpl = await templates();
    const geo = [];
    for (const t of tpl) {
      const v = await buildVolume(t.files.map((b) => parseDicom(b)));
      geo.push({ dims: v.dims, spacing: v.spacing, affine: v.affine });
    }
    const imaging = new ImagingRepository(rt.db);
    const ai = new AiRepository(rt.db);
    const t1 = performance.now();
    let bytes = 0;
    for (let s = 0; s < SUBJECTS; s++) {
      const subjectId = `B${String(s + 1).padStart(4, '0')}`;
      const shift = -(30 + (s % 300));
      const subject = await imaging.ensureSubject(STUDY, subjectId, shift);
      const secret = `bench-uid-secret-${subjectId}-0123456789`;
      const vols: { volumeId: string; timePointId: string; date: string }[] = [];
      for (const t of tpl) {
        const timePointId = t.visit === 0 ? 'BL' : `FU${t.visit}`;
        let seriesId = '';
        let date = '';
        for (const buf of t.files) {
          const d = deidentify(buf, { protocolId: STUDY, subjectId, readingId: subject.reading_id, timePointId, dateShiftDays: shift, uidSecret: secret, omitSubjectId: true });
          const h = parseDicom(d.bytes, { stopAtPixelData: true }).header;
          const key = `deid/${subject.reading_id}/${h.study.studyInstanceUid}/${h.series.seriesInstanceUid}/${h.instance.sopInstanceUid}.dcm`;
          await rt.store.put(key, d.bytes, { contentType: 'application/dicom' });
          bytes += d.bytes.length;
          const study = await imaging.ensureStudy(subject.id, h.study.studyInstanceUid!, h.study.studyDate ?? null, timePointId);
          const series = await imaging.ensureSeries(study.id, h.series.seriesInstanceUid!, h.series.modality ?? null, h.series.seriesNumber ?? null);
          const obj = await rt.objects.upsertReceived({ bucket: rt.store.bucket, key: `incoming/bench/${subjectId}/${timePointId}/${h.instance.sopInstanceUid}.dcm`, version_id: null, etag: sha256Hex(buf).slice(0, 32), idempotency_key: `bench/${subjectId}/${h.instance.sopInstanceUid}`, size: buf.length, sha256: sha256Hex(buf), kind: 'dicom', reason: null, reason_code: null, processed_at: null });
          await imaging.addInstance({ series_id: series.id, object_id: obj.row.id, sop_instance_uid: h.instance.sopInstanceUid!, sop_class_uid: h.instance.sopClassUid ?? '', instance_number: h.instance.instanceNumber ?? null, transfer_syntax_uid: h.instance.transferSyntaxUid, frames: h.image.numberOfFrames, header: { ...h, patient: {} } as unknown as Record<string, unknown>, deid_key: key, deid_sha256: sha256Hex(d.bytes) });
          seriesId = series.id;
          date = h.study.studyDate ?? '';
        }
        await rt.db.updateTable('series').set({ status: 'volume-built', selected: true, selection_reasons: JSON.stringify(['bench: axial CT']) }).where('id', '=', seriesId).execute();
        const g = geo[t.visit]!;
        const vol = await rt.db
          .insertInto('volumes')
          .values({ series_id: seriesId, instance_set_sha256: sha256Hex(`${seriesId}`), dims: JSON.stringify(g.dims), spacing: JSON.stringify(g.spacing), affine: JSON.stringify(g.affine), flags: '[]', data_key: `volumes/${seriesId}/bench.nrrd`, data_sha256: 'b'.repeat(64), provenance: JSON.stringify({ bench: true }) })
          .returning('id')
          .executeTakeFirstOrThrow();
        vols.push({ volumeId: vol.id, timePointId, date });
      }
      // a tracking run: 3 lesions per timepoint (the shape the lesions.track job writes)
      const lesions = [
        { uid: `2.25.${s}1`, id: 'T01 liver', organ: 'LIVER', nodal: false, long: [42, 31], short: [27, 20] },
        { uid: `2.25.${s}2`, id: 'T02 lung', organ: 'LUNG', nodal: false, long: [24, 19], short: [15, 12] },
        { uid: `2.25.${s}3`, id: 'T03 node', organ: 'LYMPH NODE', nodal: true, long: [25, 21], short: [18, 14] },
      ];
      const g = geo[0]!;
      await ai.recordRun(
        { runKey: `bench-track:${subject.id}`, kind: 'track', subjectUuid: subject.id, inputSha256: sha256Hex(subject.id), model: { id: 'ct-lesion-seg', version: 'bench', sha256: 'c'.repeat(64) }, outputs: {}, summary: {}, provenance: { bench: true } },
        vols.flatMap((v, k) =>
          lesions.map((l, j) => {
            const p1 = [200 + 20 * j, 220, Math.floor(SLICES / 2)];
            const p2 = [p1[0]! + l.long[k]! / g.spacing[0], 220, p1[2]!];
            return {
              kind: 'lesion' as const,
              subjectUuid: subject.id,
              timePointId: v.timePointId,
              studyDate: v.date,
              volumeId: v.volumeId,
              trackingUid: l.uid,
              trackingId: l.id,
              values: { trackingUid: l.uid, trackingId: l.id, status: k === 0 ? 'new' : 'matched', present: true, organ: l.organ, nodal: l.nodal, longAxisMm: l.long[k], shortAxisMm: l.short[k], measurable: true, longAxis: { k: p1[2], p1Ijk: p1, p2Ijk: p2 } },
              provenance: { bench: true },
            };
          }),
        ),
      );
      if ((s + 1) % 50 === 0) log(`subjects: ${s + 1}/${SUBJECTS} (${((performance.now() - t1) / 1000).toFixed(0)} s)`);
    }
    const svc = new ReviewService({ db: rt.db, verifyPassword: async () => false });
    const capacity = Math.ceil((2 * SUBJECTS) / READERS) + 1;
    const run = await svc.assign({ id: admin.id, username: admin.username, displayName: admin.displayName, roles: ['admin'] }, { studyId: STUDY, readers: readers.map((r) => r.username), capacity, seed: 2024 });
    // each reader's cases in worklist order: [0] for the simultaneous opens, [1] for opens under load, [2] idle
    const casesOf = new Map<string, string[]>();
    for (const c of [...run.cases].sort((a, b) => a.order - b.order)) casesOf.set(c.reader, [...(casesOf.get(c.reader) ?? []), c.caseId]);
    const firstCase = new Map([...casesOf].map(([r, cs]) => [r, cs[0]!]));
    // planner statistics, as autovacuum keeps them on a live database (a fresh one has none yet)
    await sql`analyze`.execute(rt.db);
    log(`seeded ${SUBJECTS} subjects x 2 timepoints x ${SLICES} slices (${(bytes / 1e9).toFixed(2)} GB de-identified DICOM), ${run.cases.length} cases in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    return { readers, firstCase, casesOf, cases: run.cases.length };
  } finally {
    await rt.close();
  }
}

async function startApi(dbUrl: string, port: number): Promise<ChildProcess> {
  const env: Record<string, string | undefined> = { ...process.env, DATABASE_URL: dbUrl, DATA_DIR: DATA, PORT: String(port), LOG_LEVEL: 'warn', AUTH_JWT_SECRET: 'bench-review-jwt-secret-0123456789abcdef', AUTH_TOKEN_TTL_S: '3600', AUTH_LOGIN_RATE_PER_MIN: '1000' };
  delete env.REDIS_URL;
  delete env.S3_BUCKET;
  // BENCH_API_NODE_ARGS: extra node flags for the API process (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof to profile it)
  const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(repoRoot(), 'dist', 'apps', 'api', 'src', 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the API exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return child;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > 60_000) throw new Error('the API did not come up within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

type Who = { token: string; path: string };
const summarise = (times: number[], status: Record<string, number>, seconds: number, errors: number, timeouts: number) => ({
  n: times.length,
  rps: Math.round(times.length / seconds),
  p50: pct(times, 50),
  p95: pct(times, 95),
  p99: pct(times, 99),
  max: pct(times, 100),
  status,
  errors,
  timeouts,
  non2xx: Object.entries(status).filter(([k]) => !k.startsWith('2')).reduce((a, [, n]) => a + n, 0),
});

/**
 * Saturation (closed loop): autocannon, one connection per reader (its own token and path), each sending its next
 * request as soon as the previous answer arrives, so all readers always have a request in flight. Every response time
 * is recorded (not autocannon's histogram buckets).
 */
async function saturate(base: string, who: Who[], seconds: number) {
  const times: number[] = [];
  const status: Record<string, number> = {};
  let next = 0;
  const inst = autocannon({
    url: base,
    connections: who.length,
    duration: seconds,
    pipelining: 1,
    setupClient: (client: { setRequests: (r: unknown[]) => void }) => {
      const w = who[next++ % who.length]!;
      client.setRequests([{ method: 'GET', path: w.path, headers: { authorization: `Bearer ${w.token}` } }]);
    },
  } as never);
  (inst as unknown as NodeJS.EventEmitter).on('response', (_c: unknown, code: number, _bytes: number, ms: number) => {
    times.push(ms);
    status[code] = (status[code] ?? 0) + 1;
  });
  const r = (await inst) as unknown as { errors: number; timeouts: number };
  return summarise(times, status, seconds, r.errors, r.timeouts);
}

/**
 * Paced (100 readers working independently): one autocannon instance per reader, one connection, `rate` requests a
 * second (autocannon's connectionRate), each reader starting at a random moment of the first period so the readers'
 * requests are spread over the second instead of arriving as one burst (autocannon paces per 1-second tick).
 */
async function paced(base: string, who: Who[], seconds: number, rate: number) {
  const times: number[] = [];
  const status: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  await Promise.all(
    who.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          setTimeout(() => {
            const inst = autocannon({ url: base, connections: 1, duration: seconds, connectionRate: rate, requests: [{ method: 'GET', path: w.path, headers: { authorization: `Bearer ${w.token}` } }] } as never);
            (inst as unknown as NodeJS.EventEmitter).on('response', (_c: unknown, code: number, _bytes: number, ms: number) => {
              times.push(ms);
              status[code] = (status[code] ?? 0) + 1;
            });
            (inst as unknown as Promise<{ errors: number; timeouts: number }>).then((r) => {
              errors += r.errors;
              timeouts += r.timeouts;
              resolve();
            }, reject);
          }, Math.random() * (1000 / rate));
        }),
    ),
  );
  return summarise(times, status, seconds, errors, timeouts);
}

/** One reader opens a case: case JSON -> WADO-RS metadata of the baseline series -> frames of its first slice. */
async function openCase(base: string, token: string, caseId: string) {
  const h = { authorization: `Bearer ${token}` };
  const t0 = performance.now();
  const r = await fetch(`${base}/v1/review/cases/${caseId}`, { headers: h });
  if (!r.ok) throw new Error(`case ${caseId}: ${r.status} ${await r.text()}`);
  const view = (await r.json()) as { timepoints: { studies: { studyInstanceUid: string; series: { seriesInstanceUid: string; selected: boolean | null }[] }[] }[] };
  const tCase = performance.now();
  const st = view.timepoints[0]!.studies[0]!;
  const se = st.series.find((x) => x.selected) ?? st.series[0]!;
  const url = `${base}/v1/dicomweb/studies/${st.studyInstanceUid}/series/${se.seriesInstanceUid}`;
  const m = await fetch(`${url}/metadata`, { headers: { ...h, accept: 'application/dicom+json' } });
  if (!m.ok) throw new Error(`metadata: ${m.status} ${await m.text()}`);
  const meta = (await m.json()) as Record<string, { Value?: unknown[] }>[];
  // the first slice: lowest InstanceNumber (0020,0013)
  const first = meta.sort((a, b) => Number(a['00200013']?.Value?.[0] ?? 0) - Number(b['00200013']?.Value?.[0] ?? 0))[0]!;
  const sop = first['00080018']!.Value![0] as string;
  const f = await fetch(`${url}/instances/${sop}/frames/1`, { headers: { ...h, accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1' } });
  if (!f.ok) throw new Error(`frames: ${f.status} ${await f.text()}`);
  const body = Buffer.from(await f.arrayBuffer());
  if (body.length < SIZE * SIZE * 2) throw new Error(`frames: ${body.length} bytes, expected at least ${SIZE * SIZE * 2}`);
  const t1 = performance.now();
  return { totalMs: t1 - t0, caseMs: tCase - t0, instances: meta.length, frameBytes: body.length };
}

async function main() {
  const pg = await createTempDatabase();
  let api: ChildProcess | undefined;
  try {
    const s = await seed(pg.url);
    const port = await freePort();
    api = await startApi(pg.url, port);
    const base = `http://127.0.0.1:${port}`;
    const tokens = new Map<string, string>();
    for (const r of s.readers) {
      const l = await fetch(`${base}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: r.username, password: PASSWORD }) });
      if (!l.ok) throw new Error(`login ${r.username}: ${l.status} ${await l.text()}`);
      tokens.set(r.username, ((await l.json()) as { token: string }).token);
    }
    const readers = s.readers.filter((r) => s.firstCase.has(r.username));
    log(`API up on ${base}; ${tokens.size} readers logged in; ${readers.length} with cases`);

    // the worklist (a short warm-up first: connection setup, JIT)
    const wl = readers.map((r) => ({ token: tokens.get(r.username)!, path: '/v1/review/worklist' }));
    const settle = () => new Promise((r) => setTimeout(r, 1500)); // let the previous phase drain before the next
    await paced(base, wl, 3, RATE); // warm-up (JIT, connection pools), not counted
    await settle();
    const worklist = await paced(base, wl, DURATION_S, RATE);
    log(`worklist, ${wl.length} readers x ${RATE}/s: ${JSON.stringify(worklist)}`);
    await settle();
    const saturated = await saturate(base, wl, DURATION_S);
    log(`worklist, ${wl.length} readers back to back (saturation): ${JSON.stringify(saturated)}`);
    const probe = (await (await fetch(`${base}/v1/review/worklist`, { headers: { authorization: `Bearer ${wl[0]!.token}` } })).json()) as { cases: unknown[] };

    await settle();
    // one reader alone, on an idle server: a cold case (third in a worklist), after another cold open warmed the code path
    const third = readers.filter((r) => (s.casesOf.get(r.username) ?? []).length >= 3);
    let single: Awaited<ReturnType<typeof openCase>> | null = null;
    if (third.length >= 2) {
      await openCase(base, tokens.get(third[0]!.username)!, s.casesOf.get(third[0]!.username)![2]!);
      single = await openCase(base, tokens.get(third[1]!.username)!, s.casesOf.get(third[1]!.username)![2]!);
      log(`case open, one reader alone: ${single.totalMs.toFixed(1)} ms (case JSON ${single.caseMs.toFixed(1)} ms, ${single.instances} instances' metadata, ${single.frameBytes} frame bytes)`);
    }
    await settle();

    // cold case opens while every reader keeps working (paced worklist load in the background): LOADED_OPENS readers
    // open a case they never opened (their second), one after another with a pause between
    const second = readers.filter((r) => (s.casesOf.get(r.username) ?? []).length >= 2).slice(0, LOADED_OPENS);
    const background = paced(base, wl, Math.ceil((second.length * 400 + 3000) / 1000), RATE);
    await new Promise((r) => setTimeout(r, 1500));
    const loaded: number[] = [];
    for (const r of second) {
      loaded.push((await openCase(base, tokens.get(r.username)!, s.casesOf.get(r.username)![1]!)).totalMs);
      await new Promise((res) => setTimeout(res, 200));
    }
    const bg = await background;
    log(`case open under load (${loaded.length} cold opens, ${wl.length} readers x ${RATE}/s worklists meanwhile, worklist p95 ${bg.p95} ms): p50 ${pct(loaded, 50)} p95 ${pct(loaded, 95)} ms`);
    await settle();

    // every reader opens their first case at the same moment (cold: the draft is created, caches empty): a worst case
    const t0 = performance.now();
    const opens = await Promise.all(readers.map((r) => openCase(base, tokens.get(r.username)!, s.firstCase.get(r.username)!)));
    const wall = performance.now() - t0;
    const tot = opens.map((o) => o.totalMs);
    const cj = opens.map((o) => o.caseMs);
    log(`case open, ${opens.length} readers at once: p50 ${pct(tot, 50)} p95 ${pct(tot, 95)} p99 ${pct(tot, 99)} ms (case JSON p50 ${pct(cj, 50)} p95 ${pct(cj, 95)}); all done in ${wall.toFixed(0)} ms`);

    // the case JSON under sustained load: every reader re-opening their first case
    const caseWho = readers.map((r) => ({ token: tokens.get(r.username)!, path: `/v1/review/cases/${s.firstCase.get(r.username)}` }));
    await settle();
    const caseApi = await paced(base, caseWho, DURATION_S, RATE);
    log(`case JSON, ${caseWho.length} readers x ${RATE}/s: ${JSON.stringify(caseApi)}`);
    await settle();
    const caseSat = await saturate(base, caseWho, DURATION_S);
    log(`case JSON, ${caseWho.length} readers back to back (saturation): ${JSON.stringify(caseSat)}`);

    const ok = [worklist, saturated, caseApi, caseSat].every((x) => x.non2xx === 0 && x.errors === 0 && x.timeouts === 0);
    console.log(
      JSON.stringify({
        bench: 'review',
        worklist_p50_ms: worklist.p50,
        worklist_p95_ms: worklist.p95,
        worklist_p99_ms: worklist.p99,
        worklist_rps: worklist.rps,
        worklist_requests: worklist.n,
        worklist_rate_per_reader: RATE,
        worklist_saturated_p50_ms: saturated.p50,
        worklist_saturated_p95_ms: saturated.p95,
        worklist_saturated_p99_ms: saturated.p99,
        worklist_saturated_rps: saturated.rps,
        worklist_cases_per_reader: probe.cases.length,
        case_open_ms: pct(loaded, 50),
        case_open_p95_ms: pct(loaded, 95),
        case_open_opens: loaded.length,
        case_open_single_ms: single ? Math.round(single.totalMs * 100) / 100 : null,
        case_open_burst_p50_ms: pct(tot, 50),
        case_open_burst_p95_ms: pct(tot, 95),
        case_open_burst_p99_ms: pct(tot, 99),
        case_open_burst_readers: opens.length,
        case_json_burst_p50_ms: pct(cj, 50),
        case_api_p50_ms: caseApi.p50,
        case_api_p95_ms: caseApi.p95,
        case_api_p99_ms: caseApi.p99,
        case_api_rps: caseApi.rps,
        case_api_saturated_p50_ms: caseSat.p50,
        case_api_saturated_p95_ms: caseSat.p95,
        case_api_saturated_rps: caseSat.rps,
        all_2xx: ok,
        target_worklist_p95_ms: 50,
        meets_target: worklist.p95 !== null && worklist.p95 < 50,
        setup: { readers: READERS, subjects: SUBJECTS, cases: s.cases, timepoints: 2, slices: SLICES, matrix: `${SIZE}x${SIZE}`, durationS: DURATION_S, db: 'postgresql', store: 'local', transport: 'loopback http/1.1 keep-alive', api: 'one node process', cpus: availableParallelism(), cpu: cpus()[0]?.model ?? null, loadavg1: Math.round(loadavg()[0]! * 100) / 100 },
      }),
    );
  } finally {
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api!.once('exit', r));
    }
    // BENCH_KEEP_DB=1 keeps the database for inspection (EXPLAIN ...); its URL goes to stderr
    if (process.env.BENCH_KEEP_DB === '1') log(`kept database ${pg.url}`);
    else await pg.drop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
