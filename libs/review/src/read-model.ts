import type { NewLesions, NonTargetStatus } from '@app/endpoints';
import { invalid } from './errors';
import { type Axis, type AxisInput, measureAxis, type VolumeGeometry } from './geometry';

export type Decision = 'accept' | 'edit' | 'reject' | 'add';
export type Classification = 'target' | 'non-target' | 'new';
export type TargetValue = 'MEASURED' | 'TOO_SMALL' | 'DISAPPEARED' | 'NOT_ASSESSED';
const DECISIONS: Decision[] = ['accept', 'edit', 'reject', 'add'];
const CLASSES: Classification[] = ['target', 'non-target', 'new'];
const SPECIAL: TargetValue[] = ['TOO_SMALL', 'DISAPPEARED', 'NOT_ASSESSED'];
const NT_STATUS: NonTargetStatus[] = ['PRESENT', 'ABSENT', 'UNEQUIVOCAL_PROGRESSION', 'NOT_ASSESSED'];
const NEW_LESIONS: NewLesions[] = ['YES', 'NO', 'EQUIVOCAL'];
export const OVERALL_RESPONSES = ['CR', 'PR', 'SD', 'NON-CR/NON-PD', 'PD', 'NE'] as const;
export const NON_TARGET_RESPONSES = ['CR', 'NON-CR/NON-PD', 'PD', 'NE', 'NA'] as const;

/** One lesion decision in a timepoint save (the request body). */
export interface LesionInput {
  /** The AI proposal decided on (accept / edit / reject). Absent for `add`. */
  proposalId?: string;
  /** For `add` at a follow-up: the lesion (from the baseline) this measures. New identity when absent. */
  lesionKey?: string;
  decision: Decision;
  /** Required for `reject`; optional note for the others. */
  reason?: string;
  /** Baseline: target | non-target. Follow-ups: inherited from the baseline for its lesions, `new` for the others. */
  classification?: Classification;
  /** Organ / site (RECIST terms, e.g. LIVER); required for an added target. Defaults to the AI's. */
  organ?: string;
  nodal?: boolean;
  longAxis?: AxisInput;
  shortAxis?: AxisInput;
  /** Volume the axes are drawn on (default: the proposal's volume, else the timepoint's selected volume). */
  volumeId?: string;
  /** A target at a follow-up without a measurement. */
  value?: Exclude<TargetValue, 'MEASURED'>;
  /** A non-target's status (default from the AI: PRESENT / ABSENT; baseline: PRESENT). */
  status?: NonTargetStatus;
  /** A new lesion that is equivocal (RECIST 1.1 4.3.2). */
  equivocal?: boolean;
}

export interface TimepointInput {
  lesions: LesionInput[];
  /** Override of the new-lesion call (default: YES if an unequivocal new lesion, EQUIVOCAL if only equivocal ones, else NO). */
  newLesions?: NewLesions;
  /** The reader's own calls, stored next to the engine's (which the endpoints use). */
  nonTargetResponse?: (typeof NON_TARGET_RESPONSES)[number];
  overallResponse?: (typeof OVERALL_RESPONSES)[number];
  comment?: string;
}

/** What the AI proposed, copied into the read (the proposal row itself is immutable too). */
export interface AiSnapshot {
  proposalId: string;
  runId: string;
  trackingUid: string | null;
  trackingId: string | null;
  status: string | null;
  present: boolean;
  organ: string | null;
  nodal: boolean;
  longAxisMm: number | null;
  shortAxisMm: number | null;
  measurable: boolean | null;
  longAxis: unknown;
  shortAxis: unknown;
  volumeId: string | null;
  model: { id: string; version: string; sha256: string };
}

/** What the reader recorded for a lesion at a timepoint. */
export interface ReaderValue {
  value: TargetValue | null;
  longAxisMm: number | null;
  shortAxisMm: number | null;
  /** RECIST diameter: short axis for a node, long axis otherwise (mm), when measured. */
  diameterMm: number | null;
  /** The same in integer tenths of mm (the endpoint engine's unit). */
  diameterTenths: number | null;
  status: NonTargetStatus | null;
  equivocal: boolean;
  longAxis: Axis | null;
  shortAxis: Axis | null;
  volumeId: string | null;
  /** Where the numbers come from: the AI's proposal (accepted) or the reader's own axes. */
  from: 'ai' | 'reader' | 'none';
}

