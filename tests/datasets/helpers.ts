import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatasetFileMeta } from '@app/datasets';

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
