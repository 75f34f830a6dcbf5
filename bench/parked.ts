// Parked-runs benchmark: `runs` runs of a runbook that does one no-op step and parks at an approval (with a 4 h
// timeout, like the SQLAlchemy runbook), executed by a real `runwright serve --role worker` process. Measures that
// process's RSS (idle, peak while parking, after) and the Redis memory under the run's prefix (MEMORY USAGE of
// every key, by kind). Baselines in the same run: a plain Node process with a raw BullMQ Worker (idle RSS), and the
// same number of raw BullMQ delayed jobs carrying the same alert (Redis bytes).
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Engine } from '../src/engine/engine.js';
import { loadConfig } from '../src/config/config.js';
import { loadRunbookFiles } from '../src/core/runbook.js';
import { defaultRegistry } from '../src/actions/index.js';
import type { Alert, Target } from '../src/core/types.js';
import { BENCH, ROOT, benchPrefix, dropPrefix, prefixMemory, rssOf, tsChild, until } from './lib.js';

export interface ParkedOptions {
  redisUrl: string;
  runs: number;
  /** 'dist': the compiled CLI (bench/.build, as the Docker image runs it); 'source': through tsx. */
  build: 'dist' | 'source';
  log?: (s: string) => void;
}

export interface ParkedResult {
  runs: number;
  build: 'dist' | 'source';
  worker: { idleRss: number; peakRss: number; parkedRss: number; /** RSS after a second batch of `runs` parked runs (2× runs parked in all). */ parked2Rss: number };
  bareWorkerRss: number;
  plainNodeRss: number;
  redis: { bytes: number; keys: number; perRun: number; byKind: Record<string, number> };
  rawBullmqBytes: number;
  parkMs: number;
}

function alertFor(i: number): Alert {
  return { source: 'bench', fingerprint: `park-${i}`, severity: 'error', text: `bench park: consumer ${i} stalled; One or more mappers failed to initialize - can't proceed with initialization of other mappers.`, labels: { service: `svc-${i}` }, receivedAt: new Date().toISOString() };
}
function targetFor(i: number): Target {
  return { name: `svc-${i}`, repo: `/srv/git/svc-${i}.git`, branch: 'main', modelsDir: 'backend/app/models', platform: 'local', labels: { service: `svc-${i}` } };
}

