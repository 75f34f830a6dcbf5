// Timekeeping: approval timeouts (a delayed job per gate), step timeouts, and the periodic work of a worker
// process — heartbeats, the sweep that re-adds a running run's missing step job, the sweep of run folders and
// mirrors on this disk, and pruning old runs.
import type { RunStatus } from '../core/types.js';
import { isTerminal } from '../core/types.js';
import { StepTimeoutError, errorInfo } from '../core/errors.js';
import { now, parseJobId, type Runtime, type StepJob } from './runtime.js';

export class Timekeeping {
  private timers: NodeJS.Timeout[] = [];
  private started = false;

  constructor(private readonly rt: Runtime) {}

  /** Reject the run at the gate whose cursor is `cursor` after `ms` unless it was decided (Approvals.timedOut). */
  async approvalTimeout(runId: string, cursor: string, ms: number): Promise<void> {
    await this.rt.queue.add('approval-timeout', { runId, cursor }, { jobId: `${cursor}.timeout`, delay: ms, removeOnComplete: true, removeOnFail: { count: 1000 } });
  }

  /**
   * `work` raced against the step's timeout and its abort signal: the timeout aborts the step (StepTimeoutError),
   * an abort (cancel, shutdown) rejects with its reason. The timer is cleared either way.
   */
  async stepDeadline<T>(work: Promise<T>, ac: AbortController, step: string, timeoutMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new StepTimeoutError(step, timeoutMs);
        ac.abort(err);
        reject(err);
      }, timeoutMs);
    });
    const aborted = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true }));
    try {
      return await Promise.race([work, timeout, aborted]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Start the periodic work of a worker process (once per process); the first sweeps run now. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const sweepDisk = () => this.rt.workspace.sweep(async (id) => {
      const st = await this.rt.store.getField(id, 'status');
      return !!st && !isTerminal(st as RunStatus);
    });
    await sweepDisk().catch((e) => this.rt.logger.warn({ err: errorInfo(e) }, 'workspace sweep failed'));
    this.timers.push(setInterval(() => void sweepDisk().catch(() => undefined), 60_000).unref());
    const beat = async () => {
      await this.rt.store.heartbeat(this.rt.workerId, { pid: process.pid, at: now() }).catch(() => undefined);
    };
    await beat();
    this.timers.push(setInterval(beat, 10_000).unref());
    this.timers.push(setInterval(() => void this.sweep().catch(() => undefined), 15_000).unref());
    if (this.rt.config.retentionDays > 0) this.timers.push(setInterval(() => void this.rt.store.prune(Date.now() - this.rt.config.retentionDays * 86_400_000).catch(() => undefined), 3_600_000).unref());
    await this.sweep().catch((e) => this.rt.logger.warn({ err: errorInfo(e) }, 'sweep failed'));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.started) await this.rt.store.dropHeartbeat(this.rt.workerId).catch(() => undefined);
  }

  /** Re-add the cursor job of any running run whose job is missing (a crash between record and enqueue). */
  async sweep(): Promise<number> {
    const ids = await this.rt.store.idsWithStatus('running');
    let fixed = 0;
    // In batches, each a few round trips (a busy system has thousands of running runs).
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      const rows = await this.rt.store.fieldsOf(batch, ['cursor', 'updatedAt', 'status', 'stickyJob']);
      const due: { id: string; cursor: string; job: StepJob; sticky: string }[] = [];
      rows.forEach((raw, k) => {
        const cursor = raw[0];
        if (!cursor || raw[2] !== 'running') return;
        if (Date.now() - Date.parse(raw[1] ?? '') < 5_000) return;
        const job = parseJobId(cursor);
        if (job) due.push({ id: batch[k]!, cursor, job, sticky: raw[3] ?? '' });
      });
      if (!due.length) continue;
      const [cursors, stickies] = await Promise.all([this.rt.store.jobStates(due.map((d) => d.cursor)), this.rt.store.jobStates(due.map((d) => d.sticky || '-'))]);
      for (const [k, d] of due.entries()) {
        // A job running the run's steps one after another (sticky) and not finished: it holds the cursor step.
        if (d.sticky && stickies[k]!.unfinished) continue;
        if (!cursors[k]!.exists) {
          await this.rt.addJob(d.job);
          fixed++;
          this.rt.logger.warn({ runId: d.id, job: d.cursor }, 'sweeper re-added a missing step job');
        }
      }
    }
    return fixed;
  }
}
