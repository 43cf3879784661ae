/**
 * What the readers and the adjudicator do in the browser, step by step (used by tests/reader/*.test.ts). Every step
 * goes through the page as a user would: clicks, keys, mouse drags on the CT canvas.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { repoRoot } from '@app/core';
import { PASSWORD } from './world';

// browser globals inside page.evaluate / waitForFunction callbacks (this file is compiled without the DOM lib)
declare const window: any;
declare const document: any;
declare const location: any;
type HTMLCanvasElement = any;

export const ARTIFACTS = join(repoRoot(), 'test-artifacts/reader');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  // software WebGL (SwiftShader) so Cornerstone renders the same on machines without a GPU
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-dev-shm-usage'] });
}

export async function newPage(browser: Browser, size: { width: number; height: number } = { width: 1920, height: 1080 }): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: size });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/favicon|status of 40[34]/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  return { page, errors };
}

export const ready = (page: Page, timeout = 60000) => page.waitForSelector('body[data-ready=true]', { timeout });

export async function login(page: Page, base: string, username: string, password = PASSWORD): Promise<void> {
  await page.goto(`${base}/reader/`);
  await page.waitForSelector('#username');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('form.login button[type=submit]');
  await ready(page);
}

export const card = (label: string) => `.lesion-card[data-label="${label}"]`;

/**
 * Waits up to 20 s for a state the page reaches on its own frames or timers, then goes on either way: on a loaded
 * box that can take well over any fixed pause, and the test's own assertions still fail when the state never comes.
 */
export async function settled(page: Page, state: () => boolean): Promise<void> {
  await page.waitForFunction(state, null, { timeout: 20000 }).catch(() => undefined);
}

export async function decide(page: Page, label: string, decision: 'accept' | 'edit' | 'reject', reason?: string): Promise<void> {
  await page.click(`${card(label)} button[data-decision=${decision}]`);
  if (reason) await page.fill(`${card(label)} input.reason`, reason);
}

/** Drag one axis end point (0/1 long, 2/3 short) of a lesion by (dx, dy) screen pixels. */
export async function dragHandle(page: Page, label: string, handle: number, dx: number, dy: number): Promise<void> {
  const p = await page.evaluate(([l, i]) => (window as any).bicr.handlePage(l, i), [label, handle] as const);
  if (!p) throw new Error(`no handle ${handle} for ${label}`);
  await page.mouse.move(p[0], p[1]);
  await page.waitForTimeout(100);
  await page.mouse.down();
  await page.mouse.move(p[0] + dx / 2, p[1] + dy / 2, { steps: 4 });
  await page.mouse.move(p[0] + dx, p[1] + dy, { steps: 4 });
  await page.mouse.up();
  await page.waitForTimeout(200);
}

/** Draw a new lesion's long axis from a to b (page offsets from the centre of the working viewer). */
export async function drawLesion(page: Page, a: [number, number], b: [number, number]): Promise<void> {
  await page.click('#add-lesion');
  const box = (await page.locator('[data-viewport=vp-current] .ct-stage').boundingBox())!;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx + a[0], cy + a[1]);
  await page.mouse.down();
  await page.mouse.move(cx + (a[0] + b[0]) / 2, cy + (a[1] + b[1]) / 2, { steps: 5 });
  await page.mouse.move(cx + b[0], cy + b[1], { steps: 5 });
  await page.mouse.up();
  await page.waitForTimeout(300);
}

