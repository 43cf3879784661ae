/**
 * Benchmark (issue 13): report generation for the 10,000-subject simulated trial (with its BICR reads: two
 * radiologists + AI per subject), ours against R survival on the same ADTTE in the same run.
 *
 * Not timed: simulating the trial, deriving its datasets (deriveEndpointTablesParallel) and reader datasets
 * (readDatasets), writing the CSVs R reads, Rscript's start-up and CSV reads. Timed (median kept):
 * - ours, the whole report (REPORT_REPS times): buildCutReport = every statistic of the report (KM per arm for PFS and
 *   DOR with medians, quartiles, 6/12-month rates, at-risk tables, log-rank, Cox Efron per parameter and in every
 *   forest subgroup, ORR/DCR and the MN difference, tumour size, the whole agreement section over ~0.86 million
 *   reader lesion rows), every plot (KM x2, waterfall, spider, swimmer, Bland-Altman x3, forest) rendered to SVG and
 *   PNG, the HTML page, statistics.json and the report manifest;
 * - R, the same survival analysis and every plot (REPORT_REPS times, in one R session, timed inside R): survfit +
 *   quantile + summary(landmarks, at-risk times) + survdiff + coxph(efron) for PFS; survfit + quantile + summary for
 *   DOR; coxph(efron) in every forest subgroup; the nine plots drawn with base graphics from the same data (KM with
 *   at-risk rows and median lines, waterfall and spider of the same systematic samples, swimmer, Bland-Altman x3 with
 *   bias and limits computed in R, forest) each written to SVG (svg()) and PNG (png(), 1200 x 750 at 144 dpi); timed
 *   separately in the same loop, R's agreement section (tests/bench/agreement.R: the same ICCs, Bland-Altman, tolerance
 *   shares, kappas, BOR/PD agreement, target selection, adjudication and AI effect from the same ADTRRDR / ADRSRDR
 *   rows; its ICC, kappa, adjudication rate and AI edit size must equal ours to 1e-6). R writes no HTML/JSON;
 * - ours and R, survival only (REPS times): summariseTimeToEvent + Cox Breslow + KM log-log and its quantiles
 *   against survfit + quantile + summary + survdiff + coxph(efron, breslow) + survfit(log-log) + quantile.
 * The PFS hazard ratio and every forest-subgroup hazard ratio must agree with R to 1e-6, or the bench fails.
 *
 * Run: npm run bench:analysis   (BENCH_SUBJECTS=n to change the size).
 * Ends with ONE JSON line: {"bench":"analysis","seconds":..,"speedup_vs_r_survival":..,"peak_rss_mb":..,...};
 * seconds = our median time for the whole report (seconds_mean: the mean, with the full collections that the report's
 * output buffers set off every few reports); speedup_vs_r_survival = R's median time for the survival analysis and
 * every plot / ours for the whole report (the issue's figure: R without the agreement section);
 * speedup_vs_r_same_work = R's median time for survival, every plot and the agreement section / ours;
 * survival_seconds / survival_speedup: the survival-only comparison.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { coxPh, DAYS_PER_MONTH, kaplanMeier, readerAgreement, summariseTimeToEvent, survivalQuantiles, timeToEventFromAdtte } from '@app/analysis';
import { type Dataset, tableName, tableToDataset, type Table } from '@app/datasets';
import { deriveEndpointTablesParallel, latestDate, readDatasets, simulateTrial } from '@app/endpoints';
import { buildCutReport, PLOT_LIMITS, subgroupsOf } from '@app/report';

const SUBJECTS = Number(process.env.BENCH_SUBJECTS ?? 10_000);
const REPS = 11;
const REPORT_REPS = Number(process.env.BENCH_REPORT_REPS ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  // Only the cut's datasets stay in memory, as in a process that makes a cut's report (the API, the CLI): the
  // simulator's input (about half of the heap here, 0.5 GB for 10,000 subjects) would double every full collection's cost.
  const { datasets, studyId, cutoff } = await (async () => {
    const study = simulateTrial({ subjects: SUBJECTS, visits: 12, seed: 2024, readers: true, qlq: false, stepWeeks: 0 });
    const cutoff = latestDate(study);
    study.dataCutDate = cutoff;
    const { tables, settings } = await deriveEndpointTablesParallel(study, {}, { blinded: false });
    const datasets = new Map<string, Dataset>();
    for (const t of tables) if (['ADTTE', 'ADRS', 'ADTR', 'TU'].includes(tableName(t))) datasets.set(tableName(t), tableToDataset(t as Table | Table[]));
    for (const d of readDatasets(study, settings).datasets) datasets.set(d.name, d);
    return { datasets, studyId: study.studyId, cutoff };
  })();
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
  let model: Awaited<ReturnType<typeof buildCutReport>>['model'] | undefined;
  for (let i = 0; i < REPORT_REPS; i++) {
    const t0 = performance.now();
    const rep = await buildCutReport({ cutId: 'BENCH', studyId, cutoffDate: cutoff, blinded: false, manifestSha256: '0'.repeat(64), cutCodeVersion: 'bench' }, datasets, { codeVersion: 'bench', png: true });
    reportTimes.push((performance.now() - t0) / 1000);
    model = rep.model;
    reportFiles = rep.files.length;
    reportBytes = rep.files.reduce((a, f) => a + f.bytes.length, 0);
    const hrReport = rep.model.statistics.find((e) => e.id === `PFS.hr.Drug X 10 mg`)!.value!;
    if (Math.abs(hrReport - hr) > 1e-12 * hr) throw new Error(`the report's HR ${hrReport} differs from summariseTimeToEvent's ${hr}`);
  }

  // ---- R: the inputs, written before any timing
  const m = model!;
  const dir = mkdtempSync(join(tmpdir(), 'bench-analysis-'));
  const q = (x: string) => `"${x.replace(/"/g, '""')}"`;
  const csv = (name: string, header: string[], rows: (string | number | null)[][]) =>
    writeFileSync(join(dir, name), header.join(',') + '\n' + rows.map((r) => r.map((v) => (v === null ? 'NA' : typeof v === 'number' ? String(v) : q(v))).join(',')).join('\n') + '\n');
  const subgroups = subgroupsOf(datasets, recs);
  csv('pfs.csv', ['time', 'status', 'grp', ...subgroups.map((_, k) => `sg${k + 1}`)], recs.map((r) => [r.time, r.event ? 1 : 0, r.group!, ...subgroups.map((g) => g.of.get(r.id!) ?? null)]));
  csv('subgroups.csv', ['col', 'name', 'level'], subgroups.flatMap((g, k) => g.levels.map((l) => [`sg${k + 1}`, g.name, l])));
  const dor = timeToEventFromAdtte(adtte, { paramcd: 'DOR' });
  csv('dor.csv', ['time', 'status', 'grp'], dor.map((r) => [r.time, r.event ? 1 : 0, r.group!]));
  csv('sizes.csv', ['id', 'best', 'bor'], m.plotData.sizes.map((x) => [x.usubjid, x.bestPchg, x.bor]));
  csv('paths.csv', ['id', 'week', 'pchg', 'bor'], m.plotData.sizes.flatMap((x) => x.path.map((p) => [x.usubjid, p.week, p.pchg, x.bor])));
  csv('swimmer.csv', ['id', 'weeks', 'ongoing', 'bor'], m.plotData.swimmer.map((x) => [x.usubjid, x.weeks, x.ongoing ? 1 : 0, x.bor]));
  csv('swimev.csv', ['id', 'week', 'kind'], m.plotData.swimmer.flatMap((x) => x.events.map((e) => [x.usubjid, e.week, e.kind])));
  const baPlots = m.agreement.lesions.filter((l) => l.blandAltman);
  // the reader-level rows, for R's agreement section (only the columns it reads)
  const columnsCsv = (name: string, ds: Dataset, cols: string[]) => {
    const idx = cols.map((c) => ds.columns.findIndex((x) => x.name === c));
    csv(name, cols, ds.rows.map((r) => idx.map((i) => (i < 0 ? null : (r[i] as string | number | null) ?? null))));
  };
  columnsCsv('adtrrdr.csv', datasets.get('ADTRRDR')!, ['USUBJID', 'EVALID', 'READER', 'AVISITN', 'LESIONID', 'AVAL', 'AVALC', 'AIVAL', 'AIVALC', 'AIDECN']);
  columnsCsv('adrsrdr.csv', datasets.get('ADRSRDR')!, ['USUBJID', 'EVAL', 'EVALID', 'READER', 'PARAMCD', 'AVALC', 'ADT', 'AVISITN', 'ADJFL']);
  const rq = (x: string) => `"${x.replace(/["\\]/g, '\\$&')}"`;
  const evR = `c(${m.agreement.evaluators.map(rq).join(', ')})`;
  const pairsR = `list(${m.agreement.lesions.map((l) => `c(${rq(l.a)}, ${rq(l.b)})`).join(', ')})`;
  // R draws its Bland-Altman plots from every pair (and computes bias and limits from them): the report keeps only the
  // plotted sample, so every pair comes from an agreement analysis of its own, untimed
  const everyPair = readerAgreement(datasets.get('ADTRRDR'), datasets.get('ADRSRDR')).lesions.filter((l) => l.blandAltman);
  everyPair.forEach((l, k) => csv(`ba${k + 1}.csv`, ['a', 'b'], Array.from(l.points.mean, (mean, i) => [mean + l.points.diff[i]! / 2, mean - l.points.diff[i]! / 2])));
  // the subgroup rows (the forest's 'All subjects' row is the PFS HR, checked above)
  const forestOurs = m.plotData.forest.filter((f) => f.hr !== null && f.subgroup !== 'All subjects');
  const lim = PLOT_LIMITS;
  let rTimes: number[];
  let rSurvTimes: number[];
  let rAgreeTimes: number[];
  let agreeR: number[];
  let hrR: number;
  let forestR: { name: string; level: string; hr: number }[];
  try {
    const script = `
suppressPackageStartupMessages({ library(survival); library(vcd) })
source(${rq(join(process.cwd(), 'tests', 'bench', 'agreement.R'))})
rd <- function(f) read.csv(file.path("${dir}", f), stringsAsFactors = FALSE)
tr <- read.csv(file.path("${dir}", "adtrrdr.csv"), stringsAsFactors = FALSE, colClasses = c(AVALC = "character", AIVALC = "character"))
rs <- read.csv(file.path("${dir}", "adrsrdr.csv"), stringsAsFactors = FALSE)
d <- rd("pfs.csv"); d$g <- relevel(factor(d$grp), ref = "${reference}")
sg <- rd("subgroups.csv")
dd <- rd("dor.csv")
sizes <- rd("sizes.csv"); paths <- rd("paths.csv"); sw <- rd("swimmer.csv"); swe <- rd("swimev.csv")
ba <- lapply(seq_len(${baPlots.length}), function(k) rd(sprintf("ba%d.csv", k)))
M <- ${DAYS_PER_MONTH}
bor_col <- c(CR = "#009E73", PR = "#56B4E9", SD = "#E69F00", "NON-CR/NON-PD" = "#F0E442", PD = "#D55E00", NE = "#999999", MISSING = "#CCCCCC")
col_of <- function(b) { x <- bor_col[b]; x[is.na(x)] <- "#999999"; x }
systematic <- function(n, max) if (n <= max) seq_len(n) else seq(1, n, by = ceiling(n / max))
km_plot <- function(f, main) {
  par(mar = c(8, 4, 3, 1))
  plot(f, col = c("#0072B2", "#D55E00"), mark.time = TRUE, xscale = M, xlab = "Months", ylab = "Survival probability", main = main, conf.int = FALSE)
  abline(h = 0.5, lty = 3)
  med <- quantile(f, 0.5, conf.int = FALSE) / M
  abline(v = med, lty = 2, col = c("#0072B2", "#D55E00"))
  ticks <- pretty(c(0, max(f$time) / M))
  s <- summary(f, times = ticks * M, extend = TRUE)
  st <- if (is.null(s$strata)) rep("all", length(s$time)) else as.character(s$strata)
  for (k in seq_along(unique(st))) mtext(s$n.risk[st == unique(st)[k]], side = 1, line = 4 + k, at = ticks[seq_len(sum(st == unique(st)[k]))], cex = 0.7)
}
draw_all <- function(open, f, fd) {
  open("km-pfs"); km_plot(f, "PFS"); dev.off()
  open("km-dor"); km_plot(fd, "DOR"); dev.off()
  o <- sizes[order(-sizes$best, sizes$id), ]; w <- o[systematic(nrow(o), ${lim.waterfall}), ]
  open("waterfall"); barplot(pmax(-100, pmin(100, w$best)), col = col_of(w$bor), border = NA, ylim = c(-100, 100), ylab = "Best change from baseline (%)"); abline(h = c(20, -30), lty = 2); legend("topright", names(bor_col), fill = bor_col, cex = 0.6); dev.off()
  ids <- sizes$id[systematic(nrow(sizes), ${lim.spider})]; p <- paths[paths$id %in% ids, ]
  open("spider"); plot(NA, xlim = range(p$week), ylim = c(-100, 150), xlab = "Weeks", ylab = "Change from baseline (%)")
  for (s in split(p, p$id)) lines(s$week, pmin(150, s$pchg), col = col_of(s$bor[1])); abline(h = c(20, -30), lty = 2); dev.off()
  s <- sw[seq_len(min(nrow(sw), ${lim.swimmer})), ]; e <- swe[swe$id %in% s$id, ]; y <- match(e$id, s$id)
  open("swimmer"); plot(NA, xlim = c(0, max(s$weeks)), ylim = c(0.5, nrow(s) + 0.5), xlab = "Weeks", ylab = "", yaxt = "n")
  segments(0, seq_len(nrow(s)), s$weeks, seq_len(nrow(s)), lwd = 6, col = col_of(s$bor)); points(e$week, y, pch = c(CR = 17, PR = 2, PD = 4, Death = 15)[e$kind])
  arrows(s$weeks[s$ongoing == 1], which(s$ongoing == 1), s$weeks[s$ongoing == 1] + 2, which(s$ongoing == 1), length = 0.05); dev.off()
  for (k in seq_along(ba)) {
    a <- ba[[k]]$a; b <- ba[[k]]$b; mn <- (a + b) / 2; df <- a - b; bias <- mean(df); sdv <- sd(df); lo <- bias - qnorm(0.975) * sdv; hi <- bias + qnorm(0.975) * sdv
    i <- systematic(length(df), ${lim.blandAltman})
    open(sprintf("ba%d", k)); plot(mn[i], df[i], pch = 16, cex = 0.4, col = rgb(0, 0.45, 0.7, 0.35), xlab = "Mean (mm)", ylab = "Difference (mm)")
    abline(h = c(lo, bias, hi), col = "#D55E00", lty = c(2, 1, 2)); text(max(mn[i]), c(lo, bias, hi), sprintf("%.2f", c(lo, bias, hi)), pos = 3, cex = 0.7); dev.off()
  }
  open("forest"); n <- nrow(forest)
  plot(forest$hr, seq_len(n), log = "x", xlim = range(c(forest$lower, forest$upper)), pch = 15, yaxt = "n", xlab = "Hazard ratio", ylab = "")
  segments(forest$lower, seq_len(n), forest$upper, seq_len(n)); abline(v = 1, lty = 2); axis(2, at = seq_len(n), labels = paste(forest$name, forest$level), las = 1, cex.axis = 0.6); dev.off()
}
# PFS by arm: KM with quartiles, landmark rates and the at-risk table, log-rank, Cox (Efron); both timed loops
pfs <- function() {
  f <- survfit(Surv(time, status) ~ g, data = d)
  q <- quantile(f, c(0.25, 0.5, 0.75))
  s <- summary(f, times = c(${landmarks.join(', ')}))
  a <- summary(f, times = seq(0, max(d$time), by = 3 * M), extend = TRUE)
  lr <- survdiff(Surv(time, status) ~ g, data = d)
  list(f = f, q = q, s = s, a = a, lr = lr, ce = coxph(Surv(time, status) ~ g, data = d, ties = "efron"))
}
times <- numeric(0); atimes <- numeric(0)
for (rep in 1:${REPORT_REPS}) {
  t0 <- proc.time()[["elapsed"]]
  p <- pfs(); f <- p$f; ce <- p$ce
  fd <- survfit(Surv(time, status) ~ grp, data = dd)
  qd <- quantile(fd, c(0.25, 0.5, 0.75))
  sd_ <- summary(fd, times = c(${landmarks.join(', ')}), extend = TRUE)
  forest <- do.call(rbind, lapply(seq_len(nrow(sg)), function(k) {
    sub <- d[!is.na(d[[sg$col[k]]]) & d[[sg$col[k]]] == sg$level[k], ]
    fit <- coxph(Surv(time, status) ~ g, data = sub, ties = "efron")
    ci <- exp(confint(fit))[1, ]
    data.frame(name = sg$name[k], level = sg$level[k], hr = exp(coef(fit))[1], lower = ci[1], upper = ci[2])
  }))
  draw_all(function(name) svg(file.path("${dir}", paste0(name, ".svg")), width = 8, height = 5), f, fd)
  draw_all(function(name) png(file.path("${dir}", paste0(name, ".png")), width = 1200, height = 750, res = 144), f, fd)
  times <- c(times, proc.time()[["elapsed"]] - t0)
  t1 <- proc.time()[["elapsed"]]
  ag <- agree(tr, rs, ${evR}, ${pairsR})
  atimes <- c(atimes, proc.time()[["elapsed"]] - t1)
}
stimes <- numeric(0)
for (i in 1:${REPS}) {
  t0 <- proc.time()[["elapsed"]]
  p <- pfs(); ce <- p$ce
  cb <- coxph(Surv(time, status) ~ g, data = d, ties = "breslow")
  f2 <- survfit(Surv(time, status) ~ g, data = d, conf.type = "log-log")
  q2 <- quantile(f2, c(0.25, 0.5, 0.75))
  stimes <- c(stimes, proc.time()[["elapsed"]] - t0)
}
cat(sprintf("%.17g", exp(coef(ce))[1]), "\\n")
cat(paste(sprintf("%.6f", times), collapse = " "), "\\n")
cat(paste(sprintf("%.6f", stimes), collapse = " "), "\\n")
write.csv(forest, file.path("${dir}", "forest-r.csv"), row.names = FALSE)
cat(paste(sprintf("%.6f", atimes), collapse = " "), "\\n")
cat(sprintf("%.17g", c(sapply(ag$les, function(l) l$icc[["icc21"]]), sapply(ag$resp, function(r) r$k[1, 1]), ag$adjud$rate[1], ag$eff$size[["50%"]])), "\\n")
`;
    writeFileSync(join(dir, 'bench.R'), script);
    const out = execFileSync('Rscript', ['--vanilla', join(dir, 'bench.R')], { maxBuffer: 1 << 26 }).toString().trim().split('\n');
    hrR = Number(out[0]);
    rTimes = out[1]!.trim().split(/\s+/).map(Number);
    rSurvTimes = out[2]!.trim().split(/\s+/).map(Number);
    rAgreeTimes = out[3]!.trim().split(/\s+/).map(Number);
    agreeR = out[4]!.trim().split(/\s+/).map(Number);
    const lines = readFileSync(join(dir, 'forest-r.csv'), 'utf8').trim().split('\n').slice(1);
    forestR = lines.map((l) => {
      const cells = l.match(/("([^"]|"")*"|[^,]+)/g)!.map((c) => c.replace(/^"|"$/g, '').replace(/""/g, '"'));
      return { name: cells[0]!, level: cells[1]!, hr: Number(cells[2]) };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!(Math.abs(hr - hrR) <= 1e-6 * hrR)) throw new Error(`hazard ratios differ: ours ${hr}, R ${hrR}`);
  // every forest subgroup's HR as R has it
  if (forestOurs.length !== forestR.length) throw new Error(`forest: ${forestOurs.length} subgroup HRs here, ${forestR.length} in R`);
  for (const f of forestOurs) {
    const r = forestR.find((x) => x.name === f.subgroup && x.level === f.level);
    if (!r || !(Math.abs(f.hr! - r.hr) <= 1e-6 * r.hr)) throw new Error(`forest ${f.subgroup} ${f.level}: ours ${f.hr}, R ${r?.hr}`);
  }
  // R's agreement section computed what ours did
  const ag = m.agreement;
  const agreeOurs = [...ag.lesions.map((l) => l.icc!.icc21.value), ...ag.responses.map((r) => r.timepoints.kappa.unweighted!.kappa), ag.adjudication!.rate!.share, ag.aiEffect!.overall.editSize!.medianAbsMm];
  if (agreeOurs.length !== agreeR.length || agreeOurs.some((x, i) => !(Math.abs(x - agreeR[i]!) <= 1e-6 * Math.max(1, Math.abs(x))))) throw new Error(`agreement differs from R: ours ${agreeOurs.join(' ')}; R ${agreeR.join(' ')}`);
  const rSameWork = median(rTimes.map((t, i) => t + rAgreeTimes[i]!));
  const survivalSeconds = median(ours);
  const seconds = median(reportTimes);
  const rSeconds = median(rTimes);
  const rSurvivalSeconds = median(rSurvTimes);
  console.log(`subjects ${recs.length}, PFS events ${recs.filter((r) => r.event).length}, HR ${hr.toFixed(6)} (R ${hrR.toFixed(6)}); reader lesion rows ${datasets.get('ADTRRDR')!.rows.length}`);
  console.log(`ours, whole report (${reportFiles} files, ${(reportBytes / 1e6).toFixed(1)} MB): ${reportTimes.map((x) => x.toFixed(3)).join(' ')} s`);
  console.log(`R, survival analysis and every plot to SVG and PNG: ${rTimes.map((x) => x.toFixed(3)).join(' ')} s; forest HRs agree (${forestOurs.length})`);
  console.log(`R, agreement section: ${rAgreeTimes.map((x) => x.toFixed(3)).join(' ')} s (ICC, kappa, adjudication rate, AI edit size equal ours)`);
  console.log(`survival only: ours ${ours.map((x) => x.toFixed(4)).join(' ')} s; R ${rSurvTimes.map((x) => x.toFixed(4)).join(' ')} s`);
  console.log(
    JSON.stringify({
      bench: 'analysis',
      seconds: round4(seconds),
      r_seconds: round4(rSeconds),
      speedup_vs_r_survival: round4(rSeconds / seconds),
      seconds_mean: round4(reportTimes.reduce((x, y) => x + y, 0) / reportTimes.length),
      r_seconds_same_work: round4(rSameWork),
      speedup_vs_r_same_work: round4(rSameWork / seconds),
      survival_seconds: round4(survivalSeconds),
      r_survival_seconds: round4(rSurvivalSeconds),
      survival_speedup: round4(rSurvivalSeconds / survivalSeconds),
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
