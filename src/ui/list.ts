// The runs list: runs waiting for approval pinned on top, then one page of runs (newest first) with filters in the
// URL. Pages come from the runs API (limit + cursor, index-backed: no full scan however long the history). Any live
// event schedules one refresh of what is on screen; rows update in place and flash when they change.
import { api, ApiError, liveEvents, type Me, type RunList, type RunSummary } from './api.js';
import { announce, coalesced, h, replace } from './dom.js';
import { ago, clock, firstLine, STATUSES, statusIcon, statusLabel } from './format.js';
import type { Shell } from './shell.js';

const PAGE = 50;

function badge(status: string): HTMLElement {
  return h('span', { class: `badge st-${status}` }, h('span', { class: 'badge-icon', 'aria-hidden': 'true' }, statusIcon(status)), statusLabel(status));
}

const runHref = (id: string) => `/dashboard/runs/${encodeURIComponent(id)}`;

function approvedBy(r: RunSummary): HTMLElement | string {
  const a = r.approval;
  if (!a) return h('span', { class: 'muted' }, '—');
  return h(
    'span',
    { class: `decision ${a.decision}` },
    h('span', { 'aria-hidden': 'true' }, a.decision === 'approved' ? '✓ ' : '✕ '),
    h('span', { class: 'sr-only' }, `${a.decision} by `),
    a.actor,
    a.choice ? h('span', { class: 'choice' }, ` · ${a.choice}`) : null,
    h('br'),
    h('time', { datetime: a.at, 'data-ago': a.at, class: 'muted small', title: clock(a.at) }, ago(a.at)),
  );
}

function currentStep(r: RunSummary): HTMLElement {
  const step = r.currentStep ? h('code', null, r.currentStep) : h('span', { class: 'muted' }, '—');
  const why = r.status === 'waiting_lock' ? r.waitingReason : ['failed', 'escalated', 'refused', 'cancelled'].includes(r.status) ? r.outcome : undefined;
  return h('div', null, step, why ? h('div', { class: 'muted small clip', title: why }, firstLine(why, 90)) : null);
}

function row(r: RunSummary): HTMLTableRowElement {
  const text = firstLine(r.alert?.text, 180);
  const tr = h(
    'tr',
    { class: `run-row st-${r.status}`, 'data-run-id': r.id, 'data-status': r.status },
    h('td', { 'data-label': 'Status' }, badge(r.status), r.dryRun ? h('span', { class: 'pill' }, 'dry run') : null),
    h('td', { 'data-label': 'Run' }, h('a', { class: 'run-link', href: runHref(r.id) }, h('code', null, r.id)), h('div', { class: 'muted small' }, r.runbookId)),
    h('td', { 'data-label': 'Target', class: 'nowrap' }, h('span', { class: 'target' }, r.target?.name ?? ''), h('div', { class: 'muted small' }, r.target?.platform ?? '')),
    h(
      'td',
      { 'data-label': 'What fired', class: 'fired' },
      h(
        'div',
        { class: 'fired-line' },
        h('span', { class: `sev sev-${r.alert?.severity ?? 'info'}` }, r.alert?.severity ?? ''),
        h('span', { class: 'alert-line', title: text }, text),
        (r.alertCount ?? 1) > 1 ? h('span', { class: 'pill', title: `${r.alertCount} alerts attached to this run` }, `×${r.alertCount}`) : null,
      ),
    ),
    h('td', { 'data-label': 'Current step' }, currentStep(r)),
    h('td', { 'data-label': 'Age', class: 'nowrap' }, h('time', { datetime: r.createdAt, 'data-ago': r.createdAt, title: clock(r.createdAt) }, ago(r.createdAt))),
    h('td', { 'data-label': 'Approved by' }, approvedBy(r)),
  );
  tr.addEventListener('click', (ev) => {
    if ((ev.target as Element).closest('a, button')) return;
    if (window.getSelection()?.toString()) return;
    window.location.assign(runHref(r.id));
  });
  return tr;
}

/** A signature of what a row shows, so unchanged rows are left alone. */
const sig = (r: RunSummary) => JSON.stringify([r.status, r.currentStep, r.approval?.at, r.alertCount, r.outcome, r.waitingReason]);

function updateRows(tbody: HTMLElement, runs: RunSummary[], flash: boolean): void {
  const existing = new Map<string, HTMLTableRowElement>();
  for (const tr of Array.from(tbody.querySelectorAll<HTMLTableRowElement>('tr[data-run-id]'))) existing.set(tr.dataset.runId!, tr);
  const rows: HTMLTableRowElement[] = [];
  for (const r of runs) {
    const old = existing.get(r.id);
    if (old && old.dataset.sig === sig(r)) {
      rows.push(old);
      continue;
    }
    const tr = row(r);
    tr.dataset.sig = sig(r);
    if (flash && (old || existing.size)) tr.classList.add('flash');
    rows.push(tr);
  }
  // Reorder/replace with minimal moves so focus inside an unchanged row survives.
  rows.forEach((tr, i) => {
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
  });
  while (tbody.children.length > rows.length) tbody.lastElementChild!.remove();
}

