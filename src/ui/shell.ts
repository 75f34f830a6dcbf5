// The frame every page shares: top bar (brand, live indicator, who is signed in, sign out) and the sign-in form.
import { api, ApiError, type Me, type StreamState } from './api.js';
import { h, replace } from './dom.js';

export interface Shell {
  main: HTMLElement;
  setLive(state: StreamState): void;
}

const LIVE_TEXT: Record<StreamState, string> = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' };

export function renderShell(root: HTMLElement, me: Me | null): Shell {
  const live = h('span', { class: 'live', 'data-state': 'connecting', role: 'status', title: 'Live updates (server-sent events)' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'live-text' }, LIVE_TEXT.connecting));
  const user = me
    ? h(
        'div',
        { class: 'user' },
        h('span', { class: 'who' }, h('span', { class: 'sr-only' }, 'Signed in as '), h('strong', { class: 'user-name' }, me.name), ' ', h('span', { class: `role role-${me.role}`, 'data-role': me.role }, me.role)),
        h('button', {
          type: 'button',
          class: 'btn btn-quiet',
          id: 'sign-out',
          onclick: async () => {
            await api.signOut(me.csrf).catch(() => undefined);
            window.location.assign('/dashboard/');
          },
        }, 'Sign out'),
      )
    : null;
  const header = h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '/dashboard/' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '◆'), h('span', null, 'runwright'), h('span', { class: 'brand-sub' }, 'on-call')),
    me ? live : null,
    h('span', { class: 'spacer' }),
    user,
  );
  const main = h('main', { id: 'main', tabindex: -1 });
  replace(root, header, main, h('div', { id: 'live-region', class: 'sr-only', 'aria-live': 'polite' }));
  root.removeAttribute('aria-busy');
  return {
    main,
    setLive(state) {
      live.setAttribute('data-state', state);
      live.querySelector('.live-text')!.textContent = LIVE_TEXT[state];
    },
  };
}

export function renderSignIn(main: HTMLElement, note?: string): void {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-help' });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'sign-in-error' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', { class: 'muted' }, note ?? 'Use your runwright API token. Viewers watch; approvers also approve and reject; admins also cancel and retry.'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { id: 'token-help', class: 'hint' }, 'Kept in an HttpOnly cookie for 12 hours; never readable by page scripts.'),
    error,
    button,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      await api.signIn(input.value.trim());
      window.location.reload();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? 'That token is not known to this service.' : `Could not sign in: ${(e as Error).message}`;
      button.disabled = false;
      input.focus();
    }
  });
  replace(main, h('div', { class: 'signin-wrap' }, form));
  input.focus();
}
