// What the engine's parts share: the store and queue, the runbooks by version, the ports, and the one way a run's
// state changes — a Transition computed by the core machine, recorded in one atomic store update checked against
// the expected cursor, then its effects performed. The parts (pg-boss names them): submitting.ts (submit, dedupe,
// start the first step, retry, cancel), executing.ts (the worker: steps, sticky execution, checkpoints),
// approvals.ts (parking, the approval request, decisions), timekeeping.ts (timeouts, sweeps, heartbeats).
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/action.js';
import type { Json, RunRecord, StepEvent, Target } from '../core/types.js';
import { PermanentError, RunwrightError, errorInfo } from '../core/errors.js';
import type { Runbook } from '../core/runbook-model.js';
import type { MachineState, Transition } from '../core/machine.js';
import type { Ports, ApprovalRequest, WorkspacePort } from '../ports/index.js';
import type { ApprovalDecision } from '../core/types.js';
import { LocalWorkspace } from '../adapters/local/workspace.js';
import { RunStore, internals, type Patch } from './store.js';
import { QUEUE } from './keys.js';
import type { Config } from '../config/config.js';
import type { ActionRegistry } from '../actions/index.js';
import { createPorts } from '../adapters/index.js';
import { silentLogger } from '../logging.js';
import { withCredentials } from './target-secrets.js';

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

export interface StepJob {
  runId: string;
  step: string;
  visit: number;
  attempt: number;
}

export const now = () => new Date().toISOString();
export const jobIdFor = (runId: string, step: string, visit: number, attempt: number) => `${runId}.${step}.${visit}.${attempt}`;
export const approvalCursor = (runId: string, step: string, visit: number) => `${runId}.${step}.${visit}.approval`;
export const newRunId = () => `r${Date.now().toString(36)}${randomBytes(5).toString('hex')}`;

export function parseJobId(id: string): StepJob | null {
  const parts = id.split('.');
  if (parts.length !== 4 || parts[3] === 'approval') return null;
  return { runId: parts[0]!, step: parts[1]!, visit: Number(parts[2]), attempt: Number(parts[3]) };
}

// Values clip() made, with the length of their JSON: clipping one again (a step's output for its event) is free.
const clipped = new WeakMap<object, number>();

/** A value as JSON of at most `max` characters (else a truncated preview). */
export function clip(v: unknown, max = 8_000): Json | undefined {
  if (v === undefined) return undefined;
  const known = v !== null && typeof v === 'object' ? clipped.get(v) : undefined;
  if (known !== undefined && known <= max) return v as Json;
  const s = JSON.stringify(v);
  if (s === undefined) return undefined;
  if (s.length <= max) {
    const out = JSON.parse(s) as Json;
    if (out !== null && typeof out === 'object') clipped.set(out, s.length);
    return out;
  }
  return { truncated: true, preview: s.slice(0, max) };
}

/** The machine's view of a stored run. */
export function stateOf(run: RunRecord): MachineState {
  return { run, visits: internals(run).visits };
}

/** Where a transition's effects go that belong to another part (set by the Engine that assembles the parts). */
export interface EffectHandlers {
  /** The run parked at an approval gate. */
  park(runId: string, rb: Runbook, step: string, visit: number): Promise<void>;
  /** A run that waited for its target got the lock: enter its first step. */
  handOver(runId: string): Promise<void>;
}

export class Runtime {
  readonly store: RunStore;
  readonly queue: Queue;
  readonly queueConn: Redis;
  readonly config: Config;
  /** The action registry when given or loaded (see actions()). */
  registry?: ActionRegistry;
  private registryLoading?: Promise<ActionRegistry>;
  readonly logger: Logger;
  readonly workspace: WorkspacePort;
  readonly hooks: EngineHooks;
  runbooks: Map<string, Runbook>;
  targets: Map<string, Target>;
  readonly workerId = `w${process.pid}-${randomBytes(3).toString('hex')}`;
  /** Steps running in this process, by run id (cancel and shutdown abort them). */
  readonly active = new Map<string, AbortController>();
  closed = false;
  handlers?: EffectHandlers;
  private readonly portsFor: (platform: 'local' | 'gcp') => Ports;
  private readonly portCache = new Map<string, Ports>();
  private readonly byHash = new Map<string, Runbook>();

