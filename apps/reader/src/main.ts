/**
 * The readers' web app: login, worklist, case (CT + slides), adjudication. Hash routes:
 *   #/login  #/worklist  #/case/<caseId>[/<timePointId>]  #/case/<caseId>/slides  #/adjudication/<id>
 */
import './style.css';
import { ApiError, post, session, setUnauthorizedHandler } from './api';
import { h, render, toast } from './dom';
import { installShortcuts } from './shortcuts';
import { navigate } from './nav';
import { showCase } from './views/case';
import { showAdjudication } from './views/adjudication';
import { showWorklist } from './views/worklist';

const app = document.getElementById('app')!;
let teardown: (() => void) | null = null;


function topbar(): HTMLElement {
  const u = session.user();
  return h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '#/worklist' }, 'BICR ', h('span', null, 'Reader')),
    h('span', { class: 'topbar-note' }, 'Blinded independent central review · RECIST 1.1'),
    h('span', { class: 'spacer' }),
    u ? h('span', { class: 'who', title: u.username }, `${u.displayName} · ${u.roles.join(', ')}`) : null,
    u ? h('button', { class: 'btn btn-ghost', onclick: () => void logout() }, 'Log out') : null,
  );
}

async function logout() {
  try {
    await post('/v1/auth/logout');
  } catch {
    /* the session ends anyway */
  }
  session.clear();
  navigate('#/login');
}

function showLogin(message?: string) {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const err = h('div', { class: 'form-error', role: 'alert' }, message ?? '');
  const btn = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login card',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        btn.disabled = true;
        err.textContent = '';
        try {
          const r = await post<{ token: string; expiresAt: string; user: never }>('/v1/auth/login', { username: user.value.trim(), password: pass.value });
          session.set(r);
          const back = sessionStorage.getItem('bicr.after-login');
          sessionStorage.removeItem('bicr.after-login');
          navigate(back && back !== '#/login' ? back : '#/worklist');
        } catch (e2) {
          err.textContent = e2 instanceof ApiError ? e2.message : String(e2);
          pass.value = '';
          pass.focus();
        } finally {
          btn.disabled = false;
        }
      },
    },
    h('h1', null, 'BICR Reader'),
    h('p', { class: 'muted' }, 'Blinded reading: subjects are shown by their Subject Reading ID only.'),
    h('label', { for: 'username' }, 'Username'),
    user,
    h('label', { for: 'password' }, 'Password'),
    pass,
    err,
    btn,
  );
  render(app, h('div', { class: 'login-page' }, form));
}

async function route() {
  teardown?.();
  teardown = null;
  document.body.dataset.ready = 'false';
  const hash = location.hash || '#/worklist';
  if (!session.token() && hash !== '#/login') {
    sessionStorage.setItem('bicr.after-login', hash);
    return navigate('#/login');
  }
  try {
    if (hash === '#/login') return showLogin();
    const main = h('main', { class: 'main' });
    render(app, topbar(), main);
    let m: RegExpExecArray | null;
    if ((m = /^#\/case\/([^/]+)(?:\/([^/]+))?$/.exec(hash))) teardown = await showCase(main, decodeURIComponent(m[1]!), m[2] ? decodeURIComponent(m[2]) : undefined);
    else if ((m = /^#\/adjudication\/([^/]+)$/.exec(hash))) teardown = await showAdjudication(main, decodeURIComponent(m[1]!));
    else teardown = await showWorklist(main);
    document.body.dataset.ready = 'true';
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    console.error(e);
    toast(e instanceof Error ? e.message : String(e), 'error');
    document.body.dataset.ready = 'error';
  }
}

setUnauthorizedHandler(() => {
  session.clear();
  sessionStorage.setItem('bicr.after-login', location.hash);
  showLogin('Your session has ended (expired or logged out). Log in again to continue; nothing saved is lost.');
});
/**
 * One route at a time. A view loads for a while (series, outlines); a navigation that arrives meanwhile (a fast click
 * on another timepoint) runs when the running one has finished, for the hash current then. Two routes rendering at
 * once would leave the first view alive off screen: its viewers never destroyed, its shortcuts still answering keys.
 */
let routing: Promise<void> | null = null;
let routeAgain = false;
function scheduleRoute(): void {
  if (routing) {
    routeAgain = true;
    return;
  }
  routing = (async () => {
    do {
      routeAgain = false;
      await route();
    } while (routeAgain);
  })().finally(() => (routing = null));
}

installShortcuts();
window.addEventListener('hashchange', scheduleRoute);
window.addEventListener('reroute', scheduleRoute);
scheduleRoute();
