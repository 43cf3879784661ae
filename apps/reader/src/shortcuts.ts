/**
 * Keyboard shortcuts. Views register the keys they handle while shown; `?` lists what is active. Keys are ignored
 * while typing in a field, except Escape and Ctrl/Cmd+S.
 */
import { h } from './dom';

export interface Shortcut {
  keys: string[];
  label: string;
  run: (e: KeyboardEvent) => void;
}

const scopes: { name: string; items: Shortcut[] }[] = [];

export function registerShortcuts(name: string, items: Shortcut[]): () => void {
  const s = { name, items };
  scopes.push(s);
  return () => {
    const i = scopes.indexOf(s);
    if (i >= 0) scopes.splice(i, 1);
  };
}

const keyOf = (e: KeyboardEvent) => `${e.ctrlKey || e.metaKey ? 'Ctrl+' : ''}${e.altKey ? 'Alt+' : ''}${e.key.length === 1 ? e.key.toUpperCase() : e.key}`;

export function installShortcuts(): void {
  window.addEventListener('keydown', (e) => {
    const t = e.target as HTMLElement | null;
    const typing = !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
    const k = keyOf(e);
    if (typing && k !== 'Escape' && k !== 'Ctrl+S') return;
    if (k === '?' || (e.key === '?' && !typing)) {
      e.preventDefault();
      toggleHelp();
      return;
    }
    for (let i = scopes.length - 1; i >= 0; i--) {
      const sc = scopes[i]!.items.find((s) => s.keys.includes(k));
      if (sc) {
        e.preventDefault();
        sc.run(e);
        return;
      }
    }
  });
}

export function toggleHelp(): void {
  const old = document.getElementById('shortcut-help');
  if (old) {
    old.remove();
    return;
  }
  const box = h(
    'div',
    { id: 'shortcut-help', class: 'modal-backdrop', onclick: (e: Event) => e.target === box && box.remove() },
    h(
      'div',
      { class: 'modal card', role: 'dialog', 'aria-label': 'Keyboard shortcuts' },
      h('h2', null, 'Keyboard shortcuts'),
      scopes.map((s) =>
        h('section', null, h('h3', null, s.name), h('table', { class: 'keys' }, h('tbody', null, s.items.map((i) => h('tr', null, h('td', null, i.keys.map((k) => h('kbd', null, k.replace('Arrow', '')))), h('td', null, i.label)))))),
      ),
      h('p', { class: 'muted' }, 'Mouse on the images: wheel = scroll slices, left drag = window/level (or drag an axis end point to edit it), right drag = zoom, middle drag = pan. Press ? again or Esc to close.'),
      h('button', { class: 'btn', onclick: () => box.remove() }, 'Close'),
    ),
  );
  document.body.appendChild(box);
}
