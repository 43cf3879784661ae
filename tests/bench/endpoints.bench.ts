/**
 * Benchmark: 10,000 simulated subjects x 12 visits, from assessments to every endpoint dataset
 * (TU, TR, RS, ADTR, ADRS, ADTTE, ADQS, ADPATH) written in every format (CSV, Dataset-JSON JSON + NDJSON,
 * XPT) with the @app/datasets writers. The simulation itself is not timed (it stands in for the database).
 *
 * Run: npm run bench:endpoints   (BENCH_SUBJECTS=n to change the size). Ends with ONE JSON line:
 * {"bench":"endpoints","seconds":..,"peak_rss_mb":..,...}; `seconds` = derivation + all writes.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { writeDataset, type CutFormat, type DatasetFileMeta } from '@app/datasets';
import { deriveEndpointDatasets, simulateTrial } from '@app/endpoints';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 10_000);
const VISITS = 12;
const FORMATS: CutFormat[] = ['csv', 'json', 'ndjson', 'xpt'];

function main(): void {
  const t0 = performance.now();
  const study = simulateTrial({ subjects: SUBJECTS, visits: VISITS, seed: 20240101, stepWeeks: 8 });
  const simSeconds = (performance.now() - t0) / 1000;
  console.error(`simulated ${SUBJECTS} subjects x ${VISITS} visits in ${simSeconds.toFixed(2)} s (not timed)`);

  const meta: DatasetFileMeta = {
    studyOID: study.studyId,
    metaDataVersionOID: 'MDV.ENDPOINTS.1',
    creationDateTime: '2025-01-31T00:00:00',
    originator: 'endpoint-service benchmark',
    sourceSystem: { name: 'endpoint-service', version: '0.1.0' },
  };
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const { datasets, issues } = deriveEndpointDatasets(study, {}, { blinded: false });
  const deriveSeconds = (performance.now() - t1) / 1000;
  const deriveCpu = process.cpuUsage(cpu0);
  const rows = Object.fromEntries(datasets.map((d) => [d.name, d.rows.length]));
  console.error(`derived ${datasets.length} datasets in ${deriveSeconds.toFixed(2)} s: ${JSON.stringify(rows)}; issues: ${issues.length}`);

  const writeSeconds: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  // BENCH_HASH=1: sha256 over every output file (not timed), to check that optimised writers give identical bytes
  const digests: Record<string, string> = {};
  for (const f of FORMATS) {
    let ms = 0;
    let n = 0;
    const h = process.env.BENCH_HASH ? createHash('sha256') : null;
    for (const d of datasets) {
      const t = performance.now();
      const b = writeDataset(d, meta, f);
      ms += performance.now() - t;
      n += b.length;
      h?.update(b);
    }
    if (h) digests[f] = h.digest('hex').slice(0, 16);
    writeSeconds[f] = Math.round(ms) / 1000;
    bytes[f] = n;
    console.error(`  ${f}: ${writeSeconds[f].toFixed(2)} s, ${(n / 1e6).toFixed(1)} MB`);
  }
  // derivation + all writes (wall); the optional BENCH_HASH hashing is left out
  const seconds = deriveSeconds + Object.values(writeSeconds).reduce((a, b) => a + b, 0);
  const cpu = process.cpuUsage(cpu0);
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({
    bench: 'endpoints',
    seconds: Math.round(seconds * 1000) / 1000,
    peak_rss_mb: peakRssMb,
    subjects: SUBJECTS,
    visits: VISITS,
    derive_seconds: Math.round(deriveSeconds * 1000) / 1000,
    // CPU time (user + system) of this process: wall time is inflated on a loaded shared machine (includes hashing with BENCH_HASH)
    cpu_seconds: Math.round((cpu.user + cpu.system) / 1000) / 1000,
    derive_cpu_seconds: Math.round((deriveCpu.user + deriveCpu.system) / 1000) / 1000,
    write_seconds: writeSeconds,
    output_mb: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, Math.round(v / 1e5) / 10])),
    rows: Object.values(rows).reduce((a, b) => a + b, 0),
    ...(process.env.BENCH_HASH ? { sha256_16: digests } : {}),
    target_seconds: 5,
  }));
}

main();
