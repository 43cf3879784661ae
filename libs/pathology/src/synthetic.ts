import sharp from 'sharp';
import { InputError } from '@app/core';
import { TiffWriter, T, IfdEntry } from './tiff-writer';
/* Local aliases: global lookups (Math.*) are slow inside vm sandboxes such as jest; hot loops use these. */
const { PI: M_PI, ceil: M_ceil, cos: M_cos, floor: M_floor, imul: M_imul, max: M_max, min: M_min, pow: M_pow, round: M_round, sin: M_sin } = Math;


/** Ground-truth class values in the mask PNG. */
export const SYNTH_CLASSES = { background: 0, tumour: 1, stroma: 2, lymphocytes: 3, pen: 4 } as const;
export type SynthClassName = keyof typeof SYNTH_CLASSES;

export interface SyntheticSlideOptions {
  /** Output .svs path. */
  path: string;
  width: number;
  height: number;
  /** Deterministic per seed (default 1). */
  seed?: number;
  /** µm per level-0 pixel (default 0.5). */
  mpp?: number;
  /** Objective power (default 20). */
  appMag?: number;
  /** Tile edge in px (default 256, multiple of 16). */
  tileSize?: number;
  /** JPEG quality (default 70). */
  quality?: number;
  /** Level-0 px per ground-truth mask pixel (default 16, power of two). */
  cellSize?: number;
  /** Pen mark colour, or false for none (default 'blue'). */
  pen?: false | 'blue' | 'green' | 'black';
  /** Level downsamples, powers of two starting with 1 (default 1, 4, 16, ... while the level's long side is > 1024 px). */
  levelDownsamples?: number[];
  /** Solid near-black square of known physical size on the glass (a fiducial for scale tests). */
  fiducial?: { xUm: number; yUm: number; sideUm: number };
  /** Where to write the ground-truth mask (default `<path>.mask.png`). */
  maskPath?: string;
  /** Force BigTIFF (default: only when the slide could exceed 4 GiB). */
  bigtiff?: boolean;
}

export interface SyntheticSlide {
  path: string;
  width: number;
  height: number;
  mpp: number;
  appMag: number;
  seed: number;
  levels: { width: number; height: number; downsample: number }[];
  groundTruth: {
    /** 8-bit greyscale PNG, one class per value (SYNTH_CLASSES), one pixel per `downsample` x `downsample` level-0 pixels. */
    maskPath: string;
    downsample: number;
    maskWidth: number;
    maskHeight: number;
    classes: typeof SYNTH_CLASSES;
    /** Fractions of the level-0 slide area; they sum to 1 (`pen` = ink on glass, not counted as background). */
    fractions: { tumour: number; stroma: number; lymphocytes: number; background: number; pen: number };
  };
  /** The fake PHI rendered on the label image (for blinding tests). */
  labelText: string[];
  /** Colour of the label's background (distinct from any H&E colour; for "no label pixels served" tests). */
  labelBackground: [number, number, number];
  /** The fiducial square in level-0 pixels, if requested. */
  fiducialPx?: { x: number; y: number; side: number };
}

const P = 512; // texture period (level-0 px)
const LABEL_BG: [number, number, number] = [255, 236, 64];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = M_imul(t ^ (t >>> 15), t | 1);
    t ^= t + M_imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Smooth value noise in [0,1] on a cw x ch grid with lattice spacing `s` cells. */
function valueNoise(cw: number, ch: number, s: number, rnd: () => number): (x: number, y: number) => number {
  const gw = M_ceil(cw / s) + 2;
  const gh = M_ceil(ch / s) + 2;
  const g = new Float32Array(gw * gh);
  for (let i = 0; i < g.length; i++) g[i] = rnd();
  return (x, y) => {
    const fx = x / s;
    const fy = y / s;
    const ix = M_floor(fx);
    const iy = M_floor(fy);
    let tx = fx - ix;
    let ty = fy - iy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const a = g[iy * gw + ix];
    const b = g[iy * gw + ix + 1];
    const c = g[(iy + 1) * gw + ix];
    const d = g[(iy + 1) * gw + ix + 1];
    return a + (b - a) * tx + (c - a) * ty + (a - b - c + d) * tx * ty;
  };
}

