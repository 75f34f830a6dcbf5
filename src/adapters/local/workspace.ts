// WorkspacePort on this machine's disk and the git CLI (argument arrays, hooks off, no ext:: transport, minimal env).
//
//   <workdir>/<run id>/…             a run's checkouts (a cache: the run record + git are the truth)
//   <workdir>/<run id>/.rw-ws.json   which manifest state each checkout here was last brought to
//   <workdir>/.mirrors/<key>.git     per-target bare mirror (target branch only), bounded by a disk budget (LRU)
//
// A clone is made from the mirror (a local clone: hard links, no network beyond one fetch into the mirror) and
// then points at the real remote; without a mirror it is a single-branch clone of the remote (blobless when the
// remote is a URL, so git fetches file contents on demand). Commits a run makes are pushed to its run ref
// (refs/runwright/runs/<run id>) as parents of an anchor commit with the empty tree, one fast-forward per step.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, lstatSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { GitPort, Ports, WorkspacePort, WorkspaceSession } from '../../ports/index.js';
import type { Target } from '../../core/types.js';
import { RetryableError } from '../../core/errors.js';
import { resolveInside } from '../../core/safe-path.js';
import { RUN_ID, entryFor, materialiseOrder, parseManifest, runPathsIn, runRef, runRelative, type WorkspaceEntry, type WorkspaceManifest } from '../../core/workspace.js';
import { MAINTAINED, git, headAndChanges, headOf, presentCommits } from './git.js';
import { stripCredentials } from '../../engine/target-secrets.js';

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const AUTHOR = ['-c', 'user.name=runwright', '-c', 'user.email=runwright@localhost'];

type Log = { warn(o: object, m?: string): void; info(o: object, m?: string): void };

const isUrl = (repo: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) && !repo.startsWith('file:');

function dirSize(p: string): number {
  let n = 0;
  for (const name of readdirSync(p)) {
    const f = path.join(p, name);
    const st = lstatSync(f);
    n += st.isDirectory() ? dirSize(f) : st.size;
  }
  return n;
}

export class LocalWorkspace implements WorkspacePort {
  private readonly root: string;
  private readonly mirrors: string;
  private readonly mirrorLocks = new Map<string, Promise<unknown>>();
  /** Mirrors with an operation in flight in this process (never evicted then). */
  private readonly busy = new Map<string, number>();

  /**
   * `store`: the Redis prefix of the deployment this workspace works for. Every anchor commit it writes names it in a
   * `Runwright-Store:` trailer, and the run-ref sweep deletes only run refs whose anchor names this store (or no
   * store: anchors written before the trailer existed). Two deployments sharing a remote never sweep each other's runs:
   * each only asks its own store whether a run is live.
   */
  constructor(workdir: string, private readonly opts: { mirrorBudgetBytes: number; store?: string } = { mirrorBudgetBytes: 2 * 1024 ** 3 }) {
    this.root = path.resolve(workdir);
    this.mirrors = path.join(this.root, '.mirrors');
  }

  runDir(runId: string): string {
    return path.join(this.root, runId);
  }

  private mirrorOf(target: Target): string {
    // One mirror per remote, whatever credentials a worker has for it.
    return path.join(this.mirrors, `${createHash('sha1').update(stripCredentials(target.repo)).digest('hex').slice(0, 16)}.git`);
  }

