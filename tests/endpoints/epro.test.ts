import { applyEproUpload, parseEproUpload, sniffEpro } from '@app/endpoints';
import { expectInputError } from '../support/assertions';

const qHeader = ['subject_id', 'visit', 'date', ...Array.from({ length: 30 }, (_, i) => `q${i + 1}`)].join(',');
const qRow = (id: string, visit: string, date: string, ans: (number | string)[] = Array(30).fill(1)) => [id, visit, date, ...ans].join(',');
const buf = (s: string) => Buffer.from(s, 'utf8');


describe('QLQ-C30 CSV upload', () => {
  test('valid rows parse; answers become numbers, empty = missing', () => {
    const ans = Array(30).fill(2);
    ans[29] = 7;
    ans[4] = '';
    const csv = [qHeader, qRow('S-1', 'BASELINE', '2024-01-01', ans), qRow('S-1', 'WEEK 6', '2024-02-12')].join('\n') + '\n';
    const r = parseEproUpload(buf(csv), 'qlq.csv');
    expect(r.kind).toBe('qlq-c30');
    expect(r.errors).toEqual([]);
    expect(r.rows).toHaveLength(2);
    const row = r.rows[0] as { items: (number | null)[]; row: number; usubjid: string };
    expect(row.row).toBe(2);
    expect(row.usubjid).toBe('S-1');
    expect(row.items[0]).toBe(2);
    expect(row.items[4]).toBeNull();
    expect(row.items[29]).toBe(7);
  });
  test('bad rows are listed with line number, field and reason; good rows kept', () => {
    const bad = Array(30).fill(1);
    bad[2] = 5; // q3 out of range
    bad[28] = 'x'; // q29 not a number
    const csv = [
      qHeader,
      qRow('S-1', 'BASELINE', '2024-01-01'),
      qRow('S-1', 'WEEK 6', '2024-02-30', bad), // bad date + 2 bad answers
      qRow('S-1', 'BASELINE', '2024-01-02'), // duplicate visit
      qRow('S-X', 'BASELINE', '2024-01-01'), // unknown subject
      'S-2,WEEK 6,2024-02-12,1,2', // too few fields
    ].join('\r\n');
    const r = parseEproUpload(buf(csv), 'qlq.csv', new Set(['S-1', 'S-2']));
    expect(r.rows.map((x) => x.row)).toEqual([2]);
    const byRow = (n: number) => r.errors.filter((e) => e.row === n);
    expect(byRow(3).map((e) => e.field).sort()).toEqual(['date', 'q29', 'q3']);
    expect(byRow(3).find((e) => e.field === 'q3')!.message).toMatch(/1\.\.4/);
    expect(byRow(4)[0].message).toMatch(/duplicate questionnaire.*first at row 2/);
    expect(byRow(5)[0]).toMatchObject({ field: 'subject_id', message: expect.stringMatching(/unknown subject "S-X"/) });
    expect(byRow(6)[0].message).toMatch(/5 fields, header has 33/);
    // nothing silently dropped: every data row is either a row or has an error
    const covered = new Set([...r.rows.map((x) => x.row), ...r.errors.map((e) => e.row)]);
    expect([...covered].sort()).toEqual([2, 3, 4, 5, 6]);
  });
  test('whole-file problems throw InputError', () => {
    expectInputError(() => parseEproUpload(Buffer.alloc(0), 'a.csv'), 'epro.empty');
    expectInputError(() => parseEproUpload(Buffer.from([0xff, 0xfe, 0x00, 0x41]), 'a.csv'), 'epro.not-utf8');
    expectInputError(() => parseEproUpload(buf('foo,bar\n1,2\n'), 'a.csv'), 'epro.unknown-kind', /neither QLQ-C30/);
    expectInputError(() => parseEproUpload(buf(qHeader.replace(',q17', '') + '\n'), 'a.csv'), 'epro.bad-header', /lacks column\(s\) q17/);
    expectInputError(() => parseEproUpload(buf(qHeader + ',extra\n'), 'a.csv'), 'epro.bad-header', /unknown column\(s\) extra/);
    expectInputError(() => parseEproUpload(buf(qHeader + '\n'), 'a.csv'), 'epro.empty', /no data rows/);
    expectInputError(() => parseEproUpload(buf('{"instrument": "QLQ-C30", "records": ['), 'a.json'), 'epro.bad-json');
  });
});

