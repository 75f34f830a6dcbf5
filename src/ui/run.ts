// One run: header, approval/decision panel, the step graph (states from the event history, path taken
// highlighted), the timeline of step outcomes, each step's output, and the alert as received. The run's event
// stream applies each event at once (a node turns green the moment its step succeeds); a debounced re-read of the
// run then brings outputs and decisions.
import { api, ApiError, liveEvents, type Me, type Run, type RunbookGraph, type RunContext, type StepEvent } from './api.js';
import { announce, coalesced, h, replace } from './dom.js';
import { ago, clock, duration, STEP_STATE_ICON, STEP_STATE_LABEL, shortHash, statusIcon, statusLabel } from './format.js';
import { drawGraph, type GraphView, type NodeState } from './graph.js';
import { pathTaken } from './layout.js';
import { jsonBlock, renderApprovalExtra, renderOutput } from './outputs.js';
import type { Shell } from './shell.js';
import { eventTone } from '../core/step-summary.js';

const TERMINAL = new Set(['succeeded', 'failed', 'escalated', 'cancelled', 'refused']);

function cmpId(a: string | undefined, b: string | undefined): number {
  const [a1 = 0, a2 = 0] = (a ?? '0-0').split('-').map(Number);
  const [b1 = 0, b2 = 0] = (b ?? '0-0').split('-').map(Number);
  return a1 - b1 || a2 - b2;
}

/** A step that finished: coloured by what it found, not by whether its action threw — an `end: failed` step or a
 * deploy whose execution failed is red, an `end: escalated` step is an escalation. */
function finishedState(ev: StepEvent): 'succeeded' | 'failed' | 'escalated' {
  if (ev.kind !== 'succeeded') return 'failed';
  const tone = eventTone(ev);
  return tone === 'bad' ? 'failed' : tone === 'warn' ? 'escalated' : 'succeeded';
}

/** Each step's state as the events tell it (the latest event about the step wins). */
export function statesFromEvents(events: StepEvent[], runStatus: string): Record<string, NodeState> {
  const st: Record<string, NodeState> = {};
  for (const ev of events) {
    if (!ev.step || ev.kind === 'run' || ev.kind === 'progress') continue;
    const k = ev.kind;
    st[ev.step] = k === 'started' ? 'running' : k === 'succeeded' ? finishedState(ev) : k === 'approved' ? 'succeeded' : k === 'failed' || k === 'rejected' ? 'failed' : k === 'waiting' ? 'waiting' : k === 'skipped' ? 'skipped' : st[ev.step] ?? 'pending';
  }
  if (TERMINAL.has(runStatus)) for (const [k, v] of Object.entries(st)) if (v === 'running' || v === 'waiting') st[k] = 'stopped';
  return st;
}

interface TimelineRow {
  at: string;
  end?: string;
  step: string;
  kind: 'attempt' | 'approval' | 'run' | 'skipped' | 'inline';
  result: string;
  attempt?: number;
  visit?: number;
  durationMs?: number;
  detail?: string;
  actor?: string;
  progress?: string;
}

