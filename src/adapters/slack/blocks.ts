// Block Kit for approval messages. Everything that came from an alert is escaped for mrkdwn (&, <, >),
// so alert text cannot mention people, ping channels or forge links.
import type { ApprovalRequest } from '../../ports/index.js';

export const APPROVAL_BLOCK_ID = 'rw_approval';
export const ACTION_APPROVE = 'rw_approve';
export const ACTION_REJECT = 'rw_reject';
export const ACTION_CHOOSE_PREFIX = 'rw_choose_';
export const ACTION_OPEN = 'rw_open';

/** What every interactive button carries back to /slack/interactions (value is JSON, < 2000 chars). */
export interface ApprovalActionValue {
  run: string;
  step: string;
  key: string;
  choice?: string;
}

export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** A code block whose content cannot close it early. */
function codeBlock(s: string, max: number): string {
  return `\`\`\`${escapeMrkdwn(clip(s, max)).replace(/`/g, 'ˋ')}\`\`\``;
}

function plain(text: string, max = 75) {
  return { type: 'plain_text', text: clip(text, max), emoji: true };
}

function section(text: string) {
  return { type: 'section', text: { type: 'mrkdwn', text: clip(text, 3000) } };
}

export function fallbackText(req: ApprovalRequest): string {
  return clip(`Approval needed: ${req.runbookId} on ${req.target} (run ${req.runId}): ${req.prompt}`, 3000);
}

/** The shared top of the message: what fired, what was found, the proposed fix. */
function summaryBlocks(req: ApprovalRequest): any[] {
  const runLink = req.dashboardUrl ? `<${req.dashboardUrl}|${escapeMrkdwn(req.runId)}>` : `\`${escapeMrkdwn(req.runId)}\``;
  const blocks: any[] = [
    { type: 'header', text: plain(`Approval needed: ${req.runbookId}`, 150) },
    section(escapeMrkdwn(req.prompt)),
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Target*\n${escapeMrkdwn(req.target)}` },
        { type: 'mrkdwn', text: `*Runbook*\n${escapeMrkdwn(req.runbookId)}` },
        { type: 'mrkdwn', text: `*Severity*\n${escapeMrkdwn(clip(req.alert.severity, 40))}` },
        { type: 'mrkdwn', text: `*Run*\n${runLink}` },
      ],
    },
    section(`*What fired* (${escapeMrkdwn(clip(req.alert.source, 40))})\n${codeBlock(req.alert.text, 1500)}`),
  ];
  if (req.findings !== undefined && req.findings !== null) {
    const f = typeof req.findings === 'string' ? req.findings : JSON.stringify(req.findings, null, 2);
    blocks.push(section(`*What was found*\n${codeBlock(f, 1500)}`));
  }
  const p = req.proposal;
  if (p && (p.fix || p.description || p.diff)) {
    const head = [p.fix ? `*Proposed fix:* ${escapeMrkdwn(clip(p.fix, 200))}` : '*Proposed fix*', p.description ? escapeMrkdwn(clip(p.description, 500)) : '']
      .filter(Boolean)
      .join('\n');
    blocks.push(section(p.diff ? `${head}\n${codeBlock(p.diff, 2200)}` : head));
  }
  return blocks;
}

export function approvalBlocks(req: ApprovalRequest, key: string): any[] {
  const value = (choice?: string) => JSON.stringify({ run: req.runId, step: req.step, key, ...(choice ? { choice } : {}) } satisfies ApprovalActionValue);
  const elements: any[] = [
    { type: 'button', action_id: ACTION_APPROVE, text: plain('Approve'), style: 'primary', value: value() },
    { type: 'button', action_id: ACTION_REJECT, text: plain('Reject'), style: 'danger', value: value() },
  ];
  for (const opt of req.options.slice(0, 10)) {
    elements.push({ type: 'button', action_id: `${ACTION_CHOOSE_PREFIX}${opt}`.slice(0, 255), text: plain(`Approve option ${opt}`), value: value(opt) });
  }
  if (req.dashboardUrl) elements.push({ type: 'button', action_id: ACTION_OPEN, text: plain('Open run'), url: req.dashboardUrl });
  return [
    ...summaryBlocks(req),
    { type: 'actions', block_id: APPROVAL_BLOCK_ID, elements: elements.slice(0, 25) },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `run \`${escapeMrkdwn(req.runId)}\` · step \`${escapeMrkdwn(req.step)}\`` }] },
  ];
}