/** Builds the class map (one value per cell). Pure function of (cw, ch, seed, pen). */
function buildClassMap(cw: number, ch: number, seed: number, pen: boolean): Uint8Array {
  const rnd = mulberry32(seed * 7919 + 17);
  const m = new Uint8Array(cw * ch);
  const nBlobs = 2 + M_floor(rnd() * 2);
  const blobs = Array.from({ length: nBlobs }, () => ({
    cx: (0.3 + 0.4 * rnd()) * cw,
    cy: (0.35 + 0.2 * rnd()) * ch,
    rx: (0.16 + 0.14 * rnd()) * cw,
    ry: (0.16 + 0.12 * rnd()) * ch,
    a: rnd() * M_PI,
  }));
  const minSide = M_min(cw, ch);
  const edge = valueNoise(cw, ch, M_max(2, minSide / 12), rnd);
  const nt = valueNoise(cw, ch, M_max(2, minSide / 7), rnd);
  const nt2 = valueNoise(cw, ch, M_max(2, minSide / 20), rnd);
  const nl = valueNoise(cw, ch, M_max(2, minSide / 14), rnd);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let f = -Infinity;
      for (const b of blobs) {
        const dx = x - b.cx;
        const dy = y - b.cy;
        const u = (dx * M_cos(b.a) + dy * M_sin(b.a)) / b.rx;
        const v = (-dx * M_sin(b.a) + dy * M_cos(b.a)) / b.ry;
        f = M_max(f, 1 - (u * u + v * v));
      }
      if (f + 0.5 * (edge(x, y) - 0.5) <= 0) continue; // glass
      const t = 0.7 * nt(x, y) + 0.3 * nt2(x, y);
      if (t > 0.56) m[y * cw + x] = 1;
      else if (nl(x, y) > 0.6) m[y * cw + x] = 3;
      else m[y * cw + x] = 2;
    }
  }
  if (pen) {
    // a wavy stroke in the bottom band (tissue never reaches it); painted on glass only
    const w = M_max(2, M_round(minSide / 40));
    const y0 = 0.91 * ch;
    const amp = 0.025 * ch;
    const x0 = 0.1 * cw;
    const x1 = 0.55 * cw;
    const ph = rnd() * 6.28;
    for (let x = M_floor(x0); x < x1; x++) {
      const yc = y0 + amp * M_sin(ph + (x / cw) * 12);
      for (let y = M_round(yc - w / 2); y < M_round(yc + w / 2); y++) {
        if (y >= 0 && y < ch && m[y * cw + x] === 0) m[y * cw + x] = 4;
      }
    }
  }
  return m;
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : M_round(v);
}

