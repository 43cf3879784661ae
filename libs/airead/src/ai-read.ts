import { InputError } from '@app/core';
import type { Assessment, NonTargetAssessment, StudyInput, SubjectInput, TargetMeasurement } from '@app/endpoints';

/** What a lesion proposal says at one timepoint (the `values` of an `ai_proposals` row of kind 'lesion'). */
export interface LesionProposalValues {
  trackingUid: string;
  /** Readable identity carried at every timepoint, e.g. 'T01 liver'. */
  trackingId: string;
  /** 'matched' | 'new' | 'disappeared' | 'split' | 'merged' (from the tracker). */
  status: string;
  /** false when the tracked lesion is not seen at this timepoint (disappeared). */
  present: boolean;
  /** Organ / site in RECIST terms: 'LIVER', 'LUNG', 'LYMPH NODE', ... */
  organ: string;
  nodal: boolean;
  longAxisMm: number | null;
  shortAxisMm: number | null;
  volumeMm3: number | null;
  /** RECIST 1.1 measurability at this timepoint (see @app/measure). */
  measurable: boolean;
  matchConfidence?: number | null;
}

export interface AiTimepoint {
  timePointId: string;
  /** ISO date of the scan (date-shifted, as everything readers and models see). */
  date: string;
  lesions: LesionProposalValues[];
  /** Read id written into every row of this timepoint (e.g. `ai:<run id>:<timepoint>`). */
  readId: string;
}

export interface AiSubject {
  usubjid: string;
  /** Randomisation date when the study input knows it; else the baseline scan date (documented). */
  randDate?: string;
  timepoints: AiTimepoint[];
}

export interface AiReadOptions {
  studyId: string;
  model: { id: string; version: string; sha256: string };
  /** RECIST 1.1: at most 5 targets in total and 2 per organ. */
  maxTargets?: number;
  maxPerOrgan?: number;
}

/** The diameter RECIST uses for a lesion: the short axis for a node, the long axis otherwise (mm). */
export function recistDiameterMm(l: Pick<LesionProposalValues, 'nodal' | 'longAxisMm' | 'shortAxisMm'>): number | null {
  return l.nodal ? l.shortAxisMm : l.longAxisMm;
}

/**
 * Baseline target selection as a reader following RECIST 1.1 would do it from the AI's measurements: measurable
 * lesions (nodes with short axis >= 15 mm), largest RECIST diameter first, at most `maxPerOrgan` per organ and
 * `maxTargets` in all. Ties are broken by tracking id, so the selection is deterministic. The rest of the
 * baseline lesions (excluding normal nodes) are non-targets.
 */
export function selectTargets(baseline: LesionProposalValues[], maxTargets = 5, maxPerOrgan = 2): { targets: LesionProposalValues[]; nonTargets: LesionProposalValues[] } {
  const present = baseline.filter((l) => l.present);
  const candidates = present
    .filter((l) => l.measurable && recistDiameterMm(l) != null)
    .sort((a, b) => recistDiameterMm(b)! - recistDiameterMm(a)! || (a.trackingId < b.trackingId ? -1 : a.trackingId > b.trackingId ? 1 : 0));
  const perOrgan = new Map<string, number>();
  const targets: LesionProposalValues[] = [];
  for (const l of candidates) {
    if (targets.length >= maxTargets) break;
    const n = perOrgan.get(l.organ) ?? 0;
    if (n >= maxPerOrgan) continue;
    perOrgan.set(l.organ, n + 1);
    targets.push(l);
  }
  const chosen = new Set(targets.map((t) => t.trackingUid));
  const nonTargets = present.filter((l) => !chosen.has(l.trackingUid) && !(l.nodal && (l.shortAxisMm ?? 0) < 10));
  return { targets, nonTargets };
}

const tenths = (mm: number): number => Math.round(mm * 10);

/**
 * Derives an **AI-only read** (RECIST 1.1 inputs for the endpoint engine) from a subject's tracked lesion
 * proposals. Every row's source names the model (no reader), so the datasets label it as the AI's read; it is
 * never the BICR result. Rules (documented in libs/airead/README.md):
 * - baseline = the earliest timepoint; targets per `selectTargets`; other baseline lesions are non-targets;
 * - at a follow-up a target takes its tracked lesion's RECIST diameter (tenths of mm); a target the tracker
 *   reports as not present is DISAPPEARED (0 mm); a target missing from the timepoint entirely is NOT_ASSESSED;
 * - non-targets are PRESENT / ABSENT (the AI never calls unequivocal progression: that is a reader's call);
 * - new lesions: a lesion first seen after baseline (tracker status 'new') makes `newLesions` YES.
 */
export function aiOnlyRead(subjects: AiSubject[], opts: AiReadOptions): StudyInput {
  const model = opts.model;
  const out: SubjectInput[] = [];
  for (const s of subjects) {
    if (!s.timepoints.length) continue;
    const tps = [...s.timepoints].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    for (const tp of tps) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(tp.date)) throw new InputError('airead.bad-date', `subject ${s.usubjid} timepoint ${tp.timePointId}: date "${tp.date}" is not YYYY-MM-DD`);
    }
    const base = tps[0]!;
    const { targets, nonTargets } = selectTargets(base.lesions, opts.maxTargets, opts.maxPerOrgan);
    const baselineIds = new Set(base.lesions.map((l) => l.trackingUid));
    const assessments: Assessment[] = tps.map((tp, v) => {
      const source = { readId: tp.readId, model };
      const byUid = new Map(tp.lesions.map((l) => [l.trackingUid, l]));
      const tms: TargetMeasurement[] = targets.map((t) => {
        const l = byUid.get(t.trackingUid);
        let diameter: TargetMeasurement['diameter'];
        if (!l) diameter = 'NOT_ASSESSED';
        else if (!l.present) diameter = 'DISAPPEARED';
        else {
          const d = recistDiameterMm(l);
          diameter = d == null ? 'NOT_ASSESSED' : tenths(d);
        }
        return { lesionId: t.trackingId, organ: t.organ, nodal: t.nodal, diameter, source };
      });
      const nts: NonTargetAssessment[] = nonTargets.map((n) => {
        const l = byUid.get(n.trackingUid);
        const status: NonTargetAssessment['status'] = !l ? 'NOT_ASSESSED' : l.present && !(l.nodal && (l.shortAxisMm ?? 0) < 10) ? 'PRESENT' : 'ABSENT';
        return { lesionId: n.trackingId, organ: n.organ, nodal: n.nodal, status, source };
      });
      const anyNew = v > 0 && tp.lesions.some((l) => l.present && !baselineIds.has(l.trackingUid));
      return {
        visit: v === 0 ? 'BASELINE' : tp.timePointId,
        visitNum: v,
        date: tp.date,
        baseline: v === 0,
        targets: tms,
        nonTargets: nts,
        newLesions: anyNew ? 'YES' : 'NO',
        source,
      };
    });
    out.push({ usubjid: s.usubjid, randDate: s.randDate ?? base.date, assessments });
  }
  return { studyId: opts.studyId, subjects: out };
}
