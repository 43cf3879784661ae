/** Protocol configuration, and the rule that logs never carry patient data or object keys. */
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '@app/core';
import { parseDicom } from '@app/dicom';
import { generatePhantomStudy } from '@app/phantom';
import { createRuntime, loadProtocolConfig } from '@app/pipeline';
import { tempDir, testConfig } from '../support/services';

jest.setTimeout(90000);

test('PROTOCOL_CONFIG: rules and settings are validated, and a bad file stops start-up naming the setting', async () => {
  const d = await tempDir();
  try {
    const good = join(d.path, 'p.json');
    writeFileSync(good, JSON.stringify({ protocolId: 'ONC-7', seriesSelection: { modality: ['CT'], maxSliceThicknessMm: 2 }, endpoints: { confirmationDays: 35 } }));
    const p = loadProtocolConfig({ PROTOCOL_CONFIG: good, PROTOCOL_ID: 'X' });
    expect(p).toMatchObject({ protocolId: 'ONC-7', seriesSelection: { maxSliceThicknessMm: 2 }, endpoints: { confirmationDays: 35 } });
    const bad = join(d.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ seriesSelection: { maxSliceThicknessMm: -1 } }));
    expect(() => loadProtocolConfig({ PROTOCOL_CONFIG: bad, PROTOCOL_ID: 'X' })).toThrow(/seriesSelection|maxSliceThicknessMm/);
    writeFileSync(bad, '{ not json');
    expect(() => loadProtocolConfig({ PROTOCOL_CONFIG: bad, PROTOCOL_ID: 'X' })).toThrow(/^config: PROTOCOL_CONFIG: cannot read/);
    expect(() => loadProtocolConfig({ PROTOCOL_CONFIG: join(d.path, 'missing.json'), PROTOCOL_ID: 'X' })).toThrow(/PROTOCOL_CONFIG/);
  } finally {
    await d.remove();
  }
});

test('a whole DICOM run at debug level logs no patient name, id, birth date or object key', async () => {
  const d = await tempDir();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const rt = await createRuntime({ config: testConfig({ DATA_DIR: join(d.path, 'data'), LOG_LEVEL: 'debug' }), log: createLogger('debug', {}, sink) });
  try {
    rt.queue.startWorker();
    const ph = await generatePhantomStudy({ outDir: join(d.path, 'ph'), subjects: 1, visits: 1, rows: 32, cols: 32, slices: 10, withPhi: true, seed: 21 });
    const h = parseDicom(readFileSync(ph.files[0]!.path)).header;
    const events = [];
    for (const f of ph.files) {
      const key = `incoming/Doe-John-${f.sopInstanceUid}.dcm`;
      const i = await rt.store.put(key, readFileSync(f.path));
      events.push({ bucket: rt.store.bucket, key, etag: i.etag, eventName: 'ObjectCreated:Put' });
    }
    await rt.ingest.enqueueEvents(events);
    await rt.queue.waitIdle({ timeoutMs: 60000 });
    expect((await rt.objects.countByStatus()).processed).toBe(10);
    const log = lines.join('');
    expect(lines.length).toBeGreaterThan(10);
    expect(log).toContain('object ingested');
    for (const phi of [h.patient.patientId!, h.patient.patientName!.split('^')[0]!, h.patient.birthDate!, 'Doe-John', h.study.studyInstanceUid!]) expect(log).not.toContain(phi);
  } finally {
    await rt.close();
    await d.remove();
  }
});
