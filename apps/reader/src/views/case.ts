/**
 * The reading page of one case: timepoints in order (baseline first), the CT viewer (baseline and follow-up side by
 * side, synchronised scrolling), the AI proposals to accept / edit / reject, lesions the AI missed to add, the
 * timepoint save, the live RECIST table (from the review API, computed by libs/endpoints on the server) and the
 * Part 11 signature. Slides are a tab of the same case (#/case/<id>/slides).
 */
import { ApiError, authHeaders } from '../api';
import { outlinesByTrackingUid } from '../ct/contours';
import { loadSeries, type LoadedSeries } from '../ct/cornerstone';
import { linkScrolling } from '../ct/sync';
import { CtViewer, type OverlayLesion, PRESETS, type PresetName } from '../ct/viewer';
import { fmtDate, fmtMm, h, render, toast } from '../dom';
import { navigate } from '../nav';
import { registerShortcuts, toggleHelp } from '../shortcuts';
import {
  type Assessment,
  type CaseView,
  type Classification,
  type Decision,
  type LesionInput,
  type NonTargetStatus,
  type Proposal,
  requestId,
  review,
  type StoredLesion,
  type TargetValue,
  type Timepoint,
  type Vec3,
} from '../review';
import { recistTable, signatureBanner } from './recist';
import { openSignDialog } from './sign';
import { showSlides } from './slides';

export const ORGANS = ['LIVER', 'LUNG', 'LYMPH NODE', 'ADRENAL', 'KIDNEY', 'PANCREAS', 'SPLEEN', 'BONE', 'BRAIN', 'PERITONEUM', 'PLEURA', 'SOFT TISSUE', 'OTHER'];
const NT_STATUS: NonTargetStatus[] = ['PRESENT', 'ABSENT', 'UNEQUIVOCAL_PROGRESSION', 'NOT_ASSESSED'];

export interface DraftLesion {
  key: string;
  proposalId?: string;
  lesionKey?: string;
  trackingUid?: string | null;
  label: string;
  organ: string;
  nodal: boolean;
  classification: Classification | null;
  /** Class inherited from the baseline (follow-ups): not editable. */
  fixedClass: boolean;
  decision: Decision | null;
  reason: string;
  long: [Vec3, Vec3] | null;
  short: [Vec3, Vec3] | null;
  longMm: number | null;
  shortMm: number | null;
  ai: { longMm: number | null; shortMm: number | null; present: boolean; measurable: boolean | null; long: [Vec3, Vec3] | null; short: [Vec3, Vec3] | null } | null;
  /** A baseline lesion with no AI proposal at this follow-up: measure it, or give a value / status. */
  needsAssessment: boolean;
  value?: TargetValue;
  status?: NonTargetStatus;
  equivocal?: boolean;
  contours: Vec3[][];
}

const axisOf = (a: { p1Mm: Vec3; p2Mm: Vec3 } | null | undefined): [Vec3, Vec3] | null => (a && a.p1Mm && a.p2Mm ? [a.p1Mm, a.p2Mm] : null);
const isBaseline = (tp: Timepoint) => tp.ordinal === 0;

/** The draft of a timepoint: its saved assessment, or its AI proposals (undecided) and the baseline lesions to assess. */
export function draftOf(cv: CaseView, tp: Timepoint): DraftLesion[] {
  const proposals = new Map((tp.proposals ?? []).map((p) => [p.proposalId, p]));
  const baseline = new Map(cv.baselineLesions.map((b) => [b.lesionKey, b]));
  if (tp.assessment) return tp.assessment.lesions.map((l) => fromStored(l, proposals.get(l.proposalId ?? '')));
  const out: DraftLesion[] = [];
  const seen = new Set<string>();
  // a default the reader can change (the server enforces RECIST): measurable lesions are targets, at most 5, 2 per organ
  let targets = 0;
  const perOrgan = new Map<string, number>();
  for (const p of tp.proposals ?? []) {
    const v = p.values;
    const b = baseline.get(p.lesionKey);
    if (b) seen.add(b.lesionKey);
    let classification: Classification | null;
    if (isBaseline(tp)) classification = v.measurable && v.present && targets < 5 && (perOrgan.get(v.organ) ?? 0) < 2 ? 'target' : 'non-target';
    else classification = b ? b.classification : 'new';
    if (classification === 'target' && isBaseline(tp)) {
      targets++;
      perOrgan.set(v.organ, (perOrgan.get(v.organ) ?? 0) + 1);
    }
    out.push({
      key: p.proposalId,
      proposalId: p.proposalId,
      lesionKey: p.lesionKey,
      trackingUid: p.trackingUid,
      label: p.trackingId ?? v.trackingId ?? 'AI lesion',
      organ: v.organ,
      nodal: v.nodal,
      classification,
      fixedClass: !isBaseline(tp) && !!b,
      decision: null,
      reason: '',
      long: axisOf(v.longAxis),
      short: axisOf(v.shortAxis),
      longMm: v.longAxisMm,
      shortMm: v.shortAxisMm,
      ai: { longMm: v.longAxisMm, shortMm: v.shortAxisMm, present: v.present, measurable: v.measurable, long: axisOf(v.longAxis), short: axisOf(v.shortAxis) },
      needsAssessment: false,
      status: classification === 'non-target' && !isBaseline(tp) ? (v.present ? 'PRESENT' : 'ABSENT') : undefined,
      contours: [],
    });
  }
  if (!isBaseline(tp))
    for (const b of cv.baselineLesions)
      if (!seen.has(b.lesionKey))
        out.push({ key: b.lesionKey, lesionKey: b.lesionKey, label: b.label, organ: b.organ, nodal: b.nodal, classification: b.classification, fixedClass: true, decision: null, reason: '', long: null, short: null, longMm: null, shortMm: null, ai: null, needsAssessment: true, contours: [] });
  return out;
}

