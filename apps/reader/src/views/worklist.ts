import { fmtDate, h, render } from '../dom';
import { navigate } from '../nav';
import { registerShortcuts } from '../shortcuts';
import { review } from '../review';
import { session } from '../api';

const STATUS: Record<string, string> = { 'not-started': 'Not started', 'in-progress': 'In progress', signed: 'Signed', correction: 'Correction' };

/** The caller's cases in their recorded (randomised) order, and the adjudicator's open tasks. */
export async function showWorklist(main: HTMLElement): Promise<() => void> {
  const roles = session.user()?.roles ?? [];
  const wl = roles.some((r) => r === 'reader' || r === 'adjudicator') ? await review.worklist() : { cases: [], adjudications: [] };
  const next = wl.cases.find((c) => c.status !== 'signed');
  const rows = wl.cases.map((c) =>
    h(
      'tr',
      { class: c === next ? 'next' : '', dataset: { caseId: c.caseId } },
      h('td', { class: 'num' }, String(c.order + 1)),
      h('td', { class: 'mono' }, c.readingId),
      h('td', null, c.studyId),
      h('td', null, h('span', { class: `pill pill-${c.status}` }, STATUS[c.status] ?? c.status)),
      h('td', { class: 'num' }, `${c.saved} / ${c.timepoints}`),
      h('td', null, c.signedAt ? fmtDate(c.signedAt) : '—'),
      h('td', null, h('a', { class: 'btn btn-small', href: `#/case/${c.caseId}` }, c.status === 'signed' ? 'View' : 'Open')),
    ),
  );
  const adj = wl.adjudications.map((a) => {
    const id = String(a.adjudicationId ?? a.id);
    return h('tr', { dataset: { adjudicationId: id } }, h('td', { class: 'mono' }, a.readingId), h('td', null, a.studyId ?? ''), h('td', null, h('span', { class: `pill pill-${a.status}` }, a.status)), h('td', null, h('a', { class: 'btn btn-small', href: `#/adjudication/${id}` }, 'Adjudicate')));
  });
  render(
    main,
    h(
      'div',
      { class: 'page worklist' },
      h('h1', null, 'Worklist'),
      roles.includes('reader')
        ? h(
            'section',
            { class: 'card' },
            h('h2', null, 'My cases', h('span', { class: 'muted' }, ' — read in this order; timepoints baseline first')),
            wl.cases.length
              ? h('table', { class: 'grid', id: 'cases' }, h('thead', null, h('tr', null, ['#', 'Subject', 'Study', 'Status', 'Timepoints saved', 'Signed', ''].map((t) => h('th', null, t)))), h('tbody', null, rows))
              : h('p', { class: 'muted' }, 'No cases are assigned to you.'),
          )
        : null,
      roles.includes('adjudicator')
        ? h(
            'section',
            { class: 'card' },
            h('h2', null, 'Adjudications'),
            adj.length ? h('table', { class: 'grid', id: 'adjudications' }, h('thead', null, h('tr', null, ['Subject', 'Study', 'Status', ''].map((t) => h('th', null, t)))), h('tbody', null, adj)) : h('p', { class: 'muted' }, 'No open adjudication.'),
          )
        : null,
      !roles.includes('reader') && !roles.includes('adjudicator') ? h('p', { class: 'muted card' }, 'This app is for readers and adjudicators. Your roles: ', roles.join(', ')) : null,
    ),
  );
  return registerShortcuts('Worklist', [{ keys: ['Enter', 'O'], label: 'Open the next case', run: () => next && navigate(`#/case/${next.caseId}`) }]);
}
