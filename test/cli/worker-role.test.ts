// `runwright serve --role worker` as a real process: it consumes the step queue and answers /healthz, /readyz and
// /metrics (Prometheus text, the API's metric names) on its own small port with node:http, and it loads no HTTP
// API, dashboard, Google Cloud or Slack code — checked from outside by a loader hook that logs every module the
// process resolves (test/helpers/module-log.mjs), not by anything the process says about itself. Idle, it holds no
// YAML parser, zod, JSONata or action code either: a child process validated the runbooks at start-up, and the
// actions (with zod) load with the first step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { REDIS_URL, cleanupPrefix, testPrefix } from '../helpers/redis.js';
import { logLines } from '../helpers/log-lines.js';
import { RUNBOOKS_DIR, TARGETS_FILE } from '../api/harness.js';
import { ROOT, BIN } from './helpers.js';
import { loadConfig } from '../../src/config/config.js';
import { loadRunbooksDir } from '../../src/core/runbook.js';
import { loadTargets } from '../../src/config/targets.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { Engine } from '../../src/engine/engine.js';
import { silentLogger } from '../../src/logging.js';

const HOOK = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'module-log.mjs')).href;

/** Lines of the module log written by process `pid` (the log's lines start with the loading process's pid). */
function modulesOf(log: string, pid: number): string[] {
  return readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith(`${pid} `));
}

