/**
 * ePRO / wearable upload parsing (pure: bytes in, rows + per-row errors out).
 *
 * Upload schema (documented in README "ePRO upload schema"):
 *
 * QLQ-C30 (`kind: 'qlq-c30'`), one questionnaire per row:
 *   CSV header (UTF-8, comma separated, first line, column order free, names case-insensitive):
 *     subject_id, visit, date, q1, q2, ..., q30
 *   - subject_id: USUBJID; visit: visit label; date: ISO 8601 YYYY-MM-DD;
 *   - qN: integer answer, 1..4 for q1..q28, 1..7 for q29..q30; empty = missing.
 *   JSON: `{"instrument":"QLQ-C30","records":[{"subject_id":..,"visit":..,"date":..,"q1":1,...}]}` or a bare
 *   array of such records; missing answers are null or absent.
 *
 * Wearable steps (`kind: 'wearable-steps'`), one day per row:
 *   CSV header: subject_id, date, steps, wear_minutes
 *   - steps: integer 0..100000; wear_minutes: integer 0..1440.
 *   JSON: `{"instrument":"WEARABLE-STEPS","records":[{"subject_id":..,"date":..,"steps":..,"wear_minutes":..}]}`
 *   or a bare array.
 *
 * Row numbers: CSV = the line number in the file (header = 1, first data row = 2); JSON = 1-based index in
 * `records`. Whole-file problems (not UTF-8 text, no header, unknown or missing columns, invalid JSON, empty)
 * throw InputError; row problems (out-of-range answers, bad dates, duplicate visits / days, unknown
 * subjects) are listed in `errors` and the row is left out of `rows` - never silently dropped.
 */
import { InputError } from '@app/core';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { isIsoDate } from './util';
import { MAX_DAILY_STEPS } from './pro';
import type { StudyInput } from './types';

export type EproKind = 'qlq-c30' | 'wearable-steps';

export interface QlqUploadRow {
  row: number;
  usubjid: string;
  visit: string;
  date: string;
  /** 30 answers, index 0 = q1; null = missing. */
  items: (number | null)[];
}
export interface StepsUploadRow {
  row: number;
  usubjid: string;
  date: string;
  steps: number;
  wearMinutes: number;
}
export interface RowError {
  row: number;
  field?: string;
  message: string;
}
export type EproParseResult =
  | { kind: 'qlq-c30'; rows: QlqUploadRow[]; errors: RowError[] }
  | { kind: 'wearable-steps'; rows: StepsUploadRow[]; errors: RowError[] };

const QITEMS = Array.from({ length: 30 }, (_, i) => `q${i + 1}`);
const QLQ_COLS = ['subject_id', 'visit', 'date', ...QITEMS];
const STEP_COLS = ['subject_id', 'date', 'steps', 'wear_minutes'];
/** Hard limit on upload size (a 2,000-subject study with 2 years of daily wear is ~50 MB). */
export const MAX_EPRO_BYTES = 200 * 1024 * 1024;

function decodeText(bytes: Buffer, filename: string): string {
  if (bytes.length === 0) throw new InputError('epro.empty', `${filename}: the upload is empty`);
  if (bytes.length > MAX_EPRO_BYTES) throw new InputError('epro.too-large', `${filename}: ${bytes.length} bytes exceeds the ${MAX_EPRO_BYTES}-byte limit for ePRO uploads`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError('epro.not-utf8', `${filename}: not UTF-8 text; ePRO uploads must be UTF-8 CSV or JSON`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.includes('\u0000')) throw new InputError('epro.binary', `${filename}: contains NUL bytes; expected a CSV or JSON text file`);
  return text;
}

const isJsonName = (f: string) => /\.json$/i.test(f);

/** Columns of a header line, lower-cased and trimmed (quotes removed). */
function headerCols(line: string): string[] {
  return line.split(/[,;\t]/).map((c) => c.trim().replace(/^"|"$/g, '').trim().toLowerCase());
}

function kindOfCols(cols: string[]): EproKind | null {
  const set = new Set(cols);
  if (set.has('q1') && set.has('subject_id')) return 'qlq-c30';
  if (set.has('steps') && set.has('wear_minutes')) return 'wearable-steps';
  return null;
}

/**
 * Cheap content sniffing for the ingest detector: looks only at the first bytes (may be truncated).
 * Returns the upload kind, or null when it is not an ePRO / wearable upload.
 */
export function sniffEpro(firstBytes: Buffer, filename: string): EproKind | null {
  let text = firstBytes.subarray(0, 64 * 1024).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.includes('\u0000')) return null;
  const t = text.trimStart();
  if (t.startsWith('{') || t.startsWith('[') || isJsonName(filename)) {
    if (/"instrument"\s*:\s*"QLQ-C30"/i.test(t) || (/"q1"\s*:/.test(t) && /"subject_id"\s*:/.test(t))) return 'qlq-c30';
    if (/"instrument"\s*:\s*"WEARABLE-STEPS"/i.test(t) || (/"steps"\s*:/.test(t) && /"wear_minutes"\s*:/.test(t))) return 'wearable-steps';
    return null;
  }
  const nl = t.search(/\r?\n/);
  const first = nl >= 0 ? t.slice(0, nl) : t;
  return kindOfCols(headerCols(first));
}