export interface StoredLesion {
  lesionKey: string;
  /** Lesion id in the datasets (the AI tracking id, or R01, R02... for lesions the reader added). */
  label: string;
  proposalId: string | null;
  decision: Decision;
  reason: string | null;
  classification: Classification | null;
  organ: string;
  nodal: boolean;
  ai: AiSnapshot | null;
  reader: ReaderValue | null;
}

export interface StoredTimepoint {
  timePointId: string;
  ordinal: number;
  visit: string;
  /** Pseudonymised (date-shifted) scan date, as the reader sees it. */
  date: string;
  dayFromBaseline: number;
  lesions: StoredLesion[];
  newLesions: NewLesions;
  nonTargetResponse: string | null;
  overallResponse: string | null;
  comment: string | null;
}

/** An AI lesion proposal row, as the normaliser needs it. */
export interface ProposalRow {
  id: string;
  run_id: string;
  time_point_id: string | null;
  tracking_uid: string | null;
  tracking_id: string | null;
  volume_id: string | null;
  values: Record<string, unknown>;
  model: { id: string; version: string; sha256: string };
}

export interface BaselineLesion {
  lesionKey: string;
  label: string;
  classification: 'target' | 'non-target';
  organ: string;
  nodal: boolean;
}

export interface NormaliseContext {
  timePointId: string;
  ordinal: number;
  date: string;
  dayFromBaseline: number;
  /** The AI proposals of this timepoint (from the run pinned to the read). */
  proposals: ProposalRow[];
  /** Baseline lesions (target / non-target) by lesion key; empty at the baseline itself. */
  baseline: Map<string, BaselineLesion>;
  /** Labels of reader-added lesions already used in this read (other timepoints), to number new ones. */
  usedLabels: Set<string>;
  /** Reader-added lesions of this read at other timepoints (lesion key -> label, organ, nodal). */
  knownAdded: Map<string, { label: string; organ: string; nodal: boolean }>;
  /** Volumes of this timepoint; the first is the default for added lesions. */
  volumes: VolumeGeometry[];
  /** New lesion keys for added lesions. */
  newKey: () => string;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : null);
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const tenths = (mm: number) => Math.round(mm * 10);

export function aiSnapshot(p: ProposalRow): AiSnapshot {
  const v = p.values;
  return {
    proposalId: p.id,
    runId: p.run_id,
    trackingUid: p.tracking_uid,
    trackingId: p.tracking_id,
    status: str(v.status),
    present: v.present !== false,
    organ: str(v.organ),
    nodal: v.nodal === true,
    longAxisMm: num(v.longAxisMm),
    shortAxisMm: num(v.shortAxisMm),
    measurable: typeof v.measurable === 'boolean' ? v.measurable : null,
    longAxis: v.longAxis ?? null,
    shortAxis: v.shortAxis ?? null,
    volumeId: p.volume_id,
    model: p.model,
  };
}

/** The lesion key of an AI proposal: its tracking identity (the same lesion at every timepoint). */
export const proposalKey = (p: Pick<ProposalRow, 'id' | 'tracking_uid'>): string => p.tracking_uid ?? `proposal:${p.id}`;

function checkText(v: unknown, what: string, max = 2000): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid(`${what} must be text`);
  const t = v.trim();
  if (t.length > max) throw invalid(`${what}: at most ${max} characters`);
  return t || null;
}

/**
 * Checks a timepoint save and turns it into the stored assessment: every AI proposal of the timepoint decided exactly
 * once, rejects with a reason, axes measured on the image (lengths recomputed in mm), classifications consistent with
 * the baseline, every baseline lesion assessed at a follow-up. Throws ReviewError 400 naming the first problem.
 */
