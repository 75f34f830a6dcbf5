// Executor benchmark: runs of a 10-step no-op runbook through the real Engine (BullMQ worker in this process),
// next to raw BullMQ no-op jobs on the same Redis with the same worker concurrency and job options.
//
// Transition latency = from the end of step k's work (its action returned) to the start of step k+1's work (its
// action called): recording the outcome, deciding and starting the next step are all inside, whether the next
// step runs in a new job or in the same one (sticky execution). Taken by wrapping the noop action, on one
// monotonic clock (worker and actions share this process). (Until issue 15 it was measured from "step k recorded"
// to "step k+1's BEGIN returned", which left out the recording; this is stricter.) The raw BullMQ analogue: a
// chained no-op job adds the next one; from the end of job k's work to the start of job k+1's processor.
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Engine } from '../src/engine/engine.js';
import { loadConfig } from '../src/config/config.js';
import { loadRunbookFiles } from '../src/core/runbook.js';
import { ActionRegistry, builtinActions } from '../src/actions/index.js';
import type { Action } from '../src/core/action.js';
import type { Alert, Target } from '../src/core/types.js';
import { BENCH, benchPrefix, dropPrefix, summary, until, withCpu } from './lib.js';
import { CommandCounter } from './profile.js';

export interface ExecutorOptions {
  redisUrl: string;
  runs: number; // runs of the 10-step runbook at peak
  halfRuns: number; // runs submitted at half of the peak step rate
  concurrency: number;
  rawJobs: number; // raw BullMQ no-op jobs (baseline)
  rounds: number; // raw and runwright alternate this many times
  countCommands?: boolean;
  log?: (s: string) => void;
}

export interface ExecutorResult {
  concurrency: number;
  /** Each round: raw BullMQ and runwright back to back (alternating which goes first). */
  rounds: { rawJobsPerSec: number; stepsPerSec: number; ratio: number; cpu: { rawUsPerJob: number; engineUsPerStep: number; redisRawUsPerJob: number; redisEngineUsPerStep: number } }[];
  /** Medians over the rounds; `peak.ratio` is the median of the per-round ratios. */
  raw: { jobs: number; jobsPerSec: number };
  rawChained: { jobs: number; ms: number; jobsPerSec: number; transition: ReturnType<typeof summary>; halfTransition?: ReturnType<typeof summary> };
  peak: { runs: number; steps: number; stepsPerSec: number; ratio: number; transition: ReturnType<typeof summary> };
  /** Medians over the rounds (max and n over all of them); per round in `rounds`. */
  half: { runs: number; steps: number; offeredStepsPerSec: number; achievedStepsPerSec: number; transition: ReturnType<typeof summary>; rounds: { engine: ReturnType<typeof summary>; raw: ReturnType<typeof summary>; achievedStepsPerSec: number }[] };
  commandsPerStep?: Record<string, number>;
  commandsPerRawJob?: Record<string, number>;
}

const STEPS = 10;
const jobOpts = { attempts: 5, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: { count: 2000 }, removeOnFail: { count: 5000 } } as const;

async function rawPrefilled(url: string, n: number, concurrency: number): Promise<{ jobs: number; ms: number; jobsPerSec: number }> {
  const prefix = benchPrefix('raw');
  const qc = new Redis(url, { maxRetriesPerRequest: null });
  const wc = new Redis(url, { maxRetriesPerRequest: null });
  const q = new Queue('steps', { connection: qc, prefix });
  for (let i = 0; i < n; i += 1000) {
    await q.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'step', data: { i: i + k }, opts: { ...jobOpts, jobId: `j${i + k}` } })));
  }
  let done = 0;
  const w = new Worker('steps', async () => 'ok', { connection: wc, prefix, concurrency, autorun: false });
  w.on('completed', () => void done++);
  const t0 = performance.now();
  void w.run();
  await until(async () => done >= n, 120_000, () => `raw: ${done}/${n} done`, 5);
  const ms = performance.now() - t0;
  await w.close();
  await q.close();
  qc.disconnect();
  wc.disconnect();
  await dropPrefix(url, prefix);
  return { jobs: n, ms, jobsPerSec: (n / ms) * 1000 };
}

/**
 * Chains of STEPS jobs, each adding the next (what the engine does per step, minus recording): first `chains`
 * chains queued up front (peak), then `pacedChains` started at `pacedStepsPerSec / STEPS` chains a second.
 */
interface RawChain {
  peak: ExecutorResult['rawChained'];
  /** `n` more chains started at a steady rate; `offset` keeps their job ids apart from earlier calls'. */
  paced(n: number, stepsPerSec: number, offset?: number): Promise<ReturnType<typeof summary>>;
  close(): Promise<void>;
}

