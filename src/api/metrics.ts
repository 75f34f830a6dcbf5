// Prometheus metrics for the API process (prom-client, one private registry per app).
// Counters are bumped by intake and approvals; run counts, queue depth and workers are read from Redis
// at scrape time; step durations come from the live event stream.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../engine/engine.js';
import type { StepEvent } from '../core/types.js';

const STATUSES = ['queued', 'waiting_lock', 'running', 'waiting_approval', 'succeeded', 'failed', 'escalated', 'cancelled', 'refused'] as const;

export class Metrics {
  readonly registry = new Registry();
  readonly alertsReceived: Counter<'source'>;
  readonly alertsDeduplicated: Counter<'source'>;
  readonly alertsThrottled: Counter<'source'>;
  readonly alertsUnmatched: Counter<'source'>;
  readonly intakeRejected: Counter<'source' | 'reason'>;
  readonly approvals: Counter<'via' | 'outcome'>;
  readonly stepDuration: Histogram<'runbook' | 'step' | 'outcome'>;
  private readonly runbookOf = new Map<string, string>();
  private off?: () => Promise<void>;

  constructor(private readonly engine: Engine) {
    const registers = [this.registry];
    this.alertsReceived = new Counter({ name: 'runwright_alerts_received_total', help: 'Alerts received, after normalisation (one per alert in a group)', labelNames: ['source'], registers });
    this.alertsDeduplicated = new Counter({ name: 'runwright_alerts_deduplicated_total', help: 'Alerts attached to an active run with the same fingerprint', labelNames: ['source'], registers });
    this.alertsThrottled = new Counter({ name: 'runwright_alerts_throttled_total', help: 'Alerts that started no run because of the runbook throttle window', labelNames: ['source'], registers });
    this.alertsUnmatched = new Counter({ name: 'runwright_alerts_unmatched_total', help: 'Alerts that matched no runbook or no target', labelNames: ['source'], registers });
    this.intakeRejected = new Counter({ name: 'runwright_intake_rejected_total', help: 'Intake requests refused (auth, bad input, rate limit)', labelNames: ['source', 'reason'], registers });
    this.approvals = new Counter({ name: 'runwright_approval_decisions_total', help: 'Approval decisions taken through the API or Slack', labelNames: ['via', 'outcome'], registers });
    this.stepDuration = new Histogram({
      name: 'runwright_step_duration_seconds',
      help: 'Duration of finished step attempts (seen by this process from the event stream)',
      labelNames: ['runbook', 'step', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
      registers,
    });
    const eng = this.engine;
    new Gauge({
      name: 'runwright_runs',
      help: 'Runs currently recorded, by status and runbook',
      labelNames: ['status', 'runbook'],
      registers,
      async collect() {
        this.reset();
        const store = eng.store;
        const runbooks = [...eng.runbooks.keys()];
        const pipe = store.redis.pipeline();
        for (const rb of runbooks) for (const s of STATUSES) pipe.call('ZINTERCARD', 2, store.keys.byRunbook(rb), store.keys.byStatus(s));
        const res = (await pipe.exec()) ?? [];
        let i = 0;
        for (const rb of runbooks) for (const s of STATUSES) this.set({ status: s, runbook: rb }, Number(res[i++]?.[1] ?? 0));
      },
    });
    new Gauge({
      name: 'runwright_queue_jobs',
      help: 'Step queue jobs by state',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const counts = await eng.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'runwright_workers_alive',
      help: 'Workers that sent a heartbeat in the last 30 s',
      registers,
      async collect() {
        this.set(await eng.workersAlive());
      },
    });
  }

  /** Follow the event stream for step durations. */
  async start(): Promise<void> {
    this.off = await this.engine.store.subscribe((ev) => void this.observe(ev).catch(() => undefined));
  }

  private async observe(ev: StepEvent): Promise<void> {
    if ((ev.kind !== 'succeeded' && ev.kind !== 'failed') || typeof ev.durationMs !== 'number') return;
    let rb = this.runbookOf.get(ev.runId);
    if (!rb) {
      rb = (await this.engine.store.get(ev.runId))?.runbookId ?? 'unknown';
      if (this.runbookOf.size > 5000) this.runbookOf.clear();
      this.runbookOf.set(ev.runId, rb);
    }
    this.stepDuration.observe({ runbook: rb, step: ev.step, outcome: ev.kind }, ev.durationMs / 1000);
  }

  async stop(): Promise<void> {
    await this.off?.();
    this.off = undefined;
  }
}
