// Words, times and durations as an on-call engineer reads them.
import type { RunStatus } from './api.js';

export const STATUSES: RunStatus[] = ['waiting_approval', 'running', 'queued', 'waiting_lock', 'failed', 'escalated', 'succeeded', 'cancelled', 'refused'];

const STATUS_LABEL: Record<RunStatus, string> = {
  queued: 'Queued',
  waiting_lock: 'Waiting for target',
  running: 'Running',
  waiting_approval: 'Needs approval',
  succeeded: 'Succeeded',
  failed: 'Failed',
  escalated: 'Escalated',
  cancelled: 'Cancelled',
  refused: 'Refused',
};
/** A glyph beside every colour, so state never depends on colour alone. */
const STATUS_ICON: Record<RunStatus, string> = {
  queued: '○',
  waiting_lock: '◔',
  running: '▶',
  waiting_approval: '‖',
  succeeded: '✓',
  failed: '✕',
  escalated: '⚑',
  cancelled: '⊘',
  refused: '⊘',
};

export const statusLabel = (s: string): string => STATUS_LABEL[s as RunStatus] ?? s;
export const statusIcon = (s: string): string => STATUS_ICON[s as RunStatus] ?? '•';

export const STEP_STATE_LABEL: Record<string, string> = {
  pending: 'Not reached',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  escalated: 'Escalated',
  skipped: 'Skipped',
  waiting: 'Waiting for approval',
};
export const STEP_STATE_ICON: Record<string, string> = { pending: '', running: '▶', succeeded: '✓', failed: '✕', escalated: '⚑', skipped: '↷', waiting: '‖' };

export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return `${s}s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60 ? `${m % 60}m ` : ''}ago`;
  return `${Math.round(h / 24)}d ago`;
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Local wall-clock time, with the date when it is not today. */
export function clock(iso: string | undefined, withMs = false): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${withMs ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return t;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
}

export function firstLine(text: string | undefined, max = 160): string {
  const line = (text ?? '').split(/\r?\n/).find((l) => l.trim()) ?? '';
  const t = line.trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export const shortHash = (h: string | undefined): string => (h ? h.slice(0, 8) : '');
