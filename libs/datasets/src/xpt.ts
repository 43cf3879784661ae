/**
 * SAS XPORT transport format, version 5 (SAS technical note TS-140), written and read by our own code:
 * no maintained JavaScript library writes XPT.
 *
 * Layout (every record 80 bytes):
 *   LIBRARY header + 2 records (SAS symbol, version, OS, created / modified datetime)
 *   MEMBER header, DSCRPTR header + 2 records (dataset name, label, type)
 *   NAMESTR header (variable count) + one 140-byte NAMESTR per variable, padded to 80 with blanks
 *   OBS header + observations back to back, the last record padded with blanks
 * Numerics are 8-byte IBM System/370 hexadecimal floating point, big-endian; missing = 0x2E then zeros.
 * Character variables are space padded to their length (1..200 bytes); text is written as UTF-8.
 */
import { InputError } from '@app/core';
import type { Column, Dataset, DatasetFileMeta, Value } from './types';
import {
  guessStandard, isNumericColumn, isoDateToSas, isoDatetimeToSas, isoTimeToSas, maxByteLength,
  sasToIsoDate, sasToIsoDatetime, sasToIsoTime, validateDataset, validateMeta,
} from './values';
import { fastOrReference } from './fast';

const REC = 80;
const LIB_HEADER = 'HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!000000000000000000000000000000  ';
const MEM_HEADER = 'HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!000000000000000001600000000140  ';
const DSC_HEADER = 'HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!000000000000000000000000000000  ';
const OBS_HEADER = 'HEADER RECORD*******OBS     HEADER RECORD!!!!!!!000000000000000000000000000000  ';
const NAMESTR_PREFIX = 'HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!';
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const SAS_NAME_RE = /^[A-Z_][A-Z0-9_]{0,7}$/;

/** The dataset name upper-cased; InputError when it is not a SAS name. */
export function checkXptDatasetName(name: string): string {
  const dsName = name.toUpperCase();
  if (!SAS_NAME_RE.test(dsName)) throw new InputError('xpt.invalid-name', `xpt: dataset name ${JSON.stringify(name)} must be a SAS name: 1-8 letters, digits or _, not starting with a digit`);
  return dsName;
}

export interface XptWriteOptions {
  /** 8-character SAS version written in the headers (default '9.4'). */
  sasVersion?: string;
  /** 8-character operating system name written in the headers (default 'NODEJS'). */
  os?: string;
}

// ---------------------------------------------------------------- IBM 370 floating point

/** Largest magnitude an IBM double holds: (1 - 16^-14) * 16^63. */
const IBM_MAX = (1 - Math.pow(16, -14)) * Math.pow(16, 63);
/** Smallest normalised positive IBM double: 16^-65. */
const IBM_MIN = Math.pow(16, -65);

/**
 * Encodes a finite double as an 8-byte IBM hexadecimal float. Exact for every double in the IBM range:
 * the 53-bit IEEE significand fits the 56-bit IBM fraction with up to 3 bits of hex normalisation.
 */
export function ieeeToIbm(x: number, out: Buffer, off: number, what = 'value'): void {
  if (!Number.isFinite(x)) throw new InputError('xpt.non-finite', `xpt: ${what} is ${x}; only finite numbers (or null for missing) can be stored`);
  if (x === 0) {
    out.fill(0, off, off + 8);
    return;
  }
  const ax = Math.abs(x);
  if (ax > IBM_MAX || ax < IBM_MIN) {
    throw new InputError('xpt.out-of-range', `xpt: ${what} = ${x} is outside the IBM floating point range ${IBM_MIN.toExponential(3)}..${IBM_MAX.toExponential(3)} of SAS transport files`);
  }
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, ax);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff; // never 0 here: subnormals are far below IBM_MIN
  // significand m in [2^52, 2^53) split as hiM (21 bits, implicit 1 included) : lo (32 bits);
  // value = (m / 2^53) * 2^b
  const hiM = (hi & 0xfffff) | 0x100000;
  const b = bexp - 1022;
  const e16 = Math.ceil(b / 4); // value = f * 16^e16 with f in [1/16, 1)
  const k = 3 - (4 * e16 - b); // the 56-bit IBM fraction is m << k, k in 0..3
  const fHi = k === 0 ? hiM : ((hiM << k) | (lo >>> (32 - k))) >>> 0; // top 24 bits
  const fLo = (lo << k) >>> 0; // low 32 bits
  out[off] = (x < 0 ? 0x80 : 0) | (e16 + 64);
  out[off + 1] = (fHi >>> 16) & 0xff;
  out[off + 2] = (fHi >>> 8) & 0xff;
  out[off + 3] = fHi & 0xff;
  out.writeUInt32BE(fLo, off + 4);
}

