/**
 * Event bursts: the webhook's admission bound (libs/ingest/src/admission.ts). Unit: at most maxInFlight run, at most
 * maxWaiting wait (FIFO), the rest are refused at once. HTTP (embedded runtime): a full ingest answers 503 with
 * Retry-After, nothing is enqueued for the refused event, and the same event is accepted once there is room.
 */
import type { INestApplication } from '@nestjs/common';
import { Admission, IngestBusyError } from '@app/ingest';
import { createRuntime, type Runtime } from '@app/pipeline';
import { createApiApp } from '../../apps/api/src/app';
import { quietLog, tempDir, testConfig } from '../support/services';
import { postSigned, s3Event } from '../spine/helpers';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

test('at most maxInFlight run, maxWaiting wait in order, the rest are refused with IngestBusyError', async () => {
  const a = new Admission(2, 1);
  const gates = [deferred(), deferred(), deferred()];
  const started: number[] = [];
  let running = 0;
  let peak = 0;
  const task = (i: number) => async () => {
    started.push(i);
    running++;
    peak = Math.max(peak, running);
    await gates[i]!.promise;
    running--;
    return i;
  };
  const p0 = a.run(task(0));
  const p1 = a.run(task(1));
  const p2 = a.run(task(2)); // waits
  await expect(a.run(task(0))).rejects.toBeInstanceOf(IngestBusyError); // 2 running + 1 waiting: full
  expect(a.stats()).toEqual({ inFlight: 2, waiting: 1, refused: 1 });
  expect(started).toEqual([0, 1]);
  gates[0]!.resolve();
  await expect(p0).resolves.toBe(0);
  await new Promise((r) => setImmediate(r));
  expect(started).toEqual([0, 1, 2]); // the waiter got the freed slot
  gates[1]!.resolve();
  gates[2]!.resolve();
  await expect(Promise.all([p1, p2])).resolves.toEqual([1, 2]);
  expect(peak).toBe(2);
  expect(a.stats()).toEqual({ inFlight: 0, waiting: 0, refused: 1 });
  // a failing task frees its slot too
  await expect(a.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  expect(a.stats().inFlight).toBe(0);
});

describe('HTTP', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let rt: Runtime;
  let app: INestApplication;
  beforeAll(async () => {
    dir = await tempDir();
    rt = await createRuntime({ config: testConfig({ DATA_DIR: dir.path }), log: quietLog(), modules: [] });
    app = await createApiApp(rt);
    await app.init();
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await dir?.remove();
  });

  test('a full ingest answers 503 + Retry-After and enqueues nothing; the retried event is accepted', async () => {
    const info = await rt.store.put('incoming/burst/1.bin', Buffer.from('not an image'));
    const ev = s3Event(rt.store.bucket, 'incoming/burst/1.bin', info.etag, info.size);
    const { maxInFlight, maxWaiting } = rt.ingest.admission;
    expect(maxInFlight).toBeGreaterThanOrEqual(1);
    // occupy every slot and every waiting place, as a burst does
    const hold = deferred();
    const held = Array.from({ length: maxInFlight + maxWaiting }, () => rt.ingest.admission.run(() => hold.promise));
    expect(rt.ingest.admission.stats()).toMatchObject({ inFlight: maxInFlight, waiting: maxWaiting });
    const busy = await postSigned(app, ev).expect(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.body.message).toMatch(/ingest is busy/);
    expect(await rt.db.selectFrom('jobs').select('id').execute()).toHaveLength(0);
    hold.resolve();
    await Promise.all(held);
    const ok = await postSigned(app, ev).expect(202);
    expect(ok.body.accepted).toBe(1);
    await rt.queue.waitIdle({ timeoutMs: 20000 });
    const rows = await rt.db.selectFrom('objects').select(['key', 'status']).execute();
    expect(rows).toEqual([{ key: 'incoming/burst/1.bin', status: 'quarantined' }]);
  });
});