/** After the decision: the same summary, no buttons, and who decided and when (`outcome` is trusted mrkdwn). */
export function decidedBlocks(req: ApprovalRequest, outcome: string): any[] {
  const blocks = summaryBlocks(req);
  if (req.dashboardUrl) blocks.push(section(`${outcome}\n<${req.dashboardUrl}|Open run>`));
  else blocks.push(section(outcome));
  return blocks;
}

/** What a run's status message shows (built by src/api/slack/run-notices.ts from the run record). */
export interface RunNoticeView {
  runId: string;
  runbookId: string;
  target: string;
  status: string;
  /** ':white_check_mark:' / ':x:' / ':warning:' / ':arrows_counterclockwise:' … by the status's tone. */
  emoji: string;
  dryRun: boolean;
  currentStep?: string;
  /** The run has ended (currentStep is then where). */
  ended?: boolean;
  outcome?: string;
  alertText: string;
  links: { label: string; text: string; href?: string }[];
  dashboardUrl?: string;
  /** An ended run that did not succeed: what a person should look at ("Nothing pushed" only when true). */
  lookAt?: string[];
}

export function runNoticeText(v: RunNoticeView): string {
  return clip(`${v.dryRun ? '[DRY RUN] ' : ''}${v.runbookId} on ${v.target} (run ${v.runId}): ${v.status.toUpperCase()}${v.outcome ? ` — ${v.outcome}` : ''}`, 3000);
}

function statusLine(v: RunNoticeView): any {
  return section(`${v.emoji} *${escapeMrkdwn(v.status.toUpperCase().replace(/_/g, ' '))}*${v.dryRun ? ' · _DRY RUN, nothing written_' : ''} — ${escapeMrkdwn(v.runbookId)} on *${escapeMrkdwn(v.target)}*`);
}

function whereField(v: RunNoticeView): any {
  return { type: 'mrkdwn', text: `*${v.ended ? 'Ended at' : 'Step'}*\n${v.currentStep ? `\`${escapeMrkdwn(v.currentStep)}\`` : '—'}` };
}

/** The outcome, what to look at, and the links to what the run produced. */
function resultBlocks(v: RunNoticeView): any[] {
  const blocks: any[] = [];
  if (v.outcome) blocks.push(section(`*Outcome*\n${escapeMrkdwn(clip(v.outcome, 1500))}`));
  if (v.lookAt?.length) blocks.push(section(`*What to look at*\n${v.lookAt.slice(0, 8).map((l) => `• ${escapeMrkdwn(clip(l, 300))}`).join('\n')}`));
  const links = v.links.map((l) => (l.href ? `<${l.href}|${escapeMrkdwn(`${l.label} ${l.text}`)}>` : `${escapeMrkdwn(l.label)} \`${escapeMrkdwn(clip(l.text, 120))}\``));
  if (v.dashboardUrl) links.push(`<${v.dashboardUrl}|Dashboard>`);
  if (links.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clip(links.join(' · '), 3000) }] });
  return blocks;
}

/** The run's one message, updated in place: status by tone, what fired, the outcome, links to what it produced. */
export function runNoticeBlocks(v: RunNoticeView): any[] {
  const runLink = v.dashboardUrl ? `<${v.dashboardUrl}|${escapeMrkdwn(v.runId)}>` : `\`${escapeMrkdwn(v.runId)}\``;
  return [
    statusLine(v),
    { type: 'section', fields: [{ type: 'mrkdwn', text: `*Run*\n${runLink}` }, whereField(v)] },
    section(`*What fired*\n${codeBlock(v.alertText, 600)}`),
    ...resultBlocks(v),
  ];
}

/**
 * An approval message once decided, when it is the run's message: the request's summary, then where the run is
 * (status by tone, the step or where it ended, the outcome, what to look at, links), and who decided last.
 * `decision` is trusted mrkdwn built by runwright.
 */
export function approvalRunBlocks(req: ApprovalRequest, v: RunNoticeView, decision: string): any[] {
  return [
    ...summaryBlocks(req),
    statusLine(v),
    { type: 'section', fields: [whereField(v)] },
    ...resultBlocks(v),
    section(req.dashboardUrl ? `${decision}\n<${req.dashboardUrl}|Open run>` : decision),
  ];
}

export function approvalRunText(v: RunNoticeView, decision: string): string {
  return clip(`${runNoticeText(v)} — ${decision}`, 3000);
}
