// Git for test set-ups: a command that must succeed (with a test identity), a bare remote with a first commit and a
// clone of it, and the child processes a piece of code starts (every one goes through ChildProcess.prototype.spawn).
import assert from 'node:assert/strict';
import childProcess, { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** `git <args>` in `cwd`, which must succeed; its stdout, trimmed. */
export function git(cwd: string, args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** `<root>/remote.git` (bare, branch main) and a clone of it at `<root>/<name>` whose first commit writes a.txt (not pushed). */
export function remoteAndClone(root: string, name: string): { bare: string; clone: string; first: string } {
  const bare = path.join(root, 'remote.git');
  const clone = path.join(root, name);
  git(root, ['init', '-q', '--bare', '--initial-branch=main', bare]);
  git(root, ['clone', '-q', bare, clone]);
  writeFileSync(path.join(clone, 'a.txt'), 'one\n');
  git(clone, ['add', '-A']);
  git(clone, ['commit', '-q', '-m', 'one']);
  return { bare, clone, first: git(clone, ['rev-parse', 'HEAD']) };
}

export interface Spawned {
  file: string;
  args: string[];
  cwd?: string;
}

/** The child processes this process started while `fn` ran. */
export async function spawnsDuring(fn: () => Promise<unknown>): Promise<Spawned[]> {
  const proto = (childProcess.ChildProcess as unknown as { prototype: { spawn(o: { file: string; args?: string[]; cwd?: string }): unknown } }).prototype;
  const original = proto.spawn;
  const seen: Spawned[] = [];
  proto.spawn = function (this: unknown, o: { file: string; args?: string[]; cwd?: string }) {
    seen.push({ file: o.file, args: o.args ?? [], cwd: o.cwd });
    return original.call(this, o);
  };
  try {
    await fn();
  } finally {
    proto.spawn = original;
  }
  return seen;
}