/** Periodic P x P RGB texture for a class. */
function makeTexture(cls: number, rnd: () => number, pen: 'blue' | 'green' | 'black'): Uint8Array {
  const t = new Uint8Array(P * P * 3);
  const fill = (r: number, g: number, b: number, n: number) => {
    for (let i = 0; i < P * P; i++) {
      const e = (rnd() - 0.5) * 2 * n;
      t[i * 3] = clamp8(r + e);
      t[i * 3 + 1] = clamp8(g + e);
      t[i * 3 + 2] = clamp8(b + e);
    }
  };
  const nucleus = (cx: number, cy: number, rx: number, ry: number, ang: number, col: [number, number, number], n: number) => {
    const R = M_ceil(M_max(rx, ry)) + 1;
    const c = M_cos(ang);
    const s = M_sin(ang);
    for (let dy = -R; dy <= R; dy++) {
      for (let dx = -R; dx <= R; dx++) {
        const u = (dx * c + dy * s) / rx;
        const v = (-dx * s + dy * c) / ry;
        if (u * u + v * v > 1) continue;
        const x = (((M_round(cx) + dx) % P) + P) % P;
        const y = (((M_round(cy) + dy) % P) + P) % P;
        const e = (rnd() - 0.5) * 2 * n;
        const o = (y * P + x) * 3;
        t[o] = clamp8(col[0] + e);
        t[o + 1] = clamp8(col[1] + e);
        t[o + 2] = clamp8(col[2] + e);
      }
    }
  };
  switch (cls) {
    case 0:
      fill(243, 242, 240, 2);
      break;
    case 1: // tumour: purple-pink cytoplasm, dense large pleomorphic nuclei
      fill(208, 150, 200, 8);
      for (let i = 0; i < 800; i++) {
        const r = 5 + rnd() * 4;
        nucleus(rnd() * P, rnd() * P, r, r * (0.7 + 0.3 * rnd()), rnd() * 3.14, [96, 58, 146], 14);
      }
      break;
    case 2: {
      // stroma: pink with periodic collagen fibres, sparse spindle nuclei
      for (let y = 0; y < P; y++) {
        for (let x = 0; x < P; x++) {
          const f = M_pow((M_sin((2 * M_PI * (3 * x + 7 * y)) / P + 2 * M_sin((2 * M_PI * y * 2) / P)) + 1) / 2, 3);
          const e = (rnd() - 0.5) * 8;
          const o = (y * P + x) * 3;
          t[o] = clamp8(233 - 19 * f + e);
          t[o + 1] = clamp8(163 - 35 * f + e);
          t[o + 2] = clamp8(196 - 26 * f + e);
        }
      }
      for (let i = 0; i < 60; i++) nucleus(rnd() * P, rnd() * P, 9, 2.5, 0.4 + rnd() * 0.3, [128, 84, 165], 10);
      break;
    }
    case 3: // lymphocyte-rich infiltrate: many small dark round nuclei
      fill(228, 170, 204, 6);
      for (let i = 0; i < 2400; i++) {
        const r = 3 + rnd() * 1;
        nucleus(rnd() * P, rnd() * P, r, r, 0, [58, 36, 112], 8);
      }
      break;
    case 4:
      if (pen === 'blue') fill(40, 66, 160, 8);
      else if (pen === 'green') fill(40, 130, 80, 8);
      else fill(30, 30, 34, 6);
      break;
  }
  return t;
}

/** Exact box downsample of a periodic texture (side P, factor d dividing P). */
function boxDown(src: Uint8Array, side: number, d: number): Uint8Array {
  const s = side / d;
  const out = new Uint8Array(s * s * 3);
  const n = d * d;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = 0; yy < d; yy++) {
        let o = ((y * d + yy) * side + x * d) * 3;
        for (let xx = 0; xx < d; xx++, o += 3) {
          r += src[o];
          g += src[o + 1];
          b += src[o + 2];
        }
      }
      const q = (y * s + x) * 3;
      out[q] = M_round(r / n);
      out[q + 1] = M_round(g / n);
      out[q + 2] = M_round(b / n);
    }
  }
  return out;
}

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

function fakeLabel(seed: number): string[] {
  const r = mulberry32(seed * 31 + 5);
  const surnames = ['DOE', 'ROE', 'SMITH', 'MUSTERMANN', 'DUPONT'];
  const given = ['JANE', 'JOHN', 'ERIKA', 'MARIE', 'ALEX'];
  const mrn = String(10000000 + M_floor(r() * 89999999));
  const yr = 1940 + M_floor(r() * 50);
  return [
    `${surnames[M_floor(r() * 5)]}^${given[M_floor(r() * 5)]}`,
    `MRN ${mrn}`,
    `DOB ${yr}-0${1 + M_floor(r() * 9)}-1${M_floor(r() * 9)}`,
    `ACC S26-${String(M_floor(r() * 999999)).padStart(6, '0')}`,
  ];
}

