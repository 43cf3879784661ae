/**
 * Every number of a cut's report, computed from the cut's datasets with @app/analysis (and @app/endpoints
 * responseRates), as a flat list of entries that each name the dataset, parameter and subject count they come from,
 * plus the tables (rows of entry references) and the data the plots draw. The HTML shows nothing that is not an entry
 * here, so statistics.json holds every number of the report.
 *
 * Blinded cuts (no ARM column anywhere; the cut manifest says blinded): pooled statistics only - no arm, no hazard
 * ratio, no difference, no forest plot, and nothing is grouped by arm.
 * Data that cannot give a statistic (too few events for a median, one arm, a subgroup without events, zero-variance
 * measurements, no reads) give a null value and a note in words, never an exception or NaN.
 */
import {
  AnalysisError,
  coxPh,
  DAYS_PER_MONTH,
  type NotEstimable,
  rateDifference,
  readerAgreement,
  sortedLevels,
  summariseTimeToEvent,
  timeToEventFromAdtte,
  type AgreementOptions,
  type AgreementSummary,
  type KmCurve,
  type Share,
  type TimeToEvent,
  type TimeToEventSummary,
} from '@app/analysis';
import { byRun, cellAt as datasetsCellAt, columnIndices, type Dataset, type Value } from '@app/datasets';
import { responseRates } from '@app/endpoints';
import { cmp, hasColumn, toNum, type Datasets } from './data';
import { PLOT_LIMITS, systematicIndices } from './limits';

// Bound once at load: a call through @app/datasets' `export *` re-export is a getter with a megamorphic keyed lookup,
// which costs more than cellAt itself in the row loops (about 30 ms of a 10,000-subject report's statistics).
const cellAt = datasetsCellAt;

export interface ReportCutInfo {
  cutId: string;
  studyId: string;
  cutoffDate: string;
  blinded: boolean;
  /** sha256 of the cut's manifest (what the report was computed from). */
  manifestSha256: string;
  /** Code version that made the cut (from its manifest). */
  cutCodeVersion: string;
  /** Protocol settings recorded in the cut manifest. */
  settings?: unknown;
}

export type StatFormat = 'count' | 'months' | 'days' | 'percent' | 'pp' | 'ratio' | 'p' | 'coef' | 'mm' | 'share' | 'number1';

export interface StatEntry {
  /** Stable id, e.g. 'PFS.median.Placebo', 'agreement.lesions.RADIOLOGIST 1|RADIOLOGIST 2.icc21'. */
  id: string;
  section: 'population' | 'time-to-event' | 'response' | 'tumour-size' | 'agreement' | 'forest';
  label: string;
  value: number | null;
  lower?: number | null;
  upper?: number | null;
  confLevel?: number;
  /** How the value is shown: months (1 decimal), percent of subjects (1 decimal), p-value, ... */
  format: StatFormat;
  /** Unit of value / lower / upper in this JSON (months = ADTTE days / 30.4375; percent = 100 x proportion). */
  unit: string;
  dataset: string;
  parameter: string;
  /** Subjects the number is computed from. */
  subjects: number;
  /** Arm (unblinded cuts), evaluator pair, subgroup... null for the whole cut. */
  group: string | null;
  method?: string;
  /** Why value is null, or a caveat. */
  note?: string;
}

export interface ReportNote {
  section: StatEntry['section'];
  code: string;
  message: string;
}

export interface ReportTable {
  id: string;
  section: StatEntry['section'];
  title: string;
  caption?: string;
  columns: string[];
  rows: { label: string; cells: (string | null)[] }[];
}

export interface KmPlotData {
  parameter: string;
  label: string;
  xTitle: string;
  curves: { group: string; points: { t: number; s: number }[]; censored: { t: number; s: number }[]; median: number | null }[];
  atRisk: { group: string; t: number; n: number }[];
  ticks: number[];
}

export interface SubjectSize {
  usubjid: string;
  bestPchg: number;
  bor: string;
  /**
   * % change from baseline over time (weeks since the baseline scan), starting at (0, 0): only for the subjects the
   * spider plot draws (a systematic sample of PLOT_LIMITS.spider, in this list's order); [] for the others.
   */
  path: { week: number; pchg: number }[];
}

export interface SwimmerRow {
  usubjid: string;
  weeks: number;
  ongoing: boolean;
  events: { week: number; kind: 'CR' | 'PR' | 'PD' | 'Death' }[];
  bor: string;
}

export interface ForestRow {
  subgroup: string;
  level: string;
  comparison: string;
  hrId: string | null;
  hr: number | null;
  lower: number | null;
  upper: number | null;
  n: number;
  events: number;
  note?: string;
}

export interface ReportModel {
  reportVersion: 1;
  cut: ReportCutInfo;
  /** Arms in display order (treatment arms, then the reference), [] when blinded or absent. */
  arms: string[];
  reference: string | null;
  confLevel: number;
  statistics: StatEntry[];
  tables: ReportTable[];
  notes: ReportNote[];
  /** Raw agreement summary (the tables hold its numbers as entries). */
  agreement: AgreementSummary;
  plotData: {
    km: KmPlotData[];
    sizes: SubjectSize[];
    swimmer: SwimmerRow[];
    forest: ForestRow[];
  };
}

export interface ReportOptions {
  confLevel?: number;
  /** Control arm (the HR reference); default: an arm named like placebo / control / standard of care, else the first in code-unit order. */
  reference?: string;
  /** ADTTE parameters analysed, in this order, when present (default PFS, OS, DOR). */
  tteParams?: string[];
}

const TTE_LABEL: Record<string, string> = { PFS: 'Progression-free survival', OS: 'Overall survival', DOR: 'Duration of response (responders)' };
const BOR_ORDER = ['CR', 'PR', 'SD', 'NON-CR/NON-PD', 'PD', 'NE', 'MISSING'];
const CONTROL_RE = /placebo|control|standard|\bsoc\b|^pbo$/i;
const LIVER_RE = /LIVER/i;

/** The control arm: the option, else a name like placebo/control/standard of care, else the first arm. */
export function pickReference(arms: string[], wanted?: string): string | null {
  if (!arms.length) return null;
  if (wanted && arms.includes(wanted)) return wanted;
  return arms.find((a) => CONTROL_RE.test(a)) ?? arms[0]!;
}

class Collector {
  readonly entries: StatEntry[] = [];
  private readonly ids = new Set<string>();
  add(e: StatEntry): string {
    let id = e.id;
    for (let k = 2; this.ids.has(id); k++) id = `${e.id}#${k}`;
    this.ids.add(id);
    const clean = (x: number | null | undefined) => (x === undefined ? undefined : x === null || !Number.isFinite(x) ? null : x);
    this.entries.push({ ...e, id, value: clean(e.value) ?? null, ...(e.lower !== undefined ? { lower: clean(e.lower) } : {}), ...(e.upper !== undefined ? { upper: clean(e.upper) } : {}) });
    return id;
  }
}

const months = (days: number | null | undefined) => (days === null || days === undefined ? null : days / DAYS_PER_MONTH);
const pct = (x: number | null | undefined) => (x === null || x === undefined ? null : 100 * x);

/** Computes the report model of a cut from its datasets. Pure and deterministic. */
export function computeReport(cut: ReportCutInfo, datasets: Datasets, o: ReportOptions = {}): ReportModel {
  return computeReportStaged(cut, datasets, o).finish();
}

/** A report model without its agreement section yet (see computeReportStaged). */
export type ReportModelBase = Omit<ReportModel, 'agreement'>;

