// Runs that can go anywhere: three worker processes on one Redis, each with its own work folder (as three Cloud
// Run instances each have their own disk), one of them forgetting everything about a run before every step it
// takes. The seed incident (runbooks/sqlalchemy-mapper-failure.yaml on the sample service: real git, real
// SQLAlchemy, the local platform) and the Alembic runbook (a generated project, real alembic and PostgreSQL) run
// through them: every run succeeds with exactly one new commit on the remote and no run ref left behind; no run
// folder is left on any worker. A run parked at approval survives the deletion of every worker's work folder
// (and the workers themselves) and then succeeds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.js';
import { loadConfig } from '../../src/config/config.js';
import { loadRunbookFiles } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { createSampleService } from '../../src/demo/sample-service.js';
import { RUN_ID } from '../../src/core/workspace.js';
import type { Alert, RunRecord, Target } from '../../src/core/types.js';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { alert as mkAlert } from '../helpers/engine.js';
import { seedAlertText } from '../helpers/seed-alert.js';
import { buildFixture, failureText, fixtureTarget } from '../fixtures/alembic/generate.js';
import { debianEnv, isSkip } from '../fixtures/alembic/python-env.js';
import { PG_SYNC_URL, pgAvailable } from '../fixtures/alembic/postgres.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SQLA = path.resolve(here, '..', '..', 'runbooks', 'sqlalchemy-mapper-failure.yaml');
const ALEMBIC = path.resolve(here, '..', '..', 'runbooks', 'alembic-autogenerate-failure.yaml');
const PYTHON = '/usr/bin/python3';
const runbooks = loadRunbookFiles([SQLA, ALEMBIC], defaultRegistry().catalog());
const probe = spawnSync(PYTHON, ['-c', 'import sqlalchemy'], { encoding: 'utf8' });
const NO_SQLA = probe.status === 0 ? false : `${PYTHON} cannot import sqlalchemy`;
const pg = pgAvailable();
const deb = debianEnv();
const NO_ALEMBIC = pg !== true ? pg.skip : isSkip(deb) ? deb.skip : false;

const root = mkdtempSync(path.join(os.tmpdir(), 'rw-portable-'));
let alertText = '';

before(async () => {
  if (NO_SQLA) return;
  alertText = await seedAlertText(root, PYTHON);
});
after(() => rmSync(root, { recursive: true, force: true }));

interface Workers {
  dirs: string[];
  stop(): Promise<void>;
}

async function startWorkers(name: string, prefix: string, opts: { wipe: boolean[] }): Promise<Workers> {
  const procs: ChildProcess[] = [];
  const dirs: string[] = [];
  await Promise.all(
    opts.wipe.map(async (wipe, i) => {
      const dir = path.join(root, name, `worker-${i}`);
      dirs.push(dir);
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'portable-worker.ts')], {
        env: { ...process.env, REDIS_URL, RW_PREFIX: prefix, RW_WORKDIR: dir, RW_PLATFORM_DIR: path.join(root, name, 'platform'), RW_RUNBOOKS: `${SQLA},${ALEMBIC}`, RW_WIPE: wipe ? '1' : '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      procs.push(child);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('ready ')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker ${i} exited (${code}) before it was ready`)));
      });
    }),
  );
  return {
    dirs,
    stop: async () => {
      await Promise.all(
        procs.map(async (p) => {
          if (p.exitCode !== null || p.signalCode !== null) return;
          const gone = new Promise<void>((r) => p.once('exit', () => r()));
          p.kill('SIGTERM');
          const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
          await gone;
          clearTimeout(t);
        }),
      );
    },
  };
}

const git = (dir: string, args: string[]) => spawnSync('git', ['--git-dir', dir, ...args], { encoding: 'utf8' }).stdout.trim();

function runFolders(dirs: string[]): string[] {
  return dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((n) => RUN_ID.test(n)).map((n) => path.join(d, n)) : []));
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Exactly one new commit on main on top of `head`, none anywhere else, no run ref left. */
function oneCommit(remote: string, head: string, label: string) {
  assert.equal(git(remote, ['rev-list', '--count', `${head}..main`]), '1', `${label}: one commit on main`);
  assert.equal(git(remote, ['rev-list', '--count', '--all', `^${head}`]), '1', `${label}: one new commit in the whole remote`);
  assert.equal(git(remote, ['for-each-ref', 'refs/runwright']), '', `${label}: the run ref is deleted`);
}

async function seedRun(engine: Engine, name: string, over: { inputs?: Record<string, unknown>; autoApprove?: boolean } = {}) {
  const svc = await createSampleService(path.join(root, name), { name, python: PYTHON });
  const alert: Alert = { source: 'portable', fingerprint: `portable-${name}`, severity: 'error', text: alertText, labels: { service: name }, receivedAt: new Date().toISOString() };
  const res = await engine.submit({ runbookId: 'sqlalchemy-mapper-failure', alert, target: svc.target, autoApprove: over.autoApprove ?? true, inputs: over.inputs });
  assert.equal(res.result, 'created');
  return { svc, runId: (res as { run: RunRecord }).run.id };
}

