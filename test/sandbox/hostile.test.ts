// A hostile target: its check (run by the real runCheck of the SQLAlchemy actions, through the process port) tries
// to read runwright's secrets from its environment, from /proc and from files; to write outside its checkout; to
// reach Redis, PostgreSQL and a port it was not given; and to take the machine down with a fork bomb or an endless
// loop. Runs under bubblewrap when the machine allows it (skips with the reason otherwise), and once more with the
// sandbox off to show what the allowlisted environment alone still guarantees.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleGit } from 'simple-git';
import type { Target } from '../../src/core/types.js';
import { LocalProcess } from '../../src/adapters/local/process.js';
import { sandboxStatus } from '../../src/adapters/local/sandbox.js';
import { runCheck } from '../../src/actions/sqlalchemy/lib/tool.js';
import { actionContext } from '../helpers/action-ctx.js';

const HOSTILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile.py');
const SECRET = `rw-secret-${Math.random().toString(36).slice(2)}${Date.now()}`;
const status = sandboxStatus('auto');
const noSandbox = status.kind === 'bwrap' ? false : `no sandbox on this machine: ${status.reason}`;

// runwright's own secrets, as a worker process would hold them
const SECRET_ENV: Record<string, string> = {
  RUNWRIGHT_API_TOKENS: `admin:${SECRET}`,
  RUNWRIGHT_INTAKE_TOKEN_GENERIC: SECRET,
  SLACK_BOT_TOKEN: `xoxb-${SECRET}`,
  SLACK_SIGNING_SECRET: SECRET,
  REDIS_URL: `redis://:${SECRET}@127.0.0.1:6379`,
  DATABASE_URL: `postgresql://postgres:${SECRET}@127.0.0.1:5432/postgres`,
};

let root: string;
let credsFile: string;
let listener: net.Server;
let listenerPort: number;
const accepted: string[] = [];
const saved: Record<string, string | undefined> = {};

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'rw-hostile-'));
  credsFile = path.join(root, 'google-credentials.json');
  writeFileSync(credsFile, JSON.stringify({ type: 'service_account', private_key: SECRET }));
  for (const [k, v] of Object.entries({ ...SECRET_ENV, GOOGLE_APPLICATION_CREDENTIALS: credsFile })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  listener = net.createServer((s) => {
    accepted.push('connection');
    s.end('hello\n');
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  listenerPort = (listener.address() as net.AddressInfo).port;
});

after(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise<void>((r) => listener.close(() => r()));
  rmSync(root, { recursive: true, force: true });
});

/** A run workdir holding a secret file, with the target's checkout (a real git clone) inside it. */
async function checkout(): Promise<{ workdir: string; dir: string }> {
  const workdir = mkdtempSync(path.join(root, 'work-'));
  writeFileSync(path.join(workdir, 'secret.txt'), SECRET);
  const dir = path.join(workdir, 'repo');
  mkdirSync(dir);
  copyFileSync(HOSTILE, path.join(dir, 'hostile.py'));
  const g = simpleGit(dir);
  await g.init(['--initial-branch=main']);
  await g.addConfig('user.name', 'Dev').addConfig('user.email', 'dev@example.com');
  await g.add(['-A']);
  await g.commit('hostile check');
  return { workdir, dir };
}

function target(command: string[], extra: Partial<Target> = {}): Target {
  return { name: 'hostile', repo: '/nonexistent', branch: 'main', modelsDir: 'app/models', platform: 'local', labels: {}, check: { command, timeoutMs: 60_000 }, ...extra };
}