function fromStored(l: StoredLesion, p: Proposal | undefined): DraftLesion {
  const r = l.reader;
  const long = axisOf(r?.longAxis) ?? axisOf(l.ai?.longAxis as never) ?? axisOf(p?.values.longAxis);
  const short = axisOf(r?.shortAxis) ?? axisOf(l.ai?.shortAxis as never) ?? axisOf(p?.values.shortAxis);
  return {
    key: l.proposalId ?? l.lesionKey,
    proposalId: l.proposalId ?? undefined,
    lesionKey: l.lesionKey,
    trackingUid: p?.trackingUid ?? null,
    label: l.label,
    organ: l.organ,
    nodal: l.nodal,
    classification: l.classification,
    fixedClass: true,
    decision: l.decision,
    reason: l.reason ?? '',
    long,
    short,
    longMm: r?.longAxisMm ?? l.ai?.longAxisMm ?? null,
    shortMm: r?.shortAxisMm ?? l.ai?.shortAxisMm ?? null,
    ai: l.ai ? { longMm: l.ai.longAxisMm, shortMm: l.ai.shortAxisMm, present: l.ai.present ?? true, measurable: (l.ai.measurable as boolean | undefined) ?? null, long: axisOf(l.ai.longAxis as never), short: axisOf(l.ai.shortAxis as never) } : null,
    needsAssessment: !l.proposalId && l.decision === 'add' && !!r?.value && r.value !== 'MEASURED',
    value: r?.value && r.value !== 'MEASURED' ? (r.value as TargetValue) : undefined,
    status: r?.status ?? undefined,
    equivocal: r?.equivocal,
    contours: [],
  };
}

/** The timepoint save body from the draft; throws a message for what is still missing. */
export function inputsOf(tp: Timepoint, draft: DraftLesion[]): LesionInput[] {
  const out: LesionInput[] = [];
  const missing: string[] = [];
  for (const l of draft) {
    const measured = l.long && l.short ? { longAxis: { p1: { mm: l.long[0] }, p2: { mm: l.long[1] } }, shortAxis: { p1: { mm: l.short[0] }, p2: { mm: l.short[1] } } } : {};
    const cls = l.classification ?? undefined;
    const nt = cls === 'non-target' && !isBaseline(tp) ? { status: l.status ?? 'PRESENT' } : {};
    if (l.proposalId) {
      if (!l.decision) {
        missing.push(`${l.label}: accept, edit or reject the AI proposal`);
        continue;
      }
      if (l.decision === 'reject') {
        if (!l.reason.trim()) missing.push(`${l.label}: a reason is required to reject`);
        out.push({ proposalId: l.proposalId, decision: 'reject', reason: l.reason.trim() });
        continue;
      }
      out.push({ proposalId: l.proposalId, decision: l.decision, ...(l.reason.trim() ? { reason: l.reason.trim() } : {}), ...(cls && !l.fixedClass ? { classification: cls } : {}), ...(l.decision === 'edit' ? measured : {}), ...nt });
      continue;
    }
    if (l.needsAssessment && !(l.long && l.short)) {
      if (cls === 'target' && !l.value) missing.push(`${l.label}: measure it (N) or set disappeared / too small / not assessed`);
      if (cls === 'target' && l.value) out.push({ decision: 'add', lesionKey: l.lesionKey, value: l.value, ...(l.reason.trim() ? { reason: l.reason.trim() } : {}) });
      if (cls === 'non-target') out.push({ decision: 'add', lesionKey: l.lesionKey, status: l.status ?? 'NOT_ASSESSED' });
      continue;
    }
    if (!l.long || !l.short) {
      missing.push(`${l.label}: draw its axes`);
      continue;
    }
    if (!cls) missing.push(`${l.label}: choose target, non-target or new`);
    out.push({
      decision: 'add',
      ...(l.lesionKey ? { lesionKey: l.lesionKey } : {}),
      ...(cls && !l.lesionKey ? { classification: cls } : {}),
      organ: l.organ,
      nodal: l.nodal,
      ...measured,
      ...(cls === 'new' && l.equivocal ? { equivocal: true } : {}),
      ...(l.reason.trim() ? { reason: l.reason.trim() } : {}),
      ...nt,
    });
  }
  if (missing.length) throw new Error(missing.join('\n'));
  return out;
}