/**
 * computeReport in two steps: `base` holds every section but reader agreement; `finish()` computes the agreement
 * section (over every reader row of the cut: the report's largest computation) and completes the model. Between the
 * two, buildCutReport sends the plots to the worker-thread pool (renderPlotsStaged), so that they are drawn while
 * this thread computes the agreement. Same model as computeReport.
 */
export function computeReportStaged(cut: ReportCutInfo, datasets: Datasets, o: ReportOptions = {}): { base: ReportModelBase; finish: (onLesions?: AgreementOptions['onLesions']) => ReportModel } {
  const confLevel = o.confLevel ?? 0.95;
  const lvl = `${Math.round(confLevel * 100)} %`;
  const S = new Collector();
  const notes: ReportNote[] = [];
  const tables: ReportTable[] = [];
  const note = (section: StatEntry['section'], n: NotEstimable | { code: string; message: string }) => {
    if (!notes.some((x) => x.section === section && x.message === n.message)) notes.push({ section, code: n.code, message: n.message });
  };
  const adtte = datasets.get('ADTTE');
  const adrs = datasets.get('ADRS');
  const adtr = datasets.get('ADTR');
  // blinding: the manifest's flag, and no ARM column in any dataset (a blinded cut never has one)
  const anyArm = [...datasets.values()].some((d) => hasColumn(d, 'ARM'));
  const blinded = cut.blinded || !anyArm;
  const armSource = adtte ?? adrs;
  const armOf = new Map<string, string>();
  if (!blinded && armSource && hasColumn(armSource, 'ARM')) {
    for (const ds of [adtte, adrs].filter((d): d is Dataset => !!d && hasColumn(d, 'ARM'))) {
      const [iArm, iU] = columnIndices(ds, 'ARM', 'USUBJID');
      // a subject's rows come together: a row with the previous row's subject and arm sets nothing new
      let lastU: Value | undefined;
      let lastA: Value | undefined;
      for (const r of ds.rows) {
        const a = cellAt(r, iArm);
        const u = cellAt(r, iU);
        if (u === lastU && a === lastA) continue;
        lastU = u;
        lastA = a;
        if (a !== null && a !== '') armOf.set(String(u), String(a));
      }
    }
  }
  const armsSorted = sortedLevels(armOf.values());
  const reference = blinded ? null : pickReference(armsSorted, o.reference);
  const arms = reference ? [...armsSorted.filter((a) => a !== reference), reference] : [];
  const groupLabel = (g: string | null) => g ?? (blinded ? 'All subjects (blinded)' : 'All subjects');

  // ------------------------------------------------------------------------------------------------ population
  const subjects = new Set<string>();
  const addSubject = byRun((u: Value) => subjects.add(String(u)));
  for (const ds of [adtte, adrs, adtr]) {
    if (!ds) continue;
    const [iU] = columnIndices(ds, 'USUBJID');
    for (const r of ds.rows) addSubject.of(cellAt(r, iU));
  }
  const popRows: ReportTable['rows'] = [];
  popRows.push({ label: 'Subjects in the cut', cells: [S.add({ id: 'population.subjects', section: 'population', label: 'Subjects in the cut', value: subjects.size, format: 'count', unit: 'subjects', dataset: 'ADTTE/ADRS/ADTR', parameter: 'USUBJID', subjects: subjects.size, group: null })] });
  for (const a of arms) {
    const n = [...armOf.values()].filter((x) => x === a).length;
    popRows.push({ label: a, cells: [S.add({ id: `population.subjects.${a}`, section: 'population', label: `Subjects randomised to ${a}`, value: n, format: 'count', unit: 'subjects', dataset: adtte ? 'ADTTE' : 'ADRS', parameter: 'ARM', subjects: n, group: a })] });
  }
  tables.push({ id: 'population', section: 'population', title: 'Analysis population', caption: blinded ? 'Blinded cut: subjects are not split by arm.' : `Reference (control) arm for hazard ratios and differences: ${reference ?? 'none'}.`, columns: ['Subjects'], rows: popRows });
  if (blinded) note('population', { code: 'report.blinded', message: 'blinded cut: every statistic and plot pools all subjects; no hazard ratio, log-rank test, ORR difference or forest plot' });
  if (!blinded && arms.length < 2) note('population', { code: 'analysis.single-arm', message: `only one arm in the data (${arms[0] ?? 'none'}): no hazard ratio, no log-rank test, no ORR difference and no forest plot` });

  const c: SectionContext = { S, tables, note, confLevel, lvl, blinded, arms, reference, armOf, groupLabel };
  // ------------------------------------------------------------------------------------------------ sections
  const { km, tteSummaries } = timeToEventSection(c, adtte, o);
  const borOf = responseSection(c, adrs);
  const sizes = tumourSizeSection(c, adtr, borOf);
  const swimmer = swimmerSection(adrs, adtte, borOf);

  // ------------------------------------------------------------------------------------------------ forest
  const forest: ForestRow[] = [];
  const pfsTte = tteSummaries.get('PFS');
  if (!blinded && arms.length >= 2 && pfsTte) forestRows(S, forest, tables, pfsTte.records, datasets, arms, reference!, confLevel, note);
  else if (!blinded && pfsTte) note('forest', { code: 'analysis.single-arm', message: 'forest plot: needs two arms' });

  const base: ReportModelBase = { reportVersion: 1, cut, arms, reference, confLevel, statistics: S.entries, tables, notes, plotData: { km, sizes, swimmer, forest } };
  let done: ReportModel | undefined;
  return {
    base,
    // ---------------------------------------------------------------------------------------------- agreement
    // onLesions: readerAgreement's early hand-over of the diameter section (buildCutReport draws Bland-Altman meanwhile)
    finish: (onLesions) => {
      if (done) return done;
      const agreement = readerAgreement(datasets.get('ADTRRDR'), datasets.get('ADRSRDR'), { confLevel, onLesions, maxPoints: PLOT_LIMITS.blandAltman });
      for (const n of agreement.notes) note('agreement', n);
      addAgreement(S, tables, agreement, confLevel, note);
      return (done = { ...base, agreement });
    },
  };
}

/** What the report's sections share while the model is built: the statistics collector, notes, tables and the arms. */
interface SectionContext {
  S: Collector;
  tables: ReportTable[];
  note: (section: StatEntry['section'], n: NotEstimable | { code: string; message: string }) => void;
  confLevel: number;
  /** '95 %' */
  lvl: string;
  blinded: boolean;
  arms: string[];
  reference: string | null;
  armOf: Map<string, string>;
  groupLabel: (g: string | null) => string;
}

