// Seed-incident benchmark: `npm run demo`'s incident (src/demo/demo.ts) on the local platform, timed from the
// run's creation (the alert is in) to its end (the fix is pushed, built, deployed, and the job's logs verified),
// and split by what every subprocess did: the target's Python check, the Python AST tool, the deployed job
// (Python), git, and runwright itself (everything else: engine, Redis, Node action code).
//
// Subprocesses are timed by wrapping ChildProcess.prototype.spawn for this process (spawn, execFile and exec all
// start their child there). Baseline in the same run: the target's check command alone, on the fixed commit, in a
// fresh clone, three times (the median).
import childProcess, { spawnSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { runDemo } from '../src/demo/demo.js';

export interface SeedOptions {
  redisUrl: string;
  log?: (s: string) => void;
}

export interface SeedResult {
  status: string;
  outcome?: string;
  wallMs: number;
  steps: { step: string; durationMs: number; subprocessMs: number }[];
  byKind: Record<string, { count: number; ms: number }>;
  subprocessUnionMs: number;
  runwrightMs: number;
  /** Of runwrightMs: between a step's recorded end and the next step's start (engine, Redis, BullMQ hand-off). */
  betweenStepsMs: number;
  /** The median of checkAloneRuns. */
  checkAloneMs: number;
  checkAloneRuns?: number[];
  /** The deployed job (local.command, worker.py) alone on the fixed commit, unsandboxed like the check alone: the median of 3. */
  jobAloneMs?: number;
  /**
   * The floor: what the incident cannot do without — the target's check twice (reproduce, pre-flight) and the
   * deployed job once — as run alone (`bare`: 2 × checkAloneMs + jobAloneMs) and as run in the incident
   * (`inRun`: its check(+probe) processes and the job, sandboxed), each also as a multiple of the check alone.
   */
  floor?: { bareMs: number; bareRatio: number; inRunMs: number; inRunRatio: number; aboveInRunMs: number };
}

interface Span {
  kind: string;
  start: number;
  end: number;
}

function kindOf(cmd: string, args: readonly string[]): string {
  const base = path.basename(cmd);
  if (base === 'git') return 'git';
  // Target code runs wrapped (the pids-cgroup sh shim, timeout, bwrap): what it is shows in its arguments.
  if (args.some((a) => a.endsWith('sqla_probe.py'))) return 'python: target check + probe';
  if (args.some((a) => a.endsWith('worker.py'))) return 'python: deployed job';
  if (args.some((a) => a.endsWith('sqla_tool.py'))) return 'python: AST tool';
  if (base.startsWith('python') || base === 'timeout' || base === 'bwrap' || (base === 'sh' && args.some((a) => a.endsWith('/cgroup.procs')))) return 'python: target check';
  return base;
}

function union(spans: Span[], from: number, to: number): number {
  const s = spans.map((x) => [Math.max(x.start, from), Math.min(x.end, to)] as const).filter(([a, b]) => b > a).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [a, b] of s) {
    if (!cur || a > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    } else cur[1] = Math.max(cur[1], b);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

export async function seedBench(o: SeedOptions): Promise<SeedResult> {
  const log = o.log ?? (() => {});
  const spans: Span[] = [];
  // Every child process (spawn, execFile, exec) goes through ChildProcess.prototype.spawn: time them all there.
  const proto = (childProcess.ChildProcess as unknown as { prototype: { spawn(o: { file: string; args?: string[] }): unknown } }).prototype;
  const original = proto.spawn;
  proto.spawn = function (this: childProcess.ChildProcess, o: { file: string; args?: string[] }) {
    const span: Span = { kind: kindOf(o.file, (o.args ?? []).slice(1)), start: Date.now(), end: Number.NaN };
    this.once('exit', () => (span.end = Date.now()));
    this.once('error', () => (span.end = Date.now()));
    spans.push(span);
    return original.call(this, o);
  };
  let r;
  try {
    log('seed incident (src/demo/demo.ts) on the local platform');
    r = await runDemo({ redisUrl: o.redisUrl, print: () => {}, keep: true });
  } finally {
    proto.spawn = original;
  }
  try {
    const created = r.events.find((e) => e.kind === 'run');
    const from = Date.parse(created?.at ?? r.run.createdAt);
    const to = Date.parse(r.run.finishedAt ?? r.events[r.events.length - 1]!.at);
    const inRun = spans.filter((s) => Number.isFinite(s.end) && s.end > from && s.start < to);
    const byKind: SeedResult['byKind'] = {};
    for (const s of inRun) {
      const k = (byKind[s.kind] ??= { count: 0, ms: 0 });
      k.count++;
      k.ms += Math.min(s.end, to) - Math.max(s.start, from);
    }
    const subprocessUnionMs = union(inRun, from, to);
    // Per step: its duration and how much of it was spent in subprocesses (the rest is Node: action code, templates).
    const steps = r.events
      .filter((e) => (e.kind === 'succeeded' || e.kind === 'failed') && e.durationMs !== undefined)
      .map((e) => {
        const end = Date.parse(e.at);
        return { step: e.step, durationMs: e.durationMs!, subprocessMs: union(inRun, end - e.durationMs!, end) };
      });

    // Baseline: the target's check alone on the fixed commit, three times (the median; the machine may be shared).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rwbench-seed-check-'));
    const checkAloneRuns: number[] = [];
    const jobAloneRuns: number[] = [];
    const timed = (command: string[], cwd: string, into: number[]) => {
      const argv = [...command];
      if ((argv[0] === 'python' || argv[0] === 'python3') && r.target.python) argv[0] = r.target.python;
      for (let i = 0; i < 3; i++) {
        const t = Date.now();
        const res = spawnSync(argv[0]!, argv.slice(1), { cwd: path.join(dir, 'repo', cwd), env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
        into.push(res.status === 0 ? Date.now() - t : Number.NaN);
      }
    };
    try {
      spawnSync('git', ['clone', '-q', r.remote, path.join(dir, 'repo')]);
      const check = r.target.check!;
      timed(check.command, check.cwd ?? '.', checkAloneRuns);
      if (r.target.local?.command?.length) timed(r.target.local.command, r.target.local.workdir ?? '.', jobAloneRuns);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
    const checkAloneMs = median(checkAloneRuns);
    const jobAloneMs = jobAloneRuns.length ? median(jobAloneRuns) : undefined;
    const inRunMs = (byKind['python: target check + probe']?.ms ?? 0) + (byKind['python: target check']?.ms ?? 0) + (byKind['python: deployed job']?.ms ?? 0);
    const floor = jobAloneMs !== undefined ? { bareMs: 2 * checkAloneMs + jobAloneMs, bareRatio: (2 * checkAloneMs + jobAloneMs) / checkAloneMs, inRunMs, inRunRatio: inRunMs / checkAloneMs, aboveInRunMs: to - from - inRunMs } : undefined;
    // Between steps: each step start after the first, from the event that ended the previous step.
    let betweenStepsMs = 0;
    let lastEnd: number | undefined;
    for (const e of r.events) {
      const t = Date.parse(e.at);
      if (e.kind === 'started' && lastEnd !== undefined) {
        betweenStepsMs += Math.max(0, t - lastEnd);
        lastEnd = undefined;
      } else if (e.kind === 'succeeded' || e.kind === 'failed' || e.kind === 'approved') lastEnd = t;
    }
    const wallMs = to - from;
    log(`  ${r.run.status} in ${(wallMs / 1000).toFixed(2)} s; subprocesses ${(subprocessUnionMs / 1000).toFixed(2)} s; runwright ${((wallMs - subprocessUnionMs) / 1000).toFixed(2)} s; check alone ${checkAloneMs} ms (median of ${checkAloneRuns.join(', ')})`);
    if (floor) log(`  floor: 2 checks + the job alone ${floor.bareMs} ms (${floor.bareRatio.toFixed(2)}×); in the run ${floor.inRunMs} ms (${floor.inRunRatio.toFixed(2)}×), everything else ${floor.aboveInRunMs} ms`);
    return { status: r.run.status, outcome: r.run.outcome, wallMs, steps, byKind, subprocessUnionMs, runwrightMs: wallMs - subprocessUnionMs, betweenStepsMs, checkAloneMs, checkAloneRuns, jobAloneMs, floor };
  } finally {
    rmSync(r.root, { recursive: true, force: true });
  }
}