const stateOf = (l: DraftLesion): OverlayLesion['state'] => (l.decision === null ? 'proposed' : l.decision === 'accept' ? 'accepted' : l.decision === 'edit' ? 'edited' : l.decision === 'reject' ? 'rejected' : 'added');

/** The series to show for a timepoint: its selected volume's series (the grid the server measures on). */
function seriesOf(tp: Timepoint): { studyUid: string; seriesUid: string; volumeId?: string } | null {
  const vol = tp.volumes.find((v) => v.selected) ?? tp.volumes[0];
  for (const st of tp.studies) {
    const se = vol ? st.series.find((s) => s.seriesInstanceUid === vol.seriesInstanceUid) : st.series.find((s) => s.selected) ?? st.series[0];
    if (se) return { studyUid: st.studyInstanceUid, seriesUid: se.seriesInstanceUid, volumeId: vol?.volumeId };
  }
  return null;
}

async function outlines(readingId: string, tp: Timepoint): Promise<Map<string, Vec3[][]>> {
  try {
    const r = await fetch(`/v1/ai/subjects/${encodeURIComponent(readingId)}/timepoints/${encodeURIComponent(tp.timePointId)}/seg.dcm`, { headers: authHeaders() });
    if (!r.ok) return new Map();
    return outlinesByTrackingUid(await r.arrayBuffer());
  } catch {
    return new Map();
  }
}