  /** One mirror operation at a time per mirror in this process (git's ref locks refuse concurrent fetches). */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.mirrorLocks.get(key) ?? Promise.resolve();
    this.busy.set(key, (this.busy.get(key) ?? 0) + 1);
    const p = prev.then(fn, fn).finally(() => {
      const n = (this.busy.get(key) ?? 1) - 1;
      if (n > 0) this.busy.set(key, n);
      else this.busy.delete(key);
    });
    const tail = p.catch(() => undefined);
    this.mirrorLocks.set(key, tail);
    void tail.then(() => {
      if (this.mirrorLocks.get(key) === tail) this.mirrorLocks.delete(key);
    });
    return p;
  }

  /** The target's mirror here, holding `need` (fetched from the remote when it does not); null without a budget. */
  async mirror(target: Target, need: string[] | 'latest', signal?: AbortSignal): Promise<string | null> {
    if (this.opts.mirrorBudgetBytes <= 0) return null;
    const m = this.mirrorOf(target);
    return this.serial(m, async () => {
      let fresh = false;
      if (!existsSync(path.join(m, 'HEAD'))) {
        // A new mirror is a bare single-branch clone (one process) — unless the URL carries credentials, which a
        // clone would keep in the mirror's config — or, when the folder is not empty (another process is making it,
        // or one died half-way), an init here and the fetch below.
        mkdirSync(this.mirrors, { recursive: true });
        if (stripCredentials(target.repo) === target.repo) {
          fresh = await git(this.mirrors, ['clone', '-q', '--bare', '--template=', '--no-tags', '--single-branch', '--branch', target.branch, '--', target.repo, m], { signal }).then(
            () => true,
            () => false,
          );
        }
        if (!fresh) {
          mkdirSync(m, { recursive: true });
          await git(m, ['init', '-q', '--bare', '--template='], { signal });
        }
      }
      const missing = !fresh && (need === 'latest' || !(await hasAll(m, need)));
      if (missing) {
        let last: unknown;
        for (let i = 0; i < 3; i++) {
          try {
            await git(m, [...MAINTAINED, 'fetch', '-q', '--no-tags', target.repo, `+refs/heads/${target.branch}:refs/heads/${target.branch}`], { signal });
            last = undefined;
            break;
          } catch (e) {
            last = e;
            await new Promise((r) => setTimeout(r, 200 * (i + 1)));
          }
        }
        if (last) throw last;
      }
      const t = new Date();
      utimesSync(m, t, t); // LRU: the sweeper evicts the least recently used first
      return m;
    });
  }

  /** A fresh single-branch clone of the target at `dir` (from the mirror when there is one); its HEAD. */
  async cloneInto(target: Target, dir: string, need: string[] | 'latest', signal?: AbortSignal): Promise<string> {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.dirname(dir), { recursive: true });
    const m = await this.mirror(target, need, signal).catch(() => null); // no mirror: straight from the remote
    const base = ['clone', '-q', '--no-tags', '--single-branch', '--branch', target.branch, '-c', 'user.name=runwright', '-c', 'user.email=runwright@localhost'];
    if (m && !/[=\n]/.test(m)) {
      // From the mirror (a local clone: hard links), with origin the real remote: the remote's URL is rewritten to
      // the mirror for this one command (url.<mirror>.insteadOf), so the clone records the remote itself.
      await git(path.dirname(dir), ['-c', `url.${m}.insteadOf=${target.repo}`, ...base, '--', target.repo, dir], { signal });
    } else if (m) {
      await git(path.dirname(dir), [...base, '--', m, dir], { signal });
      await git(dir, ['remote', 'set-url', 'origin', target.repo], { signal });
    } else {
      await git(path.dirname(dir), [...base, ...(isUrl(target.repo) ? ['--filter=blob:none'] : []), '--', target.repo, dir], { signal });
    }
    return await headOf(dir);
  }

  session(run: { id: string; target: Target; dryRun?: boolean }, manifest: string | undefined, logger: Log): WorkspaceSession {
    return new Session(this, run, parseManifest(manifest), logger);
  }

  async release(run: { id: string; target: Target }, manifest: string | undefined): Promise<void> {
    const m = parseManifest(manifest);
    if (m.anchor) {
      // Any git directory can delete a remote ref: the mirror's (made if missing), never the run folder, which
      // may be going away at this moment (every worker drops a finished run's folder).
      const dir = await this.bareDir(run.target);
      await git(dir, ['push', '-q', '--no-verify', run.target.repo, `:${runRef(run.id)}`]).catch((e: Error) => {
        if (!/remote ref does not exist|unable to delete/i.test(e.message)) throw e;
      });
    }
    await this.dropLocal(run.id);
  }

  private async bareDir(target: Target): Promise<string> {
    const m = this.mirrorOf(target);
    if (!existsSync(path.join(m, 'HEAD'))) {
      mkdirSync(m, { recursive: true });
      await git(m, ['init', '-q', '--bare', '--template=']);
    }
    return m;
  }

  /** Run folders being removed: the run's end event and the run's own release may both ask at once. */
  private readonly dropping = new Map<string, Promise<void>>();

  /** Remove a run's folder on this machine — asynchronously: a large checkout never blocks the worker's event loop
   * (its other steps' lock renewals and heartbeats). */
  dropLocal(runId: string): Promise<void> {
    if (!RUN_ID.test(runId)) return Promise.resolve();
    let p = this.dropping.get(runId);
    // Most end events are of runs that made no folder here (every worker hears every end): one stat, no removal.
    if (!p && !existsSync(this.runDir(runId))) return Promise.resolve();
    if (!p) {
      p = rm(this.runDir(runId), { recursive: true, force: true, maxRetries: 3 }).finally(() => this.dropping.delete(runId));
      this.dropping.set(runId, p);
    }
    return p;
  }

  /**
   * The remotes whose run refs sweep() also looks after (a run whose worker died before the run ended leaves its
   * run ref behind): at most every `everyMs`, a run ref of a run the store calls ended or does not know, whose
   * commit is older than `graceMs`, is deleted. Nothing but refs/runwright/runs/<run id> is ever touched.
   */
  sweepRunRefsOf(targets: Target[], opts: { graceMs?: number; everyMs?: number } = {}): void {
    const seen = new Map<string, Target>();
    for (const t of targets) if (t.repo && !seen.has(stripCredentials(t.repo))) seen.set(stripCredentials(t.repo), t);
    this.remotes = { targets: [...seen.values()], graceMs: opts.graceMs ?? 3_600_000, everyMs: opts.everyMs ?? 600_000, last: 0 };
  }

  /** The message of a run's anchor commit: the run, and the store it belongs to (a trailer the sweep reads). */
  anchorMessage(runId: string): string {
    return this.opts.store ? `runwright run ${runId}\n\nRunwright-Store: ${this.opts.store}` : `runwright run ${runId}`;
  }

  private remotes?: { targets: Target[]; graceMs: number; everyMs: number; last: number };
  /** The remote run-ref sweep in flight (one at a time). */
  remoteSweep?: Promise<void>;

  /** Delete the orphaned run refs of one remote; the run ids deleted. */
  async sweepRunRefs(target: Target, isLive: (runId: string) => Promise<boolean>, opts: { graceMs: number; now?: number }): Promise<string[]> {
    const prefix = 'refs/runwright/runs/';
    const scratch = 'refs/runwright/sweep/';
    const m = this.mirrorOf(target);
    // Asked from outside any repository (no mirror is made for a remote without orphans).
    mkdirSync(this.mirrors, { recursive: true });
    const ls = await git(this.mirrors, ['ls-remote', '--', target.repo, `${prefix}*`], { env: { GIT_CEILING_DIRECTORIES: this.root } });
    return this.serial(m, async () => {
      const candidates: { id: string; sha: string }[] = [];
      for (const line of ls.split('\n')) {
        const [sha, ref] = line.trim().split(/\s+/);
        if (!sha || !ref || !/^[0-9a-f]{40}$/.test(sha) || !ref.startsWith(prefix)) continue;
        const id = ref.slice(prefix.length);
        if (!RUN_ID.test(id) || (await isLive(id))) continue; // only a run ref of a run id; a live run keeps its own
        candidates.push({ id, sha });
      }
      if (!candidates.length) return [];
      const dir = await this.bareDir(target);
      try {
        // How old each is: its anchor commit's date (the run's last published step), fetched into a scratch namespace.
        await git(dir, [...MAINTAINED, 'fetch', '-q', '--no-tags', '--', target.repo, ...candidates.map((c) => `+${prefix}${c.id}:${scratch}${c.id}`)]);
        // And whose: the anchor's Runwright-Store trailer (none on anchors older than the trailer: taken as ours).
        const dates = new Map<string, number>();
        const format = '%(refname) %(objectname) %(committerdate:unix) %(contents:trailers:key=Runwright-Store,valueonly,separator=%x2C)';
        for (const line of (await git(dir, ['for-each-ref', `--format=${format}`, scratch])).split('\n')) {
          const [ref, sha, at, store = ''] = line.trim().split(' ');
          if (!ref || !sha || !at) continue;
          if (store && store !== this.opts.store) continue; // another deployment's run: its own store decides
          dates.set(`${ref.slice(scratch.length)} ${sha}`, Number(at) * 1000);
        }
        const now = opts.now ?? Date.now();
        const old = candidates.filter((c) => {
          const at = dates.get(`${c.id} ${c.sha}`);
          return at !== undefined && now - at > opts.graceMs;
        });
        if (old.length) {
          // Compare-and-delete: each ref goes only if it still points where it was seen (a lease, never a forced update).
          await git(dir, ['push', '-q', '--no-verify', ...old.map((c) => `--force-with-lease=${prefix}${c.id}:${c.sha}`), '--', target.repo, ...old.map((c) => `:${prefix}${c.id}`)]);
        }
        return old.map((c) => c.id);
      } finally {
        const left = (await git(dir, ['for-each-ref', '--format=%(refname)', scratch]).catch(() => '')).split('\n').filter(Boolean);
        if (left.length) await git(dir, ['update-ref', '--stdin'], { input: left.map((r) => `delete ${r}\n`).join('') }).catch(() => undefined);
      }
    });
  }

  async sweep(isLive: (runId: string) => Promise<boolean>): Promise<{ runs: number; mirrors: number }> {
    let runs = 0;
    let mirrors = 0;
    const r = this.remotes;
    if (r && !this.remoteSweep && Date.now() - r.last >= r.everyMs) {
      // In the background: a slow or unreachable remote never holds up start-up or the disk sweep.
      r.last = Date.now();
      this.remoteSweep = (async () => {
        for (const t of r.targets) await this.sweepRunRefs(t, isLive, { graceMs: r.graceMs }).catch(() => []);
      })().finally(() => (this.remoteSweep = undefined));
    }
    if (!existsSync(this.root)) return { runs, mirrors };
    for (const name of readdirSync(this.root)) {
      if (!RUN_ID.test(name)) continue;
      if (await isLive(name)) continue;
      await this.dropLocal(name);
      runs++;
    }
    if (existsSync(this.mirrors)) {
      const all = readdirSync(this.mirrors)
        .filter((n) => n.endsWith('.git'))
        .map((n) => {
          const p = path.join(this.mirrors, n);
          return { p, at: statSync(p).mtimeMs, size: dirSize(p) };
        })
        .sort((a, b) => b.at - a.at);
      let used = 0;
      for (const m of all) {
        used += m.size;
        // Over budget: evict (clones are hard-linked copies, never borrowing from a mirror, so none breaks).
        if (used > this.opts.mirrorBudgetBytes && !this.busy.has(m.p)) {
          rmSync(m.p, { recursive: true, force: true });
          used -= m.size;
          mirrors++;
        }
      }
    }
    return { runs, mirrors };
  }
}

