// Submitting: a run is created (deduplicated by fingerprint, throttled, queued behind its target's lock) and its
// first step entered; a run that gets its target's lock later is handed over here too; retry and cancel.
import type { Alert, RunRecord, StepEvent, Target, TraceContext } from '../core/types.js';
import { isTraceContext } from '../logging.js';
import { resolveInputs, type Runbook } from '../core/runbook-model.js';
import { transition as machine, type Transition } from '../core/machine.js';
import { withInternals, internals, type Journal } from './store.js';
import { withoutCredentials } from './target-secrets.js';
import { ConflictError, NotFoundError, approvalCursor, clip, jobIdFor, newRunId, now, stateOf, type Runtime } from './runtime.js';

export interface SubmitRequest {
  runbookId: string;
  alert: Alert;
  target: string | Target;
  inputs?: Record<string, unknown>;
  dryRun?: boolean;
  autoApprove?: boolean;
  /** Attach to an active run with the same fingerprint instead of starting another. */
  dedupe?: boolean;
  /** Apply the runbook's throttle window per fingerprint. */
  throttle?: boolean;
  /** The trace of the request that asked for the run: stored with it, carried by the worker's step log lines. */
  trace?: TraceContext;
  /** With dedupe: written with the attach, atomically, when the alert attaches to an active run (see Journal). */
  journal?: Journal;
  /** An attached run is answered with its id, status and alert count only, not read back whole (intake). */
  brief?: boolean;
}

/** What a brief submit tells of the run an alert attached to. */
export type AttachedRun = Pick<RunRecord, 'id' | 'status' | 'alertCount'>;

export type SubmitResult<Attached = RunRecord> =
  | { result: 'created'; run: RunRecord }
  /** journaled: the request's journal was written with the attach (a run that started meanwhile takes no journal). */
  | { result: 'attached'; run: Attached; journaled?: boolean }
  | { result: 'throttled'; lastRunId: string; retryInMs: number };

export class Submitting {
  private readonly savedSources = new Map<string, number>(); // runbook hash -> when this process last stored it

  constructor(private readonly rt: Runtime) {}

  submit(req: SubmitRequest & { brief: true }): Promise<SubmitResult<AttachedRun>>;
  submit(req: SubmitRequest): Promise<SubmitResult>;
  async submit(req: SubmitRequest): Promise<SubmitResult<AttachedRun | RunRecord>> {
    const rb = this.rt.runbooks.get(req.runbookId);
    if (!rb) throw new NotFoundError(`unknown runbook '${req.runbookId}'`);
    const target = typeof req.target === 'string' ? this.rt.targets.get(req.target) : req.target;
    if (!target) throw new NotFoundError(`unknown target '${String(req.target)}'`);
    const inputs = resolveInputs(rb, req.inputs ?? {});
    // Most alerts of an incident find its run active: one round trip attaches them, before anything of a new run
    // is built (create() checks again, atomically, for the run that starts or ends meanwhile).
    if (req.dedupe) {
      const active = await this.rt.store.attach(rb.id, req.alert, now(), { journal: req.journal, brief: req.brief });
      if (active) return { result: 'attached', run: active, journaled: !!req.journal };
    }
    // Every alert comes through here (most attach to an active run): store the source once per hash and minute
    // per process, not once per alert (it was a SET of the whole runbook on every request).
    if (!(Date.now() - (this.savedSources.get(rb.hash) ?? -Infinity) < 60_000)) {
      await this.rt.store.saveRunbookSource(rb.hash, rb.source);
      this.savedSources.set(rb.hash, Date.now());
    }
    const id = newRunId();
    const t = now();
    const run: RunRecord = {
      id,
      runbookId: rb.id,
      runbookHash: rb.hash,
      alert: req.alert,
      target: withoutCredentials(target),
      inputs,
      status: 'queued',
      createdAt: t,
      updatedAt: t,
      dryRun: !!req.dryRun,
      autoApprove: !!req.autoApprove,
      steps: {},
      ...(isTraceContext(req.trace) ? { trace: req.trace } : {}),
    };
    // Walk inline steps (switch/end) from the start to find the first job or gate.
    const adv = await machine(rb, { run, visits: {} }, { type: 'start' });
    const firstCursor = adv.target.kind === 'job' ? jobIdFor(id, adv.target.step, adv.target.visit, 1) : adv.target.kind === 'approval' ? approvalCursor(id, adv.target.step, adv.target.visit) : '';
    const created: StepEvent = { runId: id, step: '', kind: 'run', visit: 0, attempt: 0, at: t, message: `run created (runbook ${rb.id}@${rb.hash.slice(0, 12)}, target ${target.name})`, input: clip({ alert: { source: req.alert.source, fingerprint: req.alert.fingerprint, severity: req.alert.severity }, inputs, dryRun: run.dryRun }) };
    const res = await this.rt.store.create({ run, firstCursor, dedupe: !!req.dedupe, throttleMs: req.throttle ? rb.policy.throttleMs : undefined, lockPolicy: rb.policy.targetLock, createdEvent: created });
    if (res.result === 'attached') return { result: 'attached', run: (await this.rt.store.get(res.runId))! };
    if (res.result === 'throttled') return res;
    if (res.status === 'running') await this.startFirst(id, rb, adv, withInternals({ ...run, status: 'running' }, { cursor: firstCursor, visits: {} }));
    return { result: 'created', run: (await this.rt.store.get(id))! };
  }

