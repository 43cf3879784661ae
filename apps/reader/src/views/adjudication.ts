/**
 * Adjudication: the two signed reads of a subject side by side (blinded: READ 1 / READ 2, no reader names), each on
 * its own CT viewer with its measurements at the chosen timepoint and its RECIST table (server-computed); the
 * adjudicator picks one read with a written reason (reads are never averaged) and signs.
 */
import { loadSeries } from '../ct/cornerstone';
import { linkScrolling } from '../ct/sync';
import { CtViewer, type OverlayLesion, PRESETS, type PresetName } from '../ct/viewer';
import { fmtDate, fmtMm, h, render, toast } from '../dom';
import { navigate } from '../nav';
import { registerShortcuts, toggleHelp } from '../shortcuts';
import { type AdjudicationRead, type AdjudicationView, requestId, review, type Timepoint, type Vec3 } from '../review';
import { outcomeChips, recistTable, signatureBanner } from './recist';
import { openSignDialog } from './sign';

const axis = (a: { p1Mm: Vec3; p2Mm: Vec3 } | null | undefined): [Vec3, Vec3] | null => (a?.p1Mm && a.p2Mm ? [a.p1Mm, a.p2Mm] : null);

function overlayOf(read: AdjudicationRead, tpId: string): OverlayLesion[] {
  const tp = read.timepoints.find((t) => t.timePointId === tpId);
  return (tp?.lesions ?? [])
    .filter((l) => l.decision !== 'reject')
    .map((l) => ({
      key: `r${read.read}-${l.lesionKey}`,
      label: l.label,
      classification: l.classification,
      state: l.decision === 'accept' ? ('accepted' as const) : l.decision === 'edit' ? ('edited' as const) : ('added' as const),
      long: axis(l.reader?.longAxis) ?? axis(l.ai?.longAxis as never),
      short: axis(l.reader?.shortAxis) ?? axis(l.ai?.shortAxis as never),
      longMm: l.reader?.longAxisMm ?? null,
      shortMm: l.reader?.shortAxisMm ?? null,
      editable: false,
    }));
}

function seriesOf(tp: Timepoint) {
  const vol = tp.volumes.find((v) => v.selected) ?? tp.volumes[0];
  for (const st of tp.studies) {
    const se = vol ? st.series.find((s) => s.seriesInstanceUid === vol.seriesInstanceUid) : st.series[0];
    if (se) return { studyUid: st.studyInstanceUid, seriesUid: se.seriesInstanceUid };
  }
  return null;
}

function lesionTable(read: AdjudicationRead, tpId: string, goTo: (key: string) => void): HTMLElement {
  const tp = read.timepoints.find((t) => t.timePointId === tpId);
  if (!tp) return h('p', { class: 'muted' }, 'Not read at this timepoint.');
  return h(
    'table',
    { class: 'grid small' },
    h('thead', null, h('tr', null, ['Lesion', 'Class', 'Decision', 'AI', 'Reader'].map((c) => h('th', null, c)))),
    h(
      'tbody',
      null,
      tp.lesions.map((l) =>
        h(
          'tr',
          { class: `d-${l.decision} clickable`, title: 'Show this lesion (both reads scroll together)', onclick: () => goTo(`r${read.read}-${l.lesionKey}`) },
          h('td', null, l.label),
          h('td', null, l.classification ?? '—'),
          h('td', { title: l.reason ?? '' }, l.decision, l.reason ? ' *' : ''),
          h('td', { class: 'num' }, l.ai ? fmtMm(l.ai.longAxisMm) : '—'),
          h('td', { class: 'num' }, l.reader?.value && l.reader.value !== 'MEASURED' ? l.reader.value.toLowerCase() : l.reader?.status ? l.reader.status.toLowerCase() : fmtMm(l.reader?.diameterMm ?? l.reader?.longAxisMm ?? null)),
        ),
      ),
    ),
  );
}

