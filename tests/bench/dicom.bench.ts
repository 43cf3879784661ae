/**
 * Benchmark: parse + decode + volume assembly of a 300-slice 512 x 512 CT series, uncompressed, JPEG-LS
 * and JPEG 2000, through the worker-thread pool on all cores, against pydicom (single process, the
 * reference Python stack) loading the same files to a HU volume sorted by position.
 *
 * Data: generated once into .bench/dicom/ (git-ignored) with @app/phantom, then transcoded with
 * dcmtk dcmcjpls (JPEG-LS lossless) and gdcmconv --j2k (JPEG 2000 lossless).
 * pydicom decodes JPEG-LS / JPEG 2000 only with an optional handler: python3-gdcm (Debian) when
 * installed; otherwise those figures are null and the JSON says why.
 *
 * Run: npm run bench:dicom   Ends with ONE JSON line.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot } from '@app/core';
import { DicomPool, type Volume } from '@app/dicom';
import { generatePhantomStudy, transcode } from '@app/phantom';

const SLICES = 300;
const SIZE = 512;
const ROOT = join(repoRoot(), '.bench', 'dicom');
const UNC = join(ROOT, 'unc');
const VARIANTS = { uncompressed: UNC, jpegls: join(ROOT, 'jpegls'), j2k: join(ROOT, 'j2k') } as const;
type Variant = keyof typeof VARIANTS;
/** Repetitions (best time kept, for both readers): the machine may be shared. */
const REPS: Record<Variant, number> = { uncompressed: 7, jpegls: 5, j2k: 2 };

const listDcm = (dir: string): string[] => {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.dcm')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
};

async function ensureData(): Promise<void> {
  const done = join(ROOT, `.complete-${SLICES}x${SIZE}-12bit`);
  if (existsSync(done)) return;
  console.error(`generating ${SLICES}-slice ${SIZE}x${SIZE} CT series into ${ROOT} (once)...`);
  execFileSync('rm', ['-rf', ROOT]);
  mkdirSync(ROOT, { recursive: true });
  const t0 = performance.now();
  // BitsStored 12 unsigned, RescaleIntercept -1024: the usual CT encoding.
  const res = await generatePhantomStudy({ outDir: UNC, subjects: 1, visits: 1, rows: SIZE, cols: SIZE, slices: SLICES, seed: 7, bitsStored: 12 });
  const files = res.files.map((f) => f.path);
  if (files.length !== SLICES) throw new Error(`phantom produced ${files.length} files, expected ${SLICES}`);
  console.error(`  phantom: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await transcode(files, 'jpeg-ls', { outDir: VARIANTS.jpegls, baseDir: UNC, concurrency: availableParallelism() });
  console.error(`  jpeg-ls done`);
  await transcode(files, 'jpeg2000', { outDir: VARIANTS.j2k, baseDir: UNC, concurrency: availableParallelism() });
  console.error(`  jpeg 2000 done: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  writeFileSync(done, new Date().toISOString());
}

const PY = String.raw`
import hashlib, json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import pydicom
from pydicom.pixel_data_handlers import gdcm_handler
files = open(sys.argv[1]).read().split("\n")
files = [f for f in files if f]
reps = int(sys.argv[2])


def load():
    dss = [pydicom.dcmread(f) for f in files]
    iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
    n = np.cross(iop[:3], iop[3:])
    dss.sort(key=lambda d: float(np.dot(n, np.array(d.ImagePositionPatient, dtype=float))))
    vol = np.empty((len(dss), dss[0].Rows, dss[0].Columns), dtype=np.int16)
    for k, d in enumerate(dss):
        s = float(d.get("RescaleSlope", 1)); b = float(d.get("RescaleIntercept", 0))
        vol[k] = (d.pixel_array.astype(np.int32) * int(s) + int(b)).astype(np.int16)
    return vol


try:
    secs = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        vol = load()
        secs = min(secs, time.perf_counter() - t0)
    print(json.dumps({"seconds": secs, "sha256": hashlib.sha256(vol.tobytes()).hexdigest(), "shape": list(vol.shape),
                      "gdcm": gdcm_handler.is_available(), "pydicom": pydicom.__version__}))
except Exception as e:
    print(json.dumps({"error": f"{type(e).__name__}: {e}", "gdcm": gdcm_handler.is_available(), "pydicom": pydicom.__version__}))
`;

interface PyResult {
  seconds?: number;
  sha256?: string;
  shape?: number[];
  error?: string;
  gdcm: boolean;
  pydicom: string;
}

function runPydicom(files: string[], reps: number): PyResult {
  const list = join(ROOT, 'files.txt');
  const script = join(ROOT, 'pydicom_load.py');
  writeFileSync(list, files.join('\n'));
  writeFileSync(script, PY);
  const out = execFileSync('/usr/bin/python3', [script, list, String(reps)], { maxBuffer: 1 << 20 }).toString().trim().split('\n').pop()!;
  return JSON.parse(out) as PyResult;
}

const volHash = (v: Volume): string => createHash('sha256').update(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)).digest('hex');

