// Shared data shapes. The core imports no SDK: only these plain types cross its boundary.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One alert, normalised from whatever source sent it (generic JSON, Alertmanager, Cloud Monitoring, Pub/Sub). */
export interface Alert {
  source: string; // "generic" | "alertmanager" | "cloud-monitoring" | "pubsub" | "cli" ...
  fingerprint: string;
  severity: string; // "critical" | "error" | "warning" | "info" ...
  /** Attacker-controlled text: never put it in a shell, a path or a regex source. */
  text: string;
  labels: Record<string, string>;
  resource?: { type?: string; labels?: Record<string, string> };
  receivedAt: string; // ISO-8601
  raw?: unknown;
}

/** A service runwright may remediate: read from runwright.targets.yaml (see src/config/targets.ts). */
export interface Target {
  name: string;
  /** git URL or local path of the repository (never modified in place: runs work in fresh clones). */
  repo: string;
  branch: string;
  /** Folder of the SQLAlchemy models package, relative to the repo root (e.g. backend/app/models). */
  modelsDir: string;
  platform: 'local' | 'gcp';
  /** Python interpreter used for checks (default /usr/bin/python3). */
  python?: string;
  /** argv run in a clean checkout to prove the models are healthy; cwd relative to repo root. */
  check?: { command: string[]; cwd?: string; env?: Record<string, string>; timeoutMs?: number };
  local?: { workdir?: string; command: string[]; build?: string[]; env?: Record<string, string>; timeoutMs?: number };
  /** checkIn: where confirm/preflight run the check on gcp — image (default: in the candidate image, in Cloud Build) or worker. */
  gcp?: { project: string; region: string; job: string; buildConfig?: string; repoUrl?: string; image?: string; checkIn?: 'image' | 'worker' };
  /** How target code runs (see src/adapters/local/sandbox.ts): its Python (an interpreter, or a venv runwright builds
   * from a requirements/lock file in the repo, cached by its hash), the environment it may see, its network. */
  runtime?: TargetRuntime;
  /** Extra per-target settings a runbook may read (e.g. alembic section). */
  settings?: Record<string, unknown>;
  /** Alerts are matched to this target when every label here equals the alert's label/resource label. */
  labels: Record<string, string>;
  /** Who may approve runs on this target (user ids or group ids); empty = any approver-role user. */
  approvers?: string[];
}

export interface TargetRuntime {
  /** Interpreter (absolute path); with requirements/pyproject/lock, the base the venv is made from. */
  python?: string;
  /** Repo-relative pip requirements file (requirements.txt, or a pinned lock in that format). */
  requirements?: string;
  /** Repo-relative pyproject.toml: its [project].dependencies (with `lock`, the lock file instead). */
  pyproject?: string;
  /** Repo-relative lock file in pip requirements format (pip-compile / uv export); wins over the others. */
  lock?: string;
  /** Variables target code sees besides PATH, HOME, TMPDIR, LANG (literal values; never runwright's own). */
  env?: Record<string, string>;
  /** none (default): no network but the endpoints runwright hands over; host: the host's network. */
  network?: 'none' | 'host';
  /** Cap on processes inside the sandbox (default 256). */
  maxProcs?: number;
}

export type RunStatus =
  | 'queued' // created, first step not yet started
  | 'waiting_lock' // waiting for another run on the same target to finish
  | 'running'
  | 'waiting_approval' // parked at an approval gate: no job held
  | 'succeeded'
  | 'failed'
  | 'escalated' // handed to a person: the runbook decided it cannot fix this itself
  | 'cancelled'
  | 'refused'; // target busy and the runbook's policy is to refuse

export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'escalated', 'cancelled', 'refused'];
export const isTerminal = (s: RunStatus): boolean => TERMINAL_STATUSES.includes(s);

export type StepEventKind =
  | 'started'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'waiting' // approval gate reached, or target lock wait
  | 'approved'
  | 'rejected'
  | 'progress'
  | 'run'; // run-level event (created, cancelled, retried, finished ...)

export interface StepEvent {
  id?: string; // stream id, set by the store
  runId: string;
  step: string;
  kind: StepEventKind;
  visit: number;
  attempt: number;
  at: string; // ISO time
  input?: Json; // summary of resolved params
  output?: Json;
  error?: { message: string; code?: string; retryable?: boolean; details?: Json };
  durationMs?: number;
  actor?: string;
  message?: string;
}

export interface ApprovalDecision {
  decision: 'approved' | 'rejected';
  actor: string;
  at: string;
  comment?: string;
  choice?: string; // e.g. "A" | "B" | "C"
}

export interface StepState {
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'waiting';
  output?: Json;
  error?: StepEvent['error'];
  visit: number;
  attempt: number;
}

/** The trace of the request that created a run (W3C traceparent or X-Cloud-Trace-Context), validated hex. */
export interface TraceContext {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  spanId?: string;
  sampled?: boolean;
}

export interface RunRecord {
  id: string;
  runbookId: string;
  runbookHash: string;
  alert: Alert;
  target: Target;
  inputs: Record<string, Json>;
  status: RunStatus;
  outcome?: string; // free text: why it ended the way it did
  currentStep?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  dryRun: boolean;
  autoApprove: boolean;
  steps: Record<string, StepState>;
  approval?: ApprovalDecision; // the latest decision
  approvals?: ApprovalDecision[];
  alertCount?: number; // dedup: how many alerts attached
  lastSeenAt?: string;
  waitingReason?: string;
  /** The trace of the request that created the run: the worker's log lines for its steps carry it. */
  trace?: TraceContext;
}
