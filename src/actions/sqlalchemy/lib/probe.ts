// The runtime probe (python/sqla_probe.py): imports the target's models package in the target's runtime and
// configures the mappers with instrumentation. It explains a failure; the target's check decides whether there is one.
import path from 'node:path';
import type { ActionContext } from '../../../core/action.js';
import type { Target } from '../../../core/types.js';
import { RetryableError, RunwrightError } from '../../../core/errors.js';
import { resolveInside } from '../../../core/safe-path.js';
import { pythonToolPath } from '../../lib/python-tool.js';
import { checksInImage, runtimeOf } from '../../lib/target-run.js';
import { DEFAULT_PYTHON, checkResult, checkTimeoutMs, runCheck, runInTarget, type CheckResult } from './tool.js';

/** Where SQLAlchemy failed, as SQLAlchemy itself saw it. */
export interface Failure {
  phase: 'import' | 'configure';
  /** The mapper being configured when it raised (null at import time). */
  mapper: { class: string; table: string | null } | null;
  /** The property being configured, `Class.attr` (null when the error came outside a property). */
  property: string | null;
  /** The exception's class name (`InvalidRequestError`, `AmbiguousForeignKeysError`, `AttributeError` ...). */
  exceptionClass: string;
  /** Its qualified name (`sqlalchemy.exc.InvalidRequestError`). */
  exceptionType: string;
  message: string;
  attributes: Record<string, unknown>;
  /** The statement declaring the property (else the class, else the last traceback frame in the repo), repo-relative. */
  file: string | null;
  line: number | null;
  /** The class whose body declares the property (a mixin's name for @declared_attr), when found. */
  declaredIn?: string | null;
  traceback: { file: string; line: number; name: string; inRepo: boolean }[];
}

/** What the registries hold before configure_mappers(): every mapped class and every declared relationship. */
export interface Mapped {
  classes: string[];
  relationships: string[];
  /** Inherited relationships → the class whose body declares them (`Contract.owner` → `OwnedMixin`). */
  declaredIn?: Record<string, string>;
  /** False when the package could not be imported (then only what was declared before the error). */
  complete: boolean;
}

export interface ProbeResult {
  sqlalchemy: string;
  python: string;
  package: string;
  imported: boolean;
  configured: boolean;
  failure: Failure | null;
  mapped: Mapped;
  modules: string[];
  notImported: string[];
  warnings: string[];
}

/** The probe's answer, or why there is none (never throws for the target's own misbehaviour). */
export type Probed = { ok: true; probe: ProbeResult } | { ok: false; error: string };

export async function runProbe(ctx: ActionContext, dir: string): Promise<Probed> {
  resolveInside(dir, ctx.target.modelsDir);
  try {
    const r = await runInTarget(ctx, dir, ['python', '-B', pythonToolPath('sqla_probe.py')], {
      what: 'probe',
      input: JSON.stringify({ root: dir, models_dir: ctx.target.modelsDir }),
    });
    let out: any;
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      return { ok: false, error: `the probe gave no answer (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}` };
    }
    if (!out?.ok) return { ok: false, error: `the probe refused: ${out?.error?.code ?? 'error'}: ${out?.error?.message ?? ''}` };
    delete out.ok;
    return { ok: true, probe: out as ProbeResult };
  } catch (e) {
    if (e instanceof RunwrightError && e.code === 'unsafe_path') throw e;
    if (e instanceof RunwrightError) return { ok: false, error: e.message }; // a probe that hangs or cannot start explains nothing
    throw e;
  }
}

/**
 * One line saying where it failed: `Organization.users (backend/app/models/organization.py:13): AttributeError: ...`
 * when configuring, `backend/app/models/user.py:7: KeyError: ...` when importing.
 */
export function localisation(f: Failure): string {
  const at = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : null;
  const first = f.message.split('\n')[0]!.slice(0, 300);
  if (f.phase === 'import') return `${at ?? 'the models package'}: ${f.exceptionClass}: ${first}`;
  const where = f.property ?? (f.mapper ? `mapper ${f.mapper.class}` : 'configure_mappers()');
  return `${where}${at ? ` (${at})` : ''}: ${f.exceptionClass}: ${first}`;
}

/** Names mapped before and no longer after (the fixed commit's registries against the base's). */
export function lostNames(before: Mapped, after: Mapped): { classes: string[]; relationships: string[] } {
  const a = { classes: new Set(after.classes), relationships: new Set(after.relationships) };
  return {
    classes: before.classes.filter((c) => !a.classes.has(c)),
    relationships: before.relationships.filter((r) => !a.relationships.has(r)),
  };
}

/**
 * The interpreter a check's argv[0] names is the one the probe runs in: `python`/`python3` (the target's runtime),
 * or the target's own interpreter when no venv is built for it.
 */