/** Decodes an IBM hexadecimal float of 2..8 bytes (short SAS numerics are the leading bytes). */
export function ibmToIeee(buf: Buffer, off: number, len = 8): number {
  const b0 = buf[off];
  const byte = (i: number) => (i < len ? buf[off + i] : 0);
  const hi = (byte(1) << 16) | (byte(2) << 8) | byte(3); // top 24 bits of the 56-bit fraction
  const lo = ((byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7)) >>> 0;
  if (hi === 0 && lo === 0) return 0;
  const sign = b0 & 0x80 ? -1 : 1;
  const e = (b0 & 0x7f) - 64;
  // hi * 2^32 and lo are exact doubles; their sum is one correctly rounded IEEE addition (exact when the
  // fraction has at most 53 significant bits, as for everything written from a double); scaling by a
  // power of two is exact within the IBM range
  return sign * (hi * 4294967296 + lo) * Math.pow(2, 4 * e - 56);
}

/** Missing value test: first byte '.', '_' or 'A'..'Z' followed by zero bytes. */
function isMissing(buf: Buffer, off: number, len: number): boolean {
  const b0 = buf[off];
  if (!(b0 === 0x2e || b0 === 0x5f || (b0 >= 0x41 && b0 <= 0x5a))) return false;
  for (let i = 1; i < len; i++) if (buf[off + i] !== 0) return false;
  return true;
}

// ---------------------------------------------------------------- writer

function ascii(s: string, width: number, what: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new InputError('xpt.non-ascii', `xpt: ${what} ${JSON.stringify(s)} must be printable ASCII`);
  if (s.length > width) throw new InputError('xpt.too-long', `xpt: ${what} ${JSON.stringify(s)} is ${s.length} characters; at most ${width} fit`);
  return s.padEnd(width, ' ');
}

/** 'ddMMMyy:hh:mm:ss' taken literally from an ISO 8601 datetime (no time-zone conversion, no clock read). */
export function xptDatetime(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(iso);
  if (!m) throw new InputError('xpt.meta', `xpt: creationDateTime ${JSON.stringify(iso)} must start with YYYY-MM-DDThh:mm:ss`);
  return `${m[3]}${MONTHS[Number(m[2]) - 1]}${m[1].slice(2)}:${m[4]}:${m[5]}:${m[6]}`;
}

interface Fmt { name: string; width: number; decimals: number }

/** Parses a SAS format like 'DATE9.', '8.2', '$CHAR20.', 'E8601DT19.'. */
export function parseSasFormat(f: string, what: string): Fmt {
  const m = /^(\$?[A-Z_][A-Z0-9_]*?|\$)?(\d+)?\.(\d+)?$/i.exec(f);
  if (!m) throw new InputError('xpt.invalid-format', `xpt: ${what}: displayFormat ${JSON.stringify(f)} is not a SAS format like DATE9. or 8.2`);
  const name = (m[1] ?? '').toUpperCase();
  if (name.length > 8) throw new InputError('xpt.invalid-format', `xpt: ${what}: format name ${name} is longer than 8 characters`);
  return { name, width: Number(m[2] ?? 0), decimals: Number(m[3] ?? 0) };
}

function defaultFormat(col: Column): string | undefined {
  if (!col.targetDataType) return undefined;
  if (col.dataType === 'date') return 'DATE9.';
  if (col.dataType === 'datetime') return 'DATETIME20.';
  if (col.dataType === 'time') return 'TIME8.';
  return undefined;
}

