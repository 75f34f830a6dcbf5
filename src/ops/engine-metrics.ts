// The metrics every runwright process can export about the engine — their names, help, labels and how each is
// read from Redis at scrape time — in one place. The API renders them through prom-client (src/api/metrics.ts);
// `serve --role worker` renders the same names with src/ops/prom-text.ts, so it loads no metrics library.
import type { Engine } from '../engine/engine.js';
import type { StepEvent } from '../core/types.js';

export const RUN_STATUSES = ['queued', 'waiting_lock', 'running', 'waiting_approval', 'succeeded', 'failed', 'escalated', 'cancelled', 'refused'] as const;

export type Sample = { labels: Record<string, string>; value: number };

export interface GaugeDef {
  name: string;
  help: string;
  labelNames: string[];
  read(engine: Engine): Promise<Sample[]>;
}

export const RUNS: GaugeDef = {
  name: 'runwright_runs',
  help: 'Runs currently recorded, by status and runbook',
  labelNames: ['status', 'runbook'],
  async read(eng) {
    const store = eng.store;
    const runbooks = [...eng.runbooks.keys()];
    const res = await store.countByRunbookAndStatus(runbooks, RUN_STATUSES);
    let i = 0;
    const out: Sample[] = [];
    for (const rb of runbooks) for (const s of RUN_STATUSES) out.push({ labels: { status: s, runbook: rb }, value: res[i++] ?? 0 });
    return out;
  },
};

export const QUEUE_JOBS: GaugeDef = {
  name: 'runwright_queue_jobs',
  help: 'Step queue jobs by state',
  labelNames: ['state'],
  async read(eng) {
    const counts = await eng.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
    return Object.entries(counts).map(([state, n]) => ({ labels: { state }, value: n }));
  },
};

export const WORKERS_ALIVE: GaugeDef = {
  name: 'runwright_workers_alive',
  help: 'Workers that sent a heartbeat in the last 30 s',
  labelNames: [],
  async read(eng) {
    return [{ labels: {}, value: await eng.workersAlive() }];
  },
};

export const ENGINE_GAUGES = [RUNS, QUEUE_JOBS, WORKERS_ALIVE];

export const STEP_DURATION = {
  name: 'runwright_step_duration_seconds',
  help: 'Duration of finished step attempts (seen by this process from the event stream)',
  labelNames: ['runbook', 'step', 'outcome'],
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
};

/**
 * Follow the event stream and call `observe` for every finished step attempt with its runbook, step, outcome and
 * seconds (the runbook of a run is looked up once and remembered, a bounded map). Returns the unsubscribe.
 */
export async function followStepDurations(engine: Engine, observe: (labels: { runbook: string; step: string; outcome: string }, seconds: number) => void): Promise<() => Promise<void>> {
  const runbookOf = new Map<string, string>();
  const seen = async (ev: StepEvent) => {
    if ((ev.kind !== 'succeeded' && ev.kind !== 'failed') || typeof ev.durationMs !== 'number') return;
    let rb = runbookOf.get(ev.runId);
    if (!rb) {
      rb = (await engine.store.get(ev.runId))?.runbookId ?? 'unknown';
      if (runbookOf.size > 5000) runbookOf.clear();
      runbookOf.set(ev.runId, rb);
    }
    observe({ runbook: rb, step: ev.step, outcome: ev.kind }, ev.durationMs / 1000);
  };
  return await engine.store.subscribe((ev) => void seen(ev).catch(() => undefined), { contains: '"durationMs"' });
}