function sameRuntime(target: Target, argv0: string): boolean {
  if (argv0 === 'python' || argv0 === 'python3') return true;
  const r = target.runtime;
  if (r?.lock || r?.requirements || r?.pyproject) return false;
  return argv0 === (r?.python ?? target.python ?? DEFAULT_PYTHON);
}

/** `python -c CODE [args]` (no interpreter flags): a check the probe can run in its own process. */
export function inProcessCheck(target: Target): { code: string; args: string[] } | null {
  const c = target.check?.command;
  if (!c || c.length < 3 || c[1] !== '-c' || !sameRuntime(target, c[0]!)) return null;
  return { code: c[2]!, args: c.slice(3) };
}

/**
 * The target's check, then the runtime probe, in one Python process when the check is `python -c CODE` in the
 * probe's runtime (python/sqla_probe.py runs CODE first, as `python -c` would, in the same sandbox, folder and
 * environment; its exit status decides, held to the check's own timeout): the models are imported and configured
 * once instead of twice. Anything the combined run cannot vouch for (a check that leaves threads or exit handlers, a
 * probe that did not see the check's import or failure, no answer) is run again on its own, as before.
 */
export async function runCheckAndProbe(ctx: ActionContext, dir: string): Promise<{ check: CheckResult; probed: Probed }>;
/** onlyIfPassed: no probe answer (null) when the check fails. */
export async function runCheckAndProbe(ctx: ActionContext, dir: string, opts: { onlyIfPassed: true }): Promise<{ check: CheckResult; probed: Probed | null }>;
export async function runCheckAndProbe(ctx: ActionContext, dir: string, opts: { onlyIfPassed?: boolean } = {}): Promise<{ check: CheckResult; probed: Probed | null }> {
  const probeAlone = async (check: CheckResult) => (opts.onlyIfPassed && !check.passed ? null : await runProbe(ctx, dir));
  const inProc = checksInImage(ctx) ? null : inProcessCheck(ctx.target);
  if (!inProc) {
    const check = await runCheck(ctx, dir);
    return { check, probed: await probeAlone(check) };
  }
  resolveInside(dir, ctx.target.modelsDir);
  const timeoutMs = checkTimeoutMs(ctx.target);
  // The check keeps its own deadline: no `checkDone` line within it is the check timing out.
  const ac = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, ac.signal]) : ac.signal;
  let done: { exitCode: number; durationMs: number } | undefined;
  const deadline = setTimeout(() => { if (!done) ac.abort(); }, timeoutMs);
  let r;
  try {
    r = await runInTarget(ctx, dir, ['python', '-B', pythonToolPath('sqla_probe.py')], {
      what: 'check',
      input: JSON.stringify({ root: dir, models_dir: ctx.target.modelsDir, check: inProc }),
      timeoutMs: 2 * timeoutMs,
      signal,
      onLine: (stream, line) => {
        if (stream !== 'stdout' || done || !line.startsWith('{"checkDone"')) return;
        try {
          const m = JSON.parse(line) as { exitCode: number; durationMs: number };
          done = m;
        } catch {
          /* not the marker */
        }
      },
    });
  } finally {
    clearTimeout(deadline);
  }
  if (ctx.signal?.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new RetryableError('the step was aborted', 'aborted');
  if (!done && ac.signal.aborted) throw new RetryableError(`the check timed out after ${timeoutMs} ms`, 'check_timeout');
  let answer: any;
  try {
    answer = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    answer = undefined;
  }
  const c = answer?.check as { exitCode: number; inProcess: boolean; stdout: string; stderr: string; durationMs: number } | undefined;
  if (!done || !c || c.inProcess !== true) {
    ctx.logger.info({ reason: !done ? 'no answer from the combined run' : 'the check did not end within the process' }, 'running the check and the probe on their own');
    const check = await runCheck(ctx, dir);
    return { check, probed: await probeAlone(check) };
  }
  const cwd = path.relative(dir, r.cwd) || '.';
  const argv = [r.run.python, ...ctx.target.check!.command.slice(1)];
  const check = checkResult({ code: c.exitCode, stdout: c.stdout, stderr: c.stderr, durationMs: c.durationMs, argv, cwd, runtime: { ...runtimeOf(r.run), withProbe: true } });
  if (answer.probeFallback || !answer.ok) {
    ctx.logger.info({ reason: answer.probeFallback ?? answer.error?.message }, 'running the probe on its own');
    return { check, probed: await probeAlone(check) };
  }
  delete answer.ok;
  delete answer.check;
  return { check, probed: opts.onlyIfPassed && !check.passed ? null : { ok: true, probe: answer as ProbeResult } };
}