/** Events folded into rows: one per attempt of a step, one per approval wait, one per run-level event. */
export function timelineRows(events: StepEvent[]): TimelineRow[] {
  const rows: TimelineRow[] = [];
  const open = new Map<string, TimelineRow>();
  for (const ev of events) {
    const key = `${ev.step}#${ev.visit}#${ev.attempt}`;
    if (ev.kind === 'run') {
      rows.push({ at: ev.at, step: ev.step, kind: 'run', result: String((ev.output as { status?: string } | undefined)?.status ?? 'info'), detail: ev.message, actor: ev.actor });
    } else if (ev.kind === 'started') {
      const r: TimelineRow = { at: ev.at, step: ev.step, kind: 'attempt', result: 'running', attempt: ev.attempt, visit: ev.visit, detail: ev.message };
      open.set(key, r);
      rows.push(r);
    } else if (ev.kind === 'progress') {
      const r = open.get(key);
      if (r) r.progress = ev.message;
    } else if (ev.kind === 'succeeded' || ev.kind === 'failed') {
      const r = open.get(key);
      if (r) {
        r.result = finishedState(ev);
        r.end = ev.at;
        r.durationMs = ev.durationMs ?? Date.parse(ev.at) - Date.parse(r.at);
        if (ev.kind === 'failed') r.detail = ev.error?.message ?? ev.message;
        else if (ev.message) r.detail = ev.message;
        open.delete(key);
      } else {
        // Inline steps (switch, end) succeed without a job.
        rows.push({ at: ev.at, step: ev.step, kind: 'inline', result: finishedState(ev), visit: ev.visit, detail: ev.message ?? ev.error?.message, durationMs: ev.durationMs });
      }
    } else if (ev.kind === 'waiting') {
      const r: TimelineRow = { at: ev.at, step: ev.step, kind: 'approval', result: 'waiting', visit: ev.visit, detail: ev.message };
      open.set(`${ev.step}#${ev.visit}#approval`, r);
      rows.push(r);
    } else if (ev.kind === 'approved' || ev.kind === 'rejected') {
      const r = open.get(`${ev.step}#${ev.visit}#approval`);
      const detail = [ev.message, (ev.output as { choice?: string } | undefined)?.choice ? `choice ${(ev.output as { choice?: string }).choice}` : ''].filter(Boolean).join(' · ');
      if (r) {
        r.result = ev.kind;
        r.end = ev.at;
        r.durationMs = Date.parse(ev.at) - Date.parse(r.at);
        r.actor = ev.actor;
        r.detail = detail || r.detail;
        open.delete(`${ev.step}#${ev.visit}#approval`);
      } else rows.push({ at: ev.at, step: ev.step, kind: 'approval', result: ev.kind, actor: ev.actor, detail });
    } else if (ev.kind === 'skipped') {
      rows.push({ at: ev.at, step: ev.step, kind: 'skipped', result: 'skipped', visit: ev.visit, detail: ev.message });
    }
  }
  return rows;
}

function badge(status: string, big = false): HTMLElement {
  return h('span', { class: `badge st-${status}${big ? ' big' : ''}`, id: big ? 'run-status' : undefined, 'data-status': status }, h('span', { class: 'badge-icon', 'aria-hidden': 'true' }, statusIcon(status)), statusLabel(status));
}

function stateBadge(state: string): HTMLElement {
  return h('span', { class: `sbadge ss-${state}` }, h('span', { 'aria-hidden': 'true' }, STEP_STATE_ICON[state] ?? '•'), ' ', STEP_STATE_LABEL[state] ?? state);
}

