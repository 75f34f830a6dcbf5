// A step's checkpoint asks git (`git status`) only about the checkouts its action may have changed
// (Action.changesCheckouts): none for an action that changes none, only the ones it made for 'made', every one it
// touched otherwise. What a 'made' step wrote into its own worktree still reaches another worker with an empty
// disk, and so does what it wrote into a worktree the port handed it again (a re-delivered step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalGit } from '../../src/adapters/local/git.js';
import { LocalWorkspace } from '../../src/adapters/local/workspace.js';
import type { Ports } from '../../src/ports/index.js';
import type { Target } from '../../src/core/types.js';
import { git, remoteAndClone, spawnsDuring } from '../helpers/git.js';

/** The folders `git status` ran in while `fn` ran. */
async function statusesDuring(fn: () => Promise<unknown>): Promise<string[]> {
  return (await spawnsDuring(fn)).filter((c) => path.basename(c.file) === 'git' && c.args.includes('status')).map((c) => String(c.cwd));
}

const quiet = { warn() {}, info() {} };

test('a checkpoint asks git only about the checkouts the action may have changed; what a made worktree holds reaches an empty disk', { timeout: 120_000 }, async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-checkpoint-'));
  try {
    const { bare, clone: seed, first: head } = remoteAndClone(root, 'seed');
    git(seed, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);

    const target = { name: 't', repo: bare, branch: 'main' } as Target;
    const runRec = { id: 'rcheckpt0123456789', target };
    const ports = { git: new LocalGit() } as unknown as Ports;
    const one = new LocalWorkspace(path.join(root, 'worker-1'));
    const dir = one.runDir(runRec.id);

    // changes 'none' (git.checkout): the clone the port made is as the port made it; git is not asked.
    let s = one.session(runRec, undefined, quiet);
    await s.ports(ports).git.clone(target, path.join(dir, 'repo'));
    let set: Record<string, string> = {};
    assert.deepEqual(await statusesDuring(async () => (set = await s.checkpoint(undefined, { changes: 'none' }))), []);
    let m = JSON.parse(set.ws!);
    assert.equal(m.entries.repo.head, head);

    // changes 'made' (sqlalchemy.apply_fix): a worktree made in the step and written to is looked at; the clone is not.
    s = one.session(runRec, set.ws, quiet);
    const repo = await s.ensure('repo');
    const wt = await s.ports(ports).git.worktree(repo, head, path.join(dir, 'wt', 'fix'));
    writeFileSync(path.join(wt, 'a.txt'), 'fixed\n');
    writeFileSync(path.join(wt, 'new.txt'), 'new\n');
    assert.deepEqual(await statusesDuring(async () => (set = await s.checkpoint(undefined, { changes: 'made' }))), [wt]);
    m = JSON.parse(set.ws!);
    assert.equal(m.entries.repo.head, head);
    assert.equal(m.entries['wt/fix'].head, head);
    assert.match(m.entries['wt/fix'].snap, /^[0-9a-f]{40}$/, 'what the step wrote is a snapshot commit');
    assert.match(git(root, ['--git-dir', bare, 'for-each-ref', `refs/runwright/runs/${runRec.id}`]), /commit/, 'published to the run ref');

    // The same worktree handed out again (a re-delivered step): it counts as made, so what is written now is kept too.
    s = one.session(runRec, set.ws, quiet);
    const again = await s.ports(ports).git.worktree(await s.ensure('repo'), head, path.join(dir, 'wt', 'fix'));
    assert.equal(again, wt);
    writeFileSync(path.join(wt, 'later.txt'), 'later\n');
    assert.deepEqual(await statusesDuring(async () => (set = await s.checkpoint(undefined, { changes: 'made' }))), [wt]);

    // Another worker with an empty disk gets the worktree as the run left it.
    const two = new LocalWorkspace(path.join(root, 'worker-2'));
    s = two.session(runRec, set.ws, quiet);
    const there = await s.ensure('wt/fix');
    assert.notEqual(there, wt);
    assert.equal(readFileSync(path.join(there, 'a.txt'), 'utf8'), 'fixed\n');
    assert.equal(readFileSync(path.join(there, 'new.txt'), 'utf8'), 'new\n');
    assert.equal(readFileSync(path.join(there, 'later.txt'), 'utf8'), 'later\n');

    // Undeclared: every checkout the step touched is looked at, and a change in one is published.
    writeFileSync(path.join(there, 'a.txt'), 'changed on worker 2\n');
    const before = JSON.parse(set.ws!).entries['wt/fix'].snap;
    assert.deepEqual(await statusesDuring(async () => (set = await s.checkpoint())), [there]);
    assert.notEqual(JSON.parse(set.ws!).entries['wt/fix'].snap, before);

    await one.release(runRec, set.ws);
    await two.dropLocal(runRec.id);
    assert.equal(git(root, ['--git-dir', bare, 'for-each-ref', 'refs/runwright']), '', 'the run ref is deleted');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