type Raw = Record<string, unknown>;

/** Parses the file into raw records + their row numbers (throws InputError on whole-file problems). */
function readRecords(text: string, filename: string): { kind: EproKind; records: { row: number; rec: Raw }[]; csv: boolean } {
  const t = text.trimStart();
  if (t.startsWith('{') || t.startsWith('[') || isJsonName(filename)) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new InputError('epro.bad-json', `${filename}: invalid JSON (${(e as Error).message})`);
    }
    let recs: unknown;
    let declared: EproKind | null = null;
    if (Array.isArray(doc)) recs = doc;
    else if (doc && typeof doc === 'object') {
      const o = doc as Raw;
      const inst = String(o.instrument ?? '').toUpperCase();
      if (inst === 'QLQ-C30') declared = 'qlq-c30';
      else if (inst === 'WEARABLE-STEPS') declared = 'wearable-steps';
      else throw new InputError('epro.bad-json', `${filename}: "instrument" must be "QLQ-C30" or "WEARABLE-STEPS", got ${JSON.stringify(o.instrument)}`);
      recs = o.records;
    }
    if (!Array.isArray(recs)) throw new InputError('epro.bad-json', `${filename}: expected an array of records or {"instrument":..,"records":[..]}`);
    if (recs.length === 0) throw new InputError('epro.empty', `${filename}: no records`);
    let kind = declared;
    if (!kind) {
      const first = recs.find((r) => r && typeof r === 'object') as Raw | undefined;
      kind = first ? kindOfCols(Object.keys(first).map((k) => k.toLowerCase())) : null;
      if (!kind) throw new InputError('epro.unknown-kind', `${filename}: records have neither QLQ-C30 fields (subject_id, visit, date, q1..q30) nor wearable fields (subject_id, date, steps, wear_minutes)`);
    }
    return {
      kind,
      csv: false,
      records: recs.map((r, i) => ({ row: i + 1, rec: r && typeof r === 'object' && !Array.isArray(r) ? Object.fromEntries(Object.entries(r as Raw).map(([k, v]) => [k.toLowerCase(), v])) : { __notObject: r } })),
    };
  }
  const nl = t.search(/\r?\n/);
  const cols = headerCols(nl >= 0 ? t.slice(0, nl) : t);
  const kind = kindOfCols(cols);
  if (!kind)
    throw new InputError('epro.unknown-kind', `${filename}: header ${JSON.stringify(cols.slice(0, 6))} is neither QLQ-C30 (subject_id, visit, date, q1..q30) nor wearable steps (subject_id, date, steps, wear_minutes)`);
  const expected = kind === 'qlq-c30' ? QLQ_COLS : STEP_COLS;
  const missing = expected.filter((c) => !cols.includes(c));
  const unknown = cols.filter((c) => !expected.includes(c));
  const dup = cols.filter((c, i) => cols.indexOf(c) !== i);
  if (missing.length || unknown.length || dup.length)
    throw new InputError('epro.bad-header', `${filename}: ${kind} header ${missing.length ? `lacks column(s) ${missing.join(', ')}` : ''}${unknown.length ? ` has unknown column(s) ${unknown.join(', ')}` : ''}${dup.length ? ` repeats column(s) ${dup.join(', ')}` : ''}; expected exactly: ${expected.join(', ')}`.replace(/ {2,}/g, ' '));
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, { bom: true, from_line: 2, info: true, relax_column_count: true, skip_empty_lines: true, trim: true, delimiter: [',', ';', '\t'] }) as never;
  } catch (e) {
    throw new InputError('epro.bad-csv', `${filename}: not valid CSV (${(e as Error).message})`);
  }
  const records = parsed.map((p) => {
    const rec: Raw = {};
    if (p.record.length !== cols.length) rec.__columns = p.record.length;
    cols.forEach((c, i) => (rec[c] = p.record[i] === undefined || p.record[i] === '' ? null : p.record[i]));
    return { row: p.info.lines, rec };
  });
  if (records.length === 0) throw new InputError('epro.empty', `${filename}: header only, no data rows`);
  return { kind, records, csv: true };
}

