// The run lifecycle as one total function: (state, event) → (state, effects). No I/O, no SDK: it evaluates the
// runbook's expressions (JSONata, async but pure) and says what must happen next; the engine records the result
// in one atomic store update and then performs the effects. Every error that can happen while deciding —
// a branch, switch case, outcome template or approval prompt that throws — is a recorded failure of the step
// it belongs to, routed through that step's onError, or the end of the run as failed. Every end of a run carries
// the effects that release its target lock and its workspace.
import { afterFailure, enter, expressionFailure, nextAfterDecision, nextAfterSuccess, type Advance, type Target } from './graph.js';
import type { Runbook, StepDef } from './runbook.js';
import type { ApprovalDecision, Json, RunRecord, RunStatus, StepEvent, StepState } from './types.js';

export interface MachineState {
  run: RunRecord;
  /** Visits so far per step id. */
  visits: Record<string, number>;
}

export type StepError = NonNullable<StepState['error']>;

export type RunEvent =
  /** The run holds its target lock: enter the start step. */
  | { type: 'start' }
  /** A step's action returned `output`. */
  | { type: 'succeeded'; step: string; visit: number; attempt: number; output: Json; input?: Json; durationMs?: number }
  /** A step's action (or the rendering/validation around it) failed. */
  | { type: 'failed'; step: string; visit: number; attempt: number; error: StepError; retryable: boolean; input?: Json; durationMs?: number }
  /** A person (or the timeout, or --auto-approve) decided the approval the run waits at. */
  | { type: 'decided'; decision: ApprovalDecision }
  /** Retry a failed run from its failed step. */
  | { type: 'retry'; step: string; actor: string };

export type Effect =
  | { kind: 'enqueue'; step: string; visit: number; attempt: number; delayMs?: number }
  | { kind: 'park'; step: string; visit: number; prompt: string; options: string[] }
  | { kind: 'release-lock' }
  | { kind: 'release-workspace' };

export type MachineEvent = Omit<StepEvent, 'runId' | 'at'>;

export interface Transition {
  /** The run after the event. */
  state: MachineState;
  /** Where the run is now: a job to run, an approval to wait for, or its end. */
  target: Target;
  status: RunStatus;
  /** Step states that changed (to store). */
  states: Record<string, StepState>;
  /** Visit counters that changed. */
  visits: Record<string, number>;
  /** Events to append, in order. */
  events: MachineEvent[];
  /** Set when the event was an approval decision. */
  approval?: ApprovalDecision;
  effects: Effect[];
}

function statusOf(t: Target): RunStatus {
  return t.kind === 'job' ? 'running' : t.kind === 'approval' ? 'waiting_approval' : t.status;
}

function effectsOf(t: Target): Effect[] {
  if (t.kind === 'job') return [{ kind: 'enqueue', step: t.step, visit: t.visit, attempt: t.attempt, ...(t.delayMs ? { delayMs: t.delayMs } : {}) }];
  if (t.kind === 'approval') return [{ kind: 'park', step: t.step, visit: t.visit, prompt: t.prompt, options: t.options }];
  return [{ kind: 'release-lock' }, { kind: 'release-workspace' }];
}

function endFailed(step: string, error: StepError): Advance {
  return { target: { kind: 'end', status: 'failed', outcome: `step '${step}' failed: ${error.message}`, step }, visits: {}, events: [], states: {} };
}

/** Compose the result: `pre` (the event's own records) then what entering the next step added. */
function result(s: MachineState, pre: { states: Record<string, StepState>; events: MachineEvent[]; approval?: ApprovalDecision }, adv: Advance): Transition {
  const states = { ...pre.states, ...adv.states };
  const visits = { ...adv.visits };
  const events = [...pre.events, ...adv.events];
  const t = adv.target;
  if (t.kind === 'job') states[t.step] ??= { status: 'pending', visit: t.visit, attempt: t.attempt };
  if (t.kind === 'approval') states[t.step] = { status: 'waiting', visit: t.visit, attempt: 1 };
  if (t.kind === 'approval') events.push({ step: t.step, kind: 'waiting', visit: t.visit, attempt: 1, message: t.prompt, output: { options: t.options } });
  if (t.kind === 'end') events.push({ step: t.step ?? '', kind: 'run', visit: 0, attempt: 0, message: `run ${t.status}: ${t.outcome}`, output: { status: t.status } });
  const status = statusOf(t);
  const run: RunRecord = {
    ...s.run,
    status,
    steps: { ...s.run.steps, ...states },
    currentStep: t.kind === 'end' ? s.run.currentStep : t.step,
    outcome: t.kind === 'end' ? t.outcome : s.run.outcome,
    ...(pre.approval ? { approval: pre.approval, approvals: [...(s.run.approvals ?? []), pre.approval] } : {}),
  };
  return { state: { run, visits: { ...s.visits, ...visits } }, target: t, status, states, visits, events, approval: pre.approval, effects: effectsOf(t) };
}