async function hasAll(dir: string, shas: string[]): Promise<boolean> {
  const have = await presentCommits(dir, shas);
  return shas.every((s) => have.has(s));
}

interface Marker {
  [rel: string]: { head: string; snap?: string };
}

class Session implements WorkspaceSession {
  private readonly touched = new Set<string>();
  /** Checkouts this step made through ports() (a clone, a worktree, a build artifact). */
  private readonly made = new Set<string>();
  private changed = false;
  private readonly dir: string;

  constructor(private readonly ws: LocalWorkspace, private readonly run: { id: string; target: Target; dryRun?: boolean }, private readonly m: WorkspaceManifest, private readonly log: Log) {
    this.dir = ws.runDir(run.id);
  }

  private abs(rel: string): string {
    mkdirSync(this.dir, { recursive: true });
    return rel ? resolveInside(this.dir, rel) : this.dir;
  }

  private marker(): Marker {
    try {
      return JSON.parse(readFileSync(path.join(this.dir, '.rw-ws.json'), 'utf8')) as Marker;
    } catch {
      return {};
    }
  }

  private mark(rels: string[]): void {
    const mk = this.marker();
    for (const r of rels) {
      const e = this.m.entries[r];
      if (e) mk[r] = { head: e.head, ...(e.snap ? { snap: e.snap } : {}) };
      else delete mk[r];
    }
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(path.join(this.dir, '.rw-ws.json'), JSON.stringify(mk));
  }