  constructor(opts: EngineOptions) {
    this.config = opts.config;
    this.runbooks = opts.runbooks;
    this.targets = opts.targets ?? new Map();
    this.registry = opts.registry; // else the built-in actions, loaded when a step first needs one (actions())
    this.logger = opts.logger ?? silentLogger();
    this.hooks = opts.hooks ?? {};
    this.portsFor = opts.ports ?? ((p) => createPorts(this.config, p));
    this.workspace = opts.workspace ?? new LocalWorkspace(this.config.workdir, { mirrorBudgetBytes: (this.config.mirrorBudgetMb ?? 2048) * 1024 * 1024, store: this.config.prefix });
    this.store = new RunStore(this.config.redisUrl, this.config.prefix);
    this.queueConn = this.store.redis.duplicate({ maxRetriesPerRequest: null });
    this.queue = new Queue(QUEUE, { connection: this.queueConn, prefix: this.store.keys.bullPrefix() });
    // While Redis is away both reconnect by themselves and the failing calls reject where they are made; without
    // listeners ioredis and BullMQ would print each reconnect error to stderr, outside the JSON log.
    this.store.redis.on('error', (e: Error) => this.logger.debug({ err: errorInfo(e) }, 'redis connection error'));
    this.queue.on('error', (e: Error) => this.logger.warn({ err: errorInfo(e) }, 'queue connection error'));
    for (const rb of this.runbooks.values()) this.byHash.set(rb.hash, rb);
  }

  ports(platform: 'local' | 'gcp'): Ports {
    let p = this.portCache.get(platform);
    if (!p) {
      p = this.portsFor(platform);
      this.portCache.set(platform, p);
    }
    return p;
  }

  /**
   * The action registry: the one given, else the built-in actions, imported on first use. An idle worker (its
   * runbooks validated off-thread at start-up) thus holds no action code and no zod until it runs a step.
   */
  async actions(): Promise<ActionRegistry> {
    if (this.registry) return this.registry;
    this.registryLoading ??= import('../actions/index.js').then((m) => (this.registry = m.defaultRegistry()));
    return this.registryLoading;
  }

  /** The runbook version the run is on (stored by content hash when it started). */
  async runbookFor(run: RunRecord): Promise<Runbook> {
    const hit = this.byHash.get(run.runbookHash);
    if (hit) return hit;
    const src = await this.store.runbookSource(run.runbookHash);
    if (!src) throw new PermanentError(`runbook ${run.runbookId}@${run.runbookHash} is not stored`, 'runbook_missing');
    const { parseRunbook } = await import('../core/runbook.js'); // the YAML parser and zod, only for a version not loaded here
    const rb = parseRunbook(src, `${run.runbookId}@${run.runbookHash.slice(0, 12)}`, (await this.actions()).catalog());
    this.byHash.set(rb.hash, rb);
    return rb;
  }

  /** Without Redis: the run's runbook version when this process has it, else the loaded runbook of that id. */
  runbookVersion(run: Pick<RunRecord, 'runbookHash' | 'runbookId'>): Runbook | undefined {
    return this.byHash.get(run.runbookHash) ?? this.runbooks.get(run.runbookId);
  }

  async addJob(j: StepJob & { redelivered?: boolean }, delayMs?: number): Promise<void> {
    await this.queue.add('step', j, {
      jobId: jobIdFor(j.runId, j.step, j.visit, j.attempt),
      delay: delayMs && delayMs > 0 ? delayMs : undefined,
      attempts: 5, // infrastructure failures only (Redis blips); actions fail through the graph
      backoff: { type: 'exponential', delay: 500 },
      removeOnComplete: { count: 2000 },
      removeOnFail: { count: 5000 },
    });
  }

  /**
   * Record a Transition computed by the core machine (states, visits, events, the cursor and status) in one
   * atomic store update checked against the expected cursor, then perform its effects (enqueue the next job,
   * park for approval). A run that ends releases its target lock in that same update, and its workspace before it.
   */
  async transition(run: RunRecord, rb: Runbook, expectedCursor: string, base: Patch, tr: Transition, extraSet: Record<string, string> = {}): Promise<boolean> {
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
    if (res.next) await this.handlers!.handOver(res.next.runId);
    for (const e of tr.effects) {
      if (e.kind === 'enqueue') await this.addJob({ runId: run.id, step: e.step, visit: e.visit, attempt: e.attempt }, e.delayMs);
      else if (e.kind === 'park') await this.handlers!.park(run.id, rb, e.step, e.visit);
      // release-lock: in the update that recorded the end; release-workspace: just before it.
    }
    return true;
  }

  /** The run's workspace on this machine (other machines sweep theirs). Never fails the run. `manifest`: as known (null: none), else read. */
  async releaseWorkspace(run: RunRecord, manifest?: string | null): Promise<void> {
    const ws = manifest !== undefined ? (manifest ?? undefined) : ((await this.store.getField(run.id, 'ws').catch(() => null)) ?? undefined);
    await this.workspace.release({ id: run.id, target: withCredentials(run.target, this.targets) }, ws).catch((e) => this.logger.warn({ runId: run.id, err: errorInfo(e) }, 'workspace release failed; the sweeper will retry'));
  }
}
