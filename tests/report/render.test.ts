/**
 * The report as a statistician opens it: Chromium (playwright-core, /usr/bin/chromium, headless) renders report.html
 * from disk; full-page screenshots go to test-artifacts/report/ (git-ignored) for a person to look at. The test checks
 * the page is not blank, every plot is drawn at a readable size, the tables are there, nothing is fetched from the
 * network and no error is logged.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '@app/core';
import { deriveEndpointDatasets, latestDate, readDatasets, resolveSettings, simulateTrial } from '@app/endpoints';
import { buildCutReport } from '@app/report';

jest.setTimeout(180000);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ART = join(repoRoot(), 'test-artifacts', 'report');
let browser: Browser;
let dir: string;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  dir = mkdtempSync(join(tmpdir(), 'report-render-'));
  mkdirSync(ART, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

test.each([false, true])('the report renders in Chromium (blinded = %s): not blank, every plot drawn, no network, no error', async (blinded) => {
  const study = simulateTrial({ subjects: 200, visits: 8, seed: 42, readers: true });
  const cutoff = latestDate(study);
  study.dataCutDate = cutoff;
  const s = resolveSettings({});
  const ds = new Map([...deriveEndpointDatasets(study, s, { blinded }).datasets, ...readDatasets(study, s).datasets].map((d) => [d.name, d]));
  const rep = await buildCutReport({ cutId: `RENDER-${blinded ? 'B' : 'U'}`, studyId: 'SIM-001', cutoffDate: cutoff, blinded, manifestSha256: '0'.repeat(64), cutCodeVersion: 'test' }, ds, { codeVersion: 'test', png: false });
  const html = join(dir, `report-${blinded ? 'blinded' : 'unblinded'}.html`);
  writeFileSync(html, rep.files.find((f) => f.path === 'report.html')!.bytes);

  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => !r.url().startsWith('file:') && requests.push(r.url()));
  await page.goto(`file://${html}`);
  const shot = join(ART, `report-${blinded ? 'blinded' : 'unblinded'}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  const figures = await page.$$eval('figure svg', (els) => els.map((e) => { const r = e.getBoundingClientRect(); return { w: r.width, h: r.height }; }));
  const tables = await page.$$eval('table.stats', (els) => els.length);
  const headline = await page.$$eval('.key div', (els) => els.map((e) => e.textContent ?? ''));
  await page.close();

  expect(errors).toEqual([]);
  expect(requests).toEqual([]);
  expect(figures.length).toBe(rep.plots.length);
  for (const f of figures) {
    expect(f.w).toBeGreaterThan(400);
    expect(f.h).toBeGreaterThan(150);
  }
  expect(tables).toBeGreaterThanOrEqual(blinded ? 7 : 8);
  expect(headline.some((h) => /Median PFS/.test(h))).toBe(true);
  // not blank: a tall page with ink in it (dark pixels) and colour (plot marks), not one flat colour
  const img = sharp(shot);
  const meta = await img.metadata();
  expect(meta.height!).toBeGreaterThan(4000);
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  let dark = 0;
  let coloured = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    if (r + g + b < 200) dark++;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
  }
  const n = data.length / info.channels;
  expect(dark / n).toBeGreaterThan(0.005);
  expect(coloured / n).toBeGreaterThan(0.005);
});