/** Time to event (PFS, OS, DOR): KM per arm, medians, landmark rates, Cox and log-rank; the KM plots' data. */
function timeToEventSection(c: SectionContext, adtte: Dataset | undefined, o: ReportOptions): { km: KmPlotData[]; tteSummaries: Map<string, { records: TimeToEvent[]; summary: TimeToEventSummary }> } {
  const { S, tables, note, confLevel, lvl, blinded, arms, reference, groupLabel } = c;
  const km: KmPlotData[] = [];
  const tteSummaries = new Map<string, { records: TimeToEvent[]; summary: TimeToEventSummary }>();
  const tteParams = o.tteParams ?? ['PFS', 'OS', 'DOR'];
  if (!adtte) note('time-to-event', { code: 'analysis.no-dataset', message: 'the cut has no ADTTE: no time-to-event analysis' });
  for (const p of adtte ? tteParams : []) {
    let records: TimeToEvent[];
    try {
      records = timeToEventFromAdtte(adtte!, { paramcd: p, group: blinded ? null : 'ARM' });
    } catch (e) {
      if (e instanceof AnalysisError && e.code === 'analysis.no-subjects') continue; // parameter absent
      if (e instanceof AnalysisError) {
        note('time-to-event', { code: e.code, message: `${p}: ${e.message}` });
        continue;
      }
      throw e;
    }
    const groups = blinded ? undefined : arms.filter((a) => records.some((r) => r.group === a));
    const summary = summariseTimeToEvent(records, { confType: 'log', confLevel, ties: 'efron', ...(groups && groups.length ? { groups, reference: groups.includes(reference!) ? reference! : groups[0] } : {}) });
    tteSummaries.set(p, { records, summary });
    const label = TTE_LABEL[p] ?? p;
    // a comparison between arms only where randomisation holds (PFS, OS); DOR is among responders: descriptive
    const compare = !blinded && p !== 'DOR';
    for (const n of summary.notes) {
      if (blinded && n.code === 'analysis.single-arm') continue; // said once for the whole blinded report
      if (!compare && (n.code.startsWith('analysis.cox') || n.code === 'analysis.logrank-not-estimable')) continue;
      note('time-to-event', { code: n.code, message: `${p}: ${n.message}` });
    }
    const rows: ReportTable['rows'] = [];
    const cellsFor: (string | null)[][] = [[], [], [], [], [], []];
    const cols = summary.arms.map((a) => groupLabel(a.group));
    for (const a of summary.arms) {
      const g = a.group;
      const gl = groupLabel(g);
      const base = { section: 'time-to-event' as const, dataset: 'ADTTE', parameter: p, subjects: a.n, group: g };
      cellsFor[0]!.push(S.add({ ...base, id: `${p}.n.${gl}`, label: `${p} subjects, ${gl}`, value: a.n, format: 'count', unit: 'subjects' }));
      cellsFor[1]!.push(S.add({ ...base, id: `${p}.events.${gl}`, label: `${p} events, ${gl}`, value: a.events, format: 'count', unit: 'subjects', method: 'ADTTE CNSR = 0' }));
      const med = a.median;
      const why = med.notes.length ? med.notes.join('; ') : undefined;
      if (med.time === null) note('time-to-event', { code: 'analysis.median-not-reached', message: `${p}, ${gl}: median not reached, the Kaplan-Meier curve stays above 50 % (${a.events} events in ${a.n} subjects)` });
      else if (med.lower === null || med.upper === null) note('time-to-event', { code: 'analysis.median-limit-not-reached', message: `${p}, ${gl}: the ${med.lower === null ? 'lower' : 'upper'} ${lvl} confidence limit of the median is not estimable (the ${med.lower === null ? 'lower' : 'upper'} confidence band does not cross 50 %)` });
      cellsFor[2]!.push(S.add({ ...base, id: `${p}.median.${gl}`, label: `Median ${p}, ${gl}`, value: months(med.time), lower: months(med.lower), upper: months(med.upper), confLevel, format: 'months', unit: 'months', method: `Kaplan-Meier median, Brookmeyer-Crowley ${lvl} interval (log transform, as R survfit); months = days / 30.4375`, ...(why ? { note: why } : {}) }));
      for (const [k, lm] of a.landmarks.entries()) {
        const m = k === 0 ? 6 : 12;
        if (lm.surv === null) note('time-to-event', { code: 'analysis.landmark-not-estimable', message: `${p}, ${gl}: ${m}-month rate not estimable: follow-up ends at ${(Math.max(...records.filter((r) => r.group === (g ?? undefined)).map((r) => r.time)) / DAYS_PER_MONTH).toFixed(1)} months` });
        cellsFor[3 + k]!.push(S.add({ ...base, id: `${p}.rate${m}m.${gl}`, label: `${p} rate at ${m} months, ${gl}`, value: pct(lm.surv), lower: pct(lm.lower), upper: pct(lm.upper), confLevel, format: 'percent', unit: '%', method: `Kaplan-Meier estimate at ${m} x 30.4375 days, ${lvl} log interval`, ...(lm.note ? { note: lm.note } : {}) }));
      }
    }
    rows.push({ label: 'Subjects', cells: cellsFor[0]! }, { label: 'Events', cells: cellsFor[1]! }, { label: `Median, months (${lvl} CI)`, cells: cellsFor[2]! }, { label: `6-month rate, % (${lvl} CI)`, cells: cellsFor[3]! }, { label: `12-month rate, % (${lvl} CI)`, cells: cellsFor[4]! });
    if (compare && summary.cox) {
      const hrCells: (string | null)[] = [];
      const pCells: (string | null)[] = [];
      for (const a of summary.arms) {
        const t0 = summary.cox.terms.find((x) => x.level === a.group);
        // a coefficient R warns may be infinite (an arm without events) is no hazard ratio: NE with the reason
        const t = t0 && summary.cox.notes.some((x) => x.code === 'analysis.cox-infinite-coefficient' && x.message.includes(t0.name)) ? undefined : t0;
        const n = summary.arms.filter((x) => x.group === a.group || x.group === summary.cox!.reference).reduce((s, x) => s + x.n, 0);
        hrCells.push(t ? S.add({ id: `${p}.hr.${a.group}`, section: 'time-to-event', label: `${p} hazard ratio, ${a.group} vs ${summary.cox.reference}`, value: t.hr, lower: t.lower, upper: t.upper, confLevel, format: 'ratio', unit: 'ratio', dataset: 'ADTTE', parameter: p, subjects: n, group: a.group, method: `Cox proportional hazards (Efron ties), Wald ${lvl} interval; reference ${summary.cox.reference}` }) : null);
        pCells.push(t ? S.add({ id: `${p}.hr.p.${a.group}`, section: 'time-to-event', label: `${p} Cox Wald p-value, ${a.group} vs ${summary.cox.reference}`, value: t.p, format: 'p', unit: 'p', dataset: 'ADTTE', parameter: p, subjects: n, group: a.group, method: 'two-sided Wald test' }) : null);
      }
      rows.push({ label: `Hazard ratio vs ${summary.cox.reference} (${lvl} CI)`, cells: hrCells }, { label: 'Cox p-value', cells: pCells });
    }
    if (compare && summary.logRank) {
      rows.push({ label: 'Log-rank p-value', cells: [S.add({ id: `${p}.logrank.p`, section: 'time-to-event', label: `${p} log-rank p-value`, value: summary.logRank.p, format: 'p', unit: 'p', dataset: 'ADTTE', parameter: p, subjects: summary.n, group: null, method: `log-rank test (R survdiff), chi-square ${summary.logRank.df} df` }), ...cols.slice(1).map(() => null)] });
    }
    tables.push({ id: `tte.${p}`, section: 'time-to-event', title: `${label} (${p})`, caption: blinded ? 'Blinded cut: all subjects pooled.' : undefined, columns: cols, rows });
    // plot data
    const maxT = Math.max(...records.map((r) => r.time));
    const step = maxT / DAYS_PER_MONTH > 24 ? 6 : 3;
    const ticks = Array.from({ length: Math.max(1, Math.ceil(maxT / DAYS_PER_MONTH / step)) + 1 }, (_, k) => k * step);
    km.push({
      parameter: p,
      label,
      xTitle: p === 'DOR' ? 'Months since first response' : 'Months since randomisation',
      curves: summary.curves.map((c: KmCurve, i) => ({
        group: groupLabel(c.group),
        points: [{ t: 0, s: 1 }, ...c.time.map((t, j) => ({ t: t / DAYS_PER_MONTH, s: c.surv[j]! }))],
        censored: c.time.flatMap((t, j) => (c.nCensor[j]! > 0 ? [{ t: t / DAYS_PER_MONTH, s: c.surv[j]! }] : [])),
        median: months(summary.arms[i]!.median.time),
      })),
      atRisk: summary.curves.flatMap((c) => ticks.map((m) => ({ group: groupLabel(c.group), t: m, n: c.time.reduce((n, t, j) => (t >= m * DAYS_PER_MONTH ? n + c.nEvent[j]! + c.nCensor[j]! : n), 0) }))),
      ticks,
    });
  }

  return { km, tteSummaries };
}

