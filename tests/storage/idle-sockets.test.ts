/**
 * The S3 client's pooled connections after the event loop was busy (libs/storage/src/agent.ts). A server closes a
 * keep-alive connection it has not used for a while (s3rver: Node's default, 5 s), and a client whose loop was
 * blocked meanwhile sent its next requests on those closed connections. This is the CI failure of
 * tests/pipeline/endpoints-stage.test.ts, reproduced: a data cut's pattern (80 files, each a HEAD then a PUT, all at
 * once), the loop blocked for 6 s, the same again. With Node's plain keep-alive agent (socketMaxIdleMs: 1e9, checked
 * 2026-12-08) 17 of the second burst's requests failed with "TimeoutError: read ECONNRESET" after 1 attempt: the
 * retries of the first resets had used up the client's retry quota. With the shipped default (connections idle over
 * 4 s are closed, not reused) every request succeeds on its first attempt and the quota is untouched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Server } from 'node:http';
import S3rver from 's3rver';
import { S3ObjectStore } from '@app/storage';
import { makeS3rverDurable } from '../support/s3rver-durable';

let server: S3rver;
let dir: string;
let endpoint: string;

beforeAll(async () => {
  makeS3rverDurable();
  dir = await mkdtemp(join(tmpdir(), 's3rver-idle-'));
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'b', configs: [] }] });
  const addr = (await server.run()) as { port: number };
  endpoint = `http://127.0.0.1:${addr.port}`;
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const block = (ms: number) => {
  const t = Date.now();
  while (Date.now() - t < ms) {
    // the event loop is busy, as during a derivation or a report
  }
};

test('after the event loop was blocked past the server keep-alive, a burst over the whole pool is not reset', async () => {
  const store = new S3ObjectStore({ bucket: 'b', region: 'us-east-1', endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, partSize: 5 << 20 });
  const retry = (await (store.client.config as unknown as { retryStrategy: () => Promise<{ getCapacity(): number }> }).retryStrategy());
  // what a data cut does: each file checked (HEAD, 404) and then stored (PUT of a stream), all files at once
  let round = 0;
  const burst = async () => {
    round++;
    const r = await Promise.allSettled(
      Array.from({ length: 80 }, async (_, i) => {
        const key = `r${round}/f${i}`;
        if (!(await store.head(key))) await store.put(key, Readable.from([Buffer.alloc(20_000 + i * 1000, i)], { objectMode: false }));
      }),
    );
    return r.filter((x) => x.status === 'rejected').map((x) => String((x as PromiseRejectedResult).reason));
  };
  expect(await burst()).toEqual([]);
  await new Promise((r) => setTimeout(r, 20)); // responses' sockets go back to the pool a tick after they end
  const pooled = Object.values(store.agents.http.freeSockets).reduce((a, l) => a + (l?.length ?? 0), 0);
  expect(pooled).toBeGreaterThan(10); // the burst left a pool of open connections
  await new Promise((r) => setTimeout(r, 50));
  block(6000);
  expect(await burst()).toEqual([]);
  expect(store.agents.http.staleDropped).toBeGreaterThanOrEqual(pooled);
  expect(retry.getCapacity()).toBe(500); // no request needed a retry
  // the agent's socket count still matches its lists once the dropped sockets have closed
  await new Promise((r) => setTimeout(r, 50));
  const a = store.agents.http as typeof store.agents.http & { totalSocketCount: number }; // a plain property @types/node leaves out
  const listed = [...Object.values(a.sockets), ...Object.values(a.freeSockets)].reduce((n, l) => n + (l?.length ?? 0), 0);
  expect(a.totalSocketCount).toBe(listed);
  store.client.destroy();
});
