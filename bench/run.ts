// `npm run bench`: every benchmark of issue #8, each figure next to a baseline measured in the same run, printed
// as one table and written to bench-results/latest.json (compare two versions with --compare <old.json>).
//
//   npm run bench                          everything (about 5 minutes on 2 cores)
//   npm run bench -- --only executor,intake   some sections: executor, intake, parked, seed
//   npm run bench -- --quick               smaller counts (a smoke run; the figures are not the issue's)
//   npm run bench -- --profile             also count Redis commands and round trips per step (executor) and per alert (intake)
//   npm run bench -- --rounds 5            baseline/runwright pairs per throughput figure (default 3; medians)
//   npm run bench -- --worker source       parked-runs worker from the TypeScript sources (default: compiled)
//   npm run bench -- --out file.json --compare bench-results/previous.json
//   npm run bench -- --docs docs/BENCHMARKS.md   also put the table into that file (between its bench:table marks)
//   npm run bench -- --render bench-results/latest.json --docs docs/BENCHMARKS.md   re-render without measuring
//
// Redis: REDIS_URL (default 127.0.0.1:6379; a private redis-server when that is not answering), a unique key
// prefix per section, deleted afterwards. Load only ever goes to 127.0.0.1.
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { ROOT, benchRedis, fmt, table, type Row } from './lib.js';
import { executorBench, type ExecutorResult } from './executor.js';
import { intakeBench, type IntakeResult } from './intake.js';
import { buildDist, parkedBench, type ParkedResult } from './parked.js';
import { seedBench, type SeedResult } from './seed.js';

interface Args {
  only: Set<string>;
  quick: boolean;
  profile: boolean;
  worker: 'dist' | 'source';
  out: string;
  compare?: string;
  rounds: number;
  docs?: string;
  render?: string;
}

/** Bad usage of the bench command: one line and exit 2, never a stack trace. */
class UsageError extends Error {}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sections = ['executor', 'intake', 'parked', 'seed'];
  const only = new Set((get('--only') ?? sections.join(',')).split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of only) if (!sections.includes(s)) throw new UsageError(`--only: unknown section '${s}' (${sections.join(', ')})`);
  const worker = (get('--worker') ?? 'dist') as Args['worker'];
  if (!['dist', 'source'].includes(worker)) throw new UsageError('--worker must be dist or source');
  const rounds = Number(get('--rounds') ?? (argv.includes('--quick') ? 1 : 3));
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 15)) throw new UsageError('--rounds must be 1..15');
  return { docs: get('--docs'), render: get('--render'), rounds, only, quick: argv.includes('--quick'), profile: argv.includes('--profile'), worker, out: get('--out') ?? path.join(ROOT, 'bench-results', 'latest.json'), compare: get('--compare') };
}