async function rawChained(url: string, chains: number, concurrency: number): Promise<RawChain> {
  const prefix = benchPrefix('rawc');
  const qc = new Redis(url, { maxRetriesPerRequest: null });
  const wc = new Redis(url, { maxRetriesPerRequest: null });
  const q = new Queue('steps', { connection: qc, prefix });
  const ended = new Map<string, number>();
  const gaps: number[] = [];
  let done = 0;
  const w = new Worker('steps', async (job) => {
    const started = performance.now();
    const { c, k } = job.data as { c: number; k: number };
    const prev = ended.get(`${c}.${k - 1}`);
    if (prev !== undefined) {
      gaps.push(started - prev);
      ended.delete(`${c}.${k - 1}`);
    }
    if (k < STEPS) {
      ended.set(`${c}.${k}`, performance.now());
      await q.add('step', { c, k: k + 1 }, { ...jobOpts, jobId: `c${c}.${k + 1}` });
    } else done++;
    return 'ok';
  }, { connection: wc, prefix, concurrency, autorun: false });
  const first = (c: number) => ({ name: 'step', data: { c, k: 1 }, opts: { ...jobOpts, jobId: `c${c}.1` } });
  const close = async () => {
    await w.close();
    await q.close();
    qc.disconnect();
    wc.disconnect();
    await dropPrefix(url, prefix);
  };
  try {
    for (let i = 0; i < chains; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, chains - i) }, (_, x) => first(i + x)));
    const t0 = performance.now();
    void w.run();
    await until(async () => done >= chains, 180_000, () => `raw chained: ${done}/${chains} chains done`, 5);
    const ms = performance.now() - t0;
    const jobs = chains * STEPS;
    return {
      peak: { jobs, ms, jobsPerSec: (jobs / ms) * 1000, transition: summary(gaps) },
      paced: async (n, stepsPerSec, offset = 0) => {
        gaps.length = 0;
        const before = done;
        await paced(n, stepsPerSec / STEPS, (i) => q.add('step', first(chains + offset + i).data, first(chains + offset + i).opts));
        await until(async () => done - before >= n, 180_000, () => `raw paced: ${done - before}/${n} chains done`, 5);
        return summary(gaps);
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Call `start(i)` for i < n at `perSec` a second (on a 2 ms tick); resolves when every call has resolved. */
async function paced(n: number, perSec: number, start: (i: number) => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  let started = 0;
  const inflight: Promise<unknown>[] = [];
  while (started < n) {
    const due = Math.min(n, Math.floor(((performance.now() - t0) / 1000) * perSec) + 1);
    while (started < due) inflight.push(start(started++));
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
}

/**
 * Time every transition at the actions: from the end of step k's work (its action returned) to the start of
 * step k+1's work (its action called), on one monotonic clock — the same two points as the raw BullMQ analogue
 * (end of job k's processor → start of job k+1's). Everything the engine does between two steps is inside: the
 * outcome recorded, the next step decided and started, whether by a new job or by the same one (sticky).
 */
function instrumentedRegistry() {
  const lastEnd = new Map<string, number>(); // runId -> when its last step's action returned
  const gaps: { runId: string; ms: number }[] = [];
  const timed = (a: Action): Action => ({
    ...a,
    run: async (params, ctx) => {
      const t = performance.now();
      const prev = lastEnd.get(ctx.run.id);
      if (prev !== undefined) gaps.push({ runId: ctx.run.id, ms: t - prev });
      const out = await a.run(params, ctx);
      lastEnd.set(ctx.run.id, performance.now());
      return out;
    },
  });
  return {
    registry: new ActionRegistry(builtinActions().map((a) => (a.name === 'noop' ? timed(a) : a))),
    /** Gaps of these runs (transitions only: the first step of a run has no predecessor). */
    gapsFor(runIds: Set<string>): number[] {
      return gaps.filter((g) => runIds.has(g.runId)).map((g) => g.ms);
    },
  };
}

function benchTarget(i: number): Target {
  // One target per run: the runbook's target lock would otherwise serialize the runs.
  return { name: `bench-${i}`, repo: '/nonexistent', branch: 'main', modelsDir: 'app/models', platform: 'local', labels: {} };
}
function benchAlert(i: number): Alert {
  return { source: 'bench', fingerprint: `bench-${i}`, severity: 'info', text: 'bench noop10', labels: {}, receivedAt: new Date().toISOString() };
}

async function pool<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

interface BenchEngine {
  engine: Engine;
  probe: ReturnType<typeof instrumentedRegistry>;
  submit(i: number): Promise<string>;
  succeeded(): Promise<number>;
  close(): Promise<void>;
}

async function benchEngine(redisUrl: string): Promise<BenchEngine> {
  const prefix = benchPrefix('exec');
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'rwbench-exec-'));
  const config = loadConfig({ REDIS_URL: redisUrl }, { prefix, workdir, retentionDays: 0 } as any);
  const probe = instrumentedRegistry();
  const runbooks = loadRunbookFiles([path.join(BENCH, 'runbooks', 'noop10.yaml')], probe.registry.catalog());
  const engine = await Engine.create({ config, runbooks, registry: probe.registry });
  return {
    engine,
    probe,
    submit: async (i) => {
      const r = await engine.submit({ runbookId: 'bench-noop10', alert: benchAlert(i), target: benchTarget(i) });
      return r.result === 'throttled' ? '' : r.run.id;
    },
    succeeded: () => engine.store.redis.zcard(engine.store.keys.byStatus('succeeded')),
    close: async () => {
      await engine.close();
      await dropPrefix(redisUrl, prefix);
      rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/** Peak: every run submitted first (its first job waits in the queue), then the worker starts, as for raw BullMQ. */
async function enginePeak(b: BenchEngine, runs: number, concurrency: number, counter?: CommandCounter) {
  const ids = await pool(runs, 32, b.submit);
  counter?.start();
  const t0 = performance.now();
  await b.engine.startWorker({ concurrency });
  await until(async () => (await b.succeeded()) >= runs, 300_000, async () => `${await b.succeeded()}/${runs} runs succeeded`, 5);
  const ms = performance.now() - t0;
  return { runs, steps: runs * STEPS, ms, stepsPerSec: (runs * STEPS * 1000) / ms, transition: summary(b.probe.gapsFor(new Set(ids))), commands: counter?.stop(runs * STEPS) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export async function executorBench(o: ExecutorOptions): Promise<ExecutorResult> {
  const log = o.log ?? (() => {});
  const counter = o.countCommands ? new CommandCounter() : undefined;
  const rounds: ExecutorResult['rounds'] = [];
  let last: BenchEngine | undefined;
  let rawCmds: Record<string, number> | undefined;
  let cmds: Record<string, number> | undefined;
  let peakTransition: ReturnType<typeof summary> | undefined;
  try {
    // Raw BullMQ and runwright alternate, round after round: load from elsewhere on the machine hits both alike,
    // and each round gives a paired ratio. The figures reported are the medians.
    for (let r = 1; r <= o.rounds; r++) {
      const first = r % 2 === 1 ? 'raw' : 'engine';
      let raw!: Awaited<ReturnType<typeof rawPrefilled>>;
      let peak!: Awaited<ReturnType<typeof enginePeak>>;
      const cpu = { rawUsPerJob: 0, engineUsPerStep: 0, redisRawUsPerJob: 0, redisEngineUsPerStep: 0 };
      for (const which of first === 'raw' ? ['raw', 'engine'] : ['engine', 'raw']) {
        if (which === 'raw') {
          if (r === 1) counter?.start();
          // CPU of the whole phase (queueing the jobs included, as submitting the runs is for runwright).
          const m = await withCpu(o.redisUrl, () => rawPrefilled(o.redisUrl, o.rawJobs, o.concurrency));
          raw = m.value;
          cpu.rawUsPerJob = m.cpuUs / o.rawJobs;
          cpu.redisRawUsPerJob = m.redisCpuUs / o.rawJobs;
          if (r === 1) rawCmds = counter?.stop(o.rawJobs);
        } else {
          await last?.close();
          const b = (last = await benchEngine(o.redisUrl));
          const m = await withCpu(o.redisUrl, () => enginePeak(b, o.runs, o.concurrency, r === 1 ? counter : undefined));
          peak = m.value;
          cpu.engineUsPerStep = m.cpuUs / (o.runs * STEPS);
          cpu.redisEngineUsPerStep = m.redisCpuUs / (o.runs * STEPS);
          if (r === 1) cmds = peak.commands;
          peakTransition = peak.transition;
        }
      }
      rounds.push({ rawJobsPerSec: raw.jobsPerSec, stepsPerSec: peak.stepsPerSec, ratio: peak.stepsPerSec / raw.jobsPerSec, cpu });
      log(`round ${r}/${o.rounds}: raw BullMQ ${raw.jobsPerSec.toFixed(0)} jobs/s (${o.rawJobs} queued, concurrency ${o.concurrency}); runwright ${peak.stepsPerSec.toFixed(0)} steps/s (${o.runs} runs × ${STEPS} no-op steps queued) = ${(peak.stepsPerSec / raw.jobsPerSec).toFixed(2)}×; CPU per job/step: node ${cpu.rawUsPerJob.toFixed(0)} / ${cpu.engineUsPerStep.toFixed(0)} µs, Redis ${cpu.redisRawUsPerJob.toFixed(0)} / ${cpu.redisEngineUsPerStep.toFixed(0)} µs`);
    }
    const raw = { jobs: o.rawJobs, jobsPerSec: median(rounds.map((x) => x.rawJobsPerSec)) };
    const peak = { runs: o.runs, steps: o.runs * STEPS, stepsPerSec: median(rounds.map((x) => x.stepsPerSec)), ratio: median(rounds.map((x) => x.ratio)), transition: peakTransition! };

    log(`raw BullMQ chained: ${o.runs} chains of ${STEPS} jobs, each adding the next`);
    const chain = await rawChained(o.redisUrl, o.runs, o.concurrency);
    try {
      log(`  ${chain.peak.jobsPerSec.toFixed(0)} jobs/s`);
      // Half of peak: runs started at a steady rate so that steps arrive at half the (median) peak step rate; then
      // raw chains at the same offered rate. Alternated `rounds` times; the p50/p99 reported are the medians.
      const offered = peak.stepsPerSec / 2;
      const b = last!;
      const halfRounds: { engine: ReturnType<typeof summary>; raw: ReturnType<typeof summary>; achievedStepsPerSec: number }[] = [];
      let next = o.runs;
      let chainsDone = 0;
      for (let r = 1; r <= o.rounds; r++) {
        let engine!: ReturnType<typeof summary>;
        let raw!: ReturnType<typeof summary>;
        let achieved = 0;
        for (const which of r % 2 === 1 ? ['engine', 'raw'] : ['raw', 'engine']) {
          if (which === 'engine') {
            const ids = new Set<string>();
            const before = await b.succeeded();
            const from = next;
            next += o.halfRuns;
            const t1 = performance.now();
            await paced(o.halfRuns, offered / STEPS, async (i) => ids.add(await b.submit(from + i)));
            await until(async () => (await b.succeeded()) - before >= o.halfRuns, 300_000, async () => `${(await b.succeeded()) - before}/${o.halfRuns} half-load runs succeeded`, 5);
            achieved = (o.halfRuns * STEPS * 1000) / (performance.now() - t1);
            engine = summary(b.probe.gapsFor(ids));
          } else {
            raw = await chain.paced(o.halfRuns, offered, chainsDone);
            chainsDone += o.halfRuns;
          }
        }
        halfRounds.push({ engine, raw, achievedStepsPerSec: achieved });
        log(`half of peak, round ${r}/${o.rounds}: ${o.halfRuns} runs started at ${(offered / STEPS).toFixed(1)} runs/s (${offered.toFixed(0)} steps/s): transition p50 ${engine.p50.toFixed(2)} ms, p99 ${engine.p99.toFixed(2)} ms; raw job → next job at the same rate p50 ${raw.p50.toFixed(2)} ms, p99 ${raw.p99.toFixed(2)} ms`);
      }
      const mid = (f: (x: (typeof halfRounds)[number]) => number) => median(halfRounds.map(f));
      const half = {
        runs: o.halfRuns,
        steps: o.halfRuns * STEPS,
        offeredStepsPerSec: offered,
        achievedStepsPerSec: mid((x) => x.achievedStepsPerSec),
        rounds: halfRounds,
        transition: { ...halfRounds[0]!.engine, p50: mid((x) => x.engine.p50), p90: mid((x) => x.engine.p90), p99: mid((x) => x.engine.p99), max: Math.max(...halfRounds.map((x) => x.engine.max)), n: halfRounds.reduce((n, x) => n + x.engine.n, 0) },
      };
      const rawHalf = { ...halfRounds[0]!.raw, p50: mid((x) => x.raw.p50), p90: mid((x) => x.raw.p90), p99: mid((x) => x.raw.p99), max: Math.max(...halfRounds.map((x) => x.raw.max)), n: halfRounds.reduce((n, x) => n + x.raw.n, 0) };
      return { concurrency: o.concurrency, rounds, raw, rawChained: { ...chain.peak, halfTransition: rawHalf }, peak, half, commandsPerStep: cmds, commandsPerRawJob: rawCmds };
    } finally {
      await chain.close();
    }
  } finally {
    await last?.close();
  }
}
