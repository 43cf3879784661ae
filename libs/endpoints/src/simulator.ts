/**
 * Deterministic trial simulator: feeds tests, the demo and the benchmark. Same options (incl. seed) ->
 * byte-identical StudyInput. No clock, no Math.random.
 */
import { writeFileSync } from 'node:fs';
import type { Assessment, Diameter, NonTargetAssessment, ProtocolSettings, QlqC30Record, SourceRef, StepDay, StudyInput, SubjectInput, TargetMeasurement } from './types';
import { addDays, dayNumber, resolveSettings } from './util';
import { deriveSubjectEndpoints } from './datasets';
import type { AiLesionDecision, BicrSelection, StudyInputWithReads, SubjectRead } from './reads';

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
  /**
   * Blinded independent central review: two radiologists (from a pool) and the AI read every subject (README
   * "Simulator: readers"). The subjects' assessments become the BICR result (READ 1 when the reads agree, else the
   * adjudicator's choice) and `reads` holds every read. Default off: the output is then byte-identical to the
   * simulator without this option. The reads' draws come from a third stream seeded from `seed`.
   */
  readers?: boolean | ReaderSimulationOptions;
}

/** Reader simulation (README "Simulator: readers"); every field has a default. */
export interface ReaderSimulationOptions {
  /** Pseudonymous radiologists; two distinct ones read each subject (slots RADIOLOGIST 1 and 2). */
  pool?: { id: string; pAccept: number; bias: number }[];
  adjudicators?: string[];
  /** Coefficient of variation of the AI's measurement around the true size. */
  aiCv?: number;
  /** Coefficient of variation of a reader's own (edited) measurement around the true size. */
  editCv?: number;
  /** Per subject and reader: the reader rejects one AI target at baseline and selects another lesion instead. */
  pDifferentSelection?: number;
  /** Per follow-up and reader: an equivocal new lesion where the truth has none. */
  pEquivocalNewLesion?: number;
  /** Per follow-up and reader: unequivocal non-target progression where the truth has none (subjects with non-targets). */
  pNonTargetProgression?: number;
  /** The adjudicator chooses the read closer to the truth with this probability. */
  pAdjudicatorPicksCloser?: number;
  /** Protocol settings for the readers' comparison (default: the library defaults). */
  settings?: Partial<ProtocolSettings>;
}

/** Default reader pool: four radiologists with their own habits (share of AI proposals accepted, measurement bias). */
export const DEFAULT_READER_POOL = Object.freeze([
  { id: 'RAD-01', pAccept: 0.55, bias: 1.0 },
  { id: 'RAD-02', pAccept: 0.35, bias: 1.05 },
  { id: 'RAD-03', pAccept: 0.45, bias: 0.97 },
  { id: 'RAD-04', pAccept: 0.5, bias: 1.02 },
]);
/** Seed of the readers stream: seed XOR this constant (never equal to the main or coupling streams). */
const READERS_SEED_XOR = 0x5bd1e995;

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
export function simulateTrial(o: SimulateOptions): StudyInputWithReads {
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
  if (o.readers) return simulateReads({ studyId, subjects }, o.seed, o.readers === true ? {} : o.readers);
  return { studyId, subjects };
}

const EVAL_RAD = 'INDEPENDENT ASSESSOR';
/** Tenths of mm of a target as the sum counts it (TOO_SMALL = 5 mm, DISAPPEARED = 0); null when not assessed. */
const tenthsOf = (d: Diameter): number | null => (typeof d === 'number' ? d : d === 'TOO_SMALL' ? 50 : d === 'DISAPPEARED' ? 0 : null);

/**
 * The readers pass of simulateTrial (README "Simulator: readers"). The simulated assessments are the truth: the AI
 * measures each target with `aiCv` noise; each of two radiologists accepts an AI proposal (its value) or edits it (own
 * measurement, `editCv` noise times the reader's bias), sometimes rejects one AI target and selects another lesion,
 * and now and then sees an equivocal new lesion or non-target progression that is not there. The two reads are
 * compared by the engine (confirmed BOR and first PD date); a disagreement goes to an adjudicator, who picks the read
 * closer to the truth with probability `pAdjudicatorPicksCloser`. The subjects' assessments become the BICR result.
 */
