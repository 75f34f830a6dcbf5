// Deciding the next step: pure logic over a runbook and the run's state. No I/O, no SDK.
import { edges, parseDurationMs, stepKind, type Runbook } from './runbook-model.js';
import type { StepDef } from './runbook.js';
import { render, test } from './expr.js';
import type { ApprovalDecision, Json, RunRecord, RunStatus, StepEvent, StepState } from './types.js';

export interface ExprContext {
  alert: RunRecord['alert'];
  target: RunRecord['target'];
  inputs: RunRecord['inputs'];
  steps: Record<string, { status: string; output?: Json; error?: unknown; visit: number; attempt: number }>;
  output?: Json;
  error?: unknown;
  approval?: ApprovalDecision;
  run: { id: string; runbookId: string; runbookHash: string; dryRun: boolean };
}

export function exprContext(run: RunRecord, extra: { output?: Json; error?: unknown } = {}): ExprContext {
  return {
    alert: run.alert,
    target: run.target,
    inputs: run.inputs,
    steps: run.steps,
    output: extra.output,
    error: extra.error,
    approval: run.approval,
    run: { id: run.id, runbookId: run.runbookId, runbookHash: run.runbookHash, dryRun: run.dryRun },
  };
}

/** Where a run goes next. */
export type Target =
  | { kind: 'job'; step: string; visit: number; attempt: number; delayMs?: number }
  | { kind: 'approval'; step: string; visit: number; prompt: string; options: string[] }
  | { kind: 'end'; status: Extract<RunStatus, 'succeeded' | 'failed' | 'escalated'>; outcome: string; step?: string };

export interface Advance {
  target: Target;
  /** Visit counters to store (step → visits so far, including the one being entered). */
  visits: Record<string, number>;
  /** Inline events: switch decisions, exhausted loops, end steps. */
  events: Omit<StepEvent, 'runId' | 'at'>[];
  /** StepStates for inline steps (switch/end/approval) to store. */
  states: Record<string, StepState>;
}

const MAX_INLINE = 1000;

/** An error thrown while evaluating a runbook expression, as recorded on the step (never retryable: same input, same error). */
export function expressionFailure(e: unknown, where: string): NonNullable<StepState['error']> {
  const message = e instanceof Error ? e.message : String(e);
  return { message: `${where}: ${message}`, code: 'expression', retryable: false };
}

/**
 * Enter `to` (coming from `from`), walking through switch steps, end steps and exhausted loops until a step
 * that needs a job or an approval, or the end of the run. Total: an expression that throws (a switch case, an
 * end outcome, an approval prompt) is a failure of that step, recorded, and routed through its onError (else
 * the run ends failed) — it never escapes.
 */
