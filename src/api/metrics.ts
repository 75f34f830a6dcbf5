// Prometheus metrics for the API process (prom-client, one private registry per app).
// Counters are bumped by intake and approvals; run counts, queue depth and workers are read from Redis
// at scrape time; step durations come from the live event stream.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../engine/engine.js';
import { ENGINE_GAUGES, STEP_DURATION, followStepDurations } from '../ops/engine-metrics.js';

export class Metrics {
  readonly registry = new Registry();
  readonly alertsReceived: Counter<'source'>;
  readonly alertsDeduplicated: Counter<'source'>;
  readonly alertsThrottled: Counter<'source'>;
  readonly alertsUnmatched: Counter<'source'>;
  readonly intakeRejected: Counter<'source' | 'reason'>;
  readonly approvals: Counter<'via' | 'outcome'>;
  readonly stepDuration: Histogram<'runbook' | 'step' | 'outcome'>;
  private off?: () => Promise<void>;

  constructor(private readonly engine: Engine) {
    const registers = [this.registry];
    this.alertsReceived = new Counter({ name: 'runwright_alerts_received_total', help: 'Alerts received, after normalisation (one per alert in a group)', labelNames: ['source'], registers });
    this.alertsDeduplicated = new Counter({ name: 'runwright_alerts_deduplicated_total', help: 'Alerts attached to an active run with the same fingerprint', labelNames: ['source'], registers });
    this.alertsThrottled = new Counter({ name: 'runwright_alerts_throttled_total', help: 'Alerts that started no run because of the runbook throttle window', labelNames: ['source'], registers });
    this.alertsUnmatched = new Counter({ name: 'runwright_alerts_unmatched_total', help: 'Alerts that matched no runbook or no target', labelNames: ['source'], registers });
    this.intakeRejected = new Counter({ name: 'runwright_intake_rejected_total', help: 'Intake requests refused (auth, bad input, rate limit)', labelNames: ['source', 'reason'], registers });
    this.approvals = new Counter({ name: 'runwright_approval_decisions_total', help: 'Approval decisions taken through the API or Slack', labelNames: ['via', 'outcome'], registers });
    this.stepDuration = new Histogram({ ...STEP_DURATION, registers });
    // Read from Redis at scrape time (the same definitions `serve --role worker` exports: src/ops/engine-metrics.ts).
    const eng = this.engine;
    for (const def of ENGINE_GAUGES) {
      new Gauge({
        name: def.name,
        help: def.help,
        labelNames: def.labelNames,
        registers,
        async collect() {
          const samples = await def.read(eng);
          this.reset();
          for (const x of samples) this.set(x.labels, x.value);
        },
      });
    }
  }

  /** Follow the event stream for step durations. */
  async start(): Promise<void> {
    this.off = await followStepDurations(this.engine, (labels, seconds) => this.stepDuration.observe(labels, seconds));
  }

  async stop(): Promise<void> {
    await this.off?.();
    this.off = undefined;
  }
}
