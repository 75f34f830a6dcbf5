// Start a run by hand: pick a runbook and a target, paste an alert (or pick a recent one), see the dry-run plan —
// every step as it would go, side effects planned, nothing written — then start the run itself (approver and up).
import { api, ApiError, type Me, type Run, type StepEvent } from './api.js';
import { announce, h, replace } from './dom.js';
import { statusIcon, statusLabel } from './format.js';
import type { Shell } from './shell.js';
import { eventTone, eventWord, summarizeOutput } from '../core/step-summary.js';

const TERMINAL = new Set(['succeeded', 'failed', 'escalated', 'cancelled', 'refused']);
const TONE_ICON: Record<string, string> = { good: '✓', bad: '✕', warn: '⚑', neutral: '○' };

/** The plan, one line per finished step, from the dry run's events. */
function planRows(events: StepEvent[]): HTMLElement[] {
  return events
    .filter((e) => e.step && (e.kind === 'succeeded' || e.kind === 'failed' || e.kind === 'approved'))
    .map((e) => {
      const tone = e.kind === 'failed' ? 'bad' : eventTone(e);
      const detail = e.kind === 'failed' ? (e.error?.message ?? '') : e.kind === 'approved' ? (e.message ?? '') : e.message?.replace(/^end: \w+ — /, '') ?? summarizeOutput(e.output);
      return h('li', { class: `plan-step tone-${tone}`, 'data-step': e.step, 'data-tone': tone }, h('span', { class: 'plan-icon', 'aria-hidden': 'true' }, TONE_ICON[tone]), h('code', null, e.step), ' ', h('span', { class: 'plan-word' }, e.kind === 'failed' ? 'failed' : eventWord(e)), detail ? h('span', { class: 'plan-detail' }, `: ${detail}`) : null);
    });
}

export async function newRunPage(shell: Shell, me: Me): Promise<void> {
  document.title = 'Start a run · runwright';
  const may = me.role === 'approver' || me.role === 'admin';
  const [{ runbooks }, { targets }, alerts] = await Promise.all([api.runbooks(), api.targets(), api.alerts().catch(() => ({ records: [] }))]);
  const runbook = h('select', { id: 'nr-runbook', required: true }, ...runbooks.map((r) => h('option', { value: r.id }, `${r.id} — ${r.title}`)));
  const target = h('select', { id: 'nr-target', required: true }, ...targets.map((t) => h('option', { value: t.name }, t.name)));
  const text = h('textarea', { id: 'nr-alert', rows: 6, required: true, placeholder: 'Paste the error or alert text (as the log shows it)' }) as HTMLTextAreaElement;
  const recentWithText = alerts.records.filter((r) => r.text);
  const recent = h('select', { id: 'nr-recent' }, h('option', { value: '' }, recentWithText.length ? 'Pick a recent alert…' : 'No recent alerts'), ...recentWithText.map((r, i) => h('option', { value: String(i) }, `${r.at.slice(0, 19).replace('T', ' ')} · ${r.source} · ${(r.text ?? '').slice(0, 80)}`)));
  recent.addEventListener('change', () => {
    const r = recentWithText[Number((recent as HTMLSelectElement).value)];
    if (!r) return;
    text.value = r.text ?? '';
    if (r.runbook && runbooks.some((x) => x.id === r.runbook)) (runbook as HTMLSelectElement).value = r.runbook;
    if (r.target && targets.some((x) => x.name === r.target)) (target as HTMLSelectElement).value = r.target;
  });
  const planButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'nr-plan', disabled: !may }, 'Show the plan (dry run)') as HTMLButtonElement;
  const startButton = h('button', { type: 'button', class: 'btn btn-approve', id: 'nr-start', disabled: true }, 'Start this run') as HTMLButtonElement;
  const error = h('p', { class: 'form-error', id: 'nr-error', role: 'alert' });
  const plan = h('section', { class: 'card', id: 'nr-plan-card', hidden: true, 'aria-labelledby': 'nr-plan-title' });
  let planned: { runbook: string; target: string; text: string } | null = null;
  const current = () => ({ runbook: (runbook as HTMLSelectElement).value, target: (target as HTMLSelectElement).value, text: text.value });
  const invalidate = () => {
    planned = null;
    startButton.disabled = true;
  };
  for (const el of [runbook, target, text]) el.addEventListener('input', invalidate);

  const form = h(
    'form',
    { class: 'card new-run', id: 'nr-form' },
    h('h1', null, 'Start a run'),
    may ? null : h('p', { class: 'muted', id: 'nr-role' }, `Starting runs needs the approver role (you are ${me.role}).`),
    h('label', { for: 'nr-runbook' }, 'Runbook'), runbook,
    h('label', { for: 'nr-target' }, 'Target'), target,
    h('label', { for: 'nr-recent' }, 'Recent alerts'), recent,
    h('label', { for: 'nr-alert' }, 'Alert text'), text,
    h('div', { class: 'form-actions' }, planButton, startButton),
    error,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const body = current();
    if (!body.text.trim()) {
      error.textContent = 'Paste the alert text first.';
      return;
    }
    planButton.disabled = true;
    planButton.setAttribute('aria-busy', 'true');
    try {
      const res = await api.start({ ...body, dryRun: true }, me.csrf);
      replace(plan, h('h2', { id: 'nr-plan-title' }, 'Dry-run plan'), h('p', { class: 'muted' }, `Dry run ${res.run.id} running… nothing is written.`));
      plan.hidden = false;
      let run: Run = res.run;
      let events: StepEvent[] = [];
      for (let i = 0; i < 600 && !TERMINAL.has(run.status); i++) {
        await new Promise((r) => setTimeout(r, 250));
        ({ run, events } = await api.run(run.id));
      }
      replace(
        plan,
        h('h2', { id: 'nr-plan-title' }, 'Dry-run plan ', h('span', { class: 'pill warn' }, 'DRY RUN — nothing written')),
        h('p', { id: 'nr-plan-outcome', 'data-status': run.status }, h('span', { class: `badge st-${run.status}` }, statusIcon(run.status), ' ', statusLabel(run.status)), ' ', run.outcome ?? ''),
        h('ol', { class: 'plan-steps', id: 'nr-plan-steps' }, ...planRows(events)),
        h('p', { class: 'muted small' }, h('a', { href: `/dashboard/runs/${encodeURIComponent(run.id)}` }, `Open the dry run ${run.id}`)),
      );
      planned = body;
      startButton.disabled = !may;
      announce(`Dry run ${statusLabel(run.status)}: the plan is shown`);
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.message : `Failed: ${(e as Error).message}`;
    } finally {
      planButton.disabled = !may;
      planButton.removeAttribute('aria-busy');
    }
  });
  startButton.addEventListener('click', async () => {
    if (!planned) return;
    startButton.disabled = true;
    try {
      const res = await api.start({ ...planned, dryRun: false }, me.csrf);
      window.location.assign(`/dashboard/runs/${encodeURIComponent(res.run.id)}`);
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.message : `Failed: ${(e as Error).message}`;
      startButton.disabled = false;
    }
  });
  replace(shell.main, h('div', { class: 'page new-run-page' }, h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/dashboard/' }, '← All runs')), form, plan));
}