/** Tumour response: ORR and DCR by arm, the ORR difference, the BOR distribution. Returns each subject's BOR. */
function responseSection(c: SectionContext, adrs: Dataset | undefined): Map<string, string> {
  const { S, tables, note, confLevel, lvl, blinded, arms, reference, armOf, groupLabel } = c;
  const borOf = new Map<string, string>();
  if (adrs) {
    const [iP, iU, iC] = columnIndices(adrs, 'PARAMCD', 'USUBJID', 'AVALC');
    const param = adrs.rows.some((r) => cellAt(r, iP) === 'CBOR') ? 'CBOR' : 'BOR';
    for (const r of adrs.rows) if (cellAt(r, iP) === param) borOf.set(String(cellAt(r, iU)), String(cellAt(r, iC)));
    const groupsR: (string | null)[] = blinded || !arms.length ? [null] : arms;
    const cols = groupsR.map(groupLabel);
    const rows: ReportTable['rows'] = [];
    for (const [paramcd, what] of [['CRSP', 'Objective response rate (confirmed CR/PR)'], ['DCR', 'Disease control rate']] as const) {
      let rates: ReturnType<typeof responseRates> = [];
      try {
        rates = responseRates(adrs, paramcd, { byArm: !blinded && arms.length > 0, level: confLevel });
      } catch (e) {
        note('response', { code: (e as { code?: string }).code ?? 'analysis.bad-input', message: `${paramcd}: ${(e as Error).message}` });
      }
      if (!rates.length) continue;
      rows.push({
        label: `${what}, % (${lvl} CI)`,
        cells: groupsR.map((grp) => {
          const r = rates.find((x) => x.arm === grp);
          return r ? S.add({ id: `${paramcd}.rate.${groupLabel(grp)}`, section: 'response', label: `${what}, ${groupLabel(grp)}`, value: pct(r.rate), lower: pct(r.ci[0]), upper: pct(r.ci[1]), confLevel, format: 'percent', unit: '%', dataset: 'ADRS', parameter: paramcd, subjects: r.n, group: grp, method: `${r.responders}/${r.n} responders (AVALC = Y); Clopper-Pearson exact interval; denominator: every subject with ${paramcd} in ADRS (the cut's ITT set)` }) : null;
        }),
      });
    }
    if (!blinded && arms.length >= 2) {
      for (const t of arms.filter((a) => a !== reference)) {
        try {
          const d = rateDifference(adrs, { paramcd: 'CRSP', treatment: t, control: reference!, method: 'miettinen-nurminen', level: confLevel });
          rows.push({ label: `ORR difference ${t} - ${reference}, percentage points (${lvl} CI)`, cells: [S.add({ id: `CRSP.diff.${t}`, section: 'response', label: `ORR difference, ${t} minus ${reference}`, value: pct(d.estimate), lower: pct(d.lower), upper: pct(d.upper), confLevel, format: 'pp', unit: 'percentage points', dataset: 'ADRS', parameter: 'CRSP', subjects: d.treatment.n + d.control.n, group: t, method: `${d.method} interval (${d.treatment.x}/${d.treatment.n} vs ${d.control.x}/${d.control.n})` }), ...cols.slice(1).map(() => null)] });
        } catch (e) {
          if (!(e instanceof AnalysisError)) throw e;
          note('response', { code: e.code, message: `ORR difference ${t} - ${reference}: ${e.message}` });
        }
      }
    }
    // BOR distribution: each group's subjects with a BOR, counted by BOR in one pass
    const borCounts = groupsR.map((grp) => {
      const counts = new Map<string, number>();
      let n = 0;
      for (const [u, b] of borOf) {
        if (grp !== null && armOf.get(u) !== grp) continue;
        n++;
        counts.set(b, (counts.get(b) ?? 0) + 1);
      }
      return { n, counts };
    });
    for (const b of BOR_ORDER) {
      const cells = groupsR.map((grp, g) => {
        const { n, counts } = borCounts[g]!;
        const k = counts.get(b) ?? 0;
        return n ? S.add({ id: `${param}.${b}.${groupLabel(grp)}`, section: 'response', label: `${param === 'CBOR' ? 'Confirmed BOR' : 'BOR'} ${b}, ${groupLabel(grp)}`, value: pct(k / n), format: 'share', unit: '%', dataset: 'ADRS', parameter: param, subjects: n, group: grp, method: `${k} of ${n} subjects` }) : null;
      });
      if (cells.some((c) => c !== null && (S.entries.find((e) => e.id === c)!.value ?? 0) > 0)) rows.push({ label: `${param === 'CBOR' ? 'Confirmed BOR' : 'BOR'}: ${b}, % of subjects`, cells });
    }
    tables.push({ id: 'response', section: 'response', title: 'Tumour response (RECIST 1.1)', caption: blinded ? 'Blinded cut: all subjects pooled.' : undefined, columns: cols, rows });
  } else note('response', { code: 'analysis.no-dataset', message: 'the cut has no ADRS: no response statistics' });

  return borOf;
}

