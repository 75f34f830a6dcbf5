// SIGKILL the worker at each step of the SQLAlchemy runbook in turn, one run per step: the seed incident (the
// sample service of `npm run demo`, real git, real SQLAlchemy, the local platform) run by
// runbooks/sqlalchemy-mapper-failure.yaml with its deploy steps (src/demo/deploy-tail.ts adds them when the
// runbook has none yet). A real worker process dies at step S — `after` the action did its work (the commit
// made, the push done, the job deployed) but before the outcome is recorded, and in `npm run chaos` also
// `before` it starts — and a second worker process takes over. Every run must end succeeded with exactly one fix
// commit on the remote and exactly one deploy of it, each step recorded once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.js';
import { loadConfig } from '../../src/config/config.js';
import { parseRunbook, type Runbook, type StepDef } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { withDeployTail } from '../../src/demo/deploy-tail.js';
import { createSampleService } from '../../src/demo/sample-service.js';
import type { Alert, RunRecord } from '../../src/core/types.js';
import { isTerminal } from '../../src/core/types.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { FULL, eventually } from './helpers.js';
import { seedAlertText } from '../helpers/seed-alert.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUNBOOK = path.resolve(here, '..', '..', 'runbooks', 'sqlalchemy-mapper-failure.yaml');
const PYTHON = '/usr/bin/python3';
const rb: Runbook = parseRunbook(withDeployTail(readFileSync(RUNBOOK, 'utf8')).source, RUNBOOK, defaultRegistry().catalog());

/** The action steps of the runbook's main line (start → next → …): the path the seed incident takes. */
function mainLine(r: Runbook): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let id: string | undefined = r.start; id && !seen.has(id); ) {
    seen.add(id);
    const s: StepDef = r.stepMap.get(id)!;
    if (s.action) out.push(s.id);
    id = s.next;
  }
  return out;
}
const STEPS = mainLine(rb);
const probe = spawnSync(PYTHON, ['-c', 'import sqlalchemy'], { encoding: 'utf8' });
const NO_SQLA = probe.status === 0 ? false : `${PYTHON} cannot import sqlalchemy (apt-get install python3-sqlalchemy): ${(probe.stderr || String(probe.error ?? '')).trim().slice(0, 200)}`;

const root = mkdtempSync(path.join(os.tmpdir(), 'rw-chaos-sqla-'));
let alertText = '';

before(async () => {
  if (NO_SQLA) return;
  alertText = await seedAlertText(root, PYTHON);
});
after(() => rmSync(root, { recursive: true, force: true }));

interface Proc {
  pid: number;
  message(type: string, timeoutMs?: number): Promise<any>;
  send(m: unknown): void;
  kill(): Promise<void>;
  stop(): Promise<void>;
}

