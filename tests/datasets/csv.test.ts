import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { isInputError } from '@app/core';
import { Dataset, formatNumber, readCsv, readDataset, writeCsv } from '@app/datasets';
import { PYTHON, fixture } from './helpers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ds: Dataset = {
  name: 'ADRS', label: 'Response', itemGroupOID: 'IG.ADRS', standard: 'ADaM',
  columns: [
    { itemOID: 'IT.ADRS.USUBJID', name: 'USUBJID', label: 'Subject', dataType: 'string' },
    { itemOID: 'IT.ADRS.AVALC', name: 'AVALC', label: 'Response', dataType: 'string' },
    { itemOID: 'IT.ADRS.PCHG', name: 'PCHG', label: 'Percent change', dataType: 'decimal' },
    { itemOID: 'IT.ADRS.AVAL', name: 'AVAL', label: 'Value', dataType: 'double' },
    { itemOID: 'IT.ADRS.N', name: 'N', label: 'N', dataType: 'integer' },
    { itemOID: 'IT.ADRS.ADT', name: 'ADT', label: 'Date', dataType: 'date', targetDataType: 'integer' },
    { itemOID: 'IT.ADRS.FL', name: 'FL', label: 'Flag', dataType: 'boolean' },
  ],
  rows: [
    ['01-001', 'PR, confirmed', '-30.0', 0.1, 3, '2024-01-31', true],
    ['01-002', 'said "stable"', '20.00', 1e21, -5, null, false],
    ['01-003', '', null, 1e-7, 0, '1960-01-01', null],
    ['01-004', 'line\nbreak é', '0.5', null, null, '2024-02-29', true],
  ],
};

/** Python's csv module as the independent RFC 4180 reader. */
function pythonCsv(b: Buffer): string[][] {
  const code = 'import sys,csv,json,io; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.buffer.read().decode("utf-8"), newline="")))))';
  return JSON.parse(execFileSync(PYTHON, ['-c', code], { input: b, maxBuffer: 1 << 28 }).toString('utf8'));
}

