/**
 * Benchmark: 10,000 simulated subjects x 12 visits, from assessments to every endpoint dataset
 * (TU, TR, RS, ADTR, ADRS, ADTTE, ADQS, ADPATH) written in every format (CSV, Dataset-JSON JSON + NDJSON,
 * XPT), each file hashed (sha256, as a data cut's manifest needs). The simulation itself is not timed (it
 * stands in for the database).
 *
 * What runs is what a data cut runs: deriveEndpointTablesParallel (subject shards derived on all cores,
 * subject by subject into columnar, dictionary-encoded tables; the calling thread takes one shard, the
 * others travel to worker threads as JSON, in batches) then writeTablesParallel ((table, formats) units
 * taken by every thread from a shared counter, each file streamed in chunks through sha256; the bytes
 * are dropped, so the figure excludes storage I/O).
 *
 * Run: npm run bench:endpoints   (BENCH_SUBJECTS=n to change the size, BENCH_THREADS=n the writer threads).
 * The cut runs twice on the same study: `seconds` is the first run in this fresh process (cold: the JIT
 * has not optimised the code yet, the worker threads start); `warm_seconds` the second, as a long-running
 * worker process runs its next cut (its files must hash exactly as the first run's).
 * Ends with ONE JSON line: {"bench":"endpoints","seconds":..,"peak_rss_mb":..,...}; `seconds` = derivation +
 * all writes (wall) of the cold run.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { rowCountOf, tableName, writeTablesParallel, type DatasetFileMeta, type TableFormat, type WrittenFile } from '@app/datasets';
import { deriveEndpointTablesParallel, simulateTrial, type StudyInput } from '@app/endpoints';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 10_000);
const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());
const VISITS = 12;
const FORMATS: TableFormat[] = ['csv', 'json', 'ndjson', 'xpt'];

interface Run {
  seconds: number;
  deriveSeconds: number;
  writeSeconds: number;
  cpuSeconds: number;
  deriveCpuSeconds: number;
  rows: Record<string, number>;
  issues: number;
  files: WrittenFile[];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const cpuSecondsOf = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;

/** One data cut's work on the study: derive every table, write every format (hashed), timed. */
async function runOnce(study: StudyInput, meta: DatasetFileMeta): Promise<Run> {
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const { tables, issues } = await deriveEndpointTablesParallel(study, {}, { blinded: false }, { threads: THREADS });
  const deriveSeconds = (performance.now() - t1) / 1000;
  const deriveCpu = process.cpuUsage(cpu0);
  const rows: Record<string, number> = Object.fromEntries(tables.map((d) => [tableName(d), rowCountOf(d)]));
  const t2 = performance.now();
  const files = await writeTablesParallel(tables, meta, FORMATS, { threads: THREADS, mode: 'hash' });
  const writeSeconds = (performance.now() - t2) / 1000;
  return {
    seconds: (performance.now() - t1) / 1000,
    deriveSeconds,
    writeSeconds,
    cpuSeconds: cpuSecondsOf(process.cpuUsage(cpu0)),
    deriveCpuSeconds: cpuSecondsOf(deriveCpu),
    rows,
    issues: issues.length,
    files,
  };
}

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
  // cold: the first cut in a fresh process (code not yet optimised by the JIT, worker threads starting)
  const cold = await runOnce(study, meta);
  console.error(`cold: derived ${Object.keys(cold.rows).length} tables in ${cold.deriveSeconds.toFixed(2)} s: ${JSON.stringify(cold.rows)}; issues: ${cold.issues}`);
  const bytes: Record<string, number> = {};
  for (const f of cold.files) bytes[f.format] = (bytes[f.format] ?? 0) + f.size;
  for (const f of FORMATS) console.error(`  ${f}: ${(bytes[f] / 1e6).toFixed(1)} MB`);
  console.error(`cold: wrote ${cold.files.length} files on ${THREADS} thread(s) in ${cold.writeSeconds.toFixed(2)} s; total ${cold.seconds.toFixed(2)} s`);
  // warm: the same cut again in the same process, as a long-running worker runs its next cut
  const warm = await runOnce(study, meta);
  console.error(`warm: derive ${warm.deriveSeconds.toFixed(2)} s, write ${warm.writeSeconds.toFixed(2)} s, total ${warm.seconds.toFixed(2)} s`);
  const same = warm.files.length === cold.files.length && warm.files.every((f, i) => f.sha256 === cold.files[i].sha256);
  if (!same) throw new Error('the second run wrote different bytes: the derivation is not deterministic');
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({
    bench: 'endpoints',
    seconds: round3(cold.seconds),
    peak_rss_mb: peakRssMb,
    subjects: SUBJECTS,
    visits: VISITS,
    threads: THREADS,
    derive_seconds: round3(cold.deriveSeconds),
    write_seconds: round3(cold.writeSeconds),
    // CPU time (user + system) of this process, all threads: wall time is inflated on a loaded machine
    cpu_seconds: round3(cold.cpuSeconds),
    derive_cpu_seconds: round3(cold.deriveCpuSeconds),
    warm_seconds: round3(warm.seconds),
    warm_derive_seconds: round3(warm.deriveSeconds),
    warm_write_seconds: round3(warm.writeSeconds),
    output_mb: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, Math.round(v / 1e5) / 10])),
    rows: Object.values(cold.rows).reduce((a, b) => a + b, 0),
    sha256_16: Object.fromEntries(FORMATS.map((f) => [f, cold.files.filter((x) => x.format === f).map((x) => x.sha256.slice(0, 4)).join('')])),
    target_seconds: 5,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
