// The local git adapter's shortcuts around git processes keep git's own semantics: a worktree removed without a
// git process leaves what `git worktree remove --force` leaves (and touches nothing a forged .git file points at);
// a push names its remote from --porcelain; a build's "is it on the remote" is true for a branch tip and for an
// ancestor, false for a commit the remote lacks; a clone from the mirror records the real remote as origin; HEAD read
// from git's files is what `git rev-parse HEAD` says, and git is asked whenever the files do not say it plainly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalGit, headOf, worktreeAdminDir } from '../../src/adapters/local/git.js';
import { LocalWorkspace } from '../../src/adapters/local/workspace.js';
import type { Target } from '../../src/core/types.js';
import { git, remoteAndClone, spawnsDuring } from '../helpers/git.js';

/** A bare remote with two commits on main, and a clone of it. */
function setup() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'rw-local-git-'));
  const { bare, clone, first } = remoteAndClone(root, 'clone');
  writeFileSync(path.join(clone, 'a.txt'), 'two\n');
  git(clone, ['commit', '-q', '-am', 'two']);
  const second = git(clone, ['rev-parse', 'HEAD']);
  git(clone, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
  return { root, bare, clone, first, second };
}

/** setup() with a worktree of the first commit at wt/<name>; everything removed afterwards. */
async function withWorktree(name: string, fn: (o: ReturnType<typeof setup> & { g: LocalGit; wt: string }) => Promise<void>) {
  const o = setup();
  try {
    const g = new LocalGit();
    const wt = path.join(o.root, 'wt', name);
    await g.worktree(o.clone, o.first, wt);
    await fn({ ...o, g, wt });
  } finally {
    rmSync(o.root, { recursive: true, force: true });
  }
}

test('a worktree is removed like `git worktree remove --force`: its files and its admin folder, nothing it links to', async () => {
  await withWorktree('x', async ({ root, clone, first, g, wt }) => {
    const admin = worktreeAdminDir(clone, wt);
    assert.ok(admin && existsSync(admin) && admin.startsWith(path.join(clone, '.git', 'worktrees')), String(admin));
    // what a check may leave behind: changed and new files, and a symlink out of the worktree
    const outside = path.join(root, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'keep.txt'), 'keep\n');
    writeFileSync(path.join(wt, 'a.txt'), 'changed\n');
    writeFileSync(path.join(wt, 'new.txt'), 'new\n');
    symlinkSync(outside, path.join(wt, 'link'));
    await g.removeWorktree(clone, wt);
    assert.equal(existsSync(wt), false);
    assert.equal(existsSync(admin), false);
    assert.equal(readFileSync(path.join(outside, 'keep.txt'), 'utf8'), 'keep\n', 'a symlink is removed, never followed');
    // git sees one worktree (the clone), nothing prunable; the same path takes a worktree again
    assert.doesNotMatch(git(clone, ['worktree', 'list', '--porcelain']), /worktree .*wt\/x|prunable/);
    await g.worktree(clone, first, wt);
    assert.equal(git(wt, ['rev-parse', 'HEAD']), first);
  });
});

test('a .git file that names anything but the repo\'s own admin folder is left to git: what it points at survives', async () => {
  await withWorktree('y', async ({ root, clone, g, wt }) => {
    const decoy = path.join(root, 'decoy');
    mkdirSync(decoy);
    writeFileSync(path.join(decoy, 'gitdir'), `${path.join(wt, '.git')}\n`);
    writeFileSync(path.join(wt, '.git'), `gitdir: ${decoy}\n`);
    assert.equal(worktreeAdminDir(clone, wt), undefined);
    await g.removeWorktree(clone, wt);
    assert.ok(existsSync(path.join(decoy, 'gitdir')), 'the folder a forged .git file names is not deleted');
  });
});

