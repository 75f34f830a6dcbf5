// Entry point of the dashboard bundle: who is signed in, then the page the URL names.
import './styles.css';
import { api } from './api.js';
import { h, replace } from './dom.js';
import { listPage } from './list.js';
import { runPage } from './run.js';
import { newRunPage } from './new-run.js';
import { renderShell, renderSignIn } from './shell.js';

async function boot(): Promise<void> {
  const root = document.getElementById('app')!;
  let me;
  try {
    me = await api.me();
  } catch (e) {
    const shell = renderShell(root, null);
    replace(shell.main, h('p', { class: 'form-error', role: 'alert' }, `The service did not answer: ${(e as Error).message}`));
    return;
  }
  if (!me.signedIn) {
    renderSignIn(renderShell(root, null).main);
    document.body.dataset.loaded = 'signin';
    return;
  }
  const shell = renderShell(root, me);
  const m = /^\/dashboard\/runs\/([A-Za-z0-9_-]{1,64})\/?$/.exec(window.location.pathname);
  try {
    if (m) await runPage(shell, me, decodeURIComponent(m[1]!));
    else if (/^\/dashboard\/new\/?$/.test(window.location.pathname)) await newRunPage(shell, me);
    else await listPage(shell, me);
  } catch (e) {
    replace(shell.main, h('div', { class: 'page' }, h('p', { class: 'form-error', role: 'alert' }, `Something went wrong: ${(e as Error).message}`)));
  }
}

void boot();