export async function enter(rb: Runbook, run: RunRecord, visitsNow: Record<string, number>, to: string | undefined, from: string | undefined): Promise<Advance> {
  const visits: Record<string, number> = {};
  const events: Advance['events'] = [];
  const states: Advance['states'] = {};
  const ctx = exprContext(run);
  ctx.steps = { ...ctx.steps };
  const visitOf = (id: string) => visits[id] ?? visitsNow[id] ?? 0;
  const record = (id: string, st: StepState) => {
    states[id] = st;
    (ctx.steps as Record<string, unknown>)[id] = st;
  };
  for (let i = 0; i < MAX_INLINE; i++) {
    if (to === undefined) return { target: { kind: 'end', status: 'succeeded', outcome: from ? `completed after step '${from}'` : 'completed', step: from }, visits, events, states };
    const step = rb.stepMap.get(to);
    if (!step) return { target: { kind: 'end', status: 'failed', outcome: `unknown step '${to}'`, step: from }, visits, events, states };
    const v = visitOf(step.id) + 1;
    if (step.maxVisits !== undefined && v > step.maxVisits) {
      events.push({ step: step.id, kind: 'skipped', visit: v, attempt: 0, message: `maxVisits ${step.maxVisits} reached${step.onExhausted ? `: going to '${step.onExhausted}'` : ''}` });
      if (step.onExhausted) {
        from = step.id;
        to = step.onExhausted;
        continue;
      }
      return { target: { kind: 'end', status: 'failed', outcome: `step '${step.id}' reached its bound of ${step.maxVisits} visits`, step: step.id }, visits, events, states };
    }
    visits[step.id] = v;
    const kind = stepKind(step);
    if (kind === 'action') return { target: { kind: 'job', step: step.id, visit: v, attempt: 1 }, visits, events, states };
    try {
      if (kind === 'switch') {
        let chosen: string | undefined;
        for (const [n, c] of step.switch!.entries()) {
          let hit: boolean;
          try {
            hit = c.when === undefined || (await test(c.when, ctx));
          } catch (e) {
            throw expressionFailure(e, `switch case ${n + 1} (when)`);
          }
          if (hit) {
            chosen = c.next;
            break;
          }
        }
        const output = { chose: chosen ?? null } as Json;
        record(step.id, { status: 'succeeded', output, visit: v, attempt: 1 });
        events.push({ step: step.id, kind: 'succeeded', visit: v, attempt: 1, output, message: `switch → ${chosen}` });
        from = step.id;
        to = chosen;
        continue;
      }
      if (kind === 'end') {
        let outcome = `ended at '${step.id}'`;
        if (step.outcome) {
          try {
            outcome = String(await render(step.outcome, ctx));
          } catch (e) {
            throw expressionFailure(e, 'outcome');
          }
        }
        record(step.id, { status: 'succeeded', output: { end: step.end!, outcome } as Json, visit: v, attempt: 1 });
        events.push({ step: step.id, kind: 'succeeded', visit: v, attempt: 1, message: `end: ${step.end} — ${outcome}` });
        return { target: { kind: 'end', status: step.end!, outcome, step: step.id }, visits, events, states };
      }
      // approval: the prompt people will read is rendered here, once, from the runbook version the run is on.
      let prompt: string;
      try {
        prompt = String(await render(step.approval!.prompt, ctx));
      } catch (e) {
        throw expressionFailure(e, 'approval prompt');
      }
      return { target: { kind: 'approval', step: step.id, visit: v, prompt, options: step.approval!.options ?? [] }, visits, events, states };
    } catch (e) {
      const error = isFailure(e) ? e : expressionFailure(e, 'step');
      record(step.id, { status: 'failed', error, visit: v, attempt: 1 });
      events.push({ step: step.id, kind: 'failed', visit: v, attempt: 1, error, message: step.onError ? `failed: going to '${step.onError}'` : undefined });
      if (step.onError) {
        from = step.id;
        to = step.onError;
        continue;
      }
      return { target: { kind: 'end', status: 'failed', outcome: `step '${step.id}' failed: ${error.message}`, step: step.id }, visits, events, states };
    }
  }
  return { target: { kind: 'end', status: 'failed', outcome: 'too many inline steps (switch loop?)', step: from }, visits, events, states };
}

function isFailure(e: unknown): e is NonNullable<StepState['error']> {
  return !!e && typeof e === 'object' && !(e instanceof Error) && typeof (e as { message?: unknown }).message === 'string';
}

/** After an action succeeded: the first branch whose condition holds, else `next` (undefined = end). */
export async function nextAfterSuccess(step: StepDef, run: RunRecord, output: Json): Promise<string | undefined> {
  const ctx = exprContext(run, { output });
  ctx.steps = { ...ctx.steps, [step.id]: { ...(run.steps[step.id] ?? {}), status: 'succeeded', output } as StepState };
  const b = await firstBranch(step, ctx);
  return b ? b.next : step.next;
}

/** The first branch whose condition holds; a condition that throws is thrown as a recorded failure naming the branch. */
async function firstBranch(step: StepDef, ctx: ExprContext): Promise<{ next: string } | undefined> {
  for (const [n, b] of (step.branches ?? []).entries()) {
    let hit: boolean;
    try {
      hit = await test(b.when, ctx);
    } catch (e) {
      throw expressionFailure(e, `branch ${n + 1} (when)`);
    }
    if (hit) return b;
  }
  return undefined;
}

/** After an approval decision. */
export async function nextAfterDecision(step: StepDef, run: RunRecord, decision: ApprovalDecision): Promise<{ next?: string; rejected: boolean }> {
  if (decision.decision === 'rejected') return { next: step.onReject, rejected: true };
  const b = await firstBranch(step, exprContext({ ...run, approval: decision }));
  return { next: b ? b.next : step.next, rejected: false };
}

/** After an action failed: retry (with backoff delay), go to onError, or fail the run. */
export function afterFailure(step: StepDef, attempt: number, retryable: boolean): { retryInMs: number } | { next: string } | { fail: true } {
  const r = step.retry;
  if (r && retryable && attempt < r.attempts) {
    const base = parseDurationMs(r.delay ?? '1s');
    const max = r.maxDelay !== undefined ? parseDurationMs(r.maxDelay) : Infinity;
    const delay = r.backoff === 'fixed' ? base : base * 2 ** (attempt - 1);
    return { retryInMs: Math.min(delay, max) };
  }
  if (step.onError) return { next: step.onError };
  return { fail: true };
}

export function stepTimeoutMs(step: StepDef, fallback: number): number {
  return step.timeout !== undefined ? parseDurationMs(step.timeout) : fallback;
}

export { edges };
