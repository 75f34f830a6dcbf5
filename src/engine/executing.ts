// Executing: the BullMQ worker. A step job claims the run's cursor (BEGIN), renders the step's parameters, runs
// its action in the run's workspace session, and records the outcome with the next step's start in one atomic
// update (a checkpoint per step). While the next step is due now it runs in the same job (sticky execution); after
// a crash BullMQ re-delivers the job, possibly to another worker, which resumes from the run record.
//
// Exactly-once *effects* on top of at-least-once delivery: a run has one `cursor` — the id of the only job
// allowed to act for it next (`<run>.<step>.<visit>.<attempt>`). A job that is not the cursor is a duplicate
// and does nothing. Finishing a step moves the cursor in the same Lua script that records the outcome; the
// next job is then added under the new cursor id (adding an existing id is a no-op in BullMQ). If a worker dies
// between the two, the interrupted job is re-delivered (stalled), sees it is no longer the cursor but was the
// one that moved it (`cursorFrom`), and adds the next job. Timekeeping's sweeper re-adds any missing cursor job.
import { mkdirSync } from 'node:fs';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ActionContext, Logger } from '../core/action.js';
import type { Json, RunRecord, RunStatus, StepEvent, StepState } from '../core/types.js';
import { isTerminal } from '../core/types.js';
import { PermanentError, RunwrightError, errorInfo, isRetryable } from '../core/errors.js';
import type { Runbook, StepDef } from '../core/runbook.js';
import { exprContext, stepTimeoutMs } from '../core/graph.js';
import { transition as machine, type StepError, type Transition } from '../core/machine.js';
import { ExpressionError, render, templateHoles } from '../core/expr.js';
import type { Ports, WorkspaceSession } from '../ports/index.js';
import { checkoutRel, knownCheckouts, parseManifest } from '../core/workspace.js';
import { internals, withInternals } from './store.js';
import { QUEUE } from './keys.js';
import { withCredentials } from './target-secrets.js';
import { traceFields } from '../logging.js';
import { clip, jobIdFor, now, parseJobId, stateOf, type Runtime, type StepJob } from './runtime.js';
import type { Approvals } from './approvals.js';
import type { Timekeeping } from './timekeeping.js';

const holes = new WeakMap<StepDef, boolean>();
/** Whether a step's parameters have any {{ }} template hole (once per step definition). */
function hasHoles(def: StepDef): boolean {
  let h = holes.get(def);
  if (h === undefined) {
    const any = (v: unknown): boolean => (typeof v === 'string' ? templateHoles(v).length > 0 || v.includes('{{') : Array.isArray(v) ? v.some(any) : !!v && typeof v === 'object' ? Object.values(v).some(any) : false);
    h = any(def.with);
    holes.set(def, h);
  }
  return h;
}

/** Consecutive steps one job may run (sticky execution) before it hands the run to a fresh job. */
export const MAX_STICKY = 100;

/** A child logger made on first use (most steps log nothing at info level). */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let l: Logger | undefined;
  const get = () => (l ??= parent.child(bindings));
  return {
    debug: (o, m) => get().debug(o, m),
    info: (o, m) => get().info(o, m),
    warn: (o, m) => get().warn(o, m),
    error: (o, m) => get().error(o, m),
    child: (b) => get().child(b),
  };
}

export class Executing {
  private workers: Worker[] = [];
  private workerConn?: Redis;
  private unsubscribe?: () => Promise<void>;

  constructor(
    private readonly rt: Runtime,
    private readonly approvals: Approvals,
    private readonly time: Timekeeping,
    private readonly opts: { stickySteps: number; defaultStepTimeoutMs: number },
  ) {}

  private get stickySteps(): number {
    return this.opts.stickySteps;
  }
  private get defaultStepTimeoutMs(): number {
    return this.opts.defaultStepTimeoutMs;
  }

