// Runs python/sqla_tool.py (Python's own ast, in a subprocess, JSON in and out) and the target's check.
import path from 'node:path';
import type { ActionContext } from '../../../core/action.js';
import type { Json, Target } from '../../../core/types.js';
import { PermanentError, RetryableError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { pythonToolPath } from '../../lib/python-tool.js';
import { checkInImage, checksInImage, runtimeOf } from '../../lib/target-run.js';
import type { TargetRunInfo } from '../../../ports/index.js';

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
  const out = await askTool(ctx, req);
  return toolAnswer<T>(out);
}

/**
 * Several independent requests in one Python process (sqla_tool's batch): each answer, or the PermanentError its
 * refusal is, in order — what runTool would have returned or thrown for each alone.
 */
export async function runTools<T = any>(ctx: ActionContext, reqs: ToolRequest[]): Promise<({ ok: true; value: T } | { ok: false; error: PermanentError })[]> {
  for (const r of reqs) resolveInside(r.root, r.models_dir);
  const out = await askTool(ctx, { cmd: 'batch', requests: reqs });
  if (!out.ok || !Array.isArray(out.results) || out.results.length !== reqs.length) toolAnswer(out); // throws its refusal
  return (out.results as any[]).map((r) => {
    try {
      return { ok: true as const, value: toolAnswer<T>(r) };
    } catch (e) {
      if (e instanceof PermanentError) return { ok: false as const, error: e };
      throw e;
    }
  });
}

async function askTool(ctx: ActionContext, req: ToolRequest | { cmd: 'batch'; requests: ToolRequest[] }): Promise<any> {
  // The models folder comes from the target's config; still confined to the checkout.
  if (req.cmd !== 'batch') resolveInside(req.root, req.models_dir);
  const argv = [pythonOf(ctx.target), '-I', '-B', toolPath()];
  let r;
  try {
    r = await ctx.ports.proc.run(argv, { cwd: path.dirname(argv[3]!), input: JSON.stringify(req), timeoutMs: 120_000, signal: ctx.signal });
  } catch (e) {
    throw new PermanentError(`cannot run ${argv[0]}: ${(e as Error).message}`, 'python_missing', undefined, e);
  }
  if (r.timedOut) throw new RetryableError('sqla_tool timed out', 'tool_timeout');
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new PermanentError(`sqla_tool failed (exit ${r.code}): ${r.stderr.trim().slice(-2000)}`, 'tool_crashed', { stderr: r.stderr.slice(-4000) });
  }
}

function toolAnswer<T>(out: any): T {
  if (!out?.ok) throw new PermanentError(`sqla_tool: ${out?.error?.message ?? 'unknown error'}`, `sqla_${out?.error?.code ?? 'error'}`, out?.error);
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
  /** Where it ran: sandbox kind, interpreter, the venv (built by this run or reused). */
  runtime?: { [k: string]: Json };
}

interface TargetRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
  argv: string[];
  cwd: string;
  /** How it ran (ProcessPort.runTarget): sandbox, interpreter, venv. */
  run: TargetRunInfo;
}

/**
 * Run target code in a checkout dir the way the target's check runs (argv, no shell): the check's folder, its env
 * and timeout; `python`/`python3` as argv[0] means the target's python. The check and the runtime probe both go
 * through here, so whatever confines target code confines both.
 */
export async function runInTarget(ctx: ActionContext, dir: string, argv: string[], opts: { input?: string; what: string; timeoutMs?: number; signal?: AbortSignal; onLine?: (stream: 'stdout' | 'stderr', line: string) => void }): Promise<TargetRun> {
  const check = ctx.target.check;
  argv = [...argv];
  const cwd = check?.cwd ? resolveInside(dir, check.cwd) : dir;
  const timeoutMs = opts.timeoutMs ?? checkTimeoutMs(ctx.target);
  let r;
  try {
    // Target code: its own runtime (`python` in argv means it), nothing of runwright's environment, sandboxed.
    r = await ctx.ports.proc.runTarget(argv, {
      root: dir,
      cwd,
      target: ctx.target,
      env: { PYTHONDONTWRITEBYTECODE: '1', ...(check?.env ?? {}) },
      timeoutMs,
      signal: opts.signal ?? ctx.signal,
      input: opts.input,
      onLine: opts.onLine,
    });
  } catch (e) {
    throw new PermanentError(`cannot run the ${opts.what} ${argv[0]}: ${(e as Error).message}`, `${opts.what}_spawn`, undefined, e);
  }
  if (r.timedOut) throw new RetryableError(`the ${opts.what} timed out after ${timeoutMs} ms`, `${opts.what}_timeout`);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut, durationMs: r.durationMs, argv: r.run.argv, cwd, run: r.run };
}

export function checkTimeoutMs(target: Target): number {
  return target.check?.timeoutMs ?? 120_000;
}

/** The check's result from its exit status and output (stdout, then stderr: the last 8000 characters). */
export function checkResult(o: { code: number | null; stdout: string; stderr: string; durationMs: number; argv: string[]; cwd: string; runtime: { [k: string]: Json } }): CheckResult {
  const both = `${o.stdout}${o.stdout && o.stderr ? '\n' : ''}${o.stderr}`;
  return { passed: o.code === 0, exitCode: o.code, timedOut: false, durationMs: o.durationMs, argv: o.argv, cwd: o.cwd, output: both.slice(-8000), runtime: o.runtime };
}

/** Run target.check in a checkout dir. */
export async function runCheck(ctx: ActionContext, dir: string): Promise<CheckResult> {
  const check = ctx.target.check;
  if (!check || check.command.length === 0) throw new PermanentError(`target ${ctx.target.name} has no check command`, 'no_check');
  if (checksInImage(ctx)) return await checkInImage(ctx, dir); // gcp: in the target's own image, in Cloud Build
  const r = await runInTarget(ctx, dir, check.command, { what: 'check' });
  return checkResult({ code: r.code, stdout: r.stdout, stderr: r.stderr, durationMs: r.durationMs, argv: r.argv, cwd: path.relative(dir, r.cwd) || '.', runtime: runtimeOf(r.run) });
}

/** A clean worktree of `sha` under the run's workdir (reused when it is already there at that sha). */
export async function worktreeAt(ctx: ActionContext, repoDir: string, sha: string, name: string): Promise<string> {
  if (!/^[0-9a-f]{7,64}$/.test(sha)) throw new PermanentError(`not a commit id: ${JSON.stringify(sha)}`, 'bad_sha');
  const wt = resolveInside(ctx.workdir, path.join('wt', name));
  return await ctx.ports.git.worktree(repoDir, sha, wt);
}