export function toSasNumber(col: Column, v: Value, what: string): number | null {
  if (v === null) return null;
  switch (col.dataType) {
    case 'boolean':
      return v ? 1 : 0;
    case 'date':
      return isoDateToSas(v as string, what);
    case 'datetime':
      return isoDatetimeToSas(v as string, what);
    case 'time':
      return isoTimeToSas(v as string, what);
    default:
      return typeof v === 'string' ? Number(v) : (v as number);
  }
}

/**
 * Writes one dataset as a SAS XPORT v5 file. Deterministic: headers take their datetime from meta.
 * Fast path (`fast.ts`); anything unusual (or any error) re-runs `writeXptReference`, so errors are
 * exactly the reference ones.
 */
export function writeXpt(input: Dataset, meta: DatasetFileMeta, opts: XptWriteOptions = {}): Buffer {
  return fastOrReference(input, meta, 'xpt', () => writeXptReference(input, meta, opts), opts);
}

/** The original writer: the reference the fast path must match byte for byte. */
export function writeXptReference(input: Dataset, meta: DatasetFileMeta, opts: XptWriteOptions = {}): Buffer {
  validateMeta(meta);
  const ds = validateDataset(input);
  return writeXptImpl(ds, meta, opts);
}

function writeXptImpl(ds: Dataset, meta: DatasetFileMeta, opts: XptWriteOptions): Buffer {
  const dsName = checkXptDatasetName(ds.name);
  const numeric = ds.columns.map(isNumericColumn);
  const lengths = ds.columns.map((c, i) => {
    if (numeric[i]) return 8;
    const need = maxByteLength(ds.rows, i);
    const len = c.length ?? need;
    if (!Number.isInteger(len) || len < 1 || len > 200) {
      throw new InputError('xpt.invalid-length', `xpt: ${dsName}.${c.name}: character length ${len} is outside 1..200 bytes allowed by XPORT v5`);
    }
    if (need > len) {
      const ri = ds.rows.findIndex((r) => typeof r[i] === 'string' && Buffer.byteLength(r[i] as string, 'utf8') > len);
      throw new InputError('xpt.value-too-long', `xpt: ${dsName}.${c.name} row ${ri + 1}: value is ${need} bytes but the column length is ${len}; refusing to truncate`);
    }
    return len;
  });
  const { parts, positions, obsLen } = xptHeader(ds, meta, opts, numeric, lengths);
  // observations
  const dataLen = ds.rows.length * obsLen;
  const obs = Buffer.alloc(Math.ceil(dataLen / REC) * REC, 0x20);
  ds.rows.forEach((r, ri) => {
    const base = ri * obsLen;
    r.forEach((v, ci) => {
      const o = base + positions[ci];
      const col = ds.columns[ci];
      if (numeric[ci]) {
        const what = `${dsName}.${col.name} row ${ri + 1}`;
        const x = toSasNumber(col, v, what);
        if (x === null) {
          obs.fill(0, o, o + 8);
          obs[o] = 0x2e;
        } else ieeeToIbm(x, obs, o, what);
      } else if (typeof v === 'string') {
        obs.write(v, o, lengths[ci], 'utf8');
      }
    });
  });
  parts.push(obs);
  return Buffer.concat(parts);
}

/**
 * Library, member and NAMESTR headers up to and including the OBS header record, for the given column
 * kinds and character lengths; also the byte position of each variable in an observation.
 */
