/**
 * Data cuts: the pure part. Serialises every dataset in every requested format, hashes each file and
 * writes a deterministic manifest (itself a file, manifest.json). Same inputs -> byte-identical files.
 * Storage (object store, DB row, immutability) is the caller's job.
 */
import { InputError, sha256Hex } from '@app/core';
import type { Dataset, DatasetFileMeta } from './types';
import { writeCsv } from './csv';
import { writeDatasetDsjc, writeDatasetJson, writeDatasetNdjson } from './dataset-json';
import { writeXpt } from './xpt';
import { validateMeta } from './values';
import { columnsOf, datasetToTable, isTable, rowCountOf, tableName, writeTableFile, type TableInput } from './table';
import { writeTablesParallel } from './parallel';

export type CutFormat = 'json' | 'ndjson' | 'dsjc' | 'xpt' | 'csv';
export const CUT_FORMATS: readonly CutFormat[] = ['json', 'ndjson', 'dsjc', 'xpt', 'csv'];
export const MANIFEST_PATH = 'manifest.json';
export const MANIFEST_VERSION = 1;

export interface CutFile {
  /** Relative path inside the cut, e.g. 'adtte.xpt' or 'manifest.json'. */
  path: string;
  bytes: Buffer;
  sha256: string;
}

/** A data file of a cut handed over as it is written (streamDataCut): its bytes as blocks in order (join them, or stream them to the store). */
export interface StreamedCutFile {
  path: string;
  sha256: string;
  size: number;
  chunks: Buffer[];
}

export interface CutManifestFile {
  path: string;
  dataset: string;
  format: CutFormat;
  size: number;
  sha256: string;
}

export interface CutManifest {
  manifestVersion: number;
  cutId: string;
  studyId: string;
  /** ISO date YYYY-MM-DD: the data cut-off. */
  cutoffDate: string;
  /** From meta.creationDateTime: the one time stamp of the cut (never read from a clock). */
  creationDateTime: string;
  codeVersion: string;
  blinded: boolean;
  /** Protocol settings used to derive the datasets (any JSON), stored with keys sorted. */
  settings: unknown;
  meta: DatasetFileMeta;
  datasets: { name: string; label: string; standard: Dataset['standard']; records: number; columns: number }[];
  /** Every data file (manifest.json itself excluded), sorted by path. */
  files: CutManifestFile[];
  /**
   * The audit trail's head (seq + hash) when the cut was first made: anchors the chain (issue 12 §7). Absent when the
   * caller gives none; null when the log was empty. Not part of the cut id: see libs/pipeline createDataCut.
   */
  auditHead?: { seq: string; hash: string } | null;
  /** sha256 of the canonical JSON of this manifest without this field. */
  manifestSha256: string;
}

/** A dataset of a cut: row-major, or a columnar table (possibly in consecutive parts). */
export type CutDataset = Dataset | TableInput;

const isTableInput = (d: CutDataset): d is TableInput => Array.isArray(d) || isTable(d as Dataset);
/** Name, label, standard, columns and row count of a cut dataset, whatever its form. */
function describeDataset(d: CutDataset): { name: string; label: string; standard: Dataset['standard']; columns: Dataset['columns']; records: number } {
  if (!isTableInput(d)) return { name: d.name, label: d.label, standard: d.standard, columns: d.columns, records: d.rows.length };
  const first = Array.isArray(d) ? d[0] : d;
  if (!first) throw new InputError('datacut.invalid', 'datacut: a table needs at least one part');
  return { name: tableName(d), label: first.label, standard: first.standard, columns: columnsOf(d), records: rowCountOf(d) };
}

export interface BuildDataCutInput {
  cutId: string;
  studyId: string;
  cutoffDate: string;
  datasets: CutDataset[];
  settings: unknown;
  meta: DatasetFileMeta;
  formats: CutFormat[];
  /** Code version recorded in the manifest, e.g. codeVersion() from @app/core. Passed in for determinism. */
  codeVersion: string;
  /** When true, assertBlinded(datasets) must pass before anything is written. */
  blinded?: boolean;
  /** Recorded in the manifest as auditHead when given (see CutManifest.auditHead). */
  auditHead?: { seq: string; hash: string } | null;
}