export function normaliseTimepoint(input: TimepointInput, ctx: NormaliseContext): StoredTimepoint {
  if (!input || typeof input !== 'object' || !Array.isArray(input.lesions)) throw invalid('body: { version, lesions: [...] } expected');
  const isBaseline = ctx.ordinal === 0;
  const props = new Map(ctx.proposals.map((p) => [p.id, p]));
  const decided = new Set<string>();
  const out: StoredLesion[] = [];
  const keys = new Set<string>();
  const volumes = new Map(ctx.volumes.map((v) => [v.volumeId, v]));
  let labelNo = 0;
  const nextLabel = () => {
    for (;;) {
      const l = `R${String(++labelNo).padStart(2, '0')}`;
      if (!ctx.usedLabels.has(l)) {
        ctx.usedLabels.add(l);
        return l;
      }
    }
  };
  input.lesions.forEach((l, i) => {
    const where = `lesions[${i}]`;
    if (!l || typeof l !== 'object') throw invalid(`${where}: an object expected`);
    if (!DECISIONS.includes(l.decision)) throw invalid(`${where}.decision must be one of ${DECISIONS.join(', ')}`);
    if (l.classification !== undefined && !CLASSES.includes(l.classification)) throw invalid(`${where}.classification must be one of ${CLASSES.join(', ')}`);
    if (l.value !== undefined && !SPECIAL.includes(l.value)) throw invalid(`${where}.value must be one of ${SPECIAL.join(', ')}`);
    if (l.status !== undefined && !NT_STATUS.includes(l.status)) throw invalid(`${where}.status must be one of ${NT_STATUS.join(', ')}`);
    const reason = checkText(l.reason, `${where}.reason`);
    let p: ProposalRow | undefined;
    if (l.decision === 'add') {
      if (l.proposalId !== undefined) throw invalid(`${where}: 'add' is for a lesion the AI did not propose; decide on a proposal with accept / edit / reject`);
    } else {
      if (typeof l.proposalId !== 'string' || !(p = props.get(l.proposalId))) throw invalid(`${where}.proposalId: not an AI proposal of timepoint ${ctx.timePointId} in this read`, { proposalId: l.proposalId ?? null });
      if (decided.has(p.id)) throw invalid(`${where}: proposal ${p.id} is decided twice`);
      decided.add(p.id);
    }
    if (l.decision === 'reject' && !reason) throw invalid(`${where}: rejecting an AI proposal needs a reason`);
    const ai = p ? aiSnapshot(p) : null;
    // identity
    let lesionKey: string;
    let base: BaselineLesion | undefined;
    let label: string;
    if (p) lesionKey = proposalKey(p);
    else if (l.lesionKey !== undefined) {
      if (typeof l.lesionKey !== 'string' || !l.lesionKey) throw invalid(`${where}.lesionKey must be a lesion key from the baseline`);
      lesionKey = l.lesionKey;
      if (!ctx.baseline.has(lesionKey) && !ctx.knownAdded.has(lesionKey)) throw invalid(`${where}.lesionKey ${lesionKey} is not a lesion of this read`);
    } else lesionKey = ctx.newKey();
    if (keys.has(lesionKey)) throw invalid(`${where}: lesion ${lesionKey} is assessed twice at this timepoint`);
    keys.add(lesionKey);
    base = ctx.baseline.get(lesionKey);
    const known = ctx.knownAdded.get(lesionKey);
    label = base?.label ?? known?.label ?? ai?.trackingId ?? nextLabel();
    const organ = (str(l.organ) ?? base?.organ ?? known?.organ ?? ai?.organ ?? '').toUpperCase();
    const nodal = typeof l.nodal === 'boolean' ? l.nodal : base?.nodal ?? known?.nodal ?? ai?.nodal ?? false;
    if (l.decision === 'reject') {
      if (base && !isBaseline) throw invalid(`${where}: ${label} is a baseline ${base.classification} lesion; at a follow-up it is assessed (accept, edit, or a value / status), not rejected`);
      out.push({ lesionKey, label, proposalId: p!.id, decision: 'reject', reason, classification: null, organ, nodal, ai, reader: null });
      return;
    }
    // classification
    let cls: Classification;
    if (isBaseline) {
      cls = l.classification ?? (undefined as never);
      if (cls !== 'target' && cls !== 'non-target') throw invalid(`${where}: at the baseline every kept lesion is classified 'target' or 'non-target'`);
    } else if (base) {
      if (l.classification && l.classification !== base.classification) throw invalid(`${where}: ${label} was a ${base.classification} lesion at the baseline; its classification cannot change at a follow-up`);
      cls = base.classification;
    } else {
      if (l.classification && l.classification !== 'new') throw invalid(`${where}: ${label} was not a baseline lesion: at a follow-up it can only be a 'new' lesion (or be rejected)`);
      cls = 'new';
    }
    if (cls === 'target' && !organ) throw invalid(`${where}: a target lesion needs its organ (max 2 targets per organ)`);
    // value
    const volId = l.volumeId ?? ai?.volumeId ?? ctx.volumes[0]?.volumeId;
    const vol = () => {
      const v = volId ? volumes.get(volId) : undefined;
      if (!v) throw invalid(`${where}: volume ${volId ?? '(none)'} is not an image of timepoint ${ctx.timePointId}`);
      return v;
    };
    let longAxis: Axis | null = null;
    let shortAxis: Axis | null = null;
    let longMm: number | null = null;
    let shortMm: number | null = null;
    let from: ReaderValue['from'] = 'none';
    if (l.decision === 'edit' || l.decision === 'add') {
      if (l.longAxis) longAxis = measureAxis(vol(), l.longAxis, `${where}.longAxis`);
      if (l.shortAxis) shortAxis = measureAxis(vol(), l.shortAxis, `${where}.shortAxis`);
      if (l.decision === 'edit' && !longAxis && !shortAxis && l.value === undefined && l.status === undefined && l.classification === undefined && l.organ === undefined && l.nodal === undefined)
        throw invalid(`${where}: 'edit' changes something: new axis end points (longAxis / shortAxis), a value, a status, the organ or the classification`);
      longMm = longAxis?.lengthMm ?? (l.decision === 'edit' ? ai?.longAxisMm ?? null : null);
      shortMm = shortAxis?.lengthMm ?? (l.decision === 'edit' ? ai?.shortAxisMm ?? null : null);
      from = longAxis || shortAxis ? 'reader' : l.decision === 'edit' && (longMm !== null || shortMm !== null) ? 'ai' : 'none';
    } else if (ai && ai.present) {
      longMm = ai.longAxisMm;
      shortMm = ai.shortAxisMm;
      from = longMm !== null || shortMm !== null ? 'ai' : 'none';
    }
    if (longAxis && shortAxis && shortAxis.lengthMm > longAxis.lengthMm + 1e-9) throw invalid(`${where}: the short axis (${shortAxis.lengthMm} mm) is longer than the long axis (${longAxis.lengthMm} mm)`);
    const diameterMm = nodal ? shortMm : longMm;
    let value: TargetValue | null = null;
    let status: NonTargetStatus | null = null;
    let equivocal = false;
    if (cls === 'target') {
      if (l.value !== undefined) {
        if (isBaseline) throw invalid(`${where}: a baseline target lesion is measured (${l.value} is for follow-ups)`);
        value = l.value;
        longMm = shortMm = null;
      } else if (ai && !ai.present && l.decision === 'accept') value = 'DISAPPEARED';
      else if (diameterMm !== null) value = 'MEASURED';
      else throw invalid(`${where}: target ${label} needs a measurement: ${nodal ? 'the short axis (nodal lesion)' : 'the long axis'} (edit with axis end points), or at a follow-up a value (${SPECIAL.join(' / ')})`);
    } else if (cls === 'non-target') {
      status = l.status ?? (isBaseline ? 'PRESENT' : ai ? (ai.present ? 'PRESENT' : 'ABSENT') : null);
      if (!status) throw invalid(`${where}: non-target ${label} needs a status (${NT_STATUS.join(', ')})`);
      if (isBaseline && status !== 'PRESENT') throw invalid(`${where}: a baseline non-target lesion is PRESENT`);
    } else {
      equivocal = l.equivocal === true;
      if (ai && !ai.present && l.decision === 'accept') throw invalid(`${where}: the AI reports ${label} absent here; a new lesion must be present (reject the proposal instead)`);
    }
    const measured = value === 'MEASURED' || (cls !== 'target' && (longMm !== null || shortMm !== null));
    const dmm = measured ? (nodal ? shortMm : longMm) : null;
    out.push({
      lesionKey,
      label,
      proposalId: p?.id ?? null,
      decision: l.decision,
      reason,
      classification: cls,
      organ,
      nodal,
      ai,
      reader: {
        value,
        longAxisMm: longMm === null ? null : round3(longMm),
        shortAxisMm: shortMm === null ? null : round3(shortMm),
        diameterMm: dmm === null ? null : round3(dmm),
        diameterTenths: dmm === null ? null : tenths(dmm),
        status,
        equivocal,
        longAxis,
        shortAxis,
        volumeId: longAxis || shortAxis ? volId ?? null : ai?.volumeId ?? null,
        from,
      },
    });
  });
  const missing = ctx.proposals.filter((p) => !decided.has(p.id));
  if (missing.length)
    throw invalid(`every AI proposal of timepoint ${ctx.timePointId} needs a decision (accept, edit or reject): ${missing.length} undecided (${missing.map((p) => p.tracking_id ?? p.id).join(', ')})`, { undecided: missing.map((p) => p.id) });
  if (!isBaseline) {
    const absent = [...ctx.baseline.values()].filter((b) => !keys.has(b.lesionKey));
    if (absent.length)
      throw invalid(`timepoint ${ctx.timePointId}: every baseline lesion needs an assessment at a follow-up; missing: ${absent.map((b) => `${b.label} (${b.classification})`).join(', ')}. Measure it (add with its lesionKey), or give a value (targets: ${SPECIAL.join(' / ')}) or a status (non-targets)`, { missing: absent.map((b) => b.lesionKey) });
  }
  if (input.newLesions !== undefined && !NEW_LESIONS.includes(input.newLesions)) throw invalid(`newLesions must be one of ${NEW_LESIONS.join(', ')}`);
  if (input.nonTargetResponse !== undefined && input.nonTargetResponse !== null && !(NON_TARGET_RESPONSES as readonly string[]).includes(input.nonTargetResponse)) throw invalid(`nonTargetResponse must be one of ${NON_TARGET_RESPONSES.join(', ')}`);
  if (input.overallResponse !== undefined && input.overallResponse !== null && !(OVERALL_RESPONSES as readonly string[]).includes(input.overallResponse)) throw invalid(`overallResponse must be one of ${OVERALL_RESPONSES.join(', ')}`);
  const news = out.filter((l) => l.classification === 'new');
  const derivedNew: NewLesions = news.some((l) => !l.reader!.equivocal) ? 'YES' : news.length ? 'EQUIVOCAL' : 'NO';
  const newLesions = input.newLesions ?? derivedNew;
  if (isBaseline && newLesions !== 'NO') throw invalid('the baseline has no new lesions');
  if (newLesions === 'NO' && news.length) throw invalid(`newLesions is NO but ${news.length} lesion(s) are classified new (${news.map((l) => l.label).join(', ')})`);
  return {
    timePointId: ctx.timePointId,
    ordinal: ctx.ordinal,
    visit: isBaseline ? 'BASELINE' : ctx.timePointId,
    date: ctx.date,
    dayFromBaseline: ctx.dayFromBaseline,
    lesions: out,
    newLesions,
    nonTargetResponse: input.nonTargetResponse ?? null,
    overallResponse: input.overallResponse ?? null,
    comment: checkText(input.comment, 'comment', 4000),
  };
}

/** The baseline's target and non-target lesions by key. */
export function baselineLesions(baseline: StoredTimepoint | undefined): Map<string, BaselineLesion> {
  const m = new Map<string, BaselineLesion>();
  for (const l of baseline?.lesions ?? [])
    if (l.classification === 'target' || l.classification === 'non-target') m.set(l.lesionKey, { lesionKey: l.lesionKey, label: l.label, classification: l.classification, organ: l.organ, nodal: l.nodal });
  return m;
}
