// One narrow port per outside system. Adapters live in src/adapters/<impl>/; the core never imports them.
import type { Alert, Json, Target } from '../core/types.js';

export interface GitPort {
  /** A fresh clone of target.repo at target.branch under `dir` (created; reused when it already holds that clone). Never the user's working copy. */
  clone(target: Target, dir: string, opts?: { signal?: AbortSignal }): Promise<{ dir: string; head: string }>;
  /** Commit exactly `paths` (adds, modifications, deletions, renames) with `message`; when HEAD already carries
   * the trailer `Runwright-Key: <key>` returns that commit instead (re-run safe). `status`, when given: what the
   * working tree still differs in right after the commit (as status() would say). */
  commit(dir: string, opts: { paths: string[]; message: string; key: string; author?: { name: string; email: string } }): Promise<{ sha: string; created: boolean; status?: { clean: boolean; files: string[] } }>;
  /** Push `sha` to `branch` on the origin remote; never force. Re-run safe (already there = ok). */
  push(dir: string, opts: { branch: string; sha: string }): Promise<{ remote: string; branch: string; sha: string; pushed: boolean }>;
  /** A detached worktree of `sha` at `path` (clean by construction). */
  worktree(dir: string, sha: string, path: string): Promise<string>;
  removeWorktree(dir: string, path: string): Promise<void>;
  /** True when `sha` is reachable from some ref on the origin remote. */
  remoteHasCommit(dir: string, sha: string): Promise<boolean>;
  diff(dir: string, opts?: { from?: string; to?: string; paths?: string[] }): Promise<string>;
  /** What differs from HEAD (untracked files included), and HEAD's commit when there is one. */
  status(dir: string): Promise<{ clean: boolean; files: string[]; head?: string | null }>;
}