  async startWorker(opts: { concurrency?: number } = {}): Promise<void> {
    if (!this.workerConn) this.workerConn = this.rt.store.redis.duplicate({ maxRetriesPerRequest: null });
    const w = new Worker(QUEUE, (job) => this.process(job), {
      connection: this.workerConn,
      prefix: this.rt.store.keys.bullPrefix(),
      concurrency: opts.concurrency ?? this.rt.config.worker.concurrency,
      lockDuration: this.rt.config.worker.lockDurationMs,
      stalledInterval: this.rt.config.worker.stalledIntervalMs,
      maxStalledCount: 5,
      autorun: true,
    });
    w.on('error', (e) => this.rt.logger.error({ err: errorInfo(e) }, 'worker error'));
    w.on('failed', (job, err) => void this.abandoned(job, err).catch((e) => this.rt.logger.error({ err: errorInfo(e), job: job?.id }, 'could not end an abandoned run')));
    this.workers.push(w);
    if (!this.unsubscribe) {
      const off1 = await this.rt.store.subscribe((ev) => {
        if (ev.kind === 'run' && (ev.output as any)?.status === 'cancelled') this.rt.active.get(ev.runId)?.abort(new PermanentError('run cancelled', 'cancelled'));
      }, { contains: '"cancelled"', runLevel: true });
      // A run that ended (on any machine) leaves nothing on this one.
      const off2 = await this.rt.store.subscribe((ev) => {
        const st = (ev.output as { status?: RunStatus } | undefined)?.status;
        if (ev.kind === 'run' && st && isTerminal(st) && !this.rt.active.has(ev.runId)) void this.rt.workspace.dropLocal(ev.runId).catch(() => undefined);
      }, { runLevel: true });
      this.unsubscribe = async () => {
        await off1();
        await off2();
      };
      await this.time.start();
    }
    await w.waitUntilReady();
  }

  /** Stop taking jobs: running steps are aborted, the workers closed. */
  async close(): Promise<void> {
    for (const ac of this.rt.active.values()) ac.abort(new PermanentError('worker shutting down', 'shutdown'));
    await Promise.all(this.workers.map((w) => w.close()));
    await this.unsubscribe?.();
    this.workerConn?.disconnect();
  }

  async process(job: Job): Promise<string> {
    if (job.name === 'approval-timeout') return this.approvals.timedOut(job.data as { runId: string; cursor: string });
    let j = job.data as StepJob & { redelivered?: boolean };
    // BullMQ re-delivers a job whose lock this worker lost while its step still runs here (an event loop blocked past
    // the lock's duration): the step in flight records its own outcome, and a second execution beside it would only
    // race it on the same disk. (On another worker the cursor and each execution's own scratch trees keep it safe.)
    if (this.rt.active.has(j.runId)) {
      this.rt.logger.warn({ runId: j.runId, job: job.id }, 'job re-delivered while its step still runs in this worker: left to that execution');
      return 'stale';
    }
    let jobId = job.id!;
    const startedAt = now();
    const begun = await this.rt.store.begin(j.runId, jobId, {
      set: { currentStep: j.step, updatedAt: startedAt, [`s:${j.step}`]: JSON.stringify({ status: 'running', visit: j.visit, attempt: j.attempt } satisfies StepState) },
      events: [{ runId: j.runId, step: j.step, kind: 'started', visit: j.visit, attempt: j.attempt, at: startedAt, actor: `worker:${this.rt.workerId}`, message: job.attemptsMade > 0 || job.stalledCounter > 0 || j.redelivered ? 're-delivered' : undefined }],
    });
    if (!begun.ok) {
      // A duplicate or stale delivery. If this job moved the cursor but died before adding the next job, add it;
      // the same when this job ran the run's steps one after another (sticky) and its worker died in one of them.
      if ((begun.cursorFrom === jobId || begun.stickyJob === jobId) && begun.status === 'running' && begun.cursor) {
        const next = parseJobId(begun.cursor);
        if (next) await this.rt.addJob({ ...next, redelivered: begun.stickyJob === jobId });
      }
      return 'stale';
    }
    let run = begun.run;
    let rb: Runbook;
    try {
      rb = await this.rt.runbookFor(run);
    } catch (e) {
      // Without its runbook the run cannot go anywhere: it ends failed (lock released), it does not stay running.
      const orphan = { id: run.runbookId, stepMap: new Map() } as unknown as Runbook;
      await this.rt.transition(run, orphan, jobId, { requireStatus: ['running'] }, await machine(orphan, stateOf(run), { type: 'failed', step: j.step, visit: j.visit, attempt: j.attempt, error: errorInfo(e) as StepError, retryable: false }));
      return 'failed';
    }
    // Sticky execution: while the next step is due now, this job runs it too (one checkpoint per step, no new
    // job); a crash in between is recovered from the run record (stickyJob) when BullMQ re-delivers this job.
    for (let n = 0; ; n++) {
      const r = await this.runStep(run, rb, j, jobId, n < this.stickySteps && !this.rt.closed ? job.id! : undefined);
      if (typeof r === 'string') return r;
      run = r.run;
      j = r.job;
      jobId = r.jobId;
    }
  }