/** Target lesion size: best % change per subject (waterfall and spider data), its median and the >= 30 % shrinkage share. */
function tumourSizeSection(c: SectionContext, adtr: Dataset | undefined, borOf: Map<string, string>): SubjectSize[] {
  const { S, tables, note, blinded, arms, armOf, groupLabel } = c;
  const sizes: SubjectSize[] = [];
  if (adtr) {
    const [iP, iU, iAbl, iAdt, iPchg, iAnl, iVis] = columnIndices(adtr, 'PARAMCD', 'USUBJID', 'ABLFL', 'ADT', 'PCHG', 'ANL01FL', 'AVISITN');
    const per = new Map<string, { best: number | null; path: { week: number; pchg: number }[] | null; baseDate: string | null }>();
    const rows = adtr.rows.filter((r) => cellAt(r, iP) === 'SDIAM');
    /** A post-baseline row's % change when it is analysed (ANL01FL = Y, every target assessed), else null. */
    const analysedPchg = (r: Value[]) => (cellAt(r, iAbl) !== 'Y' && cellAt(r, iAnl) === 'Y' ? toNum(cellAt(r, iPchg)) : null);
    // a subject's rows come together: its entry is looked up once per run of rows
    const entryOf = byRun((cu: Value) => {
      const u = String(cu);
      let x = per.get(u);
      if (!x) per.set(u, (x = { best: null, path: null, baseDate: null }));
      return x;
    });
    for (const r of rows) {
      const cur = entryOf.of(cellAt(r, iU));
      if (cellAt(r, iAbl) === 'Y') cur.baseDate = String(cellAt(r, iAdt));
      const pc = analysedPchg(r);
      if (pc !== null) cur.best = cur.best === null ? pc : Math.min(cur.best, pc);
    }
    const measured = [...per].filter(([, x]) => x.best !== null).sort((a, b) => cmp(a[0], b[0]));
    // the % change over time only of the subjects the spider plot draws (its systematic sample, in this order): a
    // path for every subject of a 10,000-subject cut was 110,000 objects kept for the report's whole life, unused
    const drawn = systematicIndices(measured.length, PLOT_LIMITS.spider);
    for (const i of drawn) measured[i]![1].path = [];
    // visit dates repeat across subjects: each distinct date text parsed once
    const dateMs = new Map<string, number>();
    const parse = (d: string) => {
      let t = dateMs.get(d);
      if (t === undefined) dateMs.set(d, (t = Date.parse(d)));
      return t;
    };
    for (const r of rows) {
      const pc = analysedPchg(r);
      if (pc === null) continue;
      const cur = entryOf.of(cellAt(r, iU));
      if (!cur.path) continue;
      const week = cur.baseDate ? (parse(String(cellAt(r, iAdt))) - parse(cur.baseDate)) / (7 * 86400000) : (toNum(cellAt(r, iVis)) ?? 0) * 6;
      cur.path.push({ week, pchg: pc });
    }
    for (const [u, x] of measured) sizes.push({ usubjid: u, bestPchg: x.best!, bor: borOf.get(u) ?? 'MISSING', path: x.path ? [{ week: 0, pchg: 0 }, ...x.path.sort((a, b) => a.week - b.week)] : [] });
    const groupsT: (string | null)[] = blinded || !arms.length ? [null] : arms;
    const sizesOf = groupsT.map((grp) => (grp === null ? sizes : sizes.filter((s) => armOf.get(s.usubjid) === grp)));
    const cells = groupsT.map((grp, g) => {
      const xs = sizesOf[g]!.map((s) => s.bestPchg).sort((a, b) => a - b);
      if (!xs.length) return null;
      const med = xs.length % 2 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
      return S.add({ id: `ADTR.bestpchg.median.${groupLabel(grp)}`, section: 'tumour-size', label: `Median best % change in target lesion sum, ${groupLabel(grp)}`, value: med, format: 'number1', unit: '%', dataset: 'ADTR', parameter: 'SDIAM', subjects: xs.length, group: grp, method: 'best (lowest) PCHG over post-baseline visits with all targets assessed (ANL01FL = Y)' });
    });
    const shrink = groupsT.map((grp, g) => {
      const xs = sizesOf[g]!;
      if (!xs.length) return null;
      const k = xs.filter((s) => s.bestPchg <= -30).length;
      return S.add({ id: `ADTR.shrink30.${groupLabel(grp)}`, section: 'tumour-size', label: `Subjects with >= 30 % shrinkage, ${groupLabel(grp)}`, value: pct(k / xs.length), format: 'share', unit: '%', dataset: 'ADTR', parameter: 'SDIAM', subjects: xs.length, group: grp, method: `${k} of ${xs.length} subjects with a post-baseline sum` });
    });
    tables.push({ id: 'tumour', section: 'tumour-size', title: 'Target lesion size', columns: groupsT.map(groupLabel), rows: [{ label: 'Median best % change from baseline', cells }, { label: 'Best change <= -30 %, % of subjects', cells: shrink }] });
    if (!sizes.length) note('tumour-size', { code: 'analysis.no-subjects', message: 'no subject has a post-baseline target lesion sum with every target assessed: no waterfall or spider plot' });
  } else note('tumour-size', { code: 'analysis.no-dataset', message: 'the cut has no ADTR: no tumour size plots' });

  return sizes;
}

/** The swimmer plot's data: responders' time on study with first response, CR, progression or death. */
function swimmerSection(adrs: Dataset | undefined, adtte: Dataset | undefined, borOf: Map<string, string>): SwimmerRow[] {
  const swimmer: SwimmerRow[] = [];
  if (adrs && adtte) {
    const [tP, tU, tStart, tAdt, tCnsr, tDesc] = columnIndices(adtte, 'PARAMCD', 'USUBJID', 'STARTDT', 'ADT', 'CNSR', 'EVNTDESC');
    const [aP, aU, aAdt, aC] = columnIndices(adrs, 'PARAMCD', 'USUBJID', 'ADT', 'AVALC');
    const pfs = new Map<string, { start: string; adt: string; cnsr: number; desc: string }>();
    for (const r of adtte.rows) if (cellAt(r, tP) === 'PFS') pfs.set(String(cellAt(r, tU)), { start: String(cellAt(r, tStart)), adt: String(cellAt(r, tAdt)), cnsr: toNum(cellAt(r, tCnsr)) ?? 1, desc: String(cellAt(r, tDesc) ?? '') });
    // the swimmer's rows: responders (confirmed CR or PR) with a PFS record; their time-point responses collected here
    const resp = new Map<string, { date: string; c: string }[]>();
    for (const u of pfs.keys()) {
      const bor = borOf.get(u);
      if (bor === 'CR' || bor === 'PR') resp.set(u, []);
    }
    // a subject's rows come together: its list is looked up once per run of rows
    const listOf = byRun((u: Value) => resp.get(String(u)));
    for (const r of adrs.rows) if (cellAt(r, aP) === 'OVR') listOf.of(cellAt(r, aU))?.push({ date: String(cellAt(r, aAdt)), c: String(cellAt(r, aC)) });
    const wk = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / (7 * 86400000);
    for (const [u, p] of pfs) {
      const rs = resp.get(u)?.sort((a, b) => cmp(a.date, b.date));
      if (!rs) continue;
      const bor = borOf.get(u)!;
      const ev: SwimmerRow['events'] = [];
      const firstResp = rs.find((x) => x.c === 'CR' || x.c === 'PR');
      if (firstResp) ev.push({ week: wk(p.start, firstResp.date), kind: firstResp.c as 'CR' | 'PR' });
      const firstCr = rs.find((x) => x.c === 'CR');
      if (firstCr && firstCr !== firstResp) ev.push({ week: wk(p.start, firstCr.date), kind: 'CR' });
      if (p.cnsr === 0) ev.push({ week: wk(p.start, p.adt), kind: /death/i.test(p.desc) ? 'Death' : 'PD' });
      swimmer.push({ usubjid: u, weeks: wk(p.start, p.adt), ongoing: p.cnsr !== 0, events: ev, bor });
    }
    swimmer.sort((a, b) => b.weeks - a.weeks || cmp(a.usubjid, b.usubjid));
  }

  return swimmer;
}

// ------------------------------------------------------------------------------------------------ agreement tables

