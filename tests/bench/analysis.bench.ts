/**
 * Benchmark: the survival analysis of the 10,000-subject simulated trial's PFS (ADTTE), ours against R
 * survival on the same data in the same run.
 *
 * Not timed: simulating the trial and deriving its ADTTE (deriveEndpointTablesParallel), writing the
 * CSV R reads, Rscript's start-up and CSV read. Timed, each repeated REPS times (median kept):
 * - ours: summariseTimeToEvent (KM per arm with log intervals, median and quartiles with CIs, 6/12-month
 *   rates, at-risk table, log-rank, Cox with Efron ties) + Cox with Breslow ties + KM with log-log
 *   intervals and its quantiles;
 * - R, in one R session: survfit + quantile + summary(times) + survdiff + coxph(efron) + coxph(breslow) +
 *   survfit(log-log) + quantile, timed inside R (proc.time).
 * The hazard ratios must agree to 1e-6 or the bench fails.
 *
 * Run: npm run bench:analysis   (BENCH_SUBJECTS=n to change the size).
 * Ends with ONE JSON line: {"bench":"analysis","seconds":..,"speedup_vs_r_survival":..,"peak_rss_mb":..,...};
 * seconds = our median time; speedup = R median time / ours.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { coxPh, DAYS_PER_MONTH, kaplanMeier, summariseTimeToEvent, survivalQuantiles, timeToEventFromAdtte } from '@app/analysis';
import { tableName, tableToDataset, type Table } from '@app/datasets';
import { deriveEndpointTablesParallel, simulateTrial } from '@app/endpoints';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 10_000);
const REPS = 11;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  const study = simulateTrial({ subjects: SUBJECTS, visits: 12, seed: 2024 });
  const { tables } = await deriveEndpointTablesParallel(study, {}, { blinded: false });
  const adtteTable = tables.find((t) => tableName(t) === 'ADTTE')!;
  const adtte = tableToDataset(adtteTable as Table | Table[]);
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
  const seconds = median(ours);
  const rSeconds = median(rTimes);
  console.log(`subjects ${recs.length}, PFS events ${recs.filter((r) => r.event).length}, HR ${hr.toFixed(6)} (R ${hrR.toFixed(6)})`);
  console.log(`ours: ${ours.map((x) => x.toFixed(4)).join(' ')} s; R survival: ${rTimes.map((x) => x.toFixed(4)).join(' ')} s`);
  console.log(
    JSON.stringify({
      bench: 'analysis',
      seconds: round4(seconds),
      r_seconds: round4(rSeconds),
      speedup_vs_r_survival: round4(rSeconds / seconds),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      subjects: recs.length,
      events: recs.filter((r) => r.event).length,
      reps: REPS,
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
