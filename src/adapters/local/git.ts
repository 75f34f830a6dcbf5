// GitPort on the git CLI: argument arrays only (execFile, no shell), fresh clones under runwright's own workdir,
// never force. Every call runs with hooks off (a cloned repo's hooks are not ours to run), the ext:: transport
// refused, no prompts, a minimal environment, and no automatic maintenance (a commit or fetch would otherwise start
// `git maintenance run --auto` and wait for it: a second git process each, in a scratch clone that lives for one
// run; the per-target mirrors, which live on, ask for it with MAINTAINED).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { GitPort } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { PermanentError, RetryableError } from '../../core/errors.js';

const DEFAULT_AUTHOR = { name: 'runwright', email: 'runwright@localhost' };
const SAFE = ['-c', 'core.hooksPath=/dev/null', '-c', 'protocol.ext.allow=never', '-c', 'advice.detachedHead=false', '-c', 'maintenance.auto=false'];
/** Before a git command's name: automatic maintenance as git does it by default (for the long-lived mirrors). */
export const MAINTAINED = ['-c', 'maintenance.auto=true'];

export function gitEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'SSH_AUTH_SOCK', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: '0' };
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return env;
}

/** `git <args>` in `cwd`; its stdout. A failure is a RetryableError carrying git's stderr. */
export function git(cwd: string, args: string[], opts: { env?: Record<string, string>; signal?: AbortSignal; input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', [...SAFE, ...args], { cwd, env: { ...gitEnv(), ...opts.env }, maxBuffer: 256 * 1024 * 1024, signal: opts.signal }, (err, stdout, stderr) => {
      // What git said: stderr, and stdout too where it answers there (push --porcelain, commit's "nothing to commit").
      const said = [stderr, stdout].map((x) => String(x ?? '').trim()).filter(Boolean).join('\n') || err?.message;
      if (err) reject(new RetryableError(`git ${args.find((a) => !a.startsWith('-') && !a.includes('=')) ?? args[0]} failed: ${String(said).trim().slice(0, 2000)}`, 'git'));
      else resolve(stdout);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

const COMMIT_ID = /^[0-9a-f]{40}$/;

/** The first line of a file, or undefined when it cannot be read. */
function firstLine(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').split('\n', 1)[0]!.trim();
  } catch {
    return undefined;
  }
}

/**
 * The commit HEAD is at in the checkout at `dir` (`git rev-parse HEAD`), read from git's files where they say it
 * plainly — no process: the checkout's .git folder (or a worktree's `gitdir:` file naming its admin folder), its HEAD
 * there (a commit id when detached, else `ref: refs/heads/<branch>`) and that branch's loose ref (in the common
 * folder for a worktree). Anything else (a packed or symbolic ref, another ref store, another hash) is git's to say.
 */
export async function headOf(dir: string): Promise<string> {
  let gitDir = path.join(dir, '.git');
  try {
    if (statSync(gitDir).isFile()) {
      const m = /^gitdir: (.+)$/.exec(firstLine(gitDir) ?? '');
      gitDir = m ? path.resolve(dir, m[1]!) : '';
    }
  } catch {
    gitDir = '';
  }
  const head = gitDir ? firstLine(path.join(gitDir, 'HEAD')) : undefined;
  if (head && COMMIT_ID.test(head)) return head;
  const ref = head ? /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1] : undefined;
  if (ref && !ref.split('/').includes('..')) {
    const common = firstLine(path.join(gitDir, 'commondir'));
    const tip = firstLine(path.join(common ? path.resolve(gitDir, common) : gitDir, ref));
    if (tip && COMMIT_ID.test(tip)) return tip;
  }
  return (await git(dir, ['rev-parse', 'HEAD'])).trim();
}

