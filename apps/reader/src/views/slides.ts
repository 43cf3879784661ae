/**
 * The slide tab of a case: OpenSeadragon over the blinded Deep Zoom pyramid (/v1/slides/<id>.dzi and its tiles, with
 * the reader's token), the AI class heatmap as a toggleable overlay (map px x downsample = slide level-0 px), and
 * the AI pathology metrics (tumour fraction, stromal TIL %, tumour-bed cellularity) to accept or override with a reason.
 */
import OpenSeadragon from 'openseadragon';
import { ApiError, authHeaders, get, put } from '../api';
import { h, render, toast } from '../dom';
import { registerShortcuts, toggleHelp } from '../shortcuts';
import { requestId, review } from '../review';

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

/** Where the reader's pathology decisions are saved (the review API); absent from the API = not offered. */
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

  // metrics: accept or override with a reason
  const decisions = new Map<string, { decision: 'accept' | 'override' | null; value: string; reason: string }>();
  for (const m of METRICS) decisions.set(m.key, { decision: null, value: '', reason: '' });
  // the review service offers pathology decisions when its OpenAPI document has the route
  let canSave: boolean | null = await fetch('/docs-json')
    .then((r) => (r.ok ? r.json() : null))
    .then((d: { paths?: Record<string, unknown> } | null) => (d?.paths ? Object.keys(d.paths).some((p) => /^\/v1\/review\/cases\/\{[^}]+\}\/slides\/\{[^}]+\}$/.test(p)) : null))
    .catch(() => null);
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
                return h(
                  'li',
                  { class: `lesion-card state-${d.decision === 'accept' ? 'accepted' : d.decision === 'override' ? 'edited' : 'proposed'}`, dataset: { metric: m.key } },
                  h('div', { class: 'lc-head' }, h('span', { class: 'chip' }), h('strong', null, m.label), h('span', { class: 'metric-value', title: 'AI value' }, v === undefined ? '—' : `${(v * m.scale).toFixed(1)} ${m.unit}`)),
                  h(
                    'div',
                    { class: 'lc-actions' },
                    h('button', { class: `btn btn-small ${d.decision === 'accept' ? 'chosen' : ''}`, onclick: () => ((d.decision = 'accept'), renderSide()) }, 'Accept'),
                    h('button', { class: `btn btn-small ${d.decision === 'override' ? 'chosen' : ''}`, onclick: () => ((d.decision = 'override'), renderSide()) }, 'Override'),
                  ),
                  d.decision === 'override'
                    ? h(
                        'div',
                        { class: 'override' },
                        h('input', { class: 'value', type: 'number', step: '0.1', min: '0', max: '100', placeholder: `your value (${m.unit})`, value: d.value, oninput: (e: Event) => (d.value = (e.target as HTMLInputElement).value) }),
                        h('input', { class: 'reason', placeholder: 'Reason (required)', value: d.reason, oninput: (e: Event) => (d.reason = (e.target as HTMLInputElement).value) }),
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
              h('button', { class: 'btn btn-primary', id: 'save-pathology', disabled: canSave === false, onclick: () => void savePathology() }, 'Save pathology assessment'),
              canSave === false ? h('div', { class: 'muted small' }, 'Saving pathology decisions is not offered by the review service yet: they are shown here only.') : null,
            ),
          )
        : null,
    );
  };
  const savePathology = async () => {
    const body = {
      requestId: requestId(),
      metrics: METRICS.map((m) => {
        const d = decisions.get(m.key)!;
        return { metric: m.key, ai: ai!.metrics[m.key] ?? null, decision: d.decision, value: d.decision === 'override' ? Number(d.value) / m.scale : ai!.metrics[m.key] ?? null, reason: d.reason || undefined };
      }),
    };
    const missing = body.metrics.filter((m) => !m.decision || (m.decision === 'override' && (!Number.isFinite(m.value) || !m.reason)));
    if (missing.length) return toast(`Decide every metric (an override needs a value and a reason): ${missing.map((m) => m.metric).join(', ')}`, 'error');
    try {
      await put(decisionsPath(caseId, slide.id), body);
      toast('Pathology assessment saved', 'ok');
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        canSave = false;
        renderSide();
      }
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
