import { inflateSync } from 'node:zlib';
import Ajv2019 from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import {
  Dataset, readDataset, readDatasetDsjc, readDatasetJson, readDatasetJsonWithHeader, readDatasetNdjson, readXpt,
  writeDatasetDsjc, writeDatasetJson, writeDatasetNdjson,
} from '@app/datasets';
import { META, fixture } from './helpers';
import { expectInputError } from '../support/assertions';

/** The official schemas, loaded from the test fixtures (not the library's copy) so validation is independent. */
function officialValidators() {
  const mk = () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    addFormats(ajv);
    return ajv;
  };
  const json = mk().compile(JSON.parse(fixture('dataset.schema.json').toString('utf8')));

  // published as UTF-16 LE with BOM
  const nd = fixture('dataset-ndjson-schema.json');
  const ndText = nd[0] === 0xff && nd[1] === 0xfe ? nd.subarray(2).toString('utf16le') : nd.toString('utf8');
  // the published NDJSON schema refers to $defs it nests elsewhere; they are taken from the JSON schema
  const ndSchema = JSON.parse(ndText);
  const jsonSchema = JSON.parse(fixture('dataset.schema.json').toString('utf8'));
  for (const k of ['Column', 'DataTypesEnum', 'SourceSystem']) ndSchema.$defs[k] ??= jsonSchema.$defs[k];
  const ndjson = mk().compile(ndSchema);
  return { json, ndjson };
}


const official = {
  json: () => readDatasetJson(fixture('adtte.json')),
  ndjson: () => readDatasetNdjson(fixture('adtte.ndjson')),
  dsjc: () => readDatasetDsjc(fixture('adtte.dsjc')),
  xpt: () => readXpt(fixture('adtte.xpt')),
};

describe('official ADTTE example in all four encodings', () => {
  const all = { json: official.json(), ndjson: official.ndjson(), dsjc: official.dsjc(), xpt: official.xpt() };

  it('reads 254 records x 26 columns from each encoding', () => {
    for (const ds of Object.values(all)) {
      expect(ds.name).toBe('ADTTE');
      expect(ds.rows).toHaveLength(254);
      expect(ds.columns.map((c) => c.name)).toEqual(all.json.columns.map((c) => c.name));
    }
  });

  it('yields identical values across JSON, NDJSON, DSJC and XPT', () => {
    expect(all.ndjson.rows).toEqual(all.json.rows);
    expect(all.dsjc.rows).toEqual(all.json.rows);
    expect(all.xpt.rows).toEqual(all.json.rows);
    // spot check against the raw JSON text, read by JSON.parse alone
    const raw = JSON.parse(fixture('adtte.json').toString('utf8'));
    expect(all.json.rows).toEqual(raw.rows);
  });

  it('recovers the same column metadata from XPT (SAS dates -> date/integer with DATE9.)', () => {
    const j = new Map(all.json.columns.map((c) => [c.name, c]));
    for (const c of all.xpt.columns) {
      const jc = j.get(c.name)!;
      // the official files themselves differ in two labels (checked by hand in both files)
      const xptOnly: Record<string, string> = { STARTDT: 'Time-to-Event Origin Date for Subject', SRCDOM: 'Source Data' };
      expect(c.label).toBe(xptOnly[c.name] ?? jc.label);
      expect(c.dataType).toBe(jc.dataType);
      if (jc.targetDataType) expect(c.targetDataType).toBe(jc.targetDataType);
      if (jc.displayFormat) expect(c.displayFormat).toBe(jc.displayFormat);
    }
    expect(all.json.columns).toEqual(all.ndjson.columns);
    expect(all.json.columns).toEqual(all.dsjc.columns);
  });

  it('readDataset dispatches on the extension', () => {
    for (const f of ['adtte.json', 'adtte.ndjson', 'adtte.dsjc', 'adtte.xpt']) expect(readDataset(fixture(f), f).rows).toEqual(all.json.rows);
    expectInputError(() => readDataset(Buffer.from('x'), 'adtte.sas7bdat'), 'dataset.unsupported-format', /sas7bdat/);
  });

  it('reads the SDTM RS example in JSON and XPT with the same values', () => {
    const j = readDatasetJson(fixture('rs.json'));
    const x = readXpt(fixture('rs.xpt'), { columns: j.columns });
    expect(x.rows.length).toBe(j.rows.length);
    expect(x.rows).toEqual(j.rows);
    expect(j.standard).toBe('SDTM');
  });
});