/** The outcome and every step error: what a failed assertion should say. */
function why(run: RunRecord): string {
  const errs = Object.entries(run.steps).filter(([, st]) => st.error).map(([k, st]) => `${k}: ${st.error!.message}`);
  return `${run.outcome}\n${errs.join('\n')}`;
}

function workersOf(ev: Awaited<ReturnType<Engine['store']['events']>>): Set<string> {
  return new Set(ev.filter((e) => e.kind === 'started').map((e) => e.actor ?? ''));
}

describe('three workers, three disks', { concurrency: 1, skip: NO_SQLA }, () => {
  test('the seed incident (twice) and the Alembic runbook succeed when steps land on any worker', { timeout: 600_000 }, async () => {
    const prefix = testPrefix('portable');
    const config = loadConfig({ REDIS_URL }, { prefix, workdir: path.join(root, 'a', 'submitter'), retentionDays: 0 } as any);
    const engine = await Engine.create({ config, runbooks });
    const w = await startWorkers('a', prefix, { wipe: [false, true, false] });
    try {
      const runs = [await seedRun(engine, 'cw-one'), await seedRun(engine, 'cw-two')];
      let alembic: { runId: string; remote: string; head: string } | undefined;
      if (!NO_ALEMBIC && !isSkip(deb)) {
        const fx = buildFixture({ failures: ['reserved'] });
        const target: Target = fixtureTarget(fx, { python: deb.python, databaseUrl: PG_SYNC_URL, name: 'al-portable' });
        const res = await engine.submit({ runbookId: 'alembic-autogenerate-failure', alert: mkAlert(failureText(fx, deb.python, fx.urlFor(PG_SYNC_URL))), target, inputs: { ticket: 'INC-15' }, autoApprove: true });
        assert.equal(res.result, 'created');
        alembic = { runId: (res as { run: RunRecord }).run.id, remote: fx.remote, head: fx.head };
        rmSync(fx.userCopy, { recursive: true, force: true }); // nobody's working copy is needed by a run
      }
      const spread: number[] = [];
      for (const r of runs) {
        const run = await engine.waitForEnd(r.runId, 400_000);
        assert.equal(run.status, 'succeeded', why(run));
        oneCommit(r.svc.remote, r.svc.head, r.svc.target.name);
        assert.equal((run.steps.push?.output as { sha?: string }).sha, git(r.svc.remote, ['rev-parse', 'main']));
        spread.push(workersOf(await engine.store.events(r.runId)).size);
      }
      if (alembic) {
        const run = await engine.waitForEnd(alembic.runId, 400_000);
        assert.equal(run.status, 'succeeded', why(run));
        oneCommit(alembic.remote, alembic.head, 'alembic');
        spread.push(workersOf(await engine.store.events(alembic.runId)).size);
      }
      assert.ok(Math.max(...spread) >= 2, `steps of a run ran on more than one worker: ${spread.join(', ')}`);
      // Nothing left behind: every worker drops a finished run's folder (the one that ended it, the others on the event).
      await until('no run folder on any worker', () => runFolders(w.dirs).length === 0, 30_000);
    } finally {
      await w.stop();
      await engine.close();
      await cleanupPrefix(prefix);
    }
  });

  test('a run parked at approval survives the deletion of every worker and its work folder, then succeeds', { timeout: 600_000 }, async () => {
    const prefix = testPrefix('portpark');
    const config = loadConfig({ REDIS_URL }, { prefix, workdir: path.join(root, 'b', 'submitter'), retentionDays: 0 } as any);
    const engine = await Engine.create({ config, runbooks });
    let w = await startWorkers('b', prefix, { wipe: [false, false, false] });
    try {
      const r = await seedRun(engine, 'cw-park', { inputs: { requireApproval: true }, autoApprove: false });
      const parked = await engine.waitFor(r.runId, (x) => x.status === 'waiting_approval' || x.status !== 'running', 400_000);
      assert.equal(parked.status, 'waiting_approval', why(parked));
      assert.ok(runFolders(w.dirs).length >= 1, 'the run has checkouts on some worker while it waits');
      // Every instance recycled: the processes go, and so does everything on their disks (mirrors included).
      await w.stop();
      for (const d of w.dirs) rmSync(d, { recursive: true, force: true });
      w = await startWorkers('b', prefix, { wipe: [false, false, false] });
      await engine.decide(r.runId, { decision: 'approved', actor: 'person', comment: 'go' });
      const run = await engine.waitForEnd(r.runId, 400_000);
      assert.equal(run.status, 'succeeded', why(run));
      oneCommit(r.svc.remote, r.svc.head, 'parked run');
      assert.equal((run.steps.push?.output as { sha?: string }).sha, (run.steps.commit?.output as { sha?: string }).sha, 'the approved commit is the one pushed');
      await until('no run folder on any worker', () => runFolders(w.dirs).length === 0, 30_000);
    } finally {
      await w.stop();
      await engine.close();
      await cleanupPrefix(prefix);
    }
  });
});
