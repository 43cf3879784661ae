import { Dataset, ibmToIeee, ieeeToIbm, readDatasetJson, readXpt, writeXpt } from '@app/datasets';
import { META, fixture, pandasRead, pythonSasDays, pythonSasSeconds } from './helpers';
import { expectInputError } from '../support/assertions';


const hex = (x: number) => {
  const b = Buffer.alloc(8);
  ieeeToIbm(x, b, 0);
  return b.toString('hex');
};

describe('IBM System/370 double encoding', () => {
  it('matches published bit patterns', () => {
    // IBM hexadecimal floating point examples: 1.0 = 0x4110..., -118.625 = 0xC276A0..., 0.1 = 0x4019999999999999A
    expect(hex(1)).toBe('4110000000000000');
    expect(hex(-118.625)).toBe('c276a00000000000');
    expect(hex(0.1)).toBe('401999999999999a');
    expect(hex(0)).toBe('0000000000000000');
    expect(hex(-0)).toBe('0000000000000000');
    expect(hex(16)).toBe('4210000000000000');
  });

  it('round-trips doubles exactly over the IBM range', () => {
    const xs = [0.1, 1 / 3, -2.5e-70, 7.2e75, Number.MAX_SAFE_INTEGER, 123456789.123456, 1e15 + 0.5, Math.PI, -1e-5, 25.5, 30.6, 8.2];
    const b = Buffer.alloc(8);
    for (const x of xs) {
      ieeeToIbm(x, b, 0);
      expect(ibmToIeee(b, 0)).toBe(x);
    }
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 2000; i++) {
      const x = (rnd() - 0.5) * Math.pow(10, Math.floor(rnd() * 40) - 20);
      ieeeToIbm(x, b, 0);
      expect(ibmToIeee(b, 0)).toBe(x);
    }
  });

  it('decodes fractions with more than 53 significant bits rounded to nearest (as BigInt conversion does)', () => {
    for (const h of ['41ffffffffffffff', '40fffffffffffff9', 'c11234567890abcd', '4310000000000001', '3a8000000000007f']) {
      const b = Buffer.from(h, 'hex');
      const frac = BigInt('0x' + h.slice(2));
      const expected = (b[0] & 0x80 ? -1 : 1) * Number(frac) * Math.pow(2, 4 * ((b[0] & 0x7f) - 64) - 56);
      expect(ibmToIeee(b, 0)).toBe(expected);
    }
    // short (3..7 byte) SAS numerics are the leading bytes of the 8-byte value
    expect(ibmToIeee(Buffer.from('41100000', 'hex'), 0, 4)).toBe(1);
  });

  it('rejects values outside the IBM range instead of corrupting them', () => {
    const b = Buffer.alloc(8);
    expectInputError(() => ieeeToIbm(1e80, b, 0), 'xpt.out-of-range');
    expectInputError(() => ieeeToIbm(1e-80, b, 0), 'xpt.out-of-range');
    expectInputError(() => ieeeToIbm(Infinity, b, 0), 'xpt.non-finite');
  });
});

describe('official adtte.xpt', () => {
  const official = fixture('adtte.xpt');

  it('our reader and pandas read the same values; both match adtte.json', () => {
    const ours = readXpt(official);
    const pd = pandasRead(official);
    const json = readDatasetJson(fixture('adtte.json'));
    expect(pd.columns).toEqual(ours.columns.map((c) => c.name));
    expect(ours.rows).toEqual(json.rows);
    // pandas gives SAS numbers: dates as day counts, which Python's calendar converts independently
    const dateCols = ours.columns.flatMap((c, i) => (c.dataType === 'date' ? [i] : []));
    const isoDates = json.rows.flatMap((r) => dateCols.map((i) => r[i] as string | null)).filter((v): v is string => v !== null);
    const days = pythonSasDays(isoDates);
    let k = 0;
    pd.rows.forEach((r, ri) => {
      r.forEach((v, ci) => {
        if (dateCols.includes(ci)) {
          if (v !== null) expect(v).toBe(days[k++]);
          else expect(json.rows[ri][ci]).toBeNull();
        } else expect(v).toEqual(json.rows[ri][ci]);
      });
    });
  });

  it('written back from our reading, it is byte-identical to the official file (except the OS name padding)', () => {
    const ds = readXpt(official);
    const ours = writeXpt(ds, { ...META, creationDateTime: '2022-04-16T20:09:03' }, { os: 'Linux' });
    expect(ours.length).toBe(official.length);
    const diffs: number[] = [];
    for (let i = 0; i < ours.length; i++) if (ours[i] !== official[i]) diffs.push(i);
    // SAS pads the 8-byte OS field 'Linux' with NUL bytes; we pad with blanks as TS-140 does for text fields
    expect(diffs).toEqual([0x75, 0x76, 0x77, 0x1b5, 0x1b6, 0x1b7]);
    expect(pandasRead(ours)).toEqual(pandasRead(official));
  });
});