describe('JSON uploads and wearables', () => {
  test('QLQ-C30 JSON with instrument envelope', () => {
    const rec = { subject_id: 'S-1', visit: 'BASELINE', date: '2024-01-01', ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`q${i + 1}`, i === 3 ? null : 1])) };
    const r = parseEproUpload(buf(JSON.stringify({ instrument: 'QLQ-C30', records: [rec, { ...rec, q1: 9 }] })), 'x.json');
    expect(r.kind).toBe('qlq-c30');
    expect(r.rows).toHaveLength(1);
    expect(r.errors).toEqual([{ row: 2, field: 'q1', message: expect.stringMatching(/1\.\.4/) }]);
  });
  test('wearable CSV: steps and wear-minute ranges, duplicate days', () => {
    const csv = ['subject_id,date,steps,wear_minutes', 'S-1,2024-01-01,5000,700', 'S-1,2024-01-02,-3,700', 'S-1,2024-01-03,4000,1500', 'S-1,2024-01-01,100,700', 'S-1,2024-01-04,7.5,600'].join('\n');
    const r = parseEproUpload(buf(csv), 'steps.csv');
    expect(r.kind).toBe('wearable-steps');
    expect(r.rows).toEqual([{ row: 2, usubjid: 'S-1', date: '2024-01-01', steps: 5000, wearMinutes: 700 }]);
    expect(r.errors.map((e) => [e.row, e.field])).toEqual([[3, 'steps'], [4, 'wear_minutes'], [5, 'date'], [6, 'steps']]);
  });
  test('wearable JSON bare array', () => {
    const r = parseEproUpload(buf(JSON.stringify([{ subject_id: 'S-1', date: '2024-01-01', steps: 10, wear_minutes: 600 }])), 'w.json');
    expect(r.kind).toBe('wearable-steps');
    expect(r.rows).toHaveLength(1);
  });
});

describe('sniffEpro', () => {
  test('recognises both kinds from the first bytes, CSV and JSON', () => {
    expect(sniffEpro(buf(qHeader.slice(0, 20)), 'x.csv')).toBeNull(); // header truncated before q1: not decidable
    expect(sniffEpro(buf(qHeader + '\nS-1,B'), 'x.csv')).toBe('qlq-c30');
    expect(sniffEpro(buf('\ufeffsubject_id,date,steps,wear_minutes\n'), 'x.csv')).toBe('wearable-steps');
    expect(sniffEpro(buf('{"instrument":"QLQ-C30","records":[{"subj'), 'upload.bin')).toBe('qlq-c30');
    expect(sniffEpro(buf('[{"subject_id":"S","date":"2024-01-01","steps":1,"wear_minutes":2}'), 'w.json')).toBe('wearable-steps');
    expect(sniffEpro(Buffer.from([0x44, 0x49, 0x43, 0x4d, 0, 0]), 'x.dcm')).toBeNull();
    expect(sniffEpro(buf('STUDYID,USUBJID\n'), 'dm.csv')).toBeNull();
  });
});

describe('applyEproUpload', () => {
  test('adds accepted rows with upload provenance; existing visits are kept and reported', () => {
    const csv = [qHeader, qRow('S-1', 'BASELINE', '2024-01-01'), qRow('S-1', 'WEEK 6', '2024-02-12'), qRow('S-2', 'BASELINE', '2024-01-01')].join('\n');
    const parsed = parseEproUpload(buf(csv), 'q.csv');
    const study = {
      studyId: 'X',
      subjects: [{ usubjid: 'S-1', randDate: '2024-01-01', assessments: [], qlqc30: [{ visit: 'BASELINE', date: '2024-01-01', items: Array(30).fill(2) }] }],
    };
    const { study: out, conflicts } = applyEproUpload(study, parsed, 'UPL-7');
    expect(out.subjects[0].qlqc30!.map((q) => [q.visit, q.source?.readId ?? null])).toEqual([['BASELINE', null], ['WEEK 6', 'UPL-7#row3']]);
    expect(conflicts.map((c) => c.row)).toEqual([2, 4]);
    expect(study.subjects[0].qlqc30).toHaveLength(1); // input not mutated
  });
});