/** A step failed (its action, or deciding where to go after it): retry it, go to its onError, or end the run failed. */
async function failed(rb: Runbook, s: MachineState, def: StepDef | undefined, ev: { step: string; visit: number; attempt: number; error: StepError; retryable: boolean; input?: Json; durationMs?: number }): Promise<Transition> {
  const state: StepState = { status: 'failed', error: ev.error, visit: ev.visit, attempt: ev.attempt };
  const record: MachineEvent = { step: ev.step, kind: 'failed', visit: ev.visit, attempt: ev.attempt, error: ev.error, ...(ev.input !== undefined ? { input: ev.input } : {}), ...(ev.durationMs !== undefined ? { durationMs: ev.durationMs } : {}) };
  const runAfter: RunRecord = { ...s.run, steps: { ...s.run.steps, [ev.step]: state } };
  const decision = def ? afterFailure(def, ev.attempt, ev.retryable) : ({ fail: true } as const);
  if ('retryInMs' in decision) {
    record.message = `attempt ${ev.attempt} failed; retrying in ${decision.retryInMs} ms`;
    // The step waits for its next attempt with the last error still visible.
    const waiting: StepState = { ...state, status: 'pending', attempt: ev.attempt + 1 };
    const adv: Advance = { target: { kind: 'job', step: ev.step, visit: ev.visit, attempt: ev.attempt + 1, delayMs: decision.retryInMs }, visits: {}, events: [], states: {} };
    return result(s, { states: { [ev.step]: waiting }, events: [record] }, adv);
  }
  if ('next' in decision) return result(s, { states: { [ev.step]: state }, events: [record] }, await enter(rb, runAfter, s.visits, decision.next, ev.step));
  return result(s, { states: { [ev.step]: state }, events: [record] }, endFailed(ev.step, ev.error));
}

/** The one transition function of a run. Never throws for anything a runbook or an action can do. */
export async function transition(rb: Runbook, s: MachineState, ev: RunEvent): Promise<Transition> {
  switch (ev.type) {
    case 'start':
      return result(s, { states: {}, events: [] }, await enter(rb, s.run, s.visits, rb.start, undefined));

    case 'succeeded': {
      const def = rb.stepMap.get(ev.step);
      let next: string | undefined;
      try {
        if (!def) throw { message: `step '${ev.step}' is not in runbook ${rb.id}`, code: 'unknown_step', retryable: false } satisfies StepError;
        next = await nextAfterSuccess(def, s.run, ev.output);
      } catch (e) {
        // The action ran, but where to go after it cannot be decided: a failure of this step, never a re-run.
        const error = e instanceof Error ? expressionFailure(e, 'branches') : (e as StepError);
        return failed(rb, s, def, { ...ev, error: { ...error, details: { output: ev.output } as Json }, retryable: false });
      }
      const state: StepState = { status: 'succeeded', output: ev.output, visit: ev.visit, attempt: ev.attempt };
      const record: MachineEvent = { step: ev.step, kind: 'succeeded', visit: ev.visit, attempt: ev.attempt, output: ev.output, ...(ev.input !== undefined ? { input: ev.input } : {}), ...(ev.durationMs !== undefined ? { durationMs: ev.durationMs } : {}) };
      const runAfter: RunRecord = { ...s.run, steps: { ...s.run.steps, [ev.step]: state } };
      return result(s, { states: { [ev.step]: state }, events: [record] }, await enter(rb, runAfter, s.visits, next, ev.step));
    }

    case 'failed':
      return failed(rb, s, rb.stepMap.get(ev.step), ev);

    case 'decided': {
      const stepId = s.run.currentStep ?? '';
      const def = rb.stepMap.get(stepId);
      const st = s.run.steps[stepId] ?? { status: 'waiting', visit: s.visits[stepId] ?? 1, attempt: 1 };
      const d = ev.decision;
      const decidedEvent: MachineEvent = { step: stepId, kind: d.decision === 'rejected' ? 'rejected' : 'approved', visit: st.visit, attempt: 1, actor: d.actor, message: d.comment, output: d as unknown as Json };
      let next: { next?: string; rejected: boolean };
      try {
        if (!def?.approval) throw { message: `step '${stepId}' is not an approval step of runbook ${rb.id}`, code: 'unknown_step', retryable: false } satisfies StepError;
        next = await nextAfterDecision(def, s.run, d);
      } catch (e) {
        const error = e instanceof Error ? expressionFailure(e, 'branches') : (e as StepError);
        const withDecision: MachineState = { ...s, run: { ...s.run, approval: d, approvals: [...(s.run.approvals ?? []), d] } };
        const t = await failed(rb, withDecision, def, { step: stepId, visit: st.visit, attempt: 1, error, retryable: false });
        return { ...t, events: [decidedEvent, ...t.events], approval: d };
      }
      const state: StepState = { status: next.rejected ? 'failed' : 'succeeded', output: d as unknown as Json, visit: st.visit, attempt: 1 };
      const runAfter: RunRecord = { ...s.run, approval: d, steps: { ...s.run.steps, [stepId]: state } };
      const adv: Advance =
        next.rejected && !next.next
          ? { target: { kind: 'end', status: 'failed', outcome: `rejected by ${d.actor}${d.comment ? `: ${d.comment}` : ''}`, step: stepId }, visits: {}, events: [], states: {} }
          : await enter(rb, runAfter, s.visits, next.next, stepId);
      return result(s, { states: { [stepId]: state }, events: [decidedEvent], approval: d }, adv);
    }

    case 'retry': {
      const def = rb.stepMap.get(ev.step);
      const st = s.run.steps[ev.step] ?? { status: 'failed', visit: 1, attempt: 0 };
      const record: MachineEvent = { step: ev.step, kind: 'run', visit: st.visit, attempt: st.attempt + 1, actor: ev.actor, message: `retry from step '${ev.step}' by ${ev.actor}`, output: { status: 'running' } };
      const adv: Advance = def?.action
        ? { target: { kind: 'job', step: ev.step, visit: st.visit, attempt: st.attempt + 1 }, visits: {}, events: [], states: {} }
        : await enter(rb, s.run, s.visits, ev.step, undefined);
      return result(s, { states: {}, events: [record] }, adv);
    }
  }
}

export type { Target };
