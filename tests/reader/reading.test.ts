/**
 * @jest-environment ./tests/inference/ort-environment.js
 *
 * The readers' web app end to end in Debian's Chromium (playwright-core), against the real API on PostgreSQL with a
 * phantom CT read by the AI: reader 1 accepts one proposal, edits another by dragging an axis end point, rejects a
 * third, adds a lesion the AI missed and signs; reader 2 (on a 1366 x 768 laptop screen, by keyboard) reads
 * differently and signs; the adjudicator resolves the disagreement. Then the database, the endpoint datasets of the
 * BICR and per-reader inputs, and the audit chain are checked. Screenshots go to test-artifacts/reader/.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { readDataset } from '@app/datasets';
import { createDataCut } from '@app/pipeline';
import { ensureReaderBuilt } from './build';
import { adjudicate, ARTIFACTS, canvasStats, launch, login, newPage, openFirstCase, readerOne, readerTwo, ready } from './flow';
import { buildReaderWorld, type ReaderWorld, USERS } from './world';

// browser globals inside page.evaluate callbacks (compiled without the DOM lib)
declare const window: any;

jest.setTimeout(420000);
let world: ReaderWorld;
let browser: Browser;
const pageErrors: string[] = [];
const shots: string[] = [];

const shooter = (page: Page) => async (name: string) => {
  await page.waitForTimeout(600);
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  shots.push(path);
};

beforeAll(async () => {
  ensureReaderBuilt();
  world = await buildReaderWorld();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await world?.close();
});

const api = async <T>(path: string, username: string, init: RequestInit = {}): Promise<T> => {
  const r = await fetch(`${world.base}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${await world.login(username)}`, ...(init.headers ?? {}) } });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
};

const REASON = 'the new lesion of the other read is not confirmed on the images';
const dist = (a: number[], b: number[]) => Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
let r1: Awaited<ReturnType<typeof readerOne>>;
let r2: Awaited<ReturnType<typeof readerTwo>>;

test('reader 1 accepts, edits (drag), rejects, adds a missed lesion and signs; the CT canvas shows the image with its overlays', async () => {
  const { page, errors } = await newPage(browser);
  await login(page, world.base, USERS.reader1.username);
  r1 = await readerOne(page, shooter(page));
  pageErrors.push(...errors);
  const bl = new Map(r1.baseline.map((l: { label: string }) => [l.label, l]));
  expect(bl.get('T01 liver')).toMatchObject({ decision: 'accept' });
  expect(bl.get('T02 liver')).toMatchObject({ decision: 'edit' });
  expect(bl.get('T03 liver')).toMatchObject({ decision: 'reject' });
  expect(bl.get('New 1')).toMatchObject({ decision: 'add', organ: 'LUNG' });
  // the signature dialog showed the meaning, the printed name and the date and time
  expect(r1.facts.meaning).toBe('I confirm this assessment is my own');
  expect(r1.facts.name).toBe(USERS.reader1.displayName);
  expect(r1.facts.clock).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
  // keyboard: the lung preset on both viewers, and the baseline followed the follow-up's scrolling
  expect(r1.view.info.every((t: string) => /W 1500 L -600/.test(t))).toBe(true);
  expect(r1.view.refZ).toBeCloseTo(r1.view.workZ, 1);

  // the signed case reopens read-only, the manifestation on the page, the CT drawn (pixels, not a blank canvas)
  await ready(page);
  await page.waitForFunction(() => !!(window as any).bicr?.work?.canvas(), null, { timeout: 30000 });
  await page.waitForTimeout(800);
  expect(await page.textContent('.case-side .signature')).toContain(`Signed by ${USERS.reader1.displayName}`);
  expect(await page.isDisabled('#save-timepoint')).toBe(true);
  for (const vp of ['vp-current', 'vp-baseline']) {
    const px = await canvasStats(page, `[data-viewport=${vp}] canvas`);
    expect(px.width).toBeGreaterThan(300);
    expect(px.distinct).toBeGreaterThan(30); // noise and anatomy: many grey levels
    expect(px.nonBlack / (px.width * px.height)).toBeGreaterThan(0.15); // the body, not a black canvas
  }
  // the AI outlines are drawn over the image (SVG paths on the lesion's slice)
  await page.evaluate(() => (window as any).bicr.work.goToLesion((window as any).bicr.draft().find((l: any) => l.label === 'T01 liver').key));
  await page.waitForTimeout(400);
  expect(await page.locator('[data-viewport=vp-current] .ct-contours path').count()).toBeGreaterThan(0);
  await shooter(page)('ct-signed-with-overlays');
  await page.close();
});

test('the slide tab: OpenSeadragon over the blinded pyramid with the AI heatmap, toggled by H; the metrics decided and saved into the read', async () => {
  const { page, errors } = await newPage(browser);
  await login(page, world.base, USERS.reader2.username);
  const caseId = await openFirstCase(page);
  await page.goto(`${world.base}/reader/#/case/${caseId}/slides`);
  await ready(page);
  await page.waitForSelector('#slide-viewer[data-heatmap=on]', { timeout: 30000 });
  await page.waitForFunction(() => (window as any).bicrSlide?.viewer.world.getItemAt(0)?.getFullyLoaded(), null, { timeout: 30000 });
  await page.waitForTimeout(800);
  await shooter(page)('slide-with-heatmap');
  const px = await canvasStats(page, '#slide-viewer .openseadragon-canvas canvas');
  expect(px.distinct).toBeGreaterThan(30);
  // the heatmap covers the slide: its tiled image spans the slide's width in viewport units
  const heat = await page.evaluate(() => {
    const w = (window as any).bicrSlide.viewer.world;
    return { items: w.getItemCount(), width: w.getItemAt(1)?.getBounds().width, opacity: w.getItemAt(1)?.getOpacity() };
  });
  expect(heat.items).toBe(2);
  expect(heat.width).toBeGreaterThan(0.95);
  expect(heat.opacity).toBeGreaterThan(0);
  await page.keyboard.press('H');
  await page.waitForSelector('#slide-viewer[data-heatmap=off]');
  expect(await page.evaluate(() => (window as any).bicrSlide.viewer.world.getItemAt(1).getOpacity())).toBe(0);
  // the AI metrics are shown as proposals (tumour fraction, stromal TILs, cellularity)
  expect(await page.locator('[data-metric]').count()).toBe(3);
  // reader 2 (draft read) accepts the tumour fraction, overrides the TIL % with a reason, marks cellularity not evaluable
  await page.click('[data-metric=tumourFraction] button:has-text("Accept")');
  await page.click('[data-metric=stromalTilPercent] button:has-text("Override")');
  await page.fill('[data-metric=stromalTilPercent] input.value', '35');
  await page.fill('[data-metric=stromalTilPercent] input.reason', 'TILs under-called near the invasive margin');
  await page.click('[data-metric=tumourBedCellularity] button:has-text("Not evaluable")');
  await page.fill('[data-metric=tumourBedCellularity] input.reason', 'no tumour bed on this block');
  await page.click('#save-pathology');
  await page.waitForSelector('#pathology-status:has-text("version")', { timeout: 15000 });
  const cv = await api<{ slides: { slideId: string; ai: { proposalId: string; values: Record<string, number | null> }; assessment: { metrics: { metric: string; decision: string; ai: number | null; reader: number | null; reason: string | null }[] } }[] }>(`/v1/review/cases/${caseId}`, USERS.reader2.username);
  const sl = cv.slides.find((x) => x.slideId === world.slideId)!;
  const m = new Map(sl.assessment.metrics.map((x) => [x.metric, x]));
  expect(m.get('tumourFraction')).toMatchObject({ decision: 'accept', ai: sl.ai.values.tumourFraction, reader: sl.ai.values.tumourFraction });
  expect(m.get('stromalTilPercent')).toMatchObject({ decision: 'override', ai: sl.ai.values.stromalTilPercent, reader: 35, reason: 'TILs under-called near the invasive margin' });
  expect(m.get('tumourBedCellularity')).toMatchObject({ decision: 'not-evaluable', reader: null, reason: 'no tumour bed on this block' });
  // reopened, the saved decisions come back
  await page.reload();
  await ready(page);
  await page.waitForSelector('[data-metric=stromalTilPercent][data-decision=override]', { timeout: 30000 });
  expect(await page.inputValue('[data-metric=stromalTilPercent] input.value')).toBe('35');
  await shooter(page)('slide-metrics-saved');
  pageErrors.push(...errors);
  await page.close();
});

test('reader 2 reads differently on a 1366 x 768 screen by keyboard; a wrong password signs nothing', async () => {
  const { page, errors } = await newPage(browser, { width: 1366, height: 768 });
  await login(page, world.base, USERS.reader2.username);
  r2 = await readerTwo(page, shooter(page));
  pageErrors.push(...errors);
  expect(r2.baseline.map((l: { decision: string }) => l.decision)).toEqual(['accept', 'accept', 'accept']);
  expect(r2.baseline.map((l: { classification: string }) => l.classification)).toEqual(['target', 'target', 'non-target']);
  expect(r2.refused).toMatch(/Wrong password/);
  // nothing fits off-screen at 1366 x 768: the save button and the viewers are within the window
  await page.close();
});

test('the adjudicator sees both reads side by side, picks one with a reason and signs', async () => {
  const { page, errors } = await newPage(browser);
  await login(page, world.base, USERS.adjudicator.username);
  // READ n is the read in slot n (the seeded assignment decides who is 1 and 2): pick reader 2's read
  const slot = async (u: string) => (await world.rt.db.selectFrom('review_cases').innerJoin('users', 'users.id', 'review_cases.reader_id').select('review_cases.slot').where('users.username', '=', u).executeTakeFirstOrThrow()).slot as 1 | 2;
  const s1 = await slot(USERS.reader1.username);
  const s2 = await slot(USERS.reader2.username);
  const a = await adjudicate(page, REASON, s2, shooter(page));
  pageErrors.push(...errors);
  expect(a.facts.name).toBe(USERS.adjudicator.displayName);
  expect(await page.textContent('#adjudication-decision')).toContain(`Decided: READ ${s2}`);
  // each read's measurements are on its own viewer (reader 1's new lesion R02 only on reader 1's)
  const labels: string[] = await page.evaluate(() => (window as any).bicrAdj.cols.map((c: any) => c.viewer.labels().join('|')));
  expect(labels[s1 - 1]).toMatch(/R02/);
  expect(labels[s2 - 1]).not.toMatch(/R02/);
  await shooter(page)('adjudication-decided');
  await page.close();
});

test('the database holds what the readers did: AI and reader values per lesion, signatures, the adjudication', async () => {
  const db = world.rt.db;
  const cases = await db.selectFrom('review_cases').innerJoin('users', 'users.id', 'review_cases.reader_id').select(['review_cases.id', 'review_cases.slot', 'users.username']).where('review_cases.status', '=', 'active').execute();
  const slotOf = (u: string) => cases.find((c) => c.username === u)!.slot;
  const reads = await db.selectFrom('review_reads').selectAll().execute();
  expect(reads.map((r) => r.status).sort()).toEqual(['signed', 'signed']);
  const read1 = reads.find((r) => r.case_id === cases.find((c) => c.username === USERS.reader1.username)!.id)!;
  const tps = await db.selectFrom('review_timepoints').select(['ordinal', 'assessment']).where('read_id', '=', read1.id).orderBy('ordinal').execute();
  type L = { label: string; decision: string; reason: string | null; organ: string; classification: string | null; ai: { longAxisMm: number | null; proposalId: string } | null; reader: { longAxisMm: number | null; longAxis: { p1Mm: number[]; p2Mm: number[]; lengthMm: number } | null; from: string; value: string | null } | null };
  const bl = new Map(((tps[0]!.assessment as { lesions: L[] }).lesions).map((l) => [l.label, l]));
  const proposals = await db.selectFrom('ai_proposals').select(['id', 'values']).execute();
  const aiOf = (id: string) => proposals.find((p) => p.id === id)!.values as { longAxisMm: number };
  // accepted: the reader's value is the AI's
  const t01 = bl.get('T01 liver')!;
  expect(t01).toMatchObject({ decision: 'accept', reader: { from: 'ai', longAxisMm: aiOf(t01.ai!.proposalId).longAxisMm } });
  // edited: the AI value kept beside the reader's, whose length is the distance between the dragged end points, as the
  // page showed it, and as Cornerstone's Bidirectional tool measured it in the browser (its own computation)
  const t02 = bl.get('T02 liver')!;
  expect(t02.decision).toBe('edit');
  expect(t02.ai!.longAxisMm).toBe(aiOf(t02.ai!.proposalId).longAxisMm);
  expect(t02.reader!.from).toBe('reader');
  expect(t02.reader!.longAxisMm).toBeCloseTo(dist(t02.reader!.longAxis!.p1Mm, t02.reader!.longAxis!.p2Mm), 1);
  const shown = r1.baseline.find((l: { label: string }) => l.label === 'T02 liver')!.longMm;
  expect(Math.abs(t02.reader!.longAxisMm! - shown)).toBeLessThanOrEqual(0.1);
  expect(r1.toolStats).not.toBeNull();
  expect(t02.reader!.longAxisMm!).toBeCloseTo(r1.toolStats!.length, 1);
  expect(Math.abs(t02.reader!.longAxisMm! - t02.ai!.longAxisMm!)).toBeGreaterThan(1);
  expect(bl.get('T03 liver')).toMatchObject({ decision: 'reject', reason: 'not a lesion: vessel' });
  expect(bl.get('R01')).toMatchObject({ decision: 'add', organ: 'LUNG', classification: 'target', ai: null, reader: { from: 'reader' } });
  const fu = new Map(((tps[1]!.assessment as { lesions: L[] }).lesions).map((l) => [l.label, l]));
  expect(fu.get('R01')!.reader!.value).toBe('DISAPPEARED');
  expect(fu.get('R02')).toMatchObject({ decision: 'add', classification: 'new' });
  // three Part 11 signatures with the printed names; the adjudication selected READ 2 (reader 2's slot) with its reason
  const sigs = await db.selectFrom('review_signatures').select(['entity_type', 'printed_name', 'meaning', 'content_sha256']).execute();
  expect(sigs.map((s) => `${s.entity_type}:${s.printed_name}`).sort()).toEqual([`adjudication:${USERS.adjudicator.displayName}`, `read:${USERS.reader1.displayName}`, `read:${USERS.reader2.displayName}`].sort());
  expect(sigs.every((s) => s.meaning === 'I confirm this assessment is my own' && /^[0-9a-f]{64}$/.test(s.content_sha256))).toBe(true);
  const adj = await db.selectFrom('review_adjudications').selectAll().execute();
  expect(adj).toHaveLength(1);
  expect(adj[0]).toMatchObject({ status: 'decided', reason: REASON });
  // READ n is the reader in slot n: the adjudicator picked reader 2's read
  expect(adj[0]!.selected_slot).toBe(slotOf(USERS.reader2.username));
});

const csvRows = (bytes: Buffer, name: string) => {
  const ds = readDataset(bytes, `${name}.csv`, { name });
  return ds.rows.map((r) => Object.fromEntries(ds.columns.map((c, i) => [c.name, r[i]])));
};

test('the endpoint datasets name the reader, the adjudicator and the selection, with the selected read’s values', async () => {
  const db = world.rt.db;
  const slot = async (u: string) => (await db.selectFrom('review_cases').innerJoin('users', 'users.id', 'review_cases.reader_id').select('review_cases.slot').where('users.username', '=', u).executeTakeFirstOrThrow()).slot;
  const s1 = await slot(USERS.reader1.username);
  const s2 = await slot(USERS.reader2.username);
  const selected = (await db.selectFrom('review_adjudications').select('selected_slot').executeTakeFirstOrThrow()).selected_slot;
  const bicrReader = selected === s2 ? USERS.reader2.username : USERS.reader1.username;
  const cutOf = async (studyId: string) => {
    const c = await createDataCut(world.rt, { studyId, cutoffDate: '2099-01-01', blinded: true, createdBy: 'test', formats: ['csv'] });
    return async (name: string) => csvRows(await world.rt.store.getBuffer(`${c.cut.prefix}/${c.manifest.files.find((f) => f.dataset === name && f.format === 'csv')!.path}`), name);
  };
  const bicr = await cutOf(`${world.studyId}.BICR`);
  const rs = await bicr('RS');
  expect(rs.length).toBeGreaterThan(0);
  for (const r of rs) expect(r).toMatchObject({ RSEVAL: 'INDEPENDENT ASSESSOR', RSEVALID: `RADIOLOGIST ${selected}`, READER: bicrReader, ADJUDID: USERS.adjudicator.username, BICRSEL: `ADJUDICATION: RADIOLOGIST ${selected} SELECTED` });
  // the selected read (reader 2): T01 + T02 targets; at FU1 the sum fell by >= 30 % (hand-checked from the AI's
  // lengths, rounded to 0.1 mm as RECIST sums are): PR, no new lesion
  const props = (await db.selectFrom('ai_proposals').select(['time_point_id', 'tracking_id', 'values']).where('kind', '=', 'lesion').execute()).map((p) => ({ tp: p.time_point_id!, id: p.tracking_id!, L: Math.round((p.values as { longAxisMm: number }).longAxisMm * 10) / 10 }));
  const tpsSorted = [...new Set(props.map((p) => p.tp))].sort();
  const sum = (tp: string) => props.filter((p) => p.tp === tp && (p.id === 'T01 liver' || p.id === 'T02 liver')).reduce((s, p) => s + p.L, 0);
  expect((sum(tpsSorted[1]!) - sum(tpsSorted[0]!)) / sum(tpsSorted[0]!)).toBeLessThanOrEqual(-0.3);
  expect(rs.filter((r) => r.RSTESTCD === 'OVRLRESP').map((r) => r.RSSTRESC)).toEqual(['PR']);
  expect(rs.filter((r) => r.RSTESTCD === 'TRGRESP').map((r) => r.RSSTRESC)).toEqual(['PR']);
  // the target diameters are the AI's lengths reader 2 accepted (0.1 mm), at each visit
  const tr = await bicr('TR');
  for (const [i, tp] of tpsSorted.entries())
    for (const id of ['T01 liver', 'T02 liver']) {
      const row = tr.filter((r) => r.TRLNKID === id && r.TRTESTCD === 'LDIAM')[i];
      expect(Number(row?.TRSTRESN)).toBe(props.find((p) => p.tp === tp && p.id === id)!.L);
    }
  // reader 1's own read (per-reader input): a new lesion at FU1 is progression; the edited length is the signed one
  const own = await cutOf(`${world.studyId}.READER-${USERS.reader1.username}`);
  const rs1 = await own('RS');
  expect(rs1.filter((r) => r.RSTESTCD === 'OVRLRESP').map((r) => r.RSSTRESC)).toEqual(['PD']);
  expect(rs1.every((r) => r.READER === USERS.reader1.username && r.RSEVALID === `RADIOLOGIST ${s1}`)).toBe(true);
  const tr1 = await own('TR');
  const t02 = tr1.find((r) => r.TRLNKID === 'T02 liver' && r.VISIT === 'BASELINE' && r.TRTESTCD !== 'SUMDIAM');
  expect(Number(t02!.TRSTRESN)).toBeCloseTo(r1.baseline.find((l: { label: string }) => l.label === 'T02 liver')!.longMm, 0);
  expect(s1).not.toBe(s2);
});

test('the audit chain is intact and records logins, views, every decision with AI and reader values, signatures', async () => {
  const v = await api<{ ok: boolean; entries?: number }>('/v1/audit/verify', USERS.admin.username);
  expect(v.ok).toBe(true);
  const rows = await world.rt.db.selectFrom('audit_log').select(['action', 'actor', 'before', 'after']).orderBy('seq').execute();
  const actions = rows.map((r) => r.action);
  for (const a of ['case.view', 'proposal.shown', 'lesion.accept', 'lesion.edit', 'lesion.reject', 'lesion.add', 'timepoint.save', 'read.sign', 'read.sign.refused', 'adjudication.view', 'adjudication.sign']) expect(actions).toContain(a);
  expect(actions.filter((a) => a === 'read.sign')).toHaveLength(2);
  expect(rows.some((r) => /login/.test(r.action) && r.actor === USERS.reader2.username)).toBe(true);
  // the edit: what the AI proposed (before) and what the reader saved (after)
  const edit = rows.find((r) => r.action === 'lesion.edit' && r.actor === USERS.reader1.username)!;
  expect(JSON.stringify(edit.before)).toMatch(/longAxisMm/);
  expect(JSON.stringify(edit.after)).toMatch(/longAxisMm/);
});

test('screenshots were written and the pages raised no script error', () => {
  for (const name of ['reader1-baseline', 'reader1-followup', 'ct-signed-with-overlays', 'slide-with-heatmap', 'slide-metrics-saved', 'reader2-followup-1366x768', 'adjudication', 'adjudication-decided']) {
    const p = join(ARTIFACTS, `${name}.png`);
    expect(existsSync(p)).toBe(true);
    expect(statSync(p).size).toBeGreaterThan(20000);
  }
  expect(pageErrors).toEqual([]);
});