  async prepare(params: unknown, signal?: AbortSignal): Promise<void> {
    const seen = new Set<string>();
    for (const rel of runPathsIn(this.run.id, this.dir, params)) {
      const key = entryFor(this.m, rel);
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      await this.ensure(key, signal);
    }
  }

  async ensure(rel: string, signal?: AbortSignal): Promise<string> {
    for (const k of materialiseOrder(this.m, rel)) await this.materialise(k, signal);
    this.touched.add(rel);
    return this.abs(rel);
  }

  /** Bring the checkout at `rel` to the manifest's state, unless this disk already holds exactly that. */
  private async materialise(rel: string, signal?: AbortSignal): Promise<void> {
    const e = this.m.entries[rel]!;
    const at = this.abs(rel);
    const mk = this.marker()[rel];
    const valid = existsSync(path.join(at, '.git'));
    if (valid && mk && mk.head === e.head && mk.snap === e.snap) return;
    const need = [e.head, ...(e.snap ? [e.snap] : [])];
    if (e.kind === 'clone') {
      if (!valid) {
        this.log.info({ rel, head: e.head }, 'materialising the run checkout on this worker');
        await this.ws.cloneInto(this.run.target, at, need, signal);
      }
      await this.have(at, need, signal);
    } else {
      const repo = this.abs(e.repo!);
      await this.have(repo, need, signal);
      if (valid) await git(at, ['checkout', '-q', '--detach', '-f', e.head], { signal }).catch(() => rmSync(at, { recursive: true, force: true }));
      if (!existsSync(path.join(at, '.git'))) {
        rmSync(at, { recursive: true, force: true });
        await git(repo, ['worktree', 'prune']);
        mkdirSync(path.dirname(at), { recursive: true });
        await git(repo, ['worktree', 'add', '-q', '--detach', at, e.head], { signal });
      }
    }
    await git(at, ['reset', '-q', '--hard', e.head], { signal });
    await git(at, ['clean', '-q', '-fd'], { signal });
    if (e.snap) {
      // The uncommitted changes of earlier steps: the snapshot's tree in the working tree, the index at HEAD.
      await git(at, ['read-tree', '--reset', '-u', e.snap], { signal });
      await git(at, ['reset', '-q'], { signal });
    }
    this.mark([rel]);
  }

