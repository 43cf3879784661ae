/**
 * Golden data cut for the writer performance work: a small simulated study derived with RECIST 1.1
 * (unblinded, with pathology) and iRECIST (blinded), plus a hand-made dataset of awkward values (quotes,
 * commas, CR/LF, UTF-8, empty vs missing, exponent-range numbers, decimals as strings, booleans, dates,
 * datetimes, times), and an empty dataset. golden-hashes.json holds the sha256 of every file of the cut
 * in every format, computed with the writers as they were BEFORE any optimisation; the optimised writers
 * must reproduce them byte for byte. One intended change since: the ADTR files (adtr.*, iadtr.*) and the
 * manifest were regenerated when a derivation bug was fixed (a change from baseline between -1 and 0 mm,
 * e.g. 204.4 -> 203.8 mm, was written as +0.6); only those CHG values differ. And when ITT and admiralonco response dating came (dc61616, 8fd3e8b): ADSL and
 * IADSL were added, ADRS/ADTTE (and I-) gained ITTFL, and RSP/CRSP rows are dated at the first (confirmed)
 * response (no date for N); every other value of every other file is unchanged (checked column by column
 * against the cut of 8fd3e8b^ before regenerating).
 *
 * Regenerate (only for an intended format change): compile with swc and run
 *   node dist-perf/tests/datasets/golden.js > tests/datasets/golden-hashes.json
 */
import { CUT_FORMATS, buildDataCut, type Dataset, type DatasetFileMeta } from '@app/datasets';
import { deriveEndpointDatasets, simulateTrial, type StudyInput } from '@app/endpoints';

export const GOLDEN_META: DatasetFileMeta = {
  studyOID: 'SIM-GOLDEN',
  metaDataVersionOID: 'MDV.GOLDEN.1',
  creationDateTime: '2025-01-31T08:15:30',
  originator: 'golden test',
  sourceSystem: { name: 'endpoint-service', version: '0.1.0' },
};

function study(): StudyInput {
  const s = simulateTrial({ subjects: 40, visits: 8, seed: 424242, stepWeeks: 3, pMissed: 0.1 });
  s.subjects[0].pathology = [
    { recordId: 'PATH-1', date: '2024-06-01', ypT: 'ypTis', ypN: 'ypN0', rcb: { d1Mm: 20, d2Mm: 10, percentCancer: 50, percentInSitu: 20, positiveNodes: 2, largestNodeMetMm: 5 }, stromalTilPercent: 12.5, pdl1: { viableTumourCells: 200, positiveTumourCells: 50, positiveImmuneCells: 30 }, source: { readId: 'PR-1', reader: 'PATH-07', model: { id: 'pdl1', version: '2', sha256: 'ab'.repeat(32) } } },
    { recordId: 'PATH-2', date: '2024-07-01', ypT: 'ypT1c', ypN: 'ypN1a', source: { readId: 'PR-2' } },
  ];
  return s;
}

const col = (name: string, dataType: Dataset['columns'][number]['dataType'], extra: Partial<Dataset['columns'][number]> = {}) =>
  ({ itemOID: `IT.EDGE.${name}`, name, label: `Edge ${name}`, dataType, ...extra });

/** Awkward values for every writer (all valid input). */
export function edgeDataset(): Dataset {
  return {
    name: 'EDGE', label: 'Edge cases', itemGroupOID: 'IG.EDGE', standard: 'other',
    columns: [
      col('S', 'string'), col('S2', 'string', { length: 40 }), col('I', 'integer'), col('DEC', 'decimal'), col('F', 'float'), col('D', 'double'),
      col('B', 'boolean'), col('DT', 'date', { targetDataType: 'integer', displayFormat: 'DATE9.' }), col('DTC', 'date'),
      col('DTM', 'datetime', { targetDataType: 'integer' }), col('TM', 'time', { targetDataType: 'integer' }), col('U', 'URI'),
    ],
    rows: [
      ['plain', 'a,b', 0, '12.50', 0.1, 1e21, true, '2024-01-31', '2024-01', '2024-01-31T12:30:00', '23:59:59', 'https://x.org/a?b=1'],
      ['say "hi"', '', -0, -3.25, -0, -1.5e-7, false, '1960-01-01', '', '1960-01-01T00:00:00.5', '00:00:00', ''],
      ['', null, Number.MAX_SAFE_INTEGER, '-0.001', 123456789.125, 5e-324 * 1e250, null, '1959-12-31', '2023', '1999-12-31T23:59:59', '12:00', null],
      [null, 'line\nfeed', -Number.MAX_SAFE_INTEGER, 1e21, 1e-7, 0.30000000000000004, true, null, null, null, null, 'x'],
      ['cr\rlf\r\n', ' lead', 42, 0, 2.5e-8, -123.456, false, '2024-02-29', '2024-02-29', '2024-02-29T01:02:03', '01:02:03.25', 'u'],
      ['é日本😀', 'tab\there', -1, 100, 1234567.0, 9007199254740993, true, '2100-12-31', '2024-12', '2100-12-31T00:00:00', '10:00:00', 'ü'],
      ['\'single\'', 'semi;colon', 7, '0.10', 1e20, 1e-300 * 1e230, null, '2000-01-01', '2000', '2000-01-01T00:00', '00:01', ','],
    ],
  };
}

/** Every dataset of the golden cut, in a fixed order. */
export function goldenDatasets(): Dataset[] {
  const st = study();
  const recist = deriveEndpointDatasets(st, {}, { blinded: false }).datasets;
  const irecist = deriveEndpointDatasets(st, { criteria: 'iRECIST', ttdConfirmation: true }, { blinded: true }).datasets.map((d) => ({
    ...d, name: `I${d.name}`.slice(0, 8), itemGroupOID: `IG.I${d.name}`,
  }));
  const empty: Dataset = { name: 'EMPTY', label: 'No rows', itemGroupOID: 'IG.EMPTY', standard: 'other', columns: [col('S', 'string'), col('N', 'integer')], rows: [] };
  return [...recist, ...irecist, edgeDataset(), empty];
}

/** { path: sha256 } of every file of the golden cut in every format (manifest.json included). */
export function goldenHashes(): Record<string, string> {
  const { files } = buildDataCut({
    cutId: 'CUT-GOLDEN', studyId: 'SIM-GOLDEN', cutoffDate: '2025-01-31', datasets: goldenDatasets(), settings: { golden: true },
    meta: GOLDEN_META, formats: [...CUT_FORMATS], codeVersion: 'golden',
  });
  return Object.fromEntries(files.map((f) => [f.path, f.sha256]));
}

if (require.main === module) process.stdout.write(JSON.stringify(goldenHashes(), null, 2) + '\n');