export interface BenchResults {
  version: string;
  commit: string;
  dirty: boolean;
  at: string;
  node: string;
  cpus: number;
  cpuModel: string;
  loadavg: { before: number[]; after: number[] };
  quick: boolean;
  redis: string;
  executor?: ExecutorResult;
  intake?: IntakeResult;
  parked?: ParkedResult;
  seed?: SeedResult;
  rows: Row[];
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function rowsOf(r: Pick<BenchResults, 'executor' | 'intake' | 'parked' | 'seed'>): Row[] {
  const rows: Row[] = [];
  const e = r.executor;
  if (e) {
    const ratio = e.peak.ratio;
    rows.push({ what: `executor: steps/s, ${fmt.n(e.peak.runs)} runs × 10 no-op steps (concurrency ${e.concurrency}; median of ${e.rounds.length})`, value: fmt.n(e.peak.stepsPerSec), baseline: `raw BullMQ no-op jobs/s ${fmt.n(e.raw.jobsPerSec)}`, ratio: fmt.x(ratio), target: '≥ 0.50×', met: ratio >= 0.5 });
    rows.push({ what: 'executor: same, against raw BullMQ chains (each job adds the next)', value: fmt.n(e.peak.stepsPerSec), baseline: `chained jobs/s ${fmt.n(e.rawChained.jobsPerSec)}`, ratio: fmt.x(e.peak.stepsPerSec / e.rawChained.jobsPerSec), target: '(context)' });
    const h = e.half.transition;
    const rh = e.rawChained.halfTransition;
    rows.push({ what: `executor: step k done → k+1 started, p50 / p99, at half of peak (${fmt.n(e.half.offeredStepsPerSec)} steps/s; median of ${e.half.rounds?.length ?? 1})`, value: `${fmt.ms(h.p50)} / ${fmt.ms(h.p99)}`, baseline: rh ? `raw job → next job ${fmt.ms(rh.p50)} / ${fmt.ms(rh.p99)}` : 'n/a', ratio: rh ? fmt.x(h.p99 / rh.p99) : 'n/a', target: 'p99 < 10 ms', met: h.p99 < 10 });
    rows.push({ what: 'executor: the same transition at peak (queue full: waiting in line)', value: `${fmt.ms(e.peak.transition.p50)} / ${fmt.ms(e.peak.transition.p99)}`, baseline: `raw chained ${fmt.ms(e.rawChained.transition.p50)} / ${fmt.ms(e.rawChained.transition.p99)}`, ratio: fmt.x(e.peak.transition.p99 / e.rawChained.transition.p99), target: '(context)' });
    const cm = (f: (c: ExecutorResult['rounds'][number]['cpu']) => number) => [...e.rounds.map((x) => f(x.cpu))].sort((a, b) => a - b)[Math.floor((e.rounds.length - 1) / 2)]!;
    rows.push({ what: 'executor: CPU per step, node (+ Redis) (profile)', value: `${fmt.n(cm((c) => c.engineUsPerStep))} µs (+ ${fmt.n(cm((c) => c.redisEngineUsPerStep))} µs)`, baseline: `raw job ${fmt.n(cm((c) => c.rawUsPerJob))} µs (+ ${fmt.n(cm((c) => c.redisRawUsPerJob))} µs)`, ratio: fmt.x((cm((c) => c.engineUsPerStep) + cm((c) => c.redisEngineUsPerStep)) / (cm((c) => c.rawUsPerJob) + cm((c) => c.redisRawUsPerJob))), target: '(profile)' });
    if (e.commandsPerStep && e.commandsPerRawJob) {
      rows.push({ what: 'executor: Redis round trips per step (--profile)', value: fmt.n(e.commandsPerStep.roundTrips ?? Number.NaN, 2), baseline: `raw job ${fmt.n(e.commandsPerRawJob.roundTrips ?? Number.NaN, 2)}`, ratio: fmt.x((e.commandsPerStep.roundTrips ?? 0) / (e.commandsPerRawJob.roundTrips ?? 1)), target: '(profile)' });
    }
  }
  const i = r.intake;
  if (i) {
    rows.push({ what: `intake: req/s, ${fmt.n(i.alerts)} alerts over ${i.fingerprints} fingerprints (${i.connections} connections; median of ${i.rounds.length})`, value: fmt.n(i.runwright.reqPerSec), baseline: `bare fastify route ${fmt.n(i.bare.reqPerSec)}`, ratio: fmt.x(i.ratio), target: '≥ 0.50×', met: i.ratio >= 0.5 });
    const cpuMid = (f: (c: IntakeResult['rounds'][number]['cpu']) => number) => [...i.rounds.map((x) => f(x.cpu))].sort((a, b) => a - b)[Math.floor((i.rounds.length - 1) / 2)]!;
    const rwCpu = cpuMid((c) => c.runwrightUsPerReq);
    const bareCpu = cpuMid((c) => c.bareUsPerReq);
    rows.push({ what: 'intake: server CPU per request (+ Redis CPU) (profile)', value: `${fmt.n(rwCpu)} µs (+ ${fmt.n(cpuMid((c) => c.redisUsPerReq))} µs)`, baseline: `bare fastify route ${fmt.n(bareCpu)} µs`, ratio: fmt.x(rwCpu / bareCpu), target: '(profile)' });
    if (i.commandsPerRequest) {
      const c = i.commandsPerRequest;
      const top = Object.entries(c).filter(([k]) => k !== 'commands' && k !== 'roundTrips').slice(0, 3).map(([k, v]) => `${k} ${fmt.n(v, 2)}`).join(', ');
      rows.push({ what: 'intake: Redis round trips per request (--profile)', value: `${fmt.n(c.roundTrips ?? Number.NaN, 2)} (${fmt.n(c.commands ?? Number.NaN, 2)} commands: ${top})`, baseline: 'bare fastify route 0', ratio: '', target: '(profile)' });
    }
    rows.push({ what: 'intake: p99 latency', value: `${i.runwright.p99} ms`, baseline: `bare fastify route ${i.bare.p99} ms`, ratio: fmt.x(i.runwright.p99 / i.bare.p99), target: '(context)' });
    rows.push({ what: 'intake: runs created per round (the rest attached to them)', value: `${i.runwright.runsCreated} (${fmt.n(i.runwright.attached)} attached, ${i.runwright.errors} errors)`, baseline: `${i.fingerprints} fingerprints`, ratio: '', target: `exactly ${i.fingerprints}`, met: i.runwright.runsCreated === i.fingerprints && i.runwright.errors === 0 });
  }
  const p = r.parked;
  if (p) {
    rows.push({ what: `parked: worker RSS with ${fmt.n(p.runs)} runs waiting for approval (${p.build === 'dist' ? 'compiled' : 'tsx'})`, value: fmt.mb(p.worker.parkedRss), baseline: `idle bare BullMQ worker ${fmt.mb(p.bareWorkerRss)}`, ratio: fmt.x(p.worker.parkedRss / p.bareWorkerRss), target: '< 50 MB', met: p.worker.parkedRss < 50 * 1048576 });
    const idleRatio = p.worker.idleRss / p.bareWorkerRss;
    rows.push({ what: `parked: \`serve --role worker\` RSS idle (${p.build === 'dist' ? 'compiled' : 'tsx'})`, value: fmt.mb(p.worker.idleRss), baseline: `idle bare BullMQ worker ${fmt.mb(p.bareWorkerRss)}`, ratio: fmt.x(idleRatio), target: '≤ 1.20×', met: idleRatio <= 1.2 });
    rows.push({ what: 'parked: worker RSS idle → peak while parking', value: `${fmt.mb(p.worker.idleRss)} → ${fmt.mb(p.worker.peakRss)}`, baseline: `plain Node process ${fmt.mb(p.plainNodeRss)}`, ratio: fmt.x(p.worker.idleRss / p.plainNodeRss), target: '(context)' });
    rows.push({ what: `parked: worker RSS after ${fmt.n(p.runs)} more parked runs`, value: `${fmt.mb(p.worker.parked2Rss)} (${p.worker.parked2Rss >= p.worker.parkedRss ? '+' : ''}${fmt.mb(p.worker.parked2Rss - p.worker.parkedRss)})`, baseline: `after the first ${fmt.n(p.runs)}: ${fmt.mb(p.worker.parkedRss)}`, ratio: fmt.x(p.worker.parked2Rss / p.worker.parkedRss), target: '(no growth per run)' });
    rows.push({ what: `parked: Redis memory for ${fmt.n(p.runs)} parked runs`, value: `${fmt.mb(p.redis.bytes)} (${fmt.n(p.redis.perRun / 1024, 1)} KB/run)`, baseline: `raw BullMQ delayed jobs ${fmt.mb(p.rawBullmqBytes)}`, ratio: fmt.x(p.redis.bytes / p.rawBullmqBytes), target: '(context)' });
  }
  const s = r.seed;
  if (s) {
    const k = (name: string) => s.byKind[name]?.ms ?? 0;
    const seedRatio = s.wallMs / s.checkAloneMs;
    rows.push({ what: `seed incident: alert → verified fix, wall time (run ${s.status})`, value: `${fmt.n(s.wallMs / 1000, 2)} s`, baseline: `the check alone ${fmt.n(s.checkAloneMs)} ms${s.checkAloneRuns ? ' (median of 3)' : ''}`, ratio: fmt.x(seedRatio), target: '≤ 3.00×', met: seedRatio <= 3 });
    const checkRuns = (s.byKind['python: target check']?.count ?? 0) + (s.byKind['python: target check + probe']?.count ?? 0);
    const checkMs = k('python: target check') + k('python: target check + probe');
    rows.push({ what: `seed incident: the check's processes (${checkRuns}: check, or check + runtime probe in one)`, value: `${fmt.n(checkMs / 1000, 2)} s`, baseline: `the check alone ${fmt.n(s.checkAloneMs)} ms`, ratio: fmt.x(checkMs / s.checkAloneMs), target: '(measure)' });
    rows.push({ what: `seed incident: other subprocesses (AST tool ${s.byKind['python: AST tool']?.count ?? 0}, deployed job, git ${s.byKind.git?.count ?? 0})`, value: `${fmt.n((k('python: AST tool') + k('python: deployed job') + k('git')) / 1000, 2)} s`, baseline: `tool ${fmt.n(k('python: AST tool'))} + job ${fmt.n(k('python: deployed job'))} + git ${fmt.n(k('git'))} ms`, ratio: '', target: '(measure)' });
    rows.push({ what: "seed incident: runwright's overhead (wall − every subprocess)", value: `${fmt.n(s.runwrightMs / 1000, 2)} s`, baseline: `${s.steps.length} steps, ${fmt.n(s.runwrightMs / Math.max(1, s.steps.length))} ms/step`, ratio: fmt.x(s.runwrightMs / s.wallMs), target: '(measure)' });
    if (s.betweenStepsMs !== undefined) rows.push({ what: "seed incident: of which between steps (step recorded → next started)", value: `${fmt.n(s.betweenStepsMs / 1000, 2)} s`, baseline: `inside steps, not in a subprocess: ${fmt.n((s.runwrightMs - s.betweenStepsMs) / 1000, 2)} s`, ratio: fmt.x(s.betweenStepsMs / s.wallMs), target: '(measure)' });
  }
  return rows;
}

function compare(prev: BenchResults, cur: BenchResults): string {
  const before = new Map(prev.rows.map((r) => [r.what, r]));
  const lines = [`\ncompared with ${prev.commit.slice(0, 12)}${prev.dirty ? '+' : ''} (${prev.at}):`];
  for (const r of cur.rows) {
    const b = before.get(r.what);
    if (b) lines.push(`  ${r.what}: ${b.value} → ${r.value}${b.ratio || r.ratio ? ` (ratio ${b.ratio} → ${r.ratio})` : ''}`);
  }
  return lines.join('\n');
}

function footer(res: BenchResults): string {
  return `${res.commit.slice(0, 12)}${res.dirty ? '+' : ''} · node ${res.node} · ${res.cpus}× ${res.cpuModel} · load avg ${res.loadavg.before.map((x) => x.toFixed(1)).join(' ')} → ${res.loadavg.after.map((x) => x.toFixed(1)).join(' ')}${res.quick ? ' · QUICK run (smaller counts)' : ''} · ${res.at}`;
}

/** Replace what is between `<!-- bench:table -->` and `<!-- /bench:table -->` in a Markdown file. */
function renderDocs(file: string, res: BenchResults): void {
  const text = readFileSync(file, 'utf8');
  const open = '<!-- bench:table -->';
  const close = '<!-- /bench:table -->';
  const i = text.indexOf(open);
  const j = text.indexOf(close);
  if (i < 0 || j < i) throw new Error(`${file} has no ${open} … ${close} section`);
  const body = `\n\`npm run bench\` at ${footer(res)}\n\n${table(res.rows)}\n\n`;
  writeFileSync(file, text.slice(0, i + open.length) + body + text.slice(j));
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  if (a.render) {
    const res = JSON.parse(readFileSync(a.render, 'utf8')) as BenchResults;
    res.rows = rowsOf(res);
    process.stdout.write(`${table(res.rows)}\n\n${footer(res)}\n`);
    if (a.docs) renderDocs(a.docs, res);
    return 0;
  }
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const redis = await benchRedis();
  const res: BenchResults = {
    version: JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
    commit: git(['rev-parse', 'HEAD']),
    dirty: git(['status', '--porcelain', '--', 'src']) !== '',
    at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '',
    loadavg: { before: os.loadavg(), after: [] },
    quick: a.quick,
    redis: redis.url.replace(/\/\/[^@]*@/, '//'),
    rows: [],
  };
  log(`runwright bench ${res.version} @ ${res.commit.slice(0, 12)}${res.dirty ? '+' : ''}, ${process.version}, ${res.cpus} cpus, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, Redis ${res.redis}`);
  try {
    if (a.only.has('executor')) {
      res.executor = await executorBench({ redisUrl: redis.url, runs: a.quick ? 200 : 1000, halfRuns: a.quick ? 100 : 500, concurrency: 16, rawJobs: a.quick ? 2000 : 10_000, rounds: a.rounds, countCommands: a.profile, log });
    }
    if (a.only.has('intake')) {
      res.intake = await intakeBench({ redisUrl: redis.url, alerts: a.quick ? 2000 : 10_000, fingerprints: 100, connections: 50, warmup: a.quick ? 200 : 1000, rounds: a.rounds, countCommands: a.profile, log });
    }
    if (a.only.has('parked')) {
      let build = a.worker;
      if (build === 'dist' && !(await buildDist(log))) {
        log('compiling failed: measuring the worker from source instead');
        build = 'source';
      }
      res.parked = await parkedBench({ redisUrl: redis.url, runs: a.quick ? 200 : 1000, build, log });
    }
    if (a.only.has('seed')) res.seed = await seedBench({ redisUrl: redis.url, log });
  } finally {
    await redis.stop();
  }
  res.loadavg.after = os.loadavg();
  res.rows = rowsOf(res);
  const prev = a.compare && existsSync(a.compare) ? (JSON.parse(readFileSync(a.compare, 'utf8')) as BenchResults) : undefined;
  mkdirSync(path.dirname(a.out), { recursive: true });
  writeFileSync(a.out, JSON.stringify(res, null, 2) + '\n');
  process.stdout.write(`\n${table(res.rows)}\n\n`);
  process.stdout.write(`${footer(res)}\n`);
  process.stdout.write(`written to ${path.relative(ROOT, a.out)}\n`);
  if (a.docs) {
    renderDocs(a.docs, res);
    process.stdout.write(`table written into ${path.relative(ROOT, a.docs)}\n`);
  }
  if (prev) process.stdout.write(`${compare(prev, res)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`bench: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
