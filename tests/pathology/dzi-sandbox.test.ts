/**
 * The libvips Deep Zoom build runs in a sandbox child process (libvips parses the whole untrusted slide file): the
 * same tiles as in-process; a libvips crash on a hostile file kills the child, never this process, and `auto` falls
 * back to the reader path while `libvips` mode refuses the file with an InputError. The crash is real: the sandbox's
 * test-only fault injection aborts the child (SIGABRT, as a native codec abort) when the task payload holds a marker,
 * here bytes of one slide's header (the task carries the file's first 4 KiB to check it opens the same file).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDzi, generateSyntheticSlide, type SyntheticSlide } from '@app/pathology';
import { InputError } from '@app/core';
import { openSlide, type SlideReader } from '@app/wsi';
import { rmDir, tmp } from './helpers';

const dir = tmp('dzi-sandbox');
let good: SyntheticSlide;
let poison: SyntheticSlide;
let goodSlide: SlideReader;
let poisonSlide: SlideReader;

/** 16 bytes of `a`'s first 4 KiB that `b`'s first 4 KiB does not hold. */
function markerOf(a: Buffer, b: Buffer): string {
  for (let i = 0; i + 16 <= a.length; i++) {
    const w = a.subarray(i, i + 16);
    if (new Set(w).size > 6 && b.indexOf(w) < 0) return w.toString('hex');
  }
  throw new Error('no distinctive bytes');
}

beforeAll(async () => {
  good = await generateSyntheticSlide({ path: join(dir, 'good.svs'), width: 1500, height: 1100, seed: 3 });
  poison = await generateSyntheticSlide({ path: join(dir, 'poison.svs'), width: 1300, height: 900, seed: 4 });
  const marker = markerOf(readFileSync(poison.path).subarray(0, 4096), readFileSync(good.path).subarray(0, 4096));
  // read by the sandbox children when they start: the DZI sandbox starts in this test, after this line
  process.env.SANDBOX_FAULT_INJECTION = JSON.stringify([{ marker, fault: 'abort' }]);
  goodSlide = await openSlide(good.path);
  poisonSlide = await openSlide(poison.path);
});
afterAll(async () => {
  delete process.env.SANDBOX_FAULT_INJECTION;
  await goodSlide?.close();
  await poisonSlide?.close();
  rmDir(dir);
});

const files = (root: string) => readdirSync(root, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(root.length)).sort();

test('the sandboxed libvips build writes the same pyramid as the in-process one', async () => {
  const boxed = await buildDzi(goodSlide, good.path, join(dir, 'boxed'), 'slide', { method: 'libvips' });
  const local = await buildDzi(goodSlide, good.path, join(dir, 'local'), 'slide', { method: 'libvips', sandbox: false });
  expect(boxed.method).toBe('libvips');
  const a = files(join(dir, 'boxed'));
  expect(a.filter((f) => f.endsWith('.jpeg')).length).toBe(boxed.tiles);
  expect(a).toContain('/slide.dzi');
  expect(a).toEqual(files(join(dir, 'local')));
  // every tile and the descriptor byte for byte (libvips' vips-properties.xml names the output path: left out)
  const differ = a.filter((f) => /\.(jpeg|dzi)$/.test(f) && !readFileSync(join(dir, 'boxed', f)).equals(readFileSync(join(dir, 'local', f))));
  expect(differ).toEqual([]);
});

test('libvips dying on a hostile file: auto falls back to the reader path; libvips mode refuses it; this process lives', async () => {
  const r = await buildDzi(poisonSlide, poison.path, join(dir, 'poison-auto'), 'slide');
  expect(r.method).toBe('reader');
  expect(r.libvipsError).toMatch(/crashed the decoder process \(signal SIGABRT/);
  expect(files(join(dir, 'poison-auto')).filter((f) => f.endsWith('.jpeg')).length).toBe(r.tiles);
  const e = await buildDzi(poisonSlide, poison.path, join(dir, 'poison-vips'), 'slide', { method: 'libvips' }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(InputError);
  expect((e as InputError).code).toBe('sandbox.crashed');
  expect((e as InputError).message).toContain('building the Deep Zoom pyramid with libvips');
  // the sandbox child was replaced: the good slide still builds through it
  expect((await buildDzi(goodSlide, good.path, join(dir, 'after'), 'slide', { method: 'libvips' })).method).toBe('libvips');
});