test('push names the remote it pushed to (from --porcelain); already there is pushed: false', async () => {
  const { root, bare, clone, second } = setup();
  try {
    const g = new LocalGit();
    const r1 = await g.push(clone, { branch: 'runwright/x', sha: second });
    assert.deepEqual(r1, { remote: bare, branch: 'runwright/x', sha: second, pushed: true });
    const r2 = await g.push(clone, { branch: 'runwright/x', sha: second });
    assert.equal(r2.pushed, false);
    assert.equal(r2.remote, bare);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('remoteHasCommit: a branch tip, an ancestor of one (found by fetching), not a commit only this clone has; one pushed elsewhere is fetched', async () => {
  const { root, bare, clone, first, second } = setup();
  try {
    const g = new LocalGit();
    assert.equal(await g.remoteHasCommit(clone, second), true, 'the tip of main');
    assert.equal(await g.remoteHasCommit(clone, first), true, 'an ancestor of main');
    writeFileSync(path.join(clone, 'a.txt'), 'three\n');
    git(clone, ['commit', '-q', '-am', 'three']);
    assert.equal(await g.remoteHasCommit(clone, git(clone, ['rev-parse', 'HEAD'])), false, 'never pushed');
    // pushed from another clone (another worker): on the remote, and here afterwards (a build checks it out next)
    const other = path.join(root, 'other');
    git(root, ['clone', '-q', bare, other]);
    writeFileSync(path.join(other, 'b.txt'), 'b\n');
    git(other, ['add', '-A']);
    git(other, ['commit', '-q', '-m', 'b']);
    const theirs = git(other, ['rev-parse', 'HEAD']);
    git(other, ['push', '-q', 'origin', 'HEAD:refs/heads/runwright/r1']);
    assert.equal(await g.remoteHasCommit(clone, theirs), true, 'the tip of a run branch pushed elsewhere');
    assert.equal(git(clone, ['cat-file', '-t', theirs]), 'commit', 'and now here');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a clone from the mirror records the real remote as origin, hard-links its objects, and can push there', async () => {
  const { root, bare, second } = setup();
  try {
    const ws = new LocalWorkspace(path.join(root, 'work'));
    const target = { name: 't', repo: bare, branch: 'main' } as Target;
    for (const name of ['c1', 'c2']) {
      const dir = path.join(root, 'work', name);
      assert.equal(await ws.cloneInto(target, dir, 'latest'), second);
      assert.equal(git(dir, ['remote', 'get-url', 'origin']), bare);
      assert.doesNotMatch(git(dir, ['config', '--list', '--local']), /insteadof/i, 'the rewrite was for the clone command only');
    }
    const mirrors = path.join(root, 'work', '.mirrors');
    assert.equal(spawnSync('ls', [mirrors], { encoding: 'utf8' }).stdout.trim().split('\n').length, 1, 'one mirror');
    // objects come from the mirror as hard links (a local clone), not over a transport
    const loose = spawnSync('find', [path.join(root, 'work', 'c2', '.git', 'objects'), '-type', 'f', '-name', '*.pack'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    const anyObject = loose[0] ?? spawnSync('find', [path.join(root, 'work', 'c2', '.git', 'objects'), '-type', 'f', '-path', '*/[0-9a-f][0-9a-f]/*'], { encoding: 'utf8' }).stdout.trim().split('\n')[0]!;
    assert.ok(statSync(anyObject).nlink > 1, `${anyObject} is hard-linked`);
    const dir = path.join(root, 'work', 'c1');
    writeFileSync(path.join(dir, 'a.txt'), 'four\n');
    git(dir, ['commit', '-q', '-am', 'four']);
    assert.equal((await new LocalGit().push(dir, { branch: 'main', sha: git(dir, ['rev-parse', 'HEAD']) })).pushed, true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('headOf: a clone on its branch, a detached worktree and a worktree on a branch read without git; a packed ref, an unborn branch and a broken .git file as git says', async () => {
  const { root, clone, first, second } = setup();
  const plain = async (dir: string, want: string) => {
    const spawned = await spawnsDuring(async () => assert.equal(await headOf(dir), want, dir));
    assert.equal(spawned.length, 0, `${dir}: no process`);
  };
  try {
    await plain(clone, second);
    const detached = path.join(root, 'detached');
    git(clone, ['worktree', 'add', '-q', '--detach', detached, first]);
    await plain(detached, first);
    const onBranch = path.join(root, 'on-branch');
    git(clone, ['worktree', 'add', '-q', '-b', 'side', onBranch, first]);
    await plain(onBranch, first);
    // packed: refs/heads/main only in packed-refs (no loose file) — git answers
    git(clone, ['pack-refs', '--all']);
    assert.equal(existsSync(path.join(clone, '.git', 'refs', 'heads', 'main')), false);
    const asked = await spawnsDuring(async () => assert.equal(await headOf(clone), second));
    assert.equal(asked.length, 1, 'asked git');
    // an unborn branch: git's own refusal
    git(clone, ['symbolic-ref', 'HEAD', 'refs/heads/unborn']);
    await assert.rejects(headOf(clone), /rev-parse failed/);
    // a .git file naming nothing usable: git's own answer (here: a refusal), never a guess
    const broken = path.join(root, 'broken');
    mkdirSync(broken);
    writeFileSync(path.join(broken, '.git'), 'not a gitdir line\n');
    await assert.rejects(headOf(broken), /rev-parse failed/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a commit in a scratch clone starts no automatic maintenance; a fetch into the mirror still does', { timeout: 120_000 }, async () => {
  const { root, bare, clone } = setup();
  try {
    // Two packs and gc told to act on more than one (synchronously): any automatic maintenance repacks them into one.
    const twoPacks = (repo: string, fetch: string[]) => {
      for (const n of ['three', 'four']) {
        writeFileSync(path.join(clone, 'a.txt'), `${n}\n`);
        git(clone, ['commit', '-q', '-am', n]);
        git(clone, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
        git(repo, ['-c', 'fetch.unpackLimit=1', ...fetch]);
      }
      for (const [k, v] of [['gc.autoPackLimit', '1'], ['gc.autoDetach', 'false'], ['gc.auto', '1']]) git(repo, ['config', k!, v!]);
    };
    const packs = (objects: string) => spawnSync('find', [path.join(objects, 'pack'), '-name', '*.pack'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;

    const scratch = path.join(root, 'scratch');
    git(root, ['clone', '-q', bare, scratch]);
    twoPacks(scratch, ['fetch', '-q', 'origin', 'main']);
    git(scratch, ['reset', '-q', '--hard', 'origin/main']);
    assert.equal(packs(path.join(scratch, '.git', 'objects')), 2);
    writeFileSync(path.join(scratch, 'a.txt'), 'five\n');
    await new LocalGit().commit(scratch, { paths: ['a.txt'], message: 'five', key: 'k1' });
    assert.equal(packs(path.join(scratch, '.git', 'objects')), 2, 'no maintenance after runwright\'s commit');
    // the same commit by plain git repacks: the setup does trigger maintenance
    writeFileSync(path.join(scratch, 'a.txt'), 'six\n');
    git(scratch, ['commit', '-q', '-am', 'six']);
    assert.equal(packs(path.join(scratch, '.git', 'objects')), 1, 'plain git commit ran maintenance');

    const ws = new LocalWorkspace(path.join(root, 'work'));
    const target = { name: 't', repo: bare, branch: 'main' } as Target;
    const mirror = (await ws.mirror(target, 'latest'))!;
    twoPacks(mirror, ['fetch', '-q', bare, '+refs/heads/main:refs/heads/main']);
    assert.equal(packs(path.join(mirror, 'objects')), 2);
    writeFileSync(path.join(clone, 'a.txt'), 'seven\n');
    git(clone, ['commit', '-q', '-am', 'seven']);
    git(clone, ['push', '-q', 'origin', 'HEAD:refs/heads/main']);
    await ws.mirror(target, 'latest');
    assert.equal(packs(path.join(mirror, 'objects')), 1, 'the mirror\'s fetch ran maintenance');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
