// Steps name checkouts, not paths. A crafted checkout name (`../x`, an absolute path, `repo/../../etc`, one the run
// does not have) fails its step permanently with a message naming the field, nothing written. A runbook in the old
// form (`dir: "{{ steps.checkout.output.dir }}"`) still runs for one release — on an engine that forgets the run's
// folder before every step, as a fresh worker would — and its loader lists each deprecated `dir` by line and step.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alert, loadTestRunbooks, testConfig, testEngine } from '../helpers/engine.js';
import { testPrefix } from '../helpers/redis.js';
import { seedAlertText } from '../helpers/seed-alert.js';
import { oldStyleRunbook } from '../helpers/old-style-runbook.js';
import { parseRunbook } from '../../src/core/runbook.js';
import { defaultRegistry } from '../../src/actions/index.js';
import { LocalWorkspace } from '../../src/adapters/local/workspace.js';
import { createSampleService } from '../../src/demo/sample-service.js';
import { checkoutNameProblem, checkoutRel, knownCheckouts, emptyManifest } from '../../src/core/workspace.js';
import { RunwrightError } from '../../src/core/errors.js';
import type { RunRecord } from '../../src/core/types.js';
import type { WorkspacePort } from '../../src/ports/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SQLA = path.resolve(here, '..', '..', 'runbooks', 'sqlalchemy-mapper-failure.yaml');
const PYTHON = '/usr/bin/python3';
const NO_SQLA = spawnSync(PYTHON, ['-c', 'import sqlalchemy'], { encoding: 'utf8' }).status === 0 ? false : `${PYTHON} cannot import sqlalchemy`;
const root = mkdtempSync(path.join(os.tmpdir(), 'rw-checkout-names-'));
after(() => rmSync(root, { recursive: true, force: true }));