export function xptHeader(ds: Pick<Dataset, 'name' | 'label' | 'columns'>, meta: DatasetFileMeta, opts: XptWriteOptions, numeric: boolean[], lengths: number[]): { parts: Buffer[]; positions: number[]; obsLen: number } {
  const dsName = ds.name.toUpperCase();
  const when = xptDatetime(meta.creationDateTime);
  const version = ascii(opts.sasVersion ?? '9.4', 8, 'SAS version');
  const os = ascii(opts.os ?? 'NODEJS', 8, 'OS name');
  const positions: number[] = [];
  let obsLen = 0;
  for (const l of lengths) {
    positions.push(obsLen);
    obsLen += l;
  }

  const parts: Buffer[] = [];
  const text = (s: string) => Buffer.from(s, 'latin1');
  // library header
  parts.push(text(LIB_HEADER));
  parts.push(text(`SAS     SAS     SASLIB  ${version}${os}${' '.repeat(24)}${when}`));
  parts.push(text(when + ' '.repeat(64)));
  // member header
  parts.push(text(MEM_HEADER), text(DSC_HEADER));
  parts.push(text(`SAS     ${dsName.padEnd(8)}SASDATA ${version}${os}${' '.repeat(24)}${when}`));
  parts.push(text(`${when}${' '.repeat(16)}${ascii(ds.label ?? '', 40, `dataset ${dsName} label`)}${' '.repeat(8)}`));
  // namestr
  const n = ds.columns.length;
  if (n > 9999) throw new InputError('xpt.too-many-variables', `xpt: ${dsName} has ${n} variables; at most 9999 fit a NAMESTR header`);
  parts.push(text(`${NAMESTR_PREFIX}000000${String(n).padStart(4, '0')}${'0'.repeat(20)}  `));
  const ns = Buffer.alloc(Math.ceil((n * 140) / REC) * REC, 0x20);
  ds.columns.forEach((c, i) => {
    const o = i * 140;
    ns.fill(0, o, o + 140);
    const name = c.name.toUpperCase();
    if (!SAS_NAME_RE.test(name)) throw new InputError('xpt.invalid-name', `xpt: ${dsName}: variable name ${JSON.stringify(c.name)} must be a SAS name: 1-8 letters, digits or _, not starting with a digit`);
    const fmtText = c.displayFormat ?? defaultFormat(c);
    const fmt = fmtText ? parseSasFormat(fmtText, `${dsName}.${name}`) : { name: '', width: 0, decimals: 0 };
    ns.writeInt16BE(numeric[i] ? 1 : 2, o);
    ns.writeInt16BE(0, o + 2);
    ns.writeInt16BE(lengths[i], o + 4);
    ns.writeInt16BE(i + 1, o + 6);
    ns.write(name.padEnd(8), o + 8, 'latin1');
    ns.write(ascii(c.label ?? '', 40, `${dsName}.${name} label`), o + 16, 'latin1');
    ns.write(fmt.name.padEnd(8), o + 56, 'latin1');
    ns.writeInt16BE(fmt.width, o + 64);
    ns.writeInt16BE(fmt.decimals, o + 66);
    ns.writeInt16BE(0, o + 68); // justification: 0 = left, as SAS writes it
    ns.write(' '.repeat(8), o + 72, 'latin1'); // informat name: none
    ns.writeInt16BE(0, o + 80);
    ns.writeInt16BE(0, o + 82);
    ns.writeInt32BE(positions[i], o + 84);
  });
  parts.push(ns);
  parts.push(text(OBS_HEADER));
  return { parts, positions, obsLen };
}

// ---------------------------------------------------------------- reader

const DATE_FORMATS = new Set(['DATE', 'E8601DA', 'IS8601DA', 'YYMMDD', 'YYMMDDN', 'MMDDYY', 'DDMMYY', 'MONYY', 'WORDDATE', 'WEEKDATE', 'B8601DA', 'NLDATE', 'YYMMDDD', 'YYMMDDS', 'MMDDYYS', 'DDMMYYS']);
const DATETIME_FORMATS = new Set(['DATETIME', 'E8601DT', 'IS8601DT', 'B8601DT', 'NLDATM', 'DATEAMPM']);
const TIME_FORMATS = new Set(['TIME', 'E8601TM', 'IS8601TM', 'B8601TM', 'TOD', 'HHMM', 'HOUR']);

export interface XptReadOptions {
  /** Known column metadata (matched by name): its dataType / itemOID / targetDataType win over the file's. */
  columns?: Column[];
  standard?: Dataset['standard'];
}

const decoder = new TextDecoder('utf-8', { fatal: true });
function decodeText(b: Buffer): string {
  try {
    return decoder.decode(b);
  } catch {
    return b.toString('latin1');
  }
}
const trimRight = (s: string) => s.replace(/[ \0]+$/, '');

