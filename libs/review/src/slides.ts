import { invalid } from './errors';

/**
 * Slide metrics review (issue 12 §4, slide viewer): the reader accepts or overrides each AI pathology metric of a slide
 * with a reason. The metrics and their units are the AI's (libs/pathology slideMetrics):
 *
 * | metric | meaning | unit / range |
 * |---|---|---|
 * | `stromalTilPercent` | stromal tumour-infiltrating lymphocytes (TIL %) | percent, 0..100 |
 * | `tumourFraction` | tumour area / tissue area | fraction, 0..1 |
 * | `tumourBedCellularity` | tumour-bed cellularity | fraction, 0..1 |
 */
export const SLIDE_METRICS = [
  { key: 'stromalTilPercent', label: 'TIL %', unit: 'percent', min: 0, max: 100 },
  { key: 'tumourFraction', label: 'Tumour fraction', unit: 'fraction', min: 0, max: 1 },
  { key: 'tumourBedCellularity', label: 'Cellularity', unit: 'fraction', min: 0, max: 1 },
] as const;
export type SlideMetricKey = (typeof SLIDE_METRICS)[number]['key'];
export type SlideMetricDecision = 'accept' | 'override' | 'not-evaluable';
const DECISIONS: SlideMetricDecision[] = ['accept', 'override', 'not-evaluable'];

/** One metric in a slide save (the request body). */
export interface SlideMetricInput {
  decision: SlideMetricDecision;
  /** The reader's value (override), in the metric's unit. */
  value?: number;
  /** Required for override and not-evaluable; an optional note for accept. */
  reason?: string;
}

export interface SlideAssessmentInput {
  /** The AI slide proposal decided on (as shown in the case view); required when the slide has an AI proposal. */
  proposalId?: string | null;
  /** Every metric decided: accept, override (value + reason) or not-evaluable (reason). */
  metrics: Partial<Record<SlideMetricKey, SlideMetricInput>>;
  comment?: string;
}

/** What the AI proposed for a slide, copied into the read (the proposal row itself is immutable too). */
export interface SlideAiSnapshot {
  proposalId: string;
  runId: string;
  model: { id: string; version: string; sha256: string };
  values: Record<SlideMetricKey, number | null>;
}

/** One metric as stored: the AI proposal's value and the value the reader signs. */
export interface StoredSlideMetric {
  metric: SlideMetricKey;
  unit: 'percent' | 'fraction';
  decision: SlideMetricDecision;
  /** The AI's value (null: no AI proposal, or the AI gave none, e.g. no tissue). */
  ai: number | null;
  /** The reader's value: the AI's when accepted, their own when overridden, null when not evaluable. */
  reader: number | null;
  reason: string | null;
}

export interface StoredSlideAssessment {
  slideId: string;
  ai: SlideAiSnapshot | null;
  metrics: StoredSlideMetric[];
  comment: string | null;
}

/** An AI slide proposal row, as the normaliser needs it. */
export interface SlideProposalRow {
  id: string;
  run_id: string;
  slide_id: string | null;
  values: Record<string, unknown>;
  model: { id: string; version: string; sha256: string };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function slideAiSnapshot(p: SlideProposalRow): SlideAiSnapshot {
  return {
    proposalId: p.id,
    runId: p.run_id,
    model: p.model,
    values: Object.fromEntries(SLIDE_METRICS.map((m) => [m.key, num(p.values[m.key])])) as Record<SlideMetricKey, number | null>,
  };
}

function reasonOf(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid(`${where}.reason must be text`);
  const t = v.trim();
  if (t.length > 2000) throw invalid(`${where}.reason: at most 2000 characters`);
  return t || null;
}

/**
 * Checks a slide save and turns it into the stored assessment: the proposal decided on is the slide's, every metric
 * decided once; accept needs an AI value; override needs a value in range and a reason; not-evaluable needs a reason.
 * Throws ReviewError 400 (`review.invalid`) naming the first problem.
 */
export function normaliseSlideAssessment(input: SlideAssessmentInput, ctx: { slideId: string; proposal: SlideProposalRow | null }): StoredSlideAssessment {
  if (!input || typeof input !== 'object' || !input.metrics || typeof input.metrics !== 'object' || Array.isArray(input.metrics))
    throw invalid('body: { version, proposalId, metrics: { stromalTilPercent, tumourFraction, tumourBedCellularity } } expected');
  const known = new Set<string>(SLIDE_METRICS.map((m) => m.key));
  const unknown = Object.keys(input.metrics).filter((k) => !known.has(k));
  if (unknown.length) throw invalid(`metrics: unknown metric(s) ${unknown.join(', ')}; the metrics are ${SLIDE_METRICS.map((m) => m.key).join(', ')}`);
  const ai = ctx.proposal ? slideAiSnapshot(ctx.proposal) : null;
  const metrics: StoredSlideMetric[] = SLIDE_METRICS.map((m) => {
    const where = `metrics.${m.key}`;
    const x = input.metrics[m.key];
    if (!x || typeof x !== 'object') throw invalid(`${where}: every metric needs a decision (accept, override with a value and a reason, or not-evaluable with a reason)`, { metric: m.key });
    if (!DECISIONS.includes(x.decision)) throw invalid(`${where}.decision must be one of ${DECISIONS.join(', ')}`, { metric: m.key });
    const reason = reasonOf(x.reason, where);
    const aiValue = ai ? ai.values[m.key] : null;
    let reader: number | null;
    if (x.decision === 'accept') {
      if (x.value !== undefined && x.value !== null) throw invalid(`${where}: accept takes the AI's value; send decision 'override' with your value instead`, { metric: m.key });
      if (!ai) throw invalid(`${where}: there is no AI proposal for this slide to accept: override with your value, or mark it not-evaluable`, { metric: m.key });
      if (aiValue === null) throw invalid(`${where}: the AI gave no ${m.label} for this slide: override with your value, or mark it not-evaluable`, { metric: m.key });
      reader = aiValue;
    } else if (x.decision === 'override') {
      if (typeof x.value !== 'number' || !Number.isFinite(x.value)) throw invalid(`${where}.value: overriding needs your value (a number, ${m.unit} ${m.min}..${m.max})`, { metric: m.key });
      if (x.value < m.min || x.value > m.max) throw invalid(`${where}.value ${x.value} is outside ${m.min}..${m.max} (${m.label} is a ${m.unit})`, { metric: m.key });
      if (!reason) throw invalid(`${where}: overriding the AI's ${m.label} needs a reason`, { metric: m.key });
      reader = x.value;
    } else {
      if (x.value !== undefined && x.value !== null) throw invalid(`${where}: not-evaluable has no value`, { metric: m.key });
      if (!reason) throw invalid(`${where}: marking ${m.label} not evaluable needs a reason`, { metric: m.key });
      reader = null;
    }
    return { metric: m.key, unit: m.unit, decision: x.decision, ai: aiValue, reader, reason };
  });
  let comment: string | null = null;
  if (input.comment !== undefined && input.comment !== null) {
    if (typeof input.comment !== 'string') throw invalid('comment must be text');
    if (input.comment.trim().length > 4000) throw invalid('comment: at most 4000 characters');
    comment = input.comment.trim() || null;
  }
  return { slideId: ctx.slideId, ai, metrics, comment };
}
