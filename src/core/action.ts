// The action interface: one file per action under src/actions/, registered by name.
// Actions are the only place side effects happen; the executor may deliver a step more than once
// (at-least-once), so every side-effecting action must be safe to re-run with the same idempotency key.
import type { Alert, ApprovalDecision, Json, StepState, Target } from './types.js';
import type { Ports } from '../ports/index.js';

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** Minimal schema contract (zod schemas satisfy it): parse throws on bad params. */
export interface ParamSchema<P> {
  safeParse(v: unknown): { success: true; data: P } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

export interface ActionContext {
  run: { id: string; runbookId: string; runbookHash: string; dryRun: boolean };
  step: { id: string; visit: number; attempt: number };
  /** Stable across re-deliveries and retries of the same step visit: `${runId}.${stepId}.${visit}`. */
  idempotencyKey: string;
  logger: Logger;
  /** Aborted on timeout or when the run is cancelled. Long work must watch it. */
  signal: AbortSignal;
  alert: Alert;
  target: Target;
  inputs: Record<string, Json>;
  /** Earlier steps' states and outputs, by step id. */
  steps: Record<string, StepState>;
  /** The latest approval decision on this run, if any (approver's chosen option in `choice`). */
  approval?: ApprovalDecision;
  /** Per-run scratch directory owned by runwright (clones and worktrees live below it). */
  workdir: string;
  /**
   * The run's checkout `name` (run-relative: `repo`, the run's clone, or a worktree an earlier step made and named
   * in its output.checkout, e.g. `wt/fix-A-v1`) on this machine, at the state the run recorded — brought here from
   * git when an earlier step ran on another worker. Its absolute path. A malformed name (absolute, `..`) or one the
   * run does not have is refused with a PermanentError (bad_checkout, unknown_checkout).
   */
  checkout(name: string): Promise<string>;
  ports: Ports;
  /** Record a progress line for followers (CLI, SSE); cheap, best-effort. */
  progress(message: string, data?: Json): Promise<void>;
}

export interface ActionPlan {
  /** What the action would do, in one sentence ("commit 2 files: ...", "deploy image X to job Y"). */
  description: string;
  /** Optional details: a diff, an image digest, a command line. */
  details?: Json;
  /** Output to hand to later steps in a dry run, so the graph can go on. */
  output?: Json;
}

export interface Action<P = any, O extends Json | void = Json> {
  name: string;
  description: string;
  /** True when the action changes anything outside runwright (git, cloud, chat). Dry runs call plan() instead. */
  sideEffects: boolean;
  /**
   * Which of the run's checkouts the action changes (a file, the index or HEAD), so that the step's checkpoint asks
   * git (`git status`) only about those and takes every other checkout's state from the run's record:
   * - 'none': none — it reads them, runs read-only tools in them, pushes from them; a checkout it makes through
   *   ctx.ports.git stays as the port made it (at the commit the port recorded).
   * - 'made': only checkouts it makes in the step through ctx.ports.git (where it may run a fix or target code);
   *   every checkout the run had before is only read.
   * Left out: any checkout the step touched may have changed, and each is looked at after it.
   */
  changesCheckouts?: 'none' | 'made';
  params: ParamSchema<P>;
  run(params: P, ctx: ActionContext): Promise<O>;
  /** Required when sideEffects is true: describe the effect without doing it. */
  plan?(params: P, ctx: ActionContext): Promise<ActionPlan>;
}

export function defineAction<P, O extends Json | void = Json>(a: Action<P, O>): Action<P, O> {
  if (a.sideEffects && !a.plan) throw new Error(`action ${a.name} has side effects but no plan() for dry runs`);
  return a;
}