function simulateReads(study: StudyInput, seed: number, ro: ReaderSimulationOptions): StudyInputWithReads {
  const rnd = mulberry32((seed ^ READERS_SEED_XOR) >>> 0);
  const normal = () => {
    const u = Math.max(rnd(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  };
  const pool = ro.pool ?? DEFAULT_READER_POOL;
  if (pool.length < 2) throw new Error('simulateTrial readers: the pool needs at least two radiologists');
  const adjudicators = ro.adjudicators ?? ['ADJ-01', 'ADJ-02'];
  const aiCv = ro.aiCv ?? 0.06;
  const editCv = ro.editCv ?? 0.14;
  const pSwap = ro.pDifferentSelection ?? 0.1;
  const pEqNew = ro.pEquivocalNewLesion ?? 0.006;
  const pNtProg = ro.pNonTargetProgression ?? 0.004;
  const pCloser = ro.pAdjudicatorPicksCloser ?? 0.8;
  const settings = resolveSettings(ro.settings ?? {});
  const model = `${MODEL.id}@${MODEL.version}`;
  /** A measured size with noise, as the simulator maps sizes (non-nodal < 2.5 mm disappeared, < 5 mm too small; nodes >= 3 mm). */
  const measure = (truth: number, nodal: boolean, cv: number, bias = 1): Diameter => {
    const v = Math.max(0, Math.round(truth * bias * (1 + cv * normal())));
    if (nodal) return Math.max(30, v);
    return v < 25 ? 'DISAPPEARED' : v < 50 ? 'TOO_SMALL' : v;
  };
  const reads: SubjectRead[] = [];
  const selections: BicrSelection[] = [];
  const subjects: SubjectInput[] = [];
  for (const subj of study.subjects) {
    const truth = subj.assessments;
    const base = truth[0]!;
    // sum-based size ratio of each visit (how an extra lesion of the subject would have changed)
    const baseSum = base.targets.reduce((s, t) => s + (tenthsOf(t.diameter) ?? 0), 0);
    const ratio = truth.map((a) => {
      let s = 0;
      let b = 0;
      for (const t of a.targets) {
        const v = tenthsOf(t.diameter);
        const bt = base.targets.find((x) => x.lesionId === t.lesionId);
        if (v === null || !bt) continue;
        s += v;
        b += tenthsOf(bt.diameter) ?? 0;
      }
      return b > 0 ? s / b : 1;
    });
    // one more measurable lesion per subject that a reader may select instead of an AI target
    const organs = new Map<string, number>();
    for (const t of base.targets) organs.set(t.organ, (organs.get(t.organ) ?? 0) + 1);
    const freeOrgans = ORGANS.filter((g) => g !== 'LYMPH NODE' && (organs.get(g) ?? 0) < 2);
    const candOrgan = freeOrgans[Math.floor(rnd() * freeOrgans.length)] ?? 'LIVER';
    const cand = { lesionId: 'C01', organ: candOrgan, nodal: false, base: 100 + Math.floor(rnd() * 300) };
    // the AI's proposals: every true target at every visit
    const aiValues = truth.map((a) => a.targets.map((t) => (typeof t.diameter === 'number' ? measure(t.diameter, t.nodal, aiCv) : t.diameter)));
    const aiRead: SubjectRead = {
      usubjid: subj.usubjid, evaluator: 'AI', evaluatorId: 'AI', reader: model, readId: `AI-${subj.usubjid}`,
      assessments: truth.map((a, i) => ({
        ...a,
        targets: a.targets.map((t, j) => ({ lesionId: t.lesionId, organ: t.organ, nodal: t.nodal, diameter: aiValues[i]![j]!, source: { readId: `AI-${subj.usubjid}-V${a.visitNum}`, model: MODEL } })),
        nonTargets: a.nonTargets.map((n) => ({ ...n, source: { readId: `AI-${subj.usubjid}-V${a.visitNum}`, model: MODEL } })),
        source: { readId: `AI-${subj.usubjid}-V${a.visitNum}`, model: MODEL },
      })),
    };
    // two distinct radiologists
    const i1 = Math.floor(rnd() * pool.length);
    let i2 = Math.floor(rnd() * (pool.length - 1));
    if (i2 >= i1) i2++;
    const radReads = [pool[i1]!, pool[i2]!].map((rad, k): SubjectRead => {
      const evaluatorId = `RADIOLOGIST ${k + 1}`;
      const readId = `READ-${subj.usubjid}-R${k + 1}`;
      const swap = base.targets.length > 0 && freeOrgans.length > 0 && rnd() < pSwap ? base.targets[Math.floor(rnd() * base.targets.length)]!.lesionId : null;
      const decisions: AiLesionDecision[] = [];
      const assessments: Assessment[] = truth.map((a, i) => {
        const src: SourceRef = { readId: `${readId}-V${a.visitNum}`, reader: rad.id, evaluator: EVAL_RAD, evaluatorId };
        const targets: TargetMeasurement[] = [];
        a.targets.forEach((t, j) => {
          const ai = aiValues[i]![j]!;
          if (t.lesionId === swap) {
            decisions.push({ visitNum: a.visitNum, lesionId: t.lesionId, organ: t.organ, nodal: t.nodal, ai, decision: 'REJECT' });
            return;
          }
          let value: Diameter = ai;
          let decision: AiLesionDecision['decision'] = 'ACCEPT';
          if (typeof t.diameter === 'number' && rnd() >= rad.pAccept) {
            value = measure(t.diameter, t.nodal, editCv, rad.bias);
            if (value !== ai) decision = 'EDIT';
          }
          decisions.push({ visitNum: a.visitNum, lesionId: t.lesionId, organ: t.organ, nodal: t.nodal, ai, decision });
          targets.push({ lesionId: t.lesionId, organ: t.organ, nodal: t.nodal, diameter: value, source: src });
        });
        if (swap) {
          const notAssessed = a.targets.some((t) => t.diameter === 'NOT_ASSESSED' && t.lesionId !== swap) && rnd() < 0.5;
          const value: Diameter = notAssessed ? 'NOT_ASSESSED' : measure(Math.max(1, Math.round(cand.base * ratio[i]!)), false, editCv, rad.bias);
          decisions.push({ visitNum: a.visitNum, lesionId: cand.lesionId, organ: cand.organ, nodal: false, ai: null, decision: 'ADD' });
          targets.push({ lesionId: cand.lesionId, organ: cand.organ, nodal: false, diameter: value, source: src });
        }
        const followUp = i > 0;
        const ntProg = followUp && a.nonTargets.length > 0 && rnd() < pNtProg;
        const eqNew = followUp && a.newLesions === 'NO' && rnd() < pEqNew;
        return {
          ...a,
          targets,
          nonTargets: a.nonTargets.map((n, k2) => ({ ...n, status: ntProg && k2 === 0 ? 'UNEQUIVOCAL_PROGRESSION' : n.status, source: src })),
          newLesions: eqNew ? 'EQUIVOCAL' : a.newLesions,
          source: src,
        };
      });
      return { usubjid: subj.usubjid, evaluator: EVAL_RAD, evaluatorId, reader: rad.id, readId, assessments, aiDecisions: decisions };
    });
    // compare as libs/review does (confirmed BOR and first PD date), adjudicate a disagreement
    const outcome = (r: SubjectRead) => {
      const ep = deriveSubjectEndpoints({ ...subj, assessments: r.assessments, qlqc30: [], steps: [] }, settings);
      return { cbor: ep.cbor.bor, pd: ep.visits.find((v) => v.overall === 'PD')?.date ?? null };
    };
    const [o1, o2] = radReads.map(outcome) as [ReturnType<typeof outcome>, ReturnType<typeof outcome>];
    const agree = o1.cbor === o2.cbor && o1.pd === o2.pd;
    let chosen = 0;
    let adjudicator: string | undefined;
    if (!agree) {
      // distance of each read's target sums to the truth's (log ratio, visits where both are complete)
      const dist = radReads.map((r) =>
        truth.reduce((acc, a, i) => {
          const ts = a.targets.reduce<number | null>((s, t) => (s === null || tenthsOf(t.diameter) === null ? null : s + tenthsOf(t.diameter)!), 0);
          const rs = r.assessments[i]!.targets.reduce<number | null>((s, t) => (s === null || tenthsOf(t.diameter) === null ? null : s + tenthsOf(t.diameter)!), 0);
          return ts && rs ? acc + Math.abs(Math.log(rs / ts)) : acc;
        }, 0) + (r.assessments.some((x, i) => x.newLesions !== truth[i]!.newLesions || x.nonTargets.some((n, k) => n.status !== truth[i]!.nonTargets[k]!.status)) ? 1 : 0),
      );
      const closer = dist[0]! <= dist[1]! ? 0 : 1;
      chosen = rnd() < pCloser ? closer : 1 - closer;
      adjudicator = adjudicators[Math.floor(rnd() * adjudicators.length)];
    }
    const sel = radReads[chosen]!;
    const selection = agree ? 'AGREEMENT: RADIOLOGIST 1' : `ADJUDICATION: ${sel.evaluatorId} SELECTED`;
    const bicrSrc = (s: SourceRef): SourceRef => ({ ...s, ...(adjudicator ? { adjudicator } : {}), selection });
    selections.push({ usubjid: subj.usubjid, adjudicated: !agree, selected: sel.evaluatorId, ...(adjudicator ? { adjudicator } : {}) });
    reads.push(radReads[0]!, radReads[1]!, aiRead);
    subjects.push({
      ...subj,
      assessments: sel.assessments.map((a) => ({ ...a, targets: a.targets.map((t) => ({ ...t, source: bicrSrc(t.source) })), nonTargets: a.nonTargets.map((n) => ({ ...n, source: bicrSrc(n.source) })), source: bicrSrc(a.source) })),
    });
  }
  return { studyId: study.studyId, reviewProvenance: true, subjects, reads: { origin: 'SIMULATED', reads, selections } };
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
