// The engine: submits runs, executes steps as BullMQ jobs, parks approvals, records everything in the RunStore.
//
// Exactly-once *effects* on top of at-least-once delivery: a run has one `cursor` — the id of the only job
// allowed to act for it next (`<run>.<step>.<visit>.<attempt>`). A job that is not the cursor is a duplicate
// and does nothing. Finishing a step moves the cursor in the same Lua script that records the outcome; the
// next job is then added under the new cursor id (adding an existing id is a no-op in BullMQ). If a worker dies
// between the two, the interrupted job is re-delivered (stalled), sees it is no longer the cursor but was the
// one that moved it (`cursorFrom`), and adds the next job. A sweeper re-adds any missing cursor job.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Action, ActionContext, Logger } from '../core/action.js';
import type { Alert, ApprovalDecision, Json, RunRecord, RunStatus, StepEvent, StepState, Target } from '../core/types.js';
import { isTerminal } from '../core/types.js';
import { PermanentError, RunwrightError, StepTimeoutError, ValidationError, errorInfo, isRetryable } from '../core/errors.js';
import { parseRunbook, resolveInputs, parseDurationMs, type Runbook, type StepDef } from '../core/runbook.js';
import { exprContext, stepTimeoutMs } from '../core/graph.js';
import { transition as machine, type MachineState, type RunEvent, type StepError, type Transition } from '../core/machine.js';
import { ExpressionError, render } from '../core/expr.js';
import type { Ports, ApprovalRequest, WorkspacePort } from '../ports/index.js';
import { LocalWorkspace } from '../adapters/local/workspace.js';
import { RunStore, internals, withInternals, type Patch } from './store.js';
import { QUEUE } from './keys.js';
import type { Config } from '../config/config.js';
import { ActionRegistry, defaultRegistry } from '../actions/index.js';
import { createPorts } from '../adapters/index.js';
import { silentLogger } from '../logging.js';
import { withCredentials, withoutCredentials } from './target-secrets.js';

export class ConflictError extends RunwrightError {
  constructor(message: string, code = 'conflict') {
    super(message, { code, retryable: false });
  }
}
export class NotFoundError extends RunwrightError {
  constructor(message: string) {
    super(message, { code: 'not_found', retryable: false });
  }
}

export interface EngineHooks {
  /** A run parked at an approval gate (post to chat). Errors are logged, never fail the run. */
  onApprovalWaiting?(run: RunRecord, request: ApprovalRequest): Promise<void>;
  /** An approval was decided (update the chat message). */
  onApprovalDecided?(run: RunRecord, step: string, decision: ApprovalDecision): Promise<void>;
}

export interface EngineOptions {
  config: Config;
  runbooks: Map<string, Runbook>;
  targets?: Map<string, Target>;
  registry?: ActionRegistry;
  ports?: (platform: 'local' | 'gcp') => Ports;
  logger?: Logger;
  hooks?: EngineHooks;
  /** Default step timeout when a step sets none. */
  defaultStepTimeoutMs?: number;
  /** Where runs keep their checkouts on this machine (default: the local disk under config.workdir). */
  workspace?: WorkspacePort;
  /** Consecutive steps one job may run (sticky execution; 0 = every step its own job). Default 100. */
  stickySteps?: number;
}

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
}

export type SubmitResult =
  | { result: 'created'; run: RunRecord }
  | { result: 'attached'; run: RunRecord }
  | { result: 'throttled'; lastRunId: string; retryInMs: number };

interface StepJob {
  runId: string;
  step: string;
  visit: number;
  attempt: number;
}

