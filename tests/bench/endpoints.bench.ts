/**
 * Benchmark: 10,000 simulated subjects x 12 visits, from assessments to every endpoint dataset
 * (TU, TR, RS, ADTR, ADRS, ADTTE, ADQS, ADPATH) written in every format (CSV, Dataset-JSON JSON + NDJSON,
 * XPT), each file hashed (sha256, as a data cut's manifest needs). The simulation itself is not timed (it
 * stands in for the database).
 *
 * What runs is what a data cut runs: deriveEndpointTablesParallel (subject shards derived on all cores,
 * subject by subject into columnar, dictionary-encoded tables; the calling thread takes one shard, the
 * others travel to worker threads as JSON) then writeTablesParallel (formats split across worker
 * threads, each file streamed in chunks through sha256; the bytes are dropped, so the figure excludes
 * storage I/O).
 *
 * Run: npm run bench:endpoints   (BENCH_SUBJECTS=n to change the size, BENCH_THREADS=n the writer threads).
 * Ends with ONE JSON line: {"bench":"endpoints","seconds":..,"peak_rss_mb":..,...}; `seconds` = derivation +
 * all writes (wall).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { rowCountOf, tableName, writeTablesParallel, type DatasetFileMeta, type TableFormat } from '@app/datasets';
import { deriveEndpointTablesParallel, simulateTrial } from '@app/endpoints';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 10_000);
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const VISITS = 12;
const FORMATS: TableFormat[] = ['csv', 'json', 'ndjson', 'xpt'];

async function main(): Promise<void> {
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
  const { tables, issues } = await deriveEndpointTablesParallel(study, {}, { blinded: false }, { threads: THREADS });
  const deriveSeconds = (performance.now() - t1) / 1000;
  const deriveCpu = process.cpuUsage(cpu0);
  const rows: Record<string, number> = Object.fromEntries(tables.map((d) => [tableName(d), rowCountOf(d)]));
  console.error(`derived ${tables.length} tables in ${deriveSeconds.toFixed(2)} s: ${JSON.stringify(rows)}; issues: ${issues.length}`);

  const t2 = performance.now();
  const files = await writeTablesParallel(tables, meta, FORMATS, { threads: THREADS, mode: 'hash' });
  const writeSeconds = (performance.now() - t2) / 1000;
  const bytes: Record<string, number> = {};
  for (const f of files) bytes[f.format] = (bytes[f.format] ?? 0) + f.size;
  for (const f of FORMATS) console.error(`  ${f}: ${(bytes[f] / 1e6).toFixed(1)} MB`);
  console.error(`wrote ${files.length} files on ${THREADS} thread(s) in ${writeSeconds.toFixed(2)} s`);
  const seconds = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({
    bench: 'endpoints',
    seconds: Math.round(seconds * 1000) / 1000,
    peak_rss_mb: peakRssMb,
    subjects: SUBJECTS,
    visits: VISITS,
    threads: THREADS,
    derive_seconds: Math.round(deriveSeconds * 1000) / 1000,
    write_seconds: Math.round(writeSeconds * 1000) / 1000,
    // CPU time (user + system) of this process, all threads: wall time is inflated on a loaded machine
    cpu_seconds: Math.round((cpu.user + cpu.system) / 1000) / 1000,
    derive_cpu_seconds: Math.round((deriveCpu.user + deriveCpu.system) / 1000) / 1000,
    output_mb: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, Math.round(v / 1e5) / 10])),
    rows: Object.values(rows).reduce((a, b) => a + b, 0),
    sha256_16: Object.fromEntries(FORMATS.map((f) => [f, files.filter((x) => x.format === f).map((x) => x.sha256.slice(0, 4)).join('')])),
    target_seconds: 5,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