async function renderLabel(lines: string[]): Promise<{ width: number; height: number; data: Buffer }> {
  const W = 600;
  const H = 300;
  const esc = (s: string) => s.replace(/[<>&^]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '^': '^' })[c] ?? c);
  const bars: string[] = [];
  let x = 20;
  for (const ch of lines[1]) {
    const d = ch.charCodeAt(0);
    for (let k = 0; k < 4; k++) {
      const w = 2 + ((d >> k) & 1) * 3;
      bars.push(`<rect x="${x}" y="200" width="${w}" height="80" fill="#000"/>`);
      x += w + 3;
    }
  }
  const rgb = `rgb(${LABEL_BG.join(',')})`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="${W}" height="${H}" fill="${rgb}"/>` +
    lines.map((l, i) => `<text x="20" y="${45 + i * 40}" font-family="sans-serif" font-size="32" fill="#000">${esc(l)}</text>`).join('') +
    bars.join('') +
    '</svg>';
  const data = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
  return { width: W, height: H, data };
}

/**
 * Writes a synthetic H&E-like whole-slide image as an Aperio-style SVS (pyramidal tiled JPEG TIFF with an
 * Aperio ImageDescription: MPP and AppMag), with a thumbnail (IFD 1) and a label image carrying fake PHI, plus
 * a ground-truth class mask PNG and exact class fractions.
 *
 * Scales to any size with bounded memory: the content is a pure function of (seed, position) — a small class map
 * (one value per `cellSize` px) indexing periodic per-class textures — so every tile of every level is rendered
 * on its own, JPEG-encoded with sharp and streamed to the file; only the class map, the textures and a few tiles in
 * flight are in memory (about 10 MB for the class map of a 50,000 x 50,000 slide).
 */
export async function generateSyntheticSlide(opts: SyntheticSlideOptions): Promise<SyntheticSlide> {
  const W = opts.width;
  const H = opts.height;
  const bad = (msg: string) => new InputError('synthetic.bad-option', msg);
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 64 || H < 64 || W > 500000 || H > 500000) {
    throw bad(`width and height must be integers in 64..500000 px, got ${W}x${H}`);
  }
  const seed = opts.seed ?? 1;
  const mpp = opts.mpp ?? 0.5;
  const appMag = opts.appMag ?? 20;
  const ts = opts.tileSize ?? 256;
  const quality = opts.quality ?? 70;
  const cell = opts.cellSize ?? 16;
  const penColour = opts.pen === undefined ? 'blue' : opts.pen;
  if (!(mpp > 0 && mpp < 100)) throw bad(`mpp must be in (0, 100) µm/px, got ${mpp}`);
  if (ts % 16 !== 0 || ts < 16 || ts > 4096) throw bad(`tileSize must be a multiple of 16 in 16..4096, got ${ts}`);
  if (!isPow2(cell) || cell > P) throw bad(`cellSize must be a power of two <= ${P}, got ${cell}`);
  let downs = opts.levelDownsamples;
  if (!downs) {
    downs = [1];
    while (M_max(W, H) / downs[downs.length - 1] > 1024 && downs.length < 12) downs.push(downs[downs.length - 1] * 4);
  }
  if (downs[0] !== 1 || !downs.every((d, i) => isPow2(d) && (i === 0 || d > downs![i - 1]))) {
    throw bad(`levelDownsamples must be increasing powers of two starting with 1, got [${downs.join(',')}]`);
  }
  const levels = downs.map((d) => ({ width: M_ceil(W / d), height: M_ceil(H / d), downsample: d }));

  // content model
  const cw = M_ceil(W / cell);
  const ch = M_ceil(H / cell);
  const map = buildClassMap(cw, ch, seed, penColour !== false);
  const rnd = mulberry32(seed * 104729 + 3);
  const tex0 = [0, 1, 2, 3, 4].map((c) => makeTexture(c, rnd, penColour || 'blue'));
  const texCache = new Map<number, { side: number; tex: Uint8Array[] }>();
  const texFor = (d: number) => {
    let t = texCache.get(d);
    if (!t) {
      const side = d <= P ? P / d : 1;
      t = { side, tex: tex0.map((x) => (d === 1 ? x : boxDown(x, P, M_min(d, P)))) };
      texCache.set(d, t);
    }
    return t;
  };
  const fid = opts.fiducial
    ? { x: M_round(opts.fiducial.xUm / mpp), y: M_round(opts.fiducial.yUm / mpp), side: M_round(opts.fiducial.sideUm / mpp) }
    : undefined;

  /** Renders a w x h block of a level whose top-left pixel is (X0, Y0) in that level's coordinates. */
  const render = (d: number, X0: number, Y0: number, w: number, h: number, lw: number, lh: number): Buffer => {
    const { side, tex } = texFor(d);
    const out = Buffer.alloc(w * h * 3, 255);
    for (let py = 0; py < h; py++) {
      const Y = Y0 + py;
      if (Y >= lh) break;
      const yc = (Y + 0.5) * d;
      const cy = M_min(ch - 1, M_floor(yc / cell));
      const trow = (Y % side) * side;
      const inFidY = fid !== undefined && yc >= fid.y && yc < fid.y + fid.side;
      let o = py * w * 3;
      for (let px = 0; px < w; px++, o += 3) {
        const X = X0 + px;
        if (X >= lw) break;
        const xc = (X + 0.5) * d;
        if (inFidY && xc >= fid!.x && xc < fid!.x + fid!.side) {
          out[o] = 15;
          out[o + 1] = 15;
          out[o + 2] = 15;
          continue;
        }
        const cls = map[cy * cw + M_min(cw - 1, M_floor(xc / cell))];
        const t = tex[cls];
        const q = (trow + (X % side)) * 3;
        out[o] = t[q];
        out[o + 1] = t[q + 1];
        out[o + 2] = t[q + 2];
      }
    }
    return out;
  };

  const big = opts.bigtiff ?? (W * H * 3) / 5 > 3.5e9;
  const tw = new TiffWriter(opts.path, big);
  const labelText = fakeLabel(seed);
  try {
    const res = M_round((10000 / mpp) * 1000);
    const common = (w: number, h: number, desc: string, subfile: number): IfdEntry[] => [
      { tag: 254, type: T.LONG, values: [subfile] },
      { tag: 256, type: T.LONG, values: [w] },
      { tag: 257, type: T.LONG, values: [h] },
      { tag: 258, type: T.SHORT, values: [8, 8, 8] },
      { tag: 270, type: T.ASCII, values: desc },
      { tag: 277, type: T.SHORT, values: [3] },
      { tag: 284, type: T.SHORT, values: [1] },
    ];
    const levelIfds: IfdEntry[][] = [];
    for (const [li, lv] of levels.entries()) {
      const cols = M_ceil(lv.width / ts);
      const rows = M_ceil(lv.height / ts);
      const offsets = new Array<number>(cols * rows);
      const counts = new Array<number>(cols * rows);
      const inflight: { i: number; p: Promise<Buffer> }[] = [];
      const drain = async (max: number) => {
        while (inflight.length > max) {
          const { i, p } = inflight.shift()!;
          const jpg = await p;
          offsets[i] = tw.append(jpg);
          counts[i] = jpg.length;
        }
      };
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const raw = render(lv.downsample, c * ts, r * ts, ts, ts, lv.width, lv.height);
          const p = sharp(raw, { raw: { width: ts, height: ts, channels: 3 } })
            .jpeg({ quality, chromaSubsampling: '4:2:0', optimiseCoding: true })
            .toBuffer();
          p.catch(() => undefined);
          inflight.push({ i: r * cols + c, p });
          await drain(8);
        }
      }
      await drain(0);
      const desc =
        li === 0
          ? `Aperio Image Library v12.0.0 \r\n${W}x${H} [0,0 ${W}x${H}] (${ts}x${ts}) JPEG/RGB Q=${quality}|AppMag = ${appMag}|MPP = ${mpp}|Filename = SYNTH-${seed}|ScanScope ID = SYNTHETIC|Generator = endpoint-service synthetic slide|Seed = ${seed}`
          : `Aperio Image Library v12.0.0 \r\n${W}x${H} [0,0 ${W}x${H}] (${ts}x${ts}) -> ${lv.width}x${lv.height} JPEG/RGB Q=${quality}`;
      levelIfds.push([
        ...common(lv.width, lv.height, desc, li === 0 ? 0 : 1),
        { tag: 259, type: T.SHORT, values: [7] },
        { tag: 262, type: T.SHORT, values: [6] },
        { tag: 282, type: T.RATIONAL, values: [M_round(res / lv.downsample), 1000] },
        { tag: 283, type: T.RATIONAL, values: [M_round(res / lv.downsample), 1000] },
        { tag: 296, type: T.SHORT, values: [3] },
        { tag: 322, type: T.LONG, values: [ts] },
        { tag: 323, type: T.LONG, values: [ts] },
        { tag: 324, type: tw.offsetType, values: offsets },
        { tag: 325, type: tw.offsetType, values: counts },
        { tag: 530, type: T.SHORT, values: [2, 2] },
      ]);
    }
    // thumbnail (IFD 1 as in Aperio files), uncompressed RGB strip, rendered from the content model
    let td = 1;
    while (M_max(W, H) / td > 768) td *= 2;
    const thW = M_ceil(W / td);
    const thH = M_ceil(H / td);
    const thumb = render(td, 0, 0, thW, thH, thW, thH);
    const strip = (w: number, h: number, data: Buffer, desc: string, subfile: number): IfdEntry[] => {
      const off = tw.append(data);
      return [
        ...common(w, h, desc, subfile),
        { tag: 259, type: T.SHORT, values: [1] },
        { tag: 262, type: T.SHORT, values: [2] },
        { tag: 273, type: tw.offsetType, values: [off] },
        { tag: 278, type: T.LONG, values: [h] },
        { tag: 279, type: tw.offsetType, values: [data.length] },
      ];
    };
    const thumbIfd = strip(thW, thH, thumb, `Aperio Image Library v12.0.0 \r\n${W}x${H} -> ${thW}x${thH} - |AppMag = ${appMag}|MPP = ${mpp}`, 0);
    const label = await renderLabel(labelText);
    const labelIfd = strip(label.width, label.height, label.data, `Aperio Image Library v12.0.0\nlabel ${label.width}x${label.height}`, 1);
    tw.addIfd(levelIfds[0]);
    tw.addIfd(thumbIfd);
    for (const l of levelIfds.slice(1)) tw.addIfd(l);
    tw.addIfd(labelIfd);
    tw.finish();
  } catch (e) {
    tw.abort();
    throw e;
  }

  // ground truth
  const counts = [0, 0, 0, 0, 0];
  for (let y = 0; y < ch; y++) {
    const hy = M_min(cell, H - y * cell);
    for (let x = 0; x < cw; x++) counts[map[y * cw + x]] += hy * M_min(cell, W - x * cell);
  }
  const total = W * H;
  const maskPath = opts.maskPath ?? `${opts.path}.mask.png`;
  await sharp(Buffer.from(map.buffer, map.byteOffset, map.length), { raw: { width: cw, height: ch, channels: 1 } })
    .png({ compressionLevel: 6 })
    .toFile(maskPath);
  return {
    path: opts.path,
    width: W,
    height: H,
    mpp,
    appMag,
    seed,
    levels,
    groundTruth: {
      maskPath,
      downsample: cell,
      maskWidth: cw,
      maskHeight: ch,
      classes: SYNTH_CLASSES,
      fractions: {
        background: counts[0] / total,
        tumour: counts[1] / total,
        stroma: counts[2] / total,
        lymphocytes: counts[3] / total,
        pen: counts[4] / total,
      },
    },
    labelText,
    labelBackground: LABEL_BG,
    fiducialPx: fid,
  };
}