/** Reads the first member (dataset) of a SAS XPORT v5 file. */
export function readXpt(bytes: Buffer, opts: XptReadOptions = {}): Dataset {
  const rec = (i: number) => bytes.subarray(i * REC, (i + 1) * REC).toString('latin1');
  if (bytes.length < REC * 8) throw new InputError('xpt.truncated', `xpt: file is ${bytes.length} bytes; a SAS transport file has at least 8 header records of 80 bytes`);
  if (bytes.length % REC !== 0) throw new InputError('xpt.truncated', `xpt: file length ${bytes.length} is not a multiple of 80 bytes; the file is truncated or not XPORT`);
  if (!rec(0).startsWith('HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!')) {
    if (rec(0).startsWith('HEADER RECORD*******LIBV8')) throw new InputError('xpt.unsupported-version', 'xpt: this is a SAS XPORT version 8/9 file; only version 5 (TS-140) is supported');
    throw new InputError('xpt.not-xport', 'xpt: record 1 is not a LIBRARY header record; the file is not SAS XPORT v5');
  }
  if (!rec(3).startsWith('HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!')) throw new InputError('xpt.bad-header', 'xpt: record 4 is not a MEMBER header record');
  const nsLen = Number(rec(3).slice(74, 78).trim() || '140');
  if (nsLen !== 140 && nsLen !== 136) throw new InputError('xpt.bad-header', `xpt: NAMESTR length ${nsLen} in the MEMBER header is neither 140 nor 136`);
  if (!rec(4).startsWith('HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!')) throw new InputError('xpt.bad-header', 'xpt: record 5 is not a DSCRPTR header record');
  const name = rec(5).slice(8, 16).trim();
  const label = rec(6).slice(32, 72).trim();
  if (!rec(7).startsWith(NAMESTR_PREFIX)) throw new InputError('xpt.bad-header', 'xpt: record 8 is not a NAMESTR header record');
  const nvar = Number(rec(7).slice(54, 58));
  if (!Number.isInteger(nvar) || nvar < 1) throw new InputError('xpt.bad-header', `xpt: NAMESTR header gives ${JSON.stringify(rec(7).slice(54, 58))} variables; expected a positive count`);
  const nsStart = 8 * REC;
  const nsBytes = Math.ceil((nvar * nsLen) / REC) * REC;
  const obsHeaderAt = nsStart + nsBytes;
  if (bytes.length < obsHeaderAt + REC) throw new InputError('xpt.truncated', `xpt: file ends inside the ${nvar} NAMESTR records`);
  if (!bytes.subarray(obsHeaderAt, obsHeaderAt + REC).toString('latin1').startsWith('HEADER RECORD*******OBS     HEADER RECORD!!!!!!!')) {
    throw new InputError('xpt.bad-header', `xpt: record ${obsHeaderAt / REC + 1} is not an OBS header record (after ${nvar} NAMESTR records)`);
  }
  const known = new Map((opts.columns ?? []).map((c) => [c.name.toUpperCase(), c]));
  interface Var { col: Column; numeric: boolean; len: number; pos: number; kind: 'date' | 'datetime' | 'time' | 'num' | 'char' }
  const vars: Var[] = [];
  for (let i = 0; i < nvar; i++) {
    const o = nsStart + i * nsLen;
    const type = bytes.readInt16BE(o);
    if (type !== 1 && type !== 2) throw new InputError('xpt.bad-namestr', `xpt: NAMESTR ${i + 1} has variable type ${type}; expected 1 (numeric) or 2 (character)`);
    const len = bytes.readInt16BE(o + 4);
    const vname = trimRight(bytes.subarray(o + 8, o + 16).toString('latin1'));
    const vlabel = trimRight(decodeText(bytes.subarray(o + 16, o + 56)));
    const fname = trimRight(bytes.subarray(o + 56, o + 64).toString('latin1'));
    const fl = bytes.readInt16BE(o + 64);
    const fd = bytes.readInt16BE(o + 66);
    const pos = bytes.readInt32BE(o + 84);
    if (len < 1 || (type === 1 && (len < 2 || len > 8))) throw new InputError('xpt.bad-namestr', `xpt: variable ${vname} has length ${len}; numerics take 2..8 bytes, characters at least 1`);
    const displayFormat = fname || fl ? `${fname}${fl || ''}.${fd || ''}` : undefined;
    const k = known.get(vname.toUpperCase());
    let col: Column;
    let kind: Var['kind'];
    if (type === 2) {
      kind = 'char';
      col = { itemOID: `IT.${name}.${vname}`, name: vname, label: vlabel, dataType: 'string', length: len };
    } else if (DATE_FORMATS.has(fname)) {
      kind = 'date';
      col = { itemOID: `IT.${name}.${vname}`, name: vname, label: vlabel, dataType: 'date', targetDataType: 'integer' };
    } else if (DATETIME_FORMATS.has(fname)) {
      kind = 'datetime';
      col = { itemOID: `IT.${name}.${vname}`, name: vname, label: vlabel, dataType: 'datetime', targetDataType: 'integer' };
    } else if (TIME_FORMATS.has(fname)) {
      kind = 'time';
      col = { itemOID: `IT.${name}.${vname}`, name: vname, label: vlabel, dataType: 'time', targetDataType: 'integer' };
    } else {
      kind = 'num';
      col = { itemOID: `IT.${name}.${vname}`, name: vname, label: vlabel, dataType: 'double' };
    }
    if (displayFormat) col.displayFormat = displayFormat;
    if (k) {
      col = { ...col, itemOID: k.itemOID, dataType: k.dataType, ...(k.targetDataType ? { targetDataType: k.targetDataType } : {}), ...(k.keySequence ? { keySequence: k.keySequence } : {}) };
      if (type === 1 && !isNumericColumn(k) && k.dataType !== 'date' && k.dataType !== 'datetime' && k.dataType !== 'time') {
        throw new InputError('xpt.metadata-mismatch', `xpt: variable ${vname} is numeric in the file but the given metadata says dataType '${k.dataType}'`);
      }
      if (type === 2 && isNumericColumn(k)) throw new InputError('xpt.metadata-mismatch', `xpt: variable ${vname} is character in the file but the given metadata says dataType '${k.dataType}'`);
    }
    vars.push({ col, numeric: type === 1, len, pos, kind });
  }
  const obsLen = vars.reduce((m, v) => Math.max(m, v.pos + v.len), 0);
  const dataStart = obsHeaderAt + REC;
  // the data end at the next member header (aligned to 80) or at the end of the file
  let dataEnd = bytes.length;
  for (let o = dataStart; o + REC <= bytes.length; o += REC) {
    if (bytes[o] === 0x48 && bytes.subarray(o, o + 48).toString('latin1') === 'HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!') {
      dataEnd = o;
      break;
    }
  }
  let nobs = Math.floor((dataEnd - dataStart) / obsLen);
  // the last record is padded with blanks: drop trailing all-blank "observations" lying in that padding
  const allBlank = (o: number) => {
    for (let i = 0; i < obsLen; i++) if (bytes[o + i] !== 0x20) return false;
    return true;
  };
  while (nobs > 0 && dataStart + (nobs - 1) * obsLen > dataEnd - REC && allBlank(dataStart + (nobs - 1) * obsLen)) nobs--;

  const rows: Value[][] = [];
  for (let r = 0; r < nobs; r++) {
    const base = dataStart + r * obsLen;
    rows.push(
      vars.map((v) => {
        const o = base + v.pos;
        if (!v.numeric) {
          // SAS has no missing character value distinct from blanks: blanks read as '' (as the official
          // CDISC conversions of rs.xpt -> rs.json do)
          return trimRight(decodeText(bytes.subarray(o, o + v.len)));
        }
        if (isMissing(bytes, o, v.len)) return null;
        const x = ibmToIeee(bytes, o, v.len);
        switch (v.col.dataType) {
          case 'date':
            return sasToIsoDate(x);
          case 'datetime':
            return sasToIsoDatetime(x);
          case 'time':
            return sasToIsoTime(x);
          case 'boolean':
            return x !== 0;
          default:
            return x;
        }
      }),
    );
  }
  // numeric columns without metadata: 'integer' when every value is a whole number
  for (const [i, v] of vars.entries()) {
    if (v.kind === 'num' && !known.has(v.col.name.toUpperCase()) && rows.every((r) => r[i] === null || Number.isSafeInteger(r[i]))) v.col.dataType = 'integer';
  }
  return {
    name,
    label,
    itemGroupOID: `IG.${name}`,
    standard: opts.standard ?? guessStandard(name),
    columns: vars.map((v) => v.col),
    rows,
  };
}