export interface BuildResult { buildId: string; image?: string; imageDigest?: string; logUrl?: string; commit: string; artifactDir?: string; details?: Json }
/** The target's check run inside the candidate image (built from the commit by the target's own build config). */
export interface ImageCheckResult { passed: boolean; buildId: string; logUrl?: string; image: string; commit: string; output: string; durationMs: number; pushedBranch?: string; details?: Json }
export interface BuildPort {
  /** Build exactly `commit` (already pushed); never a working tree. */
  build(target: Target, opts: { commit: string; repoDir: string; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<BuildResult>;
  /** Platforms that build images (gcp): build `commit`'s image and run target.check inside it as a build step; a
   * failing check fails the build, and nothing is pushed to the target branch. A commit the remote lacks goes to a
   * runwright/check-<sha> branch first (the builder fetches from the remote). */
  checkInImage?(target: Target, opts: { commit: string; repoDir: string; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<ImageCheckResult>;
}

export interface DeployResult { executionName: string; status: 'succeeded' | 'failed'; startedAt: string; finishedAt?: string; previousImage?: string; image?: string; taskCounts?: { succeeded: number; failed: number; cancelled?: number }; details?: Json }
export interface DeployPort {
  /** Point the job at the build's image (or local artifact), execute it and wait. */
  deploy(target: Target, opts: { build: BuildResult; key: string; signal?: AbortSignal; timeoutMs?: number }): Promise<DeployResult>;
  rollback(target: Target, opts: { previousImage: string; key: string; signal?: AbortSignal }): Promise<{ image: string }>;
}

export interface LogEntry { timestamp: string; severity: string; text: string; labels?: Record<string, string>; execution?: string }
export interface LogQuery { since: string; textFilter?: string[]; minSeverity?: string; execution?: string; limit?: number }
export interface LogsPort {
  /** Entries of the target's job matching the filter with timestamp >= since. */
  query(target: Target, q: LogQuery, opts?: { signal?: AbortSignal }): Promise<{ entries: LogEntry[]; filter: string }>;
}

export interface ApprovalRequest {
  runId: string; step: string; runbookId: string; target: string; alert: Alert;
  prompt: string; findings?: Json; proposal?: { fix?: string; diff?: string; description?: string };
  options: string[]; dashboardUrl?: string;
  /** The runbook version the run is on; who it names as approvers (empty: none named); the gate's timeout. */
  runbookHash?: string; approvers?: string[]; timeoutMs?: number;
}
export interface ChatPort {
  /** Post the approval request; returns a message handle for later updates. Re-run safe by key. */
  postApproval(req: ApprovalRequest, key: string): Promise<{ channel: string; ts: string } | null>;
  updateApproval(handle: { channel: string; ts: string }, text: string, req: ApprovalRequest): Promise<void>;
}

export interface ProcResult { code: number | null; stdout: string; stderr: string; durationMs: number; timedOut: boolean }

/** How runTarget ran the code (for step outputs and logs). */
export interface TargetRunInfo {
  sandbox: 'bwrap' | 'env-only';
  /** The command as run inside (python resolved to the runtime's interpreter), without the sandbox wrapper. */
  argv: string[];
  python: string;
  venv?: { dir: string; key: string; built: boolean; from: string; buildMs?: number };
  /** Names of the variables the code saw (values may be secrets: names only). */
  envNames: string[];
}

export interface TargetRunOptions {
  /** The checkout the code belongs to: writable inside the sandbox (its .git read-only); runtime files are read from it. */
  root: string;
  /** Where it runs (inside root). */
  cwd: string;
  target: Target;
  /** Variables runwright's code hands over for this call (PYTHONUNBUFFERED, the job's contract ...). */
  env?: Record<string, string>;
  /** URLs handed to the code in an env variable: the only network endpoints it can reach (unless runtime.network is host). */
  endpoints?: { env: string; url: string }[];
  timeoutMs: number;
  signal?: AbortSignal;
  input?: string;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
}

/** Runs a program with an argv array (never a shell), capturing output. */
export interface ProcessPort {
  /** runwright's own programs (git, python/*.py tools): runwright's environment. */
  run(argv: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal; input?: string; onLine?: (stream: 'stdout' | 'stderr', line: string) => void }): Promise<ProcResult>;
  /** Target code (its check, its job, alembic against its env.py): the target's runtime (`python`/`python3` as argv[0]
   * means it), an allowlisted environment (nothing of runwright's), sandboxed where the host allows it. */
  runTarget(argv: string[], opts: TargetRunOptions): Promise<ProcResult & { run: TargetRunInfo }>;
  /** An endpoint URL as target code run by runTarget reaches it (e.g. 127.0.0.1:<port> behind the sandbox's forwarder),
   * for a caller that must also write it into a file the code reads. */
  targetUrl?(target: Target, url: string): string;
}

export interface Ports {
  git: GitPort;
  build: BuildPort;
  deploy: DeployPort;
  logs: LogsPort;
  chat: ChatPort;
  proc: ProcessPort;
}

/**
 * A run's checkouts on the machine that runs a step (src/core/workspace.ts). Steps hand each other paths; any
 * machine can make the checkout such a path names: from its per-target mirror cache when it has one, from the
 * remote otherwise, at the commit (and uncommitted changes) the run record says.
 */
export interface WorkspaceSession {
  /** Make every checkout that a step's params name present on this machine at the run's recorded state. */
  prepare(params: unknown, signal?: AbortSignal): Promise<void>;
  /** ensure(run, ref): the checkout at `rel` (relative to the run's folder) here, at the recorded state; its path. */
  ensure(rel: string, signal?: AbortSignal): Promise<string>;
  /** The ports the step's action gets: git records the clones and worktrees it makes. */
  ports(p: Ports): Ports;
  /**
   * After the action succeeded: publish what it committed or changed; the run-record fields to store with the outcome.
   * `changes` (Action.changesCheckouts): 'none' — no checkout changed, each is as recorded; 'made' — only those the
   * step made through ports(); git is asked only about the checkouts that may have changed.
   */
  checkpoint(signal?: AbortSignal, opts?: { changes?: 'none' | 'made' }): Promise<Record<string, string>>;
}

export interface WorkspacePort {
  /** The run's folder on this machine. */
  runDir(runId: string): string;
  /** A dry run's commits are not published (a dry run writes nothing to the remote). */
  session(run: { id: string; target: Target; dryRun?: boolean }, manifest: string | undefined, logger: { warn(o: object, m?: string): void; info(o: object, m?: string): void }): WorkspaceSession;
  /** The run ended: delete its run ref on the remote and its folder here. */
  release(run: { id: string; target: Target }, manifest: string | undefined): Promise<void>;
  /** Delete the run's folder here (another machine ended it). */
  dropLocal(runId: string): Promise<void>;
  /** Delete run folders of runs that are no longer live, and mirrors over the disk budget (least recently used first). */
  sweep(isLive: (runId: string) => Promise<boolean>): Promise<{ runs: number; mirrors: number }>;
  /** Also sweep the run refs these targets' remotes hold for runs that ended or are unknown (older than graceMs). */
  sweepRunRefsOf?(targets: Target[], opts?: { graceMs?: number; everyMs?: number }): void;
}