/** Consecutive steps one job may run (sticky execution) before it hands the run to a fresh job. */
const MAX_STICKY = 100;
const now = () => new Date().toISOString();
export const jobIdFor = (runId: string, step: string, visit: number, attempt: number) => `${runId}.${step}.${visit}.${attempt}`;
const approvalCursor = (runId: string, step: string, visit: number) => `${runId}.${step}.${visit}.approval`;
export const newRunId = () => `r${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;

function parseJobId(id: string): StepJob | null {
  const parts = id.split('.');
  if (parts.length !== 4 || parts[3] === 'approval') return null;
  return { runId: parts[0]!, step: parts[1]!, visit: Number(parts[2]), attempt: Number(parts[3]) };
}

function clip(v: unknown, max = 8_000): Json | undefined {
  if (v === undefined) return undefined;
  const s = JSON.stringify(v);
  if (s === undefined) return undefined;
  if (s.length <= max) return JSON.parse(s);
  return { truncated: true, preview: s.slice(0, max) };
}

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

/** The machine's view of a stored run. */
export function stateOf(run: RunRecord): MachineState {
  return { run, visits: internals(run).visits };
}

export class Engine {
  readonly store: RunStore;
  readonly queue: Queue;
  readonly config: Config;
  readonly registry: ActionRegistry;
  readonly logger: Logger;
  readonly workspace: WorkspacePort;
  runbooks: Map<string, Runbook>;
  targets: Map<string, Target>;
  private readonly hooks: EngineHooks;
  private readonly portsFor: (platform: 'local' | 'gcp') => Ports;
  private readonly portCache = new Map<string, Ports>();
  private readonly byHash = new Map<string, Runbook>();
  private readonly savedSources = new Map<string, number>(); // runbook hash -> when this process last stored it
  private workers: Worker[] = [];
  private workerConn?: Redis;
  private readonly queueConn: Redis;
  private readonly active = new Map<string, AbortController>();
  private unsubscribe?: () => Promise<void>;
  private timers: NodeJS.Timeout[] = [];
  readonly workerId = `w${process.pid}-${randomBytes(3).toString('hex')}`;
  private closed = false;

  private constructor(opts: EngineOptions) {
    this.config = opts.config;
    this.runbooks = opts.runbooks;
    this.targets = opts.targets ?? new Map();
    this.registry = opts.registry ?? defaultRegistry();
    this.logger = opts.logger ?? silentLogger();
    this.hooks = opts.hooks ?? {};
    this.portsFor = opts.ports ?? ((p) => createPorts(this.config, p));
    this.workspace = opts.workspace ?? new LocalWorkspace(this.config.workdir, { mirrorBudgetBytes: (this.config.mirrorBudgetMb ?? 2048) * 1024 * 1024 });
    this.store = new RunStore(this.config.redisUrl, this.config.prefix);
    this.queueConn = this.store.redis.duplicate({ maxRetriesPerRequest: null });
    this.queue = new Queue(QUEUE, { connection: this.queueConn, prefix: this.bullPrefix() });
    // While Redis is away both reconnect by themselves and the failing calls reject where they are made; without
    // listeners ioredis and BullMQ would print each reconnect error to stderr, outside the JSON log.
    this.store.redis.on('error', (e: Error) => this.logger.debug({ err: errorInfo(e) }, 'redis connection error'));
    this.queue.on('error', (e: Error) => this.logger.warn({ err: errorInfo(e) }, 'queue connection error'));
    for (const rb of this.runbooks.values()) this.byHash.set(rb.hash, rb);
    this.defaultStepTimeoutMs = opts.defaultStepTimeoutMs ?? 15 * 60_000;
    this.stickySteps = opts.stickySteps ?? MAX_STICKY;
  }
  private readonly stickySteps: number;
  private readonly defaultStepTimeoutMs: number;

  static async create(opts: EngineOptions): Promise<Engine> {
    const e = new Engine(opts);
    await e.store.redis.ping();
    return e;
  }

  bullPrefix(): string {
    return this.store.keys.bullPrefix();
  }

  private ports(platform: 'local' | 'gcp'): Ports {
    let p = this.portCache.get(platform);
    if (!p) {
      p = this.portsFor(platform);
      this.portCache.set(platform, p);
    }
    return p;
  }

  setHooks(h: EngineHooks): void {
    Object.assign(this.hooks, h);
  }

  // ---------------------------------------------------------------- submit

  async submit(req: SubmitRequest): Promise<SubmitResult> {
    const rb = this.runbooks.get(req.runbookId);
    if (!rb) throw new NotFoundError(`unknown runbook '${req.runbookId}'`);
    const target = typeof req.target === 'string' ? this.targets.get(req.target) : req.target;
    if (!target) throw new NotFoundError(`unknown target '${String(req.target)}'`);
    const inputs = resolveInputs(rb, req.inputs ?? {});
    // Every alert comes through here (most attach to an active run): store the source once per hash and minute
    // per process, not once per alert (it was a SET of the whole runbook on every request).
    if (!(Date.now() - (this.savedSources.get(rb.hash) ?? -Infinity) < 60_000)) {
      await this.store.saveRunbookSource(rb.hash, rb.source);
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
    };
    // Walk inline steps (switch/end) from the start to find the first job or gate.
    const adv = await machine(rb, { run, visits: {} }, { type: 'start' });
    const firstCursor = adv.target.kind === 'job' ? jobIdFor(id, adv.target.step, adv.target.visit, 1) : adv.target.kind === 'approval' ? approvalCursor(id, adv.target.step, adv.target.visit) : '';
    const created: StepEvent = { runId: id, step: '', kind: 'run', visit: 0, attempt: 0, at: t, message: `run created (runbook ${rb.id}@${rb.hash.slice(0, 12)}, target ${target.name})`, input: clip({ alert: { source: req.alert.source, fingerprint: req.alert.fingerprint, severity: req.alert.severity }, inputs, dryRun: run.dryRun }) };
    const res = await this.store.create({ run, firstCursor, dedupe: !!req.dedupe, throttleMs: req.throttle ? rb.policy.throttleMs : undefined, lockPolicy: rb.policy.targetLock, createdEvent: created });
    if (res.result === 'attached') return { result: 'attached', run: (await this.store.get(res.runId))! };
    if (res.result === 'throttled') return res;
    if (res.status === 'running') await this.startFirst(id, rb, adv, withInternals({ ...run, status: 'running' }, { cursor: firstCursor, visits: {} }));
    return { result: 'created', run: (await this.store.get(id))! };
  }

  /** Enter the first step of a run that holds its target lock. */
  private async startFirst(runId: string, rb: Runbook, adv?: Transition, known?: RunRecord): Promise<void> {
    const run = known ?? (await this.store.get(runId))!;
    adv ??= await machine(rb, stateOf(run), { type: 'start' });
    const { cursor } = internals(run);
    await this.transition(run, rb, cursor, { requireStatus: ['running'] }, adv);
  }

  // ---------------------------------------------------------------- transitions

  /**
   * Record a Transition computed by the core machine (states, visits, events, the cursor and status) in one
   * atomic store update checked against the expected cursor, then perform its effects (enqueue the next job,
   * park for approval, or release the target lock and the workspace).
   */
  private async transition(run: RunRecord, rb: Runbook, expectedCursor: string, base: Patch, tr: Transition, extraSet: Record<string, string> = {}): Promise<boolean> {
    const t = now();
    const set: Record<string, string> = { updatedAt: t, ...extraSet };
    for (const [k, v] of Object.entries(tr.visits)) set[`v:${k}`] = String(v);
    for (const [k, st] of Object.entries(tr.states)) set[`s:${k}`] = JSON.stringify(st);
    const evs: StepEvent[] = tr.events.map((e) => ({ ...e, runId: run.id, at: t, ...(e.input !== undefined ? { input: clip(e.input, 4_000) } : {}), ...(e.output !== undefined ? { output: clip(e.output) } : {}) }) as StepEvent);
    const tg = tr.target;
    const del: string[] = [];
    if (tr.approval) {
      set.approval = JSON.stringify(tr.approval);
      set.approvals = JSON.stringify([...(run.approvals ?? []), tr.approval]);
    }
    if (tg.kind === 'job') {
      set.cursor = jobIdFor(run.id, tg.step, tg.visit, tg.attempt);
      set.currentStep = tg.step;
    } else if (tg.kind === 'approval') {
      set.cursor = approvalCursor(run.id, tg.step, tg.visit);
      set.currentStep = tg.step;
    } else {
      set.cursor = '';
      set.finishedAt = t;
      set.outcome = tg.outcome;
      if (tg.status === 'failed' && tg.step) set.failedStep = tg.step;
      del.push('waitingReason');
    }
    if (expectedCursor) set.cursorFrom = expectedCursor;
    // A run that ends gives back its workspace first (the run ref on the remote, its folder here), so that a
    // finished run never has a run ref: whoever sees the end sees the remote as the run leaves it. The manifest is
    // the one this process holds (read with the run, or written by this step): only the cursor's holder changes it.
    if (tr.effects.some((e) => e.kind === 'release-workspace')) await this.releaseWorkspace(run, extraSet.ws ?? internals(run).ws ?? null);
    // The end of a run releases its target lock in the same atomic update that records it.
    const releaseLock = tr.effects.some((e) => e.kind === 'release-lock') ? run.target.name : undefined;
    const res = await this.store.apply(run.id, expectedCursor || '*', { ...base, set: { ...set, ...(base.set ?? {}) }, del: [...del, ...(base.del ?? [])], status: tr.status, events: evs, releaseLock });
    if (!res.ok) {
      this.logger.info({ runId: run.id, reason: res.reason, status: res.status }, 'transition not applied (run moved on)');
      return false;
    }
    if (res.next) await this.handOver(res.next.runId);
    await this.effects(tr.state.run, rb, tr);
    return true;
  }

  private async effects(run: RunRecord, rb: Runbook, tr: Transition): Promise<void> {
    for (const e of tr.effects) {
      if (e.kind === 'enqueue') await this.addJob({ runId: run.id, step: e.step, visit: e.visit, attempt: e.attempt }, e.delayMs);
      else if (e.kind === 'park') await this.parked(run.id, rb, e.step, e.visit, e.prompt);
      // release-lock: in the update that recorded the end; release-workspace: just before it (transition()).
    }
  }

  /** The run's workspace on this machine (other machines sweep theirs). Never fails the run. */
  private async releaseWorkspace(run: RunRecord, manifest?: string | null): Promise<void> {
    const ws = manifest !== undefined ? (manifest ?? undefined) : ((await this.store.getField(run.id, 'ws').catch(() => null)) ?? undefined);
    await this.workspace.release({ id: run.id, target: withCredentials(run.target, this.targets) }, ws).catch((e) => this.logger.warn({ runId: run.id, err: errorInfo(e) }, 'workspace release failed; the sweeper will retry'));
  }

  private async addJob(j: StepJob & { redelivered?: boolean }, delayMs?: number): Promise<void> {
    await this.queue.add('step', j, {
      jobId: jobIdFor(j.runId, j.step, j.visit, j.attempt),
      delay: delayMs && delayMs > 0 ? delayMs : undefined,
      attempts: 5, // infrastructure failures only (Redis blips); actions fail through the graph
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { count: 2000 },
      removeOnFail: { count: 5000 },
    });
  }

  private async parked(runId: string, rb: Runbook, step: string, visit: number, prompt: string): Promise<void> {
    const def = rb.stepMap.get(step)!;
    const run = (await this.store.get(runId))!;
    const ctx = exprContext(run);
    const render1 = async (tpl?: string) => (tpl ? await render(tpl, ctx).catch(() => undefined) : undefined);
    if (run.autoApprove || run.dryRun) {
      // A dry run writes nothing, so it never waits for a person: its gates pass and the plan goes on.
      // A recommendation that cannot be rendered is no recommendation (the approval's branches decide).
      const rec = await render1(def.approval!.recommend);
      const choice = rec === undefined || rec === null ? undefined : String(rec) || undefined;
      const [actor, comment] = run.autoApprove ? ['auto-approve', 'approved automatically (--auto-approve)'] : ['dry-run', 'dry run: passed without a person (nothing is written)'];
      await this.decide(runId, { decision: 'approved', actor, comment, choice }).catch((e) => this.logger.warn({ runId, err: errorInfo(e) }, 'auto-approve failed'));
      return;
    }
    if (def.approval!.timeout !== undefined) {
      const cursor = approvalCursor(runId, step, visit);
      await this.queue.add('approval-timeout', { runId, cursor }, { jobId: `${cursor}.timeout`, delay: parseDurationMs(def.approval!.timeout), removeOnComplete: true, removeOnFail: { count: 1000 } });
    }
    if (this.hooks.onApprovalWaiting) {
      const req: ApprovalRequest = {
        runId,
        step,
        runbookId: run.runbookId,
        target: run.target.name,
        alert: run.alert,
        prompt,
        findings: clip(await render1(def.approval!.findings)),
        proposal: (await render1(def.approval!.proposal)) as ApprovalRequest['proposal'],
        options: def.approval!.options ?? [],
      };
      this.hooks.onApprovalWaiting(run, req).catch((e) => this.logger.warn({ runId, err: errorInfo(e) }, 'approval notification failed; the run still waits'));
    }
  }

  private async finished(run: RunRecord): Promise<void> {
    const rel = await this.store.releaseLock(run.target.name, run.id);
    if (rel.next) await this.handOver(rel.next.runId);
  }

  /** A run that was waiting for its target got the lock: enter its first step. */
  private async handOver(runId: string): Promise<void> {
    const next = await this.store.get(runId);
    if (next) await this.startFirst(next.id, await this.runbookFor(next), undefined, next);
  }

  // ---------------------------------------------------------------- decisions and control

  /** Approve or reject a parked run. Throws ConflictError when it is not waiting (second click, finished run). */
  async decide(runId: string, d: { decision: 'approved' | 'rejected'; actor: string; comment?: string; choice?: string }): Promise<RunRecord> {
    const run = await this.store.get(runId);
    if (!run) throw new NotFoundError(`no run '${runId}'`);
    if (run.status !== 'waiting_approval' || !run.currentStep) {
      const who = run.approval ? ` (decided by ${run.approval.actor} at ${run.approval.at})` : '';
      throw new ConflictError(`run ${runId} is ${run.status}, not waiting for approval${who}`, 'not_waiting');
    }
    const rb = await this.runbookFor(run);
    const def = rb.stepMap.get(run.currentStep)!;
    const opts = def.approval?.options ?? [];
    if (d.choice !== undefined && d.choice !== '' && opts.length && !opts.includes(d.choice)) {
      throw new ValidationError([{ path: 'choice', message: `choice must be one of ${opts.join(', ')}` }]);
    }
    const decision: ApprovalDecision = { decision: d.decision, actor: d.actor, at: now(), comment: d.comment, choice: d.choice || undefined };
    const { cursor } = internals(run);
    const tr = await machine(rb, stateOf(run), { type: 'decided', decision });
    const ok = await this.transition(run, rb, cursor, { requireStatus: ['waiting_approval'] }, tr);
    if (!ok) {
      const cur = await this.store.get(runId);
      throw new ConflictError(`run ${runId} was already decided${cur?.approval ? ` by ${cur.approval.actor} at ${cur.approval.at}` : ''}`, 'already_decided');
    }
    const after = (await this.store.get(runId))!;
    if (this.hooks.onApprovalDecided) this.hooks.onApprovalDecided(after, def.id, decision).catch((e) => this.logger.warn({ runId, err: errorInfo(e) }, 'approval update failed'));
    return after;
  }

  async cancel(runId: string, actor: string, reason?: string): Promise<RunRecord> {
    const run = await this.store.get(runId);
    if (!run) throw new NotFoundError(`no run '${runId}'`);
    const t = now();
    const res = await this.store.apply(runId, '*', {
      notTerminal: true,
      status: 'cancelled',
      set: { cursor: '', finishedAt: t, updatedAt: t, outcome: `cancelled by ${actor}${reason ? `: ${reason}` : ''}` },
      events: [{ runId, step: run.currentStep ?? '', kind: 'run', visit: 0, attempt: 0, at: t, actor, message: `cancelled by ${actor}${reason ? `: ${reason}` : ''}`, output: { status: 'cancelled' } }],
    });
    if (!res.ok) throw new ConflictError(`run ${runId} is already ${res.status ?? 'finished'}`, 'not_cancellable');
    await this.store.leaveLockQueue(run.target.name, runId);
    await this.finished(run);
    await this.releaseWorkspace(run);
    return (await this.store.get(runId))!;
  }

  /** Retry a failed run from its failed step (a new attempt of that step). */
  async retry(runId: string, actor: string): Promise<RunRecord> {
    const run = await this.store.get(runId);
    if (!run) throw new NotFoundError(`no run '${runId}'`);
    const { failedStep } = internals(run);
    if (run.status !== 'failed' || !failedStep) throw new ConflictError(`run ${runId} is ${run.status}; only a failed run with a failed step can be retried`, 'not_retryable');
    const rb = await this.runbookFor(run);
    if (!(await this.store.tryLock(run.target.name, runId))) {
      throw new ConflictError(`target ${run.target.name} is busy with run ${await this.store.lockHolder(run.target.name)}`, 'target_busy');
    }
    const tr = await machine(rb, stateOf(run), { type: 'retry', step: failedStep, actor });
    const ok = await this.transition(run, rb, '', { requireStatus: ['failed'], del: ['finishedAt', 'outcome', 'failedStep'] }, tr);
    if (!ok) {
      await this.store.releaseLock(run.target.name, runId);
      throw new ConflictError(`run ${runId} changed while retrying`, 'conflict');
    }
    return (await this.store.get(runId))!;
  }

  // ---------------------------------------------------------------- worker

  async startWorker(opts: { concurrency?: number } = {}): Promise<void> {
    if (!this.workerConn) this.workerConn = this.store.redis.duplicate({ maxRetriesPerRequest: null });
    const w = new Worker(QUEUE, (job) => this.process(job), {
      connection: this.workerConn,
      prefix: this.bullPrefix(),
      concurrency: opts.concurrency ?? this.config.worker.concurrency,
      lockDuration: this.config.worker.lockDurationMs,
      stalledInterval: this.config.worker.stalledIntervalMs,
      maxStalledCount: 5,
      autorun: true,
    });
    w.on('error', (e) => this.logger.error({ err: errorInfo(e) }, 'worker error'));
    w.on('failed', (job, err) => void this.abandoned(job, err).catch((e) => this.logger.error({ err: errorInfo(e), job: job?.id }, 'could not end an abandoned run')));
    this.workers.push(w);
    if (!this.unsubscribe) {
      this.unsubscribe = await this.store.subscribe((ev) => {
        if (ev.kind === 'run' && (ev.output as any)?.status === 'cancelled') this.active.get(ev.runId)?.abort(new PermanentError('run cancelled', 'cancelled'));
      }, { contains: '"cancelled"' });
      // A run that ended (on any machine) leaves nothing on this one.
      const off2 = await this.store.subscribe((ev) => {
        const st = (ev.output as { status?: RunStatus } | undefined)?.status;
        if (ev.kind === 'run' && st && isTerminal(st) && !this.active.has(ev.runId)) void this.workspace.dropLocal(ev.runId).catch(() => undefined);
      }, { contains: '"kind":"run"' });
      const off1 = this.unsubscribe;
      this.unsubscribe = async () => {
        await off1();
        await off2();
      };
      const sweepDisk = () => this.workspace.sweep(async (id) => {
        const st = await this.store.getField(id, 'status');
        return !!st && !isTerminal(st as RunStatus);
      });
      await sweepDisk().catch((e) => this.logger.warn({ err: errorInfo(e) }, 'workspace sweep failed'));
      this.timers.push(setInterval(() => void sweepDisk().catch(() => undefined), 60_000).unref());
      const beat = async () => {
        await this.store.heartbeat(this.workerId, { pid: process.pid, at: now() }).catch(() => undefined);
      };
      await beat();
      this.timers.push(setInterval(beat, 10_000).unref());
      this.timers.push(setInterval(() => void this.sweep().catch(() => undefined), 15_000).unref());
      if (this.config.retentionDays > 0) this.timers.push(setInterval(() => void this.store.prune(Date.now() - this.config.retentionDays * 86_400_000).catch(() => undefined), 3_600_000).unref());
      await this.sweep().catch((e) => this.logger.warn({ err: errorInfo(e) }, 'sweep failed'));
    }
    await w.waitUntilReady();
  }

  /** Number of workers that sent a heartbeat in the last 30 s (any process). */
  async workersAlive(): Promise<number> {
    return this.store.workersAlive();
  }

  /** Re-add the cursor job of any running run whose job is missing (a crash between record and enqueue). */
  async sweep(): Promise<number> {
    const ids = await this.store.idsWithStatus('running');
    let fixed = 0;
    // In batches, each a few round trips (a busy system has thousands of running runs).
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const rows = await this.store.fieldsOf(batch, ['cursor', 'updatedAt', 'status', 'stickyJob']);
      const due: { id: string; cursor: string; job: StepJob; sticky: string }[] = [];
      rows.forEach((raw, k) => {
        const cursor = raw[0];
        if (!cursor || raw[2] !== 'running') return;
        if (Date.now() - Date.parse(raw[1] ?? '') < 5_000) return;
        const job = parseJobId(cursor);
        if (job) due.push({ id: batch[k]!, cursor, job, sticky: raw[3] ?? '' });
      });
      if (!due.length) continue;
      const [cursors, stickies] = await Promise.all([this.store.jobStates(due.map((d) => d.cursor)), this.store.jobStates(due.map((d) => d.sticky || '-'))]);
      for (const [k, d] of due.entries()) {
        // A job running the run's steps one after another (sticky) and not finished: it holds the cursor step.
        if (d.sticky && stickies[k]!.unfinished) continue;
        if (!cursors[k]!.exists) {
          await this.addJob(d.job);
          fixed++;
          this.logger.warn({ runId: d.id, job: d.cursor }, 'sweeper re-added a missing step job');
        }
      }
    }
    return fixed;
  }

  private async runbookFor(run: RunRecord): Promise<Runbook> {
    const hit = this.byHash.get(run.runbookHash);
    if (hit) return hit;
    const src = await this.store.runbookSource(run.runbookHash);
    if (!src) throw new PermanentError(`runbook ${run.runbookId}@${run.runbookHash} is not stored`, 'runbook_missing');
    const rb = parseRunbook(src, `${run.runbookId}@${run.runbookHash.slice(0, 12)}`, this.registry.catalog());
    this.byHash.set(rb.hash, rb);
    return rb;
  }

  private async process(job: Job): Promise<string> {
    if (job.name === 'approval-timeout') return this.approvalTimeout(job.data as { runId: string; cursor: string });
    let j = job.data as StepJob & { redelivered?: boolean };
    let jobId = job.id!;
    const startedAt = now();
    const begun = await this.store.begin(j.runId, jobId, {
      set: { currentStep: j.step, updatedAt: startedAt, [`s:${j.step}`]: JSON.stringify({ status: 'running', visit: j.visit, attempt: j.attempt } satisfies StepState) },
      events: [{ runId: j.runId, step: j.step, kind: 'started', visit: j.visit, attempt: j.attempt, at: startedAt, actor: `worker:${this.workerId}`, message: job.attemptsMade > 0 || job.stalledCounter > 0 || j.redelivered ? 're-delivered' : undefined }],
    });
    if (!begun.ok) {
      // A duplicate or stale delivery. If this job moved the cursor but died before adding the next job, add it;
      // the same when this job ran the run's steps one after another (sticky) and its worker died in one of them.
      if ((begun.cursorFrom === jobId || begun.stickyJob === jobId) && begun.status === 'running' && begun.cursor) {
        const next = parseJobId(begun.cursor);
        if (next) await this.addJob({ ...next, redelivered: begun.stickyJob === jobId });
      }
      return 'stale';
    }
    let run = begun.run;
    let rb: Runbook;
    try {
      rb = await this.runbookFor(run);
    } catch (e) {
      // Without its runbook the run cannot go anywhere: it ends failed (lock released), it does not stay running.
      const orphan = { id: run.runbookId, stepMap: new Map() } as unknown as Runbook;
      await this.transition(run, orphan, jobId, { requireStatus: ['running'] }, await machine(orphan, stateOf(run), { type: 'failed', step: j.step, visit: j.visit, attempt: j.attempt, error: errorInfo(e) as StepError, retryable: false }));
      return 'failed';
    }
    // Sticky execution: while the next step is due now, this job runs it too (one checkpoint per step, no new
    // job); a crash in between is recovered from the run record (stickyJob) when BullMQ re-delivers this job.
    for (let n = 0; ; n++) {
      const r = await this.runStep(run, rb, j, jobId, n < this.stickySteps && !this.closed ? job.id! : undefined);
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
    const action = def?.action ? this.registry.get(def.action) : undefined;
    const log = lazyChild(this.logger, { runId: j.runId, step: j.step, attempt: j.attempt });
    let output: Json;
    let input: Json | undefined;
    const ac = new AbortController();
    this.active.set(j.runId, ac);
    const timeoutMs = def ? stepTimeoutMs(def, this.defaultStepTimeoutMs) : this.defaultStepTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let wsSet: Record<string, string> = {};
    try {
      if (!def?.action) throw new PermanentError(`step '${j.step}' has no action`, 'no_action');
      if (!action) throw new PermanentError(`unknown action '${def.action}'`, 'unknown_action');
      const ctxData = exprContext(run);
      let rendered: unknown;
      try {
        rendered = await render(def.with ?? {}, ctxData);
      } catch (e) {
        throw new PermanentError(`parameters of step '${j.step}': ${(e as Error).message}`, 'expression', e instanceof ExpressionError ? { expression: e.expression } : undefined);
      }
      input = clip(rendered, 4_000);
      const parsed = action.params.safeParse(rendered);
      if (!parsed.success) {
        throw new PermanentError(`bad parameters for ${def.action}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, 'bad_params');
      }
      const session = this.workspace.session({ id: run.id, target: withCredentials(run.target, this.targets), dryRun: run.dryRun }, internals(run).ws, log);
      await session.prepare(rendered, ac.signal);
      const ctx = this.actionContext(run, rb, def, j, ac.signal, log, () => session.ports(this.ports(run.target.platform)));
      const work = run.dryRun && action.sideEffects
        ? action.plan!(parsed.data, ctx).then((p) => ({ dryRun: true, plan: p.description, details: p.details ?? null, ...(p.output && typeof p.output === 'object' && !Array.isArray(p.output) ? (p.output as object) : {}) }) as Json)
        : action.run(parsed.data, ctx).then((o) => (o === undefined ? {} : o) as Json);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new StepTimeoutError(j.step, timeoutMs);
          ac.abort(err);
          reject(err);
        }, timeoutMs);
      });
      const aborted = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }));
      output = (await Promise.race([work, timeout, aborted])) as Json;
      try {
        output = clip(output, 256_000) ?? {};
      } catch (e) {
        throw new PermanentError(`the output of ${def.action} is not JSON: ${(e as Error).message}`, 'bad_output');
      }
      // What the step left on this disk goes to git (the run ref) and its manifest into the same record as the outcome.
      wsSet = await session.checkpoint(ac.signal);
    } catch (e) {
      clearTimeout(timer);
      this.active.delete(j.runId);
      if (ac.signal.aborted && (ac.signal.reason as RunwrightError)?.code === 'cancelled') return 'cancelled';
      log.warn({ err: errorInfo(e) }, 'step failed');
      const tr = await machine(rb, stateOf(run), { type: 'failed', step: j.step, visit: j.visit, attempt: j.attempt, error: errorInfo(e) as StepError, retryable: isRetryable(e) && !(e instanceof ExpressionError), input, durationMs: Date.now() - t0 });
      await this.transition(run, rb, jobId, { requireStatus: ['running'] }, tr);
      return 'failed';
    }
    clearTimeout(timer);
    this.active.delete(j.runId);
    const tr = await machine(rb, stateOf(run), { type: 'succeeded', step: j.step, visit: j.visit, attempt: j.attempt, output, input, durationMs: Date.now() - t0 });
    const tg = tr.target;
    if (stickyJob && tg.kind === 'job' && !tg.delayMs) {
      // Record this step and start the next in the same atomic update: one round trip per step.
      const next: StepJob = { runId: j.runId, step: tg.step, visit: tg.visit, attempt: tg.attempt };
      const nextId = jobIdFor(next.runId, next.step, next.visit, next.attempt);
      const running: StepState = { status: 'running', visit: next.visit, attempt: next.attempt };
      const started: StepEvent = { runId: j.runId, step: next.step, kind: 'started', visit: next.visit, attempt: next.attempt, at: now(), actor: `worker:${this.workerId}` };
      const sticky: Transition = { ...tr, states: { ...tr.states, [next.step]: running }, events: [...tr.events, started], effects: tr.effects.filter((e) => e.kind !== 'enqueue') };
      const ok = await this.transition(run, rb, jobId, { requireStatus: ['running'] }, sticky, { ...wsSet, stickyJob });
      if (!ok) return 'stale';
      const after = withInternals({ ...tr.state.run, status: 'running', currentStep: next.step, steps: { ...tr.state.run.steps, [next.step]: running } }, { cursor: nextId, visits: tr.state.visits, ws: wsSet.ws ?? internals(run).ws });
      return { run: after, job: next, jobId: nextId };
    }
    await this.transition(run, rb, jobId, { requireStatus: ['running'] }, tr, wsSet);
    return tr.states[j.step]?.status === 'failed' ? 'failed' : 'succeeded';
  }

  /** A job BullMQ gave up on (infrastructure failures on every attempt): the run ends failed, its lock released. */
  private async abandoned(job: Job | undefined, err: Error): Promise<void> {
    if (!job || job.name !== 'step' || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const j = job.data as StepJob;
    const run = await this.store.get(j.runId);
    if (!run || run.status !== 'running' || internals(run).cursor !== job.id) return;
    const rb = await this.runbookFor(run).catch(() => ({ id: run.runbookId, stepMap: new Map() }) as unknown as Runbook);
    const error: StepError = { message: `gave up after ${job.attemptsMade} deliveries: ${err.message}`, code: 'delivery', retryable: false };
    await this.transition(run, rb, job.id!, { requireStatus: ['running'] }, await machine(rb, stateOf(run), { type: 'failed', step: j.step, visit: j.visit, attempt: j.attempt, error, retryable: false }));
  }

  private actionContext(run: RunRecord, rb: Runbook, def: StepDef, j: StepJob, signal: AbortSignal, logger: Logger, portsOf: () => Ports): ActionContext {
    const workspace = this.workspace;
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
      target: withCredentials(run.target, this.targets),
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
      get ports() {
        return (ports ??= portsOf());
      },
      progress: async (message, data) => {
        await this.store.appendEvent({ runId: run.id, step: def.id, kind: 'progress', visit: j.visit, attempt: j.attempt, at: now(), message, output: data }).catch(() => undefined);
      },
    };
  }

  private async approvalTimeout(d: { runId: string; cursor: string }): Promise<string> {
    const run = await this.store.get(d.runId);
    if (!run || run.status !== 'waiting_approval' || internals(run).cursor !== d.cursor) return 'stale';
    await this.decide(d.runId, { decision: 'rejected', actor: 'system:timeout', comment: 'approval timed out' }).catch(() => undefined);
    return 'timed-out';
  }

  // ---------------------------------------------------------------- following

  /** Resolve when `pred(run)` holds (checked now and on every event of the run). */
  async waitFor(runId: string, pred: (r: RunRecord) => boolean, timeoutMs = 60_000): Promise<RunRecord> {
    let off: (() => Promise<void>) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    try {
      return await new Promise<RunRecord>((resolve, reject) => {
        let checking = false;
        let again = false;
        const check = async () => {
          if (checking) {
            again = true;
            return;
          }
          checking = true;
          try {
            do {
              again = false;
              const r = await this.store.get(runId);
              if (r && pred(r)) return resolve(r);
            } while (again);
          } catch (e) {
            reject(e);
          } finally {
            checking = false;
          }
        };
        // Pub/sub is the fast path; a slow poll covers messages lost while the subscriber reconnects.
        poll = setInterval(() => void check(), 1_000);
        poll.unref();
        timer = setTimeout(async () => {
          const r = await this.store.get(runId).catch(() => null);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for run ${runId} (status ${r?.status}, step ${r?.currentStep})`));
        }, timeoutMs);
        this.store
          .subscribe(() => void check(), { runId })
          .then((o) => {
            off = o;
            void check();
          }, reject);
      });
    } finally {
      clearTimeout(timer);
      clearInterval(poll);
      await off?.();
    }
  }

  waitForEnd(runId: string, timeoutMs?: number): Promise<RunRecord> {
    return this.waitFor(runId, (r) => isTerminal(r.status), timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const ac of this.active.values()) ac.abort(new PermanentError('worker shutting down', 'shutdown'));
    await Promise.all(this.workers.map((w) => w.close()));
    await this.unsubscribe?.();
    await this.store.dropHeartbeat(this.workerId).catch(() => undefined);
    await this.queue.close();
    this.queueConn.disconnect();
    this.workerConn?.disconnect();
    await this.store.close();
  }
}

export type { Action };
