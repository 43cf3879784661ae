/**
 * The slide tab of a case: OpenSeadragon over the blinded Deep Zoom pyramid (/v1/slides/<id>.dzi and its tiles, with
 * the reader's token), the AI class heatmap as a toggleable overlay (map px x downsample = slide level-0 px), and
 * the AI pathology metrics (tumour fraction, stromal TIL %, tumour-bed cellularity) to accept or override with a reason.
 */
import OpenSeadragon from 'openseadragon';
import { ApiError, authHeaders, get, put } from '../api';
import { h, render, toast } from '../dom';
import { registerShortcuts, toggleHelp } from '../shortcuts';
import { requestId, review, type SlideDecision } from '../review';

interface SlideItem {
  id: string;
  readingId: string | null;
  width: number;
  height: number;
  mpp: { x: number; y: number } | null;
  objectivePower: number | null;
}
interface SlideAi {
  run: { id: string; model: { id: string; version: string } };
  metrics: {
    tumourFraction?: number;
    stromalTilPercent?: number;
    tumourBedCellularity?: number;
    classFractions?: Record<string, number>;
    heatmap?: { width: number; height: number; downsample: number; slideWidth: number; slideHeight: number };
  };
  heatmap: string;
}

export const METRICS = [
  { key: 'tumourFraction', label: 'Tumour fraction', unit: '%', scale: 100 },
  { key: 'stromalTilPercent', label: 'Stromal TILs', unit: '%', scale: 1 },
  { key: 'tumourBedCellularity', label: 'Tumour-bed cellularity', unit: '%', scale: 100 },
] as const;
export const LEGEND: [string, string][] = [
  ['tumour', 'rgb(220, 30, 40)'],
  ['stroma', 'rgb(40, 170, 60)'],
  ['lymphocytes', 'rgb(30, 90, 230)'],
  ['pen', 'rgb(120, 120, 120)'],
];

const order = (cls: string) => {
  const i = LEGEND.findIndex(([n]) => n === cls);
  return i < 0 ? 99 : i;
};

/** Where the reader's pathology decisions are saved (the review API, part of the reader's draft read). */
const decisionsPath = (caseId: string, slideId: string) => `/v1/review/cases/${encodeURIComponent(caseId)}/slides/${encodeURIComponent(slideId)}`;

