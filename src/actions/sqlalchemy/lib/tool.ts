// Runs python/sqla_tool.py (Python's own ast, in a subprocess, JSON in and out) and the target's check.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ActionContext } from '../../../core/action.js';
import type { Json, Target } from '../../../core/types.js';
import { PermanentError, RetryableError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { pythonToolPath } from '../../lib/python-tool.js';
import { checkInImage, checksInImage, runtimeOf } from '../../lib/target-run.js';
import { scratchWorktree } from '../../lib/checkout.js';
import type { TargetRunInfo } from '../../../ports/index.js';
import type { Analysis, FixResult } from './types.js';

export const DEFAULT_PYTHON = '/usr/bin/python3';

/** python/sqla_tool.py next to src/ (and next to dist/ in a build). */
export function toolPath(): string {
  return pythonToolPath('sqla_tool.py');
}

let toolVersionCached: string | undefined;
/** The tool's own source, hashed: an analysis made by another version of it (another worker) is made again. */
export function toolVersion(): string {
  return (toolVersionCached ??= createHash('sha256').update(readFileSync(toolPath())).digest('hex').slice(0, 16));
}

/** A tool answer as kept ahead: the value, or the refusal's code and message. */
export type KeptAnswer<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };

/**
 * The static side of a diagnosis, made ahead by sqlalchemy.confirm while the check runs (on the other core): the
 * tool's `analyze` answer and the dry run of each fix (B without a model: the one class the problems are in), of
 * commit `head` checked out clean — the commit the run's checkout `checkout` was made at —, for one models folder,
 * by one version of the tool.
 *
 * It is a cache, not a channel between steps: kept in the run's folder on the worker that made it, and read by
 * sqlalchemy.inspect and sqlalchemy.plan_fix when they run on that worker (sticky execution makes that the usual
 * case); on any other worker it is not there and they ask the tool, with the same answers (the tool is a pure
 * function of the tree, the folder and its own version, which the cache is keyed by). Their outputs are complete
 * either way.
 */
export interface AheadAnalysis {
  head: string;
  checkout: string;
  modelsDir: string;
  tool: string;
  result: Analysis;
  dryRuns: Record<'A' | 'B' | 'C', KeptAnswer<FixResult>>;
}

const FIXES = ['A', 'B', 'C'] as const;

/** The dry run of `fix` as sqlalchemy.plan_fix asks for it (B names its model when it knows one). */
export function dryRunRequest(root: string, modelsDir: string, fix: 'A' | 'B' | 'C', model: string | null | undefined): ToolRequest {
  return { cmd: 'fix', fix, root, models_dir: modelsDir, model: fix === 'B' ? (model ?? undefined) : undefined, dry_run: true };
}

function aheadFile(ctx: ActionContext, checkout: string): string {
  const key = createHash('sha256').update(JSON.stringify([checkout, ctx.target.modelsDir, toolVersion()])).digest('hex').slice(0, 32);
  return path.join(ctx.workdir, '.rw-ahead', `sqla-${key}.json`);
}

/**
 * Make the AheadAnalysis of the checkout at `dir` in one tool process and keep it for the run's checkout `of` (made
 * at `head`), when `dir` is exactly commit `head` (HEAD there, nothing changed or added). Nothing is kept when it is
 * not, or when the tool cannot answer (whoever needs the answers then asks the tool itself, and gets its refusal).
 */
export async function analyseAhead(ctx: ActionContext, dir: string, head: string, of: string): Promise<boolean> {
  const st = await ctx.ports.git.status(dir);
  if (!st.clean || st.head !== head) return false;
  const m = ctx.target.modelsDir;
  let answers;
  try {
    answers = await runTools<any>(ctx, [{ cmd: 'analyze', root: dir, models_dir: m }, ...FIXES.map((f) => dryRunRequest(dir, m, f, null))]);
  } catch (e) {
    if (e instanceof PermanentError || e instanceof RetryableError) return false;
    throw e;
  }
  const [analysis, ...dry] = answers;
  if (!analysis?.ok) return false;
  const keep = (a: (typeof answers)[number]): KeptAnswer<FixResult> => (a.ok ? { ok: true, value: a.value } : { ok: false, error: { code: a.error.code, message: a.error.message } });
  const kept: AheadAnalysis = { head, checkout: of, modelsDir: m, tool: toolVersion(), result: analysis.value as Analysis, dryRuns: { A: keep(dry[0]!), B: keep(dry[1]!), C: keep(dry[2]!) } };
  const file = aheadFile(ctx, of);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, JSON.stringify(kept));
  renameSync(tmp, file); // whole or not at all (a worker killed mid-write leaves no half answer)
  return true;
}

/** The AheadAnalysis kept on this worker for the run's checkout `checkout` (this tool, these models), else null. */
export function aheadFor(ctx: ActionContext, checkout: string): AheadAnalysis | null {
  let a: AheadAnalysis;
  try {
    a = JSON.parse(readFileSync(aheadFile(ctx, checkout), 'utf8')) as AheadAnalysis;
  } catch {
    return null;
  }
  return a && a.checkout === checkout && a.tool === toolVersion() && a.modelsDir === ctx.target.modelsDir && a.result && a.dryRuns ? a : null;
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

/**
 * A fresh worktree of `sha` under the run's workdir, `wt/<name>-<8 hex>`: each execution of a step gets its own. A
 * step BullMQ re-delivers while the first delivery still runs (its lock lost on a stalled event loop) must not
 * share a tree with it: a fix written by one would leave the other nothing to repair.
 */
export async function worktreeAt(ctx: ActionContext, repoDir: string, sha: string, name: string): Promise<string> {
  if (!/^[0-9a-f]{7,64}$/.test(sha)) throw new PermanentError(`not a commit id: ${JSON.stringify(sha)}`, 'bad_sha');
  return await ctx.ports.git.worktree(repoDir, sha, scratchWorktree(ctx, name));
}