/** Canonical JSON: keys sorted at every level, 2-space indent, newline at the end. Rejects non-JSON values. */
export function canonicalJson(value: unknown): string {
  const norm = (v: unknown, path: string): unknown => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new InputError('datacut.invalid-settings', `datacut: ${path} is ${v}; only finite numbers can be stored`);
      return v;
    }
    if (Array.isArray(v)) return v.map((x, i) => norm(x, `${path}[${i}]`));
    if (typeof v === 'object') {
      const tag = Object.prototype.toString.call(v);
      if (tag !== '[object Object]') throw new InputError('datacut.invalid-settings', `datacut: ${path} is a ${tag.slice(8, -1)}; only plain JSON objects, arrays, strings, numbers, booleans and null can be stored`);
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v as object).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        out[k] = norm(x, `${path}.${k}`);
      }
      return out;
    }
    throw new InputError('datacut.invalid-settings', `datacut: ${path} has type ${typeof v}; only JSON values can be stored`);
  };
  return JSON.stringify(norm(value, '$'), null, 2) + '\n';
}

const BLINDING_NAMES = new Set(['ARM', 'ARMCD', 'ARMN', 'ACTARM', 'ACTARMCD', 'ACTARMN', 'TRTP', 'TRTPN', 'TRTA', 'TRTAN']);
const BLINDING_RE = /^TRT\d\d[PA]N?$/; // TRT01P, TRT01PN, TRT02A, ...
const BLINDING_LABEL_RE = /treatment arm|planned treatment|actual treatment/i;

/**
 * Throws InputError('datacut.unblinded') if any dataset has a column revealing treatment assignment:
 * ARM, ARMCD, ACTARM, ACTARMCD, TRTP, TRTA (and their numeric N forms), TRTxxP/TRTxxA(N), or a label
 * containing 'treatment arm', 'planned treatment' or 'actual treatment'.
 */
