// GitPort on simple-git: argument arrays only, fresh clones under runwright's own workdir, never force.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { GitPort } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';

const DEFAULT_AUTHOR = { name: 'runwright', email: 'runwright@localhost' };

// simple-git (v4) refuses to set core.hooksPath / protocol.*.allow unless told: here both make git *safer*
// (no hooks from a cloned repo, no ext:: transport), so those two overrides are allowed and nothing else.
// Its guard also refuses ambient variables such as EDITOR or GIT_PAGER: git gets a minimal environment.
const GIT_OPTIONS = {
  config: ['core.hooksPath=/dev/null', 'protocol.ext.allow=never'],
  unsafe: { allowUnsafeHooksPath: true, allowUnsafeProtocolOverride: true },
  allowEnvironment: ['GIT_TERMINAL_PROMPT'],
} as const;

export function gitEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'SSH_AUTH_SOCK', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return env;
}

function git(dir: string): SimpleGit {
  // Hooks in a cloned repo are not ours to run: disable them. No prompts (and no tty, so no pager).
  return simpleGit({ baseDir: dir, ...GIT_OPTIONS, config: [...GIT_OPTIONS.config] } as any).env(gitEnv());
}

export class LocalGit implements GitPort {
  constructor(private readonly author = DEFAULT_AUTHOR) {}

  async clone(target: Target, dir: string) {
    if (existsSync(path.join(dir, '.git'))) {
      const g = git(dir);
      const head = (await g.revparse(['HEAD'])).trim();
      return { dir, head };
    }
    mkdirSync(path.dirname(dir), { recursive: true });
    try {
      await git(path.dirname(dir)).clone(target.repo, dir, ['--branch', target.branch, '--single-branch', '--no-tags']);
    } catch (e) {
      const msg = (e as Error).message;
      if (/not found|does not exist|Could not find remote branch/i.test(msg)) throw new PermanentError(`cannot clone ${target.name}: ${msg}`, 'git_clone', undefined, e);
      throw new RetryableError(`cannot clone ${target.name}: ${msg}`, 'git_clone', undefined, e);
    }
    const g = git(dir);
    await g.addConfig('user.name', this.author.name).addConfig('user.email', this.author.email);
    const head = (await g.revparse(['HEAD'])).trim();
    return { dir, head };
  }

  async commit(dir: string, opts: { paths: string[]; message: string; key: string; author?: { name: string; email: string } }) {
    const g = git(dir);
    // Re-run safety: a commit carrying our key is already HEAD → return it.
    const existing = await this.findKeyed(g, opts.key);
    if (existing) return { sha: existing, created: false };
    if (opts.paths.length === 0) throw new PermanentError('nothing to commit: no paths given', 'git_commit');
    // Stage exactly these paths (deletions and renames included).
    await g.raw(['add', '-A', '--', ...opts.paths]);
    const staged = (await g.raw(['diff', '--cached', '--name-only'])).trim();
    if (!staged) throw new PermanentError('nothing to commit: the fix changed no file', 'git_commit');
    const author = opts.author ?? this.author;
    const message = `${opts.message.trimEnd()}\n\nRunwright-Key: ${opts.key}\n`;
    // The message is one argv element (no shell); hooks are disabled.
    await g.raw(['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, 'commit', '--no-verify', '-m', message]);
    return { sha: (await g.revparse(['HEAD'])).trim(), created: true };
  }

  private async findKeyed(g: SimpleGit, key: string): Promise<string | null> {
    try {
      const out = await g.raw(['log', '-n', '20', '--format=%H%x00%B%x01']);
      for (const rec of out.split('\x01')) {
        const [sha, body] = rec.trim().split('\x00');
        if (sha && body && body.split('\n').some((l) => l.trim() === `Runwright-Key: ${key}`)) return sha.trim();
      }
    } catch {
      /* empty repo */
    }
    return null;
  }

  async push(dir: string, opts: { branch: string; sha: string }) {
    const g = git(dir);
    const remote = (await g.remote(['get-url', 'origin']))?.trim() ?? 'origin';
    // Already there? (re-run after a crash between push and record)
    const ls = (await g.raw(['ls-remote', 'origin', `refs/heads/${opts.branch}`])).trim();
    const remoteSha = ls.split(/\s+/)[0];
    if (remoteSha === opts.sha) return { remote, branch: opts.branch, sha: opts.sha, pushed: false };
    try {
      // No --force, ever: a non-fast-forward is refused by git and surfaces as an error.
      await g.raw(['push', '--no-verify', 'origin', `${opts.sha}:refs/heads/${opts.branch}`]);
    } catch (e) {
      const msg = (e as Error).message;
      if (/non-fast-forward|rejected|fetch first/i.test(msg)) throw new PermanentError(`push refused (not a fast-forward) to ${opts.branch}: ${msg}`, 'git_push_rejected', undefined, e);
      throw new RetryableError(`push failed: ${msg}`, 'git_push', undefined, e);
    }
    return { remote, branch: opts.branch, sha: opts.sha, pushed: true };
  }

  async worktree(dir: string, sha: string, wtPath: string) {
    const g = git(dir);
    if (existsSync(path.join(wtPath, '.git'))) {
      const head = (await git(wtPath).revparse(['HEAD'])).trim();
      if (head === sha) return wtPath;
      await this.removeWorktree(dir, wtPath);
    }
    mkdirSync(path.dirname(wtPath), { recursive: true });
    await g.raw(['worktree', 'add', '--detach', wtPath, sha]);
    return wtPath;
  }

  async removeWorktree(dir: string, wtPath: string) {
    await git(dir).raw(['worktree', 'remove', '--force', wtPath]).catch(() => undefined);
    await git(dir).raw(['worktree', 'prune']).catch(() => undefined);
  }

  async remoteHasCommit(dir: string, sha: string) {
    const g = git(dir);
    // Every branch of the remote, not just the clone's single branch (a run branch pushed by deploy.push counts).
    await g.raw(['fetch', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
    const out = (await g.raw(['branch', '-r', '--contains', sha]).catch(() => '')).trim();
    return out.length > 0;
  }

  async diff(dir: string, opts: { from?: string; to?: string; paths?: string[] } = {}) {
    const args = ['diff', '-M'];
    if (opts.from) args.push(opts.from);
    if (opts.to) args.push(opts.to);
    if (opts.paths?.length) args.push('--', ...opts.paths);
    return await git(dir).raw(args);
  }

  async status(dir: string) {
    const s = await git(dir).status();
    return { clean: s.isClean(), files: s.files.map((f) => f.path) };
  }
}
