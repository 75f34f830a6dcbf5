// Every input or infrastructure failure of the CLI: one line naming the thing to fix, the documented exit code
// (2 bad usage, 1 failed), no stack trace; Redis down fails within seconds naming the address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { assertNoTrace, cli, ROOT, sample, type Sample } from './helpers.js';

let s: Sample;
before(async () => {
  s = await sample();
});
after(() => rmSync(s.dir, { recursive: true, force: true }));

const lines = (t: string) => t.trim().split('\n').filter(Boolean);

test('--version prints the package version', async () => {
  const r = await cli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
});

test('run without a runbook says the runbook is missing (exit 2) and lists the runbooks', async () => {
  const r = await cli(['run', '--alert', s.alertFile]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /which runbook\?/);
  assert.match(r.stderr, /sqlalchemy-mapper-failure/);
  assert.doesNotMatch(r.stderr, /--alert.*not specified/);
  assertNoTrace(r.stderr);
});

test('run without --alert names the option (exit 2)', async () => {
  const r = await cli(['run', 'sqlalchemy-mapper-failure']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no alert: .*--alert FILE/);
});

test('an alert file that is missing, a folder, or broken JSON: exit 2 naming the file, one line', async () => {
  const bad = path.join(s.dir, 'broken.json');
  writeFileSync(bad, '{"text": "failed to locate a name",\n');
  const cases: [string, RegExp][] = [
    [path.join(s.dir, 'no-such-alert.json'), /alert file .*no-such-alert\.json: not found/],
    [s.dir, /alert file .*: is a folder, not a file/],
    [bad, /alert file .*broken\.json: .*not valid JSON/],
  ];
  for (const [file, re] of cases) {
    const r = await cli([...s.runArgs.map((a) => (a === s.alertFile ? file : a))], { env: s.env });
    assert.equal(r.code, 2, `${file}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(lines(r.stderr).length, 1, r.stderr);
    assertNoTrace(r.stderr);
  }
});

test('a plain-text alert is fine: it is the error text, not JSON', async () => {
  // Dry run so this stays cheap; what matters is that the text file is accepted.
  const r = await cli([...s.runArgs, '--dry-run'], { env: s.env });
  assert.notEqual(r.code, 2, r.stderr);
  assertNoTrace(r.stderr + r.stdout);
});

test('targets: a missing file or an unknown target is bad usage naming it', async () => {
  const missing = await cli(s.runArgs.map((a) => (a === s.targetsFile ? '/nonexistent/targets.yaml' : a)), { env: s.env });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /targets file not found: \/nonexistent\/targets\.yaml/);
  const unknown = await cli(s.runArgs.map((a) => (a === 'content-worker' ? 'no-such-service' : a)), { env: s.env });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown target 'no-such-service' \(known: content-worker\)/);
});

/** A port where nothing listens (bound, then closed). */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('Redis unreachable: exit 1 within 3 s of start-up, naming the address and REDIS_URL, no trace', async () => {
  const port = await deadPort();
  // The process start-up (node + tsx compiling the sources `run` loads: `validate` loads the same commands module,
  // and needs no Redis) is measured separately: the machine may be busy.
  const startup = await cli(['validate', '/nonexistent/runbook.yaml'], { env: s.env });
  assert.equal(startup.code, 1, startup.stderr);
  const r = await cli(s.runArgs, { env: { ...s.env, REDIS_URL: `redis://:secretpw@127.0.0.1:${port}` } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`Redis is not answering at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(REDIS_URL\\): ECONNREFUSED`));
  assert.doesNotMatch(r.stderr, /secretpw/);
  assert.equal(lines(r.stderr).length, 1, r.stderr);
  assertNoTrace(r.stderr);
  assert.ok(r.ms - startup.ms < 3000, `took ${r.ms} ms against a start-up of ${startup.ms} ms`);
});

test('configuration errors name the environment variable, not the internal path (exit 2)', async () => {
  const port = await cli(['validate'], { env: { PORT: 'eighty' } });
  assert.equal(port.code, 2);
  assert.match(port.stderr, /PORT="eighty"/);
  assert.doesNotMatch(port.stderr, /http\.port/);
  const redis = await cli(s.runArgs, { env: { ...s.env, REDIS_URL: 'not a url' } });
  assert.equal(redis.code, 2);
  assert.match(redis.stderr, /REDIS_URL="not a url"/);
  assert.doesNotMatch(redis.stderr, /redisUrl/);
  const conc = await cli(s.runArgs, { env: { ...s.env, RUNWRIGHT_WORKER_CONCURRENCY: '0' } });
  assert.equal(conc.code, 2);
  assert.match(conc.stderr, /RUNWRIGHT_WORKER_CONCURRENCY="0"/);
  for (const r of [port, redis, conc]) assertNoTrace(r.stderr);
});

test('validate: a YAML syntax error points at the line to fix; an unknown action lists the known ones', async () => {
  const dir = path.join(s.dir, 'rb');
  mkdirSync(dir, { recursive: true });
  const indent = path.join(dir, 'indent.yaml');
  // line 6 is indented one space too far: the mistake is on line 6, not line 5
  writeFileSync(indent, 'id: x\ntitle: t\nmatch: { any: [ { text: a } ] }\nsteps:\n  - id: a\n    action: noop\n     next: b\n  - id: b\n    end: succeeded\n');
  const tabs = path.join(dir, 'tabs.yaml');
  writeFileSync(tabs, 'id: x\ntitle: t\nmatch: { any: [ { text: a } ] }\nsteps:\n  - id: a\n\taction: noop\n');
  const unknown = path.join(dir, 'unknown.yaml');
  writeFileSync(unknown, 'id: u\ntitle: t\nmatch: { any: [ { text: a } ] }\nsteps:\n  - id: a\n    action: git.pull\n    next: b\n  - id: b\n    end: succeeded\n');
  const r = await cli(['validate', indent, tabs, unknown]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${indent.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:7:\\d+: YAML: Implicit keys need to be on a single line`));
  assert.match(r.stderr, /tabs\.yaml:6:1: YAML: Tabs are not allowed as indentation/);
  assert.doesNotMatch(r.stderr, / at line \d+, column \d+/);
  const m = /unknown\.yaml:6: step 'a' \(steps\[0\]\.action\) unknown action 'git\.pull' \(known: ([^)]+)\)/.exec(r.stderr);
  assert.ok(m, r.stderr);
  for (const a of ['git.checkout', 'git.push', 'sqlalchemy.identify', 'deploy.rollback', 'noop']) assert.ok(m[1]!.split(', ').includes(a), a);
});

test('serve with no API tokens and no targets warns loudly and says what it loaded', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'runwright.js'), 'serve', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, ...s.env, RUNWRIGHT_FROM_SOURCE: '1', RUNWRIGHT_API_TOKENS: '', RUNWRIGHT_TARGETS: path.join(s.dir, 'none.yaml'), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (/runwright started/.test(out)) {
          clearInterval(t);
          resolve();
        }
      }, 100);
      child.on('close', (c) => reject(new Error(`serve exited ${c}: ${out}`)));
    });
  } finally {
    child.kill('SIGTERM');
  }
  assert.match(out, /runwright serve: 2 runbooks from runbooks\/: alembic-autogenerate-failure, sqlalchemy-mapper-failure/);
  assert.match(out, /runwright serve: 0 targets from .*none\.yaml/);
  assert.match(out, /WARNING: no API tokens \(RUNWRIGHT_API_TOKENS\): nobody can sign in/);
  assert.match(out, /WARNING: no targets \(.*none\.yaml not found; RUNWRIGHT_TARGETS\)/);
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('close', r)));
});