/** Save the timepoint shown and wait for the next page (the next timepoint, or the same one when it was the last). */
export async function saveTimepoint(page: Page): Promise<void> {
  await page.evaluate(() => document.querySelectorAll('#toasts .toast').forEach((t: any) => t.remove()));
  await page.click('#save-timepoint');
  // a save re-renders the case (data-ready goes false, then true), or a refusal shows an error toast
  const outcome = await page.waitForFunction(() => (document.querySelector('.toast-error')?.textContent ?? '') || (document.querySelector('.toast-ok') ? 'ok' : ''), null, { timeout: 30000 });
  const text = String(await outcome.jsonValue());
  if (text !== 'ok') throw new Error(`save refused: ${text}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' && !!(window as any).bicr?.work && document.querySelector('#save-state')?.textContent === '', null, { timeout: 60000 });
}

export async function sign(page: Page, buttonSelector: string, password = PASSWORD): Promise<{ meaning: string; name: string; clock: string }> {
  await page.click(buttonSelector);
  await page.waitForSelector('#sign-password');
  const facts = { meaning: (await page.textContent('#sign-meaning')) ?? '', name: (await page.textContent('#sign-name')) ?? '', clock: (await page.textContent('#sign-clock')) ?? '' };
  await page.fill('#sign-password', password);
  await page.click('#sign-submit');
  return facts;
}

/** Whether a canvas shows an image: enough distinct grey levels and not all black. */
export async function canvasStats(page: Page, selector: string): Promise<{ width: number; height: number; distinct: number; nonBlack: number; mean: number }> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement | null;
    if (!c) return { width: 0, height: 0, distinct: 0, nonBlack: 0, mean: 0 };
    // WebGL canvases are read back through a 2D copy (drawImage reads the current frame)
    const copy = document.createElement('canvas');
    copy.width = c.width;
    copy.height = c.height;
    const ctx = copy.getContext('2d')!;
    ctx.drawImage(c, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    let nonBlack = 0;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i]! + d[i + 1]! + d[i + 2]!) / 3;
      seen.add(Math.round(v));
      if (v > 8) nonBlack++;
      sum += v;
    }
    return { width: c.width, height: c.height, distinct: seen.size, nonBlack, mean: sum / (d.length / 4) };
  }, selector);
}

/** Open the reader's next case from the worklist. */
export async function openFirstCase(page: Page): Promise<string> {
  await page.click('#cases a.btn');
  await ready(page);
  await page.waitForFunction(() => !!(window as any).bicr?.work, null, { timeout: 30000 });
  return page.evaluate(() => location.hash.split('/')[2]!);
}

const draftOf = (page: Page) => page.evaluate(() => (window as any).bicr.draft().map((l: any) => ({ label: l.label, decision: l.decision, classification: l.classification, longMm: l.longMm, shortMm: l.shortMm, organ: l.organ })));

/**
 * Reader 1: baseline: accepts T01, edits T02 (drags a long-axis end point), rejects T03 (vessel), adds a lung lesion
 * the AI missed; follow-up: accepts T01 and T02, rejects T03 again, calls the added lesion disappeared and adds a
 * new lesion (progression); signs.
 */
export async function readerOne(page: Page, shot?: (name: string) => Promise<void>) {
  const caseId = await openFirstCase(page);
  await decide(page, 'T01 liver', 'accept');
  await decide(page, 'T02 liver', 'edit');
  await page.waitForTimeout(300);
  await dragHandle(page, 'T02 liver', 1, 14, 7);
  // Cornerstone measures the dragged axes on a throttle: until its length is the one the draft holds
  await settled(page, () => {
    const b = (window as any).bicr;
    const s = b.toolStats('T02 liver');
    const l = b.draft().find((x: any) => x.label === 'T02 liver');
    return !!s && !!l && Math.abs(s.length - l.longMm) < 0.05;
  });
  const toolStats = await page.evaluate(() => (window as any).bicr.toolStats('T02 liver'));
  await decide(page, 'T03 liver', 'reject', 'not a lesion: vessel');
  await drawLesion(page, [150, -60], [190, -30]);
  await page.selectOption(`${card('New 1')} select.organ-select`, 'LUNG');
  const baseline = await draftOf(page);
  await shot?.('reader1-baseline');
  await saveTimepoint(page);
  await page.waitForFunction(() => !!(window as any).bicr?.ref, null, { timeout: 30000 });
  // keyboard: the lung window on both viewers, three slices down, baseline following (synchronised scrolling)
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press('2');
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowDown');
  // both viewers re-render on their own frames: until both show the lung window and the baseline has followed
  await settled(page, () => {
    const b = (window as any).bicr;
    const info = [...document.querySelectorAll('.ct-info')].map((e: any) => e.textContent as string);
    return info.length === 2 && info.every((t) => /W 1500 L -600/.test(t)) && b.ref.currentZ !== undefined && Math.abs(b.ref.currentZ - b.work.currentZ) < 0.05;
  });
  const view = await page.evaluate(() => {
    const b = (window as any).bicr;
    return { workZ: b.work.currentZ, refZ: b.ref.currentZ, info: [...document.querySelectorAll('.ct-info')].map((e: any) => e.textContent) };
  });
  await page.keyboard.press('1');
  await decide(page, 'T01 liver', 'accept');
  await decide(page, 'T02 liver', 'accept');
  await decide(page, 'T03 liver', 'reject', 'rejected at baseline: vessel');
  await page.click(`${card('R01')} button:has-text("disappeared")`);
  await drawLesion(page, [-120, 90], [-95, 110]);
  await page.selectOption(`${card('New 1')} select.organ-select`, 'LIVER');
  const followUp = await draftOf(page);
  await shot?.('reader1-followup');
  await saveTimepoint(page);
  const facts = await sign(page, '#sign-read');
  await page.waitForSelector('#sign-done', { timeout: 30000 });
  await shot?.('reader1-signed');
  await page.click('#sign-done');
  await ready(page);
  return { caseId, baseline, followUp, facts, view, toolStats };
}

/**
 * Reader 2, by keyboard: J selects the next lesion, A accepts it, Ctrl+S saves (T01, T02 targets; T03 a non-target,
 * 2 targets per organ), at both timepoints; a wrong password is refused at signing, then the right one signs.
 */
export async function readerTwo(page: Page, shot?: (name: string) => Promise<void>) {
  const caseId = await openFirstCase(page);
  const keys = async () => {
    await page.evaluate(() => document.activeElement?.blur()); // keys go to the page, not a field
    await page.keyboard.press('A');
    for (let i = 0; i < 2; i++) {
      await page.keyboard.press('J');
      await page.keyboard.press('A');
    }
  };
  await keys();
  const baseline = await draftOf(page);
  await saveByKey(page);
  await page.waitForFunction(() => !!(window as any).bicr?.ref, null, { timeout: 30000 });
  await keys();
  const followUp = await draftOf(page);
  await shot?.('reader2-followup-1366x768');
  await saveByKey(page);
  await page.click('#sign-read');
  await page.waitForSelector('#sign-password');
  await page.fill('#sign-password', 'not my password');
  await page.click('#sign-submit');
  await page.waitForFunction(() => /Wrong password/.test(document.querySelector('.sign-dialog .form-error')?.textContent ?? ''), null, { timeout: 15000 });
  const refused = (await page.textContent('.sign-dialog .form-error')) ?? '';
  await page.fill('#sign-password', PASSWORD);
  await page.click('#sign-submit');
  await page.waitForSelector('#sign-done', { timeout: 30000 });
  await page.click('#sign-done');
  await ready(page);
  return { caseId, baseline, followUp, refused };
}

async function saveByKey(page: Page): Promise<void> {
  await page.evaluate(() => document.querySelectorAll('#toasts .toast').forEach((t: any) => t.remove()));
  await page.keyboard.press('Control+S');
  const outcome = await page.waitForFunction(() => (document.querySelector('.toast-error')?.textContent ?? '') || (document.querySelector('.toast-ok') ? 'ok' : ''), null, { timeout: 30000 });
  const text = String(await outcome.jsonValue());
  if (text !== 'ok') throw new Error(`save refused: ${text}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' && !!(window as any).bicr?.work && document.querySelector('#save-state')?.textContent === '', null, { timeout: 60000 });
}

/** The adjudicator opens the task, selects READ `pick` with a reason and signs. */
export async function adjudicate(page: Page, reason: string, pick: 1 | 2, shot?: (name: string) => Promise<void>) {
  await page.click('#adjudications a.btn');
  await ready(page);
  await page.waitForFunction(() => !!(window as any).bicrAdj, null, { timeout: 30000 });
  await page.waitForTimeout(500);
  await shot?.('adjudication');
  await page.check(`input[name=pick][value="${pick}"]`);
  await page.fill('#adjudication-reason', reason);
  const facts = await sign(page, '#adjudication-sign');
  await page.waitForSelector('#sign-done', { timeout: 30000 });
  await page.click('#sign-done');
  await ready(page);
  return { id: await page.evaluate(() => location.hash.split('/')[2]!), facts };
}