describe('our XPT through pandas (independent reader)', () => {
  const ds: Dataset = {
    name: 'ADEDGE',
    label: 'Edge cases',
    itemGroupOID: 'IG.ADEDGE',
    standard: 'ADaM',
    columns: [
      { itemOID: 'IT.ADEDGE.USUBJID', name: 'USUBJID', label: 'Unique Subject Identifier', dataType: 'string' },
      { itemOID: 'IT.ADEDGE.AVAL', name: 'AVAL', label: 'Analysis Value', dataType: 'double' },
      { itemOID: 'IT.ADEDGE.PCHG', name: 'PCHG', label: 'Percent Change', dataType: 'decimal' },
      { itemOID: 'IT.ADEDGE.N', name: 'N', label: 'Count', dataType: 'integer' },
      { itemOID: 'IT.ADEDGE.ADT', name: 'ADT', label: 'Analysis Date', dataType: 'date', targetDataType: 'integer', displayFormat: 'DATE9.' },
      { itemOID: 'IT.ADEDGE.ADTM', name: 'ADTM', label: 'Analysis Datetime', dataType: 'datetime', targetDataType: 'integer' },
      { itemOID: 'IT.ADEDGE.RSDTC', name: 'RSDTC', label: 'Date/Time of Assessment', dataType: 'date' },
      { itemOID: 'IT.ADEDGE.CODE', name: 'CODE', label: 'Padded code', dataType: 'string', length: 10 },
      { itemOID: 'IT.ADEDGE.FLAG', name: 'FLAG', label: 'Flag', dataType: 'boolean' },
      // keeps the observation longer than 80 bytes: for shorter ones pandas counts every blank 8-byte word
      // of the last record as padding and can drop real rows (its heuristic, not a property of the file)
      { itemOID: 'IT.ADEDGE.CMT', name: 'CMT', label: 'Comment', dataType: 'string', length: 40 },
    ],
    rows: [
      ['S-001', 0, '-30.0', 0, '1960-01-01', '1960-01-01T00:00:00', '2024-01', 'A', true, 'comment 1'],
      ['S-002', -118.625, '0.1', -7, '1959-12-31', '2024-02-29T23:59:59', '2024-02-29', '  lead', false, 'comment 2'],
      ['S-003', 0.1, '12.345678901', 1234567890123, '2024-02-29', '1959-12-31T12:00:00', '', 'x', null, 'comment 3'],
      ['S-004', 1e15 + 0.5, null, null, null, null, null, null, true, 'comment 4'],
      ['S-005-é', 7.2e75, '1000', Number.MAX_SAFE_INTEGER, '2014-01-02', '2014-01-02T10:20:30.5', '2014', 'ten-chars!', false, 'comment 5'],
      ['S-006', -2.5e-70, '-0.000001', -1, '9999-12-31', '2000-01-01T00:00:00', '2000-01', '', true, 'comment 6'],
      ['S-007', 1 / 3, '25.5', 30, '1582-10-15', '1970-01-01T00:00:00', null, 'é€', false, 'comment 7'],
      ['S-008', null, '8.2', 5, '2000-02-29', '1999-12-31T23:59:59', null, 'Z', true, 'comment 8'],
    ],
  };

  const bytes = writeXpt(ds, META);
  const pd = pandasRead(bytes);

  it('writes 80-byte records and header datetimes from meta', () => {
    expect(bytes.length % 80).toBe(0);
    expect(bytes.subarray(80, 160).toString('latin1')).toContain('31MAY24:12:00:00');
    expect(bytes.subarray(160, 176).toString('latin1')).toBe('31MAY24:12:00:00');
  });

  it('pandas reads every numeric exactly (missing, negative, 0, large, tiny, fractions)', () => {
    expect(pd.columns).toEqual(ds.columns.map((c) => c.name));
    const col = (name: string) => pd.rows.map((r) => r[pd.columns.indexOf(name)]);
    expect(col('AVAL')).toEqual(ds.rows.map((r) => r[1]));
    expect(col('PCHG')).toEqual(ds.rows.map((r) => (r[2] === null ? null : Number(r[2]))));
    expect(col('N')).toEqual(ds.rows.map((r) => r[3]));
    expect(col('FLAG')).toEqual(ds.rows.map((r) => (r[8] === null ? null : r[8] ? 1 : 0)));
  });

  it('dates and datetimes become SAS day / second counts (checked with Python datetime)', () => {
    const col = (name: string) => pd.rows.map((r) => r[pd.columns.indexOf(name)]);
    const dates = ds.rows.map((r) => r[4] as string | null);
    const expDays = pythonSasDays(dates.filter((d): d is string => d !== null));
    expect(col('ADT').filter((v) => v !== null)).toEqual(expDays);
    expect(col('ADT')[0]).toBe(0); // 1960-01-01 is day 0 by definition
    const dts = ds.rows.map((r) => r[5] as string | null).filter((d): d is string => d !== null);
    expect(col('ADTM').filter((v) => v !== null)).toEqual(pythonSasSeconds(dts));
  });

  it('character values are space padded to their length and read back by pandas (UTF-8)', () => {
    const col = (name: string) => pd.rows.map((r) => r[pd.columns.indexOf(name)]);
    expect(col('USUBJID')).toEqual(ds.rows.map((r) => r[0]));
    // pandas strips trailing blanks only; leading blanks stay
    expect(col('CODE')).toEqual(ds.rows.map((r) => r[7] ?? ''));
    expect(col('RSDTC')).toEqual(ds.rows.map((r) => r[6] ?? ''));
    // CODE has length 10: row 1 'A' is followed by nine blanks (0x20), row 5 'ten-chars!' fills it
    const { pos, len, obs, dataStart } = layout(bytes, 'CODE');
    expect(len).toBe(10);
    expect(bytes.subarray(dataStart + pos, dataStart + pos + 10).toString('latin1')).toBe('A         ');
    expect(bytes.subarray(dataStart + 4 * obs + pos, dataStart + 4 * obs + pos + 10).toString('latin1')).toBe('ten-chars!');
  });

  it('our reader reads our file back to the same dataset (blank strings as \'\')', () => {
    const back = readXpt(bytes, { columns: ds.columns });
    const charCols = [0, 6, 7];
    // blank characters read as ''; decimals come back as numbers (XPT holds doubles)
    const expected = ds.rows.map((r) => r.map((v, i) => (v === null && charCols.includes(i) ? '' : i === 2 && v !== null ? Number(v) : v)));
    const got = back.rows.map((r) => r.map((v, i) => (i === 2 && v !== null ? Number(v) : v)));
    expect(got).toEqual(expected);
    expect(back.columns.find((c) => c.name === 'USUBJID')!.length).toBe(Buffer.byteLength('S-005-é'));
  });

  it('is byte-identical on re-run', () => {
    expect(writeXpt(structuredClone(ds), { ...META }).equals(bytes)).toBe(true);
  });

  it('writes missing numerics as 0x2E + 7 zero bytes and 0 as 8 zero bytes', () => {
    const b = writeXpt({ ...ds, columns: [ds.columns[1]], rows: [[null], [0], [1]] }, META);
    const data = b.subarray(b.length - 80, b.length - 80 + 24).toString('hex');
    expect(data).toBe('2e00000000000000' + '0000000000000000' + '4110000000000000');
  });
});

