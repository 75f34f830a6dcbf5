// Nothing left behind: after 50 runs that clone their target (succeeded, escalated, failed, cancelled) the work
// folder holds only mirrors, one per target; a run folder orphaned by a dead worker is swept at start-up; the
// mirrors stay within their disk budget, least recently used evicted first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { engineRunbooks, alert, target, testConfig, testEngine } from '../helpers/engine.js';
import { newRunId } from '../../src/engine/engine.js';
import { RUN_ID } from '../../src/core/workspace.js';
import { LocalWorkspace } from '../../src/adapters/local/workspace.js';
import { isTerminal, type RunRecord, type Target } from '../../src/core/types.js';
import { testPrefix } from '../helpers/redis.js';

const run = (cwd: string, args: string[]) => {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};

/** A bare remote with one commit on main. */
function remote(root: string, name: string): Target {
  const seed = path.join(root, `${name}-seed`);
  const bare = path.join(root, `${name}.git`);
  mkdirSync(seed, { recursive: true });
  run(root, ['init', '-q', '--bare', '--initial-branch=main', bare]);
  run(seed, ['init', '-q', '--initial-branch=main']);
  writeFileSync(path.join(seed, 'README.md'), `# ${name}\n`);
  run(seed, ['add', '-A']);
  run(seed, ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'init']);
  run(seed, ['push', '-q', bare, 'main']);
  return target(name, { repo: bare });
}

const contents = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

test('after 50 runs the work folder holds only mirrors; orphans are swept at start-up', { timeout: 300_000 }, async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-cleanup-'));
  const prefix = testPrefix('cleanup');
  const config = testConfig(prefix);
  // A run folder left by a worker that died (its run long gone from the store): swept when a worker starts.
  const orphan = path.join(config.workdir, newRunId());
  mkdirSync(path.join(orphan, 'repo'), { recursive: true });
  const t = await testEngine({ runbooks: engineRunbooks('git-cheap'), prefix, config });
  try {
    assert.equal(existsSync(orphan), false, 'the orphaned run folder was swept at start-up');
    const targets = Array.from({ length: 5 }, (_, i) => remote(root, `cheap${i}`));
    const ends = ['ok', 'escalate', 'fail'] as const;
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await t.engine.submit({ runbookId: 'git-cheap', alert: alert('cheap'), target: targets[i % targets.length]!, inputs: { end: ends[i % 3] } });
      assert.equal(res.result, 'created');
      ids.push((res as { run: RunRecord }).run.id);
    }
    // A few are cancelled while they wait for their target's lock or run.
    for (const id of ids.slice(45)) await t.engine.cancel(id, 'tester').catch(() => undefined);
    const finals = await Promise.all(ids.map((id) => t.engine.waitFor(id, (r) => isTerminal(r.status), 240_000)));
    const by = (s: string) => finals.filter((r) => r.status === s).length;
    assert.ok(by('succeeded') >= 10 && by('escalated') >= 10 && by('failed') >= 10, `a mix of ends: ${finals.map((r) => r.status).join(',')}`);
    const left = contents(config.workdir);
    assert.deepEqual(left.filter((n) => RUN_ID.test(n)), [], 'no run folder remains');
    assert.deepEqual(left.filter((n) => n !== '.mirrors'), [], `only mirrors remain: ${left.join(', ')}`);
    assert.equal(contents(path.join(config.workdir, '.mirrors')).length, targets.length, 'one mirror per target');
    // No run ref on any remote.
    for (const tg of targets) assert.equal(run(root, ['--git-dir', tg.repo, 'for-each-ref', 'refs/runwright']), '');
  } finally {
    await t.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(config.workdir, { recursive: true, force: true });
  }
});

function size(p: string): number {
  return readdirSync(p, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? size(path.join(p, e.name)) : statSync(path.join(p, e.name)).size), 0);
}

test('mirrors stay within their disk budget: the least recently used are evicted first', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-mirrors-'));
  const prefix = testPrefix('mirrors');
  const config = testConfig(prefix);
  const t = await testEngine({ runbooks: engineRunbooks('git-cheap'), prefix, config });
  try {
    const targets = Array.from({ length: 3 }, (_, i) => remote(root, `mir${i}`));
    for (const tg of targets) {
      const res = await t.engine.submit({ runbookId: 'git-cheap', alert: alert('cheap'), target: tg });
      const r = await t.engine.waitForEnd((res as { run: RunRecord }).run.id, 60_000);
      assert.equal(r.status, 'succeeded', r.outcome);
    }
    const mirrors = path.join(config.workdir, '.mirrors');
    const all = contents(mirrors).map((n) => ({ n, at: statSync(path.join(mirrors, n)).mtimeMs, size: size(path.join(mirrors, n)) })).sort((a, b) => b.at - a.at);
    assert.equal(all.length, 3);
    // A budget with room for the most recently used mirror only.
    const ws = new LocalWorkspace(config.workdir, { mirrorBudgetBytes: all[0]!.size + Math.min(all[1]!.size, all[2]!.size) - 1 });
    const swept = await ws.sweep(async () => false);
    assert.equal(swept.mirrors, 2, JSON.stringify({ swept, all }));
    assert.deepEqual(contents(mirrors), [all[0]!.n], 'the most recently used mirror is the one kept');
    // Runs go on without the evicted mirrors (made again from the remote).
    const res = await t.engine.submit({ runbookId: 'git-cheap', alert: alert('cheap'), target: targets[0]! });
    assert.equal((await t.engine.waitForEnd((res as { run: RunRecord }).run.id, 60_000)).status, 'succeeded');
    assert.equal(contents(mirrors).length, 2);
  } finally {
    await t.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(config.workdir, { recursive: true, force: true });
  }
});
