/**
 * Deterministic trial simulator: feeds tests, the demo and the benchmark. Same options (incl. seed) ->
 * byte-identical StudyInput. No clock, no Math.random.
 */
import { writeFileSync } from 'node:fs';
import type { Assessment, NonTargetAssessment, QlqC30Record, SourceRef, StepDay, StudyInput, SubjectInput, TargetMeasurement } from './types';
import { addDays, dayNumber } from './util';

export interface SimulateOptions {
  subjects: number;
  /** Number of post-baseline visits planned. */
  visits: number;
  seed: number;
  /** Assessment interval in days (42 = q6w, 56 = q8w). */
  intervalDays?: number;
  studyId?: string;
  /** First randomisation date; subjects enrol uniformly over `enrolmentDays`. */
  startDate?: string;
  enrolmentDays?: number;
  /** Probability that a planned visit is missed. */
  pMissed?: number;
  /** Generate QLQ-C30 questionnaires (baseline + each visit). */
  qlq?: boolean;
  /** Generate daily wearable steps for the baseline week + this many weeks (0 = none). */
  stepWeeks?: number;
  arms?: { arm: string; armCd: string }[];
  /**
   * Couple the early signals (QLQ-C30 physical functioning, wearable steps, early new lesions) to the
   * outcome through a latent per-subject benefit (README "Simulator: outcome coupling"). Default false:
   * the output is then byte-identical to the simulator without this option (golden hashes). When true,
   * the coupling's own draws come from a second stream seeded from `seed` (never from the main stream).
   */
  outcomeCoupling?: boolean;
}

/** Mean latent benefit of each trajectory class (outcome coupling; README "Simulator: outcome coupling"). */
export const BENEFIT_MEAN = Object.freeze({ responder: 1, 'late-responder': 0.5, stable: 0, progressor: -1 });
/** Outcome coupling: SD of the continuous part of the latent benefit around its class mean. */
export const BENEFIT_SD = 0.5;
/** Outcome coupling: health (0..1) drift per assessment per unit of benefit (PF2 ~ 100 x health). */
export const COUPLING_HEALTH_PER_VISIT = 0.03;
/** Outcome coupling: relative change of daily steps per day on treatment per unit of benefit. */
export const COUPLING_STEPS_PER_DAY = 0.006;
/** Outcome coupling: per-assessment probability of a new lesion = NEWLESION_BASE x exp(-NEWLESION_SLOPE x benefit). */
export const COUPLING_NEWLESION_BASE = 0.04;
export const COUPLING_NEWLESION_SLOPE = 1;
/** Seed of the coupling stream: seed XOR this constant (golden ratio bits), so it never equals the main stream. */
const COUPLING_SEED_XOR = 0x9e3779b9;

/** mulberry32 lives in @app/core (shared with the other generators); re-exported for this library's users. */
export { mulberry32 } from '@app/core';
import { mulberry32 } from '@app/core';

const ORGANS = ['LIVER', 'LUNG', 'LYMPH NODE', 'BONE', 'ADRENAL GLAND', 'PERITONEUM', 'KIDNEY', 'BRAIN'];
type Trajectory = 'responder' | 'progressor' | 'late-responder' | 'stable';
const MODEL = { id: 'lesion-measure', version: '1.4.0', sha256: '3f1c0d2a9b8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a' };

/**
 * Simulates a trial: N subjects, each with baseline + `visits` planned assessments every `intervalDays`,
 * true lesion trajectories (responders, progressors, late responders, stable), measurement noise, missed
 * visits, not-assessed lesions, new lesions, non-target progression, new anticancer therapy after
 * progression, deaths, dropouts, QLQ-C30 answers tracking a latent health state, daily steps, and arm
 * assignment (1:1). With `outcomeCoupling: true`, a latent per-subject benefit (class mean + N(0, 0.5^2))
 * also drives the health (QLQ-C30) drift, the step trend and an extra new-lesion hazard (README
 * "Simulator: outcome coupling"); without it the output is exactly what it always was.
 */
