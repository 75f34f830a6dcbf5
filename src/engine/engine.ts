// The engine: submits runs, executes steps as BullMQ jobs, parks approvals, keeps time — one facade over its parts
// (named as pg-boss names its own): submitting.ts, executing.ts, approvals.ts, timekeeping.ts, sharing runtime.ts
// (the store, the queue, and the one way a run's state changes: a core machine Transition recorded atomically).
import type { Queue } from 'bullmq';
import type { Action, Logger } from '../core/action.js';
import type { RunRecord, Target } from '../core/types.js';
import { isTerminal } from '../core/types.js';
import type { Runbook } from '../core/runbook.js';
import type { ApprovalRequest, WorkspacePort } from '../ports/index.js';
import type { RunStore } from './store.js';
import type { Config } from '../config/config.js';
import type { ActionRegistry } from '../actions/index.js';
import { Runtime, type EngineHooks, type EngineOptions } from './runtime.js';
import { Submitting, type AttachedRun, type SubmitRequest, type SubmitResult } from './submitting.js';
import { Executing, MAX_STICKY } from './executing.js';
import { Approvals, approvalRequest } from './approvals.js';
import { Timekeeping } from './timekeeping.js';

export { ConflictError, NotFoundError, jobIdFor, newRunId, stateOf, type EngineHooks, type EngineOptions } from './runtime.js';
export { lazyChild } from './executing.js';
export { approvalRequest, approversOf } from './approvals.js';
export type { AttachedRun, SubmitRequest, SubmitResult } from './submitting.js';

export class Engine {
  private readonly rt: Runtime;
  private readonly submitting: Submitting;
  private readonly executing: Executing;
  private readonly approvals: Approvals;
  private readonly time: Timekeeping;

  private constructor(opts: EngineOptions) {
    this.rt = new Runtime(opts);
    this.time = new Timekeeping(this.rt);
    this.submitting = new Submitting(this.rt);
    this.approvals = new Approvals(this.rt, this.time);
    this.executing = new Executing(this.rt, this.approvals, this.time, { stickySteps: opts.stickySteps ?? MAX_STICKY, defaultStepTimeoutMs: opts.defaultStepTimeoutMs ?? 15 * 60_000 });
    this.rt.handlers = {
      park: (runId, rb, step, visit) => this.approvals.park(runId, rb, step, visit),
      handOver: (runId) => this.submitting.handOver(runId),
    };
  }

  static async create(opts: EngineOptions): Promise<Engine> {
    const e = new Engine(opts);
    await e.store.redis.ping();
    return e;
  }

  get store(): RunStore {
    return this.rt.store;
  }
  get queue(): Queue {
    return this.rt.queue;
  }
  get config(): Config {
    return this.rt.config;
  }
  /** The action registry if given or already loaded; actions() loads the built-in one when it is not. */
  get registry(): ActionRegistry | undefined {
    return this.rt.registry;
  }
  actions(): Promise<ActionRegistry> {
    return this.rt.actions();
  }
  get logger(): Logger {
    return this.rt.logger;
  }
  get workspace(): WorkspacePort {
    return this.rt.workspace;
  }
  get workerId(): string {
    return this.rt.workerId;
  }
  get runbooks(): Map<string, Runbook> {
    return this.rt.runbooks;
  }
  set runbooks(m: Map<string, Runbook>) {
    this.rt.runbooks = m;
  }
  get targets(): Map<string, Target> {
    return this.rt.targets;
  }
  set targets(m: Map<string, Target>) {
    this.rt.targets = m;
  }

  bullPrefix(): string {
    return this.store.keys.bullPrefix();
  }

  setHooks(h: EngineHooks): void {
    Object.assign(this.rt.hooks, h);
  }

  // ---------------------------------------------------------------- submitting

  submit(req: SubmitRequest & { brief: true }): Promise<SubmitResult<AttachedRun>>;
  submit(req: SubmitRequest): Promise<SubmitResult>;
  submit(req: SubmitRequest): Promise<SubmitResult<AttachedRun | RunRecord>> {
    return this.submitting.submit(req);
  }
  cancel(runId: string, actor: string, reason?: string): Promise<RunRecord> {
    return this.submitting.cancel(runId, actor, reason);
  }
  /** Retry a failed run from its failed step (a new attempt of that step). */
  retry(runId: string, actor: string): Promise<RunRecord> {
    return this.submitting.retry(runId, actor);
  }

  // ---------------------------------------------------------------- approvals

  /** Approve or reject a parked run. Throws ConflictError when it is not waiting (second click, finished run). */
  decide(runId: string, d: { decision: 'approved' | 'rejected'; actor: string; comment?: string; choice?: string }): Promise<RunRecord> {
    return this.approvals.decide(runId, d);
  }

  /** The approval request of the gate the run waits at, from the runbook version the run is on. */
  async approvalRequest(run: RunRecord): Promise<ApprovalRequest> {
    return approvalRequest(run, await this.rt.runbookFor(run));
  }

  /** The runbook version a run is on when this process has it loaded, else the loaded runbook of that id (no I/O). */
  runbookVersion(run: Pick<RunRecord, 'runbookHash' | 'runbookId'>): Runbook | undefined {
    return this.rt.runbookVersion(run);
  }

  // ---------------------------------------------------------------- executing and timekeeping

  startWorker(opts: { concurrency?: number } = {}): Promise<void> {
    return this.executing.startWorker(opts);
  }

  /** Number of workers that sent a heartbeat in the last 30 s (any process). */
  workersAlive(): Promise<number> {
    return this.store.workersAlive();
  }

  /** Re-add the cursor job of any running run whose job is missing (a crash between record and enqueue). */
  sweep(): Promise<number> {
    return this.time.sweep();
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
              const r = await this.rt.store.get(runId);
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
          const r = await this.rt.store.get(runId).catch(() => null);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for run ${runId} (status ${r?.status}, step ${r?.currentStep})`));
        }, timeoutMs);
        this.rt.store
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
    if (this.rt.closed) return;
    this.rt.closed = true;
    await this.time.stop();
    await this.executing.close();
    await this.rt.queue.close();
    this.rt.queueConn.disconnect();
    await this.rt.store.close();
  }
}

export type { Action };
