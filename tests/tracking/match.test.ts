import { mulberry32 } from '@app/core';
import {
  alignRigid,
  composeRigid,
  invertRigid,
  matchLesions,
  rigidFromEuler,
  transformPoint,
  type LesionCandidate,
  type Vec3,
} from '@app/tracking';
import { centred, renderVolume } from './phantom';
import { expectInputError } from '../support/assertions';

const I = rigidFromEuler([0, 0, 0], [0, 0, 0]);
const les = (c: number[], extra: Partial<LesionCandidate> = {}): LesionCandidate => ({ centroidMm: c as Vec3, volumeMm3: 4000, cls: 1, organ: 'liver', ...extra });

describe('matchLesions', () => {
  test('table shift larger than the lesion spacing: naive patient-space matching mis-assigns, aligned matching is right', () => {
    // baseline (fixed) and follow-up (moving) volumes; truth maps follow-up patient mm -> baseline patient mm
    const fd: [number, number, number] = [128, 128, 60], fs: [number, number, number] = [2.5, 2.5, 3];
    const truth = rigidFromEuler([1, 0, 3], [17, -11, 8]);
    const base = renderVolume(fd, fs, centred(fd, fs), I);
    const md: [number, number, number] = [140, 140, 64], ms: [number, number, number] = [2.2, 2.2, 2.7];
    const follow = renderVolume(md, ms, centred(md, ms, 20), truth);
    // five liver lesions 15 mm apart along x, in baseline space
    const prev = [0, 1, 2, 3, 4].map((k) => les([-80 + 15 * k, -10, 0]));
    const toFollow = invertRigid(truth);
    const curr = prev.map((p) => les(transformPoint(toFollow, p.centroidMm)));
    const naive = matchLesions(prev, curr, { gateMm: 20 });
    const naiveCorrect = naive.pairs.filter((p) => p.prevIndex === p.currIndex).length;
    expect(naiveCorrect).toBeLessThan(prev.length);
    expect(naive.pairs.some((p) => p.prevIndex !== p.currIndex)).toBe(true); // actively wrong pairs, not just misses
    const reg = alignRigid(base, follow);
    const aligned = matchLesions(prev, curr, { gateMm: 20, transform: reg.matrix });
    expect(aligned.pairs.map((p) => [p.prevIndex, p.currIndex])).toEqual(prev.map((_, i) => [i, i]));
    for (const p of aligned.pairs) {
      expect(p.distanceMm).toBeLessThan(1.5);
      expect(p.confidence).toBeGreaterThan(0.9);
    }
    expect(aligned.curr.every((c) => c.status === 'matched')).toBe(true);
    expect(aligned.prev.every((c) => c.status === 'matched')).toBe(true);
  });

  test('new, disappeared, split and merged', () => {
    const T = rigidFromEuler([0, 0, 2], [25, -5, 10]); // curr -> prev
    const Tinv = invertRigid(T);
    const inCurr = (p: number[]): Vec3 => transformPoint(Tinv, p);
    const prev = [
      les([0, 0, 0], { volumeMm3: 8000 }), // 0: splits into two
      les([60, 0, 0]), // 1: merges with 2
      les([70, 0, 0]), // 2
      les([0, 80, 0]), // 3: disappears
      les([-60, -40, 30], { cls: 2, organ: 'lung' }), // 4: plain match
    ];
    const curr = [
      les(inCurr([-5, 0, 0])), // 0  split part A
      les(inCurr([6, 0, 0])), // 1  split part B
      les(inCurr([65, 1, 0]), { volumeMm3: 8000 }), // 2  merged lesion
      les(inCurr([-61, -41, 31]), { cls: 2, organ: 'lung' }), // 3 match of 4
      les(inCurr([0, -90, -40])), // 4  new
    ];
    const r = matchLesions(prev, curr, { transform: T });
    const cs = r.curr.map((c) => c.status);
    const ps = r.prev.map((p) => p.status);
    // split: exactly one part matched to prev 0, the other is the split part from prev 0
    expect([cs[0], cs[1]].sort()).toEqual(['matched', 'split']);
    expect(r.curr[0].prevIndex).toBe(0);
    expect(r.curr[1].prevIndex).toBe(0);
    // merged: one of prev 1/2 matched to curr 2, the other merged into curr 2
    expect([ps[1], ps[2]].sort()).toEqual(['matched', 'merged']);
    expect(r.prev[1].currIndex).toBe(2);
    expect(r.prev[2].currIndex).toBe(2);
    expect(ps[3]).toBe('disappeared');
    expect(r.prev[3].currIndex).toBeNull();
    expect(ps[4]).toBe('matched');
    expect(r.prev[4].currIndex).toBe(3);
    expect(cs[4]).toBe('new');
    expect(r.curr[4].prevIndex).toBeNull();
    expect(r.curr[4].confidence).toBeNull();
    for (const c of r.curr) if (c.confidence !== null) expect(c.confidence).toBeGreaterThanOrEqual(0), expect(c.confidence).toBeLessThanOrEqual(1);
  });

  test('confidence follows the documented definition', () => {
    // alone, same volume and class: distance term only (ambiguity margin = gate - d >= gate/2 -> term 1)
    const one = (d: number, extra: Partial<LesionCandidate> = {}) =>
      matchLesions([les([0, 0, 0])], [les([d, 0, 0], extra)], { gateMm: 20 }).pairs[0]?.confidence;
    expect(one(0)).toBe(1);
    expect(one(10)).toBeCloseTo(1 - 0.25, 4);
    expect(one(10, { volumeMm3: 4000 * 16 })).toBeCloseTo(0.75 * 0.5, 4); // volume x16 -> 16^-0.25 = 0.5
    expect(one(0, { cls: 3, organ: 'lung' })).toBeCloseTo(0.5, 4); // class mismatch halves it
    expect(one(21)).toBeUndefined(); // outside the gate: no pair
    // ambiguity: a second candidate 2 mm farther lowers the confidence
    const amb = matchLesions([les([0, 0, 0])], [les([4, 0, 0]), les([-6, 0, 0])], { gateMm: 20 });
    expect(amb.pairs[0].currIndex).toBe(0);
    expect(amb.pairs[0].confidence).toBeLessThan(one(4) as number);
  });

  test('split / merged need the same class; otherwise new / disappeared', () => {
    const r = matchLesions([les([0, 0, 0])], [les([-5, 0, 0]), les([5, 0, 0], { cls: 2, organ: 'lung' })]);
    expect(r.curr.map((c) => c.status)).toEqual(['matched', 'new']);
    const m = matchLesions([les([0, 0, 0]), les([5, 0, 0], { cls: 2, organ: 'lung' })], [les([1, 0, 0])]);
    expect(m.prev.map((p) => p.status)).toEqual(['matched', 'disappeared']);
  });

  test('class mismatch penalty decides between equidistant candidates', () => {
    const prev = [les([0, 0, 0], { cls: 2, organ: 'lung' })];
    const curr = [les([5, 0, 0]), les([-5, 0, 0], { cls: 2, organ: 'lung' })];
    expect(matchLesions(prev, curr).pairs[0].currIndex).toBe(1);
  });

  test('matching accuracy over 300 random seeded configurations >= 98 %', () => {
    const rnd = mulberry32(20261205);
    const g = (): number => {
      // Box-Muller
      const u = Math.max(1e-12, rnd()), v = rnd();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    };
    let correct = 0, total = 0, naiveCorrect = 0;
    for (let cfg = 0; cfg < 300; cfg++) {
      const n = 3 + Math.floor(rnd() * 10);
      const base: Vec3[] = [];
      while (base.length < n) {
        const p: Vec3 = [(rnd() - 0.5) * 240, (rnd() - 0.5) * 160, (rnd() - 0.5) * 200];
        if (base.every((q) => Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]) >= 10)) base.push(p);
      }
      // truth: follow-up patient mm -> baseline mm (table shift up to 30 mm, a few degrees)
      const truth = rigidFromEuler([g() * 1, g() * 1, g() * 3], [(rnd() - 0.5) * 60, (rnd() - 0.5) * 60, (rnd() - 0.5) * 60]);
      // the registration used for matching is off by ~1 mm / 0.3 deg
      const reg = rigidFromEuler([g() * 0.3, g() * 0.3, g() * 0.3], [g(), g(), g()]);
      const estimate = composeRigid(reg, truth); // truth first, then the registration error
      const toFollow = invertRigid(truth);
      const prev = base.map((p) => les(p, { volumeMm3: 500 + rnd() * 20000 }));
      const curr: LesionCandidate[] = [];
      const truthOfCurr: Array<number | null> = [];
      base.forEach((p, i) => {
        if (rnd() < 0.1) return; // disappears
        const moved: Vec3 = [p[0] + 2 * g(), p[1] + 2 * g(), p[2] + 2 * g()]; // centroid change (growth, segmentation)
        curr.push(les(transformPoint(toFollow, moved), { volumeMm3: (prev[i].volumeMm3 as number) * Math.exp(0.4 * g()) }));
        truthOfCurr.push(i);
      });
      const nNew = rnd() < 0.3 ? 1 + Math.floor(rnd() * 2) : 0;
      for (let k = 0; k < nNew; k++) {
        const p: Vec3 = [(rnd() - 0.5) * 240, (rnd() - 0.5) * 160, (rnd() - 0.5) * 200];
        if (!base.every((q) => Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]) >= 25)) continue;
        curr.push(les(transformPoint(toFollow, p)));
        truthOfCurr.push(null);
      }
      for (const [mode, transform] of [['aligned', estimate], ['naive', undefined]] as const) {
        const r = matchLesions(prev, curr, { gateMm: 20, transform });
        let ok = 0;
        r.curr.forEach((c, j) => {
          const t = truthOfCurr[j];
          if (t === null ? c.status !== 'matched' : c.status === 'matched' && c.prevIndex === t) ok++;
        });
        r.prev.forEach((p, i) => {
          const j = truthOfCurr.indexOf(i);
          if (j < 0 ? p.status !== 'matched' : p.status === 'matched' && p.currIndex === j) ok++;
        });
        if (mode === 'aligned') {
          correct += ok;
          total += r.curr.length + r.prev.length;
        } else naiveCorrect += ok;
      }
    }
    const acc = correct / total;
    console.log(`matching accuracy ${(100 * acc).toFixed(2)} % (naive, unaligned: ${((100 * naiveCorrect) / total).toFixed(2)} %) over ${total} lesion decisions`);
    expect(naiveCorrect / total).toBeLessThan(0.8); // the configurations are not trivially matchable without alignment
    expect(total).toBeGreaterThan(3000);
    expect(acc).toBeGreaterThanOrEqual(0.98);
  });

  test('malformed input raises InputError', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => matchLesions([les([NaN, 0, 0])], []), 'tracking.bad-lesion'],
      [() => matchLesions([], [les([0, 0])]), 'tracking.bad-lesion'],
      [() => matchLesions([], [les([0, 0, 0], { volumeMm3: -1 })]), 'tracking.bad-lesion'],
      [() => matchLesions([], [], { gateMm: 0 }), 'tracking.bad-option'],
      [() => matchLesions([], [], { transform: [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] }), 'tracking.non-rigid-matrix'],
    ];
    for (const [f, code] of cases) expectInputError(f, code);
    expect(matchLesions([], []).pairs).toEqual([]);
    expect(matchLesions([les([0, 0, 0])], []).prev[0].status).toBe('disappeared');
    expect(matchLesions([], [les([0, 0, 0])]).curr[0].status).toBe('new');
  });
});
