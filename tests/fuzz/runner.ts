/**
 * Child process of `npm run fuzz`: runs a range of inputs in-process and reports each result to the
 * parent (which detects a death or a hang of this process and counts it against the input running).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCorpus } from './corpus';
import { runCase } from './fuzz';

interface Msg { baseSeed: number; from: number; to: number; which: 'all' | 'slide' | 'dicom' }

process.on('message', async (m: Msg) => {
  const seeds = await buildCorpus(m.which);
  const dir = join(tmpdir(), `fuzz-${process.pid}`);
  for (let i = m.from; i < m.to; i++) {
    process.send!({ start: i });
    const r = await runCase(seeds, m.baseSeed, i, dir);
    process.send!({ result: r, rssMb: process.memoryUsage().rss / 1048576 });
  }
  process.send!({ done: true });
});
