// Runs python/sqla_tool.py (Python's own ast, in a subprocess, JSON in and out) and the target's check.
import path from 'node:path';
import type { ActionContext } from '../../../core/action.js';
import type { Target } from '../../../core/types.js';
import { PermanentError, RetryableError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { pythonToolPath } from '../../lib/python-tool.js';

export const DEFAULT_PYTHON = '/usr/bin/python3';

/** python/sqla_tool.py next to src/ (and next to dist/ in a build). */
export function toolPath(): string {
  return pythonToolPath('sqla_tool.py');
}

export function pythonOf(target: Target): string {
  return target.python ?? DEFAULT_PYTHON;
}

export interface ToolRequest {
  cmd: 'analyze' | 'fix';
  root: string;
  models_dir: string;
  fix?: 'A' | 'B' | 'C';
  model?: string | null;
  reason?: string;
  dry_run?: boolean;
}

/** Ask the Python tool; its own refusals (unsafe path, nothing to fix ...) become PermanentError with its code. */
export async function runTool<T = any>(ctx: ActionContext, req: ToolRequest): Promise<T> {
  // The models folder comes from the target's config; still confined to the checkout.
  resolveInside(req.root, req.models_dir);
  const argv = [pythonOf(ctx.target), '-I', '-B', toolPath()];
  let r;
  try {
    r = await ctx.ports.proc.run(argv, { cwd: path.dirname(argv[3]!), input: JSON.stringify(req), timeoutMs: 120_000, signal: ctx.signal });
  } catch (e) {
    throw new PermanentError(`cannot run ${argv[0]}: ${(e as Error).message}`, 'python_missing', undefined, e);
  }
  if (r.timedOut) throw new RetryableError('sqla_tool timed out', 'tool_timeout');
  let out: any;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new PermanentError(`sqla_tool failed (exit ${r.code}): ${r.stderr.trim().slice(-2000)}`, 'tool_crashed', { stderr: r.stderr.slice(-4000) });
  }
  if (!out.ok) throw new PermanentError(`sqla_tool: ${out.error?.message ?? 'unknown error'}`, `sqla_${out.error?.code ?? 'error'}`, out.error);
  delete out.ok;
  return out as T;
}

export interface CheckResult {
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  argv: string[];
  cwd: string;
  /** Last part of stdout+stderr (what SQLAlchemy said). */
  output: string;
}

interface TargetRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  argv: string[];
  cwd: string;
}

/**
 * Run target code in a checkout dir the way the target's check runs (argv, no shell): the check's folder, its env
 * and timeout; `python`/`python3` as argv[0] means the target's python. The check and the runtime probe both go
 * through here, so whatever confines target code confines both.
 */
export async function runInTarget(ctx: ActionContext, dir: string, argv: string[], opts: { input?: string; what: string }): Promise<TargetRun> {
  const check = ctx.target.check;
  argv = [...argv];
  if ((argv[0] === 'python' || argv[0] === 'python3') && ctx.target.python) argv[0] = ctx.target.python;
  const cwd = check?.cwd ? resolveInside(dir, check.cwd) : dir;
  const timeoutMs = check?.timeoutMs ?? 120_000;
  let r;
  try {
    r = await ctx.ports.proc.run(argv, {
      cwd,
      env: { PYTHONDONTWRITEBYTECODE: '1', ...(check?.env ?? {}) },
      timeoutMs,
      signal: ctx.signal,
      input: opts.input,
    });
  } catch (e) {
    throw new PermanentError(`cannot run the ${opts.what} ${argv[0]}: ${(e as Error).message}`, `${opts.what}_spawn`, undefined, e);
  }
  if (r.timedOut) throw new RetryableError(`the ${opts.what} timed out after ${timeoutMs} ms`, `${opts.what}_timeout`);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut, durationMs: r.durationMs, argv, cwd };
}

/** Run target.check in a checkout dir. */
export async function runCheck(ctx: ActionContext, dir: string): Promise<CheckResult> {
  const check = ctx.target.check;
  if (!check || check.command.length === 0) throw new PermanentError(`target ${ctx.target.name} has no check command`, 'no_check');
  const r = await runInTarget(ctx, dir, check.command, { what: 'check' });
  const both = `${r.stdout}${r.stdout && r.stderr ? '\n' : ''}${r.stderr}`;
  return { passed: r.code === 0, exitCode: r.code, timedOut: r.timedOut, durationMs: r.durationMs, argv: r.argv, cwd: path.relative(dir, r.cwd) || '.', output: both.slice(-8000) };
}

/** A clean worktree of `sha` under the run's workdir (reused when it is already there at that sha). */
export async function worktreeAt(ctx: ActionContext, repoDir: string, sha: string, name: string): Promise<string> {
  if (!/^[0-9a-f]{7,64}$/.test(sha)) throw new PermanentError(`not a commit id: ${JSON.stringify(sha)}`, 'bad_sha');
  const wt = resolveInside(ctx.workdir, path.join('wt', name));
  return await ctx.ports.git.worktree(repoDir, sha, wt);
}