async function main(): Promise<void> {
  await ensureData();
  const threads = availableParallelism();
  const pool = new DicomPool({ threads });
  const results: Record<string, unknown> = {};
  try {
    // Warm-up: start the threads and initialise each thread's WASM codecs.
    const warm = listDcm(VARIANTS.jpegls).slice(0, threads * 2);
    await pool.loadFiles([...warm, ...listDcm(VARIANTS.j2k).slice(0, threads * 2)]);

    let refHash = '';
    for (const name of Object.keys(VARIANTS) as Variant[]) {
      const files = listDcm(VARIANTS[name]);
      // Interleave our runs with pydicom's so both see the same machine load; keep each one's best.
      let best = Infinity;
      let pyBest = Infinity;
      let py: PyResult | undefined;
      let h = '';
      for (let rep = 0; rep < REPS[name]; rep++) {
        const t0 = performance.now();
        const v = await pool.buildVolumeFromFiles(files);
        best = Math.min(best, (performance.now() - t0) / 1000);
        if (rep === 0) {
          if (v.dims.join('x') !== `${SIZE}x${SIZE}x${SLICES}` || v.flags.length) {
            throw new Error(`${name}: unexpected volume ${v.dims.join('x')} flags ${JSON.stringify(v.flags)}`);
          }
          h = volHash(v);
          if (name === 'uncompressed') refHash = h;
          else if (h !== refHash) throw new Error(`${name}: lossless volume differs from the uncompressed one`);
        }
        const r = runPydicom(files, 1);
        if (!py || r.error) py = r;
        if (r.seconds !== undefined) pyBest = Math.min(pyBest, r.seconds);
        if (r.error) break;
      }
      py = py!;
      const pySecs = Number.isFinite(pyBest) ? pyBest : null;
      const agree = py.sha256 ? py.sha256 === h : null;
      if (agree === false) throw new Error(`${name}: our HU volume differs from pydicom's`);
      results[name] = {
        ours_s: +best.toFixed(3),
        ours_slices_per_s: +(SLICES / best).toFixed(1),
        pydicom_s: pySecs === null ? null : +pySecs.toFixed(3),
        pydicom_slices_per_s: pySecs === null ? null : +(SLICES / pySecs).toFixed(1),
        pydicom_error: py.error,
        pydicom_gdcm_handler: py.gdcm,
        identical_to_pydicom: agree,
        speedup: pySecs === null ? null : +(pySecs / best).toFixed(2),
      };
      console.error(name, JSON.stringify(results[name]));
    }
  } finally {
    await pool.destroy();
  }
  const r = results as Record<Variant, { speedup: number | null; ours_slices_per_s: number; pydicom_error?: string }>;
  const summary = {
    bench: 'dicom',
    speedup_vs_pydicom_uncompressed: r.uncompressed.speedup,
    speedup_vs_pydicom_jpegls: r.jpegls.speedup,
    slices_per_s_uncompressed: r.uncompressed.ours_slices_per_s,
    slices_per_s_jpegls: r.jpegls.ours_slices_per_s,
    slices_per_s_j2k: r.j2k.ours_slices_per_s,
    speedup_vs_pydicom_j2k: r.j2k.speedup,
    pydicom_note: r.jpegls.pydicom_error
      ? `pydicom could not decode JPEG-LS: ${r.jpegls.pydicom_error}`
      : 'pydicom 2.3 decodes JPEG-LS/JPEG 2000 through the python3-gdcm handler',
    series: `${SLICES} x ${SIZE}x${SIZE} CT (phantom), ours: ${threads} worker threads, pydicom: 1 process; best of ${REPS.uncompressed}/${REPS.jpegls}/${REPS.j2k} runs each`,
    load_average_1m: +loadavg()[0].toFixed(2),
    threads,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
