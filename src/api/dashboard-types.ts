// Shapes the dashboard's routes answer with, shared by the server (src/api/dashboard.ts) and the browser code
// (src/ui). Plain types only: the UI bundle imports them as types, so nothing here may need Node.
import type { Json } from '../core/types.js';

export type EdgeKind = 'next' | 'branch' | 'switch' | 'onError' | 'onExhausted' | 'onReject';

export interface GraphStep {
  id: string;
  kind: 'action' | 'switch' | 'approval' | 'end';
  action?: string;
  description?: string;
  end?: string;
  options?: string[];
  maxVisits?: number;
  attempts?: number;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  /** The condition of a branch or switch case ('default' for a switch's last case). */
  label?: string;
}

/** GET /api/runbooks/:id/graph: a runbook's steps and edges. */
export interface RunbookGraph {
  id: string;
  title: string;
  description?: string;
  hash: string;
  start: string;
  /** true when this is the version the service has loaded now (runs may have used an older one). */
  loaded: boolean;
  steps: GraphStep[];
  edges: GraphEdge[];
}

export interface RunLink {
  step: string;
  kind: 'commit' | 'build' | 'execution' | 'logs';
  label: string;
  /** Absent when there is nothing to link to (a local target): the text is still shown. */
  href?: string;
  text: string;
}

/** GET /dashboard/api/runs/:id/context. */
export interface RunContext {
  links: RunLink[];
  approval?: { step: string; prompt?: string; options: string[]; recommend?: string; findings?: Json; proposal?: Json; approvers: string[]; mayDecide: boolean };
  may: { approve: boolean; cancel: boolean; retry: boolean };
}