const intFrom = (csv: boolean) =>
  z.preprocess((v) => (csv && typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), z.number().int());

/**
 * Parses and validates an ePRO (QLQ-C30) or wearable-steps upload. See the module comment for the schema.
 * `knownSubjects`: when given, rows for other subject ids are errors ("unknown subject").
 */
export function parseEproUpload(bytes: Buffer, filename: string, knownSubjects?: Set<string>): EproParseResult {
  const text = decodeText(bytes, filename);
  const { kind, records, csv } = readRecords(text, filename);
  const errors: RowError[] = [];
  const idSchema = z.string().trim().min(1).max(64);
  const dateSchema = z.string().refine(isIsoDate, { message: 'must be an ISO 8601 date YYYY-MM-DD' });
  const check = (row: number, rec: Raw): boolean => {
    if ('__notObject' in rec) {
      errors.push({ row, message: `record must be an object, got ${JSON.stringify(rec.__notObject)}` });
      return false;
    }
    if (typeof rec.__columns === 'number') {
      errors.push({ row, message: `row has ${rec.__columns} fields, header has ${kind === 'qlq-c30' ? QLQ_COLS.length : STEP_COLS.length}` });
      return false;
    }
    return true;
  };
  const fieldErr = (row: number, field: string, v: unknown, what: string) => errors.push({ row, field, message: `${field}: ${what}, got ${JSON.stringify(v)}` });
  const subjectOk = (row: number, id: string): boolean => {
    if (knownSubjects && !knownSubjects.has(id)) {
      errors.push({ row, field: 'subject_id', message: `unknown subject ${JSON.stringify(id)} (not enrolled in this study)` });
      return false;
    }
    return true;
  };
  if (kind === 'qlq-c30') {
    const rows: QlqUploadRow[] = [];
    const seen = new Map<string, number>();
    const item = (max: number) => z.union([z.null(), intFrom(csv).pipe(z.number().min(1).max(max))]);
    for (const { row, rec } of records) {
      if (!check(row, rec)) continue;
      const before = errors.length;
      const id = idSchema.safeParse(typeof rec.subject_id === 'number' ? String(rec.subject_id) : rec.subject_id);
      if (!id.success) fieldErr(row, 'subject_id', rec.subject_id, 'must be a non-empty subject id (<= 64 chars)');
      const visit = idSchema.safeParse(typeof rec.visit === 'number' ? String(rec.visit) : rec.visit);
      if (!visit.success) fieldErr(row, 'visit', rec.visit, 'must be a non-empty visit label');
      const date = dateSchema.safeParse(rec.date);
      if (!date.success) fieldErr(row, 'date', rec.date, 'must be an ISO 8601 date YYYY-MM-DD');
      const items: (number | null)[] = [];
      QITEMS.forEach((q, i) => {
        const max = i >= 28 ? 7 : 4;
        const r = item(max).safeParse(rec[q] === undefined ? null : rec[q]);
        if (!r.success) fieldErr(row, q, rec[q], `must be an integer answer 1..${max} or empty`);
        items.push(r.success ? r.data : null);
      });
      for (const k of Object.keys(rec)) if (!csv && !QLQ_COLS.includes(k)) errors.push({ row, field: k, message: `unknown field ${k}` });
      if (errors.length > before) continue;
      if (!subjectOk(row, id.data!)) continue;
      const key = `${id.data}\u0000${visit.data}`;
      if (seen.has(key)) {
        errors.push({ row, field: 'visit', message: `duplicate questionnaire for subject ${id.data} visit ${visit.data} (first at row ${seen.get(key)})` });
        continue;
      }
      seen.set(key, row);
      rows.push({ row, usubjid: id.data!, visit: visit.data!, date: date.data!, items });
    }
    return { kind, rows, errors };
  }
  const rows: StepsUploadRow[] = [];
  const seen = new Map<string, number>();
  const stepsS = intFrom(csv).pipe(z.number().min(0).max(MAX_DAILY_STEPS));
  const wearS = intFrom(csv).pipe(z.number().min(0).max(1440));
  for (const { row, rec } of records) {
    if (!check(row, rec)) continue;
    const before = errors.length;
    const id = idSchema.safeParse(typeof rec.subject_id === 'number' ? String(rec.subject_id) : rec.subject_id);
    if (!id.success) fieldErr(row, 'subject_id', rec.subject_id, 'must be a non-empty subject id (<= 64 chars)');
    const date = dateSchema.safeParse(rec.date);
    if (!date.success) fieldErr(row, 'date', rec.date, 'must be an ISO 8601 date YYYY-MM-DD');
    const steps = stepsS.safeParse(rec.steps);
    if (!steps.success) fieldErr(row, 'steps', rec.steps, `must be an integer 0..${MAX_DAILY_STEPS}`);
    const wear = wearS.safeParse(rec.wear_minutes);
    if (!wear.success) fieldErr(row, 'wear_minutes', rec.wear_minutes, 'must be an integer 0..1440 (minutes in a day)');
    for (const k of Object.keys(rec)) if (!csv && !STEP_COLS.includes(k)) errors.push({ row, field: k, message: `unknown field ${k}` });
    if (errors.length > before) continue;
    if (!subjectOk(row, id.data!)) continue;
    const key = `${id.data}\u0000${date.data}`;
    if (seen.has(key)) {
      errors.push({ row, field: 'date', message: `duplicate day for subject ${id.data} on ${date.data} (first at row ${seen.get(key)})` });
      continue;
    }
    seen.set(key, row);
    rows.push({ row, usubjid: id.data!, date: date.data!, steps: steps.data!, wearMinutes: wear.data! });
  }
  return { kind, rows, errors };
}