describe('XPT bad input', () => {
  const base: Dataset = {
    name: 'DM', label: 'Demographics', itemGroupOID: 'IG.DM', standard: 'SDTM',
    columns: [{ itemOID: 'IT.DM.X', name: 'X', label: 'X', dataType: 'string', length: 3 }],
    rows: [['abc']],
  };

  it('refuses to truncate character values, bad names, long labels, partial dates as SAS dates', () => {
    expectInputError(() => writeXpt({ ...base, rows: [['abcd']] }, META), 'xpt.value-too-long', /DM\.X row 1: value is 4 bytes but the column length is 3/);
    expectInputError(() => writeXpt({ ...base, columns: [{ ...base.columns[0], name: 'TOOLONGNAME' }] }, META), 'xpt.invalid-name');
    expectInputError(() => writeXpt({ ...base, columns: [{ ...base.columns[0], label: 'x'.repeat(41) }] }, META), 'xpt.too-long');
    expectInputError(() => writeXpt({ ...base, columns: [{ ...base.columns[0], length: 201 }] }, META), 'xpt.invalid-length');
    const dt: Dataset = { ...base, columns: [{ itemOID: 'IT.DM.D', name: 'D', label: 'D', dataType: 'date', targetDataType: 'integer' }], rows: [['2024-01']] };
    expectInputError(() => writeXpt(dt, META), 'dataset.partial-date', /complete YYYY-MM-DD/);
    expectInputError(() => writeXpt({ ...dt, rows: [['2023-02-29']] }, META), 'dataset.invalid-date');
  });

  it('reads short observations without taking the blank padding of the last record for rows', () => {
    const back = readXpt(writeXpt({ ...base, rows: [['a'], ['b'], ['c']] }, META));
    expect(back.rows).toEqual([['a'], ['b'], ['c']]);
    expect(back.name).toBe('DM');
    expect(back.label).toBe('Demographics');
  });

  it('rejects files that are not XPORT v5, truncated or with a broken NAMESTR section', () => {
    const good = writeXpt(base, META);
    expectInputError(() => readXpt(Buffer.alloc(800, 0x20)), 'xpt.not-xport', /record 1 is not a LIBRARY header/);
    expectInputError(() => readXpt(good.subarray(0, good.length - 7)), 'xpt.truncated', /not a multiple of 80/);
    expectInputError(() => readXpt(good.subarray(0, 640)), 'xpt.truncated');
    const broken = Buffer.from(good);
    broken.write('HEADER RECORD*******XXXXXXX HEADER', 560, 'latin1');
    expectInputError(() => readXpt(broken), 'xpt.bad-header', /record 8 is not a NAMESTR header/);
    const v8 = Buffer.from(good);
    v8.write('HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!', 0, 'latin1');
    expectInputError(() => readXpt(v8), 'xpt.unsupported-version');
  });
});

/** Reads a variable's position from the NAMESTR records by TS-140 offsets (independent of our reader). */
function layout(b: Buffer, name: string): { pos: number; len: number; obs: number; dataStart: number } {
  const n = Number(b.subarray(560 + 54, 560 + 58).toString('latin1'));
  let obs = 0;
  let pos = -1;
  let len = 0;
  for (let i = 0; i < n; i++) {
    const o = 640 + i * 140;
    obs = Math.max(obs, b.readInt32BE(o + 84) + b.readInt16BE(o + 4));
    if (b.subarray(o + 8, o + 16).toString('latin1').trim() === name) {
      pos = b.readInt32BE(o + 84);
      len = b.readInt16BE(o + 4);
    }
  }
  const dataStart = 640 + Math.ceil((n * 140) / 80) * 80 + 80;
  return { pos, len, obs, dataStart };
}