  /** `need` in the clone at `dir`: fetched from the run ref (then the target branch) when missing. */
  private async have(dir: string, need: string[], signal?: AbortSignal): Promise<void> {
    if (await hasAll(dir, need)) return;
    if (this.m.anchor) await git(dir, ['fetch', '-q', '--no-tags', 'origin', `+${runRef(this.run.id)}:refs/runwright/run`], { signal }).catch(() => undefined);
    if (await hasAll(dir, need)) return;
    await git(dir, ['fetch', '-q', '--no-tags', 'origin', `+refs/heads/${this.run.target.branch}:refs/remotes/origin/${this.run.target.branch}`], { signal });
    if (!(await hasAll(dir, need))) throw new RetryableError(`commits ${need.join(', ')} of run ${this.run.id} are neither on the run ref nor on ${this.run.target.branch}`, 'workspace_missing');
  }

  ports(p: Ports): Ports {
    const rel = (d: string) => runRelative(this.run.id, this.dir, d);
    const record = (r: string | null, e: WorkspaceEntry) => {
      if (r === null) return;
      this.m.entries[r] = e;
      this.touched.add(r);
      this.made.add(r);
      this.changed = true;
    };
    const inner = p.git;
    // A commit a step names may have been made on another machine: fetch it (from the run ref) before git needs it.
    const need = async (dir: string, shas: (string | undefined)[]) => {
      const want = shas.filter((x): x is string => !!x && /^[0-9a-f]{40}$/.test(x));
      if (want.length && existsSync(dir)) await this.have(dir, want);
    };
    // Optimistic: the commits are usually here (this worker made them); only when git says no, fetch and try again.
    const orFetch = async <T>(dir: string, shas: (string | undefined)[], op: () => Promise<T>): Promise<T> => {
      try {
        return await op();
      } catch (e) {
        const want = shas.filter((x): x is string => !!x && /^[0-9a-f]{40}$/.test(x));
        if (!want.length || !existsSync(dir) || (await hasAll(dir, want))) throw e;
        await this.have(dir, want);
        return await op();
      }
    };
    const gitPort: GitPort = {
      push: (dir, o) => orFetch(dir, [o.sha], () => inner.push(dir, o)),
      // A missing commit reads as "not on the remote" here, so it is fetched first.
      remoteHasCommit: async (dir, sha) => (await need(dir, [sha]), inner.remoteHasCommit(dir, sha)),
      diff: (dir, o) => orFetch(dir, [o?.from, o?.to], () => inner.diff(dir, o)),
      status: (dir) => inner.status(dir),
      clone: async (target, dir, opts) => {
        const r = rel(dir);
        if (r === null) return inner.clone(target, dir, opts);
        const at = this.abs(r);
        const known = this.m.entries[r];
        if (known) {
          this.made.add(r);
          await this.ensure(r, opts?.signal);
          return { dir: at, head: await headOf(at) };
        }
        const head = existsSync(path.join(at, '.git')) ? await headOf(at) : await this.ws.cloneInto(target, at, 'latest', opts?.signal);
        record(r, { kind: 'clone', branch: target.branch, head });
        if (!this.m.published.includes(head)) this.m.published.push(head); // the target branch has it
        return { dir: at, head };
      },
      worktree: async (dir, sha, wtPath) => {
        const r = rel(wtPath);
        // A worktree the run already has at that commit: as the run left it (possibly made on another machine) —
        // handed out as made here, so a step that changes what it makes has it looked at.
        if (r !== null && this.m.entries[r]?.head === sha) {
          this.made.add(r);
          return this.ensure(r);
        }
        const out = await orFetch(dir, [sha], () => inner.worktree(dir, sha, wtPath));
        const repo = rel(dir);
        record(r, { kind: 'worktree', repo: repo === null ? undefined : (entryFor(this.m, repo) ?? repo), head: sha });
        return out;
      },
      removeWorktree: async (dir, wtPath) => {
        await inner.removeWorktree(dir, wtPath);
        const r = rel(wtPath);
        if (r !== null && this.m.entries[r]) {
          delete this.m.entries[r];
          this.touched.delete(r);
          this.changed = true;
        }
      },
      commit: async (dir, opts) => {
        const out = await inner.commit(dir, opts);
        const r = rel(dir);
        const k = r === null ? undefined : entryFor(this.m, r);
        if (k !== undefined) this.touched.add(k);
        return out;
      },
    };
    // A local build's artifact is a worktree of the commit in the run folder: recorded like any other checkout,
    // so that the deploy can run on another machine (a build command's outputs beyond the commit are not carried).
    const build: Ports['build'] = {
      build: async (target, o) => {
        const out = await p.build.build(target, o);
        const r = out.artifactDir ? rel(out.artifactDir) : null;
        const repo = rel(o.repoDir);
        if (r !== null && existsSync(path.join(out.artifactDir!, '.git'))) record(r, { kind: 'worktree', repo: repo === null ? undefined : (entryFor(this.m, repo) ?? repo), head: out.commit, artifact: true });
        return out;
      },
    };
    return { ...p, git: gitPort, build };
  }

