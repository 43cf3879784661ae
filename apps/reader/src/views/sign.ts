/**
 * The signature dialog (21 CFR Part 11): the meaning, the signer's printed name, the date and time (live), and the
 * password re-entered. A wrong password is refused by the server (and counts towards the account lock).
 */
import { ApiError, session } from '../api';
import { h } from '../dom';
import type { SignatureManifestation } from '../review';
import { signatureBanner } from './recist';

export function openSignDialog(o: { title: string; meaning: string; printedName?: string; summary?: HTMLElement; sign: (password: string) => Promise<{ signature: SignatureManifestation }>; done: () => void }): void {
  const clock = h('span', { class: 'mono', id: 'sign-clock' });
  const tick = () => {
    const d = new Date();
    clock.textContent = `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)} UTC (${d.toLocaleString()})`;
  };
  tick();
  const timer = setInterval(tick, 1000);
  const pass = h('input', { type: 'password', id: 'sign-password', autocomplete: 'current-password', required: true });
  const err = h('div', { class: 'form-error', role: 'alert' });
  const btn = h('button', { class: 'btn btn-primary', type: 'submit', id: 'sign-submit' }, 'Sign');
  const close = () => {
    clearInterval(timer);
    box.remove();
  };
  const form = h(
    'form',
    {
      class: 'modal card sign-dialog',
      role: 'dialog',
      'aria-label': o.title,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (!pass.value) return;
        btn.disabled = true;
        err.textContent = '';
        try {
          const r = await o.sign(pass.value);
          clearInterval(timer);
          form.replaceChildren(h('h2', null, 'Signed'), signatureBanner(r.signature), h('button', { class: 'btn btn-primary', type: 'button', id: 'sign-done', onclick: () => (close(), o.done()) }, 'Done'));
        } catch (e2) {
          const a = e2 as ApiError;
          err.textContent = a.code === 'signature.invalid-password' ? 'Wrong password: nothing was signed.' : a.message;
          pass.value = '';
          pass.focus();
          btn.disabled = false;
        }
      },
    },
    h('h2', null, o.title),
    o.summary ?? null,
    h(
      'dl',
      { class: 'sign-facts' },
      h('dt', null, 'Meaning'),
      h('dd', { class: 'meaning', id: 'sign-meaning' }, o.meaning),
      h('dt', null, 'Printed name'),
      h('dd', { id: 'sign-name' }, o.printedName ?? session.user()?.displayName ?? ''),
      h('dt', null, 'Date and time'),
      h('dd', null, clock),
    ),
    h('label', { for: 'sign-password' }, 'Re-enter your password to sign'),
    pass,
    err,
    h('div', { class: 'row' }, h('button', { class: 'btn', type: 'button', onclick: close }, 'Cancel'), btn),
  );
  const box = h('div', { class: 'modal-backdrop' }, form);
  document.body.appendChild(box);
  pass.focus();
}