export async function showSlides(main: HTMLElement, caseId: string): Promise<() => void> {
  const cv = await review.openCase(caseId);
  let slides: SlideItem[] = [];
  let access = '';
  try {
    slides = (await get<{ items: SlideItem[] }>('/v1/slides')).items.filter((s) => s.readingId === cv.readingId);
  } catch (e) {
    access = e instanceof ApiError ? e.message : String(e);
  }
  const head = h(
    'div',
    { class: 'case-head' },
    h('a', { class: 'btn btn-ghost', href: '#/worklist' }, '←'),
    h('div', { class: 'case-title' }, h('span', { class: 'mono subject' }, cv.readingId), h('span', { class: 'muted' }, `case ${cv.order + 1} · ${cv.studyId} · pathology`)),
    h('nav', { class: 'tp-tabs' }, h('a', { class: 'tp-tab', href: `#/case/${caseId}` }, h('strong', null, 'CT'), h('span', null, 'RECIST')), h('a', { class: 'tp-tab active' }, h('strong', null, 'Slides'), h('span', null, `${slides.length} slide${slides.length === 1 ? '' : 's'}`))),
    h('span', { class: 'spacer' }),
    h('button', { class: 'btn btn-ghost', onclick: toggleHelp }, '?'),
  );
  const viewerEl = h('div', { class: 'osd', id: 'slide-viewer' });
  const side = h('aside', { class: 'case-side' });
  render(main, h('div', { class: 'case' }, head, h('div', { class: 'case-body' }, h('div', { class: 'case-images' }, h('div', { class: 'toolbar', id: 'slide-toolbar' }), viewerEl), side)));
  if (!slides.length) {
    render(viewerEl, h('p', { class: 'muted pad' }, access ? `Slides are not available to you: ${access}` : 'No slide for this subject.'));
    return () => {};
  }
  const slide = slides[0]!;
  let ai: SlideAi | null = null;
  try {
    ai = await get<SlideAi>(`/v1/ai/slides/${slide.id}`);
  } catch {
    ai = null;
  }
  const dzi = await fetch(`/v1/slides/${slide.id}.dzi`, { headers: authHeaders() }).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`slide descriptor: ${r.status}`))));
  const x = new DOMParser().parseFromString(dzi, 'application/xml');
  const img = x.querySelector('Image')!;
  const size = x.querySelector('Size')!;
  const viewer = OpenSeadragon({
    element: viewerEl,
    prefixUrl: '',
    showNavigationControl: false,
    showNavigator: true,
    navigatorPosition: 'BOTTOM_RIGHT',
    loadTilesWithAjax: true,
    ajaxHeaders: authHeaders(),
    drawer: 'canvas',
    imageSmoothingEnabled: false,
    crossOriginPolicy: false,
    maxZoomPixelRatio: 4,
    tileSources: {
      Image: {
        xmlns: 'http://schemas.microsoft.com/deepzoom/2008',
        Url: `/v1/slides/${slide.id}_files/`,
        Format: img.getAttribute('Format') ?? 'jpeg',
        Overlap: img.getAttribute('Overlap') ?? '1',
        TileSize: img.getAttribute('TileSize') ?? '254',
        Size: { Width: size.getAttribute('Width')!, Height: size.getAttribute('Height')! },
      },
    } as never,
  });
  let heatOn = true;
  let heatItem: OpenSeadragon.TiledImage | null = null;
  // the PNG carries alpha 0.5 per class colour: 0.85 makes tumour red distinguishable on eosin pink
  let opacity = 0.85;
  const ready = new Promise<void>((resolve) => viewer.addOnceHandler('open', () => resolve()));
  await ready;
  if (ai?.metrics.heatmap) {
    const hm = ai.metrics.heatmap;
    const blob = await fetch(ai.heatmap, { headers: authHeaders() }).then((r) => r.blob());
    const url = URL.createObjectURL(blob);
    viewer.addSimpleImage({
      url,
      x: 0,
      y: 0,
      width: (hm.width * hm.downsample) / slide.width,
      opacity,
      success: (e: { item: OpenSeadragon.TiledImage }) => {
        heatItem = e.item;
        viewerEl.dataset.heatmap = 'on';
      },
    } as never);
  }
  const toggleHeat = () => {
    heatOn = !heatOn;
    heatItem?.setOpacity(heatOn ? opacity : 0);
    heatBtn.classList.toggle('on', heatOn);
    viewerEl.dataset.heatmap = heatOn ? 'on' : 'off';
  };
  const heatBtn = h('button', { class: 'btn btn-small toggle on', id: 'heatmap-toggle', title: 'AI class heatmap on / off (H)', onclick: toggleHeat }, 'Heatmap');
  const slider = h('input', { type: 'range', min: '0', max: '100', value: String(opacity * 100), title: 'Heatmap opacity', oninput: (e: Event) => ((opacity = Number((e.target as HTMLInputElement).value) / 100), heatOn && heatItem?.setOpacity(opacity)) });
  render(
    document.getElementById('slide-toolbar')!,
    heatBtn,
    slider,
    h('span', { class: 'legend' }, LEGEND.map(([n, c]) => h('span', { class: 'legend-item' }, h('i', { style: `background:${c}` }), n))),
    h('span', { class: 'sep' }),
    h('button', { class: 'btn btn-small', title: 'Whole slide (0)', onclick: () => viewer.viewport.goHome() }, 'Fit'),
    h('span', { class: 'muted small' }, slide.mpp ? `${slide.mpp.x} µm/px · ${slide.objectivePower ?? '?'}×` : ''),
  );

  // metrics: accept, override (value + reason) or not evaluable (reason); saved into the reader's draft read
  const caseSlide = cv.slides?.find((x) => x.slideId === slide.id) ?? null;
  const signed = cv.read.status === 'signed';
  let version = cv.read.version;
  type Choice = { decision: SlideDecision | null; value: string; reason: string };
  const decisions = new Map<string, Choice>();
  for (const m of METRICS) {
    const saved = caseSlide?.assessment?.metrics.find((x) => x.metric === m.key);
    decisions.set(m.key, saved ? { decision: saved.decision, value: saved.decision === 'override' && saved.reader !== null ? String(+(saved.reader * m.scale).toFixed(4)) : '', reason: saved.reason ?? '' } : { decision: null, value: '', reason: '' });
  }
  const savedNote = () => (caseSlide?.assessment ? 'Saved in your read.' : 'Not saved yet.');
  let status = savedNote();
  const renderSide = () => {
    render(
      side,
      h('section', { class: 'panel' }, h('h2', null, 'AI pathology metrics'), ai ? h('div', { class: 'muted small' }, `${ai.run.model.id} ${ai.run.model.version} · AI proposal, not a signed read`) : h('p', { class: 'muted' }, 'No AI read of this slide.')),
      ai
        ? h(
            'section',
            { class: 'panel' },
            h(
              'ol',
              { class: 'lesion-list' },
              METRICS.map((m) => {
                const v = ai!.metrics[m.key];
                const d = decisions.get(m.key)!;
                const pick = (x: SlideDecision) => () => ((d.decision = x), renderSide());
                return h(
                  'li',
                  { class: `lesion-card state-${d.decision === 'accept' ? 'accepted' : d.decision === 'override' ? 'edited' : d.decision === 'not-evaluable' ? 'rejected' : 'proposed'}`, dataset: { metric: m.key, decision: d.decision ?? '' } },
                  h('div', { class: 'lc-head' }, h('span', { class: 'chip' }), h('strong', null, m.label), h('span', { class: 'metric-value', title: 'AI value' }, v === undefined || v === null ? '—' : `${(v * m.scale).toFixed(1)} ${m.unit}`)),
                  h(
                    'div',
                    { class: 'lc-actions' },
                    h('button', { class: `btn btn-small ${d.decision === 'accept' ? 'chosen' : ''}`, disabled: signed, onclick: pick('accept') }, 'Accept'),
                    h('button', { class: `btn btn-small ${d.decision === 'override' ? 'chosen' : ''}`, disabled: signed, onclick: pick('override') }, 'Override'),
                    h('button', { class: `btn btn-small ${d.decision === 'not-evaluable' ? 'chosen' : ''}`, disabled: signed, onclick: pick('not-evaluable') }, 'Not evaluable'),
                  ),
                  d.decision === 'override' || d.decision === 'not-evaluable'
                    ? h(
                        'div',
                        { class: 'override' },
                        d.decision === 'override'
                          ? h('input', { class: 'value', type: 'number', step: '0.1', min: '0', max: '100', placeholder: `your value (${m.unit})`, value: d.value, disabled: signed, oninput: (e: Event) => (d.value = (e.target as HTMLInputElement).value) })
                          : null,
                        h('input', { class: 'reason', placeholder: 'Reason (required)', value: d.reason, disabled: signed, oninput: (e: Event) => (d.reason = (e.target as HTMLInputElement).value) }),
                      )
                    : null,
                );
              }),
            ),
            h(
              'table',
              { class: 'grid small' },
              h('thead', null, h('tr', null, h('th', null, 'Class'), h('th', null, 'Area fraction'))),
              h(
                'tbody',
                null,
                Object.entries(ai.metrics.classFractions ?? {})
                  .sort(([a], [b]) => order(a) - order(b))
                  .map(([k, f]) => h('tr', null, h('td', null, h('i', { class: 'swatch', style: `background:${LEGEND.find(([n]) => n === k)?.[1] ?? 'transparent'}` }), k), h('td', { class: 'num' }, `${(f * 100).toFixed(1)} %`))),
              ),
            ),
            h(
              'div',
              { class: 'save-row' },
              h('button', { class: 'btn btn-primary', id: 'save-pathology', disabled: signed || !caseSlide, onclick: () => void savePathology() }, 'Save pathology assessment'),
              h('div', { class: 'muted small', id: 'pathology-status' }, signed ? 'This read is signed: the assessment is shown read-only.' : status),
            ),
          )
        : null,
    );
  };
  const savePathology = async () => {
    const undecided = METRICS.filter((m) => {
      const d = decisions.get(m.key)!;
      return !d.decision || (d.decision === 'override' && (d.value.trim() === '' || !Number.isFinite(Number(d.value)) || !d.reason.trim())) || (d.decision === 'not-evaluable' && !d.reason.trim());
    });
    if (undecided.length) return toast(`Decide every metric (override: a value and a reason; not evaluable: a reason): ${undecided.map((m) => m.label).join(', ')}`, 'error');
    // the API takes each metric in its own unit (TIL %: percent; the fractions: 0..1); the screen shows percent
    const metrics = Object.fromEntries(
      METRICS.map((m) => {
        const d = decisions.get(m.key)!;
        return [m.key, d.decision === 'override' ? { decision: d.decision, value: Number(d.value) / m.scale, reason: d.reason.trim() } : { decision: d.decision, ...(d.reason.trim() ? { reason: d.reason.trim() } : {}) }];
      }),
    );
    try {
      const r = await put<{ version: number }>(decisionsPath(caseId, slide.id), { version, requestId: requestId(), proposalId: caseSlide?.ai?.proposalId ?? null, metrics });
      version = r.version;
      status = `Saved in your read (version ${version}).`;
      renderSide();
      toast('Pathology assessment saved', 'ok');
    } catch (e) {
      toast(e instanceof Error ? e.message : String(e), 'error');
    }
  };
  renderSide();
  (window as unknown as { bicrSlide: unknown }).bicrSlide = { viewer, heat: () => heatItem };
  const unregister = registerShortcuts('Slide', [
    { keys: ['H'], label: 'Heatmap on / off', run: toggleHeat },
    { keys: ['0'], label: 'Whole slide', run: () => viewer.viewport.goHome() },
    { keys: ['+', '='], label: 'Zoom in', run: () => viewer.viewport.zoomBy(1.5) },
    { keys: ['-'], label: 'Zoom out', run: () => viewer.viewport.zoomBy(1 / 1.5) },
  ]);
  return () => {
    unregister();
    viewer.destroy();
  };
}