/**
 * Adds the accepted rows of a parsed upload to a StudyInput (pure: returns a new object). Each record's
 * source is `{ readId: '<uploadId>#row<row>' }` so ADQS rows trace back to the upload line. A questionnaire
 * for a subject/visit (or a wearable day) that the study already holds is not overwritten: it is reported
 * in `conflicts`. Rows for subjects absent from the study are reported too (pass `knownSubjects` to
 * `parseEproUpload` to catch them earlier).
 */
export function applyEproUpload(study: StudyInput, parsed: EproParseResult, uploadId: string): { study: StudyInput; conflicts: RowError[] } {
  const conflicts: RowError[] = [];
  const byId = new Map(study.subjects.map((s) => [s.usubjid, { ...s, qlqc30: [...(s.qlqc30 ?? [])], steps: [...(s.steps ?? [])] }]));
  for (const r of parsed.rows) {
    const s = byId.get(r.usubjid);
    if (!s) {
      conflicts.push({ row: r.row, field: 'subject_id', message: `subject ${r.usubjid} is not in the study` });
      continue;
    }
    const source = { readId: `${uploadId}#row${r.row}` };
    if (parsed.kind === 'qlq-c30') {
      const q = r as QlqUploadRow;
      if (s.qlqc30.some((x) => x.visit === q.visit)) {
        conflicts.push({ row: r.row, field: 'visit', message: `subject ${q.usubjid} already has a QLQ-C30 for visit ${q.visit}; kept the existing one` });
        continue;
      }
      s.qlqc30.push({ visit: q.visit, date: q.date, items: q.items, source });
    } else {
      const d = r as StepsUploadRow;
      if (s.steps.some((x) => x.date === d.date)) {
        conflicts.push({ row: r.row, field: 'date', message: `subject ${d.usubjid} already has wearable data for ${d.date}; kept the existing day` });
        continue;
      }
      s.steps.push({ date: d.date, steps: d.steps, wearMinutes: d.wearMinutes, source });
    }
  }
  return { study: { ...study, subjects: study.subjects.map((s) => byId.get(s.usubjid)!) }, conflicts };
}