function emptyRow(text: string): HTMLTableRowElement {
  return h('tr', { class: 'empty' }, h('td', { colspan: 7 }, text));
}

export async function listPage(shell: Shell, me: Me): Promise<void> {
  const params = new URLSearchParams(window.location.search);
  const filter = { status: params.get('status') ?? '', runbook: params.get('runbook') ?? '', target: params.get('target') ?? '' };
  let cursor = params.get('cursor') ?? '';
  const history: string[] = [];

  const select = (name: string, label: string, options: [string, string][], value: string) =>
    h('div', { class: 'field' }, h('label', { for: `f-${name}` }, label), h('select', { id: `f-${name}`, name }, h('option', { value: '' }, 'All'), ...options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));

  const counts = h('ul', { class: 'counts', 'aria-label': 'Runs by status' });
  const attention = h('section', { class: 'attention', 'aria-labelledby': 'attention-title', hidden: true });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' });
  const tbody = h('tbody', { id: 'runs-body' });
  const table = h(
    'table',
    { class: 'runs', id: 'runs-table' },
    h('caption', { class: 'sr-only' }, 'Runs, newest first'),
    h('thead', null, h('tr', null, ...['Status', 'Run', 'Target', 'What fired', 'Current step', 'Age', 'Approved by'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody,
  );
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  replace(
    shell.main,
    h('div', { class: 'page list-page' }, counts, attention, h('section', { class: 'card runs-card', 'aria-labelledby': 'runs-title' }, h('div', { class: 'card-head' }, h('h1', { id: 'runs-title' }, 'Runs'), me.role === 'approver' || me.role === 'admin' ? h('a', { class: 'btn btn-small', href: '/dashboard/new', id: 'new-run' }, 'Start a run') : null, filters), error, h('div', { class: 'table-wrap' }, table), pager)),
  );
  tbody.appendChild(emptyRow('Loading…'));

  // Filters (options load in the background; the current values work before they arrive).
  const renderFilters = (runbooks: string[], targets: string[]) => {
    replace(
      filters,
      select('status', 'Status', STATUSES.map((s) => [s, statusLabel(s)]), filter.status),
      select('runbook', 'Runbook', [...new Set([...runbooks, filter.runbook].filter(Boolean))].map((r) => [r, r]), filter.runbook),
      select('target', 'Target', [...new Set([...targets, filter.target].filter(Boolean))].map((t) => [t, t]), filter.target),
      h('button', { type: 'reset', class: 'btn btn-quiet' }, 'Clear'),
    );
  };
  renderFilters([], []);
  Promise.all([api.runbooks(), api.targets()]).then(([rb, tg]) => renderFilters(rb.runbooks.map((r) => r.id), tg.targets.map((t) => t.name)), () => undefined);
  const applyFilters = () => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
    window.history.replaceState(null, '', `/dashboard/${q.toString() ? `?${q}` : ''}`);
    cursor = '';
    history.length = 0;
    void refresh(false);
  };
  filters.addEventListener('change', (ev) => {
    const t = ev.target as HTMLSelectElement;
    if (t.name in filter) (filter as Record<string, string>)[t.name] = t.value;
    applyFilters();
  });
  filters.addEventListener('reset', (ev) => {
    ev.preventDefault();
    filter.status = filter.runbook = filter.target = '';
    filters.querySelectorAll('select').forEach((s) => (s.value = ''));
    applyFilters();
  });

  const query = (extra: Record<string, string>) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (filter.runbook) q.set('runbook', filter.runbook);
    if (filter.target) q.set('target', filter.target);
    for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
    return q;
  };

  let lastWaiting = new Set<string>();
  const renderAttention = (waiting: RunSummary[]) => {
    attention.hidden = waiting.length === 0;
    const fresh = waiting.filter((r) => !lastWaiting.has(r.id));
    if (lastWaiting.size || fresh.length < waiting.length) for (const r of fresh) announce(`Run ${r.id} (${r.runbookId} on ${r.target.name}) is waiting for approval`);
    lastWaiting = new Set(waiting.map((r) => r.id));
    replace(
      attention,
      h('h2', { id: 'attention-title' }, h('span', { 'aria-hidden': 'true' }, '‖ '), `Waiting for approval (${waiting.length})`),
      h(
        'ul',
        { class: 'attention-list' },
        ...waiting.map((r) =>
          h(
            'li',
            { class: 'attention-item', 'data-run-id': r.id },
            h('a', { href: runHref(r.id), class: 'attention-link' }, h('span', { class: 'attention-main' }, h('strong', null, r.target.name), ' · ', r.runbookId, ' · step ', h('code', null, r.currentStep ?? '')), h('span', { class: 'attention-text' }, firstLine(r.alert?.text, 140))),
            h('time', { datetime: r.updatedAt, 'data-ago': r.updatedAt, class: 'muted small', title: clock(r.updatedAt) }, `waiting since ${ago(r.updatedAt)}`),
            h('a', { href: runHref(r.id), class: 'btn btn-primary btn-small', 'aria-label': `Review run ${r.id}` }, me.role === 'viewer' ? 'View' : 'Review'),
          ),
        ),
      ),
    );
  };

  const renderCounts = (c: Record<string, number>) => {
    const shown = ['waiting_approval', 'running', 'queued', 'waiting_lock', 'failed', 'escalated', 'succeeded'];
    replace(
      counts,
      ...shown.map((s) =>
        h(
          'li',
          null,
          h('a', { href: `/dashboard/?status=${s}`, class: `count st-${s}${filter.status === s ? ' active' : ''}`, 'aria-current': filter.status === s ? 'true' : undefined }, h('span', { class: 'count-n' }, (c[s] ?? 0).toLocaleString()), h('span', { class: 'count-label' }, statusLabel(s))),
        ),
      ),
    );
  };

  const renderPager = (res: RunList, offset: number) => {
    const from = res.runs.length ? offset + 1 : 0;
    const to = offset + res.runs.length;
    const total = res.total >= 0 ? ` of ${res.total.toLocaleString()}` : '';
    const newer = h('button', { type: 'button', class: 'btn', disabled: !cursor, id: 'page-newer' }, '← Newer');
    const older = h('button', { type: 'button', class: 'btn', disabled: !res.nextCursor, id: 'page-older' }, 'Older →');
    newer.addEventListener('click', () => {
      cursor = history.pop() ?? '';
      void refresh(false, true);
    });
    older.addEventListener('click', () => {
      history.push(cursor);
      cursor = res.nextCursor ?? '';
      void refresh(false, true);
    });
    replace(pager, newer, h('span', { class: 'page-info', 'aria-live': 'polite' }, res.runs.length ? `Runs ${from.toLocaleString()}–${to.toLocaleString()}${total}` : 'No runs'), older);
  };

  let first = true;
  // Refreshes overlap (live events, paging, filters): only the latest one started may draw, and it draws the page
  // it asked for. A slow live refresh of page one that answers after a click on "Older" is dropped, not drawn
  // under the new page's pager.
  let latest = 0;
  async function refresh(live: boolean, paged = false): Promise<void> {
    const seq = ++latest;
    const asked = cursor;
    try {
      const [page, waiting, summary] = await Promise.all([
        api.runs(query({ status: filter.status, cursor: asked })),
        api.runs(query({ status: 'waiting_approval', limit: '20' })),
        api.summary(),
      ]);
      if (seq !== latest) return;
      error.textContent = '';
      // Waiting runs first on the first page (they are also pinned above).
      const runs = !asked && !filter.status ? [...page.runs.filter((r) => r.status === 'waiting_approval'), ...page.runs.filter((r) => r.status !== 'waiting_approval')] : page.runs;
      if (runs.length) {
        tbody.querySelector('tr.empty')?.remove();
        updateRows(tbody, runs, live && !first);
      } else replace(tbody, emptyRow(filter.status || filter.runbook || filter.target ? 'No runs match these filters.' : 'No runs yet. They appear here as alerts arrive.'));
      renderAttention(waiting.runs);
      renderCounts(summary.counts);
      renderPager(page, Number(asked || 0));
      const q = new URLSearchParams(window.location.search);
      if (cursor) q.set('cursor', cursor);
      else q.delete('cursor');
      if (paged) {
        window.history.replaceState(null, '', `/dashboard/${q.toString() ? `?${q}` : ''}`);
        table.scrollIntoView({ block: 'start' });
      }
      first = false;
      document.body.dataset.loaded = 'true';
    } catch (e) {
      if (seq !== latest) return;
      if (e instanceof ApiError && e.status === 401) window.location.reload();
      error.textContent = `Could not load runs: ${(e as Error).message}`;
    }
  }

  // One refresh at a time; events during a refresh schedule exactly one more.
  const schedule = coalesced(() => refresh(true), 150);

  await refresh(false);
  liveEvents('/api/stream', {
    event: (ev) => {
      if (ev.kind === 'progress') return;
      schedule();
    },
    state: (s) => {
      shell.setLive(s);
      if (s === 'live') schedule(); // catch up on anything missed while disconnected
    },
  });
  window.setInterval(() => {
    for (const t of Array.from(document.querySelectorAll<HTMLTimeElement>('time[data-ago]'))) {
      const base = ago(t.dataset.ago);
      t.textContent = t.textContent?.startsWith('waiting since') ? `waiting since ${base}` : base;
    }
  }, 15_000);
}