function worker(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'worker-proc.ts')], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const seen: any[] = [];
  const waiting: { type: string; resolve: (m: any) => void }[] = [];
  child.on('message', (m: any) => {
    const w = waiting.find((x) => x.type === m?.type);
    if (w) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(m);
    } else seen.push(m);
  });
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid!,
    message: (type, timeoutMs = 90_000) => {
      const i = seen.findIndex((m) => m?.type === type);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`worker ${child.pid}: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
        waiting.push({ type, resolve: (m) => (clearTimeout(t), resolve(m)) });
        void gone.then(() => {
          clearTimeout(t);
          reject(new Error(`worker ${child.pid} exited before '${type}'`));
        });
      });
    },
    send: (m) => child.send(m as any),
    kill: async () => {
      if (alive()) child.kill('SIGKILL');
      await gone;
    },
    stop: async () => {
      if (alive()) {
        child.send({ type: 'stop' });
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await gone;
        clearTimeout(t);
      }
    },
  };
}

const git = (dir: string, args: string[]) => spawnSync('git', ['--git-dir', dir, ...args], { encoding: 'utf8' }).stdout.trim();

async function scenario(step: string, when: 'before' | 'after'): Promise<void> {
  const name = `cw-${step}-${when}`;
  const dir = path.join(root, name);
  const svc = await createSampleService(path.join(dir, 'origin'), { name, python: PYTHON });
  const prefix = testPrefix(`sigkill${step}`);
  const env = { REDIS_URL, RW_PREFIX: prefix, RW_PLATFORM_DIR: path.join(dir, 'platform'), RW_RUNBOOK: RUNBOOK, RW_LOCK_MS: '1500' };
  const config = loadConfig({ REDIS_URL }, { prefix, workdir: path.join(dir, 'work-submitter'), retentionDays: 0, local: { platformDir: env.RW_PLATFORM_DIR } } as any);
  const engine = await Engine.create({ config, runbooks: new Map([[rb.id, rb]]) }); // submits and watches; no worker here
  // Each worker has its own disk (two Cloud Run instances): the step killed on A is re-delivered to B, which has
  // none of what A checked out and must rebuild it from git (the run ref) and the run record.
  const a = worker({ ...env, RW_WORKDIR: path.join(dir, 'work-a'), RW_KILL_STEP: step, RW_KILL_WHEN: when });
  const b = worker({ ...env, RW_WORKDIR: path.join(dir, 'work-b') }); // the replacement, loaded while the first one works
  try {
    await a.message('loaded');
    a.send({ type: 'go' });
    await a.message('ready');
    const alert: Alert = { source: 'chaos', fingerprint: `chaos-${name}`, severity: 'error', text: alertText, labels: { service: name }, receivedAt: new Date().toISOString() };
    const res = await engine.submit({ runbookId: rb.id, alert, target: svc.target, autoApprove: true });
    assert.equal(res.result, 'created');
    const runId = (res as { run: RunRecord }).run.id;

    const hung = await a.message('hanging', 120_000);
    assert.equal(hung.step, step);
    await a.kill();
    await b.message('loaded');
    b.send({ type: 'go' });
    await b.message('ready');
    const run = await eventually(`run ${runId} to finish after the kill at ${step} (${when})`, async () => {
      const r = await engine.store.get(runId);
      return r && isTerminal(r.status) ? r : null;
    }, 150_000, 100);

    assert.equal(run.status, 'succeeded', `killed at ${step} (${when}): ${run.outcome}`);
    // Exactly one fix commit on the remote, on main, on top of the broken head — and no other commit anywhere.
    const main = git(svc.remote, ['rev-parse', 'main']);
    assert.equal(git(svc.remote, ['rev-list', '--count', `${svc.head}..main`]), '1', 'one commit on main');
    assert.equal(git(svc.remote, ['rev-list', '--count', '--all', `^${svc.head}`]), '1', 'one new commit in the whole remote');
    assert.equal((run.steps.push?.output as { sha?: string }).sha, main);
    // Exactly one deploy of it on the local platform.
    const execDir = path.join(env.RW_PLATFORM_DIR, name, 'executions');
    const execs = existsSync(execDir) ? readdirSync(execDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(path.join(execDir, f), 'utf8'))) : [];
    assert.equal(execs.length, 1, `one execution: ${JSON.stringify(execs.map((e) => e.name))}`);
    assert.equal(execs[0].commit, main, 'the execution ran the pushed fix');
    assert.equal(execs[0].result?.status, 'succeeded');
    assert.equal(JSON.parse(readFileSync(path.join(env.RW_PLATFORM_DIR, name, 'state.json'), 'utf8')).image, main, 'the job points at the fix');
    // Each step recorded done once; the killed one was started twice, the second time as a re-delivery.
    const ev = await engine.store.events(runId);
    for (const s of STEPS) assert.equal(ev.filter((e) => e.step === s && e.kind === 'succeeded').length, 1, `${s} recorded done exactly once`);
    const starts = ev.filter((e) => e.step === step && e.kind === 'started');
    assert.equal(starts.length, 2, `${step}: started by the killed worker and again by the new one`);
    assert.equal(starts[1]!.message, 're-delivered');
    assert.notEqual(starts[1]!.actor, starts[0]!.actor, 're-delivered to the other worker (its own disk)');
    assert.equal(git(svc.remote, ['for-each-ref', 'refs/runwright']), '', 'no run ref left on the remote');
  } finally {
    await a.kill();
    await b.stop();
    await engine.close();
    await cleanupPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SIGKILL the worker at each step of the SQLAlchemy runbook', { concurrency: FULL ? 2 : 3, skip: NO_SQLA }, () => {
  test('the runbook main line is what the seed incident walks', () => {
    assert.deepEqual(STEPS.slice(0, 2), ['identify', 'checkout']);
    for (const s of ['commit', 'preflight', 'push', 'deploy', 'verify']) assert.ok(STEPS.includes(s), `${s} is on the main line`);
  });
  for (const step of STEPS) {
    for (const when of FULL ? (['after', 'before'] as const) : (['after'] as const)) {
      test(`killed at ${step} (${when} its action): succeeded, one fix commit, one deploy`, { timeout: 240_000 }, () => scenario(step, when));
    }
  }
});
