import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Column, Dataset, DatasetFileMeta, Value } from '@app/datasets';

export const FIX = join(__dirname, '..', 'fixtures', 'cdisc', 'dataset-json');
export const fixture = (name: string): Buffer => readFileSync(join(FIX, name));

export const META: DatasetFileMeta = {
  studyOID: 'STUDY.TEST01',
  metaDataVersionOID: 'MDV.TEST01.1',
  creationDateTime: '2024-05-31T12:00:00',
  originator: 'Endpoint Service tests',
  sourceSystem: { name: 'endpoint-service', version: '0.1.0' },
};

export const PYTHON = '/usr/bin/python3';

/** Runs the independent pandas XPT reader (tests/datasets/pandas_dump.py) on bytes. Fails loudly if absent. */
export function pandasRead(bytes: Buffer): { columns: string[]; rows: (string | number | null)[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'xpt-'));
  try {
    const f = join(dir, 'data.xpt');
    writeFileSync(f, bytes);
    const out = execFileSync(PYTHON, [join(__dirname, 'pandas_dump.py'), f], { maxBuffer: 64 << 20 }).toString('utf8');
    return JSON.parse(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Python's own calendar arithmetic: days from 1960-01-01 for each ISO date (independent of our code). */
export function pythonSasDays(dates: string[]): number[] {
  const code = 'import sys,json,datetime as d; print(json.dumps([(d.date.fromisoformat(s)-d.date(1960,1,1)).days for s in json.loads(sys.argv[1])]))';
  return JSON.parse(execFileSync(PYTHON, ['-c', code, JSON.stringify(dates)]).toString());
}

/** Python: seconds from 1960-01-01T00:00:00 for each naive ISO datetime. */
export function pythonSasSeconds(datetimes: string[]): number[] {
  const code = 'import sys,json,datetime as d; print(json.dumps([(d.datetime.fromisoformat(s)-d.datetime(1960,1,1)).total_seconds() for s in json.loads(sys.argv[1])]))';
  return JSON.parse(execFileSync(PYTHON, ['-c', code, JSON.stringify(datetimes)]).toString());
}

/** A column of the random test datasets. */
export const col = (name: string, dataType: Column['dataType'], extra: Partial<Column> = {}): Column => ({ itemOID: `IT.R.${name}`, name, label: name, dataType, ...extra });

/** One column of every kind the writers treat differently. */
export const RANDOM_COLUMNS: Column[] = [
  col('S', 'string'), col('I', 'integer'), col('DEC', 'decimal'), col('D', 'double'), col('B', 'boolean'),
  col('DT', 'date', { targetDataType: 'integer', displayFormat: 'DATE9.' }), col('DTC', 'date'), col('TM', 'time', { targetDataType: 'integer' }),
];
const ibmSafe = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e70, max: 1e70 }).filter((x) => x === 0 || Math.abs(x) > 1e-70);
const orNull = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null, freq: 5 });
const day = fc.integer({ min: -3000, max: 60000 }).map((d) => new Date(Date.UTC(1960, 0, 1) + d * 86400000).toISOString().slice(0, 10));
const randomRow = fc.tuple(
  orNull(fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('', ',', '"', 'a\r\nb', 'x\ty', 'é', 'a"b,c'))),
  orNull(fc.oneof(fc.integer({ min: -1e9, max: 1e9 }), fc.constantFrom(-0, 0))),
  orNull(fc.oneof(ibmSafe, fc.constantFrom('12.50', '-0.001', '0', 7))),
  orNull(ibmSafe),
  orNull(fc.boolean()),
  orNull(day),
  orNull(fc.oneof(day, fc.constantFrom('', '2024', '2024-02'))),
  orNull(fc.constantFrom('00:00:00', '12:30', '23:59:59.5')),
) as fc.Arbitrary<Value[]>;
/** Random valid datasets over RANDOM_COLUMNS (small value pools on purpose: repeated values exercise dictionaries). */
export const randomDataset = fc
  .array(fc.oneof(randomRow, fc.constant(['same', 1, '1.5', 2.5, true, '2024-01-31', '2024', '12:00'] as Value[])), { maxLength: 40 })
  .map((rows): Dataset => ({ name: 'R', label: 'Random', itemGroupOID: 'IG.R', standard: 'other', columns: RANDOM_COLUMNS, rows }));

/** The bytes (base64) a writer returns, or its error as "code: message". */
export function outcome(f: () => Buffer): { bytes?: string; error?: string } {
  try {
    return { bytes: f().toString('base64') };
  } catch (e) {
    return { error: `${(e as { code?: string }).code}: ${(e as Error).message}` };
  }
}
