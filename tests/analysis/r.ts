/**
 * Runs R (Rscript, package survival) on a data frame written to a temporary CSV and reads back named
 * numeric vectors. The R side prints each result with out(name, x): one line, name then the values at 17
 * significant digits, NA for NA/NaN, Inf/-Inf as such. Fails loudly when Rscript or survival is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '@app/core';
import type { TimeToEvent } from '@app/analysis';

export type RValues = Record<string, (number | null)[]>;
type Column = (string | number | boolean | null)[];

const PRELUDE = `
suppressPackageStartupMessages(library(survival))
d <- read.csv(Sys.getenv("ANALYSIS_CSV"), stringsAsFactors = FALSE)
out <- function(name, x) {
  x <- as.numeric(x)
  s <- ifelse(is.na(x), "NA", sprintf("%.17g", x))
  cat(name, paste(s, collapse = "\\t"), sep = "\\t"); cat("\\n")
}
`;

const csvCell = (v: string | number | boolean | null): string =>
  v === null ? 'NA' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'NA') : typeof v === 'boolean' ? (v ? '1' : '0') : `"${v.replace(/"/g, '""')}"`;

/** Runs `script` (after the prelude: survival loaded, the data frame in `d`, out() defined). */
export function runR(script: string, data: Record<string, Column> = { x: [0] }): RValues {
  const dir = mkdtempSync(join(tmpdir(), 'analysis-r-'));
  try {
    const names = Object.keys(data);
    const n = data[names[0]].length;
    const lines = [names.join(',')];
    for (let i = 0; i < n; i++) lines.push(names.map((k) => csvCell(data[k][i])).join(','));
    writeFileSync(join(dir, 'd.csv'), lines.join('\n') + '\n');
    writeFileSync(join(dir, 's.R'), PRELUDE + script);
    const stdout = execFileSync('Rscript', ['--vanilla', join(dir, 's.R')], { env: { ...process.env, ANALYSIS_CSV: join(dir, 'd.csv') }, maxBuffer: 256 << 20 }).toString('utf8');
    const res: RValues = {};
    for (const line of stdout.split('\n')) {
      if (!line) continue;
      const [name, ...vals] = line.split('\t');
      res[name] = vals.filter((v) => v !== '').map((v) => (v === 'NA' ? null : v === 'Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v)));
    }
    return res;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The records as R data-frame columns: time, status (1 = event), grp, strat, and each covariate. */
export function recordColumns(recs: readonly TimeToEvent[]): Record<string, Column> {
  const cols: Record<string, Column> = { time: recs.map((r) => r.time), status: recs.map((r) => (r.event ? 1 : 0)), grp: recs.map((r) => r.group ?? 'all'), strat: recs.map((r) => r.stratum ?? 'all') };
  const covs = new Set(recs.flatMap((r) => Object.keys(r.covariates ?? {})));
  for (const c of covs) cols[c] = recs.map((r) => r.covariates?.[c] ?? null);
  return cols;
}

/** An R character vector literal. */
export const rStrings = (xs: readonly string[]): string => `c(${xs.map((x) => JSON.stringify(x)).join(', ')})`;

/**
 * Two- or three-arm trial with exponential event times (hazard ratio `hr` per arm after the first),
 * uniform administrative censoring and random drop-out, rounded up to whole days so that ties (several
 * events, and events with censorings, on the same day) are frequent. Seeded: same seed, same data.
 */
export function exponentialTrial(o: { n: number; seed: number; arms?: string[]; hr?: number[]; medianDays?: number; strata?: string[]; covariate?: boolean }): TimeToEvent[] {
  const rnd = mulberry32(o.seed);
  const arms = o.arms ?? ['Control', 'Drug'];
  const hr = o.hr ?? [1, 0.7];
  const lambda0 = Math.log(2) / (o.medianDays ?? 180);
  const out: TimeToEvent[] = [];
  for (let i = 0; i < o.n; i++) {
    const a = i % arms.length;
    const stratum = o.strata ? o.strata[Math.floor(rnd() * o.strata.length)] : undefined;
    const age = 40 + Math.round(rnd() * 400) / 10;
    const sHr = o.strata ? 1 + 0.5 * o.strata.indexOf(stratum!) : 1;
    const ageHr = o.covariate ? Math.exp(0.02 * (age - 60)) : 1;
    const t = -Math.log(1 - rnd()) / (lambda0 * hr[a] * sHr * ageHr);
    const admin = 200 + rnd() * 500;
    const drop = rnd() < 0.15 ? rnd() * 400 : Infinity;
    const c = Math.min(admin, drop);
    const time = Math.max(1, Math.ceil(Math.min(t, c)));
    out.push({ id: `S${i + 1}`, time, event: t <= c, group: arms[a], ...(stratum ? { stratum } : {}), ...(o.covariate ? { covariates: { AGE: age } } : {}) });
  }
  return out;
}