function addAgreement(S: Collector, tables: ReportTable[], a: AgreementSummary, confLevel: number, note: (s: StatEntry['section'], n: NotEstimable) => void) {
  if (!a.lesions.length && !a.responses.length && !a.adjudication) return;
  const lvl = `${Math.round(confLevel * 100)} %`;
  const origin = a.origin === 'SIMULATED' ? ' SIMULATED READS (no real reads yet): these numbers describe the trial simulator, not readers.' : '';
  const shareEntry = (id: string, label: string, s: Share | null, dataset: string, parameter: string, group: string | null, method: string) =>
    S.add({ id, section: 'agreement', label, value: s ? 100 * s.share : null, lower: s ? 100 * s.ci[0] : null, upper: s ? 100 * s.ci[1] : null, confLevel, format: 'percent', unit: '%', dataset, parameter, subjects: s ? s.n : 0, group, method: s ? `${s.count} of ${s.n}; Wilson ${lvl} interval. ${method}` : method });
  const pairName = (x: { a: string; b: string }) => `${x.a} vs ${x.b}`;
  // diameters
  if (a.lesions.length) {
    const rows: ReportTable['rows'] = [];
    const cols = a.lesions.map(pairName);
    const add = (label: string, f: (l: AgreementSummary['lesions'][number], grp: string) => string | null) => rows.push({ label, cells: a.lesions.map((l) => f(l, pairName(l))) });
    add('Lesion x visit pairs measured by both', (l, grp) => S.add({ id: `agreement.lesions.${grp}.pairs`, section: 'agreement', label: `Measured lesion pairs, ${grp}`, value: l.pairs, format: 'count', unit: 'pairs', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp }));
    for (const m of ['icc21', 'icc31'] as const) {
      add(`${m === 'icc21' ? 'ICC(2,1) absolute agreement' : 'ICC(3,1) consistency'} (${lvl} CI)`, (l, grp) => {
        const e = l.icc?.[m];
        return S.add({ id: `agreement.lesions.${grp}.${m}`, section: 'agreement', label: `${m === 'icc21' ? 'ICC(2,1)' : 'ICC(3,1)'} of diameters, ${grp}`, value: e?.value ?? null, lower: e?.lower ?? null, upper: e?.upper ?? null, confLevel, format: 'coef', unit: 'ICC', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp, method: `two-way ANOVA (Shrout-Fleiss / McGraw-Wong F-based interval); ${l.pairs} lesion x visit targets, not independent within a subject (intervals optimistic)`, ...(e ? {} : { note: l.notes.map((n) => n.message).join('; ') || 'not estimable' }) });
      });
    }
    add('Bland-Altman bias, mm (CI)', (l, grp) => S.add({ id: `agreement.lesions.${grp}.bias`, section: 'agreement', label: `Bland-Altman bias (${l.a} - ${l.b}), mm`, value: l.blandAltman?.bias ?? null, lower: l.blandAltman?.biasCi[0] ?? null, upper: l.blandAltman?.biasCi[1] ?? null, confLevel, format: 'mm', unit: 'mm', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp, method: 'mean difference, t interval' }));
    add(`Lower limit of agreement, mm (CI)`, (l, grp) => S.add({ id: `agreement.lesions.${grp}.lloa`, section: 'agreement', label: `Lower ${lvl} limit of agreement, mm, ${grp}`, value: l.blandAltman?.lowerLoa ?? null, lower: l.blandAltman?.lowerLoaCi[0] ?? null, upper: l.blandAltman?.lowerLoaCi[1] ?? null, confLevel, format: 'mm', unit: 'mm', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp, method: 'bias - z SD; interval Bland & Altman (1999)' }));
    add(`Upper limit of agreement, mm (CI)`, (l, grp) => S.add({ id: `agreement.lesions.${grp}.uloa`, section: 'agreement', label: `Upper ${lvl} limit of agreement, mm, ${grp}`, value: l.blandAltman?.upperLoa ?? null, lower: l.blandAltman?.upperLoaCi[0] ?? null, upper: l.blandAltman?.upperLoaCi[1] ?? null, confLevel, format: 'mm', unit: 'mm', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp, method: 'bias + z SD; interval Bland & Altman (1999)' }));
    add('Relative bias, % of the pair mean (CI)', (l, grp) => S.add({ id: `agreement.lesions.${grp}.biaspct`, section: 'agreement', label: `Relative Bland-Altman bias, % of the pair mean, ${grp}`, value: l.blandAltmanPct?.bias ?? null, lower: l.blandAltmanPct?.biasCi[0] ?? null, upper: l.blandAltmanPct?.biasCi[1] ?? null, confLevel, format: 'number1', unit: '%', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp, method: 'Bland-Altman on 100 (a - b) / mean(a, b): differences grow with lesion size' }));
    add(`Relative limits of agreement, % of the pair mean`, (l, grp) => S.add({ id: `agreement.lesions.${grp}.loapct`, section: 'agreement', label: `Relative ${lvl} limits of agreement, % of the pair mean, ${grp}`, value: l.blandAltmanPct?.bias ?? null, lower: l.blandAltmanPct?.lowerLoa ?? null, upper: l.blandAltmanPct?.upperLoa ?? null, format: 'number1', unit: '% (bias, lower and upper limit)', dataset: 'ADTRRDR', parameter: 'LDIAM/SAXIS', subjects: l.subjects, group: grp, method: 'bias (lower limit, upper limit); limits = bias -/+ z SD of the relative differences' }));
    add('Pairs within 2 mm, %', (l, grp) => shareEntry(`agreement.lesions.${grp}.within2mm`, `Measurement pairs within 2 mm, ${grp}`, l.tolerance?.withinAbs ?? null, 'ADTRRDR', 'LDIAM/SAXIS', grp, '|a - b| <= 2 mm'));
    add('Pairs within 10 %, %', (l, grp) => shareEntry(`agreement.lesions.${grp}.within10pct`, `Measurement pairs within 10 %, ${grp}`, l.tolerance?.withinRel ?? null, 'ADTRRDR', 'LDIAM/SAXIS', grp, '|a - b| <= 10 % of the pair mean'));
    for (const l of a.lesions) for (const n of l.notes) note('agreement', n);
    tables.push({ id: 'agreement.lesions', section: 'agreement', title: 'Target lesion diameters: reader and AI agreement', caption: `Pairs: the same lesion at the same visit measured by both (special values excluded).${origin}`, columns: cols, rows });
  }
  if (a.responses.length) {
    const rows: ReportTable['rows'] = [];
    const cols = a.responses.map(pairName);
    const add = (label: string, f: (r: AgreementSummary['responses'][number], grp: string) => string | null) => rows.push({ label, cells: a.responses.map((r) => f(r, pairName(r))) });
    add('Time points read by both', (r, grp) => S.add({ id: `agreement.ovr.${grp}.pairs`, section: 'agreement', label: `Time points read by both, ${grp}`, value: r.timepoints.pairs, format: 'count', unit: 'time points', dataset: 'ADRSRDR', parameter: 'OVR', subjects: r.timepoints.subjects, group: grp }));
    add('Same time-point response, %', (r, grp) => shareEntry(`agreement.ovr.${grp}.agree`, `Time-point responses agreeing, ${grp}`, r.timepoints.agreement, 'ADRSRDR', 'OVR', grp, 'identical overall response'));
    for (const [k, name] of [['unweighted', "Cohen's kappa"], ['linear', 'Weighted kappa, linear'], ['quadratic', 'Weighted kappa, quadratic']] as const) {
      add(`${name} (${lvl} CI)`, (r, grp) => {
        const x = r.timepoints.kappa[k];
        return S.add({ id: `agreement.ovr.${grp}.kappa.${k}`, section: 'agreement', label: `${name} of time-point responses, ${grp}`, value: x?.kappa ?? null, lower: x?.lower ?? null, upper: x?.upper ?? null, confLevel, format: 'coef', unit: 'kappa', dataset: 'ADRSRDR', parameter: 'OVR', subjects: r.timepoints.subjects, group: grp, method: k === 'unweighted' ? `CR, PR, SD, NON-CR/NON-PD, PD, NE; ${x?.n ?? 0} pairs; Fleiss-Cohen-Everitt SE` : `ordinal CR < PR < SD (incl. NON-CR/NON-PD) < PD, NE left out; ${x?.n ?? 0} pairs; Fleiss-Cohen-Everitt SE`, ...(x ? {} : { note: 'not estimable' }) });
      });
    }
    add('Same confirmed BOR, %', (r, grp) => shareEntry(`agreement.bor.${grp}.agree`, `${r.bor.paramcd} agreeing, ${grp}`, r.bor.agreement, 'ADRSRDR', r.bor.paramcd, grp, 'identical best overall response per subject'));
    add(`Kappa of confirmed BOR (${lvl} CI)`, (r, grp) => S.add({ id: `agreement.bor.${grp}.kappa`, section: 'agreement', label: `Cohen's kappa of ${r.bor.paramcd}, ${grp}`, value: r.bor.kappa?.kappa ?? null, lower: r.bor.kappa?.lower ?? null, upper: r.bor.kappa?.upper ?? null, confLevel, format: 'coef', unit: 'kappa', dataset: 'ADRSRDR', parameter: r.bor.paramcd, subjects: r.bor.subjects, group: grp }));
    add('Same PD status, %', (r, grp) => shareEntry(`agreement.pd.${grp}.status`, `PD status agreeing, ${grp}`, r.progression.statusAgreement, 'ADRSRDR', 'PD', grp, 'both progressed or both not'));
    add('Same PD date (or both no PD), %', (r, grp) => shareEntry(`agreement.pd.${grp}.date`, `PD date agreeing, ${grp}`, r.progression.dateAgreement, 'ADRSRDR', 'PD', grp, 'same PD status and, when both progressed, the same date'));
    add('Both PD: median |date difference|, days', (r, grp) => S.add({ id: `agreement.pd.${grp}.datediff`, section: 'agreement', label: `Median PD date difference when both progressed, ${grp}`, value: r.progression.dateDifferenceDays?.median ?? null, format: 'days', unit: 'days', dataset: 'ADRSRDR', parameter: 'PD', subjects: r.progression.bothPd, group: grp, ...(r.progression.dateDifferenceDays ? {} : { note: 'no subject progressed by both reads' }) }));
    for (const r of a.responses) for (const n of r.notes) note('agreement', n);
    tables.push({ id: 'agreement.responses', section: 'agreement', title: 'Responses and progression: reader and AI agreement', caption: `Time points paired by visit; BOR and PD per subject.${origin}`, columns: cols, rows });
  }
  if (a.targetSelection.length) {
    tables.push({ id: 'agreement.selection', section: 'agreement', title: 'Target lesion selection at baseline', columns: a.targetSelection.map(pairName), rows: [{ label: 'Same target lesions selected, %', cells: a.targetSelection.map((t) => shareEntry(`agreement.selection.${pairName(t)}`, `Same baseline targets, ${pairName(t)}`, t.same, 'ADTRRDR', 'LDIAM/SAXIS', pairName(t), 'identical set of baseline target lesions')) }] });
  }
  if (a.adjudication) {
    const adj = a.adjudication;
    const rows: ReportTable['rows'] = [];
    rows.push({ label: 'All subjects compared', cells: [
      S.add({ id: 'agreement.adjudication.subjects', section: 'agreement', label: 'Subjects with two compared reads', value: adj.subjects, format: 'count', unit: 'subjects', dataset: 'ADRSRDR', parameter: 'BICRSEL', subjects: adj.subjects, group: null }),
      shareEntry('agreement.adjudication.rate', 'Adjudication rate', adj.rate, 'ADRSRDR', 'BICRSEL', null, 'subjects whose two reads disagreed (industry benchmark about 42 %)'),
      null,
    ] });
    for (const p of adj.perReader) rows.push({ label: `Reader ${p.reader}`, cells: [
      S.add({ id: `agreement.adjudication.reader.${p.reader}.subjects`, section: 'agreement', label: `Subjects read by ${p.reader}`, value: p.subjects, format: 'count', unit: 'subjects', dataset: 'ADRSRDR', parameter: 'BICRSEL', subjects: p.subjects, group: p.reader }),
      shareEntry(`agreement.adjudication.reader.${p.reader}.rate`, `Adjudication rate, ${p.reader}`, p.rate, 'ADRSRDR', 'BICRSEL', p.reader, "subjects of this reader that went to adjudication"),
      shareEntry(`agreement.adjudication.reader.${p.reader}.selected`, `Adjudicator chose ${p.reader}`, p.selectedRate, 'ADRSRDR', 'BICRSEL', p.reader, "of this reader's adjudicated subjects, how often the adjudicator chose this reader's read"),
    ] });
    for (const s of adj.bySlot) rows.push({ label: `Slot ${s.evaluatorId}`, cells: [null, null, shareEntry(`agreement.adjudication.slot.${s.evaluatorId}`, `Adjudicator chose ${s.evaluatorId}`, s.share, 'ADRSRDR', 'BICRSEL', s.evaluatorId, 'share of adjudicated subjects')] });
    tables.push({ id: 'agreement.adjudication', section: 'agreement', title: 'Adjudication', caption: `A subject goes to adjudication when the two radiologists' confirmed BOR or PD date differ.${origin}`, columns: ['Subjects', 'Adjudicated, % (CI)', 'Adjudicator chose this read, % (CI)'], rows });
  }
  if (a.aiEffect) {
    const rows: ReportTable['rows'] = [];
    for (const r of [a.aiEffect.overall, ...a.aiEffect.perReader]) {
      const g = r.reader;
      rows.push({ label: g, cells: [
        S.add({ id: `agreement.ai.${g}.proposals`, section: 'agreement', label: `AI proposals decided, ${g}`, value: r.proposals, format: 'count', unit: 'proposals', dataset: 'ADTRRDR', parameter: 'AIDECN', subjects: r.proposals, group: g }),
        shareEntry(`agreement.ai.${g}.accept`, `AI proposals accepted, ${g}`, r.acceptRate, 'ADTRRDR', 'AIDECN', g, 'accepted unchanged'),
        shareEntry(`agreement.ai.${g}.edit`, `AI proposals edited, ${g}`, r.editRate, 'ADTRRDR', 'AIDECN', g, 'measurement changed'),
        shareEntry(`agreement.ai.${g}.reject`, `AI proposals rejected, ${g}`, r.rejectRate, 'ADTRRDR', 'AIDECN', g, 'not a target for this reader'),
        S.add({ id: `agreement.ai.${g}.add`, section: 'agreement', label: `Lesions added by the reader, ${g}`, value: r.add, format: 'count', unit: 'lesion x visits', dataset: 'ADTRRDR', parameter: 'AIDECN', subjects: r.add, group: g }),
        S.add({ id: `agreement.ai.${g}.editmm`, section: 'agreement', label: `Median edit size, mm, ${g}`, value: r.editSize?.medianAbsMm ?? null, lower: r.editSize?.q1AbsMm ?? null, upper: r.editSize?.q3AbsMm ?? null, format: 'mm', unit: 'mm (median, quartiles)', dataset: 'ADTRRDR', parameter: 'AIDECN', subjects: r.editSize?.n ?? 0, group: g, method: '|reader - AI| of edited measurements; lower/upper are the quartiles, not a CI' }),
        S.add({ id: `agreement.ai.${g}.editpct`, section: 'agreement', label: `Median edit size, % of the AI value, ${g}`, value: r.editSize?.medianAbsPct ?? null, format: 'number1', unit: '%', dataset: 'ADTRRDR', parameter: 'AIDECN', subjects: r.editSize?.n ?? 0, group: g }),
      ] });
    }
    tables.push({ id: 'agreement.ai', section: 'agreement', title: 'AI effect: what readers did with the AI proposals', caption: `Per lesion and visit. Edit size: median (quartiles) of |reader - AI|.${origin}`, columns: ['Proposals', 'Accepted, %', 'Edited, %', 'Rejected, %', 'Added lesions', 'Edit size, mm', 'Edit size, % of AI'], rows });
  }
}