  async checkpoint(signal?: AbortSignal, opts: { changes?: 'none' | 'made' } = {}): Promise<Record<string, string>> {
    const publish: string[] = [];
    let via: string | undefined;
    const done: string[] = [];
    const keys = [...new Set([...this.touched].map((rel) => entryFor(this.m, rel)).filter((k): k is string => k !== undefined))];
    // Where each checkout the step may have changed is (one git status each, side by side: independent checkouts).
    const states = await Promise.all(
      keys.map(async (key) => {
        const at = this.abs(key);
        if (!existsSync(path.join(at, '.git'))) return undefined;
        const e = this.m.entries[key]!;
        // A build artifact is its commit (recorded, and on the remote before it was built): nothing to carry.
        if (e.artifact) return 'artifact' as const;
        // A checkout the action did not change (by its own account): as the run recorded it (a new one as made).
        if (opts.changes === 'none' || (opts.changes === 'made' && !this.made.has(key))) return 'recorded' as const;
        return await headAndChanges(at, { signal });
      }),
    );
    for (const [i, key] of keys.entries()) {
      const e = this.m.entries[key]!;
      const at = this.abs(key);
      const st = states[i];
      if (st === undefined) continue;
      if (st === 'artifact') {
        done.push(key);
        continue;
      }
      let head: string;
      let snap: string | undefined;
      if (st === 'recorded') [head, snap] = [e.head, e.snap];
      else {
        if (!st.head) continue;
        head = st.head;
        if (st.files.length > 0) snap = await this.snapshot(at, head, e.snap, st.untracked > 0, signal);
      }
      if (head !== e.head || snap !== e.snap) {
        e.head = head;
        if (snap) e.snap = snap;
        else delete e.snap;
        this.changed = true;
      }
      for (const c of [head, snap]) if (c && !this.m.published.includes(c) && !publish.includes(c)) publish.push(c);
      via ??= e.kind === 'clone' ? at : this.abs(e.repo ?? key);
      done.push(key);
    }
    // A dry run writes nothing to the remote (its checkouts stay on this worker); a remote that refuses the run
    // ref costs the run its portability, not its step: what could not be published is tried again next step.
    if (publish.length && via && !this.run.dryRun) {
      await this.publish(via, publish, signal).catch((e: Error) => this.log.warn({ err: { message: e.message }, commits: publish }, 'could not publish the run\'s commits to its run ref; the run stays on this worker'));
    }
    if (done.length) this.mark(done);
    return this.changed ? { ws: JSON.stringify(this.m) } : {};
  }