export async function runPage(shell: Shell, me: Me, runId: string): Promise<void> {
  let run: Run;
  let events: StepEvent[] = [];
  let graph: RunbookGraph | null = null;
  let ctx: RunContext = { links: [], may: { approve: false, cancel: false, retry: false } };
  let view: GraphView | null = null;
  const openSteps = new Set<string>();

  try {
    const res = await api.run(runId);
    run = res.run;
    events = res.events;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      replace(shell.main, h('div', { class: 'page' }, h('p', null, h('a', { href: '/dashboard/' }, '← All runs')), h('h1', null, 'Run not found'), h('p', null, `There is no run ${runId}. It may have been pruned.`)));
      return;
    }
    throw e;
  }
  document.title = `${run.id} · ${statusLabel(run.status)} · runwright`;

  // ------------------------------------------------------------ incident report

  const reportBox = h('section', { class: 'card report-card', id: 'report', hidden: true, 'aria-labelledby': 'report-title' });
  const reportButton = h('button', { type: 'button', class: 'btn btn-small', id: 'report-button' }, 'Incident report');
  reportButton.addEventListener('click', async () => {
    reportButton.setAttribute('aria-busy', 'true');
    try {
      const url = `/api/runs/${encodeURIComponent(run.id)}/report`;
      const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'text/markdown' } });
      const text = await res.text();
      replace(
        reportBox,
        h('div', { class: 'card-head' }, h('h2', { id: 'report-title' }, 'Incident report (markdown)'), h('a', { class: 'btn btn-small', href: url, download: `incident-${run.id}.md`, id: 'report-download' }, 'Download .md')),
        res.ok ? h('pre', { class: 'code wrap', id: 'report-text', tabindex: 0 }, text) : h('p', { class: 'form-error' }, `Could not load the report: ${res.status} ${text.slice(0, 200)}`),
      );
      reportBox.hidden = false;
      reportBox.scrollIntoView({ block: 'start' });
    } finally {
      reportButton.removeAttribute('aria-busy');
    }
  });

  const head = h('header', { class: 'run-head card' });
  const actionPanel = h('section', { class: 'actions-panel', 'aria-label': 'Decisions and actions' });
  const graphBox = h('div', { class: 'graph-scroll', tabindex: 0, role: 'region', 'aria-label': 'Step graph' });
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    ...['succeeded', 'running', 'waiting', 'failed', 'escalated', 'pending'].map((s) => h('li', null, h('span', { class: `swatch ss-${s}`, 'aria-hidden': 'true' }), STEP_STATE_LABEL[s] ?? s)),
    h('li', null, h('span', { class: 'swatch-line taken', 'aria-hidden': 'true' }), 'path taken'),
    h('li', null, h('span', { class: 'swatch-line error', 'aria-hidden': 'true' }), 'on error / reject'),
  );
  const timeline = h('div', { class: 'timeline-wrap' });
  const stepsBox = h('div', { class: 'steps' });
  const alertBox = h('div', { class: 'alert-box' });
  replace(
    shell.main,
    h(
      'div',
      { class: 'page run-page', 'data-run-id': run.id },
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/dashboard/' }, '← All runs')),
      head,
      reportBox,
      // Wide screens: the graph stays in view on the left while the rest scrolls; phones: one column, decisions first.
      h(
        'div',
        { class: 'run-grid' },
        actionPanel,
        h('section', { class: 'card graph-card', 'aria-labelledby': 'graph-title' }, h('div', { class: 'card-head' }, h('h2', { id: 'graph-title' }, 'Step graph'), legend), graphBox),
        h('section', { class: 'card timeline-card', 'aria-labelledby': 'timeline-title' }, h('h2', { id: 'timeline-title' }, 'Timeline'), timeline),
        h('section', { class: 'card steps-card', 'aria-labelledby': 'steps-title' }, h('h2', { id: 'steps-title' }, 'Step outputs'), stepsBox),
        h('section', { class: 'card alert-card', 'aria-labelledby': 'alert-title' }, h('h2', { id: 'alert-title' }, 'Alert as received'), alertBox),
      ),
    ),
  );

  // ------------------------------------------------------------ header

  const renderHead = () => {
    const end = run.finishedAt ?? (TERMINAL.has(run.status) ? run.updatedAt : undefined);
    const took = Date.parse(end ?? new Date().toISOString()) - Date.parse(run.createdAt);
    replace(
      head,
      h(
        'div',
        { class: 'run-title' },
        badge(run.status, true),
        run.dryRun ? h('span', { class: 'pill warn', id: 'dry-run-flag', title: 'Every side-effecting step was planned, not done' }, 'DRY RUN — nothing written') : null,
        h('h1', null, graph?.title ?? run.runbookId),
        reportButton,
      ),
      h(
        'dl',
        { class: 'meta' },
        h('div', null, h('dt', null, 'Run'), h('dd', null, h('code', { id: 'run-id' }, run.id))),
        h('div', null, h('dt', null, 'Runbook'), h('dd', null, h('code', null, run.runbookId), h('span', { class: 'muted', title: run.runbookHash }, ` @${shortHash(run.runbookHash)}`), graph && !graph.loaded ? h('span', { class: 'pill', title: 'The service has loaded a newer version since this run started' }, 'older version') : null)),
        h('div', null, h('dt', null, 'Target'), h('dd', null, run.target.name, h('span', { class: 'muted' }, ` · ${run.target.platform}${run.target.branch ? ` · ${run.target.branch}` : ''}`))),
        h('div', null, h('dt', null, 'Started'), h('dd', null, h('time', { datetime: run.createdAt, title: run.createdAt }, clock(run.createdAt)), h('span', { class: 'muted' }, ` (${ago(run.createdAt)})`))),
        h('div', null, h('dt', null, end ? 'Took' : 'Running for'), h('dd', { id: 'run-duration' }, duration(took))),
        h('div', null, h('dt', null, TERMINAL.has(run.status) ? 'Last step' : 'Current step'), h('dd', null, run.currentStep ? h('code', null, run.currentStep) : '—')),
        (run.alertCount ?? 1) > 1 ? h('div', null, h('dt', null, 'Alerts'), h('dd', null, `${run.alertCount} attached (last ${ago(run.lastSeenAt)})`)) : null,
        run.dryRun || run.autoApprove ? h('div', null, h('dt', null, 'Mode'), h('dd', null, [run.dryRun ? 'dry run' : '', run.autoApprove ? 'auto-approve' : ''].filter(Boolean).join(', '))) : null,
      ),
      run.outcome ? h('p', { class: `outcome st-${run.status}`, id: 'run-outcome' }, h('strong', null, 'Outcome: '), run.outcome) : run.waitingReason ? h('p', { class: 'outcome' }, run.waitingReason) : null,
    );
  };

  // ------------------------------------------------------------ decisions and actions

  let panelKey = '';
  let actionError = '';
  const act = async (action: 'approve' | 'reject' | 'cancel' | 'retry', body: { comment?: string; choice?: string }, button: HTMLButtonElement) => {
    actionError = '';
    const all = Array.from(actionPanel.querySelectorAll<HTMLButtonElement>('button'));
    all.forEach((b) => (b.disabled = true));
    button.setAttribute('aria-busy', 'true');
    try {
      const res = await api.act(run.id, action, body, me.csrf);
      run = res.run;
      announce(`Run ${run.id}: ${action} done; now ${statusLabel(run.status)}`);
      panelKey = '';
      await reload();
    } catch (e) {
      actionError = e instanceof ApiError ? `${e.message}` : `Failed: ${(e as Error).message}`;
      all.forEach((b) => (b.disabled = false));
      button.removeAttribute('aria-busy');
      const p = actionPanel.querySelector('.form-error');
      if (p) p.textContent = actionError;
    }
  };

  const decisionsList = () =>
    run.approvals?.length
      ? h(
          'ol',
          { class: 'decisions', 'aria-label': 'Decisions' },
          ...run.approvals.map((a) =>
            h(
              'li',
              { class: `decision ${a.decision}` },
              h('span', { class: 'decision-icon', 'aria-hidden': 'true' }, a.decision === 'approved' ? '✓' : '✕'),
              h('span', null, h('strong', null, a.decision === 'approved' ? 'Approved' : 'Rejected'), a.choice ? h('span', null, ' — option ', h('strong', { class: 'fix-letter' }, a.choice)) : null, ' by ', h('strong', { class: 'actor' }, a.actor), ' at ', h('time', { datetime: a.at, title: a.at }, clock(a.at)), h('span', { class: 'muted' }, ` (${ago(a.at)})`)),
              a.comment ? h('blockquote', { class: 'comment' }, a.comment) : null,
            ),
          ),
        )
      : null;

  const renderActions = () => {
    const waitingEv = [...events].reverse().find((e) => e.kind === 'waiting' && e.step === run.currentStep);
    const key = JSON.stringify([run.status, run.currentStep, waitingEv?.id, ctx.may, ctx.approval?.prompt, run.approvals?.length]);
    if (key === panelKey) return;
    panelKey = key;
    const parts: (HTMLElement | null)[] = [];
    if (run.status === 'waiting_approval') {
      const ap = ctx.approval;
      const options = ap?.options ?? ((waitingEv?.output as { options?: string[] } | undefined)?.options ?? []);
      const recommend = ap?.recommend && options.includes(ap.recommend) ? ap.recommend : options[0];
      const prompt = ap?.prompt ?? waitingEv?.message ?? 'This run waits for a decision.';
      const body: (HTMLElement | null)[] = [
        h('h2', { id: 'approval-title' }, h('span', { 'aria-hidden': 'true' }, '‖ '), 'Waiting for approval at ', h('code', null, run.currentStep ?? '')),
        h('p', { class: 'prompt' }, prompt),
        h('p', { class: 'muted small' }, 'Waiting since ', h('time', { datetime: waitingEv?.at ?? run.updatedAt }, clock(waitingEv?.at ?? run.updatedAt)), ` (${ago(waitingEv?.at ?? run.updatedAt)})`, ap?.approvers.length ? ` · approvers: ${ap.approvers.join(', ')}` : ''),
      ];
      const extras = [renderApprovalExtra('Findings', ap?.findings), renderApprovalExtra('Proposal', ap?.proposal)];
      if (ctx.may.approve) {
        const comment = h('textarea', { id: 'decision-comment', name: 'comment', rows: 2, maxlength: 2000, placeholder: 'Why (kept with the decision)' });
        const approve = h('button', { type: 'submit', class: 'btn btn-approve', id: 'approve', value: 'approve' }, options.length ? 'Approve' : 'Approve');
        const reject = h('button', { type: 'button', class: 'btn btn-danger', id: 'reject' }, 'Reject');
        const form = h(
          'form',
          { class: 'decide', 'aria-labelledby': 'approval-title' },
          options.length
            ? h(
                'fieldset',
                { class: 'options' },
                h('legend', null, 'Option'),
                ...options.map((o) =>
                  h('label', { class: 'option' }, h('input', { type: 'radio', name: 'choice', value: o, checked: o === recommend, id: `choice-${o}` }), h('span', { class: 'option-letter' }, o), o === ap?.recommend ? h('span', { class: 'muted small' }, ' recommended') : null),
                ),
              )
            : null,
          h('div', { class: 'field' }, h('label', { for: 'decision-comment' }, 'Comment (optional)'), comment),
          h('div', { class: 'buttons' }, approve, reject),
          h('p', { class: 'form-error', role: 'alert' }, actionError),
        );
        const choice = () => (form.querySelector<HTMLInputElement>('input[name=choice]:checked')?.value ?? undefined);
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          void act('approve', { comment: comment.value, choice: choice() }, approve);
        });
        reject.addEventListener('click', () => void act('reject', { comment: comment.value }, reject));
        body.push(form);
      } else {
        body.push(h('p', { class: 'notice', id: 'no-approve' }, me.role === 'viewer' ? `You are signed in as ${me.name} (viewer): you can follow this run, but only approvers can decide.` : `${me.name} is not among the approvers of this run${ap?.approvers.length ? ` (${ap.approvers.join(', ')})` : ''}.`));
      }
      body.push(...extras);
      parts.push(h('div', { class: 'card approval-card', 'aria-labelledby': 'approval-title' }, ...body));
    }
    const decisions = decisionsList();
    const admin: HTMLElement[] = [];
    if (ctx.may.retry) {
      const b = h('button', { type: 'button', class: 'btn', id: 'retry' }, 'Retry from the failed step');
      b.addEventListener('click', () => void act('retry', {}, b));
      admin.push(b);
    }
    if (ctx.may.cancel) {
      const b = h('button', { type: 'button', class: 'btn btn-danger-quiet', id: 'cancel' }, 'Cancel run…');
      b.addEventListener('click', () => {
        const confirm = h('button', { type: 'button', class: 'btn btn-danger', id: 'cancel-confirm' }, 'Yes, cancel this run');
        const keep = h('button', { type: 'button', class: 'btn btn-quiet' }, 'Keep it running');
        confirm.addEventListener('click', () => void act('cancel', {}, confirm));
        keep.addEventListener('click', () => {
          panelKey = '';
          renderActions();
        });
        b.replaceWith(h('span', { class: 'confirm' }, confirm, keep));
        confirm.focus();
      });
      admin.push(b);
    }
    if (decisions || admin.length) {
      parts.push(
        h(
          'div',
          { class: 'card decisions-card' },
          decisions ? h('div', null, h('h2', null, 'Decisions'), decisions) : null,
          admin.length ? h('div', { class: 'admin-actions' }, h('h2', { class: 'sr-only' }, 'Admin actions'), ...admin, run.status === 'waiting_approval' ? null : h('p', { class: 'form-error', role: 'alert' }, actionError)) : null,
        ),
      );
    }
    replace(actionPanel, ...parts);
  };

  // ------------------------------------------------------------ graph

  const selectStep = (step: string) => {
    const el = document.getElementById(`step-${step}`) as HTMLDetailsElement | null;
    if (!el) return;
    el.open = true;
    openSteps.add(step);
    el.scrollIntoView({ behavior: 'smooth', block: 'start' });
    el.querySelector('summary')?.focus({ preventScroll: true });
  };
  const renderGraph = () => {
    if (!graph) return;
    if (!view) {
      view = drawGraph(graph, selectStep);
      replace(graphBox, view.svg);
    }
    const states = statesFromEvents(events, run.status);
    const taken = pathTaken(events, graph.edges);
    view.update(states, taken.edges, TERMINAL.has(run.status) ? undefined : run.currentStep);
  };

  // ------------------------------------------------------------ timeline

  const renderTimeline = () => {
    const rows = timelineRows(events);
    const t0 = Date.parse(run.createdAt);
    const tEnd = Math.max(Date.parse(run.finishedAt ?? run.updatedAt), ...events.map((e) => Date.parse(e.at)), t0 + 1);
    const now = Date.now();
    const span = Math.max((TERMINAL.has(run.status) ? tEnd : Math.max(tEnd, now)) - t0, 1);
    const bar = (r: TimelineRow) => {
      const start = Date.parse(r.at) - t0;
      const end = r.end ? Date.parse(r.end) - t0 : r.result === 'running' || r.result === 'waiting' ? now - t0 : start;
      const el = h('span', { class: `bar r-${r.result}`, 'aria-hidden': 'true' });
      el.style.left = `${Math.max(0, Math.min(100, (start / span) * 100))}%`;
      el.style.width = `${Math.max(0.8, Math.min(100, ((end - start) / span) * 100))}%`;
      return h('div', { class: 'bar-track' }, el);
    };
    replace(
      timeline,
      h(
        'div',
        { class: 'scroll-x', tabindex: 0, role: 'region', 'aria-label': 'Timeline' },
        h(
          'table',
          { class: 'timeline data', id: 'timeline' },
          h('caption', { class: 'sr-only' }, 'Step outcomes in order, with attempts and durations'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Step'), h('th', { scope: 'col' }, 'Outcome'), h('th', { scope: 'col' }, 'Try'), h('th', { scope: 'col' }, 'Took'), h('th', { scope: 'col', class: 'col-bar' }, h('span', { class: 'sr-only' }, 'When')), h('th', { scope: 'col' }, 'Details'))),
          h('tbody', null, ...rows.map((r) =>
            h(
              'tr',
              { class: `tl-${r.kind} r-${r.result}`, 'data-step': r.step, 'data-result': r.result },
              h('td', { class: 'nowrap' }, h('time', { datetime: r.at, title: r.at }, clock(r.at))),
              h('td', null, r.step && r.kind !== 'run' ? h('code', null, r.step) : h('span', { class: 'muted' }, 'run')),
              h('td', null, r.kind === 'run' ? h('span', { class: 'muted' }, r.result === 'info' ? '—' : statusLabel(r.result)) : stateBadge(r.result === 'approved' ? 'succeeded' : r.result === 'rejected' ? 'failed' : r.result)),
              h('td', { class: 'num nowrap' }, r.attempt ? `${r.attempt}${r.visit && r.visit > 1 ? ` (visit ${r.visit})` : ''}` : r.visit && r.visit > 1 ? `visit ${r.visit}` : ''),
              h('td', { class: 'num nowrap' }, duration(r.durationMs)),
              h('td', { class: 'col-bar' }, bar(r)),
              h('td', { class: 'details' }, r.actor ? h('strong', null, `${r.actor}: `) : null, r.detail ?? '', r.progress && r.result === 'running' ? h('span', { class: 'muted' }, ` ${r.progress}`) : null),
            ),
          )),
        ),
      ),
    );
  };

  // ------------------------------------------------------------ step outputs

  const renderSteps = () => {
    const order = pathTaken(events, graph?.edges ?? []).steps;
    const seen = [...new Set([...order, ...Object.keys(run.steps)])];
    const states = statesFromEvents(events, run.status);
    const lastEv = (step: string, kinds: string[]) => [...events].reverse().find((e) => e.step === step && kinds.includes(e.kind));
    const existing = new Map(Array.from(stepsBox.querySelectorAll<HTMLDetailsElement>('details.step-detail')).map((d) => [d.dataset.step!, d]));
    const items = seen.map((id) => {
      const st = run.steps[id];
      const def = graph?.steps.find((x) => x.id === id);
      const state = states[id] ?? st?.status ?? 'pending';
      const done = lastEv(id, ['succeeded', 'failed']);
      const links = ctx.links.filter((l) => l.step === id);
      // Rebuilt only when what it shows changed: a reader's selection in a long diff survives live updates.
      const sig = JSON.stringify([state, st, done?.id, links]);
      const old = existing.get(id);
      if (old && old.dataset.sig === sig) return old;
      const body: (HTMLElement | null)[] = [
        def?.description ? h('p', { class: 'muted' }, def.description) : null,
        st?.error ? h('div', { class: 'step-error', role: 'note' }, h('strong', null, `Error${st.error.code ? ` (${st.error.code})` : ''}: `), st.error.message) : null,
        ...renderOutput(st?.output, links),
        done?.input !== undefined ? jsonBlock(done.input, 'Input (resolved parameters)') : null,
      ];
      const details = h(
        'details',
        { class: `step-detail ss-${state}`, id: `step-${id}`, 'data-step': id, open: openSteps.has(id) },
        h(
          'summary',
          null,
          stateBadge(state === 'stopped' ? 'skipped' : state),
          h('code', { class: 'step-id' }, id),
          h('span', { class: 'muted' }, def?.action ?? def?.kind ?? ''),
          st && st.attempt > 1 ? h('span', { class: 'pill' }, `attempt ${st.attempt}`) : null,
          st && st.visit > 1 ? h('span', { class: 'pill' }, `visit ${st.visit}`) : null,
          done?.durationMs !== undefined ? h('span', { class: 'muted small' }, duration(done.durationMs)) : null,
          links.length ? h('span', { class: 'pill' }, `${links.length} link${links.length > 1 ? 's' : ''}`) : null,
        ),
        h('div', { class: 'step-body' }, ...body),
      );
      details.dataset.sig = sig;
      details.addEventListener('toggle', () => (details.open ? openSteps.add(id) : openSteps.delete(id)));
      return details;
    });
    if (!items.length) {
      replace(stepsBox, h('p', { class: 'muted' }, 'No step has run yet.'));
      return;
    }
    stepsBox.querySelector(':scope > p')?.remove();
    items.forEach((d, i) => {
      if (stepsBox.children[i] !== d) stepsBox.insertBefore(d, stepsBox.children[i] ?? null);
    });
    while (stepsBox.children.length > items.length) stepsBox.lastElementChild!.remove();
  };

  // ------------------------------------------------------------ alert

  const renderAlert = () => {
    const a = run.alert;
    const labels = Object.entries(a.labels ?? {});
    const resLabels = Object.entries(a.resource?.labels ?? {});
    replace(
      alertBox,
      h('pre', { class: 'alert-text code wrap', id: 'alert-text', tabindex: 0 }, a.text),
      h(
        'dl',
        { class: 'kv' },
        h('dt', null, 'Source'), h('dd', null, a.source),
        h('dt', null, 'Severity'), h('dd', null, h('span', { class: `sev sev-${a.severity}` }, a.severity)),
        h('dt', null, 'Received'), h('dd', null, h('time', { datetime: a.receivedAt }, a.receivedAt)),
        h('dt', null, 'Fingerprint'), h('dd', null, h('code', null, a.fingerprint)),
        labels.length ? [h('dt', null, 'Labels'), h('dd', null, h('ul', { class: 'chips' }, ...labels.map(([k, v]) => h('li', null, h('code', null, `${k}=${v}`)))))] : null,
        a.resource?.type || resLabels.length ? [h('dt', null, 'Resource'), h('dd', null, a.resource?.type ?? '', resLabels.length ? h('ul', { class: 'chips' }, ...resLabels.map(([k, v]) => h('li', null, h('code', null, `${k}=${v}`)))) : null)] : null,
        Object.keys(run.inputs ?? {}).length ? [h('dt', null, 'Run inputs'), h('dd', null, h('ul', { class: 'chips' }, ...Object.entries(run.inputs).map(([k, v]) => h('li', null, h('code', null, `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)))))] : null,
      ),
    );
  };

  const renderAll = () => {
    document.title = `${run.id} · ${statusLabel(run.status)} · runwright`;
    renderHead();
    renderActions();
    renderGraph();
    renderTimeline();
    renderSteps();
    renderAlert();
    document.body.dataset.status = run.status;
  };

  // ------------------------------------------------------------ loading and live updates

  const addEvents = (list: StepEvent[]) => {
    const ids = new Set(events.map((e) => e.id));
    let added = false;
    for (const e of list) {
      if (e.id && ids.has(e.id)) continue;
      events.push(e);
      added = true;
    }
    if (added) events.sort((a, b) => cmpId(a.id, b.id));
    return added;
  };

  async function reload(): Promise<void> {
    const [res, c] = await Promise.all([api.run(run.id), api.context(run.id).catch(() => ctx)]);
    const prevStatus = run.status;
    run = res.run;
    addEvents(res.events);
    ctx = c;
    if (prevStatus !== run.status) announce(`Run ${run.id} is now ${statusLabel(run.status)}`);
    renderAll();
  }

  [graph, ctx] = await Promise.all([api.graph(run.runbookId, run.runbookHash).catch(() => null), api.context(run.id).catch(() => ctx)]);
  if (!graph) graphBox.appendChild(h('p', { class: 'muted' }, 'The runbook graph is not available for this run.'));
  renderAll();
  document.body.dataset.loaded = 'true';

  const schedule = coalesced(reload, 200);

  const lastId = events.length ? events[events.length - 1]!.id : undefined;
  liveEvents(`/api/runs/${encodeURIComponent(run.id)}/stream`, {
    after: lastId,
    event: (ev) => {
      if (!addEvents([ev])) return;
      // Apply at once what the event says, then re-read the run for outputs and decisions.
      if (ev.kind === 'waiting') run.status = 'waiting_approval';
      else if (ev.kind === 'started') run.status = 'running';
      else if (ev.kind === 'run' && (ev.output as { status?: string } | undefined)?.status) run.status = (ev.output as { status: Run['status'] }).status;
      if (ev.step && ev.kind !== 'run') run.currentStep = ev.step;
      renderGraph();
      renderTimeline();
      document.body.dataset.status = run.status;
      const b = document.getElementById('run-status');
      if (b && b.dataset.status !== run.status) b.replaceWith(badge(run.status, true));
      if (ev.kind !== 'progress') schedule();
    },
    state: (s) => {
      shell.setLive(s);
      if (s === 'live') schedule(0);
    },
  });
  window.setInterval(() => {
    if (!TERMINAL.has(run.status)) {
      renderTimeline();
      const d = document.getElementById('run-duration');
      if (d) d.textContent = duration(Date.now() - Date.parse(run.createdAt));
    }
  }, 5_000);
}
