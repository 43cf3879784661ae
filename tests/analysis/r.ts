/**
 * Runs R (package survival) on a data frame written to a temporary CSV and reads back named numeric vectors. The R
 * side prints each result with out(name, x): one line, name then the values at 17 significant digits, NA for NA/NaN,
 * Inf/-Inf as such. Fails loudly when Rscript or survival is missing, or when the script fails (with R's message).
 *
 * One R process per test file answers every runR of that file: starting Rscript and loading survival costs about
 * 1.4 s, about all of a typical comparison's time, and the analysis tests made 43 such starts. Each script runs in
 * an environment of its own (its `d`, its variables; packages it loads stay loaded), so scripts do not see each
 * other's values. The process ends when the file's tests are done (afterAll), or with the jest worker.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '@app/core';
import type { TimeToEvent } from '@app/analysis';

export type RValues = Record<string, (number | null)[]>;
type Column = (string | number | boolean | null)[];

const DONE = '@@R-DONE@@';
/** The line that ends a script's output: the marker, then OK or ERROR and R's message. */
const DONE_LINE = new RegExp(`\n${DONE}\t([^\n]*)\n`);
/** Reads requests from stdin: a header line "<code lines>\t<csv path>", then the code; answers with the script's output and a DONE line. */
const SERVER = `
suppressPackageStartupMessages(library(survival))
out <- function(name, x) {
  x <- as.numeric(x)
  s <- ifelse(is.na(x), "NA", sprintf("%.17g", x))
  cat(name, paste(s, collapse = "\\t"), sep = "\\t"); cat("\\n")
}
.con <- file("stdin", open = "r")
repeat {
  .hdr <- readLines(.con, n = 1L)
  if (length(.hdr) == 0L) break
  .p <- strsplit(.hdr, "\\t", fixed = TRUE)[[1]]
  .code <- readLines(.con, n = as.integer(.p[1]))
  .env <- new.env(parent = globalenv())
  .res <- tryCatch({
    .env$d <- read.csv(.p[2], stringsAsFactors = FALSE)
    eval(parse(text = .code), envir = .env)
    "OK"
  }, error = function(e) paste("ERROR", gsub("[\\r\\n]+", " ", conditionMessage(e))))
  cat("\\n${DONE}\\t", .res, "\\n", sep = "")
  flush(stdout())
}
`;

/** Longest one script may take before the session is killed and the call fails. */
const SCRIPT_TIMEOUT_MS = 180_000;

class RSession {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly dir = mkdtempSync(join(tmpdir(), 'analysis-r-'));
  private out = '';
  private err = '';
  private waiting: { resolve: (s: string) => void; reject: (e: Error) => void } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;
  dead = false;

  constructor() {
    writeFileSync(join(this.dir, 'server.R'), SERVER);
    this.proc = spawn('Rscript', ['--vanilla', join(this.dir, 'server.R')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.out += chunk;
      const m = DONE_LINE.exec(this.out);
      if (!m || !this.waiting) return;
      const body = this.out.slice(0, m.index);
      this.out = this.out.slice(m.index + m[0].length);
      const w = this.waiting;
      this.waiting = null;
      if (m[1] === 'OK') w.resolve(body);
      else w.reject(new Error(`R: ${m[1]!.replace(/^ERROR /, '')}\n${this.err.slice(-2000)}`));
    });
    this.proc.stderr.on('data', (chunk: string) => (this.err = (this.err + chunk).slice(-8000)));
    const gone = (why: string) => {
      this.dead = true;
      this.waiting?.reject(new Error(`Rscript ${why}: ${this.err.slice(-2000)}`));
      this.waiting = null;
    };
    this.proc.on('error', (e) => gone(`could not run (${e.message}); is R (r-base-core, r-cran-survival) installed?`));
    this.proc.on('exit', (code, signal) => gone(`exited (code ${code}, signal ${signal})`));
  }

  /** Runs one script on the CSV at `csv`; resolves with what it printed. One script at a time. */
  run(script: string, csv: string): Promise<string> {
    const next = this.queue.then(
      () =>
        new Promise<string>((resolve, reject) => {
          if (this.dead) return reject(new Error(`Rscript is not running: ${this.err.slice(-2000)}`));
          const timer = setTimeout(() => {
            this.proc.kill('SIGKILL');
            reject(new Error(`R script did not finish within ${SCRIPT_TIMEOUT_MS / 1000} s`));
          }, SCRIPT_TIMEOUT_MS);
          this.waiting = {
            resolve: (s) => (clearTimeout(timer), resolve(s)),
            reject: (e) => (clearTimeout(timer), reject(e)),
          };
          const lines = script.split(/\r?\n/);
          this.proc.stdin.write(`${lines.length}\t${csv}\n${lines.join('\n')}\n`);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** A fresh file in this session's folder. */
  file(name: string): string {
    return join(this.dir, `${++this.seq}-${name}`);
  }

  close(): void {
    this.proc.stdin.end();
    if (!this.dead) setTimeout(() => this.proc.kill('SIGKILL'), 5000).unref();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let session: RSession | null = null;
const rSession = (): RSession => {
  if (!session || session.dead) session = new RSession();
  return session;
};
if (typeof afterAll === 'function') {
  afterAll(() => {
    session?.close();
    session = null;
  });
}

const csvCell = (v: string | number | boolean | null): string =>
  v === null ? 'NA' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'NA') : typeof v === 'boolean' ? (v ? '1' : '0') : `"${v.replace(/"/g, '""')}"`;

/** Runs `script` with survival loaded, the data frame in `d` and out() defined. */
export async function runR(script: string, data: Record<string, Column> = { x: [0] }): Promise<RValues> {
  const r = rSession();
  const names = Object.keys(data);
  const n = data[names[0]].length;
  const lines = [names.join(',')];
  for (let i = 0; i < n; i++) lines.push(names.map((k) => csvCell(data[k][i])).join(','));
  const csv = r.file('d.csv');
  writeFileSync(csv, lines.join('\n') + '\n');
  let stdout: string;
  try {
    stdout = await r.run(script, csv);
  } finally {
    rmSync(csv, { force: true });
  }
  const res: RValues = {};
  for (const line of stdout.split('\n')) {
    if (!line) continue;
    const [name, ...vals] = line.split('\t');
    res[name] = vals.filter((v) => v !== '').map((v) => (v === 'NA' ? null : v === 'Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v)));
  }
  return res;
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