export function simulateTrial(o: SimulateOptions): StudyInput {
  const rnd = mulberry32(o.seed);
  const coupling = o.outcomeCoupling ?? false;
  // Second stream for the coupling draws only: without coupling it is never drawn from, so the default output is unchanged.
  const rnd2 = mulberry32((o.seed ^ COUPLING_SEED_XOR) >>> 0);
  const normal2 = () => {
    const u = Math.max(rnd2(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd2());
  };
  const interval = o.intervalDays ?? 42;
  const start = dayNumber(o.startDate ?? '2024-01-08');
  const enrol = o.enrolmentDays ?? 365;
  const pMissed = o.pMissed ?? 0.05;
  const arms = o.arms ?? [{ arm: 'Drug X 10 mg', armCd: 'DRUGX' }, { arm: 'Placebo', armCd: 'PBO' }];
  const studyId = o.studyId ?? 'SIM-001';
  const iso = (d: number) => new Date(d * 86400000).toISOString().slice(0, 10);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const normal = () => {
    const u = Math.max(rnd(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const subjects: SubjectInput[] = [];
  const width = String(o.subjects).length;
  for (let i = 0; i < o.subjects; i++) {
    const usubjid = `${studyId}-${String(i + 1).padStart(Math.max(4, width), '0')}`;
    const armDef = arms[i % arms.length];
    const rand = start + int(0, enrol);
    const treated = armDef.armCd !== 'PBO';
    const u = rnd();
    const traj: Trajectory = treated
      ? u < 0.35 ? 'responder' : u < 0.55 ? 'progressor' : u < 0.7 ? 'late-responder' : 'stable'
      : u < 0.1 ? 'responder' : u < 0.5 ? 'progressor' : u < 0.55 ? 'late-responder' : 'stable';
    // Latent benefit (coupling only; 0 otherwise, and then never used): class mean + continuous part.
    const benefit = coupling ? BENEFIT_MEAN[traj] + BENEFIT_SD * normal2() : 0;
    // Baseline lesions: 1-5 targets, <= 2 per organ
    const nT = int(1, 5);
    const organCount = new Map<string, number>();
    const lesions: { id: string; organ: string; nodal: boolean; base: number; sens: number }[] = [];
    while (lesions.length < nT) {
      const organ = pick(ORGANS);
      if ((organCount.get(organ) ?? 0) >= 2) continue;
      organCount.set(organ, (organCount.get(organ) ?? 0) + 1);
      const nodal = organ === 'LYMPH NODE';
      lesions.push({ id: `T${String(lesions.length + 1).padStart(2, '0')}`, organ, nodal, base: nodal ? int(150, 400) : int(100, 600), sens: 0.6 + rnd() * 0.8 });
    }
    const nNT = int(0, 3);
    const nts = Array.from({ length: nNT }, (_, k) => ({ id: `NT${String(k + 1).padStart(2, '0')}`, organ: pick(ORGANS) }));
    const baseDay = rand - int(0, 14);
    const reader = `RAD-${String(int(1, 6)).padStart(2, '0')}`;
    const src = (vn: number, withModel: boolean): SourceRef => ({ readId: `READ-${usubjid}-V${vn}`, reader, ...(withModel ? { model: MODEL } : {}) });
    const mkTargets = (vn: number, f: (l: (typeof lesions)[number]) => number | 'NOT_ASSESSED'): TargetMeasurement[] =>
      lesions.map((l) => {
        const v = f(l);
        let diameter: TargetMeasurement['diameter'];
        if (v === 'NOT_ASSESSED') diameter = 'NOT_ASSESSED';
        else if (l.nodal) diameter = Math.max(30, v);
        else diameter = v < 25 ? 'DISAPPEARED' : v < 50 ? 'TOO_SMALL' : v;
        return { lesionId: l.id, organ: l.organ, nodal: l.nodal, diameter, source: src(vn, true) };
      });
    const assessments: Assessment[] = [
      {
        visit: 'BASELINE', visitNum: 0, date: iso(baseDay), baseline: true,
        targets: mkTargets(0, (l) => l.base),
        nonTargets: nts.map((n) => ({ lesionId: n.id, organ: n.organ, status: 'PRESENT', source: src(0, false) })),
        newLesions: 'NO', source: src(0, false),
      },
    ];
    const dropoutAfter = rnd() < 0.1 ? int(1, o.visits) : o.visits;
    const deathDayOffset = rnd() < (traj === 'progressor' ? 0.3 : 0.08) ? int(30, interval * (o.visits + 2)) : null;
    const deathDay = deathDayOffset === null ? null : rand + deathDayOffset;
    let pdSeen = false;
    let pdDay: number | null = null;
    let health = 0.75 + rnd() * 0.2;
    const healthAt: { vn: number; day: number; h: number }[] = [{ vn: 0, day: baseDay, h: health }];
    const onset = int(1, Math.max(1, Math.floor(o.visits / 2)));
    for (let v = 1; v <= dropoutAfter; v++) {
      const day = rand + v * interval + int(-3, 3);
      if (deathDay !== null && day >= deathDay) break;
      const t = v;
      let factor: number;
      switch (traj) {
        case 'responder': factor = Math.max(0.05, 1 - 0.25 * t); break;
        case 'progressor': factor = 1 + 0.12 * t; break;
        case 'late-responder': factor = t < onset + 1 ? 1.02 : Math.max(0.1, 1 - 0.2 * (t - onset)); break;
        default: factor = 1 + 0.02 * normal();
      }
      health = Math.min(1, Math.max(0.05, health + (traj === 'progressor' ? -0.05 : traj === 'stable' ? -0.01 : 0.01) + 0.03 * normal() + (coupling ? COUPLING_HEALTH_PER_VISIT * benefit : 0)));
      if (rnd() < pMissed) continue;
      const naLesion = rnd() < 0.03 ? pick(lesions).id : null;
      const targets = mkTargets(v, (l) => (l.id === naLesion ? 'NOT_ASSESSED' : Math.max(0, Math.round(l.base * (1 + (factor - 1) * l.sens) * (1 + 0.03 * normal())))));
      const ntProg = traj === 'progressor' && rnd() < 0.08;
      let newL: Assessment['newLesions'] = traj === 'progressor' && t >= 2 && rnd() < 0.15 ? 'YES' : rnd() < 0.01 ? 'EQUIVOCAL' : 'NO';
      // Coupling: an extra new-lesion hazard that falls with the benefit (any class, from the first follow-up).
      if (coupling && rnd2() < COUPLING_NEWLESION_BASE * Math.exp(-COUPLING_NEWLESION_SLOPE * benefit)) newL = 'YES';
      const nonTargets: NonTargetAssessment[] = nts.map((n) => ({
        lesionId: n.id, organ: n.organ,
        status: ntProg ? 'UNEQUIVOCAL_PROGRESSION' : (traj === 'responder' && factor < 0.3) ? 'ABSENT' : rnd() < 0.02 ? 'NOT_ASSESSED' : 'PRESENT',
        source: src(v, false),
      }));
      assessments.push({ visit: `WEEK ${(v * interval) / 7}`, visitNum: v, date: iso(day), targets, nonTargets, newLesions: newL, source: src(v, false) });
      healthAt.push({ vn: v, day, h: health });
      // crude PD check to stop imaging: the simulator keeps imaging 1 visit after a likely progression
      const sum = targets.reduce((s, x) => s + (typeof x.diameter === 'number' ? x.diameter : x.diameter === 'TOO_SMALL' ? 50 : 0), 0);
      const bsum = lesions.reduce((s, l) => s + l.base, 0);
      if (pdSeen) break;
      if (ntProg || newL === 'YES' || sum >= bsum * 1.3) {
        pdSeen = true;
        pdDay = day;
      }
    }
    const lastDay = Math.max(...assessments.map((a) => dayNumber(a.date)));
    const newTherapyDate = pdDay !== null && rnd() < 0.5 ? iso(pdDay + int(7, 30)) : rnd() < 0.03 ? iso(rand + int(20, interval * 3)) : undefined;
    const subj: SubjectInput = {
      usubjid, arm: armDef.arm, armCd: armDef.armCd, randDate: iso(rand), trtStartDate: iso(rand + int(0, 3)),
      assessments,
      ...(deathDay !== null ? { deathDate: iso(deathDay) } : {}),
      ...(newTherapyDate ? { newTherapyDate } : {}),
      lastKnownAliveDate: iso(deathDay ?? lastDay + int(0, 30)),
    };
    if (o.qlq ?? true) {
      const q: QlqC30Record[] = [];
      for (const h of healthAt) {
        const items: (number | null)[] = [];
        for (let k = 1; k <= 30; k++) {
          if (rnd() < 0.02) { items.push(null); continue; }
          if (k >= 29) items.push(Math.min(7, Math.max(1, Math.round(1 + 6 * h.h + normal() * 0.7))));
          else if (k <= 7 || (k >= 20 && k <= 27)) items.push(Math.min(4, Math.max(1, Math.round(4 - 3 * h.h + normal() * 0.5))));
          else items.push(Math.min(4, Math.max(1, Math.round(1 + 3 * (1 - h.h) + normal() * 0.5))));
        }
        q.push({ visit: h.vn === 0 ? 'BASELINE' : `WEEK ${(h.vn * interval) / 7}`, date: iso(h.vn === 0 ? Math.min(h.day, rand) : h.day), items, source: { readId: `EPRO-${usubjid}-V${h.vn}` } });
      }
      subj.qlqc30 = q;
    }
    const weeks = o.stepWeeks ?? 8;
    if (weeks > 0) {
      const steps: StepDay[] = [];
      const lvl = 3000 + rnd() * 7000;
      const endDay = Math.min(rand + 7 * weeks - 1, deathDay !== null ? deathDay - 1 : Infinity);
      for (let d = rand - 7; d <= endDay; d++) {
        const decline = (traj === 'progressor' ? 1 - 0.004 * Math.max(0, d - rand) : 1) * (coupling ? Math.max(0.2, 1 + COUPLING_STEPS_PER_DAY * benefit * Math.max(0, d - rand)) : 1);
        steps.push({ date: iso(d), steps: Math.max(0, Math.round(lvl * decline * (1 + 0.25 * normal()))), wearMinutes: rnd() < 0.15 ? int(60, 590) : int(600, 960) });
      }
      subj.steps = steps;
    }
    subjects.push(subj);
  }
  return { studyId, subjects };
}

/** Optional file output: writes the simulated StudyInput as JSON (the only I/O in this library). */
export function writeSimulatedTrial(study: StudyInput, path: string): void {
  writeFileSync(path, JSON.stringify(study));
}

/** Convenience for demos: the data-cut date = the latest date in the study + 1 day. */
export function latestDate(study: StudyInput): string {
  let max = 0;
  for (const s of study.subjects) for (const a of s.assessments) max = Math.max(max, dayNumber(a.date));
  return addDays(new Date(max * 86400000).toISOString().slice(0, 10), 1);
}