  /** Run one step and record its outcome; with `stickyJob`, start the next step right here when it is due now. */
  private async runStep(run: RunRecord, rb: Runbook, j: StepJob, jobId: string, stickyJob?: string): Promise<string | { run: RunRecord; job: StepJob; jobId: string }> {
    const t0 = Date.now();
    const def = rb.stepMap.get(j.step);
    const action = def?.action ? (this.rt.registry ?? (await this.rt.actions())).get(def.action) : undefined;
    const log = lazyChild(this.rt.logger, { runId: j.runId, step: j.step, attempt: j.attempt, ...traceFields(run.trace) });
    let output: Json;
    let input: Json | undefined;
    const ac = new AbortController();
    this.rt.active.set(j.runId, ac);
    const timeoutMs = def ? stepTimeoutMs(def, this.defaultStepTimeoutMs) : this.defaultStepTimeoutMs;
    let wsSet: Record<string, string> = {};
    try {
      if (!def?.action) throw new PermanentError(`step '${j.step}' has no action`, 'no_action');
      if (!action) throw new PermanentError(`unknown action '${def.action}'`, 'unknown_action');
      let rendered: unknown;
      try {
        // Parameters without a {{ }} hole are the runbook's own (a copy: the action may keep or change it).
        rendered = hasHoles(def) ? await render(def.with ?? {}, exprContext(run)) : def.with === undefined ? {} : structuredClone(def.with);
      } catch (e) {
        throw new PermanentError(`parameters of step '${j.step}': ${(e as Error).message}`, 'expression', e instanceof ExpressionError ? { expression: e.expression } : undefined);
      }
      input = clip(rendered, 4_000);
      const parsed = action.params.safeParse(rendered);
      if (!parsed.success) {
        throw new PermanentError(`bad parameters for ${def.action}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, 'bad_params');
      }
      const session = this.rt.workspace.session({ id: run.id, target: withCredentials(run.target, this.rt.targets), dryRun: run.dryRun }, internals(run).ws, log);
      await session.prepare(rendered, ac.signal);
      const ctx = this.actionContext(run, rb, def, j, ac.signal, log, () => session.ports(this.rt.ports(run.target.platform)), session);
      const work = run.dryRun && action.sideEffects
        ? action.plan!(parsed.data, ctx).then((p) => ({ dryRun: true, plan: p.description, details: p.details ?? null, ...(p.output && typeof p.output === 'object' && !Array.isArray(p.output) ? (p.output as object) : {}) }) as Json)
        : action.run(parsed.data, ctx).then((o) => (o === undefined ? {} : o) as Json);
      output = await this.time.stepDeadline(work, ac, j.step, timeoutMs);
      try {
        output = clip(output, 256_000) ?? {};
      } catch (e) {
        throw new PermanentError(`the output of ${def.action} is not JSON: ${(e as Error).message}`, 'bad_output');
      }
      // What the step left on this disk goes to git (the run ref) and its manifest into the same record as the outcome.
      wsSet = await session.checkpoint(ac.signal);
    } catch (e) {
      this.rt.active.delete(j.runId);
      if (ac.signal.aborted && (ac.signal.reason as RunwrightError)?.code === 'cancelled') return 'cancelled';
      log.warn({ err: errorInfo(e) }, 'step failed');
      const tr = await machine(rb, stateOf(run), { type: 'failed', step: j.step, visit: j.visit, attempt: j.attempt, error: errorInfo(e) as StepError, retryable: isRetryable(e) && !(e instanceof ExpressionError), input, durationMs: Date.now() - t0 });
      await this.rt.transition(run, rb, jobId, { requireStatus: ['running'] }, tr);
      return 'failed';
    }
    this.rt.active.delete(j.runId);
    const tr = await machine(rb, stateOf(run), { type: 'succeeded', step: j.step, visit: j.visit, attempt: j.attempt, output, input, durationMs: Date.now() - t0 });
    const tg = tr.target;
    if (stickyJob && tg.kind === 'job' && !tg.delayMs) {
      // Record this step and start the next in the same atomic update: one round trip per step.
      const next: StepJob = { runId: j.runId, step: tg.step, visit: tg.visit, attempt: tg.attempt };
      const nextId = jobIdFor(next.runId, next.step, next.visit, next.attempt);
      const running: StepState = { status: 'running', visit: next.visit, attempt: next.attempt };
      const started: StepEvent = { runId: j.runId, step: next.step, kind: 'started', visit: next.visit, attempt: next.attempt, at: now(), actor: `worker:${this.rt.workerId}` };
      const sticky: Transition = { ...tr, states: { ...tr.states, [next.step]: running }, events: [...tr.events, started], effects: tr.effects.filter((e) => e.kind !== 'enqueue') };
      const ok = await this.rt.transition(run, rb, jobId, { requireStatus: ['running'] }, sticky, { ...wsSet, stickyJob });
      if (!ok) return 'stale';
      const after = withInternals({ ...tr.state.run, status: 'running', currentStep: next.step, steps: { ...tr.state.run.steps, [next.step]: running } }, { cursor: nextId, visits: tr.state.visits, ws: wsSet.ws ?? internals(run).ws });
      return { run: after, job: next, jobId: nextId };
    }
    await this.rt.transition(run, rb, jobId, { requireStatus: ['running'] }, tr, wsSet);
    return tr.states[j.step]?.status === 'failed' ? 'failed' : 'succeeded';
  }

  /** A job BullMQ gave up on (infrastructure failures on every attempt): the run ends failed, its lock released. */
  private async abandoned(job: Job | undefined, err: Error): Promise<void> {
    if (!job || job.name !== 'step' || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const j = job.data as StepJob;
    const run = await this.rt.store.get(j.runId);
    if (!run || run.status !== 'running' || internals(run).cursor !== job.id) return;
    const rb = await this.rt.runbookFor(run).catch(() => ({ id: run.runbookId, stepMap: new Map() }) as unknown as Runbook);
    const error: StepError = { message: `gave up after ${job.attemptsMade} deliveries: ${err.message}`, code: 'delivery', retryable: false };
    await this.rt.transition(run, rb, job.id!, { requireStatus: ['running'] }, await machine(rb, stateOf(run), { type: 'failed', step: j.step, visit: j.visit, attempt: j.attempt, error, retryable: false }));
  }

  private actionContext(run: RunRecord, rb: Runbook, def: StepDef, j: StepJob, signal: AbortSignal, logger: Logger, portsOf: () => Ports, session: WorkspaceSession): ActionContext {
    const workspace = this.rt.workspace;
    let workdir: string | undefined;
    let ports: Ports | undefined;
    // The run's folder and the ports are made when the action first asks for them (most steps need neither).
    return {
      run: { id: run.id, runbookId: rb.id, runbookHash: rb.hash, dryRun: run.dryRun },
      step: { id: def.id, visit: j.visit, attempt: j.attempt },
      idempotencyKey: `${run.id}.${def.id}.${j.visit}`,
      logger,
      signal,
      alert: run.alert,
      target: withCredentials(run.target, this.rt.targets),
      inputs: run.inputs,
      steps: run.steps,
      approval: run.approval,
      get workdir() {
        if (workdir === undefined) {
          workdir = workspace.runDir(run.id);
          mkdirSync(workdir, { recursive: true });
        }
        return workdir;
      },
      // A checkout by its run-relative name, validated against the run's manifest, brought to this machine.
      checkout: (name) => session.ensure(checkoutRel(name, knownCheckouts(parseManifest(internals(run).ws))), signal),
      get ports() {
        return (ports ??= portsOf());
      },
      progress: async (message, data) => {
        await this.rt.store.appendEvent({ runId: run.id, step: def.id, kind: 'progress', visit: j.visit, attempt: j.attempt, at: now(), message, output: data }).catch(() => undefined);
      },
    };
  }
}