test('serve --role worker: consumes steps, /healthz /readyz /metrics on its own port, no API/dashboard/GCP/Slack code loaded', async () => {
  const prefix = testPrefix('wrole');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-wrole-'));
  const moduleLog = path.join(dir, 'modules.log');
  const child = spawn(process.execPath, ['--import', HOOK, BIN, 'serve', '--role', 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      RUNWRIGHT_FROM_SOURCE: '1',
      RW_MODULE_LOG: moduleLog,
      REDIS_URL,
      RUNWRIGHT_PREFIX: prefix,
      RUNWRIGHT_RUNBOOKS: RUNBOOKS_DIR,
      RUNWRIGHT_TARGETS: TARGETS_FILE,
      RUNWRIGHT_WORKDIR: path.join(dir, 'work'),
      RUNWRIGHT_WORKER_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SLACK_BOT_TOKEN: '',
      SLACK_CHANNEL: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(child, 'exit');
  const { lines, logLine } = logLines(child, exited);
  const registry = defaultRegistry();
  const config = loadConfig({ REDIS_URL }, { prefix, workdir: path.join(dir, 'submitter') });
  const submitter = await Engine.create({ config, runbooks: loadRunbooksDir(RUNBOOKS_DIR, registry.catalog()), targets: loadTargets(TARGETS_FILE), registry, logger: silentLogger() });
  try {
    const started = await logLine((l) => l.msg === 'runwright started');
    assert.equal(started.role, 'worker');
    const base = (await logLine((l) => l.msg === 'worker health and metrics listening')).url as string;
    assert.equal(started.url, base);

    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true, redis: 'ok', consuming: true });
    assert.equal((await fetch(`${base}/openapi.json`)).status, 404, 'no API routes on the worker port');

    // Idle (started, consuming, nothing run yet): the runbooks and targets were parsed and validated in another
    // process (it loaded the YAML parser and zod), this one holds none of the loader, the config schema or the actions.
    const all = readFileSync(moduleLog, 'utf8').split('\n').filter(Boolean);
    const loader = all.filter((l) => !l.startsWith(`${child.pid} `) && /src\/cli\/serve-world\.ts$/.test(l));
    assert.equal(loader.length > 0, true, 'a child process ran src/cli/serve-world.ts');
    const loaderPid = loader[0]!.split(' ')[0]!;
    assert.ok(all.some((l) => l.startsWith(`${loaderPid} `) && l.includes('/node_modules/yaml/')), 'the loader process parsed YAML');
    assert.ok(all.some((l) => l.startsWith(`${loaderPid} `) && l.includes('/node_modules/zod/')), 'the loader process validated with zod');
    const lazy = /\/node_modules\/(zod|yaml|jsonata)\/|\/src\/(core\/runbook\.ts|config\/(config|targets)\.ts|actions\/(index|reference)\.ts|actions\/(builtin|git|sqlalchemy|deploy|alembic)\/)/;
    const idle = modulesOf(moduleLog, child.pid!);
    assert.ok(idle.some((l) => /src\/engine\/engine\.ts$/.test(l)), 'the log has the worker\'s own lines');
    assert.deepEqual([...new Set(idle.filter((l) => lazy.test(l)))].slice(0, 20), [], 'an idle worker loaded the runbook loader, zod, JSONata or action code');

    // The worker process runs a run submitted elsewhere (this test's engine has no worker).
    const res = await submitter.submit({ runbookId: 'disk-full', target: 'web', alert: { source: 'test', fingerprint: `wrole-${prefix}`, severity: 'error', text: 'the disk is full', labels: { service: 'web' }, receivedAt: new Date().toISOString() } });
    assert.notEqual(res.result, 'throttled');
    const run = await submitter.waitForEnd((res as { run: { id: string } }).run.id, 60_000);
    assert.equal(run.status, 'succeeded');

    // Metrics: the engine gauges under the API's names, and the step it just ran. The step-duration histogram
    // follows the event stream, so the scrape waits for that event to have reached the worker.
    let text = '';
    for (const t0 = Date.now(); Date.now() - t0 < 30_000; ) {
      const m = await fetch(`${base}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      text = await m.text();
      if (/runwright_step_duration_seconds_count\{runbook="disk-full",step="inspect",outcome="succeeded"\} 1/.test(text)) break;
      await new Promise((r) => submitter.store.redis.ping().then(r)); // one Redis round trip, not a timed sleep
    }
    assert.match(text, /^# TYPE runwright_runs gauge$/m);
    assert.match(text, /^runwright_runs\{status="succeeded",runbook="disk-full"\} 1$/m);
    assert.match(text, /^# TYPE runwright_queue_jobs gauge$/m);
    assert.match(text, /^runwright_workers_alive 1$/m);
    assert.match(text, /^# TYPE runwright_step_duration_seconds histogram$/m);
    assert.match(text, /^runwright_step_duration_seconds_bucket\{runbook="disk-full",step="inspect",outcome="succeeded",le="\+Inf"\} 1$/m);

    // What the process loaded, as the loader saw it. Having run a step, it has the actions (and zod) now.
    const loaded = modulesOf(moduleLog, child.pid!);
    assert.ok(loaded.some((l) => /src\/actions\/index\.ts$/.test(l)) && loaded.some((l) => l.includes('/node_modules/zod/')), 'the actions loaded with the first step');
    assert.ok(loaded.some((l) => l.includes('/node_modules/bullmq/')), 'the hook sees the worker\'s own modules (bullmq)');
    assert.ok(loaded.some((l) => /src\/engine\/engine\.ts$/.test(l)), 'the hook sees runwright\'s sources');
    const forbidden = loaded.filter((l) => /\/node_modules\/(fastify|@fastify\/|@google-cloud\/|google-auth-library|googleapis|google-gax|@slack\/|prom-client)/.test(l) || /\/src\/(api\/(app|dashboard|auth|runs|ops|intake|sessions|sse|metrics)|ui\/|adapters\/(gcp|slack)\/)/.test(l));
    assert.deepEqual([...new Set(forbidden)].slice(0, 20), [], 'serve --role worker loaded HTTP API / dashboard / SDK code');

    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(lines.some((l) => l.msg === 'runwright stopped'));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await submitter.close();
    await cleanupPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
});

// The worker validates its runbooks and configuration in a child process: what goes wrong there is reported as
// `serve` in-process reports it — a runbook's problem with file and line, a bad setting by its variable — exit 2.
test('serve --role worker: a bad runbook is refused with file and line, a bad setting by its variable (exit 2)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rw-wrole-bad-'));
  try {
    const runbooks = path.join(dir, 'runbooks');
    mkdirSync(runbooks);
    const bad = path.join(runbooks, 'bad.yaml');
    writeFileSync(bad, ['id: bad', 'title: a runbook naming an action that does not exist', 'match:', '  any:', '    - text: boom', 'steps:', '  - id: first', '    action: no_such_action', ''].join('\n'));
    const serve = async (env: Record<string, string>) => {
      const child = spawn(process.execPath, [BIN, 'serve', '--role', 'worker'], {
        cwd: ROOT,
        env: { ...process.env, RUNWRIGHT_FROM_SOURCE: '1', REDIS_URL, RUNWRIGHT_PREFIX: testPrefix('wbad'), RUNWRIGHT_RUNBOOKS: runbooks, RUNWRIGHT_TARGETS: TARGETS_FILE, RUNWRIGHT_WORKDIR: path.join(dir, 'work'), RUNWRIGHT_WORKER_PORT: '0', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      const [code] = await once(child, 'exit');
      return { code, err };
    };
    const r1 = await serve({});
    assert.equal(r1.code, 2, r1.err);
    assert.match(r1.err, new RegExp(`^error ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:8: .*unknown action 'no_such_action' \\(known: .*noop`, 'm'));
    const r2 = await serve({ RUNWRIGHT_WORKER_PORT: 'not-a-port' });
    assert.equal(r2.code, 2, r2.err);
    assert.match(r2.err, /^runwright: bad configuration: RUNWRIGHT_WORKER_PORT="not-a-port": /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