export async function showCase(main: HTMLElement, caseId: string, tpParam?: string): Promise<() => void> {
  if (tpParam === 'slides') return showSlides(main, caseId);
  const cv = await review.openCase(caseId);
  const signed = cv.read.status === 'signed';
  const tps = [...cv.timepoints].sort((a, b) => a.ordinal - b.ordinal);
  const current = tps.find((t) => t.timePointId === tpParam) ?? tps.find((t) => t.state === 'next') ?? tps[tps.length - 1]!;
  const baselineTp = tps[0]!;
  const editable = !signed && current.state !== 'locked';
  let version = cv.read.version;
  // unsaved edits survive a re-login (expired token) or a reload: kept per case, timepoint and read version
  const draftKey = `bicr.draft.${caseId}.${current.timePointId}.${cv.read.readId}.${version}`;
  let draft = draftOf(cv, current);
  const kept = editable ? sessionStorage.getItem(draftKey) : null;
  if (kept) {
    try {
      const k = JSON.parse(kept) as { draft: DraftLesion[] };
      if (Array.isArray(k.draft) && k.draft.length) {
        draft = k.draft;
        setTimeout(() => toast('Your unsaved edits of this timepoint were restored', 'info'));
      }
    } catch {
      sessionStorage.removeItem(draftKey);
    }
  }
  let selected = draft.findIndex((l) => l.decision === null);
  if (selected < 0) selected = 0;
  let newCount = draft.filter((l) => !l.proposalId && !l.lesionKey).length;
  let dirty = !!kept;
  let sync = true;
  let saving = false;
  let recist = cv.recist;
  let newLesionsOverride: '' | 'YES' | 'NO' | 'EQUIVOCAL' = '';
  const savedNewLesions = current.assessment?.newLesions ?? null;
  let comment = current.assessment?.comment ?? '';

  // --- layout --------------------------------------------------------------------------------------------------
  const tabs = h(
    'nav',
    { class: 'tp-tabs', 'aria-label': 'Timepoints' },
    tps.map((t) =>
      h(
        'a',
        { class: `tp-tab ${t === current ? 'active' : ''} tp-${t.state ?? 'saved'}`, href: t.state === 'locked' ? undefined : `#/case/${caseId}/${t.timePointId}`, title: t.state === 'locked' ? 'Save the earlier timepoints first (RECIST: baseline first)' : '', dataset: { tp: t.timePointId } },
        h('strong', null, t.ordinal === 0 ? 'Baseline' : `FU${t.ordinal}`),
        h('span', null, fmtDate(t.date)),
        h('span', { class: 'tp-state' }, t.state === 'saved' ? '✓ saved' : t.state === 'next' ? 'to read' : t.state === 'locked' ? 'locked' : ''),
      ),
    ),
    h('a', { class: 'tp-tab', href: `#/case/${caseId}/slides` }, h('strong', null, 'Slides'), h('span', null, 'pathology')),
  );
  const signBtn = h('button', { class: 'btn btn-primary', id: 'sign-read', disabled: signed || tps.some((t) => t.state !== 'saved') }, signed ? 'Signed' : 'Sign read…');
  const head = h(
    'div',
    { class: 'case-head' },
    h('a', { class: 'btn btn-ghost', href: '#/worklist', title: 'Back to the worklist' }, '←'),
    h('div', { class: 'case-title' }, h('span', { class: 'mono subject' }, cv.readingId), h('span', { class: 'muted' }, `case ${cv.order + 1} · ${cv.studyId} · read rev. ${cv.read.revision}`)),
    tabs,
    h('span', { class: 'spacer' }),
    h('button', { class: 'btn btn-ghost', onclick: toggleHelp, title: 'Keyboard shortcuts (?)' }, '?'),
    signBtn,
  );

  const presetBtns = (Object.keys(PRESETS) as PresetName[]).map((p, i) => h('button', { class: 'btn btn-small preset', dataset: { preset: p }, title: `W ${PRESETS[p].width} / L ${PRESETS[p].center} (${i + 1})`, onclick: () => setPreset(p) }, `${i + 1} ${p}`));
  const syncBtn = h('button', { class: 'btn btn-small toggle on', title: 'Synchronised scrolling (S)', onclick: () => toggleSync() }, 'Sync');
  const addBtn = h('button', { class: 'btn btn-small', id: 'add-lesion', disabled: !editable, title: 'Add a lesion the AI missed: draw its long axis on the image (N)', onclick: () => startAdd() }, '+ Add lesion');
  const toolbar = h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, 'Window'), presetBtns, h('span', { class: 'sep' }), syncBtn, h('button', { class: 'btn btn-small', title: 'Reset zoom and pan (0)', onclick: () => viewers.forEach((v) => v.resetView()) }, 'Reset'), h('span', { class: 'sep' }), addBtn);
  const grid = h('div', { class: `ct-grid ${isBaseline(current) ? 'single' : ''}` });
  const lesionPanel = h('section', { class: 'panel lesions', id: 'lesions' });
  const callsPanel = h('section', { class: 'panel calls' });
  const recistPanel = h('section', { class: 'panel recist', id: 'recist' });
  const saveBtn = h('button', { class: 'btn btn-primary', id: 'save-timepoint', disabled: !editable, onclick: () => void save() }, current.state === 'saved' ? 'Save changes' : 'Save timepoint');
  const side = h(
    'aside',
    { class: 'case-side' },
    signed && cv.read.signature ? signatureBanner(cv.read.signature) : null,
    cv.read.correctionReason ? h('div', { class: 'notice' }, `Correction (revision ${cv.read.revision}): ${cv.read.correctionReason}`) : null,
    lesionPanel,
    callsPanel,
    h('div', { class: 'save-row' }, saveBtn, h('span', { class: 'muted', id: 'save-state' }, '')),
    recistPanel,
  );
  render(main, h('div', { class: 'case' }, head, h('div', { class: 'case-body' }, h('div', { class: 'case-images' }, toolbar, grid), side)));

  // --- viewers -------------------------------------------------------------------------------------------------
  const viewers: CtViewer[] = [];
  const work = new CtViewer('vp-current', `${isBaseline(current) ? 'Baseline' : `Follow-up ${current.ordinal}`} · ${fmtDate(current.date)}`, { editable });
  let ref: CtViewer | null = null;
  if (!isBaseline(current)) {
    ref = new CtViewer('vp-baseline', `Baseline · ${fmtDate(baselineTp.date)} (reference)`, { editable: false });
    grid.appendChild(ref.root);
    viewers.push(ref);
  }
  grid.appendChild(work.root);
  viewers.push(work);
  for (const v of viewers) await v.mount();

  const se = seriesOf(current);
  if (!se) throw new Error('this timepoint has no image series');
  const [series, refSeries, segs, refSegs] = await Promise.all([
    loadSeries(se.studyUid, se.seriesUid),
    ref ? (() => { const b = seriesOf(baselineTp); return b ? loadSeries(b.studyUid, b.seriesUid) : Promise.resolve(null); })() : Promise.resolve(null),
    outlines(cv.readingId, current),
    ref ? outlines(cv.readingId, baselineTp) : Promise.resolve(new Map<string, Vec3[][]>()),
  ]);
  for (const l of draft) l.contours = (l.trackingUid && segs.get(l.trackingUid)) || [];
  const first = draft.find((l) => l.long) ?? draft[0];
  const startIdx = first?.long ? series.z.length && indexNear(series, first.long[0][2]) : Math.floor(series.imageIds.length / 2);
  await work.show(series, startIdx);
  if (ref && refSeries) {
    await ref.show(refSeries, indexNear(refSeries, series.z[startIdx]!));
    ref.setLesions(baselineOverlay(cv, baselineTp, refSegs));
  }
  work.setLesions(draft.map(overlayOf));
  work.onAxesChanged = (c) => {
    const l = draft.find((x) => x.key === c.key);
    if (!l || !editable) return;
    l.long = c.long;
    l.short = c.short;
    l.longMm = round1(c.longMm);
    l.shortMm = round1(c.shortMm);
    if (l.proposalId && l.decision !== 'reject') l.decision = 'edit';
    markDirty();
    work.restyle(overlayOf(l));
    scheduleRender();
  };
  let renderPending = false;
  const scheduleRender = () => {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(() => {
      renderPending = false;
      renderLesions();
    });
  };
  // synchronised scrolling by table position (z), while the Sync button is on
  if (ref) linkScrolling([work, ref], () => sync);
  (window as unknown as { bicr: unknown }).bicr = {
    viewers,
    draft: () => draft,
    work,
    ref,
    /** Page coordinates of a lesion's axis end point (0, 1: long axis; 2, 3: short axis) on the working viewer. */
    handlePage: (label: string, i: number) => {
      const l = draft.find((x) => x.label === label);
      const pts = l && work.handles(l.key);
      return pts ? work.toPage(pts[i]!) : null;
    },
    worldToPage: (p: Vec3) => work.toPage(p),
    toolStats: (label: string) => {
      const l = draft.find((x) => x.label === label);
      return l ? work.toolStats(l.key) : null;
    },
  };

  // --- panels --------------------------------------------------------------------------------------------------
  function overlayOf(l: DraftLesion): OverlayLesion {
    return { key: l.key, label: l.label, classification: l.classification, state: stateOf(l), long: l.long, short: l.short, longMm: l.longMm, shortMm: l.shortMm, contours: l.contours, editable: editable && l.decision !== 'reject' };
  }

  function renderLesions() {
    const undecided = draft.filter((l) => l.proposalId && !l.decision).length;
    render(
      lesionPanel,
      h('h2', null, 'Lesions', h('span', { class: 'muted' }, ` · ${isBaseline(current) ? 'baseline: choose targets (≤ 5, ≤ 2 per organ) and non-targets' : 'follow-up: baseline lesions by tracking identity'}`)),
      undecided ? h('div', { class: 'hint' }, `${undecided} AI proposal${undecided > 1 ? 's' : ''} to decide`) : null,
      h('ol', { class: 'lesion-list' }, draft.map((l, i) => lesionCard(l, i))),
      !draft.length ? h('p', { class: 'muted' }, 'The AI proposed no lesion here. Add lesions with N (draw the long axis; the short axis follows).') : null,
    );
  }

  function lesionCard(l: DraftLesion, i: number): HTMLElement {
    const st = stateOf(l);
    const ro = !editable;
    const btn = (d: Decision, text: string, key: string) =>
      h('button', { class: `btn btn-small decision ${l.decision === d ? 'chosen' : ''}`, disabled: ro, title: `${text} (${key})`, dataset: { decision: d }, onclick: (e: Event) => (e.stopPropagation(), decide(i, d)) }, text);
    const clsSel = l.fixedClass
      ? h('span', { class: `cls cls-${l.classification}` }, l.classification ?? '')
      : h(
          'select',
          { class: 'cls-select', disabled: ro, onchange: (e: Event) => ((l.classification = (e.target as HTMLSelectElement).value as Classification), markDirty(), work.updateLesion(overlayOf(l)), renderLesions()) },
          (isBaseline(current) ? (['target', 'non-target'] as Classification[]) : (['new'] as Classification[])).map((c) => h('option', { value: c, selected: l.classification === c }, c)),
        );
    return h(
      'li',
      { class: `lesion-card state-${st} ${i === selected ? 'selected' : ''}`, dataset: { key: l.key, label: l.label }, onclick: () => select(i) },
      h('div', { class: 'lc-head' }, h('span', { class: 'chip' }), h('strong', { class: 'lc-label' }, l.label), clsSel, h('span', { class: 'organ' }, l.organ + (l.nodal ? ' (node)' : ''))),
      l.ai
        ? h('div', { class: 'lc-values' }, h('span', { class: 'muted' }, 'AI'), l.ai.present ? `L ${fmtMm(l.ai.longMm)} · S ${fmtMm(l.ai.shortMm)}` : 'not seen (disappeared?)', l.ai.measurable === false && l.ai.present ? h('span', { class: 'muted' }, ' · not measurable') : null)
        : null,
      l.value && !l.long
        ? h('div', { class: 'lc-values reader' }, h('span', { class: 'muted' }, 'Reader'), l.value.replace('_', ' ').toLowerCase())
        : l.decision === 'edit' || l.decision === 'add' || (l.long && !l.ai)
          ? h('div', { class: 'lc-values reader' }, h('span', { class: 'muted' }, 'Reader'), `L ${fmtMm(l.longMm)} · S ${fmtMm(l.shortMm)}`)
          : null,
      l.proposalId ? h('div', { class: 'lc-actions' }, btn('accept', 'Accept', 'A'), btn('edit', 'Edit', 'E'), btn('reject', 'Reject', 'R')) : null,
      l.decision === 'reject' || (l.reason && l.proposalId)
        ? h('input', { class: 'reason', placeholder: 'Reason for rejecting (required)', value: l.reason, disabled: ro, oninput: (e: Event) => ((l.reason = (e.target as HTMLInputElement).value), markDirty()), onclick: (e: Event) => e.stopPropagation() })
        : null,
      l.decision === 'edit' ? h('div', { class: 'muted small' }, 'Drag the axis end points on the image; lengths are recomputed in mm.') : null,
      l.needsAssessment && l.classification === 'target'
        ? h(
            'div',
            { class: 'lc-actions' },
            h('button', { class: 'btn btn-small', disabled: ro, onclick: (e: Event) => (e.stopPropagation(), startAdd(l)) }, 'Measure'),
            (['DISAPPEARED', 'TOO_SMALL', 'NOT_ASSESSED'] as TargetValue[]).map((v) => h('button', { class: `btn btn-small ${l.value === v ? 'chosen' : ''}`, disabled: ro, onclick: (e: Event) => (e.stopPropagation(), (l.value = v), (l.long = l.short = null), markDirty(), renderLesions()) }, v.replace('_', ' ').toLowerCase())),
          )
        : null,
      l.classification === 'non-target' && !isBaseline(current)
        ? h('label', { class: 'inline' }, 'Status ', h('select', { disabled: ro, onchange: (e: Event) => ((l.status = (e.target as HTMLSelectElement).value as NonTargetStatus), markDirty()) }, NT_STATUS.map((s) => h('option', { value: s, selected: (l.status ?? 'PRESENT') === s }, s.replace(/_/g, ' ').toLowerCase()))))
        : null,
      !l.proposalId && !l.lesionKey
        ? h(
            'div',
            { class: 'lc-actions' },
            h('select', { class: 'organ-select', disabled: ro, title: 'Organ', onchange: (e: Event) => ((l.organ = (e.target as HTMLSelectElement).value), (l.nodal = l.organ === 'LYMPH NODE'), markDirty(), renderLesions()) }, ORGANS.map((o) => h('option', { value: o, selected: l.organ === o }, o))),
            l.classification === 'new' ? h('label', { class: 'inline' }, h('input', { type: 'checkbox', checked: !!l.equivocal, disabled: ro, onchange: (e: Event) => ((l.equivocal = (e.target as HTMLInputElement).checked), markDirty()) }), ' equivocal') : null,
            h('button', { class: 'btn btn-small btn-ghost', disabled: ro, onclick: (e: Event) => (e.stopPropagation(), removeAdded(i)) }, 'Remove'),
          )
        : null,
    );
  }

  function renderCalls() {
    const auto = isBaseline(current) ? '' : !editable && savedNewLesions ? savedNewLesions : `auto (${draft.some((l) => l.classification === 'new' && !l.equivocal && l.decision !== 'reject') ? 'YES' : draft.some((l) => l.classification === 'new' && l.decision !== 'reject') ? 'EQUIVOCAL' : 'NO'})`;
    render(
      callsPanel,
      !isBaseline(current)
        ? h('label', { class: 'inline' }, 'New lesions ', h('select', { disabled: !editable, onchange: (e: Event) => ((newLesionsOverride = (e.target as HTMLSelectElement).value as typeof newLesionsOverride), markDirty()) }, [['', auto], ['YES', 'YES'], ['NO', 'NO'], ['EQUIVOCAL', 'EQUIVOCAL']].map(([v, t]) => h('option', { value: v, selected: newLesionsOverride === v }, t!))))
        : null,
      h('textarea', { class: 'comment', rows: 2, placeholder: 'Comment (optional)', disabled: !editable, value: comment, oninput: (e: Event) => ((comment = (e.target as HTMLTextAreaElement).value), markDirty()) }),
    );
  }

  function renderRecist() {
    render(recistPanel, h('h2', null, 'RECIST 1.1', h('span', { class: 'muted' }, ' · computed by the endpoint engine on the server')), recist ? recistTable(recist, current.timePointId) : h('p', { class: 'muted' }, 'Save the baseline to see the table.'));
  }

  function markDirty() {
    dirty = true;
    document.getElementById('save-state')!.textContent = 'unsaved changes';
    try {
      sessionStorage.setItem(draftKey, JSON.stringify({ draft }));
    } catch {
      /* storage full: the edits stay on the page */
    }
  }

  function select(i: number, jump = true) {
    if (!draft.length) return;
    selected = (i + draft.length) % draft.length;
    renderLesions();
    lesionPanel.querySelector('.lesion-card.selected')?.scrollIntoView({ block: 'nearest' });
    if (jump) void work.goToLesion(draft[selected]!.key);
  }

  function decide(i: number, d: Decision) {
    const l = draft[i];
    if (!l?.proposalId || !editable) return;
    selected = i;
    if (d === 'accept') {
      l.decision = 'accept';
      l.long = l.ai?.long ?? l.long;
      l.short = l.ai?.short ?? l.short;
      l.longMm = l.ai?.longMm ?? null;
      l.shortMm = l.ai?.shortMm ?? null;
    } else if (d === 'edit') {
      l.decision = 'edit';
      void work.goToLesion(l.key);
    } else {
      l.decision = 'reject';
    }
    markDirty();
    work.updateLesion(overlayOf(l));
    renderLesions();
    renderCalls();
    if (d === 'reject') (lesionPanel.querySelector('.lesion-card.selected .reason') as HTMLInputElement | null)?.focus();
  }

  function removeAdded(i: number) {
    draft.splice(i, 1);
    work.setLesions(draft.map(overlayOf));
    markDirty();
    renderLesions();
    renderCalls();
  }

  function startAdd(forLesion?: DraftLesion) {
    if (!editable) return;
    toast(forLesion ? `Draw ${forLesion.label}'s long axis on the image (Esc cancels)` : 'Draw the long axis of the new lesion on the image; adjust the short axis after (Esc cancels)');
    addBtn.classList.add('on');
    work.startAdd((a) => {
      addBtn.classList.remove('on');
      if (forLesion) {
        Object.assign(forLesion, { long: a.long, short: a.short, longMm: round1(a.longMm), shortMm: round1(a.shortMm), value: undefined, decision: 'add' as Decision });
        selected = draft.indexOf(forLesion);
        work.updateLesion(overlayOf(forLesion));
      } else {
        newCount++;
        const l: DraftLesion = {
          key: `new-${newCount}-${Date.now()}`,
          label: `New ${newCount}`,
          organ: 'LIVER',
          nodal: false,
          classification: isBaseline(current) ? 'target' : 'new',
          fixedClass: false,
          decision: 'add',
          reason: '',
          long: a.long,
          short: a.short,
          longMm: round1(a.longMm),
          shortMm: round1(a.shortMm),
          ai: null,
          needsAssessment: false,
          contours: [],
        };
        draft.push(l);
        selected = draft.length - 1;
        work.updateLesion(overlayOf(l));
      }
      markDirty();
      renderLesions();
      renderCalls();
    });
  }

  function setPreset(p: PresetName) {
    for (const v of viewers) v.setPreset(p);
    for (const b of presetBtns) b.classList.toggle('on', b.dataset.preset === p);
  }

  function toggleSync() {
    sync = !sync;
    syncBtn.classList.toggle('on', sync);
    if (sync && ref && work.currentZ !== undefined) void ref.scrollToZ(work.currentZ);
  }

  async function save() {
    if (!editable || saving) return;
    let lesions: LesionInput[];
    try {
      lesions = inputsOf(current, draft);
    } catch (e) {
      toast((e as Error).message, 'error');
      return;
    }
    saving = true;
    saveBtn.disabled = true;
    document.getElementById('save-state')!.textContent = 'saving…';
    try {
      const r = await review.saveTimepoint(caseId, current.timePointId, { version, requestId: requestId(), lesions, ...(newLesionsOverride ? { newLesions: newLesionsOverride } : {}), ...(comment.trim() ? { comment: comment.trim() } : {}) });
      version = r.version;
      recist = r.recist;
      dirty = false;
      sessionStorage.removeItem(draftKey);
      toast(`${isBaseline(current) ? 'Baseline' : `Follow-up ${current.ordinal}`} saved`, 'ok');
      const next = tps.find((t) => t.ordinal === current.ordinal + 1);
      navigate(next ? `#/case/${caseId}/${next.timePointId}` : `#/case/${caseId}/${current.timePointId}`);
    } catch (e) {
      const err = e as ApiError;
      if (err.code === 'review.stale-version') toast('This case was changed elsewhere (another tab?). Reload it: your unsaved edits here cannot be saved over the newer version.', 'error');
      else toast(err.message, 'error');
      document.getElementById('save-state')!.textContent = 'not saved';
    } finally {
      saving = false;
      saveBtn.disabled = !editable;
    }
  }

  signBtn.addEventListener('click', () => {
    if (dirty) return toast('Save the timepoint before signing', 'error');
    openSignDialog({
      title: 'Sign this read',
      meaning: cv.signing.meaning,
      printedName: cv.signing.printedName,
      summary: h('div', null, h('p', null, 'Subject ', h('strong', { class: 'mono' }, cv.readingId), ` · ${tps.length} timepoints · read revision ${cv.read.revision}`), recist ? recistTable(recist) : null),
      sign: (password) => review.sign(caseId, { version, password, meaning: cv.signing.meaning, requestId: requestId() }),
      done: () => navigate(`#/case/${caseId}/${current.timePointId}`),
    });
  });

  renderLesions();
  renderCalls();
  renderRecist();
  setPreset('soft tissue');
  const beforeUnload = (e: BeforeUnloadEvent) => {
    if (dirty) e.preventDefault();
  };
  window.addEventListener('beforeunload', beforeUnload);
  const unregister = registerShortcuts('Reading', [
    { keys: ['ArrowUp', 'PageUp'], label: 'Previous slice (both viewers when synced)', run: () => void work.scrollBy(-1) },
    { keys: ['ArrowDown', 'PageDown'], label: 'Next slice', run: () => void work.scrollBy(1) },
    { keys: ['Home'], label: 'First slice', run: () => void work.scrollTo(0) },
    { keys: ['End'], label: 'Last slice', run: () => void work.scrollTo(work.sliceCount - 1) },
    ...(Object.keys(PRESETS) as PresetName[]).map((p, i) => ({ keys: [String(i + 1)], label: `Window: ${p} (W ${PRESETS[p].width} / L ${PRESETS[p].center})`, run: () => setPreset(p) })),
    { keys: ['S'], label: 'Synchronised scrolling on / off', run: () => toggleSync() },
    { keys: ['0'], label: 'Reset zoom and pan', run: () => viewers.forEach((v) => v.resetView()) },
    { keys: ['J', 'Tab'], label: 'Next lesion (jumps to its slice)', run: () => select(selected + 1) },
    { keys: ['K'], label: 'Previous lesion', run: () => select(selected - 1) },
    { keys: ['A'], label: 'Accept the selected AI proposal', run: () => decide(selected, 'accept') },
    { keys: ['E'], label: 'Edit the selected proposal (then drag its axis end points)', run: () => decide(selected, 'edit') },
    { keys: ['R'], label: 'Reject the selected proposal (type the reason)', run: () => decide(selected, 'reject') },
    { keys: ['N'], label: 'Add a lesion the AI missed (draw its long axis)', run: () => startAdd() },
    { keys: ['Escape'], label: 'Cancel drawing / leave the reason field', run: () => { work.cancelAdd(); addBtn.classList.remove('on'); (document.activeElement as HTMLElement | null)?.blur(); } },
    { keys: ['Ctrl+S'], label: 'Save the timepoint', run: () => void save() },
  ]);
  return () => {
    unregister();
    window.removeEventListener('beforeunload', beforeUnload);
    for (const v of viewers) v.destroy();
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
function indexNear(s: LoadedSeries, z: number): number {
  let best = 0;
  for (let i = 1; i < s.z.length; i++) if (Math.abs(s.z[i]! - z) < Math.abs(s.z[best]! - z)) best = i;
  return best;
}

/** The reader's own baseline lesions, drawn as reference on the baseline image at follow-ups. */
function baselineOverlay(cv: CaseView, bl: Timepoint, segs: Map<string, Vec3[][]>): OverlayLesion[] {
  const a: Assessment | null | undefined = bl.assessment;
  if (!a) return [];
  const byProposal = new Map((bl.proposals ?? []).map((p) => [p.proposalId, p]));
  return a.lesions
    .filter((l) => l.decision !== 'reject')
    .map((l) => {
      const d = fromStored(l, byProposal.get(l.proposalId ?? ''));
      const uid = byProposal.get(l.proposalId ?? '')?.trackingUid ?? (l.ai?.trackingUid as string | undefined);
      return { key: `bl-${d.key}`, label: d.label, classification: d.classification, state: 'reference' as const, long: d.long, short: d.short, longMm: d.longMm, shortMm: d.shortMm, contours: (uid && segs.get(uid)) || [], editable: false };
    });
}