export async function showAdjudication(main: HTMLElement, id: string): Promise<() => void> {
  const av: AdjudicationView = await review.openAdjudication(id);
  const tps = [...av.timepoints].sort((a, b) => a.ordinal - b.ordinal);
  const decided = av.status !== 'open';
  const pdTps = av.reads.map((r) => r.recist.pdTimePointId).filter((x): x is string => !!x);
  let tpId = pdTps[0] ?? tps[tps.length - 1]!.timePointId;
  let choice: 1 | 2 | null = null;
  let reason = '';

  const dis = av.comparison.disagreements ?? [];
  const head = h(
    'div',
    { class: 'case-head' },
    h('a', { class: 'btn btn-ghost', href: '#/worklist' }, '←'),
    h('div', { class: 'case-title' }, h('span', { class: 'mono subject' }, av.readingId), h('span', { class: 'muted' }, `adjudication · ${av.studyId}`)),
    h('div', { class: 'disagreements' }, dis.map((d) => h('span', { class: 'dis' }, h('strong', null, d.rule.replace('_', ' ')), ` READ 1: ${d.read1 ?? '—'} · READ 2: ${d.read2 ?? '—'}`))),
    h('span', { class: 'spacer' }),
    h('button', { class: 'btn btn-ghost', onclick: toggleHelp }, '?'),
  );
  const tpTabs = h('nav', { class: 'tp-tabs' });
  const presetBtns = (Object.keys(PRESETS) as PresetName[]).map((p, i) => h('button', { class: 'btn btn-small preset', dataset: { preset: p }, onclick: () => setPreset(p) }, `${i + 1} ${p}`));
  const cols = av.reads.map((r) => ({ read: r, viewer: new CtViewer(`adj-${r.read}`, r.label, { editable: false }), info: h('div', { class: 'adj-info' }) }));
  const chooser = h('div', { class: 'adj-decision card', id: 'adjudication-decision' });
  render(
    main,
    h(
      'div',
      { class: 'case adjudication' },
      head,
      h('div', { class: 'toolbar' }, tpTabs, h('span', { class: 'sep' }), presetBtns),
      h('div', { class: 'adj-cols' }, cols.map((c) => h('div', { class: `adj-col read-${c.read.read}` }, c.viewer.root, c.info))),
      chooser,
    ),
  );
  for (const c of cols) await c.viewer.mount();
  const seriesCache = new Map<string, Awaited<ReturnType<typeof loadSeries>>>();
  linkScrolling(cols.map((c) => c.viewer));

  async function showTp(next: string) {
    tpId = next;
    render(tpTabs, tps.map((t) => h('a', { class: `tp-tab ${t.timePointId === tpId ? 'active' : ''}`, href: '#', onclick: (e: Event) => (e.preventDefault(), void showTp(t.timePointId)) }, h('strong', null, t.ordinal === 0 ? 'Baseline' : `FU${t.ordinal}`), h('span', null, fmtDate(t.date)), pdTps.includes(t.timePointId) ? h('span', { class: 'tp-state pd' }, 'PD') : null)));
    const tp = tps.find((t) => t.timePointId === tpId)!;
    const s = seriesOf(tp);
    if (!s) return;
    for (const c of cols) {
      // each read on its own image ids: Cornerstone keys annotations by image id
      const key = `${s.seriesUid}|${c.read.read}`;
      let series = seriesCache.get(key);
      if (!series) seriesCache.set(key, (series = await loadSeries(s.studyUid, s.seriesUid, `read${c.read.read}`)));
      const lesions = overlayOf(c.read, tpId);
      const z = lesions.find((l) => l.long)?.long?.[0][2];
      await c.viewer.show(series, z === undefined ? undefined : series.z.reduce((b, zz, i) => (Math.abs(zz - z) < Math.abs(series!.z[b]! - z) ? i : b), 0));
      c.viewer.setLesions(lesions);
      render(
        c.info,
        h('div', { class: 'adj-read-head' }, h('strong', { class: 'read-label' }, c.read.label), outcomeChips(c.read.recist)),
        c.read.signature ? signatureBanner(c.read.signature, 'Signed', true) : null,
        h('div', { class: 'adj-tables' }, recistTable(c.read.recist, tpId), h('div', null, h('h3', null, `Lesions at ${tp.ordinal === 0 ? 'baseline' : `FU${tp.ordinal}`}`), lesionTable(c.read, tpId, (key) => void c.viewer.goToLesion(key)))),
      );
    }
  }

  function setPreset(p: PresetName) {
    for (const c of cols) c.viewer.setPreset(p);
    for (const b of presetBtns) b.classList.toggle('on', b.dataset.preset === p);
  }

  function renderChooser() {
    if (decided && av.decision) {
      render(chooser, h('div', { class: 'row decided' }, h('h2', null, `Decided: READ ${av.decision.selectedRead}`), h('span', { class: 'reason-text' }, av.decision.reason)), av.decision.signature ? signatureBanner(av.decision.signature, 'Adjudicated', true) : null);
      return;
    }
    render(
      chooser,
      h('h2', null, 'Decision', h('span', { class: 'muted' }, ' · select one read; reads are never averaged')),
      h(
        'div',
        { class: 'row' },
        av.reads.map((r) =>
          h('label', { class: `pick ${choice === r.read ? 'chosen' : ''}` }, h('input', { type: 'radio', name: 'pick', value: String(r.read), checked: choice === r.read, onchange: () => ((choice = r.read), renderChooser()) }), ` Select ${r.label} (BOR ${r.recist.bor ?? '—'}, confirmed ${r.recist.confirmedBor ?? '—'}, PD ${r.recist.pdDate ? fmtDate(r.recist.pdDate) : '—'})`),
        ),
      ),
      h(
        'div',
        { class: 'row reason-row' },
        h('textarea', { id: 'adjudication-reason', rows: 2, placeholder: 'Reason for the selection (required)', value: reason, oninput: (e: Event) => (reason = (e.target as HTMLTextAreaElement).value) }),
        h('button', { class: 'btn btn-primary', id: 'adjudication-sign', onclick: () => sign() }, 'Sign adjudication…'),
      ),
    );
  }

  function sign() {
    if (!choice) return toast('Select READ 1 or READ 2', 'error');
    if (!reason.trim()) return toast('A written reason is required', 'error');
    const selectedRead = choice;
    openSignDialog({
      title: 'Sign this adjudication',
      meaning: av.signing.meaning,
      summary: h('p', null, 'Subject ', h('strong', { class: 'mono' }, av.readingId), `: READ ${selectedRead} selected. Reason: ${reason.trim()}`),
      sign: (password) => review.signAdjudication(id, { version: av.version, selectedRead, reason: reason.trim(), password, meaning: av.signing.meaning, requestId: requestId() }),
      done: () => navigate(`#/adjudication/${id}`),
    });
  }

  await showTp(tpId);
  setPreset('soft tissue');
  renderChooser();
  (window as unknown as { bicrAdj: unknown }).bicrAdj = { cols };
  const unregister = registerShortcuts('Adjudication', [
    { keys: ['ArrowUp'], label: 'Previous slice (both reads)', run: () => void cols[0]!.viewer.scrollBy(-1) },
    { keys: ['ArrowDown'], label: 'Next slice', run: () => void cols[0]!.viewer.scrollBy(1) },
    ...(Object.keys(PRESETS) as PresetName[]).map((p, i) => ({ keys: [String(i + 1)], label: `Window: ${p}`, run: () => setPreset(p) })),
    { keys: ['ArrowLeft'], label: 'Previous timepoint', run: () => void showTp(tps[Math.max(0, tps.findIndex((t) => t.timePointId === tpId) - 1)]!.timePointId) },
    { keys: ['ArrowRight'], label: 'Next timepoint', run: () => void showTp(tps[Math.min(tps.length - 1, tps.findIndex((t) => t.timePointId === tpId) + 1)]!.timePointId) },
  ]);
  return () => {
    unregister();
    for (const c of cols) c.viewer.destroy();
  };
}