describe('our Dataset-JSON output', () => {
  const ds = official.json();
  const v = officialValidators();

  it('JSON validates against the official dataset.schema.json and reads back identically', () => {
    const bytes = writeDatasetJson(ds, META);
    const obj = JSON.parse(bytes.toString('utf8'));
    expect(v.json(obj)).toBe(true);
    expect(obj.datasetJSONVersion).toMatch(/^1\.1/);
    expect(obj.datasetJSONCreationDateTime).toBe(META.creationDateTime);
    expect(obj.records).toBe(254);
    const back = readDatasetJsonWithHeader(bytes);
    expect(back.dataset.rows).toEqual(ds.rows);
    expect(back.dataset.columns).toEqual(ds.columns);
    expect(back.header.studyOID).toBe(META.studyOID);
  });

  it('NDJSON: line 1 validates against the official NDJSON schema; each later line is one row array', () => {
    const text = writeDatasetNdjson(ds, META).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 254);
    const md = JSON.parse(lines[0]);
    expect(v.ndjson(md)).toBe(true);
    expect(md.rows).toBeUndefined();
    lines.slice(1).forEach((l, i) => expect(JSON.parse(l)).toEqual(ds.rows[i]));
  });

  it('DSJC is a zlib stream (RFC 1950) of exactly our NDJSON, and reads back', () => {
    const z = writeDatasetDsjc(ds, META);
    expect(z[0]).toBe(0x78);
    expect(((z[0] << 8) | z[1]) % 31).toBe(0);
    expect(inflateSync(z).equals(writeDatasetNdjson(ds, META))).toBe(true);
    expect(readDatasetDsjc(z).rows).toEqual(ds.rows);
  });

  it('is byte-identical on re-run in every encoding', () => {
    expect(writeDatasetJson(ds, META).equals(writeDatasetJson(structuredClone(ds), { ...META }))).toBe(true);
    expect(writeDatasetNdjson(ds, META).equals(writeDatasetNdjson(structuredClone(ds), { ...META }))).toBe(true);
    expect(writeDatasetDsjc(ds, META).equals(writeDatasetDsjc(structuredClone(ds), { ...META }))).toBe(true);
  });

  it('keeps decimal digits exact (decimals as strings) and adds no floating noise', () => {
    const d: Dataset = {
      name: 'ADTR', label: 'Tumor results', itemGroupOID: 'IG.ADTR', standard: 'ADaM',
      columns: [
        { itemOID: 'IT.ADTR.PCHG', name: 'PCHG', label: 'Percent change', dataType: 'decimal' },
        { itemOID: 'IT.ADTR.AVAL', name: 'AVAL', label: 'Sum of diameters (mm)', dataType: 'double' },
        { itemOID: 'IT.ADTR.N', name: 'N', label: 'Count', dataType: 'integer' },
      ],
      rows: [['-30.0', 0.1, 3], ['20.00', 25.5, 0], [0.5, 8.2, null], [null, null, -7]],
    };
    const obj = JSON.parse(writeDatasetJson(d, META).toString('utf8'));
    expect(v.json(obj)).toBe(true);
    expect(obj.rows).toEqual([['-30.0', 0.1, 3], ['20.00', 25.5, 0], ['0.5', 8.2, null], [null, null, -7]]);
    expect(obj.columns[0]).toEqual({ itemOID: 'IT.ADTR.PCHG', name: 'PCHG', label: 'Percent change', dataType: 'decimal' });
  });

  it('computes the string length from the longest UTF-8 value when Column.length is missing', () => {
    const d: Dataset = {
      name: 'X', label: 'x', itemGroupOID: 'IG.X', standard: 'other',
      columns: [{ itemOID: 'IT.X.S', name: 'S', label: 'S', dataType: 'string' }],
      rows: [['abc'], ['é€'], [null]],
    };
    const obj = JSON.parse(writeDatasetJson(d, META).toString('utf8'));
    expect(obj.columns[0].length).toBe(Buffer.byteLength('é€', 'utf8'));
  });
});

describe('Dataset-JSON bad input', () => {
  const good = JSON.parse(fixture('adtte.json').toString('utf8'));

  it('names the schema path of a violation', () => {
    const bad = structuredClone(good);
    bad.columns[2].dataType = 'text';
    expectInputError(() => readDatasetJson(Buffer.from(JSON.stringify(bad))), 'dataset-json.schema', /\/columns\/2\/dataType: must be equal to one of the allowed values/);
  });

  it('rejects a record count that does not match the rows (truncation)', () => {
    const bad = structuredClone(good);
    bad.rows.pop();
    expectInputError(() => readDatasetJson(Buffer.from(JSON.stringify(bad))), 'dataset-json.record-count', /records = 254.*253 rows/);
  });

  it('rejects values that do not fit their column type', () => {
    const bad = structuredClone(good);
    bad.rows[4][3] = 'sixty';
    expectInputError(() => readDatasetJson(Buffer.from(JSON.stringify(bad))), 'dataset.type-mismatch', /ADTTE\.AGE row 5/);
  });

  it('rejects invalid JSON, truncated NDJSON and corrupt DSJC', () => {
    expectInputError(() => readDatasetJson(Buffer.from('{"datasetJSONVersion":')), 'dataset-json.invalid-json');
    const nd = fixture('adtte.ndjson').toString('utf8').split('\n').slice(0, 100).join('\n');
    expectInputError(() => readDatasetNdjson(Buffer.from(nd)), 'dataset-json.record-count');
    const z = fixture('adtte.dsjc');
    expectInputError(() => readDatasetDsjc(z.subarray(0, z.length - 200)), 'dsjc.corrupt');
    expectInputError(() => readDatasetDsjc(fixture('adtte.ndjson')), 'dsjc.not-compressed');
  });

  it('refuses to write a non-finite number or a bad creationDateTime', () => {
    const ds = official.json();
    const bad = structuredClone(ds);
    bad.rows[0][3] = Number.NaN;
    expectInputError(() => writeDatasetJson(bad, META), 'dataset.type-mismatch', /AGE row 1/);
    expectInputError(() => writeDatasetJson(ds, { ...META, creationDateTime: 'yesterday' }), 'dataset.meta', /creationDateTime/);
  });
});