/** Which of `shas` the repository at `dir` holds as commits (one process for all of them). */
export async function presentCommits(dir: string, shas: string[]): Promise<Set<string>> {
  const want = [...new Set(shas)];
  if (!want.length) return new Set();
  const out = await git(dir, ['cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: want.map((s) => `${s}^{commit}`).join('\n') + '\n' }).catch(() => '');
  const have = new Set<string>();
  for (const line of out.split('\n')) {
    const [sha, type] = line.trim().split(' ');
    if (type === 'commit' && sha) have.add(sha);
  }
  return new Set(want.filter((s) => have.has(s)));
}

/** `git status --porcelain=v2 --branch`: HEAD's commit and the paths that differ from it (untracked included). */
export async function headAndChanges(dir: string, opts: { signal?: AbortSignal } = {}): Promise<{ head: string | null; files: string[]; untracked: number }> {
  const out = await git(dir, ['status', '--porcelain=v2', '--branch', '--untracked-files=all', '-z'], opts);
  let head: string | null = null;
  const files: string[] = [];
  let untracked = 0;
  const recs = out.split('\0');
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    if (!r) continue;
    if (r.startsWith('# branch.oid ')) {
      const oid = r.slice('# branch.oid '.length).trim();
      head = /^[0-9a-f]{40}$/.test(oid) ? oid : null;
    } else if (r.startsWith('#')) continue;
    else if (r.startsWith('1 ')) files.push(r.split(' ').slice(8).join(' '));
    else if (r.startsWith('2 ')) {
      files.push(r.split(' ').slice(9).join(' '));
      i++; // the rename's original path
    } else if (r.startsWith('u ')) files.push(r.split(' ').slice(10).join(' '));
    else if (r.startsWith('? ') || r.startsWith('! ')) {
      files.push(r.slice(2));
      untracked++;
    }
  }
  return { head, files, untracked };
}

export class LocalGit implements GitPort {
  constructor(private readonly author = DEFAULT_AUTHOR) {}

  async clone(target: Target, dir: string) {
    if (existsSync(path.join(dir, '.git'))) return { dir, head: await headOf(dir) };
    mkdirSync(path.dirname(dir), { recursive: true });
    try {
      await git(path.dirname(dir), ['clone', '-q', '--branch', target.branch, '--single-branch', '--no-tags', '-c', `user.name=${this.author.name}`, '-c', `user.email=${this.author.email}`, '--', target.repo, dir]);
    } catch (e) {
      const msg = (e as Error).message;
      if (/not found|does not exist|Could not find remote branch/i.test(msg)) throw new PermanentError(`cannot clone ${target.name}: ${msg}`, 'git_clone', undefined, e);
      throw new RetryableError(`cannot clone ${target.name}: ${msg}`, 'git_clone', undefined, e);
    }
    return { dir, head: await headOf(dir) };
  }

  async commit(dir: string, opts: { paths: string[]; message: string; key: string; author?: { name: string; email: string } }) {
    // Re-run safety: a commit carrying our key is already HEAD → return it.
    const existing = await this.findKeyed(dir, opts.key);
    if (existing) return { sha: existing, created: false };
    if (opts.paths.length === 0) throw new PermanentError('nothing to commit: no paths given', 'git_commit');
    // Stage exactly these paths (deletions and renames included).
    await git(dir, ['add', '-A', '--', ...opts.paths]);
    const author = opts.author ?? this.author;
    const message = `${opts.message.trimEnd()}\n\nRunwright-Key: ${opts.key}\n`;
    // The message is one argv element (no shell); hooks are disabled. Nothing staged: git refuses, and says so.
    try {
      await git(dir, ['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, 'commit', '-q', '--no-verify', '-m', message]);
    } catch (e) {
      if (/nothing to commit|no changes added to commit|nothing added to commit/i.test((e as Error).message)) throw new PermanentError('nothing to commit: the fix changed no file', 'git_commit');
      throw e;
    }
    // The new HEAD, from git's files (what is left uncommitted is the caller's to ask, alongside whatever else it reads).
    return { sha: await headOf(dir), created: true };
  }

  private async findKeyed(dir: string, key: string): Promise<string | null> {
    try {
      const out = await git(dir, ['log', '-n', '20', '--format=%H%x00%B%x01']);
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
    const ref = `refs/heads/${opts.branch}`;
    let out: string;
    try {
      // No --force, ever: a non-fast-forward is refused by git and surfaces as an error. --porcelain says per ref
      // whether it was already there ("=": a re-run after a crash between push and record) or pushed now.
      out = await git(dir, ['push', '--porcelain', '--no-verify', 'origin', `${opts.sha}:${ref}`]);
    } catch (e) {
      const msg = (e as Error).message;
      if (/non-fast-forward|rejected|fetch first/i.test(msg)) throw new PermanentError(`push refused (not a fast-forward) to ${opts.branch}: ${msg}`, 'git_push_rejected', undefined, e);
      throw new RetryableError(`push failed: ${msg}`, 'git_push', undefined, e);
    }
    const lines = out.split('\n');
    const line = lines.find((l) => l.includes(`:${ref}\t`));
    // --porcelain names the remote it pushed to ("To <url>", credentials already left out by git).
    const remote = lines.find((l) => l.startsWith('To '))?.slice(3).trim() || 'origin';
    return { remote, branch: opts.branch, sha: opts.sha, pushed: !line?.startsWith('=') };
  }

  async worktree(dir: string, sha: string, wtPath: string) {
    if (existsSync(path.join(wtPath, '.git'))) {
      const head = await headOf(wtPath);
      if (head === sha) return wtPath;
      await this.removeWorktree(dir, wtPath);
    }
    mkdirSync(path.dirname(wtPath), { recursive: true });
    // --force: a worktree once registered at this path and deleted from disk since does not stand in the way (the
    // path itself must still be absent or empty; a detached worktree takes no branch from anyone).
    await git(dir, ['worktree', 'add', '-q', '--detach', '--force', wtPath, sha]);
    return wtPath;
  }

  async removeWorktree(dir: string, wtPath: string) {
    // Gone from disk: nothing to remove (its stale registration is pruned by git in time, and refuses nothing).
    if (!existsSync(wtPath)) return;
    // What `git worktree remove --force` does, without a git process: the working tree, then its administrative
    // folder — only ever <dir>/.git/worktrees/<name> as the worktree's own .git file names it (a sandboxed check
    // cannot rewrite that file: it is mounted read-only). Anything else is left to git itself.
    const admin = worktreeAdminDir(dir, wtPath);
    if (admin) {
      rmSync(wtPath, { recursive: true, force: true });
      rmSync(admin, { recursive: true, force: true });
      return;
    }
    // `worktree remove` also drops its administrative files; prune only when removing failed half-way.
    await git(dir, ['worktree', 'remove', '--force', wtPath]).catch(() => git(dir, ['worktree', 'prune']).catch(() => undefined));
  }

  async remoteHasCommit(dir: string, sha: string) {
    // The usual case in one look: a branch of the remote is at that commit (it was just pushed there) and this clone
    // has it (a build checks it out next). Otherwise the fetch below brings every branch here, that commit included.
    const [heads, here] = await Promise.all([git(dir, ['ls-remote', '--heads', 'origin']).catch(() => ''), presentCommits(dir, [sha])]);
    if (here.has(sha) && heads.split('\n').some((l) => l.split('\t')[0] === sha)) return true;
    // Every branch of the remote, not just the clone's single branch (a run branch pushed by deploy.push counts).
    await git(dir, ['fetch', '-q', '--no-tags', 'origin', '+refs/heads/*:refs/remotes/origin/*']);
    const out = (await git(dir, ['branch', '-r', '--contains', sha]).catch(() => '')).trim();
    return out.length > 0;
  }

  async diff(dir: string, opts: { from?: string; to?: string; paths?: string[] } = {}) {
    const args = ['diff', '-M'];
    if (opts.from) args.push(opts.from);
    if (opts.to) args.push(opts.to);
    if (opts.paths?.length) args.push('--', ...opts.paths);
    return await git(dir, args);
  }

  async status(dir: string) {
    const { head, files } = await headAndChanges(dir);
    return { clean: files.length === 0, files, head };
  }
}

/**
 * The administrative folder of the linked worktree at `wtPath` of the repository at `dir`: <dir>/.git/worktrees/<name>,
 * read from the worktree's .git file and checked to be exactly there; undefined when it is anything else.
 */
export function worktreeAdminDir(dir: string, wtPath: string): string | undefined {
  try {
    const common = path.join(dir, '.git');
    if (!statSync(common).isDirectory()) return undefined;
    const m = /^gitdir: (.+)\n?$/.exec(readFileSync(path.join(wtPath, '.git'), 'utf8'));
    if (!m) return undefined;
    const admin = realpathSync(path.resolve(wtPath, m[1]!));
    const worktrees = realpathSync(path.join(common, 'worktrees'));
    if (path.dirname(admin) !== worktrees) return undefined;
    // the folder must point back at this worktree
    const back = readFileSync(path.join(admin, 'gitdir'), 'utf8').trim();
    if (realpathSync(path.dirname(back)) !== realpathSync(wtPath)) return undefined;
    return admin;
  } catch {
    return undefined;
  }
}
