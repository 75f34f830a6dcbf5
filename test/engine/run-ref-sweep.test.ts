// Orphaned run refs: a run whose worker died before the run ended leaves refs/runwright/runs/<run id> on the
// target's remote. The workspace sweep deletes the run refs of runs the store calls ended or does not know, once
// older than the grace period — and nothing else: live runs' refs, young refs, refs that only look like run refs,
// branches (runwright/<run id> review branches included) all stay as they were. A real bare remote, real git.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalWorkspace } from '../../src/adapters/local/workspace.js';
import type { Target } from '../../src/core/types.js';

const id = (n: number) => `rmx4v${String(n).padStart(2, '0')}abcd0123456789`; // the engine's run id shape

function gitIn(cwd: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', ...env } }).trim();
}

function remoteRefs(remote: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of gitIn(remote, ['for-each-ref', '--format=%(refname) %(objectname)']).split('\n').filter(Boolean)) {
    const [ref, sha] = line.split(' ');
    out.set(ref!, sha!);
  }
  return out;
}

/** A bare remote with one commit on main, and the clone it was pushed from (where the tests make anchors). */
function baseRemote(root: string): { remote: string; seed: string } {
  const remote = path.join(root, 'svc.git');
  const seed = path.join(root, 'seed');
  mkdirSync(seed);
  gitIn(root, ['init', '-q', '--bare', '--initial-branch=main', remote]);
  gitIn(seed, ['init', '-q', '--initial-branch=main']);
  writeFileSync(path.join(seed, 'a.txt'), 'a\n');
  gitIn(seed, ['add', '-A']);
  gitIn(seed, ['commit', '-q', '-m', 'base']);
  gitIn(seed, ['push', '-q', remote, 'main']);
  return { remote, seed };
}

