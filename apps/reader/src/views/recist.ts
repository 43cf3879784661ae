/** Rendering of server-computed RECIST tables and signature manifestations (no RECIST arithmetic here). */
import { fmtDate, h } from '../dom';
import type { RecistTable, SignatureManifestation } from '../review';

const pct = (v: number | null) => (v === null || v === undefined ? '—' : `${v > 0 ? '+' : ''}${v.toFixed(1)} %`);
const mm = (v: number | null) => (v === null || v === undefined ? '—' : v.toFixed(1));
const resp = (v: string | null | undefined) => (v ? h('span', { class: `resp resp-${v.replace(/[^A-Z]/g, '')}` }, v) : '—');

/**
 * The RECIST worksheet as readers know it: one column per timepoint (baseline first), one row per quantity. Every
 * value is the server's (libs/endpoints); this only formats them.
 */
/** BOR, confirmed BOR and PD date of a read, as chips (server values). */
export function outcomeChips(t: RecistTable): HTMLElement {
  return h('span', { class: 'outcome' }, h('span', null, 'BOR ', resp(t.bor)), h('span', null, 'confirmed ', resp(t.confirmedBor)), h('span', null, 'PD ', t.pdDate ? fmtDate(t.pdDate) : '—'));
}

export function recistTable(t: RecistTable, currentTp?: string): HTMLElement {
  const rows: [string, (r: RecistTable['rows'][number]) => Node | string, string?][] = [
    ['SOD (mm)', (r) => mm(r.sumMm), 'sod'],
    ['Nadir (mm)', (r) => mm(r.nadirMm)],
    ['Δ baseline', (r) => pct(r.changeFromBaselinePct)],
    ['Δ nadir', (r) => pct(r.changeFromNadirPct)],
    ['Target', (r) => resp(r.targetResponse)],
    ['Non-target', (r) => resp(r.nonTargetResponse)],
    ['New lesions', (r) => (r.newLesions ?? '—').toLowerCase()],
    ['Overall', (r) => resp(r.overallResponse), 'overall'],
    ['BOR so far', (r) => resp(r.runningBor)],
  ];
  return h(
    'div',
    { class: 'recist-wrap' },
    h(
      'table',
      { class: 'grid recist-table' },
      h('thead', null, h('tr', null, h('th', null, ''), t.rows.map((r, i) => h('th', { class: `num ${r.timePointId === currentTp ? 'current' : ''}`, dataset: { tp: r.timePointId }, title: r.timePointId }, i === 0 || r.visit === 'BASELINE' ? 'BL' : `FU${i}`, h('div', { class: 'muted small' }, fmtDate(r.date)), i ? h('div', { class: 'muted small' }, `day ${r.dayFromBaseline}`) : null)))),
      h(
        'tbody',
        null,
        rows.map(([label, f, cls]) => h('tr', { class: cls ?? '' }, h('th', { scope: 'row' }, label), t.rows.map((r) => h('td', { class: `num ${r.timePointId === currentTp ? 'current' : ''}`, title: r.notes.join('\n'), dataset: { tp: r.timePointId } }, f(r))))),
      ),
    ),
    h(
      'div',
      { class: 'recist-summary' },
      h('span', null, 'BOR ', resp(t.bor)),
      h('span', null, 'confirmed ', resp(t.confirmedBor)),
      h('span', null, 'PD ', t.pdDate ? fmtDate(t.pdDate) : '—'),
      h('span', { class: 'muted' }, t.criteria),
    ),
    t.rows.some((r) => r.notes.length) ? h('ul', { class: 'notes' }, t.rows.flatMap((r, i) => r.notes.map((n) => h('li', null, `${i === 0 ? 'BL' : `FU${i}`}: ${n}`)))) : null,
  );
}

/** The Part 11 signature manifestation: printed name, date and time, meaning, and the signed content's hash. */
export function signatureBanner(s: SignatureManifestation, label = 'Signed', compact = false): HTMLElement {
  const at = new Date(s.signedAt);
  return h(
    'div',
    { class: `signature ${compact ? 'compact' : ''}`, dataset: { signatureId: s.signatureId } },
    h('div', null, h('strong', null, `${label} by ${s.printedName}`), ` (${s.username})`),
    h('div', null, `${at.toISOString().slice(0, 10)} ${at.toISOString().slice(11, 19)} UTC`),
    h('div', { class: 'meaning' }, `“${s.meaning}”`),
    h('div', { class: 'muted small mono', title: 'sha256 of the signed content (RFC 8785 canonical JSON)' }, `sha256 ${s.contentSha256.slice(0, 16)}…`),
  );
}
