import { h, render } from './dom';
import { authHeaders, get, post, session } from './api';
import { segOutlines } from './ct/contours';
import { CtViewer } from './ct/viewer';
import { loadSeries, seriesOfStudy, studiesOfSubject } from './ct/cornerstone';

const app = document.getElementById('app')!;

async function devCt(readingId: string) {
  const studies = await studiesOfSubject(readingId);
  const grid = h('div', { class: 'ct-grid' });
  render(app, grid);
  const viewers: CtViewer[] = [];
  for (const [i, st] of studies.slice(0, 2).entries()) {
    const v = new CtViewer(`vp${i}`, `${st.timePointId} ${st.date}`, { editable: i === 1 });
    grid.appendChild(v.root);
    await v.mount();
    const se = (await seriesOfStudy(st.studyUid))[0]!;
    await v.show(await loadSeries(st.studyUid, se.seriesUid));
    const props = await get<{ proposals: { id: string; timePointId: string; trackingId: string; values: any }[] }>(`/v1/ai/subjects/${readingId}/proposals?timepoint=${st.timePointId}`);
    const segRes = await fetch(`/v1/ai/subjects/${readingId}/timepoints/${st.timePointId}/seg.dcm`, { headers: authHeaders() });
    const outlines = segOutlines(await segRes.arrayBuffer());
    v.setLesions(props.proposals.filter((p) => p.values.present && p.values.longAxis).map((p, k) => ({
      key: p.id, label: p.trackingId, classification: k === 2 ? 'non-target' : 'target', state: (['proposed', 'accepted', 'edited'] as const)[k % 3]!, long: [p.values.longAxis.p1Mm, p.values.longAxis.p2Mm], short: [p.values.shortAxis.p1Mm, p.values.shortAxis.p2Mm], longMm: p.values.longAxisMm, shortMm: p.values.shortAxisMm, editable: i === 1, contours: outlines.get((p as any).maskRef?.segmentNumber) ?? [],
    })));
    await v.goToLesion(props.proposals[0]!.id);
    viewers.push(v);
  }
  (window as unknown as { viewers: CtViewer[] }).viewers = viewers;
  document.body.dataset.ready = 'true';
}

async function boot() {
  const m = /^#\/dev\/ct\/(.+)$/.exec(location.hash);
  if (!session.token()) {
    const r = await post<{ token: string; user: never }>('/v1/auth/login', { username: 'admin', password: 'correct horse battery staple' });
    session.set(r);
  }
  if (m) await devCt(m[1]!);
}
void boot().catch((e) => {
  app.textContent = String(e?.stack ?? e);
});