test('the sweep deletes orphaned run refs on the remote (ended or unknown runs, past the grace period) and nothing else', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-refsweep-'));
  try {
    const { remote, seed } = baseRemote(root);
    // Anchors as the workspace makes them (empty tree, parent: the run's commit), two days old or fresh.
    const anchor = (when: string, parent = 'HEAD') => gitIn(seed, ['commit-tree', '4b825dc642cb6eb9a060e54bf8d69288fbee4904', '-p', parent, '-m', 'runwright run'], { GIT_COMMITTER_DATE: when, GIT_AUTHOR_DATE: when });
    const old = anchor(new Date(Date.now() - 2 * 86_400_000).toISOString());
    const fresh = anchor(new Date().toISOString());
    const refs: Record<string, string> = {
      [`refs/runwright/runs/${id(1)}`]: old, // ended run: swept
      [`refs/runwright/runs/${id(2)}`]: old, // unknown to the store: swept
      [`refs/runwright/runs/${id(3)}`]: old, // live run: kept
      [`refs/runwright/runs/${id(4)}`]: fresh, // unknown but younger than the grace period: kept
      'refs/runwright/runs/not-a-run-id': old, // not a run id: never touched
      [`refs/runwright/other/${id(2)}`]: old, // another namespace: never touched
      [`refs/heads/runwright/${id(1)}`]: old, // the run's review branch: never touched
    };
    for (const [ref, sha] of Object.entries(refs)) gitIn(seed, ['push', '-q', remote, `${sha}:${ref}`]);
    const before = remoteRefs(remote);

    const status: Record<string, string> = { [id(1)]: 'succeeded', [id(3)]: 'running' };
    const asked: string[] = [];
    const isLive = async (runId: string) => {
      asked.push(runId);
      const st = status[runId];
      return !!st && !['succeeded', 'failed', 'escalated', 'cancelled', 'refused'].includes(st);
    };
    const target: Target = { name: 'svc', repo: remote, branch: 'main', modelsDir: 'm', platform: 'local', labels: {} };
    const ws = new LocalWorkspace(path.join(root, 'work'));
    const deleted = await ws.sweepRunRefs(target, isLive, { graceMs: 3_600_000 });
    assert.deepEqual(deleted.sort(), [id(1), id(2)]);
    const after = remoteRefs(remote);
    const expected = new Map(before);
    expected.delete(`refs/runwright/runs/${id(1)}`);
    expected.delete(`refs/runwright/runs/${id(2)}`);
    assert.deepEqual(after, expected, 'exactly the two orphans are gone; every other ref is where it was');
    assert.ok(!asked.includes('not-a-run-id'), 'a ref that is not a run id is not even looked up');
    // The mirror keeps no scratch refs of the sweep.
    const mirrors = path.join(root, 'work', '.mirrors');
    const [mirror] = execFileSync('ls', [mirrors], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(gitIn(path.join(mirrors, mirror!), ['for-each-ref', 'refs/runwright/']), '');

    // A run ref that moved since it was seen is not deleted (compare-and-delete): the ended run 3 with a newer anchor.
    status[id(3)] = 'failed';
    const moved = anchor(new Date(Date.now() - 86_400_000).toISOString(), old); // a fast-forward, as the workspace publishes
    let calls = 0;
    const racing = async (runId: string) => {
      // The run ref moves after the sweep listed it (a re-delivered step publishing), before it deletes.
      if (runId === id(3) && calls++ === 0) gitIn(seed, ['push', '-q', remote, `${moved}:refs/runwright/runs/${id(3)}`]);
      return isLive(runId);
    };
    assert.deepEqual(await ws.sweepRunRefs(target, racing, { graceMs: 3_600_000 }), []);
    assert.equal(remoteRefs(remote).get(`refs/runwright/runs/${id(3)}`), moved, 'a run ref that moved since the listing is left alone');

    // Through the periodic workspace sweep, as the worker runs it: once the fresh one is past the grace period.
    ws.sweepRunRefsOf([target], { graceMs: 0, everyMs: 0 });
    await ws.sweep(isLive);
    await ws.remoteSweep;
    const last = remoteRefs(remote);
    assert.equal(last.get(`refs/runwright/runs/${id(4)}`), undefined, 'the unknown run\'s ref, now past the grace period');
    assert.equal(last.get(`refs/runwright/runs/${id(3)}`), undefined, 'the ended run\'s ref');
    for (const ref of ['refs/heads/main', 'refs/runwright/runs/not-a-run-id', `refs/runwright/other/${id(2)}`, `refs/heads/runwright/${id(1)}`]) assert.equal(last.get(ref), before.get(ref), `${ref} untouched`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('two deployments sharing a remote: the sweep deletes only run refs its own store wrote (or unmarked legacy ones)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-refsweep-'));
  try {
    const { remote, seed } = baseRemote(root);
    const ours = new LocalWorkspace(path.join(root, 'work-a'), { mirrorBudgetBytes: 1 << 30, store: 'rw-prod-a' });
    const theirs = new LocalWorkspace(path.join(root, 'work-b'), { mirrorBudgetBytes: 1 << 30, store: 'rw-prod-b' });
    const when = new Date(Date.now() - 2 * 86_400_000).toISOString();
    // Anchors with each workspace's own message, two days old (a run parked at an approval for two days).
    const anchor = (msg: string) => gitIn(seed, ['commit-tree', '4b825dc642cb6eb9a060e54bf8d69288fbee4904', '-p', 'HEAD', '-m', msg], { GIT_COMMITTER_DATE: when, GIT_AUTHOR_DATE: when });
    assert.match(ours.anchorMessage(id(1)), /\n\nRunwright-Store: rw-prod-a$/);
    const refs: Record<string, string> = {
      [`refs/runwright/runs/${id(1)}`]: anchor(ours.anchorMessage(id(1))), // ours, unknown to our store: swept
      [`refs/runwright/runs/${id(2)}`]: anchor(theirs.anchorMessage(id(2))), // the other deployment's parked run: kept
      [`refs/runwright/runs/${id(3)}`]: anchor(`runwright run ${id(3)}`), // written before the trailer: as before, swept
      [`refs/runwright/runs/${id(4)}`]: anchor(`runwright run ${id(4)}\n\nRunwright-Store: rw-prod-a-2`), // a store whose name starts like ours: kept
    };
    for (const [ref, sha] of Object.entries(refs)) gitIn(seed, ['push', '-q', remote, `${sha}:${ref}`]);
    const target: Target = { name: 'svc', repo: remote, branch: 'main', modelsDir: 'm', platform: 'local', labels: {} };
    const unknown = async () => false; // our store knows none of them
    assert.deepEqual((await ours.sweepRunRefs(target, unknown, { graceMs: 3_600_000 })).sort(), [id(1), id(3)]);
    const after = remoteRefs(remote);
    assert.equal(after.get(`refs/runwright/runs/${id(2)}`), refs[`refs/runwright/runs/${id(2)}`], "the other deployment's run ref is untouched");
    assert.equal(after.get(`refs/runwright/runs/${id(4)}`), refs[`refs/runwright/runs/${id(4)}`]);
    assert.equal(after.get(`refs/runwright/runs/${id(1)}`), undefined);
    assert.equal(after.get(`refs/runwright/runs/${id(3)}`), undefined);
    // The other deployment sweeps its own.
    assert.deepEqual(await theirs.sweepRunRefs(target, unknown, { graceMs: 3_600_000 }), [id(2)]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
