// Talking to the service: the runs API (read with the session cookie), the dashboard's own routes (sign-in,
// CSRF-checked actions) and the live event streams (EventSource sends the cookie; it reconnects by itself and
// resumes after the last event id it saw).
import type { ApprovalDecision, Alert, Json, RunStatus, StepEvent, StepState } from '../core/types.js';
import type { GraphStep, RunbookGraph, RunContext, RunLink } from '../api/dashboard-types.js';

export type { ApprovalDecision, Alert, Json, RunStatus, StepEvent, StepState, GraphStep, RunbookGraph, RunContext, RunLink };

export interface Me {
  signedIn: true;
  name: string;
  role: 'viewer' | 'approver' | 'admin';
  groups: string[];
  csrf: string;
}

export interface RunSummary {
  id: string;
  runbookId: string;
  runbookHash: string;
  status: RunStatus;
  outcome?: string;
  currentStep?: string;
  waitingReason?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  dryRun: boolean;
  autoApprove: boolean;
  alertCount: number;
  lastSeenAt?: string;
  target: { name: string; platform: string; branch?: string; labels: Record<string, string> };
  alert: Alert;
  approval?: ApprovalDecision;
}

export interface Run extends RunSummary {
  inputs: Record<string, Json>;
  steps: Record<string, StepState>;
  approvals: ApprovalDecision[];
}

export interface RunList {
  runs: RunSummary[];
  nextCursor?: string;
  total: number;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const b = (body ?? {}) as { error?: string; message?: string };
    throw new ApiError(res.status, b.error ?? 'http_error', b.message ?? `${res.status} ${res.statusText}`);
  }
  return body as T;
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  return parse<T>(res);
}

export async function postJson<T>(url: string, body: unknown, csrf?: string): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/json' };
  if (csrf) headers['x-runwright-csrf'] = csrf;
  const res = await fetch(url, { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(body ?? {}) });
  if (res.status === 204) return undefined as T;
  return parse<T>(res);
}

export const api = {
  me: () => getJson<Me | { signedIn: false }>('/dashboard/session'),
  signIn: (token: string) => postJson<Me>('/dashboard/session', { token }),
  signOut: (csrf: string) => postJson<void>('/dashboard/session/end', {}, csrf),
  runs: (q: URLSearchParams) => getJson<RunList>(`/api/runs?${q.toString()}`),
  run: (id: string) => getJson<{ run: Run; events: StepEvent[]; approvers: string[] }>(`/api/runs/${encodeURIComponent(id)}`),
  context: (id: string) => getJson<RunContext>(`/dashboard/api/runs/${encodeURIComponent(id)}/context`),
  graph: (id: string, hash: string) => getJson<RunbookGraph>(`/api/runbooks/${encodeURIComponent(id)}/graph?hash=${encodeURIComponent(hash)}`),
  runbooks: () => getJson<{ runbooks: { id: string; title: string }[] }>('/api/runbooks'),
  targets: () => getJson<{ targets: { name: string }[] }>('/api/targets'),
  summary: () => getJson<{ counts: Record<string, number> }>('/dashboard/api/summary'),
  alerts: () => getJson<{ records: { at: string; source: string; text?: string; outcome: string; runbook?: string; target?: string }[] }>('/api/alerts?limit=20'),
  start: (body: { runbook: string; target: string; text: string; dryRun: boolean }, csrf: string) => postJson<{ run: Run; attached: boolean }>('/dashboard/api/runs', body, csrf),
  act: (id: string, action: 'approve' | 'reject' | 'cancel' | 'retry', body: { comment?: string; choice?: string }, csrf: string) =>
    postJson<{ run: Run }>(`/dashboard/api/runs/${encodeURIComponent(id)}/${action}`, body, csrf),
};

export type StreamState = 'connecting' | 'live' | 'reconnecting';

/**
 * A live stream of StepEvents. EventSource reconnects on its own (sending Last-Event-ID); when the browser gives up
 * (the server refused, e.g. a restart), a new one is opened after a pause, resuming after the last id seen.
 */
export function liveEvents(url: string, handlers: { after?: string; event(ev: StepEvent): void; run?(info: { status: RunStatus; currentStep: string | null }): void; state?(s: StreamState): void }): () => void {
  let es: EventSource | undefined;
  let lastId = handlers.after ?? '';
  let stopped = false;
  let timer: number | undefined;
  const open = () => {
    if (stopped) return;
    handlers.state?.('connecting');
    const u = lastId ? `${url}${url.includes('?') ? '&' : '?'}after=${encodeURIComponent(lastId)}` : url;
    es = new EventSource(u, { withCredentials: true });
    es.onopen = () => handlers.state?.('live');
    es.onmessage = (m: MessageEvent<string>) => {
      if (m.lastEventId) lastId = m.lastEventId;
      try {
        handlers.event(JSON.parse(m.data) as StepEvent);
      } catch {
        /* ignore a malformed line */
      }
    };
    es.addEventListener('run', (m) => {
      try {
        handlers.run?.(JSON.parse((m as MessageEvent<string>).data));
      } catch {
        /* ignore */
      }
    });
    es.onerror = () => {
      handlers.state?.('reconnecting');
      if (es && es.readyState === EventSource.CLOSED) {
        es = undefined;
        timer = window.setTimeout(open, 5000);
      }
    };
  };
  open();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    es?.close();
  };
}