// ------------------------------------------------------------------------------------------------ forest

function forestRows(S: Collector, out: ForestRow[], tables: ReportTable[], records: TimeToEvent[], datasets: Datasets, arms: string[], reference: string, confLevel: number, note: (s: StatEntry['section'], n: NotEstimable) => void) {
  const lvl = `${Math.round(confLevel * 100)} %`;
  const subgroups = subgroupsOf(datasets, records);
  const treatments = arms.filter((a) => a !== reference);
  const rows: ReportTable['rows'] = [];
  const fitSubgroup = (recs: TimeToEvent[], sub: string, level: string) => {
    for (const t of treatments) {
      const use = recs.filter((r) => r.group === t || r.group === reference);
      const n = use.length;
      const events = use.filter((r) => r.event).length;
      const row: ForestRow = { subgroup: sub, level, comparison: `${t} vs ${reference}`, hrId: null, hr: null, lower: null, upper: null, n, events };
      let why: string | undefined;
      if (!use.some((r) => r.group === t) || !use.some((r) => r.group === reference)) why = `no ${!use.some((r) => r.group === t) ? t : reference} subjects`;
      else if (events === 0) why = 'no events';
      else {
        try {
          const c = coxPh(use, { groups: [reference, t], reference, ties: 'efron', confLevel });
          const term = c.terms[0]!;
          if (c.notes.some((x) => x.code === 'analysis.cox-infinite-coefficient')) why = `an arm without events (${c.notes[0]!.message})`;
          else Object.assign(row, { hr: term.hr, lower: term.lower, upper: term.upper });
        } catch (e) {
          if (!(e instanceof AnalysisError)) throw e;
          why = e.message;
        }
      }
      row.hrId = S.add({ id: `forest.PFS.${sub}.${level}.${t}`, section: 'forest', label: `PFS hazard ratio ${t} vs ${reference}, ${sub}: ${level}`, value: row.hr, lower: row.lower, upper: row.upper, confLevel, format: 'ratio', unit: 'ratio', dataset: 'ADTTE', parameter: 'PFS', subjects: n, group: `${sub}: ${level}`, method: `Cox (Efron ties), unstratified, Wald ${lvl} interval; ${events} events`, ...(why ? { note: `not estimable: ${why}` } : {}) });
      if (why) {
        row.note = why;
        note('forest', { code: 'analysis.subgroup-not-estimable', message: `PFS hazard ratio in subgroup ${sub} = ${level}: not estimable (${why})` });
      }
      out.push(row);
      const nId = S.add({ id: `forest.PFS.${sub}.${level}.${t}.n`, section: 'forest', label: `Subjects, ${sub}: ${level}`, value: n, format: 'count', unit: 'subjects', dataset: 'ADTTE', parameter: 'PFS', subjects: n, group: `${sub}: ${level}` });
      const eId = S.add({ id: `forest.PFS.${sub}.${level}.${t}.events`, section: 'forest', label: `Events, ${sub}: ${level}`, value: events, format: 'count', unit: 'subjects', dataset: 'ADTTE', parameter: 'PFS', subjects: n, group: `${sub}: ${level}` });
      rows.push({ label: `${sub === level ? sub : `${sub}: ${level}`}${treatments.length > 1 ? ` (${t})` : ''}`, cells: [nId, eId, row.hrId] });
    }
  };
  fitSubgroup(records, 'All subjects', 'All subjects');
  for (const sg of subgroups) {
    const levelOf = records.map((r) => sg.of.get(r.id!));
    for (const level of sg.levels) fitSubgroup(records.filter((_, i) => levelOf[i] === level), sg.name, level);
  }
  tables.push({ id: 'forest', section: 'forest', title: 'PFS hazard ratio by subgroup', caption: `Subgroups: baseline characteristics present in the cut (${subgroups.map((s) => s.source).join('; ') || 'none'}). Unstratified Cox models within each subgroup; not adjusted for multiplicity.`, columns: ['Subjects', 'Events', `HR (${lvl} CI)`], rows });
}

