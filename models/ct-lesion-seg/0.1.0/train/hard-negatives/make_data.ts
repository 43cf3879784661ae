/**
 * Training crops for the 0.2.0 candidate (README.md: not shipped): 0.1.0's crops (../make_data.ts, byte-identical
 * for the same seeds) plus hard negatives. For a seed listed in $CTSEG_DATA/hard-negatives.jsonl
 * (mine_hard_negatives.ts: 0.1.0's false-positive components on seeds it never saw), HN_PER_COMPONENT extra crops
 * centred on each such component's densest slice (jitter +-HN_JITTER px), largest components first, at most
 * HN_MAX_PER_SEED per seed, drawn after the usual 48.
 *
 *   node -r @swc-node/register models/ct-lesion-seg/0.1.0/train/hard-negatives/make_data.ts train <firstSeed> <count> [part]
 *
 * Training seeds are 1000-1229; evaluation seeds 9000-9039 and tuning seeds 8000-8049 are refused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { train, volumeFor, type CropCentre } from '../make_data';

export { volumeFor };
const OUT = process.env.CTSEG_DATA ?? '/tmp/ctseg-data';
const HN_PER_COMPONENT = 6;
const HN_JITTER = 32;
const HN_MAX_PER_SEED = 48;

interface HardNegative { seed: number; k: number; j: number; i: number; vox: number }

function hardNegatives(): Map<number, HardNegative[]> {
  const file = join(OUT, 'hard-negatives.jsonl');
  const bySeed = new Map<number, HardNegative[]>();
  if (!existsSync(file)) return bySeed;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const h = JSON.parse(line) as HardNegative;
    bySeed.set(h.seed, [...(bySeed.get(h.seed) ?? []), h]);
  }
  return bySeed;
}

export const isHeldOut = (s: number): boolean => (s >= 9000 && s <= 9039) || (s >= 8000 && s <= 8049);

if (require.main === module) {
  const [mode, a, b, part] = process.argv.slice(2);
  if (mode !== 'train') throw new Error('usage: make_data.ts train <firstSeed> <count> [part]');
  const hns = hardNegatives();
  train(Number(a ?? 1000), Number(b ?? 200), part ?? 'a', (seed, _r, rand) => {
    const out: CropCentre[] = [];
    const hn = [...(hns.get(seed) ?? [])].sort((x, y) => y.vox - x.vox || x.k - y.k || x.j - y.j || x.i - y.i);
    for (const h of hn) {
      for (let m = 0; m < HN_PER_COMPONENT && out.length < HN_MAX_PER_SEED; m++) {
        out.push([h.k, h.j + Math.round((rand() - 0.5) * 2 * HN_JITTER), h.i + Math.round((rand() - 0.5) * 2 * HN_JITTER)]);
      }
    }
    return out;
  }, isHeldOut);
}