const git = (cwd: string, args: string[]) => {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

test('a checkout name: relative, no . or .., a manifest entry or the main clone', () => {
  for (const ok of ['repo', 'wt/fix-A-v1', 'wt/base-0123456789ab', 'other_clone']) assert.equal(checkoutNameProblem(ok), null, ok);
  for (const bad of ['', '../x', '/etc', '/tmp/rw/r123/repo', 'repo/../../etc', 'wt/./x', 'wt//x', 'wt/', '.git', 'a\\b', 'C:/x', 'x'.repeat(201)]) {
    assert.notEqual(checkoutNameProblem(bad), null, bad);
    assert.throws(() => checkoutRel(bad, () => true), (e: unknown) => e instanceof RunwrightError && e.code === 'bad_checkout' && e.retryable === false, bad);
  }
  const m = emptyManifest();
  m.entries['wt/fix-A-v1'] = { kind: 'worktree', repo: 'repo', head: 'a'.repeat(40) };
  assert.equal(checkoutRel('repo', knownCheckouts(m)), 'repo');
  assert.equal(checkoutRel('wt/fix-A-v1', knownCheckouts(m)), 'wt/fix-A-v1');
  assert.throws(() => checkoutRel('wt/fix-B-v1', knownCheckouts(m)), (e: unknown) => e instanceof RunwrightError && e.code === 'unknown_checkout' && /no checkout "wt\/fix-B-v1"/.test(e.message));
  assert.throws(() => checkoutRel('toString', knownCheckouts(m)), (e: unknown) => e instanceof RunwrightError && e.code === 'unknown_checkout');
});

test('a crafted checkout name fails its step permanently, naming the field; nothing is committed', { timeout: 120_000 }, async () => {
  const file = path.join(root, 'crafted.yaml');
  writeFileSync(
    file,
    [
      'id: crafted-checkout',
      'title: commit in whatever checkout the input names',
      'match: { any: [ { text: crafted } ] }',
      'inputs:',
      '  name: { type: string, default: repo }',
      'steps:',
      '  - id: checkout',
      '    action: git.checkout',
      '    next: commit',
      '  - id: commit',
      '    action: git.commit',
      '    with:',
      '      checkout: "{{ inputs.name }}"',
      '      paths: [README.md]',
      '      subject: s',
      '      fixes: f',
      '    next: done',
      '  - id: done',
      '    end: succeeded',
      '',
    ].join('\n'),
  );
  const t = await testEngine({ runbooks: loadTestRunbooks([file]) });
  try {
    const tg = (await createSampleService(path.join(root, 'crafted'), { name: 'crafted', python: PYTHON })).target;
    const head = git(root, ['--git-dir', tg.repo, 'rev-parse', 'main']);
    const cases: [string, string, RegExp][] = [
      ['../x', 'bad_params', /checkout: .*'\.\.'/],
      [path.join(root, 'crafted'), 'bad_params', /checkout: .*absolute path/],
      ['repo/../../etc', 'bad_params', /checkout: .*'\.\.'/],
      ['wt/nope', 'unknown_checkout', /no checkout "wt\/nope"/],
    ];
    for (const [name, code, message] of cases) {
      const res = await t.engine.submit({ runbookId: 'crafted-checkout', alert: alert('crafted'), target: tg, inputs: { name } });
      const run = await t.engine.waitForEnd((res as { run: RunRecord }).run.id, 60_000);
      assert.equal(run.status, 'failed', name);
      const err = run.steps.commit?.error;
      assert.equal(err?.code, code, `${name}: ${JSON.stringify(err)}`);
      assert.equal(err?.retryable, false, name);
      assert.match(err!.message, message, name);
      assert.equal(run.steps.commit?.attempt, 1, `${name}: a permanent error is not retried`);
    }
    assert.equal(git(root, ['--git-dir', tg.repo, 'rev-parse', 'main']), head, 'nothing reached the remote');
  } finally {
    await t.close();
  }
});

test('deprecated for one release: the old form of the SQLAlchemy runbook (dir: output.dir) still fixes the seed incident when every step lands on a fresh disk', { timeout: 300_000, skip: NO_SQLA }, async () => {
  const old = oldStyleRunbook(SQLA);
  const file = path.join(root, 'old-style.yaml');
  writeFileSync(file, old.source);
  const rb = parseRunbook(old.source, file, defaultRegistry().catalog());
  // Every deprecated dir is listed, at its own line, with its step.
  assert.deepEqual(rb.warnings.map((w) => w.step), old.steps);
  const lines = old.source.split('\n');
  for (const w of rb.warnings) {
    assert.equal(w.file, file);
    assert.match(lines[w.line! - 1]!, /^\s+dir: "\{\{ steps\.\w+\.output\.dir \}\}"$/, `${w.step}: line ${w.line}`);
    assert.match(w.message, /'dir' of [\w.]+ is deprecated/);
  }
  assert.deepEqual(parseRunbook(old.source.replace(/^\s+dir: .*\n/gm, ''), file, defaultRegistry().catalog()).warnings, [], 'the new form has none');

  const prefix = testPrefix('oldstyle');
  const config = testConfig(prefix, { local: { platformDir: path.join(root, 'platform') } } as never);
  // A worker that forgets the run's folder before every step: each step materialises what it names from git.
  const local = new LocalWorkspace(config.workdir);
  const wiped: string[] = [];
  const workspace: WorkspacePort = {
    runDir: (id) => local.runDir(id),
    session: (run, m, log) => {
      rmSync(local.runDir(run.id), { recursive: true, force: true });
      wiped.push(run.id);
      return local.session(run, m, log);
    },
    release: (run, m) => local.release(run, m),
    dropLocal: (id) => local.dropLocal(id),
    sweep: (live) => local.sweep(live),
  };
  const t = await testEngine({ runbooks: new Map([[rb.id, rb]]), prefix, config, workspace, stickySteps: 0 });
  try {
    const text = await seedAlertText(root, PYTHON);
    const svc = await createSampleService(path.join(root, 'seed'), { name: 'oldstyle', python: PYTHON });
    const head = git(root, ['--git-dir', svc.remote, 'rev-parse', 'main']);
    const res = await t.engine.submit({ runbookId: rb.id, alert: alert(text, { labels: { service: 'oldstyle' } }), target: svc.target, autoApprove: true });
    const run = await t.engine.waitForEnd((res as { run: RunRecord }).run.id, 240_000);
    const errs = Object.entries(run.steps).filter(([, s]) => s.error).map(([k, s]) => `${k}: ${s.error!.message}`);
    assert.equal(run.status, 'succeeded', `${run.outcome}\n${errs.join('\n')}`);
    assert.ok(wiped.length >= old.steps.length, 'every step started on an empty disk');
    assert.equal(git(root, ['--git-dir', svc.remote, 'rev-list', '--count', `${head}..main`]), '1', 'one fix commit');
    assert.equal(git(root, ['--git-dir', svc.remote, 'for-each-ref', 'refs/runwright']), '', 'no run ref left');
    // The new outputs are there alongside the deprecated ones.
    assert.equal(run.steps.checkout?.output && (run.steps.checkout.output as { checkout: string }).checkout, 'repo');
    assert.match((run.steps.apply?.output as { checkout: string }).checkout, /^wt\/fix-[ABC]-v1-[0-9a-f]{8}$/);
  } finally {
    await t.close();
    rmSync(config.workdir, { recursive: true, force: true });
  }
});