/** A forest-plot subgroup: its levels and each subject's level. */
export interface Subgroup {
  name: string;
  source: string;
  levels: string[];
  of: Map<string, string>;
}

/** The forest plot's subgroups among `records`' subjects: ADSL stratification factors and baseline covariates when present; baseline tumour burden (ADTR), number of target lesions and liver involvement (TU). */
export function subgroupsOf(datasets: Datasets, records: TimeToEvent[]): Subgroup[] {
  const ids = new Set(records.map((r) => r.id!));
  const out: Subgroup[] = [];
  const adsl = datasets.get('ADSL');
  if (adsl) {
    const [iU, iAge] = columnIndices(adsl, 'USUBJID', 'AGE');
    const cat = adsl.columns.filter((c) => /^STRAT[A-Z0-9]*$|^SEX$|^AGEGR1$|^REGION1$|^RACE$|^ECOG/.test(c.name));
    for (const c of cat) {
      const of = new Map<string, string>();
      const [iC] = columnIndices(adsl, c.name);
      for (const r of adsl.rows) {
        const u = String(cellAt(r, iU));
        const v = cellAt(r, iC);
        if (ids.has(u) && v !== null && v !== '') of.set(u, String(v));
      }
      const levels = sortedLevels(of.values());
      if (levels.length >= 2 && levels.length <= 6) out.push({ name: c.label && c.label.length < 40 ? `${c.label}` : c.name, source: `ADSL.${c.name}`, levels, of });
    }
    if (hasColumn(adsl, 'AGE') && !hasColumn(adsl, 'AGEGR1')) {
      const of = new Map<string, string>();
      for (const r of adsl.rows) { const a = toNum(cellAt(r, iAge)); if (a !== null && ids.has(String(cellAt(r, iU)))) of.set(String(cellAt(r, iU)), a < 65 ? '< 65 years' : '>= 65 years'); }
      if (new Set(of.values()).size === 2) out.push({ name: 'Age', source: 'ADSL.AGE', levels: ['< 65 years', '>= 65 years'], of });
    }
  }
  const adtr = datasets.get('ADTR');
  if (adtr) {
    const [iP, iAbl, iAval, iU] = columnIndices(adtr, 'PARAMCD', 'ABLFL', 'AVAL', 'USUBJID');
    const base = new Map<string, number>();
    for (const r of adtr.rows) {
      if (cellAt(r, iP) !== 'SDIAM' || cellAt(r, iAbl) !== 'Y') continue;
      const v = toNum(cellAt(r, iAval));
      const u = String(cellAt(r, iU));
      if (v !== null && ids.has(u)) base.set(u, v);
    }
    const xs = [...base.values()].sort((a, b) => a - b);
    if (xs.length >= 4) {
      const med = xs.length % 2 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
      const lo = `<= ${med.toFixed(1)} mm`;
      const hi = `> ${med.toFixed(1)} mm`;
      out.push({ name: 'Baseline sum of diameters', source: 'ADTR SDIAM BASE, split at the median', levels: [lo, hi], of: new Map([...base].map(([u, v]) => [u, v <= med ? lo : hi])) });
    }
  }
  const tu = datasets.get('TU');
  if (tu) {
    const [iU, iVis, iOrres, iStresc, iLoc] = columnIndices(tu, 'USUBJID', 'VISITNUM', 'TUORRES', 'TUSTRESC', 'TULOC');
    const targets = new Map<string, number>();
    const liver = new Map<string, boolean>();
    const inCut = byRun((u: Value) => ids.has(String(u)));
    for (const r of tu.rows) {
      const cu = cellAt(r, iU);
      if (!inCut.of(cu) || cellAt(r, iVis) === null) continue;
      const u = String(cu);
      const kind = String(cellAt(r, iOrres) ?? cellAt(r, iStresc));
      if (kind === 'TARGET') targets.set(u, (targets.get(u) ?? 0) + 1);
      if (kind === 'TARGET' || kind === 'NON-TARGET') liver.set(u, (liver.get(u) ?? false) || LIVER_RE.test(String(cellAt(r, iLoc) ?? '')));
    }
    if (targets.size) out.push({ name: 'Target lesions at baseline', source: 'TU TUORRES = TARGET', levels: ['1-2', '3-5'], of: new Map([...targets].map(([u, k]) => [u, k <= 2 ? '1-2' : '3-5'])) });
    if (liver.size && new Set(liver.values()).size === 2) out.push({ name: 'Liver lesions at baseline', source: 'TU TULOC', levels: ['No', 'Yes'], of: new Map([...liver].map(([u, v]) => [u, v ? 'Yes' : 'No'])) });
  }
  return out;
}

export type { Value };