/** Processes on the host whose command line carries `marker` (what a kill left behind). */
function survivors(marker: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function waitNoSurvivors(marker: string, ms = 30_000): Promise<number[]> {
  const until = Date.now() + ms;
  let left = survivors(marker);
  while (left.length && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    left = survivors(marker);
  }
  return left;
}

function marker(): string {
  return `rwmark${Math.random().toString(36).slice(2)}`;
}

describe('a hostile check under the sandbox', { skip: noSandbox }, () => {
  test('sees none of runwright secrets: not in its environment, not in /proc, not in files', async () => {
    const { workdir, dir } = await checkout();
    const t = target(['python3', 'hostile.py', 'probe', marker(), credsFile, workdir, '6379', '5432', String(listenerPort)], { runtime: { env: { APP_MODE: 'check' } } });
    const ctx = actionContext({ target: t, workdir });
    const r = await runCheck(ctx, dir);
    assert.equal(r.passed, true, r.output);
    assert.ok(!r.output.includes(SECRET), 'no secret anywhere in what the check could read');
    const report = JSON.parse(r.output);
    assert.deepEqual(Object.keys(report.env).filter((k) => k !== 'PWD').sort(), ['APP_MODE', 'HOME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'TMPDIR']);
    assert.equal(report.env.HOME, '/tmp/home');
    // its own pid namespace: only sandbox processes, and none of them carries runwright's environment
    assert.ok(!(String(process.pid) in report.proc) || !report.proc[String(process.pid)].cmdline.includes('node'), 'runwright is not visible');
    for (const [pid, p] of Object.entries(report.proc as Record<string, { cmdline: string } | string>)) {
      if (typeof p === 'object') assert.doesNotMatch(p.cmdline, /node|tsx|run-tests/, `pid ${pid} in the sandbox is not runwright`);
    }
    assert.match(report.files[credsFile], /^ERR /, 'the Google credentials file is not there');
    assert.match(report.files[path.join(workdir, 'secret.txt')], /^ERR /, 'nothing of the run workdir outside the checkout');
    assert.equal(r.runtime?.sandbox, 'bwrap');
  });

  test('writes only inside its checkout and its private /tmp', async () => {
    const { workdir, dir } = await checkout();
    const gitConfig = readFileSync(path.join(dir, '.git', 'config'), 'utf8');
    const m = marker();
    const r = await runCheck(actionContext({ target: target(['python3', 'hostile.py', 'probe', m, credsFile, workdir]), workdir }), dir);
    const w = JSON.parse(r.output).writes as Record<string, boolean>;
    assert.equal(w[path.join(dir, 'inside.txt')], true);
    assert.equal(w[`/tmp/${m}-tmp.txt`], true);
    assert.equal(existsSync(`/tmp/${m}-tmp.txt`), false, 'its /tmp is private');
    // the run workdir around the checkout lies under the host's /tmp here: inside, that is the private /tmp, so a
    // write there may succeed but never reaches the host
    assert.equal(existsSync(path.join(workdir, 'escape.txt')), false, 'nothing written next to the checkout on the host');
    for (const p of [path.join(dir, '.git', 'hooks', 'pre-commit'), path.join(dir, '.git', 'config'), '/etc/escape.txt', '/usr/escape.txt']) {
      assert.equal(w[p], false, `cannot write ${p}`);
      if (!p.endsWith('config')) assert.equal(existsSync(p), false, `${p} not created`);
    }
    assert.equal(readFileSync(path.join(dir, '.git', 'config'), 'utf8'), gitConfig, ".git stays runwright's");
    assert.equal(readFileSync(path.join(dir, 'inside.txt'), 'utf8'), 'pwned', 'the checkout itself is writable');
  });

  test('reaches no port it was not given: not Redis, not PostgreSQL, not a listener on the host', async () => {
    const { workdir, dir } = await checkout();
    const before = accepted.length;
    const r = await runCheck(actionContext({ target: target(['python3', 'hostile.py', 'probe', marker(), credsFile, workdir, '6379', '5432', String(listenerPort)]), workdir }), dir);
    const c = JSON.parse(r.output).connect as Record<string, boolean>;
    assert.deepEqual(c, { '6379': false, '5432': false, [String(listenerPort)]: false });
    assert.equal(accepted.length, before, 'the host listener saw no connection');
  });

  test('reaches exactly the endpoint runwright hands over (as for alembic and the scratch database), nothing else', async () => {
    const { workdir, dir } = await checkout();
    const proc = new LocalProcess();
    const before = accepted.length;
    const r = await proc.runTarget(['python3', 'hostile.py', 'probe', marker(), credsFile, workdir, '6379', '5432'], {
      root: dir,
      cwd: dir,
      target: target([]),
      endpoints: [{ env: 'GIVEN_URL', url: `postgresql://u:pw@localhost:${listenerPort}/db` }],
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(report.given, { host: '127.0.0.1', port: listenerPort, greeting: 'hello\n' }, 'a round trip through the forwarder');
    assert.equal(accepted.length, before + 1, 'the connection arrived on the host listener');
    assert.deepEqual(report.connect, { '6379': false, '5432': false });
  });

  test('a fork bomb is capped and dies with everything it forked at the step timeout', async () => {
    const { workdir, dir } = await checkout();
    const m = marker();
    const t = target(['python3', 'hostile.py', 'forkbomb', m], { runtime: { maxProcs: 32 } });
    t.check!.timeoutMs = 4000;
    const started = Date.now();
    await assert.rejects(runCheck(actionContext({ target: t, workdir }), dir), (e: any) => e.code === 'check_timeout');
    const took = Date.now() - started;
    assert.ok(took < 30_000, `killed at the timeout (took ${took} ms)`);
    assert.deepEqual(await waitNoSurvivors(m), [], 'nothing of it is left running');
  });

  test('the fork bomb reports the cap it hit (processes inside the sandbox are limited)', async () => {
    const { workdir, dir } = await checkout();
    const m = marker();
    const lines: string[] = [];
    const proc = new LocalProcess();
    const r = await proc.runTarget(['python3', 'hostile.py', 'forkbomb', m], { root: dir, cwd: dir, target: target([], { runtime: { maxProcs: 32 } }), timeoutMs: 4000, onLine: (_s, l) => lines.push(l) });
    assert.equal(r.timedOut, true);
    const report = JSON.parse(r.stdout.trim().split('\n')[0]!);
    assert.ok(report.refused, `fork was refused (${JSON.stringify(report)})`);
    assert.ok(report.forked < 32, `at most the cap (${report.forked})`);
    assert.deepEqual(await waitNoSurvivors(m), []);
  });

  test('the launchers outside the sandbox (pids-cgroup shim, timeout, bwrap) get none of the declared environment; the check inside gets all of it', async () => {
    const { workdir, dir } = await checkout();
    // Scripts a shell would run at start-up if the shim's environment carried ENV / BASH_ENV (outside the sandbox).
    const witness = path.join(root, `outside-${marker()}`);
    const script = path.join(root, `startup-${marker()}.sh`);
    writeFileSync(script, `echo ran > ${witness}\n`);
    const t = target(['python3', '-c', 'import json, os; print(json.dumps(dict(os.environ)))'], { runtime: { env: { ENV: script, BASH_ENV: script, LD_PRELOAD: '/nonexistent/evil.so', APP_MODE: 'x' } } });
    const r = await new LocalProcess().runTarget(t.check!.command, { root: dir, cwd: dir, target: t, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const env = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(env.APP_MODE, 'x');
    assert.equal(env.BASH_ENV, script, 'declared values reach the check, inside the sandbox');
    assert.equal(existsSync(witness), false, 'no start-up script ran outside the sandbox');
    // ld.so says once per process that it cannot preload the library: once — the check's interpreter, inside
    assert.equal(r.stderr.split('\n').filter((l) => l.includes('evil.so')).length, 1, r.stderr);
    assert.equal(r.run.sandbox, 'bwrap');
    rmSync(workdir, { recursive: true, force: true });
  });

  test('an endless loop dies at the step timeout', async () => {
    const { workdir, dir } = await checkout();
    const m = marker();
    const t = target(['python3', 'hostile.py', 'loop', m]);
    t.check!.timeoutMs = 2000;
    const started = Date.now();
    await assert.rejects(runCheck(actionContext({ target: t, workdir }), dir), (e: any) => e.code === 'check_timeout');
    assert.ok(Date.now() - started < 20_000);
    assert.deepEqual(await waitNoSurvivors(m), []);
  });
});

test('when the worker itself is killed, its sandbox still dies shortly after the deadline', { skip: noSandbox }, async () => {
  const { dir } = await checkout();
  const m = marker();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(path.dirname(HOSTILE), 'worker-proc.ts'), dir, '2000', '--', 'python3', 'hostile.py', 'loop', m], { stdio: 'ignore' });
  const looping = () => survivors(m).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/python3\0hostile.py\0loop'));
  const t0 = Date.now();
  while (looping().length === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  assert.ok(looping().length > 0, 'the endless loop runs in its sandbox');
  child.kill('SIGKILL'); // the worker is gone: no timer of its own will fire
  assert.deepEqual(await waitNoSurvivors(m, 60_000), [], 'the loop did not outlive its deadline');
  assert.ok(Date.now() - started < 2000 + 5000 + 20_000, `gone ${Date.now() - started} ms after it started (deadline 2 s + 5 s grace)`);
});

describe('without the sandbox (RUNWRIGHT_SANDBOX=off, or no user namespaces)', () => {
  test('the environment is still only the allowlist', async () => {
    const { dir } = await checkout();
    const proc = new LocalProcess({ sandbox: 'off' });
    assert.equal(proc.sandbox().kind, 'env-only');
    assert.match(proc.sandbox().reason ?? '', /RUNWRIGHT_SANDBOX=off/);
    // (only the environment: without the sandbox nothing stops the write probes, so they are not run here)
    const r = await proc.runTarget(['python3', '-c', 'import json, os; print(json.dumps({"env": dict(os.environ)}))'], { root: dir, cwd: dir, target: target([], { runtime: { env: { APP_MODE: 'x' } } }), timeoutMs: 60_000 });
    const report = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(report.env).filter((k) => k !== 'PWD').sort(), ['APP_MODE', 'HOME', 'LANG', 'PATH', 'TMPDIR']);
    assert.ok(!JSON.stringify(report.env).includes(SECRET));
    assert.ok(!report.env.HOME.startsWith(os.homedir()) || os.homedir() === '/', 'HOME is a private folder');
    assert.equal(r.run.sandbox, 'env-only');
  });

  test('an endless loop still dies at the timeout (process group)', async () => {
    const { dir } = await checkout();
    const m = marker();
    const r = await new LocalProcess({ sandbox: 'off' }).runTarget(['python3', 'hostile.py', 'loop', m], { root: dir, cwd: dir, target: target([]), timeoutMs: 1500 });
    assert.equal(r.timedOut, true);
    assert.deepEqual(await waitNoSurvivors(m), []);
  });
});
