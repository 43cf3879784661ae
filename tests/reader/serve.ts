/**
 * Developer aid: build the reader world and keep it running.
 *   npm run build:reader && node -r @swc-node/register tests/reader/serve.ts [port]
 * then open http://127.0.0.1:<port>/reader/ (users and password in tests/reader/world.ts).
 */
import { buildReaderWorld, PASSWORD, USERS } from './world';

void (async () => {
  const t0 = Date.now();
  const w = await buildReaderWorld({ port: Number(process.argv[2] ?? 4321) });
  console.log(JSON.stringify({ url: `${w.base}/reader/`, readingId: w.readingId, slideId: w.slideId, users: Object.values(USERS).map((u) => u.username), password: PASSWORD, builtInMs: Date.now() - t0 }));
  const stop = async () => {
    await w.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