  /** Enter the first step of a run that holds its target lock. */
  async startFirst(runId: string, rb: Runbook, adv?: Transition, known?: RunRecord): Promise<void> {
    const run = known ?? (await this.rt.store.get(runId))!;
    adv ??= await machine(rb, stateOf(run), { type: 'start' });
    const { cursor } = internals(run);
    await this.rt.transition(run, rb, cursor, { requireStatus: ['running'] }, adv);
  }

  async cancel(runId: string, actor: string, reason?: string): Promise<RunRecord> {
    const run = await this.rt.store.get(runId);
    if (!run) throw new NotFoundError(`no run '${runId}'`);
    const t = now();
    // Recorded, and the target lock released (handed to the next waiting run), in one atomic update.
    const res = await this.rt.store.apply(runId, '*', {
      releaseLock: run.target.name,
      notTerminal: true,
      status: 'cancelled',
      set: { cursor: '', finishedAt: t, updatedAt: t, outcome: `cancelled by ${actor}${reason ? `: ${reason}` : ''}` },
      events: [{ runId, step: run.currentStep ?? '', kind: 'run', visit: 0, attempt: 0, at: t, actor, message: `cancelled by ${actor}${reason ? `: ${reason}` : ''}`, output: { status: 'cancelled' } }],
    });
    if (!res.ok) throw new ConflictError(`run ${runId} is already ${res.status ?? 'finished'}`, 'not_cancellable');
    await this.rt.store.leaveLockQueue(run.target.name, runId);
    if (res.next) await this.handOver(res.next.runId);
    await this.rt.releaseWorkspace(run);
    return (await this.rt.store.get(runId))!;
  }

  /** Retry a failed run from its failed step (a new attempt of that step). */
  async retry(runId: string, actor: string): Promise<RunRecord> {
    const run = await this.rt.store.get(runId);
    if (!run) throw new NotFoundError(`no run '${runId}'`);
    const { failedStep } = internals(run);
    if (run.status !== 'failed' || !failedStep) throw new ConflictError(`run ${runId} is ${run.status}; only a failed run with a failed step can be retried`, 'not_retryable');
    const rb = await this.rt.runbookFor(run);
    if (!(await this.rt.store.tryLock(run.target.name, runId))) {
      throw new ConflictError(`target ${run.target.name} is busy with run ${await this.rt.store.lockHolder(run.target.name)}`, 'target_busy');
    }
    const tr = await machine(rb, stateOf(run), { type: 'retry', step: failedStep, actor });
    const ok = await this.rt.transition(run, rb, '', { requireStatus: ['failed'], del: ['finishedAt', 'outcome', 'failedStep'] }, tr);
    if (!ok) {
      await this.rt.store.releaseLock(run.target.name, runId);
      throw new ConflictError(`run ${runId} changed while retrying`, 'conflict');
    }
    return (await this.rt.store.get(runId))!;
  }

  /** A run that was waiting for its target got the lock: enter its first step. */
  async handOver(runId: string): Promise<void> {
    const next = await this.rt.store.get(runId);
    if (next) await this.startFirst(next.id, await this.rt.runbookFor(next), undefined, next);
  }
}