export function assertBlinded(datasets: CutDataset[]): void {
  const hits: string[] = [];
  for (const d of datasets) {
    const ds = describeDataset(d);
    for (const c of ds.columns) {
      const n = c.name.toUpperCase();
      if (BLINDING_NAMES.has(n) || BLINDING_RE.test(n) || BLINDING_LABEL_RE.test(c.label ?? '')) hits.push(`${ds.name}.${c.name}`);
    }
  }
  if (hits.length) {
    throw new InputError('datacut.unblinded', `datacut: blinded cut contains treatment-assignment columns: ${hits.join(', ')}; remove them before a blinded cut`, { columns: hits });
  }
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const DATE_RE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** Serialises one dataset in one format (the writer buildDataCut uses). Pure and deterministic. */
export function writeDataset(ds: Dataset, meta: DatasetFileMeta, f: CutFormat): Buffer {
  switch (f) {
    case 'json':
      return writeDatasetJson(ds, meta);
    case 'ndjson':
      return writeDatasetNdjson(ds, meta);
    case 'dsjc':
      return writeDatasetDsjc(ds, meta);
    case 'xpt':
      return writeXpt(ds, meta);
    case 'csv':
      return writeCsv(ds);
    default:
      throw new InputError('datacut.invalid', `unknown format ${JSON.stringify(f)}; expected one of ${CUT_FORMATS.join(', ')}`);
  }
}

function manifestHash(m: Omit<CutManifest, 'manifestSha256'> & { manifestSha256?: string }): string {
  const { manifestSha256: _ignored, ...rest } = m;
  return sha256Hex(canonicalJson(rest));
}

interface CutPlan {
  datasets: CutDataset[];
  formats: CutFormat[];
}

/** Checks the cut's input; returns the formats to write (unique, sorted). */
function checkCutInput(input: BuildDataCutInput): CutPlan {
  const { cutId, studyId, cutoffDate, datasets, meta, formats, codeVersion } = input;
  if (typeof cutId !== 'string' || !ID_RE.test(cutId)) throw new InputError('datacut.invalid', `datacut: cutId ${JSON.stringify(cutId)} must be 1-128 letters, digits, '.', '_' or '-'`);
  if (typeof studyId !== 'string' || studyId.length === 0) throw new InputError('datacut.invalid', 'datacut: studyId must be a non-empty string');
  if (typeof cutoffDate !== 'string' || !DATE_RE.test(cutoffDate) || Number.isNaN(Date.parse(cutoffDate))) {
    throw new InputError('datacut.invalid', `datacut: cutoffDate ${JSON.stringify(cutoffDate)} must be an ISO date YYYY-MM-DD`);
  }
  if (typeof codeVersion !== 'string' || codeVersion.length === 0) throw new InputError('datacut.invalid', 'datacut: codeVersion must be given (e.g. codeVersion() from @app/core)');
  validateMeta(meta);
  if (!Array.isArray(datasets) || datasets.length === 0) throw new InputError('datacut.invalid', 'datacut: at least one dataset is required');
  checkCutFormats(formats);
  const names = new Set<string>();
  for (const ds of datasets) {
    const n = describeDataset(ds).name.toLowerCase();
    if (names.has(n)) throw new InputError('datacut.invalid', `datacut: dataset ${describeDataset(ds).name} appears twice`);
    names.add(n);
  }
  if (input.blinded) assertBlinded(datasets);
  return { datasets, formats: [...new Set(formats)].sort() };
}

/** A dataset's file in a cut: its name in lower case, the format as extension ('adtte.xpt'). */
const cutFilePath = (ds: CutDataset, format: CutFormat): string => `${describeDataset(ds).name.toLowerCase()}.${format}`;

/** The manifest of the written files; manifest.json is added as the last file. */
function finishCut(input: BuildDataCutInput, written: { ds: CutDataset; format: CutFormat; bytes?: Buffer; size?: number; sha256?: string }[]): { files: CutFile[]; manifest: CutManifest } {
  const settingsJson = JSON.parse(canonicalJson(input.settings ?? null)) as unknown;
  const files: CutFile[] = [];
  const listed: CutManifestFile[] = [];
  for (const w of written) {
    const name = describeDataset(w.ds).name;
    const path = cutFilePath(w.ds, w.format);
    const sha256 = w.sha256 ?? sha256Hex(w.bytes!);
    if (w.bytes) files.push({ path, bytes: w.bytes, sha256 });
    listed.push({ path, dataset: name, format: w.format, size: w.size ?? w.bytes!.length, sha256 });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  listed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const { meta } = input;
  const body: Omit<CutManifest, 'manifestSha256'> = {
    manifestVersion: MANIFEST_VERSION,
    cutId: input.cutId,
    studyId: input.studyId,
    cutoffDate: input.cutoffDate,
    creationDateTime: meta.creationDateTime,
    codeVersion: input.codeVersion,
    blinded: input.blinded === true,
    settings: settingsJson,
    meta: { studyOID: meta.studyOID, metaDataVersionOID: meta.metaDataVersionOID, creationDateTime: meta.creationDateTime, originator: meta.originator, sourceSystem: { ...meta.sourceSystem } },
    datasets: input.datasets
      .map((d) => {
        const x = describeDataset(d);
        return { name: x.name, label: x.label, standard: x.standard, records: x.records, columns: x.columns.length };
      })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    files: listed,
    ...(input.auditHead !== undefined ? { auditHead: input.auditHead ? { seq: String(input.auditHead.seq), hash: input.auditHead.hash } : null } : {}),
  };
  const manifest: CutManifest = { ...body, manifestSha256: manifestHash(body) };
  const mbytes = Buffer.from(canonicalJson(manifest), 'utf8');
  files.push({ path: MANIFEST_PATH, bytes: mbytes, sha256: sha256Hex(mbytes) });
  return { files, manifest };
}

/** One file of a cut dataset in one format, in the calling thread. */
function writeCutFile(ds: CutDataset, meta: DatasetFileMeta, f: CutFormat): Buffer {
  return isTableInput(ds) ? writeTableFile(ds, meta, f) : writeDataset(ds, meta, f);
}

/**
 * Builds the files of a data cut and its manifest (manifest.json is the last file), in the calling
 * thread. Datasets may be row-major Datasets or columnar tables. Pure and deterministic.
 */
export function buildDataCut(input: BuildDataCutInput): { files: CutFile[]; manifest: CutManifest } {
  const plan = checkCutInput(input);
  const written = plan.datasets.flatMap((ds) => plan.formats.map((format) => ({ ds, format, bytes: writeCutFile(ds, input.meta, format) })));
  return finishCut(input, written);
}

/**
 * buildDataCut with every dataset written by writeTablesParallel (on worker threads for a big cut): row-major
 * Datasets are made tables first (datasetToTable; the table writers give the row writers' bytes, tested), so
 * that the reader datasets of a big BICR cut (ADTRRDR: about 0.86 million rows for 10,000 subjects) are not
 * written on the calling thread, whose event loop a service needs meanwhile. Same files, same manifest.
 */
export async function buildDataCutParallel(input: BuildDataCutInput, opts: { threads?: number } = {}): Promise<{ files: CutFile[]; manifest: CutManifest }> {
  return writeCutParallel(input, opts.threads);
}

/**
 * buildDataCutParallel for a cut too big to hold: each data file is handed to `onFile` (to be stored) as soon as it
 * is written, and only the manifest comes back, with manifest.json's bytes (to be stored last). Same files, same
 * manifest. Memory: the cut's datasets plus the files written but not yet stored, instead of every file (the files of
 * a 10,000-subject trial with reads are 2.4 GB). A rejection of `onFile` fails the cut once the writing has ended.
 */
export async function streamDataCut(input: BuildDataCutInput, onFile: (file: StreamedCutFile) => Promise<void>, opts: { threads?: number } = {}): Promise<{ manifest: CutManifest; manifestFile: CutFile }> {
  const { files, manifest } = await writeCutParallel(input, opts.threads, onFile);
  return { manifest, manifestFile: files.find((f) => f.path === MANIFEST_PATH)! };
}

/** Every dataset as a table through writeTablesParallel: files collected, or (onFile) handed over as written. */
async function writeCutParallel(input: BuildDataCutInput, threads: number | undefined, onFile?: (file: StreamedCutFile) => Promise<void>): Promise<{ files: CutFile[]; manifest: CutManifest }> {
  const plan = checkCutInput(input);
  const tables = plan.datasets.map((ds) => (isTableInput(ds) ? ds : datasetToTable(ds)));
  const datasetOf = new Map(tables.map((t, k) => [tableName(t), plan.datasets[k]!]));
  const par = await writeTablesParallel(
    tables,
    input.meta,
    plan.formats,
    onFile ? { threads, onFile: (f) => onFile({ path: cutFilePath(datasetOf.get(f.table)!, f.format), chunks: f.chunks, size: f.size, sha256: f.sha256 }) } : { threads, mode: 'collect' },
  );
  const byKey = new Map(par.map((f) => [`${f.table}\u0000${f.format}`, f]));
  const written = plan.datasets.flatMap((ds, k) =>
    plan.formats.map((format) => {
      const f = byKey.get(`${tableName(tables[k]!)}\u0000${format}`)!;
      return { ds, format, bytes: f.bytes as Buffer | undefined, size: f.size, sha256: f.sha256 };
    }),
  );
  return finishCut(input, written);
}

export interface VerifyResult {
  ok: boolean;
  /** One line per problem: missing, unexpected, size or hash mismatch, manifest altered. */
  problems: string[];
}

/**
 * Recomputes every hash of a cut and compares with the manifest (tamper detection). `files` may include
 * manifest.json; if so its bytes must be exactly the canonical form of `manifest`.
 */
export function verifyDataCut(files: { path: string; bytes: Buffer }[], manifest: CutManifest): VerifyResult {
  const problems: string[] = [];
  if (manifestHash(manifest) !== manifest.manifestSha256) problems.push('manifest: manifestSha256 does not match the manifest content (manifest altered)');
  const byPath = new Map<string, Buffer>();
  for (const f of files) {
    if (byPath.has(f.path)) problems.push(`${f.path}: present twice`);
    byPath.set(f.path, f.bytes);
  }
  const mfile = byPath.get(MANIFEST_PATH);
  if (mfile && !mfile.equals(Buffer.from(canonicalJson(manifest), 'utf8'))) problems.push(`${MANIFEST_PATH}: file bytes differ from the manifest given`);
  const listed = new Set<string>();
  for (const e of manifest.files ?? []) {
    listed.add(e.path);
    const b = byPath.get(e.path);
    if (!b) {
      problems.push(`${e.path}: missing`);
      continue;
    }
    if (b.length !== e.size) problems.push(`${e.path}: size ${b.length} != manifest ${e.size}`);
    const h = sha256Hex(b);
    if (h !== e.sha256) problems.push(`${e.path}: sha256 ${h} != manifest ${e.sha256}`);
  }
  for (const p of byPath.keys()) if (p !== MANIFEST_PATH && !listed.has(p)) problems.push(`${p}: not listed in the manifest`);
  return { ok: problems.length === 0, problems };
}

/** Parses manifest.json bytes (e.g. from the object store) and checks its own hash. */
export function readManifest(bytes: Buffer): CutManifest {
  let m: CutManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as CutManifest;
  } catch (e) {
    throw new InputError('datacut.manifest', `datacut: manifest.json is not valid JSON (${(e as Error).message})`);
  }
  if (!m || typeof m !== 'object' || !Array.isArray(m.files) || typeof m.manifestSha256 !== 'string') {
    throw new InputError('datacut.manifest', 'datacut: manifest.json lacks files[] or manifestSha256');
  }
  if (manifestHash(m) !== m.manifestSha256) throw new InputError('datacut.tampered', 'datacut: manifest.json content does not match its manifestSha256');
  return m;
}

/** Refuses (InputError `datacut.invalid`) a format list that is empty or names an unknown format. */
export function checkCutFormats(formats: unknown): asserts formats is CutFormat[] {
  if (!Array.isArray(formats) || formats.length === 0) throw new InputError('datacut.invalid', `datacut: formats must list at least one of ${CUT_FORMATS.join(', ')}`);
  for (const f of formats) if (!CUT_FORMATS.includes(f)) throw new InputError('datacut.invalid', `datacut: unknown format ${JSON.stringify(f)}; expected one of ${CUT_FORMATS.join(', ')}`);
}