function startWorker(o: ParkedOptions, prefix: string, workdir: string): ChildProcess {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    REDIS_URL: o.redisUrl,
    RUNWRIGHT_PREFIX: prefix,
    RUNWRIGHT_RUNBOOKS: path.join(BENCH, 'runbooks'),
    RUNWRIGHT_TARGETS: path.join(workdir, 'no-targets.yaml'),
    RUNWRIGHT_WORKDIR: workdir,
    RUNWRIGHT_RETENTION_DAYS: '0',
    RUNWRIGHT_WORKER_PORT: '0', // its health/metrics port: any free one
    LOG_LEVEL: 'error',
  };
  if (o.build === 'dist') {
    env.RW_ENTRY = path.join(BENCH, '.build', 'cli', 'main.js');
    return spawn(process.execPath, [path.join(BENCH, 'dist-entry.mjs'), 'serve', '--role', 'worker'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  env.RUNWRIGHT_FROM_SOURCE = '1';
  return spawn(process.execPath, [path.join(ROOT, 'bin', 'runwright.js'), 'serve', '--role', 'worker'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Compile src/ into bench/.build (never dist/: bin/runwright.js would prefer a stale dist/ for everyone). */
export async function buildDist(log: (s: string) => void): Promise<boolean> {
  log('compiling src/ into bench/.build for the worker process (tsc)');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const child = spawn(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', path.join(BENCH, '.build'), '--sourceMap', 'false'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'copy-lua.mjs'), path.join(BENCH, '.build')], { stdio: 'ignore' }); // the run store's scripts
  return existsSync(path.join(BENCH, '.build', 'cli', 'main.js')) && (code === 0 || code === 2); // 2: type errors, still emitted
}

export async function parkedBench(o: ParkedOptions): Promise<ParkedResult> {
  const log = o.log ?? (() => {});
  const prefix = benchPrefix('park');
  const workdir = mkdtempSync(path.join(os.tmpdir(), 'rwbench-park-'));
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 3 });

  // Baseline processes, idle: plain Node, and Node with one raw BullMQ worker.
  const idleRss = async (file: string) => {
    const c = tsChild(path.join(BENCH, file), { REDIS_URL: o.redisUrl, BENCH_PREFIX: `${prefix}-bare` });
    await c.message('ready');
    await new Promise((r) => setTimeout(r, 1000)); // let start-up garbage settle before sampling
    const rss = rssOf(c.proc.pid!);
    await c.stop();
    return rss;
  };
  const plainNodeRss = await idleRss('plain-node.mjs');
  const bareWorkerRss = await idleRss('bare-worker.mjs');

  const config = loadConfig({ REDIS_URL: o.redisUrl }, { prefix, workdir, retentionDays: 0 } as any);
  const runbooks = loadRunbookFiles([path.join(BENCH, 'runbooks', 'park.yaml')], defaultRegistry().catalog());
  const engine = await Engine.create({ config, runbooks }); // submits only; the worker is the other process
  const worker = startWorker(o, prefix, workdir);
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  try {
    log(`worker process (${o.build === 'dist' ? 'compiled' : 'from source via tsx'}): waiting for its heartbeat`);
    await until(async () => (await engine.workersAlive()) > 0, 180_000, () => 'no worker heartbeat', 100);
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssOf(worker.pid!);
    let peakRss = idleRss;
    const sampler = setInterval(() => void (peakRss = Math.max(peakRss, rssOf(worker.pid!))), 50);

    const waiting = () => redis.zcard(`${prefix}:idx:status:waiting_approval`);
    const park = async (from: number) => {
      for (let i = from; i < from + o.runs; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, from + o.runs - i) }, (_, k) => engine.submit({ runbookId: 'bench-park', alert: alertFor(i + k), target: targetFor(i + k) })));
      }
      await until(async () => (await waiting()) >= from + o.runs, 300_000, async () => `${await waiting()}/${from + o.runs} parked`, 50);
      await new Promise((r) => setTimeout(r, 1000));
    };
    log(`submitting ${o.runs} runs that park at an approval`);
    const t0 = Date.now();
    await park(0);
    const parkMs = Date.now() - t0 - 1000;
    const parkedRss = rssOf(worker.pid!);
    peakRss = Math.max(peakRss, parkedRss);
    log(`  worker RSS idle ${(idleRss / 1048576).toFixed(1)} MB, peak ${(peakRss / 1048576).toFixed(1)} MB, ${o.runs} parked ${(parkedRss / 1048576).toFixed(1)} MB`);
    const mem = await prefixMemory(o.redisUrl, prefix, keyKind);
    log(`submitting another ${o.runs} (does the worker keep anything per parked run?)`);
    await park(o.runs);
    clearInterval(sampler);
    const parked2Rss = rssOf(worker.pid!);
    log(`  worker RSS with ${2 * o.runs} parked ${(parked2Rss / 1048576).toFixed(1)} MB`);

    // Baseline: the same number of raw BullMQ delayed jobs (a parked job) carrying the same alert.
    const rawPrefix = `${prefix}-raw`;
    const qc = new Redis(o.redisUrl, { maxRetriesPerRequest: null });
    const q = new Queue('steps', { connection: qc, prefix: rawPrefix });
    for (let i = 0; i < o.runs; i += 500) {
      await q.addBulk(Array.from({ length: Math.min(500, o.runs - i) }, (_, k) => ({ name: 'parked', data: { alert: alertFor(i + k), target: targetFor(i + k) }, opts: { jobId: `p${i + k}`, delay: 4 * 3600_000 } })));
    }
    const raw = await prefixMemory(o.redisUrl, rawPrefix);
    await q.close();
    qc.disconnect();
    await dropPrefix(o.redisUrl, rawPrefix);
    log(`  Redis ${(mem.bytes / 1048576).toFixed(2)} MB for ${o.runs} parked runs (${(mem.bytes / o.runs / 1024).toFixed(1)} KB each); raw BullMQ delayed jobs ${(raw.bytes / 1048576).toFixed(2)} MB`);
    return { runs: o.runs, build: o.build, worker: { idleRss, peakRss, parkedRss, parked2Rss }, bareWorkerRss, plainNodeRss, redis: { ...mem, perRun: mem.bytes / o.runs }, rawBullmqBytes: raw.bytes, parkMs };
  } finally {
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGTERM');
    const t = setTimeout(() => worker.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
    await engine.close();
    redis.disconnect();
    await dropPrefix(o.redisUrl, prefix);
    rmSync(workdir, { recursive: true, force: true });
  }
}

/** Key kinds: run hashes, event streams, BullMQ (queue keys, job hashes), indexes and the rest. */
function keyKind(rest: string): string {
  if (rest.startsWith('run:')) return rest.endsWith(':ev') ? 'run events (streams)' : 'run records (hashes)';
  if (rest.startsWith('q:')) return /^q:steps:[^:]+\.[^:]+\.\d+\./.test(rest) ? 'BullMQ job hashes' : 'BullMQ queue keys';
  return rest.startsWith('idx:') ? 'indexes' : 'other';
}
