// One line per step event, for people following a run in a terminal.
import type { StepEvent } from '../core/types.js';

const MARK: Record<string, string> = { started: '▶', succeeded: '✓', failed: '✗', skipped: '↷', waiting: '⏸', approved: '✔', rejected: '✘', progress: '·', run: '●' };

export function formatEvent(ev: StepEvent): string {
  const time = ev.at.slice(11, 19);
  const mark = MARK[ev.kind] ?? '-';
  const step = ev.step ? ev.step.padEnd(18) : ''.padEnd(18);
  const att = ev.attempt > 1 ? ` (attempt ${ev.attempt})` : '';
  const dur = ev.durationMs !== undefined ? ` in ${ev.durationMs} ms` : '';
  let detail = '';
  if (ev.kind === 'failed' && ev.error) detail = `: ${ev.error.message}`;
  else if (ev.message) detail = `: ${ev.message}`;
  else if (ev.kind === 'succeeded' && ev.output !== undefined) detail = `: ${short(ev.output)}`;
  if (ev.actor && ev.kind !== 'run') detail += ` (by ${ev.actor})`;
  const kind = ev.kind === 'run' ? '' : ev.kind;
  return `${time} ${mark} ${step} ${kind}${att}${dur}${detail}`.replace(/\s+$/, '');
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? '';
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}
