/**
 * Benchmark (issue 13): report generation for the 10,000-subject simulated trial (with its BICR reads: two
 * radiologists + AI per subject), ours against R survival on the same ADTTE in the same run.
 *
 * Not timed: simulating the trial, deriving its datasets (deriveEndpointTablesParallel) and reader datasets
 * (readDatasets), writing the CSV R reads, Rscript's start-up and CSV read. Timed (median kept):
 * - ours, the whole report (REPORT_REPS times): buildCutReport = every statistic of the report (KM per arm for PFS and
 *   DOR with medians, quartiles, 6/12-month rates, at-risk tables, log-rank, Cox Efron per parameter and in every
 *   forest subgroup, ORR/DCR and the MN difference, tumour size, the whole agreement section over ~0.7 million
 *   reader lesion rows), every plot (KM x2, waterfall, spider, swimmer, Bland-Altman x3, forest) rendered to SVG and
 *   PNG, the HTML page, statistics.json and the report manifest;
 * - ours, survival only (REPS times): summariseTimeToEvent + Cox Breslow + KM log-log and its quantiles (the same
 *   calls as R below, for a like-for-like line);
 * - R, in one R session (REPS times): survfit + quantile + summary(times) + survdiff + coxph(efron) + coxph(breslow)
 *   + survfit(log-log) + quantile, plus the KM plot (plot.survfit) written to SVG and PNG; timed inside R.
 * The hazard ratios must agree to 1e-6 or the bench fails.
 *
 * Run: npm run bench:analysis   (BENCH_SUBJECTS=n to change the size).
 * Ends with ONE JSON line: {"bench":"analysis","seconds":..,"speedup_vs_r_survival":..,"peak_rss_mb":..,...};
 * seconds = our median time for the whole report; speedup_vs_r_survival = R's median time / ours (R computes the
 * survival statistics and one KM plot; we compute the whole report with every plot);
 * survival_seconds / survival_speedup: the like-for-like survival-only comparison.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { coxPh, DAYS_PER_MONTH, kaplanMeier, summariseTimeToEvent, survivalQuantiles, timeToEventFromAdtte } from '@app/analysis';
import { type Dataset, tableName, tableToDataset, type Table } from '@app/datasets';
import { deriveEndpointTablesParallel, latestDate, readDatasets, simulateTrial } from '@app/endpoints';
import { buildCutReport } from '@app/report';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 10_000);
const REPS = 11;
const REPORT_REPS = Number(process.env.BENCH_REPORT_REPS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  const study = simulateTrial({ subjects: SUBJECTS, visits: 12, seed: 2024, readers: true, qlq: false, stepWeeks: 0 });
  const cutoff = latestDate(study);
  study.dataCutDate = cutoff;
  const { tables, settings } = await deriveEndpointTablesParallel(study, {}, { blinded: false });
  const datasets = new Map<string, Dataset>();
  for (const t of tables) if (['ADTTE', 'ADRS', 'ADTR', 'TU'].includes(tableName(t))) datasets.set(tableName(t), tableToDataset(t as Table | Table[]));
  for (const d of readDatasets(study, settings).datasets) datasets.set(d.name, d);
  const adtte = datasets.get('ADTTE')!;
  const recs = timeToEventFromAdtte(adtte, { paramcd: 'PFS' });
  const reference = 'Placebo';
  const landmarks = [6 * DAYS_PER_MONTH, 12 * DAYS_PER_MONTH];

  const ours: number[] = [];
  let hr = NaN;
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    const s = summariseTimeToEvent(recs, { reference, landmarks });
    coxPh(recs, { reference, ties: 'breslow' });
    for (const c of kaplanMeier(recs, { confType: 'log-log' })) survivalQuantiles(c);
    ours.push((performance.now() - t0) / 1000);
    hr = s.cox!.terms[0].hr;
  }

  // the whole report, as the API / CLI make it for a cut
  const reportTimes: number[] = [];
  let reportFiles = 0;
  let reportBytes = 0;
  for (let i = 0; i < REPORT_REPS; i++) {
    const t0 = performance.now();
    const rep = await buildCutReport({ cutId: 'BENCH', studyId: study.studyId, cutoffDate: cutoff, blinded: false, manifestSha256: '0'.repeat(64), cutCodeVersion: 'bench' }, datasets, { codeVersion: 'bench', png: true });
    reportTimes.push((performance.now() - t0) / 1000);
    reportFiles = rep.files.length;
    reportBytes = rep.files.reduce((a, f) => a + f.bytes.length, 0);
    const hrReport = rep.model.statistics.find((e) => e.id === `PFS.hr.Drug X 10 mg`)!.value!;
    if (Math.abs(hrReport - hr) > 1e-12 * hr) throw new Error(`the report's HR ${hrReport} differs from summariseTimeToEvent's ${hr}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'bench-analysis-'));
  let rTimes: number[];
  let hrR: number;
  try {
    writeFileSync(join(dir, 'pfs.csv'), 'time,status,grp\n' + recs.map((r) => `${r.time},${r.event ? 1 : 0},"${r.group}"`).join('\n') + '\n');
    const script = `
suppressPackageStartupMessages(library(survival))
d <- read.csv("${join(dir, 'pfs.csv')}", stringsAsFactors = FALSE)
d$g <- relevel(factor(d$grp), ref = "${reference}")
times <- numeric(0)
for (i in 1:${REPS}) {
  t0 <- proc.time()[["elapsed"]]
  f <- survfit(Surv(time, status) ~ g, data = d)
  q <- quantile(f, c(0.25, 0.5, 0.75))
  s <- summary(f, times = c(${landmarks.join(', ')}))
  a <- summary(f, times = seq(0, max(d$time), by = ${3 * DAYS_PER_MONTH}), extend = TRUE)
  lr <- survdiff(Surv(time, status) ~ g, data = d)
  ce <- coxph(Surv(time, status) ~ g, data = d, ties = "efron")
  cb <- coxph(Surv(time, status) ~ g, data = d, ties = "breslow")
  f2 <- survfit(Surv(time, status) ~ g, data = d, conf.type = "log-log")
  q2 <- quantile(f2, c(0.25, 0.5, 0.75))
  svg("${join(dir, 'km.svg')}", width = 8, height = 5); plot(f, col = 1:2, mark.time = TRUE, xlab = "Days", ylab = "PFS"); abline(h = 0.5, lty = 3); dev.off()
  png("${join(dir, 'km.png')}", width = 1200, height = 750, res = 144); plot(f, col = 1:2, mark.time = TRUE, xlab = "Days", ylab = "PFS"); abline(h = 0.5, lty = 3); dev.off()
  times <- c(times, proc.time()[["elapsed"]] - t0)
}
cat(sprintf("%.17g", exp(coef(ce))[1]), paste(sprintf("%.6f", times), collapse = " "), "\\n")
`;
    writeFileSync(join(dir, 'bench.R'), script);
    const [h, ...ts] = execFileSync('Rscript', ['--vanilla', join(dir, 'bench.R')]).toString().trim().split(/\s+/).map(Number);
    hrR = h;
    rTimes = ts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!(Math.abs(hr - hrR) <= 1e-6 * hrR)) throw new Error(`hazard ratios differ: ours ${hr}, R ${hrR}`);
  const survivalSeconds = median(ours);
  const seconds = median(reportTimes);
  const rSeconds = median(rTimes);
  console.log(`subjects ${recs.length}, PFS events ${recs.filter((r) => r.event).length}, HR ${hr.toFixed(6)} (R ${hrR.toFixed(6)}); reader lesion rows ${datasets.get('ADTRRDR')!.rows.length}`);
  console.log(`ours, whole report (${reportFiles} files, ${(reportBytes / 1e6).toFixed(1)} MB): ${reportTimes.map((x) => x.toFixed(3)).join(' ')} s`);
  console.log(`ours, survival only: ${ours.map((x) => x.toFixed(4)).join(' ')} s; R survival (+ KM plot to SVG and PNG): ${rTimes.map((x) => x.toFixed(4)).join(' ')} s`);
  console.log(
    JSON.stringify({
      bench: 'analysis',
      seconds: round4(seconds),
      r_seconds: round4(rSeconds),
      speedup_vs_r_survival: round4(rSeconds / seconds),
      survival_seconds: round4(survivalSeconds),
      survival_speedup: round4(rSeconds / survivalSeconds),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      subjects: recs.length,
      events: recs.filter((r) => r.event).length,
      report_files: reportFiles,
      reps: REPS,
      report_reps: REPORT_REPS,
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
