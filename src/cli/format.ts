// One line per step event, for people following a run in a terminal: the mark and the word follow what the step
// found (an end: failed step or a failed execution is ✗, never ✓), the detail is a human summary of the output.
import type { StepEvent } from '../core/types.js';
import { endStatus, eventTone, eventWord, summarizeOutput, type Tone } from '../core/step-summary.js';

const MARK: Record<string, string> = { started: '▶', succeeded: '✓', failed: '✗', skipped: '↷', waiting: '⏸', approved: '✔', rejected: '✘', progress: '·', run: '●' };
const TONE_MARK: Record<Tone, string> = { good: '✓', bad: '✗', warn: '⚑', neutral: '○' };

/** `dryRun`: the run writes nothing — its end lines say so, since a runbook's outcome text may not. */
export function formatEvent(ev: StepEvent, opts: { dryRun?: boolean } = {}): string {
  const time = ev.at.slice(11, 19);
  const tone = eventTone(ev);
  const end = ev.kind === 'succeeded' ? endStatus(ev) : undefined;
  const mark = ev.kind === 'succeeded' || ev.kind === 'run' ? (ev.kind === 'run' && tone === 'neutral' ? MARK.run : TONE_MARK[tone]) : (MARK[ev.kind] ?? '-');
  const step = ev.step ? ev.step.padEnd(18) : ''.padEnd(18);
  const att = ev.attempt > 1 ? ` (attempt ${ev.attempt})` : '';
  const dur = ev.durationMs !== undefined ? ` in ${ev.durationMs} ms` : '';
  // A run-level event (created, finished, cancelled …) is its message, after the step it concerns: no verb, no colon.
  if (ev.kind === 'run') return `${time} ${mark} ${step} ${opts.dryRun && ev.step ? '[DRY RUN, nothing written] ' : ''}${oneLine(ev.message ?? '', 300)}`.replace(/\s+$/, '');
  let detail = '';
  if (ev.kind === 'failed' && ev.error) detail = `: ${oneLine(ev.error.message)}`;
  else if (end) detail = `: ${oneLine((ev.message ?? '').replace(/^end: \w+ — /, ''), 300)}`;
  else if (ev.message) detail = `: ${oneLine(ev.message, 300)}`;
  else if (ev.kind === 'succeeded' && ev.output !== undefined) detail = `: ${summarizeOutput(ev.output)}`;
  if (ev.actor) detail += ` (by ${ev.actor})`;
  const kind = eventWord(ev) + (opts.dryRun && end ? ' [DRY RUN, nothing written]' : '');
  return `${time} ${mark} ${step} ${kind}${att}${dur}${detail}`.replace(/\s+$/, '');
}

function oneLine(s: string, max = 240): string {
  const t = s.replace(/\s*\n\s*/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
