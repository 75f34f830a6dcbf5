// Approvals: a run parks at an approval gate (auto-approved for --auto-approve and dry runs), the approval
// request people see is built here — the one place, for the engine when the run parks and for the API/Slack when
// it re-posts a pending one — from the runbook version the run is on; decisions move the run on.
import type { ApprovalDecision, RunRecord } from '../core/types.js';
import { ValidationError, errorInfo } from '../core/errors.js';
import { parseDurationMs, type Runbook } from '../core/runbook-model.js';
import type { StepDef } from '../core/runbook.js';
import { exprContext } from '../core/graph.js';
import { render } from '../core/expr.js';
import { transition as machine } from '../core/machine.js';
import type { ApprovalRequest } from '../ports/index.js';
import { internals } from './store.js';
import { ConflictError, NotFoundError, approvalCursor, clip, now, stateOf, type Runtime } from './runtime.js';
import type { Timekeeping } from './timekeeping.js';

/** Who the run's runbook version, the gate and the target name as approvers (deduplicated; empty = none named). */
export function approversOf(rb: Pick<Runbook, 'policy'> | undefined, def: StepDef | undefined, run: Pick<RunRecord, 'target'>): string[] {
  return [...new Set([...(rb?.policy.approvers ?? []), ...(def?.approval?.approvers ?? []), ...(run.target.approvers ?? [])])];
}

/**
 * The approval request of the gate `step` (default: where the run waits) from `rb`, the runbook version the run is
 * on: the prompt, findings and proposal rendered against the run, the choices, the approvers, the timeout.
 * Throws when the step is not an approval gate or its prompt does not render.
 */
export async function approvalRequest(run: RunRecord, rb: Runbook, step = run.currentStep): Promise<ApprovalRequest> {
  const def = step ? rb.stepMap.get(step) : undefined;
  if (!step || !def?.approval) throw new NotFoundError(`run ${run.id} has no approval gate${step ? ` '${step}'` : ''} in runbook ${rb.id}@${rb.hash.slice(0, 12)}`);
  const ctx = exprContext(run);
  // Findings and proposal are extras: one that cannot be rendered is left out, the request still goes.
  const opt = async (tpl?: string) => (tpl ? await render(tpl, ctx).catch(() => undefined) : undefined);
  return {
    runId: run.id,
    step,
    runbookId: run.runbookId,
    runbookHash: rb.hash,
    target: run.target.name,
    alert: run.alert,
    prompt: String(await render(def.approval.prompt, ctx)),
    findings: clip(await opt(def.approval.findings)),
    proposal: (await opt(def.approval.proposal)) as ApprovalRequest['proposal'],
    options: def.approval.options ?? [],
    approvers: approversOf(rb, def, run),
    ...(def.approval.timeout !== undefined ? { timeoutMs: parseDurationMs(def.approval.timeout) } : {}),
  };
}

export class Approvals {
  constructor(private readonly rt: Runtime, private readonly time: Timekeeping) {}

  /** The run parked at gate `step`: pass it at once (auto-approve, dry run), or schedule its timeout and tell people. */
  async park(runId: string, rb: Runbook, step: string, visit: number): Promise<void> {
    const def = rb.stepMap.get(step)!;
    const run = (await this.rt.store.get(runId))!;
    if (run.autoApprove || run.dryRun) {
      // A dry run writes nothing, so it never waits for a person: its gates pass and the plan goes on.
      // A recommendation that cannot be rendered is no recommendation (the approval's branches decide).
      const rec = def.approval!.recommend ? await render(def.approval!.recommend, exprContext(run)).catch(() => undefined) : undefined;
      const choice = rec === undefined || rec === null ? undefined : String(rec) || undefined;
      const [actor, comment] = run.autoApprove ? ['auto-approve', 'approved automatically (--auto-approve)'] : ['dry-run', 'dry run: passed without a person (nothing is written)'];
      await this.decide(runId, { decision: 'approved', actor, comment, choice }).catch((e) => this.rt.logger.warn({ runId, err: errorInfo(e) }, 'auto-approve failed'));
      return;
    }
    if (def.approval!.timeout !== undefined) await this.time.approvalTimeout(runId, approvalCursor(runId, step, visit), parseDurationMs(def.approval!.timeout));
    const notify = this.rt.hooks.onApprovalWaiting;
    if (notify) {
      const warn = (e: unknown) => this.rt.logger.warn({ runId, err: errorInfo(e) }, 'approval notification failed; the run still waits');
      await approvalRequest(run, rb, step).then((req) => void notify(run, req).catch(warn), warn);
    }
  }

  /** Approve or reject a parked run. Throws ConflictError when it is not waiting (second click, finished run). */
  async decide(runId: string, d: { decision: 'approved' | 'rejected'; actor: string; comment?: string; choice?: string }): Promise<RunRecord> {
    const run = await this.rt.store.get(runId);
    if (!run) throw new NotFoundError(`no run '${runId}'`);
    if (run.status !== 'waiting_approval' || !run.currentStep) {
      const who = run.approval ? ` (decided by ${run.approval.actor} at ${run.approval.at})` : '';
      throw new ConflictError(`run ${runId} is ${run.status}, not waiting for approval${who}`, 'not_waiting');
    }
    const rb = await this.rt.runbookFor(run);
    const def = rb.stepMap.get(run.currentStep)!;
    const opts = def.approval?.options ?? [];
    if (d.choice !== undefined && d.choice !== '' && opts.length && !opts.includes(d.choice)) {
      throw new ValidationError([{ path: 'choice', message: `choice must be one of ${opts.join(', ')}` }]);
    }
    const decision: ApprovalDecision = { decision: d.decision, actor: d.actor, at: now(), comment: d.comment, choice: d.choice || undefined };
    const { cursor } = internals(run);
    const tr = await machine(rb, stateOf(run), { type: 'decided', decision });
    const ok = await this.rt.transition(run, rb, cursor, { requireStatus: ['waiting_approval'] }, tr);
    if (!ok) {
      const cur = await this.rt.store.get(runId);
      throw new ConflictError(`run ${runId} was already decided${cur?.approval ? ` by ${cur.approval.actor} at ${cur.approval.at}` : ''}`, 'already_decided');
    }
    const after = (await this.rt.store.get(runId))!;
    if (this.rt.hooks.onApprovalDecided) this.rt.hooks.onApprovalDecided(after, def.id, decision).catch((e) => this.rt.logger.warn({ runId, err: errorInfo(e) }, 'approval update failed'));
    return after;
  }

  /** The approval-timeout job of a gate: rejects the run when it still waits at that gate. */
  async timedOut(d: { runId: string; cursor: string }): Promise<string> {
    const run = await this.rt.store.get(d.runId);
    if (!run || run.status !== 'waiting_approval' || internals(run).cursor !== d.cursor) return 'stale';
    await this.decide(d.runId, { decision: 'rejected', actor: 'system:timeout', comment: 'approval timed out' }).catch(() => undefined);
    return 'timed-out';
  }
}