  /** A commit of the checkout's whole content (tracked, changed and new files) on top of HEAD; HEAD and index untouched. */
  private async snapshot(at: string, head: string, previous: string | undefined, untracked: boolean, signal?: AbortSignal): Promise<string> {
    if (!untracked && !previous) {
      // Only tracked files changed: `git stash create` makes that commit in one process (its tree is the working
      // tree's tracked content, its first parent HEAD; nothing is stored under a ref, the working tree is left as it is).
      const w = (await git(at, [...AUTHOR, 'stash', 'create', `runwright: uncommitted changes of run ${this.run.id}`], { signal })).trim();
      if (/^[0-9a-f]{40}$/.test(w)) return w;
    }
    const index = path.join(this.dir, `.rw-index-${process.pid}-${Date.now()}`);
    try {
      const env = { GIT_INDEX_FILE: index };
      await git(at, ['read-tree', head], { env, signal });
      await git(at, ['add', '-A', '.'], { env, signal });
      const tree = (await git(at, ['write-tree'], { env, signal })).trim();
      if (previous) {
        const same = await git(at, ['rev-parse', `${previous}^{tree}`, `${previous}^`]).then((o) => o.trim().split('\n'), () => []);
        if (same[0] === tree && same[1] === head) return previous;
      }
      return (await git(at, [...AUTHOR, 'commit-tree', tree, '-p', head, '-m', `runwright: uncommitted changes of run ${this.run.id}`], { signal })).trim();
    } finally {
      rmSync(index, { force: true });
    }
  }

  /** Make `shas` reachable from the run ref: a new anchor (empty tree) whose parents are the old anchor and them. */
  private async publish(dir: string, shas: string[], signal?: AbortSignal): Promise<void> {
    for (let i = 0; ; i++) {
      const commitTree = (withAnchor: boolean) => {
        const parents = [...(withAnchor ? [this.m.anchor!] : []), ...shas].flatMap((p) => ['-p', p]);
        return git(dir, [...AUTHOR, 'commit-tree', EMPTY_TREE, ...parents, '-m', this.ws.anchorMessage(this.run.id)], { signal });
      };
      // Optimistic: the old anchor is usually here (this worker made it); only when git lacks it, fetch it first.
      let anchor = this.m.anchor ? await commitTree(true).catch(() => null) : null;
      if (anchor === null) {
        let haveAnchor = false;
        if (this.m.anchor) {
          await git(dir, ['fetch', '-q', '--no-tags', 'origin', `+${runRef(this.run.id)}:refs/runwright/run`], { signal }).catch(() => undefined);
          haveAnchor = await hasAll(dir, [this.m.anchor]);
        }
        anchor = await commitTree(haveAnchor);
      }
      anchor = anchor.trim();
      try {
        // Never forced: the new anchor descends from the old one.
        await git(dir, ['push', '-q', '--no-verify', 'origin', `${anchor}:${runRef(this.run.id)}`], { signal });
      } catch (e) {
        if (i >= 1) throw e;
        // Someone moved the run ref (a re-delivered step): start from what the remote has.
        const ls = (await git(dir, ['ls-remote', 'origin', runRef(this.run.id)], { signal })).trim().split(/\s+/)[0];
        if (ls) this.m.anchor = ls;
        continue;
      }
      this.m.anchor = anchor;
      this.m.published.push(...shas);
      this.changed = true;
      return;
    }
  }
}