describe('CSV', () => {
  const bytes = writeCsv(ds);
  const text = bytes.toString('utf8');

  it('writes RFC 4180: header of names, CRLF records, quotes where needed, UTF-8 without BOM', () => {
    expect(bytes[0]).not.toBe(0xef);
    expect(text.startsWith('USUBJID,AVALC,PCHG,AVAL,N,ADT,FL\r\n')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = pythonCsv(bytes);
    expect(rows[0]).toEqual(ds.columns.map((c) => c.name));
    expect(rows.slice(1).map((r) => r[1])).toEqual(['PR, confirmed', 'said "stable"', '', 'line\nbreak é']);
  });

  it('formats numbers plainly with no floating noise and keeps decimal strings exact', () => {
    const rows = pythonCsv(bytes).slice(1);
    expect(rows.map((r) => r[2])).toEqual(['-30.0', '20.00', '', '0.5']);
    expect(rows.map((r) => r[3])).toEqual(['0.1', '1000000000000000000000', '0.0000001', '']);
    expect(rows.map((r) => r[4])).toEqual(['3', '-5', '0', '']);
    // the plain text parses back to the identical double
    for (const x of [0.1, 1e21, 1e-7, 123.456, -2.5e-8, 5e-324, 1.7976931348623157e308, 0.30000000000000004]) expect(Number(formatNumber(x))).toBe(x);
    expect(formatNumber(-0)).toBe('0');
  });

  it('keeps missing (empty field) and empty string ("") distinct and reads back with metadata', () => {
    expect(text.split('\r\n')[3]).toBe('01-003,"",,0.0000001,0,1960-01-01,');
    const back = readCsv(bytes, { name: 'ADRS', columns: ds.columns });
    expect(back.rows).toEqual(ds.rows);
    const untyped = readCsv(bytes);
    expect(untyped.columns.every((c) => c.dataType === 'string')).toBe(true);
    expect(untyped.rows[0]).toEqual(['01-001', 'PR, confirmed', '-30.0', '0.1', '3', '2024-01-31', 'true']);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('tells "" from a bare empty field wherever quotes appear (escaped quotes, line breaks in values, BOM; %s)', (_name, eol) => {
    // per record: a bare empty field is null, a field that is exactly "" is the empty string, "" inside a quoted
    // value is one quote character
    const text =
      '\ufeffA,B,C,D' + eol +
      '"",,"x",' + eol + //                        quoted empty first, bare empties after
      ',"say ""hi""","",y' + eol + //              escaped quotes and a quoted empty in one record
      '"a,""b",,"line\r\nbreak ""q""",""' + eol + // quoted comma + escaped quote; a bare empty; CRLF inside quotes; "" last
      ',"""",,"""x"""' + eol + //                  a value that is one quote; bare empties; no empty string
      'p,q,r,s' + eol; //                          nothing empty
    const back = readCsv(Buffer.from(text));
    expect(back.columns.map((c) => c.name)).toEqual(['A', 'B', 'C', 'D']);
    expect(back.rows).toEqual([
      ['', null, 'x', null],
      [null, 'say "hi"', '', 'y'],
      ['a,"b', null, 'line\r\nbreak "q"', ''],
      [null, '"', null, '"x"'],
      ['p', 'q', 'r', 's'],
    ]);
  });

  it('reads the pharmaverse SDTM TR (10 MB, 56,000 rows) with every bare empty field as null', () => {
    const gz = readFileSync(join(__dirname, '..', 'fixtures', 'cdisc', 'pharmaverse-sdtm', 'tr_onco.csv.gz'));
    const raw = gunzipSync(gz);
    const tr = readDataset(gz, 'tr_onco.csv.gz', { name: 'TR' });
    const rows = pythonCsv(raw);
    expect(tr.columns.map((c) => c.name)).toEqual(rows[0]);
    expect(tr.rows.length).toBe(rows.length - 1);
    // the file holds no "" token, so every empty field python reads is a bare one: null here, the rest equal
    expect(raw.includes('""')).toBe(false);
    for (let r = 1; r < rows.length; r += 997) expect(tr.rows[r - 1]).toEqual(rows[r].map((v) => (v === '' ? null : v)));
  });

  it('reads the pharmaverse SDTM dm.csv.gz (gzip, dispatch by name)', () => {
    const gz = readFileSync(join(__dirname, '..', 'fixtures', 'cdisc', 'pharmaverse-sdtm', 'dm.csv.gz'));
    const ds2 = readDataset(gz, 'dm.csv.gz');
    expect(ds2.name).toBe('DM');
    expect(ds2.standard).toBe('SDTM');
    const rows = pythonCsv(gunzipSync(gz));
    expect(ds2.columns.map((c) => c.name)).toEqual(rows[0]);
    expect(ds2.rows.length).toBe(rows.length - 1);
  });

  it('rejects ragged rows and values that do not fit the given metadata', () => {
    const bad = Buffer.from('A,B\r\n1,2\r\n3\r\n');
    try {
      readCsv(bad);
      throw new Error('expected failure');
    } catch (e) {
      expect(isInputError(e)).toBe(true);
      expect((e as { code: string }).code).toBe('csv.invalid');
    }
    try {
      readCsv(Buffer.from('N\r\nabc\r\n'), { columns: [{ itemOID: 'IT.X.N', name: 'N', label: 'N', dataType: 'integer' }] });
      throw new Error('expected failure');
    } catch (e) {
      expect((e as { code: string }).code).toBe('dataset.type-mismatch');
      expect((e as Error).message).toMatch(/DATA\.N row 1/);
    }
  });

  it('is byte-identical on re-run', () => {
    expect(writeCsv(structuredClone(ds)).equals(bytes)).toBe(true);
    expect(fixture('adtte.json').length).toBeGreaterThan(0);
  });
});
